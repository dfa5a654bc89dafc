"""The dataset.json model: nnU-Net v2's keys plus ``task``, ``targets`` and ``classes``.

See docs/dataset_format.md for the format a user writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoseg.errors import AutosegError
from autoseg.io import supported_endings

TASK_KINDS = ("segmentation", "regression", "classification")
_PARSED_KEYS = {
    "channel_names",
    "labels",
    "numTraining",
    "file_ending",
    "regions_class_order",
    "task",
    "targets",
    "classes",
    "baseline_channels",
}


@dataclass
class DatasetSpec:
    """A validated dataset.json.

    ``labels`` maps a label name to an integer value, or (for region-based
    training such as BraTS) to a list of values forming that region.
    ``targets`` (regression) and ``channel_names`` map an index to a name;
    ``classes`` (classification) maps a class name to its integer index.
    ``baseline_channels`` (regression) maps a target index to the input
    channel that is its unimproved version (the low-dose PET of a standard-dose
    target), scored beside the model as the baseline it must beat; by default
    target ``i`` has input channel ``i`` where that exists.
    """

    channel_names: dict[int, str]
    file_ending: str
    num_training: int
    task: str = "segmentation"
    labels: dict[str, int | tuple[int, ...]] = field(default_factory=dict)
    regions_class_order: tuple[int, ...] | None = None
    targets: dict[int, str] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=dict)
    baseline_channels: dict[int, int] | None = None  # None: the default above
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_channels(self) -> int:
        return len(self.channel_names)

    @property
    def has_regions(self) -> bool:
        return any(isinstance(value, tuple) for value in self.labels.values())

    def label_values(self) -> set[int]:
        """Returns every integer that may appear in a label file (background included)."""
        values: set[int] = set()
        for value in self.labels.values():
            values.update(value if isinstance(value, tuple) else (value,))
        return values

    def baselines(self) -> dict[int, int]:
        """{target index: input channel index} of the regression targets that have a baseline input."""
        if not self.targets:
            return {}
        if self.baseline_channels is not None:
            return dict(self.baseline_channels)
        return {target: target for target in self.targets if target in self.channel_names}

    def class_name(self, index: int) -> str:
        return next(name for name, value in self.classes.items() if value == index)

    def to_json(self) -> dict:
        data: dict[str, Any] = {
            "channel_names": {str(k): v for k, v in self.channel_names.items()},
            "file_ending": self.file_ending,
            "numTraining": self.num_training,
            "task": self.task,
        }
        if self.labels:
            data["labels"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.labels.items()}
        if self.regions_class_order is not None:
            data["regions_class_order"] = list(self.regions_class_order)
        if self.targets:
            data["targets"] = {str(k): v for k, v in self.targets.items()}
        if self.classes:
            data["classes"] = dict(self.classes)
        if self.baseline_channels is not None:
            data["baseline_channels"] = {str(k): v for k, v in self.baseline_channels.items()}
        return {**self.extra, **data}

    @classmethod
    def from_json(cls, data: Any, source: str = "dataset.json") -> "DatasetSpec":
        """Parses a dataset.json dictionary; raises AutosegError listing every problem found."""
        problems = dataset_json_problems(data)
        if problems:
            raise AutosegError(f"{source} is invalid:\n  - " + "\n  - ".join(problems))
        task = data.get("task", "segmentation")
        labels = {name: tuple(value) if isinstance(value, list) else value for name, value in data.get("labels", {}).items()}
        order = data.get("regions_class_order")
        return cls(
            channel_names=_index_map(data["channel_names"]),
            file_ending=data["file_ending"],
            num_training=data["numTraining"],
            task=task,
            labels=labels,
            regions_class_order=tuple(order) if order is not None else None,
            targets=_index_map(data.get("targets", {})),
            classes=dict(data.get("classes", {})),
            baseline_channels={int(k): v for k, v in data["baseline_channels"].items()} if "baseline_channels" in data else None,
            extra={k: v for k, v in data.items() if k not in _PARSED_KEYS},
        )


def load_dataset_spec(dataset_dir: Path) -> DatasetSpec:
    """Reads and validates ``dataset_dir/dataset.json``."""
    data = read_dataset_json(dataset_dir / "dataset.json")
    return DatasetSpec.from_json(data, source=str(dataset_dir / "dataset.json"))


def read_dataset_json(path: Path) -> Any:
    if not path.is_file():
        raise AutosegError(f"{path} not found: every dataset folder needs a dataset.json (see docs/dataset_format.md).")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AutosegError(f"{path} is not valid JSON: {error}.") from error


def _index_map(mapping: dict) -> dict[int, str]:
    return {int(key): value for key, value in sorted(mapping.items(), key=lambda item: int(item[0]))}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _index_map_problems(key: str, mapping: Any, what: str) -> list[str]:
    if not isinstance(mapping, dict) or not mapping:
        return [f'\'{key}\' must be a non-empty object mapping "0", "1", ... to {what} names']
    problems = []
    if not all(isinstance(k, str) and k.isdigit() for k in mapping):
        problems.append(f'\'{key}\' keys must be "0", "1", ...; got {sorted(mapping)}')
    elif sorted(int(k) for k in mapping) != list(range(len(mapping))):
        problems.append(f'\'{key}\' keys must run from "0" to "{len(mapping) - 1}" without gaps; got {sorted(mapping, key=int)}')
    if not all(isinstance(v, str) and v for v in mapping.values()):
        problems.append(f"'{key}' values must be non-empty strings")
    return problems


def dataset_json_problems(data: Any) -> list[str]:
    """Returns every problem in a parsed dataset.json (empty when it is valid)."""
    if not isinstance(data, dict):
        return [f"the top level must be a JSON object, got {type(data).__name__}"]
    problems = []
    if "channel_names" not in data and "modality" in data:
        problems.append(
            "'channel_names' is missing ('modality' is the nnU-Net v1 / Decathlon key: rename it, or use `autoseg convert decathlon`)"
        )
    elif "channel_names" not in data:
        problems.append('\'channel_names\' is missing (e.g. {"0": "T1", "1": "FLAIR"})')
    else:
        problems += _index_map_problems("channel_names", data["channel_names"], "channel")
    if not _is_int(data.get("numTraining")) or data["numTraining"] < 0:
        problems.append(f"'numTraining' must be a non-negative integer, got {data.get('numTraining')!r}")
    ending = data.get("file_ending")
    if not isinstance(ending, str) or not ending.startswith("."):
        problems.append(f"'file_ending' must be a string such as \".nii.gz\", got {ending!r}")
    elif ending.lower() not in supported_endings():
        problems.append(f"'file_ending' {ending!r} is not supported; use one of {', '.join(sorted(supported_endings()))}")
    task = data.get("task", "segmentation")
    if task not in TASK_KINDS:
        problems.append(f"'task' must be one of {', '.join(TASK_KINDS)}, got {task!r}")
    elif task == "segmentation":
        problems += _label_problems(data)
    elif task == "regression":
        problems += _index_map_problems("targets", data.get("targets"), "regression target")
        if "baseline_channels" in data:
            problems += _baseline_problems(data["baseline_channels"], data.get("targets"), data.get("channel_names"))
    else:
        problems += _class_problems(data.get("classes"))
    return problems


def _label_problems(data: dict) -> list[str]:
    labels = data.get("labels")
    if not isinstance(labels, dict) or not labels:
        return ['\'labels\' must be a non-empty object mapping label names to integers, e.g. {"background": 0, "tumour": 1}']
    problems = []
    plain_values = []
    for name, value in labels.items():
        if _is_int(value):
            plain_values.append(value)
            if value < 0:
                problems.append(f"label {name!r} has negative value {value}")
        elif isinstance(value, list) and value and all(_is_int(v) and v > 0 for v in value):
            continue
        else:
            problems.append(f"label {name!r} must be an integer, or a list of positive integers for a region; got {value!r}")
    if 0 not in plain_values:
        problems.append("'labels' must declare background with value 0, e.g. \"background\": 0")
    duplicates = sorted({v for v in plain_values if plain_values.count(v) > 1})
    if duplicates:
        problems.append(f"label values {duplicates} are used by more than one label name")
    used = set(plain_values) | {v for value in labels.values() if isinstance(value, list) for v in value if _is_int(v)}
    if not duplicates and not problems and sorted(used) != list(range(len(used))):
        problems.append(
            f"label values must be consecutive from 0 (each value is an output channel); got {sorted(used)}. "
            "Renumber the label files (e.g. 0, 1, 2, 4 -> 0, 1, 2, 3), or declare regions for nested structures"
        )
    if any(isinstance(v, list) for v in labels.values()):
        order = data.get("regions_class_order")
        num_regions = len(labels) - 1
        if not isinstance(order, list) or len(order) != num_regions or not all(_is_int(v) for v in order):
            problems.append(f"region labels need 'regions_class_order', a list of {num_regions} integers (one per non-background entry)")
    return problems


def _class_problems(classes: Any) -> list[str]:
    if not isinstance(classes, dict) or len(classes) < 2:
        return ['\'classes\' must map at least two class names to integers, e.g. {"CN": 0, "AD": 1}']
    values = list(classes.values())
    if not all(_is_int(v) for v in values) or sorted(values) != list(range(len(values))):
        return [f"'classes' values must be the integers 0..{len(values) - 1}, each once; got {values}"]
    return []


def _baseline_problems(baselines: Any, targets: Any, channels: Any) -> list[str]:
    example = 'e.g. {"0": 0}: target 0 improves on input channel 0'
    if not isinstance(baselines, dict):
        return [f"'baseline_channels' must map target indices to input channel indices ({example}), got {baselines!r}"]
    problems = []
    for target, channel in baselines.items():
        if not isinstance(targets, dict) or target not in targets:
            problems.append(f"'baseline_channels' names target {target!r}, which 'targets' does not declare")
        if not _is_int(channel) or not isinstance(channels, dict) or str(channel) not in channels:
            problems.append(
                f"'baseline_channels' maps target {target!r} to {channel!r}, which is not an input channel index of 'channel_names'"
            )
    return problems

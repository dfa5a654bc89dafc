"""The dataset.json model: nnU-Net v2's keys plus ``task``, ``targets`` and ``classes``.

See docs/dataset_format.md for the format a user writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoseg.dataset.checks import IGNORE_LABEL, index_map_problems, is_int
from autoseg.dataset.references import REFERENCE_FORMATS
from autoseg.dataset.segment_codes import Code, codes_by_value
from autoseg.errors import AutosegError
from autoseg.io import supported_endings

# The keys every kind has; each kind's own (labels, targets, classes, ...) are its reference format's (``keys``,
# parsed by ``fields`` and written back by ``json_fields``, in autoseg/tasks/<kind>/references.py).
_GENERIC_KEYS = {"channel_names", "numTraining", "file_ending", "task"}


@dataclass
class DatasetSpec:
    """A validated dataset.json: the keys every kind has, and the values of the kind's own keys, which its
    reference format parses and writes back (the fields below; a plug-in kind's own keys stay in ``extra``).

    ``labels`` maps a label name to an integer value, or (for region-based
    training such as BraTS) to a list of values forming that region.
    ``targets`` (regression) and ``channel_names`` map an index to a name;
    ``classes`` (classification) maps a class name to its integer index. dataset.json
    may write ``targets`` and ``classes`` either way round (index to name or name to
    index); they are read into these orientations and written back in them.
    ``baseline_channels`` (regression) maps a target index to the input
    channel that is its unimproved version (the low-dose PET of a standard-dose
    target), scored beside the model as the baseline it must beat; by default
    target ``i`` has input channel ``i`` where that exists. ``segment_codes``
    (segmentation) holds the DICOM coded concepts of labels, as dataset.json
    writes them (autoseg.dataset.segment_codes).
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
    segment_codes: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_channels(self) -> int:
        return len(self.channel_names)

    @property
    def has_regions(self) -> bool:
        return any(isinstance(value, tuple) for value in self.labels.values())

    @property
    def ignore_label(self) -> int | None:
        """The value of the label named ``ignore`` (sparse annotations: voxels nobody labelled), or None."""
        value = self.labels.get(IGNORE_LABEL)
        return value if isinstance(value, int) else None

    @property
    def predicted_labels(self) -> dict[str, int | tuple[int, ...]]:
        """The labels (or regions) the network predicts: every label but ``ignore``, which marks voxels left out
        of training and scoring, never a class."""
        return {name: value for name, value in self.labels.items() if name != IGNORE_LABEL}

    def label_values(self) -> set[int]:
        """Returns every integer that may appear in a label file (background included)."""
        values: set[int] = set()
        for value in self.labels.values():
            values.update(value if isinstance(value, tuple) else (value,))
        return values

    def label_names(self) -> dict[int, str]:
        """{label value: name} of every foreground value a label map may hold: each label's own name, and for
        regions "label V (in REGION, ...)" naming the regions that hold the value."""
        if not self.has_regions:
            return {value: name for name, value in self.predicted_labels.items() if value != 0}
        regions = {name: value for name, value in self.labels.items() if isinstance(value, tuple)}
        return {
            value: f"label {value} (in {', '.join(name for name, held in regions.items() if value in held)})"
            for value in sorted(self.label_values() - {0, self.ignore_label})
        }

    def label_codes(self) -> dict[int, dict[str, Code]]:
        """{label value: {"category" | "type" | "modifier": (scheme, value, meaning)}} of the labels given codes."""
        return codes_by_value(self.labels, self.segment_codes)

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
            **REFERENCE_FORMATS.get(self.task).json_fields(self),
        }
        return {**self.extra, **data}

    @classmethod
    def from_json(cls, data: Any, source: str = "dataset.json") -> "DatasetSpec":
        """Parses a dataset.json dictionary; raises AutosegError listing every problem found."""
        problems = dataset_json_problems(data)
        if problems:
            raise AutosegError(f"{source} is invalid:\n  - " + "\n  - ".join(problems))
        task = data.get("task", "segmentation")
        reference_format = REFERENCE_FORMATS.get(task)
        parsed = _GENERIC_KEYS | set(reference_format.keys)
        return cls(
            channel_names=_index_map(data["channel_names"]),
            file_ending=data["file_ending"],
            num_training=data["numTraining"],
            task=task,
            **reference_format.fields(data),
            extra={k: v for k, v in data.items() if k not in parsed},
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
        problems += index_map_problems("channel_names", data["channel_names"], "channel")
    if not is_int(data.get("numTraining")) or data["numTraining"] < 0:
        problems.append(f"'numTraining' must be a non-negative integer, got {data.get('numTraining')!r}")
    ending = data.get("file_ending")
    if not isinstance(ending, str) or not ending.startswith("."):
        problems.append(f"'file_ending' must be a string such as \".nii.gz\", got {ending!r}")
    elif ending.lower() not in supported_endings():
        problems.append(f"'file_ending' {ending!r} is not supported; use one of {', '.join(sorted(supported_endings()))}")
    task = data.get("task", "segmentation")
    if not isinstance(task, str) or task not in REFERENCE_FORMATS:
        problems.append(f"'task' must be one of {', '.join(REFERENCE_FORMATS.names())}, got {task!r}")
    else:
        problems += REFERENCE_FORMATS.get(task).spec_problems(data)
    return problems

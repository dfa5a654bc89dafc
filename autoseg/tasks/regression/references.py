"""Regression's raw references: one float image per target declared in dataset.json's ``targets`` (and which input
channel each improves on, ``baseline_channels``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from autoseg.dataset.checks import is_int, names_by_index
from autoseg.dataset.references import ImageReferences, register_reference_format

if TYPE_CHECKING:
    from autoseg.dataset.dataset_json import DatasetSpec

TARGETS_EXAMPLE = '{"0": "PET_standard_dose"} or {"PET_standard_dose": 0}'


@register_reference_format
class TargetImages(ImageReferences):
    """Regression: one float image per target declared in ``targets``."""

    name = "regression"
    grid_mismatch = "regression target is on a different grid than the images"
    keys = ("targets", "baseline_channels")

    def files_per_case(self, spec: DatasetSpec) -> int:
        return len(spec.targets)

    def spec_problems(self, data: dict) -> list[str]:
        targets, problems = names_by_index("targets", data.get("targets"), "regression target", TARGETS_EXAMPLE)
        if "baseline_channels" in data and not problems:
            problems += _baseline_problems(data["baseline_channels"], {str(index) for index in targets}, data.get("channel_names"))
        return super().spec_problems(data) + problems

    def fields(self, data: dict) -> dict[str, Any]:
        """``targets`` ({index: name}, either way round in dataset.json) and ``baseline_channels`` (or None)."""
        baselines = data.get("baseline_channels")
        return {
            "targets": names_by_index("targets", data["targets"], "target", "")[0],
            "baseline_channels": {int(k): v for k, v in baselines.items()} if baselines is not None else None,
        }

    def json_fields(self, spec: DatasetSpec) -> dict[str, Any]:
        data: dict[str, Any] = {"targets": {str(k): v for k, v in spec.targets.items()}}
        if spec.baseline_channels is not None:
            data["baseline_channels"] = {str(k): v for k, v in spec.baseline_channels.items()}
        return data


def _baseline_problems(baselines: Any, targets: set[str], channels: Any) -> list[str]:
    example = 'e.g. {"0": 0}: target 0 improves on input channel 0'
    if not isinstance(baselines, dict):
        return [f"'baseline_channels' must map target indices to input channel indices ({example}), got {baselines!r}"]
    problems = []
    for target, channel in baselines.items():
        if target not in targets:
            problems.append(f"'baseline_channels' names target {target!r}, which 'targets' does not declare")
        if not is_int(channel) or not isinstance(channels, dict) or str(channel) not in channels:
            problems.append(
                f"'baseline_channels' maps target {target!r} to {channel!r}, which is not an input channel index of 'channel_names'"
            )
    return problems

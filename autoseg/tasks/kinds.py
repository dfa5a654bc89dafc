"""The three task kinds."""

from __future__ import annotations

import numpy as np

from autoseg.dataset import DatasetSpec
from autoseg.plans import ChannelNormalisation
from autoseg.tasks.base import Task, register_task


@register_task
class SegmentationTask(Task):
    """One softmax channel per label, or one sigmoid channel per region when dataset.json declares regions."""

    name = "segmentation"
    uses_label_geometry = True

    def out_channels(self, spec: DatasetSpec) -> int:
        return len(spec.labels) - 1 if spec.has_regions else len(spec.labels)

    def sampling_locations(self, target, rng):
        """Per label value present, up to 10,000 of its voxels."""
        return {str(int(value)): self._sample(target[0] == value, rng) for value in np.unique(target) if value != 0}


@register_task
class RegressionTask(Task):
    """Image-to-image: one linear output channel per target.

    Targets are normalised reversibly with the fingerprint's target
    statistics: non-negative targets (uptake, dose, counts) are divided by
    their mean, keeping zero at zero (``scale``); signed targets are z-scored
    with the dataset's mean and std (``zscore_dataset``).
    """

    name = "regression"
    target_kind = "image"
    high_value_percentile = 99.0

    def out_channels(self, spec: DatasetSpec) -> int:
        return len(spec.targets)

    def sampling_locations(self, target, rng):
        """The brightest 1 % of the first target's non-zero voxels ("high"), so patches find small hot lesions."""
        values = target[0]
        nonzero = values[values > 0]
        if nonzero.size == 0:
            return {}
        return {"high": self._sample(values >= np.percentile(nonzero, self.high_value_percentile), rng)}

    def plan_target_normalisation(self, fingerprint) -> dict:
        plans = {}
        for index, stats in fingerprint.target_statistics.items():
            scheme = "scale" if stats.min >= 0 else "zscore_dataset"
            plans[index] = ChannelNormalisation(scheme, False, {"mean": stats.mean, "std": stats.std})
        return plans


@register_task
class ClassificationTask(Task):
    """One logit per class from the U-Net encoder, global average pooling and a linear head."""

    name = "classification"
    dense_output = False
    target_kind = "class"

    def out_channels(self, spec: DatasetSpec) -> int:
        return len(spec.classes)

    def prepare_input(self, data, configuration):
        """Pads (with zeros) or centre-crops every case to the planned input size."""
        return fit_to_shape(data, configuration.patch_size)


def fit_to_shape(data: np.ndarray, shape: list[int]) -> np.ndarray:
    """Returns ``data`` (C, *spatial) centre-cropped or zero-padded to ``shape``."""
    out = np.zeros((data.shape[0], *shape), dtype=data.dtype)
    source, destination = [], []
    for have, want in zip(data.shape[1:], shape):
        if have >= want:
            start = (have - want) // 2
            source.append(slice(start, start + want))
            destination.append(slice(0, want))
        else:
            start = (want - have) // 2
            source.append(slice(0, have))
            destination.append(slice(start, start + have))
    out[(slice(None), *destination)] = data[(slice(None), *source)]
    return out

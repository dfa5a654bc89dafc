import numpy as np
import pytest

from autoseg.dataset import DatasetSpec
from autoseg.fingerprint import CaseFingerprint, Fingerprint, IntensityStatistics


def make_fingerprint(spacings, shapes, channel_names=("CT",), task="segmentation", centroids=None) -> Fingerprint:
    """A hand-made fingerprint: one case per (spacing, shape); ``centroids`` per case: {label: [...]}."""
    cases = []
    for index, (spacing, shape) in enumerate(zip(spacings, shapes)):
        case = CaseFingerprint(f"case_{index}", list(spacing), list(shape), list(shape))
        if centroids is not None:
            case.class_centroids = centroids[index]
            case.class_voxels = {k: 100 for k in centroids[index]}
        cases.append(case)
    stats = IntensityStatistics(100.0, 50.0, 90.0, -1000.0, 1500.0, -1024.0, 3000.0, 1000)
    return Fingerprint(
        "Dataset999_Test", task, {str(i): n for i, n in enumerate(channel_names)}, cases, {str(i): stats for i in range(len(channel_names))}
    )


def make_spec(labels=None, channel_names=("CT",), ndim_ending=".nii.gz") -> DatasetSpec:
    return DatasetSpec.from_json(
        {
            "channel_names": {str(i): n for i, n in enumerate(channel_names)},
            "labels": labels or {"background": 0, "organ": 1, "tumour": 2},
            "numTraining": 1,
            "file_ending": ndim_ending,
        }
    )


@pytest.fixture
def rng():
    return np.random.default_rng(0)

"""Preprocessing, then its inverse, gives back the raw grid and labels.

Resampling to a finer grid and back must keep every structure of 50 voxels or
more at Dice >= 0.98; smaller ones may lose a boundary voxel (Dice >= 0.8).
Resampling to a coarser grid loses detail no inverse can restore.
"""

import numpy as np
import pytest

from autoseg.dataset import RawDataset
from autoseg.fingerprint import compute_fingerprint
from autoseg.io import read_image
from autoseg.preprocessing.pipeline import CaseProperties, preprocess_case, revert_to_original
from planners import get_planner


def dice(a, b):
    return 2 * np.sum(a & b) / max(np.sum(a) + np.sum(b), 1)


@pytest.mark.parametrize("key, spacing_factor", [("spine", None), ("brats", 0.75), ("isles", (0.5, 0.8, 0.8))])
def test_preprocess_then_revert_restores_labels_and_geometry(stand_in_cache, key, spacing_factor):
    dataset = RawDataset(stand_in_cache(key, cases=2, test=0))
    plans = get_planner("default")(compute_fingerprint(dataset, num_processes=1), dataset.spec, gpu_memory_gb=8)
    configuration = plans.configurations["3d_fullres" if "3d_fullres" in plans.configurations else "2d"]
    if spacing_factor is not None:  # force real resampling, up on some axes and down on others
        configuration.spacing = list(np.array(configuration.spacing) * np.array(spacing_factor))
    for case in dataset.cases():
        images = [read_image(p) for p in case.image_files]
        channels = np.concatenate([i.array for i in images])
        label = read_image(case.label_files[0]).array
        data, target, record = preprocess_case(
            channels, images[0].geometry, label, plans=plans, configuration=configuration, target_is_label=True
        )
        assert data.dtype == np.float32 and data.shape[1:] == target.shape[1:]
        if spacing_factor is not None:
            assert data.shape[1:] != tuple(record["cropped_shape"])
        properties = CaseProperties(
            case.case_id,
            images[0].geometry.to_json(),
            record["original_shape"],
            record["box"],
            record["cropped_shape"],
            list(images[0].geometry.spacing),
        )
        values = sorted(dataset.spec.label_values())
        one_hot = np.stack([(target[0] == v).astype(np.float32) for v in values])
        probabilities = revert_to_original(one_hot, properties, configuration.spacing, fill=[1.0] + [0.0] * (len(values) - 1))
        restored = np.array(values)[np.argmax(probabilities, axis=0)]
        assert restored.shape == label.shape[1:]
        assert properties.original_geometry == images[0].geometry
        for value in values[1:]:
            size = int(np.sum(label[0] == value))
            if size:
                assert dice(restored == value, label[0] == value) >= (0.98 if size >= 50 else 0.8), (case.case_id, value, size)

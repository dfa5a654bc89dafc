import json

import numpy as np

from autoseg.dataset import RawDataset
from autoseg.fingerprint import Fingerprint, compute_fingerprint
from autoseg.io import read_image


def test_fingerprint_is_deterministic_and_independent_of_worker_count(stand_in_cache, tmp_path):
    dataset = RawDataset(stand_in_cache("spine", cases=4, test=0))
    serial = compute_fingerprint(dataset, num_processes=1)
    parallel = compute_fingerprint(dataset, num_processes=2)
    assert serial.to_json() == parallel.to_json()
    serial.save(tmp_path / "fingerprint.json")
    assert Fingerprint.load(tmp_path / "fingerprint.json") == serial
    assert json.loads((tmp_path / "fingerprint.json").read_text())["cases"][0]["case_id"] == "spine_000"


def test_fingerprint_records_what_planning_needs(stand_in_cache):
    dataset = RawDataset(stand_in_cache("brats", cases=2, test=0))
    fingerprint = compute_fingerprint(dataset, num_processes=1)
    case = fingerprint.cases[0]
    image = read_image(dataset.cases()[0].image_files[0])
    assert case.shape == list(image.spatial_shape) and case.spacing == list(image.geometry.spacing)
    assert all(c < s for c, s in zip(case.cropped_shape, case.shape))  # skull-stripped: the zero frame is cropped
    label = read_image(dataset.cases()[0].label_files[0]).array[0]
    assert case.class_voxels == {str(v): int(np.sum(label == v)) for v in (1, 2, 3)}
    assert all(-1 <= c <= 1 for centroid in case.class_centroids.values() for c in centroid)
    stats = fingerprint.intensity_statistics["0"]
    foreground = np.concatenate([read_image(c.image_files[0]).array[0][read_image(c.label_files[0]).array[0] > 0] for c in dataset.cases()])
    assert stats.num_samples == foreground.size  # fewer than 10,000 per case: all voxels are used
    assert np.isclose(stats.mean, foreground.mean(), rtol=1e-5) and np.isclose(
        stats.percentile_99_5, np.percentile(foreground, 99.5), rtol=1e-5
    )


def test_classification_and_regression_statistics(stand_in_cache):
    ad = compute_fingerprint(RawDataset(stand_in_cache("ad", cases=6, test=0)), num_processes=1)
    assert sum(ad.class_counts.values()) == 6 and set(ad.class_counts) == {"CN", "AD"}
    pet = compute_fingerprint(RawDataset(stand_in_cache("pet", cases=2, test=0)), num_processes=1)
    assert pet.target_statistics["0"].min >= 0 and pet.target_statistics["0"].mean > 0

"""The preprocessed case layout: what is stored comes back, the inputs within their stated precision."""

import numpy as np

from autoseg.io.geometry import Geometry
from autoseg.preprocessing.pipeline import CaseProperties
from autoseg.preprocessing.storage import DATA_MANTISSA_BITS, load_arrays, load_case, save_case


def test_inputs_come_back_within_their_precision_and_targets_exactly(tmp_path):
    rng = np.random.default_rng(0)
    shape = (9, 20, 30)
    data = (rng.normal(size=(2, *shape)) * np.array([1.0, 300.0])[:, None, None, None]).astype(np.float32)
    target = rng.integers(0, 4, size=(1, *shape)).astype(np.uint8)
    regression = rng.normal(size=(1, *shape)).astype(np.float32)
    geometry = Geometry.identity((1.0, 1.0, 1.0)).to_json()
    for case_id, stored_target in (("labels", target), ("regression", regression)):
        properties = CaseProperties(case_id, geometry, list(shape), [[0, n] for n in shape], list(shape), [1.0] * 3)
        save_case(tmp_path, data, stored_target, locations={}, properties=properties, patch_size=[8, 16, 16])
        loaded, loaded_target, loaded_properties = load_case(tmp_path, case_id)
        assert loaded_properties == properties and loaded.dtype == np.float32 and loaded.shape == data.shape
        relative = np.abs(loaded - data) / np.abs(data)
        assert relative.max() <= 2.0**-DATA_MANTISSA_BITS and not np.array_equal(loaded, data)
        assert abs(float(np.mean(loaded - data))) < 1e-5 * float(np.abs(data).mean())  # no drift of the mean that matters
        np.testing.assert_array_equal(loaded_target, stored_target)
        lazy, _ = load_arrays(tmp_path, case_id, lazy=True)
        np.testing.assert_array_equal(lazy[:, 2:5, 3:19, 7:29], loaded[:, 2:5, 3:19, 7:29])

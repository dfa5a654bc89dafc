"""The torch export equals the scipy inverse of preprocessing, channel by channel, with bounded copies."""

import numpy as np
import pytest
import torch

from autoseg.dataset import DatasetSpec
from autoseg.inference.export import revert_channel
from autoseg.io import Geometry, read_image
from autoseg.preprocessing.pipeline import CaseProperties, revert_to_original
from autoseg.tasks import task_for
from tests.inference.configurations import export_configuration

CASES = [
    # (preprocessed shape, configuration spacing, raw spacing, original shape, crop box)
    ((9, 13, 11), [1.5, 1.5, 1.5], (1.0, 1.2, 0.9), (16, 20, 22), [[1, 15], [2, 18], [3, 21]]),  # isotropic, non-integer factors
    ((5, 24, 24), [5.0, 1.0, 1.0], (6.5, 0.8, 0.8), (6, 32, 30), [[1, 5], [0, 30], [0, 30]]),  # anisotropic: slices apart
    ((20, 17), [1.0, 1.0], (0.7, 1.3), (30, 14), [[1, 29], [0, 13]]),  # 2D
]


def properties(original_shape, box, spacing):
    cropped = [stop - start for start, stop in box]
    geometry = Geometry.identity(spacing)
    return CaseProperties("case", geometry.to_json(), list(original_shape), box, cropped, list(spacing))


@pytest.mark.parametrize("shape, config_spacing, spacing, original, box", CASES)
def test_revert_channel_matches_the_scipy_inverse(shape, config_spacing, spacing, original, box):
    channel = np.random.default_rng(0).random(shape, dtype=np.float32)
    case = properties(original, box, spacing)
    expected = revert_to_original(channel[None], case, config_spacing, fill=0.25)[0]
    result = revert_channel(torch.from_numpy(channel), case, config_spacing, fill=0.25).numpy()
    np.testing.assert_allclose(result, expected, atol=1e-5)


@pytest.mark.parametrize("nnunet_rules", [False, True])
@pytest.mark.parametrize("case_index", range(len(CASES)))
@pytest.mark.parametrize(
    "labels", [{"background": 0, "a": 1, "b": 2, "c": 3}, {"background": 0, "whole": [1, 2, 3], "core": [2, 3], "active": 3}]
)
def test_exported_labels_equal_argmax_or_region_painting_of_the_probabilities(tmp_path, labels, case_index, nnunet_rules):
    """The label map streamed one class at a time (the whole (K, *raw) array is built only when probabilities are
    saved) is the one the saved probabilities give, with autoseg's rules and with nnU-Net's (logits resampled)."""
    regions = {"regions_class_order": [1, 2, 3]} if "whole" in labels else {}
    spec = DatasetSpec.from_json({"channel_names": {"0": "MR"}, "labels": labels, "numTraining": 1, "file_ending": ".nii.gz", **regions})
    task = task_for(spec)
    shape, config_spacing, spacing, original, box = CASES[case_index]
    logits = torch.randn((task.out_channels(), *shape), generator=torch.Generator().manual_seed(case_index)) * 3
    case = properties(original, box, spacing)
    configuration = export_configuration(config_spacing, nnunet_rules)
    task.case_writer(tmp_path, plans=None, configuration=configuration, save_probabilities=True).write("case", logits, case)
    task.case_writer(tmp_path, plans=None, configuration=configuration).write("streamed", logits, case)
    written, streamed = (read_image(tmp_path / f"{name}.nii.gz").array[0] for name in ("case", "streamed"))
    with np.load(tmp_path / "case.npz") as archive:
        probabilities = archive["probabilities"]
    np.testing.assert_array_equal(written, task.label_map(probabilities))
    np.testing.assert_array_equal(streamed, written)
    assert read_image(tmp_path / "streamed.nii.gz").spatial_shape == original


def test_a_model_imported_from_nnunet_resamples_its_logits_before_the_softmax(tmp_path):
    """nnU-Net's export: logits resampled to the cropped grid, then argmax (background outside the crop box); the
    probabilities' argmax differs from it where resampling straddles a boundary, so the test can tell the two."""
    spec = DatasetSpec.from_json(
        {"channel_names": {"0": "MR"}, "labels": {"background": 0, "a": 1, "b": 2}, "numTraining": 1, "file_ending": ".nii.gz"}
    )
    task = task_for(spec)
    shape, config_spacing, spacing, original, box = CASES[0]
    torch.manual_seed(0)
    logits = torch.randn((3, *shape)) * 4
    case = properties(original, box, spacing)
    for name, rules in (("nnunet", True), ("autoseg", False)):
        task.case_writer(tmp_path, plans=None, configuration=export_configuration(config_spacing, rules)).write(name, logits, case)
    nnunet, autoseg = (read_image(tmp_path / f"{name}.nii.gz").array[0] for name in ("nnunet", "autoseg"))
    resampled = torch.stack([revert_channel(channel, case, config_spacing, 0.0) for channel in logits])
    expected = resampled.argmax(0).numpy()
    inside = tuple(slice(start, stop) for start, stop in box)
    outside = np.ones(original, dtype=bool)
    outside[inside] = False
    np.testing.assert_array_equal(nnunet[inside], expected[inside])
    assert not nnunet[outside].any()
    assert (nnunet != autoseg).any()

"""Regression metrics against hand-computed values and scikit-image's SSIM."""

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from autoseg.evaluation.image_metrics import body_mask, image_metrics, ssim_map


def test_identical_images_are_perfect():
    image = np.random.default_rng(0).random((6, 20, 20)) + 1
    m = image_metrics(image, image, np.ones(image.shape, bool))
    assert m["mae"] == 0 and m["nrmse"] == 0 and m["psnr"] == math.inf and m["ssim"] == pytest.approx(1.0)


def test_a_constant_offset_gives_known_errors():
    reference = np.zeros((4, 10))
    reference[:, 5:] = 10.0  # data range 10
    prediction = reference + 2.0
    m = image_metrics(prediction, reference, np.ones(reference.shape, bool))
    assert m["mae"] == pytest.approx(2.0)
    assert m["nrmse"] == pytest.approx(0.2)
    assert m["psnr"] == pytest.approx(20 * math.log10(10 / 2))


def test_only_masked_voxels_count():
    reference = np.arange(20, dtype=float).reshape(4, 5)
    prediction = reference.copy()
    prediction[0, 0] += 100  # outside the mask
    mask = np.ones(reference.shape, bool)
    mask[0, 0] = False
    assert image_metrics(prediction, reference, mask)["mae"] == 0
    assert math.isnan(image_metrics(prediction, reference, np.zeros(reference.shape, bool))["mae"])


def test_ssim_matches_scikit_image_away_from_the_border():
    rng = np.random.default_rng(1)
    reference = rng.random((24, 24, 24))
    prediction = reference + rng.normal(0, 0.2, reference.shape)
    expected = structural_similarity(prediction, reference, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    inner = (slice(5, -5),) * 3  # scikit-image leaves out (window - 1) / 2 = 5 voxels at each border
    assert ssim_map(prediction, reference, 1.0)[inner].mean() == pytest.approx(expected, abs=1e-6)


def test_body_mask_is_the_filled_outline():
    image = np.zeros((30, 30))
    yy, xx = np.mgrid[:30, :30]
    image[(yy - 15) ** 2 + (xx - 15) ** 2 <= 100] = 5.0
    image[13:17, 13:17] = 0.0  # a cold hole inside the body
    mask = body_mask(image)
    assert mask[15, 15] and not mask[0, 0] and mask.sum() == ((yy - 15) ** 2 + (xx - 15) ** 2 <= 100).sum()


def phantom_body() -> np.ndarray:
    """An ellipsoid body of 2048-odd voxels in a 16 x 32 x 32 field of view."""
    z, y, x = np.mgrid[:16, :32, :32]
    return ((z - 8) / 6.0) ** 2 + ((y - 16) / 10.0) ** 2 + ((x - 16) / 8.0) ** 2 < 1


def test_body_mask_of_a_ct_valued_target_is_the_body_not_only_the_bone():
    body = phantom_body()
    rng = np.random.default_rng(0)
    ct = np.full(body.shape, -1000.0) + rng.normal(0, 5, body.shape)  # air
    ct[body] = 40 + rng.normal(0, 10, body.sum())  # soft tissue
    ct[body & (np.indices(body.shape)[2] < 14)] = -850  # a lung, inside the body
    ct[6:10, 14:18, 15:18] = 700  # bone
    mask = body_mask(ct)
    assert (mask == body).mean() > 0.99 and mask[body].all()
    prediction = ct + rng.normal(0, 20, ct.shape)
    scores = image_metrics(prediction, ct)
    assert scores["nrmse"] < 0.02 and scores["psnr"] > 30 and scores["mae"] == pytest.approx(16, rel=0.1)


def test_body_mask_of_a_z_scored_target_matches_the_unnormalised_one():
    body = phantom_body()
    pet = np.where(body, 4.0, 0.0)
    pet[6:10, 14:18, 15:18] = 12.0
    z_scored = (pet - pet.mean()) / pet.std()  # background about -0.5, not 0
    assert z_scored.min() < 0
    assert np.array_equal(body_mask(z_scored), body_mask(pet)) and body_mask(pet).sum() == body.sum()
    prediction = z_scored + np.random.default_rng(1).normal(0, 0.05, pet.shape)
    scores, unnormalised = image_metrics(prediction, z_scored), image_metrics(prediction * pet.std() + pet.mean(), pet)
    assert scores["psnr"] == pytest.approx(unnormalised["psnr"]) and scores["nrmse"] == pytest.approx(unnormalised["nrmse"])
    assert scores["psnr"] > 30


def test_body_mask_of_an_image_whose_body_fills_the_field_of_view_keeps_nearly_all_of_it():
    rng = np.random.default_rng(2)
    tissue = 300 + 50 * rng.standard_normal((12, 20, 20))  # no background anywhere
    assert body_mask(tissue).mean() > 0.99

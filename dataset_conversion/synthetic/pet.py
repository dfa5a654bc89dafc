"""Low-dose to standard-dose brain FDG PET (image-to-image regression), with an optional T1 MR channel.

Imitates the physics that makes low-dose PET noisy. A true activity map
(kBq/ml: grey matter about 2.8 times white matter, as in FDG; CSF near zero;
scalp low; 0-3 small hypermetabolic lesions, sometimes a hypometabolic
region) is blurred by the scanner's point-spread function (about 5 mm FWHM);
detected counts are Poisson with a mean proportional to the injected dose;
the reconstruction's post-filter correlates the noise. The standard-dose
target and the low-dose input are two independent acquisitions of the same
activity at doses 1 and ``dose_fraction`` (default 1/20), each rescaled back
to kBq/ml, so both share units and the low-dose image is unbiased but noisy.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from autoseg.io import Geometry, ImageData
from dataset_conversion.raw_writer import RawCase, write_raw_dataset
from dataset_conversion.synthetic.phantom import bias_field, ellipsoid, make_brain, partial_volume, rician
from dataset_conversion.synthetic.registry import case_rng, register_stand_in, zoomed_grid

SHAPE = (40, 48, 44)
SPACING = (3.0, 3.0, 3.0)
PSF_FWHM_MM = 5.0
COUNTS_PER_KBQ_FULL_DOSE = 25.0  # mean detected counts per voxel per kBq/ml at standard dose


def activity_map(rng: np.random.Generator, shape: tuple[int, int, int] = SHAPE):
    """Returns (true activity in kBq/ml, brain) of one synthetic subject."""
    brain = make_brain(shape, rng, atrophy=rng.uniform(0.0, 0.4))
    grey, white, csf, scalp = (partial_volume(m) for m in (brain.grey_matter, brain.white_matter, brain.csf, brain.scalp))
    uptake = rng.uniform(7.0, 12.0)
    activity = uptake * grey + uptake / 2.8 * white + 0.3 * csf + 1.2 * scalp
    for _ in range(rng.integers(0, 4)):
        center = tuple(rng.uniform(-0.45, 0.45, size=3))
        radius = rng.uniform(0.04, 0.09)
        lesion = ellipsoid(brain.grid, center, (radius,) * 3) & brain.brain
        activity = np.where(lesion, uptake * rng.uniform(1.6, 3.0), activity)
    if rng.random() < 0.3:
        center = tuple(rng.uniform(-0.4, 0.4, size=3))
        activity *= 1.0 - 0.4 * ellipsoid(brain.grid, center, (0.2, 0.25, 0.2))
    return activity.astype(np.float32), brain


def acquire(activity: np.ndarray, dose_fraction: float, rng: np.random.Generator, spacing: tuple[float, ...] = SPACING) -> np.ndarray:
    """Returns a reconstructed PET image (kBq/ml) of ``activity`` acquired at ``dose_fraction`` of the standard dose.

    ``spacing`` (mm) converts the scanner's PSF to voxels.
    """
    sigma_voxels = [PSF_FWHM_MM / 2.355 / s for s in spacing]
    blurred = ndimage.gaussian_filter(activity, sigma_voxels)
    counts_per_kbq = COUNTS_PER_KBQ_FULL_DOSE * dose_fraction
    counts = rng.poisson(np.clip(blurred, 0, None) * counts_per_kbq)
    return ndimage.gaussian_filter(counts / counts_per_kbq, 0.7).astype(np.float32)


def t1_image(brain, rng: np.random.Generator) -> np.ndarray:
    """Returns a T1-weighted MR image of ``brain`` (arbitrary units)."""
    soft = [partial_volume(m) for m in (brain.white_matter, brain.grey_matter, brain.csf, brain.scalp)]
    signal = 0.85 * soft[0] + 0.6 * soft[1] + 0.2 * soft[2] + 0.7 * soft[3]
    scale = rng.uniform(400, 1200)
    return rician(signal * bias_field(signal.shape, rng, 0.15) * scale, 0.02 * scale, rng).astype(np.float32)


def generate_pet_dataset(
    raw_root: Path,
    dataset_id: int,
    *,
    num_cases: int,
    num_test: int,
    seed: int,
    overwrite: bool,
    zoom: float = 1.0,
    dose_fraction: float = 0.05,
    with_mr: bool = True,
) -> Path:
    """Writes the low-dose PET stand-in; see the module docstring for the physics."""
    shape, spacing = zoomed_grid(SHAPE, SPACING, zoom)
    geometry = Geometry(spacing, (-66.0, -72.0, -60.0), (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))

    def cases():
        for index in range(num_cases + num_test):
            rng = case_rng(seed, index)
            activity, brain = activity_map(rng, shape)
            channels = [ImageData(acquire(activity, dose_fraction, rng, spacing)[None], geometry)]
            if with_mr:
                channels.append(ImageData(t1_image(brain, rng)[None], geometry))
            target = ImageData(acquire(activity, 1.0, rng, spacing)[None], geometry)
            yield RawCase(f"pet_{index:03d}", channels, [target], split="train" if index < num_cases else "test")

    channel_names = {"0": "PET"} | ({"1": "T1"} if with_mr else {})
    dataset_json = {
        "name": "LowDosePET",
        "description": f"Synthetic stand-in: standard-dose brain FDG PET from {dose_fraction:.0%}-dose PET (kBq/ml)"
        + (" and T1 MRI." if with_mr else "."),
        "channel_names": channel_names,
        "targets": {"0": "PET_standard_dose"},
        "file_ending": ".nii.gz",
        "task": "regression",
        "dose_fraction": dose_fraction,
    }
    return write_raw_dataset(raw_root, dataset_id, "LowDosePET", dataset_json=dataset_json, cases=cases(), overwrite=overwrite)


@register_stand_in(
    "pet", 904, "LowDosePET", summary="3D brain FDG PET at 5% dose (+ T1 MR) -> standard dose, regression", default_cases=10, default_test=2
)
def generate_pet(raw_root: Path, dataset_id: int, *, num_cases: int, num_test: int, seed: int, overwrite: bool, zoom: float = 1.0) -> Path:
    return generate_pet_dataset(raw_root, dataset_id, num_cases=num_cases, num_test=num_test, seed=seed, overwrite=overwrite, zoom=zoom)

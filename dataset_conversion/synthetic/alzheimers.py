"""Alzheimer's disease (AD) vs cognitively normal (CN) from FDG PET and T1 MRI (classification).

Imitates the two imaging hallmarks of AD:

* PET: hypometabolism of temporoparietal cortex and posterior cingulate /
  precuneus, relative to a preserved sensorimotor and occipital cortex;
* MRI: atrophy, i.e. larger ventricles, wider sulci and smaller hippocampi.

Each subject has a disease severity: CN subjects draw a small, age-related
value and AD subjects a larger one from a wide distribution, so the groups
overlap (mild AD looks like an old CN brain), as they do in ADNI. Global PET
uptake and MR intensity scales vary by subject and scanner, which is why
intensity normalisation matters. About a third of subjects have two sessions
(a follow-up scan with slightly more atrophy); ``labelsTr.csv``'s ``subject``
column groups them so no subject can sit in both training and validation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoseg.io import Geometry, ImageData
from dataset_conversion.raw_writer import RawCase, write_raw_dataset
from dataset_conversion.synthetic.pet import acquire, t1_image
from dataset_conversion.synthetic.phantom import ellipsoid, make_brain, partial_volume, smooth_field
from dataset_conversion.synthetic.registry import register_stand_in, subject_sessions, zoomed_grid

SHAPE = (36, 44, 40)
SPACING = (3.0, 3.0, 3.0)
CLASSES = {"CN": 0, "AD": 1}


def ad_session(
    rng: np.random.Generator, severity: float, shape: tuple[int, int, int] = SHAPE, spacing: tuple[float, ...] = SPACING
) -> tuple[np.ndarray, np.ndarray]:
    """Returns (FDG PET in kBq/ml, T1 MRI) of a brain with disease ``severity`` in [0, 1]."""
    brain = make_brain(shape, rng, atrophy=float(np.clip(severity + rng.normal(0, 0.1), 0, 1)))
    z, y, x = brain.grid
    grey, white, csf = (partial_volume(m) for m in (brain.grey_matter, brain.white_matter, brain.csf))
    temporoparietal = np.zeros(shape, bool)
    for side in (-1, 1):
        temporoparietal |= ellipsoid(brain.grid, (0.0, 0.3, side * 0.55), (0.55, 0.45, 0.35))
    posterior_cingulate = ellipsoid(brain.grid, (0.25, 0.35, 0.0), (0.3, 0.3, 0.18))
    pattern = partial_volume(temporoparietal | posterior_cingulate, sigma=2.0)
    pattern *= 1.0 + 0.3 * smooth_field(shape, rng, sigma=3.0)
    metabolism = 1.0 - 0.45 * severity * np.clip(pattern, 0, 1.3)
    uptake = rng.uniform(6.0, 12.0)
    activity = (uptake * grey * metabolism + uptake / 2.8 * white + 0.3 * csf).astype(np.float32)
    pet = acquire(activity, 0.5, rng, spacing)
    return pet, t1_image(brain, rng)


@register_stand_in("ad", 905, "ADvsCN", summary="3D AD vs CN classification from FDG PET + T1 MRI", default_cases=40, default_test=10)
def generate_ad(raw_root: Path, dataset_id: int, *, num_cases: int, num_test: int, seed: int, overwrite: bool, zoom: float = 1.0) -> Path:
    shape, spacing = zoomed_grid(SHAPE, SPACING, zoom)
    geometry = Geometry(spacing, (-60.0, -66.0, -54.0), (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))

    def cases():
        for split, subject, rng, sessions in subject_sessions(num_cases, num_test, seed, lambda r: 2 if r.random() < 0.33 else 1):
            diagnosis = "AD" if rng.random() < 0.45 else "CN"
            severity = rng.normal(0.55, 0.2) if diagnosis == "AD" else rng.normal(0.15, 0.12)
            for session in range(sessions):
                pet, t1 = ad_session(rng, float(np.clip(severity + 0.05 * session, 0, 1)), shape, spacing)
                yield RawCase(
                    f"ad_{subject:03d}_s{session}",
                    [ImageData(pet[None], geometry), ImageData(t1[None], geometry)],
                    class_name=diagnosis,
                    subject=f"subject_{subject:03d}",
                    split=split,
                )

    dataset_json = {
        "name": "ADvsCN",
        "description": "Synthetic stand-in: Alzheimer's disease vs cognitively normal from FDG PET and T1 MRI.",
        "channel_names": {"0": "PET", "1": "T1"},
        "classes": CLASSES,
        "file_ending": ".nii.gz",
        "task": "classification",
    }
    return write_raw_dataset(raw_root, dataset_id, "ADvsCN", dataset_json=dataset_json, cases=cases(), overwrite=overwrite)

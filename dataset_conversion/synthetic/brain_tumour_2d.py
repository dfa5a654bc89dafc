"""Tumour vs no tumour on 2D axial brain MRI slices (8-bit PNG), several slices per patient.

Imitates the public 2D brain-tumour classification sets: T2-weighted-looking
axial slices (CSF bright, white matter dark) exported as 8-bit images with
per-image windowing. Tumour patients have a heterogeneous mass with a bright
oedema halo that pushes the midline and ventricles aside (mass effect);
tumour size and position vary, and small tumours are subtle. Each patient
contributes two to four slices at nearby levels, all with the patient's
label, so the ``subject`` column in labelsTr.csv is what prevents slice-level
leakage between training and validation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoseg.io import Geometry, ImageData
from dataset_conversion.raw_writer import RawCase, write_raw_dataset
from dataset_conversion.synthetic.phantom import bias_field, ellipsoid, make_brain, partial_volume, rician, smooth_field
from dataset_conversion.synthetic.registry import register_stand_in, subject_sessions, zoomed_grid

VOLUME_SHAPE = (24, 96, 96)
CLASSES = {"no_tumour": 0, "tumour": 1}


def patient_slices(
    rng: np.random.Generator, has_tumour: bool, num_slices: int, volume_shape: tuple[int, int, int] = VOLUME_SHAPE
) -> list[np.ndarray]:
    """Returns ``num_slices`` uint8 axial slices of one synthetic patient."""
    brain = make_brain(volume_shape, rng, atrophy=rng.uniform(0, 0.4))
    grey, white, csf, scalp = (partial_volume(m) for m in (brain.grey_matter, brain.white_matter, brain.csf, brain.scalp))
    signal = 0.45 * white + 0.6 * grey + 1.0 * csf + 0.5 * scalp
    centre_slice = int(rng.integers(8, 16))
    if has_tumour:
        side = rng.choice([-1, 1])
        z_centre = -1.0 + 2.0 * centre_slice / (volume_shape[0] - 1)
        center = (z_centre, rng.uniform(-0.4, 0.4), side * rng.uniform(0.15, 0.4))
        size = rng.uniform(0.1, 0.25)
        noise = 0.3 * smooth_field(volume_shape, rng, sigma=2.0)
        oedema = ellipsoid(brain.grid, center, (size * 2.5, size * 1.9, size * 1.9), noise) & brain.brain
        mass = ellipsoid(brain.grid, center, (size * 1.3, size, size), noise) & brain.brain
        heterogeneity = 0.25 * smooth_field(volume_shape, rng, sigma=1.0)
        signal = np.where(oedema, 0.85, signal)
        signal = np.where(mass, 0.7 + heterogeneity, signal)
        # Mass effect: shift the image content away from the tumour's side.
        shift = int(round(-side * size * 10 * volume_shape[2] / VOLUME_SHAPE[2]))
        signal = np.roll(signal, shift, axis=2)
    image = rician(signal * bias_field(volume_shape, rng, 0.2), 0.03, rng)
    offsets = rng.choice(np.arange(-2, 3), size=num_slices, replace=False)
    slices = []
    for offset in offsets:
        plane = image[centre_slice + offset]
        low, high = np.percentile(plane, [0.5, rng.uniform(99.0, 99.9)])
        slices.append((np.clip((plane - low) / (high - low), 0, 1) * 255).astype(np.uint8))
    return slices


@register_stand_in(
    "tumour2d",
    906,
    "BrainTumour2D",
    summary="2D brain MRI slices, tumour vs no tumour, grouped by patient",
    default_cases=48,
    default_test=12,
)
def generate_tumour2d(
    raw_root: Path, dataset_id: int, *, num_cases: int, num_test: int, seed: int, overwrite: bool, zoom: float = 1.0
) -> Path:
    geometry = Geometry.identity((1.0, 1.0))  # PNG slices carry no spacing
    in_plane, _ = zoomed_grid(VOLUME_SHAPE[1:], (1.0, 1.0), zoom)
    volume_shape = (VOLUME_SHAPE[0], *in_plane)  # slice positions stay put

    def cases():
        for split, patient, rng, num_slices in subject_sessions(num_cases, num_test, seed, lambda r: r.integers(2, 5)):
            has_tumour = bool(rng.random() < 0.5)
            for index, plane in enumerate(patient_slices(rng, has_tumour, num_slices, volume_shape)):
                yield RawCase(
                    f"mri_{patient:03d}_{index}",
                    [ImageData(plane[None], geometry)],
                    class_name="tumour" if has_tumour else "no_tumour",
                    subject=f"patient_{patient:03d}",
                    split=split,
                )

    dataset_json = {
        "name": "BrainTumour2D",
        "description": "Synthetic stand-in: tumour vs no tumour on 2D axial brain MRI slices (PNG).",
        "channel_names": {"0": "MR"},
        "classes": CLASSES,
        "file_ending": ".png",
        "task": "classification",
    }
    return write_raw_dataset(raw_root, dataset_id, "BrainTumour2D", dataset_json=dataset_json, cases=cases(), overwrite=overwrite)

"""Lumbar-spine muscles on 2D axial Dixon MRI (water and fat images).

Imitates an axial slice at the L3-L4 level: an elliptical abdomen with a
subcutaneous fat layer, a vertebral body with the spinal canal and spinous
process behind it, the paired paraspinal muscles (erector spinae with
multifidus) either side of the spinous process, the psoas muscles either side
of the vertebral body, and textured viscera in front.

Dixon imaging separates each voxel's signal into water and fat. Muscle is
water-rich, with a subject-specific fatty infiltration (fat fraction 3-35 %,
slightly asymmetric, streaky) that is the quantity studied in back pain;
subcutaneous fat and marrow are fat-rich. Both images share one coil
sensitivity (bias) field and carry Rician noise. Pixel spacing varies between
subjects, as fields of view do in practice.

Labels: 1 left paraspinal, 2 right paraspinal, 3 psoas (both sides). Patient
left is +x (larger column index), as in the LPS frame with identity direction;
a network trained with left-right mirroring cannot tell labels 1 and 2 apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoseg.io import Geometry, ImageData
from dataset_conversion.raw_writer import RawCase, write_raw_dataset
from dataset_conversion.synthetic.phantom import bias_field, ellipsoid, normalised_grid, partial_volume, rician, smooth_field
from dataset_conversion.synthetic.registry import case_rng, register_stand_in, zoomed_grid

SHAPE = (128, 128)
LABELS = {"background": 0, "paraspinal_left": 1, "paraspinal_right": 2, "psoas": 3}


def spine_slice(rng: np.random.Generator, shape: tuple[int, int] = SHAPE) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Returns (water, fat, label, pixel spacing in mm at the default 128 x 128 grid) of one synthetic subject."""
    spacing = rng.uniform(2.6, 3.2)
    y, x = normalised_grid(shape)
    angle = rng.uniform(-0.12, 0.12)
    shift_y, shift_x = rng.uniform(-0.05, 0.05, size=2)
    y, x = y - shift_y, x - shift_x
    y, x = y * np.cos(angle) - x * np.sin(angle), y * np.sin(angle) + x * np.cos(angle)
    grid = [y, x]
    outline = 0.04 * smooth_field(shape, rng, sigma=10)

    body_ry, body_rx = rng.uniform(0.55, 0.72), rng.uniform(0.8, 0.95)
    fat_thickness = rng.uniform(0.05, 0.17)
    body = ellipsoid(grid, (0.0, 0.0), (body_ry, body_rx), outline)
    inner = ellipsoid(grid, (0.0, 0.0), (body_ry - fat_thickness, body_rx - fat_thickness * 0.8), outline)
    vertebra = ellipsoid(grid, (0.08, 0.0), (0.13, 0.15))
    canal = ellipsoid(grid, (0.27, 0.0), (0.06, 0.06))
    spinous = ellipsoid(grid, (0.42, 0.0), (0.12, 0.035))
    bone = (vertebra | spinous) & ~canal

    muscle_scale = rng.uniform(0.8, 1.15)
    muscle_distortion = 0.15 * smooth_field(shape, rng, sigma=6)
    paraspinal = {}
    for side, sign in (("left", 1), ("right", -1)):
        center = (0.4 + rng.uniform(-0.03, 0.03), sign * rng.uniform(0.21, 0.26))
        radii = (0.15 * muscle_scale, 0.16 * muscle_scale * rng.uniform(0.9, 1.1))
        paraspinal[side] = ellipsoid(grid, center, radii, muscle_distortion, angle=sign * 0.2) & inner & ~bone & ~canal
    psoas = np.zeros(shape, dtype=bool)
    psoas_size = muscle_scale * rng.uniform(0.7, 1.2)
    for sign in (1, -1):
        center = (0.02 + rng.uniform(-0.03, 0.03), sign * rng.uniform(0.26, 0.31))
        psoas |= ellipsoid(grid, center, (0.1 * psoas_size, 0.09 * psoas_size), muscle_distortion, angle=-sign * 0.5)
    psoas &= inner & ~bone & ~paraspinal["left"] & ~paraspinal["right"]
    viscera = inner & ~bone & ~canal & ~psoas & ~paraspinal["left"] & ~paraspinal["right"] & (y < 0.3)
    back_fat = inner & ~bone & ~canal & ~psoas & ~paraspinal["left"] & ~paraspinal["right"] & ~viscera

    label = np.zeros(shape, dtype=np.uint8)
    label[paraspinal["left"]] = 1
    label[paraspinal["right"]] = 2
    label[psoas] = 3

    fat_fraction = rng.uniform(0.03, 0.35)
    streaks = np.clip(smooth_field(shape, rng, sigma=1.5), 0, None)
    muscle_fat = {
        "left": np.clip(fat_fraction * (1 + rng.uniform(-0.15, 0.15)) * (0.6 + 0.6 * streaks), 0, 0.9),
        "right": np.clip(fat_fraction * (1 + rng.uniform(-0.15, 0.15)) * (0.6 + 0.6 * streaks), 0, 0.9),
    }
    texture = smooth_field(shape, rng, sigma=2.0)
    tissues = [  # (soft mask, water signal, fat signal)
        (partial_volume(body & ~inner), 0.06, 0.95),
        (partial_volume(back_fat), 0.1, 0.8),
        (partial_volume(bone), 0.3, 0.55),
        (partial_volume(canal), 0.95, 0.02),
        (partial_volume(viscera), 0.5 + 0.12 * texture, np.clip(0.15 - 0.1 * texture, 0.02, None)),
        (partial_volume(psoas), 0.7 * (1 - 0.5 * fat_fraction), 0.5 * fat_fraction),
    ]
    for side in ("left", "right"):
        tissues.append((partial_volume(paraspinal[side]), 0.7 * (1 - muscle_fat[side]), muscle_fat[side]))
    water = sum(mask * w for mask, w, _ in tissues)
    fat = sum(mask * f for mask, _, f in tissues)
    coil = bias_field(shape, rng, strength=0.25)
    scale = rng.uniform(600, 1200)
    noise = rng.uniform(0.01, 0.03)
    water = rician(water * coil * scale, noise * scale, rng)
    fat = rician(fat * coil * scale, noise * scale, rng)
    return water.astype(np.float32), fat.astype(np.float32), label, float(spacing)


@register_stand_in("spine", 901, "LumbarSpineDixon", summary="2D lumbar-spine muscles, Dixon water + fat", default_cases=24, default_test=6)
def generate_spine(
    raw_root: Path, dataset_id: int, *, num_cases: int, num_test: int, seed: int, overwrite: bool, zoom: float = 1.0
) -> Path:
    def cases():
        for index in range(num_cases + num_test):
            shape, _ = zoomed_grid(SHAPE, (1.0, 1.0), zoom)
            water, fat, label, pixel = spine_slice(case_rng(seed, index), shape)
            spacing = pixel * SHAPE[0] / shape[0]
            geometry = Geometry((spacing, spacing), (-0.5 * spacing * shape[1], -0.5 * spacing * shape[0]), (1.0, 0.0, 0.0, 1.0))
            yield RawCase(
                f"spine_{index:03d}",
                [ImageData(water[None], geometry), ImageData(fat[None], geometry)],
                [ImageData(label[None], geometry)],
                split="train" if index < num_cases else "test",
            )

    dataset_json = {
        "name": "LumbarSpineDixon",
        "description": "Synthetic stand-in: lumbar paraspinal and psoas muscles on 2D axial Dixon MRI.",
        "channel_names": {"0": "MR_water", "1": "MR_fat"},
        "labels": LABELS,
        "file_ending": ".nii.gz",
        "task": "segmentation",
    }
    return write_raw_dataset(raw_root, dataset_id, "LumbarSpineDixon", dataset_json=dataset_json, cases=cases(), overwrite=overwrite)

"""Abdominal CT at clinical size: int16 Hounsfield units, 512 x 512 in plane, 150-300 slices.

Imitates a portal-venous abdominal scan from the lower chest to the pelvis.
Each case draws its own pixel spacing (0.70-0.90 mm) and slice thickness
(2.0-3.0 mm) and slice count, as scanners and protocols do, so the planner
has to choose a target spacing and resample every case. Anatomy, in
Hounsfield units: air outside the body (-1000), a subcutaneous fat layer
(-100), the abdominal wall's muscle (45), visceral fat and bowel in the
cavity, the liver (60) in the right upper abdomen with 0-3 hypodense lesions
(25), the spleen (50) on the left, both kidneys (enhancing cortex, 160),
the aorta (contrast, 180) and the vertebral column (cancellous 250, cortex
700) with its discs. Noise is Gaussian (10-18 HU), as after filtered
back-projection.

Labels: 1 liver, 2 spleen, 3 kidneys, 4 bone (vertebrae), 5 liver lesion,
6 subcutaneous fat. ``zoom`` scales the voxel counts (0.125: 64 x 64 in plane)
over the same field of view, for tests and quick trials.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage

from autoseg.io import Geometry, ImageData
from dataset_conversion.raw_writer import RawCase, write_raw_dataset
from dataset_conversion.synthetic.registry import case_rng, register_stand_in

IN_PLANE = 512
LABELS = {"background": 0, "liver": 1, "spleen": 2, "kidney": 3, "bone": 4, "liver_lesion": 5, "subcutaneous_fat": 6}


def _smooth_plane(shape: tuple[int, int], rng: np.random.Generator, scale: float) -> np.ndarray:
    """A smooth in-plane field (unit std) drawn at 32 x 32 and interpolated: cheap at any size."""
    coarse = ndimage.gaussian_filter(rng.standard_normal((32, 32)), 3.0, mode="wrap")
    coarse = (coarse - coarse.mean()) / (coarse.std() + 1e-12)
    return scale * ndimage.zoom(coarse, (shape[0] / 32, shape[1] / 32), order=1).astype(np.float32)


def _level(grid, center, radii) -> np.ndarray:
    """The ellipsoid level set sum(((x - c) / r)^2) over open grids (broadcasts; below 1 inside)."""
    return sum(((axis - c) / r) ** 2 for axis, c, r in zip(grid, center, radii) if r is not None)


def ct_case(rng: np.random.Generator, zoom: float = 1.0) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """Returns (image int16 (Z, Y, X) in HU, labels uint8, spacing (z, y, x) in mm) of one synthetic scan."""
    slices, pixel, thickness = int(rng.integers(150, 301)), float(rng.uniform(0.70, 0.90)), float(rng.uniform(2.0, 3.0))
    shape = (max(8, round(slices * zoom)), max(16, round(IN_PLANE * zoom)), max(16, round(IN_PLANE * zoom)))
    spacing = (thickness * slices / shape[0], pixel * IN_PLANE / shape[1], pixel * IN_PLANE / shape[2])
    z, y, x = (axis.astype(np.float32) for axis in np.ogrid[tuple(slice(-1.0, 1.0, complex(0, n)) for n in shape)])
    # The body: an elliptic cylinder (patient's back at +y), its radii varying slowly along z and its outline irregular.
    profile = (1.0 + 0.06 * np.sin(np.pi * (z + rng.uniform(-1, 1))) + 0.03 * z).astype(np.float32)
    outline = _smooth_plane(shape[1:], rng, 0.05)[None]
    body_ry, body_rx = rng.uniform(0.55, 0.68), rng.uniform(0.75, 0.9)
    body = _level([y, x], (0.05, 0.0), (body_ry * profile, body_rx * profile)) + outline < 1
    fat_layer = rng.uniform(0.04, 0.12)
    inner = _level([y, x], (0.05, 0.0), ((body_ry - fat_layer) * profile, (body_rx - fat_layer) * profile)) + outline < 1
    cavity = _level([y, x], (0.02, 0.0), ((body_ry - fat_layer - 0.05) * profile, (body_rx - fat_layer - 0.06) * profile)) + outline < 1
    # Organs: centres and radii in the normalised frame (z from the chest, -1, to the pelvis, +1).
    shift = rng.uniform(-0.08, 0.08, size=3)
    liver_distortion = _smooth_plane(shape[1:], rng, 0.25)[None]
    liver = _level([z, y, x], (-0.45 + shift[0], -0.05, -0.35 + shift[1]), (0.35, 0.35, 0.33)) + liver_distortion < 1
    spleen = _level([z, y, x], (-0.45 + shift[0], 0.12, 0.5 + shift[2]), (0.17, 0.14, 0.1)) < 1
    kidneys = np.zeros(shape, bool)
    for side in (-1, 1):
        kidneys |= _level([z, y, x], (-0.05 + 0.05 * side + shift[0], 0.28, side * 0.3), (0.16, 0.09, 0.07)) < 1
    spine_axis = (0.42, 0.0)
    vertebra = _level([y, x], spine_axis, (0.1, 0.1)) < 1
    canal = _level([y, x], (spine_axis[0] + 0.08, 0.0), (0.035, 0.035)) < 1
    period = 30.0 / (spacing[0] * shape[0] / 2)  # a vertebra and its disc every ~30 mm, in normalised units
    discs = np.abs(((z + rng.uniform(0, period)) % period) - period / 2) < period * 0.12
    bone = (vertebra & ~canal) & ~discs
    cortex = bone & ~(_level([y, x], spine_axis, (0.08, 0.08)) < 1)
    aorta = _level([y, x], (spine_axis[0] - 0.16, -0.06), (0.04, 0.04)) < 1
    lesions = np.zeros(shape, bool)
    liver_points = np.argwhere(liver[:, :: max(1, shape[1] // 64), :: max(1, shape[2] // 64)])
    for _ in range(int(rng.integers(0, 4))) if len(liver_points) else ():
        point = liver_points[rng.integers(len(liver_points))] * [1, max(1, shape[1] // 64), max(1, shape[2] // 64)]
        radius_mm = rng.uniform(5, 18)
        centre = [2 * p / (n - 1) - 1 for p, n in zip(point, shape)]
        radii = [radius_mm / (s * n / 2) for s, n in zip(spacing, shape)]
        lesions |= (_level([z, y, x], centre, radii) < 1) & liver

    image = np.full(shape, -1000.0, dtype=np.float32)
    image[body] = -100.0  # subcutaneous fat
    image[inner] = 45.0  # the abdominal wall's muscle
    turns = 6 * np.pi * z  # bowel loops: in-plane blobs that drift along z
    bowel = _smooth_plane(shape[1:], rng, 1.0)[None] * np.cos(turns) + _smooth_plane(shape[1:], rng, 1.0)[None] * np.sin(turns)
    image[cavity] = np.where(bowel > 0.3, 20.0, -90.0)[cavity]
    for mask, hu in (
        (kidneys, 160.0),
        (spleen, 50.0),
        (liver, 60.0),
        (aorta & cavity, 180.0),
        (lesions, 25.0),
        (bone, 250.0),
        (cortex, 700.0),
    ):
        image[mask] = hu
    image += rng.normal(0.0, rng.uniform(10, 18), shape).astype(np.float32)

    labels = np.zeros(shape, np.uint8)
    labels[body & ~inner] = 6
    for value, mask in ((1, liver), (2, spleen), (3, kidneys), (4, bone), (5, lesions)):
        labels[mask & body] = value
    return np.clip(np.round(image), -1024, 3071).astype(np.int16), labels, spacing


@register_stand_in(
    "ct",
    907,
    "AbdomenCT",
    summary="3D abdominal CT at clinical size, int16 HU, 512 x 512 x 150-300, 6 labels",
    default_cases=8,
    default_test=2,
    in_demo=False,
)
def generate_ct(raw_root: Path, dataset_id: int, *, num_cases: int, num_test: int, seed: int, overwrite: bool, zoom: float = 1.0) -> Path:
    def cases():
        for index in range(num_cases + num_test):
            image, labels, spacing = ct_case(case_rng(seed, index), zoom)
            origin = (-0.5 * spacing[2] * image.shape[2], -0.5 * spacing[1] * image.shape[1], -spacing[0] * image.shape[0])
            geometry = Geometry(spacing, origin, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
            yield RawCase(
                f"ct_{index:03d}",
                [ImageData(image[None], geometry)],
                [ImageData(labels[None], geometry)],
                split="train" if index < num_cases else "test",
            )

    dataset_json = {
        "name": "AbdomenCT",
        "description": "Synthetic stand-in: abdominal CT at clinical size (int16 HU), organs, bone, fat and liver lesions.",
        "channel_names": {"0": "CT"},
        "labels": LABELS,
        "file_ending": ".nii.gz",
        "task": "segmentation",
    }
    return write_raw_dataset(raw_root, dataset_id, "AbdomenCT", dataset_json=dataset_json, cases=cases(), overwrite=overwrite)

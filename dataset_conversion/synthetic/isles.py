"""Acute ischaemic stroke on perfusion and diffusion maps, written in the ISLES 2017 layout.

Imitates a thick-slice perfusion slab (6.5 mm slices, 2 mm in plane, so the
coarse axis is over three times the fine one). An occluded artery leaves a
territory with a smooth hypoperfusion severity h in [0, 1]:

* Tmax and TTP (s) rise with h; CBF (ml/100 g/min) falls with h;
* CBV (ml/100 g) is kept by collaterals in the penumbra and falls in the core;
* MTT = 60 CBV / CBF (central volume theorem);
* ADC (1e-6 mm^2/s) drops by about 40 % in the core (cytotoxic oedema).

The label is the final infarct: the core plus the part of the penumbra that
was not saved, decided per case by an unobserved reperfusion threshold, which
is what makes the task hard. About a fifth of cases have tiny lesions (a
lacune-sized territory) that a careless model or postprocessing deletes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from scipy import ndimage

from autoseg.io import Geometry, ImageData, write_image
from dataset_conversion.converters.isles import MAPS, convert_isles
from dataset_conversion.synthetic.phantom import make_brain, partial_volume, smooth_field
from dataset_conversion.synthetic.registry import case_rng, register_stand_in, zoomed_grid

SHAPE = (14, 72, 64)
SPACING = (6.5, 2.0, 2.0)


def isles_case(rng: np.random.Generator, shape: tuple[int, int, int] = SHAPE) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Returns ({map name: image}, final-infarct mask) of one synthetic stroke."""
    brain = make_brain(shape, rng, atrophy=rng.uniform(0.0, 0.5), z_coverage=0.55)
    z, y, x = brain.grid
    tiny = rng.random() < 0.2
    side = rng.choice([-1, 1])
    center = (rng.uniform(-0.3, 0.3), rng.uniform(-0.4, 0.3), side * rng.uniform(0.25, 0.45))
    radius = rng.uniform(0.05, 0.08) if tiny else rng.uniform(0.15, 0.35)
    distance = np.sqrt(((z - center[0]) / (radius * 2.5)) ** 2 + ((y - center[1]) / radius) ** 2 + ((x - center[2]) / radius) ** 2)
    distance = distance + 0.25 * smooth_field(shape, rng, sigma=2.0)
    severity = np.clip(1.2 - distance, 0.0, 1.0) * (brain.grey_matter | brain.white_matter)
    core = severity > 0.7
    infarct = severity > rng.uniform(0.35, 0.7)
    if not infarct.any():  # a lesion must exist in a lesion dataset: keep the most severe voxel's neighbourhood
        infarct = ndimage.binary_dilation(severity == severity.max(), iterations=1) & brain.brain

    grey, white, csf = (partial_volume(mask) for mask in (brain.grey_matter, brain.white_matter, brain.csf))
    tissue = grey + white
    cbf_normal = 55.0 * grey + 22.0 * white
    cbv_normal = 4.5 * grey + 2.2 * white
    cbf = cbf_normal * (1.0 - 0.8 * severity)
    cbv = cbv_normal * (1.0 - 0.7 * np.clip(2.0 * severity - 1.0, 0.0, 1.0))
    maps = {
        "ADC": (800.0 * tissue + 3000.0 * csf) * np.where(core, 0.6, 1.0),
        "rCBV": cbv,
        "rCBF": cbf,
        "MTT": np.where(cbf > 1.0, 60.0 * cbv / np.maximum(cbf, 1.0), 0.0),
        "TTP": (12.0 + 8.0 * severity) * tissue,
        "Tmax": (1.0 + 12.0 * severity) * tissue,
    }
    noise = {"ADC": 60.0, "rCBV": 0.4, "rCBF": 4.0, "MTT": 0.4, "TTP": 0.8, "Tmax": 0.6}
    images = {
        name: np.where(brain.brain, np.clip(value + rng.normal(0.0, noise[name], shape), 0, None), 0).astype(np.float32)
        for name, value in maps.items()
    }
    return images, infarct.astype(np.uint8)


def write_isles_layout(destination: Path, num_cases: int, num_test: int, seed: int, zoom: float = 1.0) -> Path:
    """Writes ``ISLES2017_Training/training_<n>/SMIR.Brain.XX.O.MR_<map>.<id>/...nii`` (and Testing) below ``destination``."""
    shape, spacing = zoomed_grid(SHAPE, SPACING, zoom)
    geometry = Geometry(spacing, (-64.0, -72.0, -40.0), (1.0, 0, 0, 0, 1.0, 0, 0, 0, 1.0))
    file_id = 127000
    for index in range(num_cases + num_test):
        images, label = isles_case(case_rng(seed, index), shape)
        training = index < num_cases
        folder = (
            destination
            / ("ISLES2017_Training" if training else "ISLES2017_Testing")
            / (f"training_{index + 1}" if training else f"test_{index + 1}")
        )
        entries = [(f"MR_{name}", images[name]) for name in MAPS] + ([("OT", label)] if training else [])
        for key, array in entries:
            file_id += 1
            stem = f"SMIR.Brain.XX.O.{key}.{file_id}"
            write_image(ImageData(array[None], geometry), folder / stem / f"{stem}.nii")
    return destination


@register_stand_in(
    "isles", 903, "ISLES2017", summary="3D stroke lesions, 6 perfusion/diffusion maps, anisotropic", default_cases=10, default_test=2
)
def generate_isles(
    raw_root: Path, dataset_id: int, *, num_cases: int, num_test: int, seed: int, overwrite: bool, zoom: float = 1.0
) -> Path:
    with tempfile.TemporaryDirectory() as source:
        write_isles_layout(Path(source), num_cases, num_test, seed, zoom)
        return convert_isles(Path(source), raw_root, dataset_id, "ISLES2017", overwrite)

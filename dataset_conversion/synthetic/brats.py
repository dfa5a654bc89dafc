"""Brain tumours on 4-channel MRI (T1, T1ce, T2, FLAIR), written in the BraTS 2019 layout.

Imitates skull-stripped, co-registered BraTS volumes: white matter, grey
matter and CSF with each sequence's contrast (T1: WM > GM > CSF; T2: CSF
brightest; FLAIR: CSF suppressed), and a glioma grown from an irregular seed
in one hemisphere: a necrotic centre (BraTS label 1), an enhancing rim that
lights up only after contrast (label 4) and surrounding vasogenic oedema,
bright on T2 and FLAIR (label 2). About a quarter of tumours are low grade:
no enhancement and no necrosis, only a non-enhancing core (label 1). Each
channel has its own arbitrary intensity scale, bias field and Rician noise,
as BraTS's multi-centre scans do.

``generate_brats`` writes the BraTS layout, then runs the BraTS converter, so
the stand-in exercises the converter exactly as real data would. BraTS's
validation subjects come without labels; the stand-in knows them, and writes
them to labelsTs/ so held-out predictions can be scored.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from autoseg.io import Geometry, ImageData, read_image, write_image
from dataset_conversion.converters.brats import MODALITIES, convert_brats, map_brats_labels
from dataset_conversion.synthetic.phantom import bias_field, ellipsoid, make_brain, partial_volume, rician, smooth_field
from dataset_conversion.synthetic.registry import case_rng, register_stand_in, zoomed_grid

HELD_OUT = "held_out_labels"
SHAPE = (40, 56, 48)
SPACING = (3.0, 3.0, 3.0)

# Relative signal per tissue and sequence: WM, GM, CSF, oedema, non-enhancing core, enhancing rim, necrosis.
CONTRAST = {
    "t1": (0.85, 0.6, 0.2, 0.5, 0.45, 0.55, 0.3),
    "t1ce": (0.85, 0.6, 0.2, 0.5, 0.45, 1.35, 0.3),
    "t2": (0.45, 0.6, 1.0, 0.85, 0.75, 0.7, 0.95),
    "flair": (0.45, 0.55, 0.1, 1.0, 0.8, 0.75, 0.5),
}


def brats_subject(rng: np.random.Generator, shape: tuple[int, int, int] = SHAPE) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Returns ({modality: image}, label in BraTS values 0, 1, 2, 4) of one synthetic subject."""
    brain = make_brain(shape, rng)
    grid = brain.grid
    side = rng.choice([-1, 1])
    center = (rng.uniform(-0.2, 0.35), rng.uniform(-0.35, 0.35), side * rng.uniform(0.2, 0.35))
    size = rng.uniform(0.12, 0.24)
    shape_noise = 0.35 * smooth_field(shape, rng, sigma=2.5)
    oedema_reach = rng.uniform(1.5, 2.3)
    oedema = ellipsoid(grid, center, (size * oedema_reach,) * 3, 0.6 * smooth_field(shape, rng, sigma=2.0)) & brain.brain
    core = ellipsoid(grid, center, (size, size * rng.uniform(0.8, 1.2), size * rng.uniform(0.8, 1.2)), shape_noise) & brain.brain
    high_grade = rng.random() < 0.75
    necrosis = ellipsoid(grid, center, (size * rng.uniform(0.4, 0.65),) * 3, shape_noise) & core if high_grade else np.zeros(shape, bool)

    label = np.zeros(shape, dtype=np.uint8)
    label[oedema] = 2
    label[core] = 4 if high_grade else 1
    label[necrosis] = 1

    masks = [
        brain.white_matter & ~oedema & ~core,
        brain.grey_matter & ~oedema & ~core,
        brain.csf & ~oedema & ~core,
        oedema & ~core,
        core & ~necrosis & (not high_grade),
        core & ~necrosis & high_grade,
        necrosis,
    ]
    soft = [partial_volume(mask) for mask in masks]
    texture = 1.0 + 0.06 * smooth_field(shape, rng, sigma=1.0)
    images = {}
    for modality in MODALITIES:
        signal = sum(weight * mask for weight, mask in zip(CONTRAST[modality], soft)) * texture
        scale = rng.uniform(300, 2000)
        image = rician(signal * bias_field(shape, rng, 0.15) * scale, 0.02 * scale, rng)
        images[modality] = np.where(brain.brain, image, 0).astype(np.float32)
    return images, label


def write_brats_layout(destination: Path, num_cases: int, num_test: int, seed: int, zoom: float = 1.0) -> Path:
    """Writes ``MICCAI_BraTS_2019_Data_Training/{HGG,LGG}/<subject>/`` and ``..._Validation/`` below
    ``destination``, and the validation subjects' labels (BraTS values) to ``held_out_labels/<subject>.nii.gz``."""
    shape, spacing = zoomed_grid(SHAPE, SPACING, zoom)
    geometry = Geometry(spacing, (0.0, -239.0, 0.0), (-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0))
    for index in range(num_cases + num_test):
        images, label = brats_subject(case_rng(seed, index), shape)
        subject = f"BraTS19_SYN_{index:03d}_1"
        if index < num_cases:
            grade = "HGG" if np.any(label == 4) else "LGG"
            folder = destination / "MICCAI_BraTS_2019_Data_Training" / grade / subject
            write_image(ImageData(label[None], geometry), folder / f"{subject}_seg.nii.gz")
        else:
            folder = destination / "MICCAI_BraTS_2019_Data_Validation" / subject
            write_image(ImageData(label[None], geometry), destination / HELD_OUT / f"{subject}.nii.gz")
        for modality, image in images.items():
            write_image(ImageData(image[None], geometry), folder / f"{subject}_{modality}.nii.gz")
    return destination


@register_stand_in(
    "brats", 902, "BraTS2019", summary="3D brain tumours, 4 MRI channels, BraTS labels 1/2/4 as regions", default_cases=10, default_test=2
)
def generate_brats(
    raw_root: Path, dataset_id: int, *, num_cases: int, num_test: int, seed: int, overwrite: bool, zoom: float = 1.0
) -> Path:
    with tempfile.TemporaryDirectory() as source:
        write_brats_layout(Path(source), num_cases, num_test, seed, zoom)
        dataset = convert_brats(Path(source), raw_root, dataset_id, "BraTS2019", overwrite)
        for path in sorted((Path(source) / HELD_OUT).glob("*.nii.gz")):
            write_image(map_brats_labels(read_image(path), path), dataset / "labelsTs" / path.name)
        return dataset

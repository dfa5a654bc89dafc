"""The cascade: ``3d_cascade_fullres`` refines the ``3d_lowres`` prediction it gets as extra input channels.

* Each low-resolution fold's whole-case validation also writes its prediction of every validation case on the
  full-resolution preprocessed grid: ``fold_F/predicted_next_stage/3d_cascade_fullres/{case}.npz`` (the label
  map as its raw-geometry file holds it, cropped and resampled as reference labels are). After all five folds,
  every training case has an out-of-fold low-resolution prediction.
* Training the cascade reads them for its training and validation cases (a clear error names the missing
  folds or cases). They travel with the patch as an extra target channel, so every spatial transform moves
  them with the image and no intensity transform touches them, and are perturbed as nnU-Net perturbs them
  (per label, p 0.4, a random binary dilation, erosion, opening or closing; p 0.2, one random connected
  component removed) so the network learns to correct the first stage rather than copy it. They then become
  one-hot input channels (foreground labels, or regions).
* Prediction runs the low-resolution stage first (or takes its predictions) and moves each case's prediction
  onto the full-resolution grid the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from autoseg.errors import AutosegError
from autoseg.io import atomic_write
from autoseg.preprocessing.pipeline import CaseProperties, labels_on_grid

if TYPE_CHECKING:
    from autoseg.plans import Configuration

NEXT_STAGE_FOLDER = "predicted_next_stage"


def next_stage_file(fold_dir: Path, next_configuration: str, case_id: str) -> Path:
    return Path(fold_dir) / NEXT_STAGE_FOLDER / next_configuration / f"{case_id}.npz"


def write_next_stage(path: Path, labels: np.ndarray, properties: CaseProperties, configuration: Configuration) -> None:
    """Saves a raw-geometry prediction (*spatial) on the preprocessed grid of the next stage, ``configuration``."""
    grid = labels_on_grid(labels, properties, configuration).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: np.savez_compressed(tmp, labels=grid), suffix=".npz")


def previous_stage_files(previous_model: Path, configuration: str, case_ids: list[str]) -> dict[str, Path]:
    """{case: its out-of-fold previous-stage prediction} from the folds of ``previous_model`` (the low-resolution
    model folder); refuses, naming them, cases no fold predicted."""
    found = {}
    for fold_dir in sorted(Path(previous_model).glob("fold_*")):
        for path in sorted((fold_dir / NEXT_STAGE_FOLDER / configuration).glob("*.npz")):
            found.setdefault(path.stem, path)
    missing = sorted(set(case_ids) - set(found))
    if missing:
        folds = sorted(p.name for p in Path(previous_model).glob("fold_*")) or ["none"]
        raise AutosegError(
            f"{configuration} trains on the out-of-fold predictions of {Path(previous_model).name}, and {len(missing)} case(s) have "
            f"none: {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''} (folds found: {', '.join(folds)}). Train all five "
            f"folds of {Path(previous_model).name.split('__')[-1]} first, or re-validate them with --val_only."
        )
    return found

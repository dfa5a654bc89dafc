"""``autoseg ensemble``: average the predictions of several prediction folders, as the dataset's task
ensembles its kind (autoseg/inference/ensemble.py holds the averaging)."""

from __future__ import annotations

import json
from pathlib import Path

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.io import atomic_write
from autoseg.tasks import task_for


def ensemble_folders(folders: list[Path], output_dir: Path, save_probabilities_too: bool = False) -> list[Path]:
    """Averages the probabilities of ``folders`` case by case into ``output_dir``; returns the label files written."""
    if len(folders) < 2:
        raise AutosegError("an ensemble needs at least two prediction folders.")
    inputs = [folder for folder in folders if Path(folder).resolve() == Path(output_dir).resolve()]
    if inputs:
        raise AutosegError(
            f"the output folder {output_dir} is one of the folders to ensemble; its predictions would be overwritten. Choose another -o."
        )
    spec_path = folders[0] / "dataset.json"
    if not spec_path.is_file():
        raise AutosegError(f"{spec_path} not found; ensemble folders written by autoseg predict --save_probabilities.")
    spec = DatasetSpec.from_json(json.loads(spec_path.read_text()), str(spec_path))
    written = task_for(spec).ensemble_folders(folders, output_dir, save_probabilities_too)
    atomic_write(output_dir / "dataset.json", lambda tmp: tmp.write_text(spec_path.read_text()))
    return written

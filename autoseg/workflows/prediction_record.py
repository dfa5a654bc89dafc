"""What produced a prediction folder (``prediction.json``), and the refusal to mix two runs' outputs in one.

Every output in a prediction folder comes from the run ``prediction.json`` describes: the networks' weights
(a digest of their tensors, so the same model loaded from its folder or its exported .zip is the same run), the
configuration and folds, the step size, mirroring, the input folder, the output format and the previous stage's
predictions. A run into a folder that already holds outputs must be the same run: ``--continue_prediction``
into a folder written with other settings (or with no record at all) is refused naming each difference, and
so is a fresh run that would leave the other run's outputs beside its own. What only adds files
(probabilities, uncertainty maps) and how the cases are split into parts are recorded but not compared.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from autoseg.errors import AutosegError
from autoseg.io import atomic_write

RECORD = "prediction.json"
# What decides an output's values: a continued run must agree on each.
COMPARED = ("weights", "configuration", "folds", "step_size", "mirroring", "input", "output_format", "previous_stage")
_SHOWN = {
    "weights": "network weights",
    "configuration": "configuration",
    "folds": "folds",
    "step_size": "step size",
    "mirroring": "mirroring",
    "input": "input folder",
    "output_format": "output format",
    "previous_stage": "previous stage predictions",
}


def weights_digest(networks: list) -> str:
    """A digest of the networks' weights, in order: their tensors' names and bytes (an ONNX network: its file)."""
    digest = hashlib.sha256()
    for network in networks:
        if isinstance(network, torch.nn.Module):
            for name, tensor in sorted(network.state_dict().items()):
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            digest.update(Path(network.path).read_bytes())
    return digest.hexdigest()


def run_record(model, *, input_dir: Path, step_size: float, mirroring: bool, output_format: str | None, previous_stage) -> dict:
    """``prediction.json`` for a run of ``model`` (a TrainedModel): the values COMPARED, and what is only noted
    (the model folder, for the QC report and for people)."""
    return {
        "model": str(model.folder),
        "weights": weights_digest(model.networks),
        "configuration": model.configuration.name,
        "folds": list(model.folds),
        "step_size": step_size,
        "mirroring": mirroring,
        "input": str(Path(input_dir).resolve()),
        "output_format": output_format,
        "previous_stage": previous_stage,
    }


def claim_folder(output_dir: Path, record: dict, *, holds_outputs: bool, continuing: bool) -> None:
    """Writes ``record`` as ``output_dir``'s prediction.json, unless the folder holds outputs of another run:
    then AutosegError naming each difference (nothing is written)."""
    path = Path(output_dir) / RECORD
    recorded = _read(path) if path.is_file() else None
    if holds_outputs or (continuing and recorded is not None):
        if recorded is None:
            raise AutosegError(
                f"{output_dir} holds predictions but no {RECORD} saying what made them, so they cannot be continued or mixed with "
                "this run's. Predict into an empty folder, or delete those predictions."
            )
        differences = [
            f"{_SHOWN[key]} {_show(recorded.get(key))} there, {_show(record[key])} now"
            for key in COMPARED
            if recorded.get(key) != record[key]
        ]
        if differences:
            how = "continuing" if continuing else "predicting into it"
            raise AutosegError(
                f"{output_dir} holds predictions of another run ({'; '.join(differences)}); {how} would mix the two runs' outputs. "
                "Predict into another folder, or delete its predictions first."
            )
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(record, indent=2) + "\n"))


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _show(value) -> str:
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value[:12]  # a digest
    return json.dumps(value)

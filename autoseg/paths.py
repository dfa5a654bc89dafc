"""Where data lives, and how a dataset is named by id, folder name or path.

The CLI resolves these once and passes plain paths down; nothing below it
reads environment variables.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from autoseg.errors import AutosegError

ENVIRONMENT = {
    "raw": "AUTOSEG_RAW",
    "preprocessed": "AUTOSEG_PREPROCESSED",
    "results": "AUTOSEG_RESULTS",
}
NNUNET_RAW = "nnUNet_raw"  # nnU-Net's raw folder: read when AUTOSEG_RAW is unset
DEFAULT_BASE = Path("autoseg_data")
_FOLDER = re.compile(r"^Dataset(?P<id>\d{3,})_(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]*)$")
_announced: set[str] = set()


def data_root(kind: str, override: str | Path | None = None, *, writing: bool = False) -> Path:
    """Returns the folder for ``kind`` ('raw', 'preprocessed', 'results').

    Order: the explicit ``override`` (a CLI flag), the environment variable,
    for raw datasets that are only read nnU-Net's ``nnUNet_raw`` (the format
    is the same; autoseg never writes into nnU-Net's folders, so a command
    that writes raw datasets, ``writing``, skips it), then
    ``./autoseg_data/<kind>``. A fallback is announced once on stderr.
    """
    if override is not None:
        return Path(override)
    variable = ENVIRONMENT[kind]
    if os.environ.get(variable):
        return Path(os.environ[variable])
    if kind == "raw" and not writing and os.environ.get(NNUNET_RAW):
        if NNUNET_RAW not in _announced:
            _announced.add(NNUNET_RAW)
            print(f"{variable} is not set; reading raw datasets from {NNUNET_RAW}={os.environ[NNUNET_RAW]}", file=sys.stderr)
        return Path(os.environ[NNUNET_RAW])
    default = DEFAULT_BASE / kind
    if kind not in _announced:
        _announced.add(kind)
        print(f"{variable} is not set; using {default.resolve()} (set {variable} or pass --{kind} to choose)", file=sys.stderr)
    return default


def dataset_folder_name(dataset_id: int, name: str) -> str:
    """Returns ``DatasetXXX_Name``; raises AutosegError for an id or name that cannot form one."""
    folder = f"Dataset{dataset_id:03d}_{name}"
    if dataset_id < 0 or not _FOLDER.match(folder):
        raise AutosegError(
            f"cannot name a dataset {folder!r}: the id must be a non-negative integer and the name letters, digits, '_', '-' or '.'"
        )
    return folder


def parse_dataset_folder(name: str) -> tuple[int, str] | None:
    """Returns (id, name) for a ``DatasetXXX_Name`` folder name, else None."""
    match = _FOLDER.match(name)
    return (int(match["id"]), match["name"]) if match else None


def datasets_in(root: Path) -> dict[int, list[Path]]:
    """Returns the dataset folders in ``root`` by id."""
    found: dict[int, list[Path]] = {}
    if root.is_dir():
        for path in sorted(root.iterdir()):
            parsed = parse_dataset_folder(path.name)
            if parsed and path.is_dir():
                found.setdefault(parsed[0], []).append(path)
    return found


def find_dataset(reference: str | int, root: Path) -> Path:
    """Returns the folder a user means by ``reference``: an id (``4``, ``004``), ``Dataset004_Name`` or a path."""
    text = str(reference)
    as_path = Path(text).expanduser()
    if (as_path / "dataset.json").is_file() or (os.sep in text and as_path.is_dir()):
        return as_path
    available = datasets_in(root)
    listing = ", ".join(p.name for paths in available.values() for p in paths) or "none"
    if text.isdigit():
        matches = available.get(int(text), [])
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise AutosegError(
                f"dataset id {int(text)} is ambiguous in {root}: {', '.join(p.name for p in matches)}. Rename or remove one."
            )
        raise AutosegError(f"no dataset with id {int(text)} in {root}. Available: {listing}.")
    if (root / text).is_dir():
        return root / text
    raise AutosegError(f"dataset {text!r} not found: not a folder with a dataset.json, and not in {root}. Available there: {listing}.")


def model_folder_name(trainer: str, plans: str, configuration: str) -> str:
    """The folder of a trained configuration in a dataset's results folder: ``{trainer}__{plans}__{configuration}``
    (``plans``: the plans file's stem, ``plans`` or ``plans_resenc_m``)."""
    return f"{trainer}__{plans}__{configuration}"


def parse_model_folder_name(name: str) -> tuple[str, str, str]:
    """Returns (trainer, plans, configuration) of a model folder's name; raises AutosegError for another name."""
    parts = name.split("__")
    if len(parts) != 3 or not all(parts):
        raise AutosegError(f"{name!r} is not a model folder name (trainer__plans__configuration, as `autoseg train` writes).")
    return parts[0], parts[1], parts[2]


def trained_configurations(results: Path, trainer: str, plans: str) -> dict[str, Path]:
    """The model folders in a dataset's results folder of ``trainer`` and ``plans``, by configuration."""
    prefix = model_folder_name(trainer, plans, "")
    return {p.name[len(prefix) :]: p for p in sorted(results.glob(f"{prefix}*")) if p.is_dir()}


def plans_file_for(value: str) -> str:
    """The plans file that ``-p VALUE`` names: a file name (``plans_resenc_m.json``), its stem
    (``plans_resenc_m``) or the planner's name (``resenc_m``)."""
    name = Path(value).name
    if name.endswith(".json"):
        return name
    if name == "plans" or name.startswith("plans_"):
        return f"{name}.json"
    return f"plans_{name}.json" if name != "default" else "plans.json"

"""``autoseg export_model`` / ``install_model``: a trained model as one zip file, safe to receive.

The archive holds, under the dataset's folder name:

* ``autoseg_model.json``: what the model expects (task, input channels, file
  ending, classes / labels / targets) and what it contains;
* per model folder (``{trainer}__{plans}__{configuration}``): ``plans.json``,
  ``dataset.json`` and, per fold, ``fold_K/checkpoint_final.pt`` reduced to
  the network's weights (no optimiser state: a fraction of the size), and
  ``fold_K/training_settings.json`` (what the fold was trained with);
* when present: ``find_best_configuration.json``, ``postprocessing.json`` and
  ``inference_instructions.txt``.

Installing refuses an archive with a member outside that layout (absolute
paths, ``..``, links, unexpected names), checks that every checkpoint loads
with ``torch.load(weights_only=True)`` (tensors only: a checkpoint cannot
carry code), then moves the whole dataset folder into the results folder in
one rename, so a failed install leaves nothing behind.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import zipfile
import zlib
from pathlib import Path

import torch

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.io import atomic_write
from autoseg.paths import model_folder_name, parse_model_folder_name
from autoseg.plans import Plans
from autoseg.training.checkpoint import load_checkpoint
from autoseg.training.settings import SETTINGS_FILE

MANIFEST = "autoseg_model.json"
FORMAT_VERSION = 1
SHARED_FILES = ("find_best_configuration.json", "postprocessing.json", "inference_instructions.txt")
_DATASET = r"Dataset\d{3}_[A-Za-z0-9_\-.]+"
_MODEL = r"[A-Za-z0-9_\-.]+__[A-Za-z0-9_\-.]+__[A-Za-z0-9_\-.]+"
_SHARED = "|".join(map(re.escape, SHARED_FILES))
_MEMBER = re.compile(
    rf"^({_DATASET})/(?:{MANIFEST}|{_SHARED}|{_MODEL}/(?:plans\.json|dataset\.json|fold_(?:\d+|all)/(?:checkpoint_final\.pt|training_settings\.json)))$"
)


def _chosen_models(results: Path, configurations: list[str] | None, trainer: str, plans: str) -> list[Path]:
    """The model folders to export: the named configurations, else find_best_configuration's choice, else every trained one."""
    if configurations:
        folders = [results / model_folder_name(trainer, plans, name) for name in configurations]
    elif (results / "find_best_configuration.json").is_file():
        best = json.loads((results / "find_best_configuration.json").read_text())
        folders = [results / name for name in best["candidates"][best["best"]]["models"]]
    else:
        folders = sorted(p for p in results.glob("*__*__*") if p.is_dir())
    missing = [str(f) for f in folders if not (f / "plans.json").is_file()]
    if missing or not folders:
        raise AutosegError(f"no trained model at {', '.join(missing) or results}; train it first, or name configurations with -c.")
    return _with_previous_stages(folders)


def _with_previous_stages(folders: list[Path]) -> list[Path]:
    """``folders`` and the models a cascade among them refines (its ``previous_stage``, same trainer and plans)."""
    chosen = list(folders)
    for folder in folders:
        trainer, plans, configuration = parse_model_folder_name(folder.name)
        previous = json.loads((folder / "plans.json").read_text())["configurations"].get(configuration, {}).get("previous_stage")
        if previous is not None:
            stage = folder.parent / f"{trainer}__{plans}__{previous}"
            if not (stage / "plans.json").is_file():
                raise AutosegError(f"{folder.name} refines {stage.name}, which is not in {folder.parent}; train it before exporting.")
            if stage not in chosen:
                chosen.append(stage)
    return chosen


def export_model(
    results: Path,
    output: Path,
    *,
    configurations: list[str] | None = None,
    trainer: str = "default",
    plans: str = "plans",
    folds: list[str] | None = None,
) -> Path:
    """Writes the model(s) of the dataset results folder ``results`` to the zip ``output`` (atomically); returns it."""
    if output.suffix != ".zip":
        raise AutosegError(f"{output}: the model archive must end in .zip.")
    models = _chosen_models(results, configurations, trainer, plans)
    spec = DatasetSpec.from_json(json.loads((models[0] / "dataset.json").read_text()), str(models[0] / "dataset.json"))
    dataset = results.name
    contents: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as scratch:

        def write(archive: zipfile.ZipFile) -> None:
            for model in models:
                chosen = folds or sorted(
                    (p.name[5:] for p in model.glob("fold_*") if (p / "checkpoint_final.pt").is_file()), key=lambda f: (not f.isdigit(), f)
                )
                if not chosen:
                    raise AutosegError(f"{model} has no finished fold (fold_K/checkpoint_final.pt).")
                for name in ("plans.json", "dataset.json"):
                    archive.write(model / name, f"{dataset}/{model.name}/{name}")
                for fold in chosen:
                    source = model / f"fold_{fold}" / "checkpoint_final.pt"
                    weights = {"network": load_checkpoint(source)["network"]}
                    reduced = Path(scratch) / f"{model.name}_{fold}.pt"
                    torch.save(weights, reduced)
                    archive.write(reduced, f"{dataset}/{model.name}/fold_{fold}/checkpoint_final.pt")
                    if (model / f"fold_{fold}" / SETTINGS_FILE).is_file():  # so a shortened run is still seen as one
                        archive.write(model / f"fold_{fold}" / SETTINGS_FILE, f"{dataset}/{model.name}/fold_{fold}/{SETTINGS_FILE}")
                contents[model.name] = chosen
            for name in SHARED_FILES:
                if (results / name).is_file():
                    archive.write(results / name, f"{dataset}/{name}")
            manifest = {
                "format_version": FORMAT_VERSION,
                "dataset": dataset,
                "task": spec.task,
                "channel_names": {str(k): v for k, v in spec.channel_names.items()},
                "file_ending": spec.file_ending,
                "models": contents,
                "dataset_json": spec.to_json(),
            }
            archive.writestr(f"{dataset}/{MANIFEST}", json.dumps(manifest, indent=2) + "\n")

        output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(output, lambda tmp: _zip(tmp, write), suffix=".zip")
    return output


def _zip(path: Path, write) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        write(archive)


def check_archive(archive: zipfile.ZipFile, source: Path) -> str:
    """Returns the dataset folder name the archive installs; refuses any member outside the layout."""
    names = archive.namelist()
    datasets = set()
    for info in archive.infolist():
        name = info.filename
        is_link = (info.external_attr >> 16) & 0o170000 == 0o120000
        match = _MEMBER.match(name)
        if is_link or match is None or ".." in name.split("/"):
            raise AutosegError(
                f"{source} holds {name!r}, which is not part of an autoseg model (absolute paths, '..', links and other files "
                "are refused); "
                "get the model from its author again, exported with autoseg export_model."
            )
        datasets.add(match.group(1))
    if len(datasets) != 1 or f"{next(iter(datasets))}/{MANIFEST}" not in names:
        raise AutosegError(
            f"{source} is not an autoseg model archive (one dataset folder with {MANIFEST}); export it with autoseg export_model."
        )
    return datasets.pop()


# What one member of a model archive may hold, by kind: the JSON and text files are small; a checkpoint of the
# largest planned network (ResEnc XL, about 0.4 G parameters in float32) is under 2 GiB, so 16 GiB is generous.
MAX_MEMBER_BYTES = {".json": 64 * 2**20, ".txt": 4 * 2**20, ".pt": 16 * 2**30}
# Weights barely compress (a few percent) and JSON about tenfold; a member that inflates more is a decompression bomb.
MAX_COMPRESSION_RATIO = 100
DISK_HEADROOM = 0.9  # an archive may fill at most this share of the free space where it is unpacked
_CHUNK = 2**20


def extract_bounded(archive: zipfile.ZipFile, folder: Path, source: Path) -> None:
    """Extracts the (layout-checked) ``archive`` into ``folder``, refusing before writing anything a member larger
    than its kind allows, one that inflates more than MAX_COMPRESSION_RATIO times, or a total that would not fit
    the disk; and, while extracting, a member that inflates past the size it declares (a forged header)."""
    members = [info for info in archive.infolist() if not info.is_dir()]
    for info in members:
        limit = MAX_MEMBER_BYTES[Path(info.filename).suffix]
        if info.file_size > limit:
            raise AutosegError(
                f"{source}: {info.filename} would unpack to {info.file_size / 2**20:.0f} MB, more than a {Path(info.filename).suffix} "
                f"file of a model holds ({limit / 2**20:.0f} MB at most); nothing was installed. Get the model from its author again."
            )
        if info.file_size > _CHUNK and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise AutosegError(
                f"{source}: {info.filename} inflates {info.file_size / max(info.compress_size, 1):.0f}-fold "
                f"({info.compress_size} bytes to {info.file_size}), as no model file does (a decompression bomb?); nothing was installed."
            )
    total, free = sum(info.file_size for info in members), shutil.disk_usage(folder).free
    if total > DISK_HEADROOM * free:
        raise AutosegError(
            f"{source} unpacks to {total / 2**30:.1f} GB and {folder} has {free / 2**30:.1f} GB free; free some space first."
        )
    for info in members:
        target = folder / info.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        try:
            with archive.open(info) as member, open(target, "wb") as handle:
                while chunk := member.read(_CHUNK):
                    written += len(chunk)
                    if written > info.file_size:
                        raise AutosegError(f"{source}: {info.filename} inflates past the size it declares; nothing was installed.")
                    handle.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise AutosegError(f"{source}: {info.filename} is corrupt ({error}); nothing was installed. Get the model again.") from error


def install_model(archive_path: Path, results_root: Path, overwrite: bool = False) -> Path:
    """Installs a model archive into ``results_root``; returns the installed dataset results folder."""
    if not archive_path.is_file():
        raise AutosegError(f"{archive_path} not found.")
    try:
        archive = zipfile.ZipFile(archive_path)
    except zipfile.BadZipFile as error:
        raise AutosegError(f"{archive_path} is not a zip archive ({error}); export models with autoseg export_model.") from error
    with archive:
        dataset = check_archive(archive, archive_path)
        target = results_root / dataset
        if target.exists() and not overwrite:
            raise AutosegError(
                f"{target} already exists; pass --overwrite to replace it (its trained models are deleted), or install with "
                "--results elsewhere."
            )
        results_root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dataset}.", dir=results_root))
        try:
            extract_bounded(archive, staging, archive_path)
            manifest = json.loads((staging / dataset / MANIFEST).read_text())
            if manifest.get("format_version") != FORMAT_VERSION:
                raise AutosegError(
                    f"{archive_path} has model format {manifest.get('format_version')!r}; this autoseg reads format "
                    f"{FORMAT_VERSION}. Update autoseg."
                )
            for plans in (staging / dataset).glob("*/plans.json"):
                Plans.load(plans)  # validated: a plans file that cannot work is refused before it is installed
            for checkpoint in (staging / dataset).glob("*/fold_*/checkpoint_final.pt"):
                load_checkpoint(checkpoint)  # weights_only: refuses anything but tensors
            if target.exists():
                shutil.rmtree(target)
            (staging / dataset).rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target

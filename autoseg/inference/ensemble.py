"""Averaging the predictions of several prediction folders, one kind at a time (``autoseg ensemble`` starts in
autoseg/workflows/ensemble.py and asks the dataset's task which of these to use).

Segmentation: each folder is the output of ``autoseg predict
--save_probabilities`` (or of training with ``--npz``): per case a label file
and ``{case}.npz`` with the probabilities in the raw geometry. The ensemble
averages the probabilities case by case and writes label files on the first
folder's grid and format.

Regression: the predictions are float images in the targets' units, so the
ensemble averages the images themselves (no probabilities needed).
Classification averages its tables in autoseg/tasks/classification/cross_validation.py.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from autoseg.errors import AutosegError
from autoseg.inference.export import save_probabilities
from autoseg.io import ImageData, read_image, split_ending, write_image


def _cases(folder: Path) -> dict[str, Path]:
    """{case id: label file} of the cases in ``folder`` that have saved probabilities."""
    found = {}
    for path in sorted(folder.glob("*.npz")):
        case_id = path.name[: -len(".npz")]
        labels = [p for p in folder.glob(f"{case_id}.*") if p.suffix != ".npz" and (split_ending(p) or ("",))[0] == case_id]
        if labels:
            found[case_id] = labels[0]
    return found


def average_probability_folders(folders: list[Path], output_dir: Path, task, save_probabilities_too: bool = False) -> list[Path]:
    """Segmentation: averages each case's saved probabilities over ``folders`` and writes its label map
    (``task.label_map``) on the first folder's grid and format; returns the label files written."""
    per_folder = [_cases(folder) for folder in folders]
    if not per_folder[0]:
        raise AutosegError(f"{folders[0]} holds no saved probabilities (.npz); predict with --save_probabilities.")
    for folder, cases in zip(folders[1:], per_folder[1:]):
        if set(cases) != set(per_folder[0]):
            differing = sorted(set(cases) ^ set(per_folder[0]))
            raise AutosegError(
                f"{folder} and {folders[0]} hold different cases ({', '.join(differing[:10])}); ensemble folders predicted from "
                "the same input."
            )
    for case_id in sorted(per_folder[0]):  # every input checked before anything is written
        shapes = {read_probabilities(folder / f"{case_id}.npz").shape for folder in folders}
        if len(shapes) > 1:
            raise AutosegError(
                f"the folders' probabilities of case {case_id} have different shapes {sorted(shapes)}; they cannot be averaged."
            )
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for case_id, label_file in sorted(per_folder[0].items()):
        path = output_dir / label_file.name
        ensemble_case(
            [folder / f"{case_id}.npz" for folder in folders],
            label_file,
            task,
            path,
            output_dir / f"{case_id}.npz" if save_probabilities_too else None,
        )
        written.append(path)
    return written


def average_image_folders(folders: list[Path], output_dir: Path, task) -> list[Path]:
    """Regression: averages each case's predicted images over ``folders``; returns the files written."""
    files = task.output_files
    case_ids = task.cases_in(folders[0])
    if not case_ids:
        raise AutosegError(f"{folders[0]} holds no {task.spec.file_ending} predictions.")
    for folder in folders[1:]:
        missing = [case_id for case_id in case_ids if not all(path.is_file() for path in files(case_id, folder))]
        if missing:
            raise AutosegError(
                f"{folder} lacks predictions of {', '.join(missing[:10])} that {folders[0]} has; ensemble folders predicted "
                "from the same input."
            )
    output_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for case_id in case_ids:
        written += average_images([files(case_id, folder) for folder in folders], files(case_id, output_dir))
    return written


def average_images(members: list[list[Path]], outputs: list[Path]) -> list[Path]:
    """Writes to ``outputs[t]`` the mean of ``member[t]`` over ``members`` (one file per target each), on the
    first member's grid; refuses images of different shapes."""
    for index, output in enumerate(outputs):
        images = [read_image(files[index]) for files in members]
        shapes = {image.spatial_shape for image in images}
        if len(shapes) > 1:
            raise AutosegError(
                f"cannot average {', '.join(str(files[index]) for files in members)}: they have different shapes {sorted(shapes)}."
            )
        mean = np.mean([image.array.astype(np.float32) for image in images], axis=0, dtype=np.float32)
        write_image(ImageData(mean, images[0].geometry), output)
    return list(outputs)


def read_probabilities(path: Path) -> np.ndarray:
    """The class probabilities (K, *spatial) saved in ``path`` (``{case}.npz``, key ``probabilities``), as float32;
    AutosegError for anything else: no such array, objects or text instead of numbers, NaN or infinite values, or
    values outside [0, 1]."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "probabilities" not in archive.files:
                raise AutosegError(f"{path} holds {', '.join(archive.files) or 'nothing'}, not 'probabilities'; {_AGAIN}")
            stored = archive["probabilities"]
    except AutosegError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise AutosegError(f"{path} is not readable saved probabilities ({error}); {_AGAIN}") from error
    if not (np.issubdtype(stored.dtype, np.floating) or np.issubdtype(stored.dtype, np.integer)) or stored.ndim < 2:
        raise AutosegError(
            f"{path} holds an array of {stored.dtype} and shape {stored.shape}, not class probabilities (K, *spatial); {_AGAIN}"
        )
    probabilities = stored.astype(np.float32)
    bad = int(np.count_nonzero(~np.isfinite(probabilities)))
    if bad:
        raise AutosegError(f"{path} holds {bad} NaN or infinite probabilities; {_AGAIN}")
    if probabilities.size and (probabilities.min() < -1e-6 or probabilities.max() > 1 + 1e-6):
        low, high = probabilities.min(), probabilities.max()
        raise AutosegError(f"{path} holds values from {low:g} to {high:g}, not probabilities in [0, 1]; {_AGAIN}")
    return probabilities


_AGAIN = "predict that folder again with --save_probabilities."


def ensemble_case(probability_files: list[Path], label_file: Path, task, path: Path, probabilities_path: Path | None = None) -> np.ndarray:
    """Averages one case's saved probabilities and writes the label map to ``path`` on ``label_file``'s grid; returns it."""
    total = None
    for source in probability_files:
        probabilities = read_probabilities(source)
        if total is not None and probabilities.shape != total.shape:
            raise AutosegError(f"{source} has shape {probabilities.shape}, {probability_files[0]} has {total.shape}.")
        total = probabilities if total is None else total + probabilities
    mean = total / len(probability_files)
    labels = task.label_map(mean)
    write_image(ImageData(labels[None], read_image(label_file).geometry), path)
    if probabilities_path is not None:
        save_probabilities(mean, probabilities_path)
    return labels

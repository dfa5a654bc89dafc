"""The Python API: a trained model loaded once, predicting arrays and images in memory.

    import autoseg
    model = autoseg.load_model("Dataset004_Spine")            # or a model folder, or an exported .zip
    labels = model.predict(array, spacing=(1.0, 0.8, 0.8))    # (C, *spatial) in NumPy axis order
    labels = model.predict(sitk_image)                        # a SimpleITK image back, on the input's grid
    for result in model.predict_many(images): ...             # preprocessing overlaps the network

``predict`` preprocesses, runs the folds and mirroring, and restores the output onto the input's grid exactly
as ``autoseg predict`` does (the CLI is a thin layer over ``Model.predict_folder``): the same labels, the same
regression images (to float32 rounding), the same class probabilities. docs/python_api.md has the details.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from autoseg.device import pick_device
from autoseg.errors import AutosegError
from autoseg.inference.inputs import refuse_unusable_input
from autoseg.inference.onnx import MANIFEST, export_onnx, is_onnx_export, load_onnx_networks
from autoseg.io import Geometry, ImageData, read_image
from autoseg.io.nibabel_io import image_from_nibabel
from autoseg.io.sitk_io import image_from_sitk, image_to_sitk
from autoseg.nnunet import convert_model_folder, is_nnunet_model_folder
from autoseg.nnunet.importer import autoseg_checkpoint_name, nnunet_checkpoint_name
from autoseg.paths import data_root, find_dataset, parse_model_folder_name, trained_configurations
from autoseg.tasks.classification import ClassPrediction
from autoseg.tasks.writers import refuse_non_finite_output
from autoseg.training.checkpoint import FINAL_CHECKPOINT
from autoseg.workflows.prediction import (
    Predictor,
    TrainedModel,
    available_folds,
    load_trained_model,
    predict_folder,
    preprocess_input,
    previous_stage_channels,
    previous_stage_folder,
    stack_channels,
)

__all__ = ["ClassPrediction", "Model", "load_model"]  # ClassPrediction: the result of a classification


@dataclass
class _Input:
    """One case as the API received it: its channels on one grid, and how to hand results back."""

    image: ImageData
    kind: str  # "array", "sitk", "nibabel" or "files"
    template: Any = None  # the input image results are shaped like (SimpleITK, nibabel)


def load_model(
    source: str | Path | int,
    configuration: str | None = None,
    *,
    folds: list[str] | None = None,
    checkpoint: str = "checkpoint_final.pt",
    device: str | torch.device | None = None,
    trainer: str = "default",
    plans: str = "plans",
    results: str | Path | None = None,
    backend: str = "torch",
) -> Model:
    """Loads a trained configuration once; returns a ``Model`` to predict with.

    ``source``: a model folder (``TRAINER__PLANS__CONFIGURATION``), autoseg's or nnU-Net v2's as nnU-Net wrote
    it (converted into a temporary folder that lives as long as the model; autoseg.nnunet), a dataset in the
    results folder (id, name or path; ``configuration`` picks among its trained ones, by default the only one,
    or the single configuration find_best_configuration chose), or a ``.zip`` written by ``autoseg
    export_model`` (unpacked likewise). ``checkpoint``: nnU-Net's ``.pth`` names are taken for autoseg's
    ``.pt`` files. ``device``: default CUDA, else MPS, else CPU.
    ``backend="onnxruntime"`` runs the networks in onnxruntime (CPU): ``source`` may then also be a folder
    written by ``autoseg export_onnx``; a model folder is exported once into its ``onnx/`` subfolder.
    """
    if backend not in ("torch", "onnxruntime"):
        raise AutosegError(f"backend must be torch or onnxruntime, got {backend!r}.")
    if backend == "onnxruntime":
        device = _onnx_device(device)
    path = Path(str(source)).expanduser()
    checkpoint = autoseg_checkpoint_name(checkpoint)
    if backend == "onnxruntime" and is_onnx_export(path):
        return Model(_onnx_model(path, folds), device)
    nnunet, archive = is_nnunet_model_folder(path), path.suffix == ".zip" and path.is_file()
    # An nnU-Net folder is converted, an archive unpacked, into a temporary folder that lives as long as the model.
    temporary = Path(tempfile.mkdtemp(prefix="autoseg_model_")) if nnunet or archive else None
    try:
        if nnunet:
            folder = convert_model_folder(path, temporary, folds=folds, checkpoints=(nnunet_checkpoint_name(checkpoint),))
            _check_configuration(folder, configuration)
        elif archive:
            from autoseg.sharing import install_model

            folder = _model_folder(install_model(path, temporary), configuration, trainer, plans)
        elif (path / "plans.json").is_file() and (path / "dataset.json").is_file() and any(path.glob("fold_*")):
            folder = path
            _check_configuration(folder, configuration)
        elif path.is_dir():  # a dataset's results folder
            folder = _model_folder(path, configuration, trainer, plans)
        else:
            folder = _model_folder(find_dataset(source, data_root("results", results)), configuration, trainer, plans)
        if backend == "torch":
            device = pick_device(str(device) if device is not None else None)
        model = _load(folder, folds, checkpoint, device, backend)
    except BaseException:
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
        raise
    if temporary is not None:
        weakref.finalize(model, shutil.rmtree, temporary, True)
    return model


def _check_configuration(folder: Path, configuration: str | None) -> None:
    if configuration is not None and parse_model_folder_name(folder.name)[2] != configuration:
        raise AutosegError(f"{folder} is a model of configuration {parse_model_folder_name(folder.name)[2]}, not {configuration!r}.")


def _load(folder: Path, folds: list[str] | None, checkpoint: str, device: torch.device, backend: str) -> Model:
    """The configuration in the model folder ``folder`` and, for a cascade, the stage it refines (with the same
    folds and their final checkpoints, as `autoseg predict` takes them)."""
    if backend == "onnxruntime":
        trained = _onnx_model(_onnx_export_of(folder, checkpoint), folds)
    else:
        trained = load_trained_model(folder, folds, checkpoint=checkpoint, device=device)
    stage = trained.configuration.previous_stage
    previous = None if stage is None else _load(previous_stage_folder(folder, stage), trained.folds, FINAL_CHECKPOINT, device, backend)
    return Model(trained, device, previous)


def _onnx_model(folder: Path, folds: list[str] | None) -> TrainedModel:
    """An ONNX export as a trained model whose networks are onnxruntime sessions."""
    return TrainedModel(Path(folder), *load_onnx_networks(folder, folds))


def _onnx_device(device) -> torch.device:
    if device is not None and torch.device(device).type != "cpu":
        raise AutosegError(f"the onnxruntime backend runs on the CPU here (CPUExecutionProvider), not {device}; use the torch backend.")
    return torch.device("cpu")


def _onnx_export_of(folder: Path, checkpoint: str) -> Path:
    """The ONNX export of every trained fold of ``folder``, made once into ``folder/onnx`` (again after a fold is
    retrained)."""
    export = folder / "onnx"
    checkpoints = [folder / f"fold_{fold}" / checkpoint for fold in available_folds(folder, checkpoint)]
    manifest = export / MANIFEST
    if manifest.is_file() and all(path.stat().st_mtime <= manifest.stat().st_mtime for path in checkpoints):
        return export
    shutil.rmtree(export, ignore_errors=True)
    export_onnx(load_trained_model(folder, checkpoint=checkpoint, device="cpu"), export)
    return export


def _model_folder(dataset: Path, configuration: str | None, trainer: str, plans: str) -> Path:
    """The model folder of ``configuration`` in a dataset's results folder (see ``load_model``)."""
    models = trained_configurations(dataset, trainer, plans)
    named = f"trainer {trainer}" + ("" if plans == "plans" else f" and plans {plans}")
    if configuration is not None:
        if configuration not in models:
            raise AutosegError(f"{dataset} has no trained {configuration} for {named}; trained: {', '.join(models) or 'none'}.")
        return models[configuration]
    if len(models) == 1:
        return next(iter(models.values()))
    chosen = dataset / "find_best_configuration.json"
    if chosen.is_file():
        best = json.loads(chosen.read_text())
        members = best["candidates"][best["best"]]["models"]
        if len(members) == 1 and parse_model_folder_name(members[0])[:2] == (trainer, plans) and (dataset / members[0]).is_dir():
            return dataset / members[0]
    trained = ", ".join(models) or "none"
    raise AutosegError(f"{dataset} holds {len(models)} trained configurations for {named} ({trained}); name one with -c.")


class Model:
    """A trained configuration, loaded once: its folds' networks on one device (``load_model``); ``previous``: for
    a cascade, the model of the stage it refines, which predicts each case first."""

    def __init__(self, trained: TrainedModel, device: torch.device, previous: Model | None = None):
        self.trained, self.device, self.previous = trained, torch.device(device), previous

    @property
    def spec(self):
        return self.trained.spec

    @property
    def task(self):
        return self.trained.task

    @property
    def folds(self) -> list[str]:
        return list(self.trained.folds)

    def __repr__(self) -> str:
        return f"Model({self.trained.folder.name}, folds {', '.join(self.folds)}, {self.device})"

    # ---------------------------------------------------------------------------------------------------
    def predict(
        self,
        image,
        spacing=None,
        *,
        origin=None,
        direction=None,
        probabilities: bool = False,
        mirroring: bool = True,
        step_size: float = 0.5,
    ):
        """Predicts one case; returns it on the input's grid, as the input's type.

        ``image``: a NumPy array (C, *spatial) in autoseg's axis order (``spacing`` required, in that order;
        ``origin`` and ``direction`` optional, in patient coordinates, LPS, as SimpleITK gives them); a
        SimpleITK image or a list of one per channel; a nibabel image or list; or file paths (one per channel).
        Returns: segmentation, the label map (an array (*spatial) for arrays and files, an image like the
        input's for SimpleITK and nibabel); regression, the target image (several targets: a list);
        classification, a ``ClassPrediction``. With ``probabilities`` (segmentation), a pair (labels, class
        probabilities (K, *spatial) as an array).
        """
        case = self._input(image, spacing, origin, direction)
        data, properties = self._preprocess(case)
        output = self._output(case, data, properties, mirroring, step_size)
        return self._result(case, output, properties, probabilities)

    def predict_many(self, items: Iterable, *, probabilities: bool = False, mirroring: bool = True, step_size: float = 0.5) -> Iterator:
        """Predicts several cases in order, preprocessing the next case while the network runs on this one.
        Each item is what ``predict`` takes: an image, or a tuple (image, spacing[, origin[, direction]])."""

        def prepare(item):
            case = self._input(*(item if isinstance(item, tuple) else (item,)))
            return case, *self._preprocess(case)

        with ThreadPoolExecutor(max_workers=1) as background:
            iterator = iter(items)
            pending = _submit_next(background, prepare, iterator)
            while pending is not None:
                case, data, properties = pending.result()
                pending = _submit_next(background, prepare, iterator)
                output = self._output(case, data, properties, mirroring, step_size)
                yield self._result(case, output, properties, probabilities)

    def predict_folder(self, input_dir: Path, output_dir: Path, **options) -> list[Path]:
        """``autoseg predict``: every case of a folder, written in its input's format and geometry (see
        autoseg.workflows.prediction.predict_folder for ``options``)."""
        if options.get("previous_stage_dir") is None:
            self._require_previous_stage()
        first = self.previous.trained if self.previous is not None else None
        return predict_folder(self.trained, Path(input_dir), Path(output_dir), device=self.device, previous_stage_model=first, **options)

    # ---------------------------------------------------------------------------------------------------
    def _input(self, image, spacing=None, origin=None, direction=None) -> _Input:
        channels = image if isinstance(image, (list, tuple)) else [image]
        if not channels:
            raise AutosegError("predict got an empty list; give one image per channel.")
        first = channels[0]
        if isinstance(first, np.ndarray):
            case = _Input(_array_image(image, spacing, origin, direction), "array")
        elif _is_sitk(first):
            case = _Input(_stack([image_from_sitk(channel) for channel in channels], "the SimpleITK images"), "sitk", first)
        elif _is_nibabel(first):
            case = _Input(_stack([image_from_nibabel(channel) for channel in channels], "the nibabel images"), "nibabel", first)
        elif isinstance(first, (str, Path)):
            case = _Input(_stack([read_image(Path(path)) for path in channels], str(first)), "files")
        else:
            raise AutosegError(
                f"predict takes a NumPy array, a SimpleITK or nibabel image, or file paths (or a list of one per channel); got "
                f"{type(first).__name__}."
            )
        if case.kind != "array" and spacing is not None:
            raise AutosegError("spacing, origin and direction are for NumPy arrays; an image carries its own.")
        refuse_unusable_input(case.image, f"the {case.kind} image" if case.kind != "files" else str(first))
        needed, ndim = self.spec.num_channels, len(self.trained.configuration.spacing)
        if case.image.num_channels != needed:
            raise AutosegError(f"the image has {case.image.num_channels} channel(s); the model needs {needed} ({self._channel_names()}).")
        if case.image.array.ndim - 1 != ndim:
            raise AutosegError(
                f"the image is {case.image.array.ndim - 1}D; the model {self.trained.folder.name} was trained on {ndim}D images "
                f"(arrays are (C, *spatial): channels first)."
            )
        return case

    def _channel_names(self) -> str:
        return ", ".join(f"{index}: {name}" for index, name in self.spec.channel_names.items())

    def _require_previous_stage(self) -> None:
        stage = self.trained.configuration.previous_stage
        if stage is not None and self.previous is None:  # an ONNX export holds one stage
            raise AutosegError(
                f"{self.trained.folder.name} refines {stage} predictions, and this ONNX export holds no {stage} model: load the "
                f"model folder or its exported .zip (which carry both stages), or give the {stage} predictions to "
                "autoseg predict (--prev_stage_predictions)."
            )

    def _preprocess(self, case: _Input):
        self._require_previous_stage()
        image = case.image
        return preprocess_input(self.trained, image.array.astype(np.float32, copy=False), image.geometry, "given")

    def _output(self, case: _Input, data: np.ndarray, properties, mirroring: bool, step_size: float) -> torch.Tensor:
        """The folds' averaged output for one preprocessed case; a cascade first predicts the stage it refines (with
        the same mirroring and step size) and takes its label map as input channels."""
        if self.previous is not None:
            first = self.previous
            first_data, first_properties = first._preprocess(case)
            first_output = first._output(case, first_data, first_properties, mirroring, step_size)
            labels = first._restore(first_output, first_properties).images[0]
            data = np.concatenate([data, previous_stage_channels(self.trained, labels, properties)])
        [output] = Predictor(self.trained, self.device, step_size, mirroring).outputs([data])
        return output

    def _restore(self, output: torch.Tensor, properties, probabilities: bool = False):
        """The task's result for one case's output, on the case's raw grid (a non-finite output is an error)."""
        trained = self.trained
        refuse_non_finite_output(output, properties.case_id)
        return trained.task.restore(
            output, properties, trained.configuration, plans=trained.plans, probabilities=probabilities, device=self.device
        )

    def _result(self, case: _Input, output: torch.Tensor, properties, probabilities: bool):
        result = self._restore(output, properties, probabilities)
        return self.trained.task.api_result(result, lambda image: _like_input(image, case), probabilities=probabilities)


def _submit_next(background: ThreadPoolExecutor, prepare, iterator: Iterator):
    item = next(iterator, _END)
    return None if item is _END else background.submit(prepare, item)


_END = object()


def _array_image(image, spacing, origin, direction) -> ImageData:
    array = np.stack(image) if isinstance(image, (list, tuple)) else image
    if spacing is None:
        raise AutosegError("a NumPy array carries no geometry: pass spacing=(...) in the array's axis order (after the channel axis).")
    ndim = array.ndim - 1
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != ndim:
        raise AutosegError(f"spacing {spacing} has {len(spacing)} values; the array (C, *spatial) has {ndim} spatial axes.")
    origin = tuple(float(o) for o in origin) if origin is not None else (0.0,) * ndim
    direction = tuple(float(d) for d in np.ravel(direction)) if direction is not None else tuple(np.eye(ndim).ravel())
    return ImageData(array, Geometry(spacing, origin, direction))


def _stack(images: list[ImageData], where: str) -> ImageData:
    return stack_channels(images, [f"channel {index}" for index in range(len(images))], where)


def _like_input(array: np.ndarray, case: _Input):
    """A result array (*spatial) as the input's type, on its grid."""
    if case.kind == "sitk":
        image = image_to_sitk(ImageData(array[None], case.image.geometry))
        image.CopyInformation(case.template)
        return image
    if case.kind == "nibabel":
        import nibabel as nib

        data = np.ascontiguousarray(np.transpose(array, tuple(range(array.ndim - 1, -1, -1))))  # (z, y, x) -> (x, y, z)
        header = case.template.header.copy()
        header.set_data_dtype(data.dtype)
        return nib.Nifti1Image(data, case.template.affine, header)
    return array


def _is_sitk(value) -> bool:
    import SimpleITK as sitk

    return isinstance(value, sitk.Image)


def _is_nibabel(value) -> bool:
    return hasattr(value, "affine") and hasattr(value, "dataobj")

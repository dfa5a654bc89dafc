"""Prediction of new cases with a trained configuration: preprocess, sliding window per fold, average, export.

A trained configuration is the folder ``{trainer}__{plans}__{configuration}``
that ``autoseg train`` fills: ``plans.json`` and ``dataset.json`` (copied when
training starts) and ``fold_K/checkpoint_final.pt`` per trained fold. Folds
are ensembled by averaging their outputs (logits) before the softmax, as
nnU-Net does. Each prediction is exported (resampled back to the input's grid
and written in its format) in a background process while the next case is
predicted.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.inference.inputs import InputCase, collect_input_cases, refuse_unusable_input
from autoseg.io import ImageData, atomic_write, read_image, supported_endings
from autoseg.io.dicom_seg import DICOM_SEG
from autoseg.networks import prepare_for_inference
from autoseg.parallel import check_part
from autoseg.paths import parse_model_folder_name
from autoseg.plans import Configuration, Plans
from autoseg.preprocessing.pipeline import CaseProperties, labels_on_grid, preprocess_case
from autoseg.tasks import task_for
from autoseg.training.checkpoint import load_checkpoint
from autoseg.training.settings import model_warnings
from autoseg.workflows.prediction_record import RECORD, claim_folder, run_record


@dataclass
class TrainedModel:
    """A trained configuration's networks (one per fold) and what they were trained on."""

    folder: Path
    spec: DatasetSpec
    plans: Plans
    configuration: Configuration
    folds: list[str]
    networks: list[torch.nn.Module]

    @property
    def task(self):
        return task_for(self.spec)


def available_folds(folder: Path, checkpoint: str = "checkpoint_final.pt") -> list[str]:
    """The folds of ``folder`` holding ``checkpoint``: the numbered ones, else ``all``."""
    numbered = sorted((p.name[5:] for p in folder.glob("fold_*") if (p / checkpoint).is_file() and p.name[5:].isdigit()), key=int)
    if numbered:
        return numbered
    return ["all"] if (folder / "fold_all" / checkpoint).is_file() else []


def load_trained_model(
    folder: Path, folds: list[str] | None = None, *, checkpoint: str = "checkpoint_final.pt", device: torch.device | str = "cpu"
) -> TrainedModel:
    """Loads the networks of ``folds`` (default: every trained fold) of the configuration in ``folder``."""
    folder = Path(folder)
    for name in ("plans.json", "dataset.json"):
        if not (folder / name).is_file():
            raise AutosegError(
                f"{folder} has no {name}; is it a folder written by `autoseg train` ({{trainer}}__{{plans}}__{{configuration}})?"
            )
    spec = DatasetSpec.from_json(json.loads((folder / "dataset.json").read_text()), str(folder / "dataset.json"))
    plans = Plans.load(folder / "plans.json")
    configuration = plans.configuration(parse_model_folder_name(folder.name)[2])
    folds = folds or available_folds(folder, checkpoint)
    if not folds:
        raise AutosegError(f"{folder} holds no fold with {checkpoint}; train a fold first (autoseg train).")
    task = task_for(spec)
    in_channels = spec.num_channels + task.previous_stage_inputs(configuration)
    configuration.check_memory(
        torch.device(device), in_channels, task.out_channels(), decoder=task.has_decoder, training=False, source=str(folder / "plans.json")
    )
    networks = []
    for fold in folds:
        path = folder / f"fold_{fold}" / checkpoint
        if not path.is_file():
            trained = ", ".join(available_folds(folder, checkpoint)) or "none"
            raise AutosegError(f"{path} not found; folds trained with {checkpoint}: {trained}.")
        network = task.make_network(configuration.architecture, plans, task.previous_stage_inputs(configuration))
        network.load_state_dict(load_checkpoint(path)["network"])
        networks.append(prepare_for_inference(network, device))
    for warning in model_warnings(folder, list(folds)):
        print(f"warning: {warning}", file=sys.stderr)
    return TrainedModel(folder, spec, plans, configuration, list(folds), networks)


def stack_channels(images: list[ImageData], names: list[str], case: str) -> ImageData:
    """The channels of several images as one image; an image on another grid than the first is an error naming both."""
    first = images[0]
    for name, image in zip(names[1:], images[1:]):
        differences = (
            image.geometry.differences(first.geometry)
            if image.spatial_shape == first.spatial_shape
            else [f"shape {image.spatial_shape} vs {first.spatial_shape}"]
        )
        if differences:
            raise AutosegError(
                f"{name} lies on another grid than {names[0]} ({'; '.join(differences)}); resample the channels of {case} to one grid."
            )
    return ImageData(np.concatenate([image.array for image in images]), first.geometry)


def read_case(case: InputCase, num_channels: int) -> tuple[np.ndarray, object]:
    """Returns (channels (C, *spatial), geometry of channel 0); channels must share one grid."""
    names = [path.name for path in case.files]
    images = [refuse_unusable_input(read_image(path), str(path)) for path in case.files]
    image = stack_channels(images, names, f"case {case.case_id}")
    channels = image.array.astype(np.float32, copy=False)
    if channels.shape[0] != num_channels:
        raise AutosegError(f"case {case.case_id} has {channels.shape[0]} channels; the model needs {num_channels}.")
    return channels, image.geometry


def preprocess_input(model: TrainedModel, channels: np.ndarray, geometry, case_id: str) -> tuple[np.ndarray, CaseProperties]:
    """A raw case (C, *spatial) preprocessed as ``model`` was trained: (network input, what restores its output)."""
    data, _, record = preprocess_case(channels, geometry, None, plans=model.plans, configuration=model.configuration, target_is_label=False)
    data = model.task.prepare_input(data, model.configuration)
    return data, CaseProperties.from_record(case_id, geometry, record)


def previous_stage_folder(model_folder: Path, stage: str) -> Path:
    """The model folder of ``stage``, the stage the cascade in ``model_folder`` refines: the same trainer and plans,
    beside it."""
    trainer, plans, _ = parse_model_folder_name(model_folder.name)
    folder = model_folder.parent / f"{trainer}__{plans}__{stage}"
    if not folder.is_dir():
        raise AutosegError(
            f"{model_folder.name} refines the predictions of {folder.name}, which is not in {model_folder.parent}; "
            "train it (or give its predictions with --prev_stage_predictions)."
        )
    return folder


def previous_stage_channels(model: TrainedModel, labels: np.ndarray, properties: CaseProperties) -> np.ndarray:
    """A cascade's extra input channels for one case: the previous stage's label map (on the case's raw grid)
    brought onto the preprocessed grid and encoded as in training."""
    grid = labels_on_grid(labels, properties, model.configuration)
    return model.task.encode_previous_stage(torch.from_numpy(grid)[None, None])[0].numpy()


class Predictor:
    """Predicts preprocessed cases with every fold of a trained model, with optional mirroring; ``previous_stage``
    ({case: raw-geometry label file}): the cascade's first-stage predictions, added as input channels."""

    def __init__(
        self,
        model: TrainedModel,
        device: torch.device,
        step_size: float = 0.5,
        mirroring: bool = True,
        previous_stage: dict[str, Path] | None = None,
    ):
        if not 0 < step_size <= 1:
            raise AutosegError(f"--step_size must be in (0, 1], got {step_size}.")
        self.model, self.device, self.step_size = model, torch.device(device), step_size
        self.mirror_axes = list(model.configuration.mirror_axes) if mirroring else []
        self.previous_stage = previous_stage

    def preprocess(self, case: InputCase) -> tuple[np.ndarray, CaseProperties]:
        model = self.model
        channels, geometry = read_case(case, model.spec.num_channels)
        expected = len(model.configuration.spacing)
        if channels.ndim - 1 != expected:
            raise AutosegError(
                f"case {case.case_id} ({case.files[0].name}) is a {channels.ndim - 1}D image; the model {model.folder.name} was "
                f"trained on {expected}D images."
            )
        data, properties = preprocess_input(model, channels, geometry, case.case_id)
        if model.configuration.previous_stage is not None:
            data = np.concatenate([data, self._previous_stage_channels(case, channels.shape[1:], properties)])
        return data, properties

    def _previous_stage_channels(self, case: InputCase, shape: tuple[int, ...], properties: CaseProperties) -> np.ndarray:
        path = (self.previous_stage or {}).get(case.case_id)
        if path is None:
            raise AutosegError(f"case {case.case_id} has no {self.model.configuration.previous_stage} prediction to refine.")
        labels = read_image(path).array[0]
        if labels.shape != tuple(shape):
            raise AutosegError(f"{path} has shape {labels.shape}; case {case.case_id}'s images have {tuple(shape)}.")
        return previous_stage_channels(self.model, labels, properties)

    @torch.no_grad()
    def outputs(self, images: list[np.ndarray]) -> list[torch.Tensor]:
        """The folds' averaged outputs for preprocessed images (C, *preprocessed), as the task predicts whole
        cases (segmentation and regression: logits (K, *preprocessed), the folds sharing each tile and one
        accumulator, 2D images of one shape batched together; classification: class probabilities)."""
        model = self.model
        return model.task.predict_cases(
            model.networks, images, model.configuration, device=self.device, mirror_axes=self.mirror_axes, step_size=self.step_size
        )

    @torch.no_grad()
    def fold_outputs(self, images: list[np.ndarray]) -> list[list[torch.Tensor]]:
        """Each fold's output for each image ([image][fold]), as ``outputs`` averages them: for uncertainty,
        which needs the folds apart."""
        model = self.model
        options = dict(device=self.device, mirror_axes=self.mirror_axes, step_size=self.step_size)
        per_fold = [model.task.predict_cases([network], images, model.configuration, **options) for network in model.networks]
        return [list(outputs) for outputs in zip(*per_fold)]

    def prepared(self, cases: list[InputCase]):
        """Yields groups of (case, preprocessed data, properties) to predict together: consecutive 2D images of
        one preprocessed shape, up to the planned batch size (many small images then cost few network calls);
        anything else alone."""
        group = []
        for case in cases:
            data, properties = self.preprocess(case)
            batchable = data.ndim == 3 and self.model.configuration.slice_axis is None
            if group and (not batchable or data.shape != group[0][1].shape or len(group) >= self.model.configuration.batch_size):
                yield group
                group = []
            group.append((case, data, properties))
            if not batchable:
                yield group
                group = []
        if group:
            yield group


def predict_folder(
    model: TrainedModel,
    input_dir: Path,
    output_dir: Path,
    *,
    device: torch.device | str = "cpu",
    step_size: float = 0.5,
    mirroring: bool = True,
    save_probabilities: bool = False,
    save_uncertainty: bool = False,
    num_parts: int = 1,
    part_id: int = 0,
    continue_prediction: bool = False,
    output_format: str | None = None,
    previous_stage_dir: Path | None = None,
    previous_stage_model: TrainedModel | None = None,
) -> list[Path]:
    """Predicts every case in ``input_dir`` (or part ``part_id`` of ``num_parts``) into ``output_dir``; returns the files written.

    Each case is written as the task writes it: image files in the input's
    format and geometry (NIfTI for DICOM series), or a row of the predictions
    table (classification). ``output_format``: an image ending (".nii.gz",
    ".nrrd", ".mha", ...) for every case, or "dicom_seg" for a DICOM
    Segmentation object per case read from a DICOM series (label maps only).
    A cascade (``3d_cascade_fullres``) refines the previous stage's predictions: those in ``previous_stage_dir``
    (label files named like the cases), else the previous stage's model predicts the cases first into
    ``output_dir/{previous stage}/``: ``previous_stage_model``, or the one beside ``model``'s folder (same trainer,
    plans and folds).
    With ``continue_prediction``, cases whose output (and probabilities, if
    asked) already exist are skipped. Outputs are written atomically, so a
    killed run leaves only whole files. ``save_uncertainty`` predicts each fold
    apart and writes the task's uncertainty maps and scores beside the
    predictions (see autoseg/tasks/writers.py).
    """
    check_part(num_parts, part_id)
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    if input_dir.resolve() == output_dir.resolve():
        raise AutosegError(
            f"the output folder is the input folder ({input_dir}); predictions would mix with the images. Choose another -o."
        )
    if save_uncertainty and not model.task.uncertainty_folds:
        raise AutosegError(f"--save_uncertainty: a {model.task.name} model writes no uncertainty maps; leave it out.")
    if save_uncertainty and len(model.folds) < model.task.uncertainty_folds:
        raise AutosegError(
            f"--save_uncertainty for {model.task.name} measures the spread across folds: it needs {model.task.uncertainty_folds} or "
            f"more folds, and {model.folder.name} is predicted with {len(model.folds)} ({', '.join(model.folds)})."
        )
    cases = collect_input_cases(input_dir, model.spec.num_channels)[part_id::num_parts]
    model.task.check_output_format(output_format, cases)
    if output_format is not None and output_format != DICOM_SEG:
        cases = [replace(case, ending=output_format) for case in cases]
    output_dir.mkdir(parents=True, exist_ok=True)
    if model.configuration.previous_stage is None:
        previous_source = None
    elif previous_stage_dir is not None:
        previous_source = str(Path(previous_stage_dir).resolve())
    else:
        previous_source = f"predicted into {model.configuration.previous_stage}/"
    run = dict(step_size=step_size, mirroring=mirroring, output_format=output_format, previous_stage=previous_source)
    _claim(output_dir, model, input_dir, run, continue_prediction)
    part = f"part{part_id}of{num_parts}" if num_parts > 1 else ""
    writer = model.task.case_writer(
        output_dir,
        plans=model.plans,
        configuration=model.configuration,
        save_probabilities=save_probabilities,
        save_uncertainty=save_uncertainty,
        part=part,
        resume=continue_prediction,
        output_format=output_format,
    )
    if continue_prediction:
        cases = [case for case in cases if not writer.done(case.case_id, case.ending)]
    previous = None
    if model.configuration.previous_stage is not None:
        first_stage = dict(
            device=device,
            step_size=step_size,
            mirroring=mirroring,
            num_parts=num_parts,
            part_id=part_id,
            continue_prediction=continue_prediction,
            output_format=None if output_format == DICOM_SEG else output_format,  # label files, read back below
        )
        previous = _previous_stage(
            model, input_dir, output_dir, cases=cases, folder=previous_stage_dir, first=previous_stage_model, options=first_stage
        )
    predictor = Predictor(model, device, step_size, mirroring, previous)
    written = []
    progress = tqdm(total=len(cases), desc="predicting", unit="case", disable=not cases)
    with ThreadPoolExecutor(max_workers=1) as exporter, progress:
        pending: Future | None = None
        for group in predictor.prepared(cases):
            images = [data for _, data, _ in group]
            if save_uncertainty:
                folds = predictor.fold_outputs(images)
                outputs = [torch.stack(fold).mean(0) for fold in folds]
            else:
                folds, outputs = [None] * len(images), predictor.outputs(images)
            if pending is not None:  # at most one group exporting while the next is predicted: bounded memory
                written += pending.result()
            work = [(case, output, properties, fold) for output, (case, _, properties), fold in zip(outputs, group, folds)]
            del group
            pending = exporter.submit(_write_all, writer, work, predictor.device)
            progress.update(len(work))
        if pending is not None:
            written += pending.result()
    return written + writer.close()


def _previous_stage(model, input_dir, output_dir, *, cases, folder, first: TrainedModel | None, options: dict) -> dict[str, Path]:
    """{case: its previous-stage label file}: from ``folder`` (named like the case, in the case's output format or
    any other image format), else predicted now by the previous stage's model (``first``, or loaded from beside
    ``model``) with ``options`` (predict_folder's: the same part of the cases, resumed likewise, label files in the
    format of the final predictions)."""
    stage = model.configuration.previous_stage
    if folder is None:
        if first is None:
            first = load_trained_model(previous_stage_folder(model.folder, stage), model.folds, device=options["device"])
        folder = Path(output_dir) / stage
        print(f"predicting the previous stage ({stage}) into {folder}")
        predict_folder(first, input_dir, folder, **options)
    found = {case.case_id: _label_file(Path(folder), case) for case in cases}
    missing = sorted(case_id for case_id, path in found.items() if path is None)
    if missing:
        raise AutosegError(
            f"{folder} has no {stage} prediction for {', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}; it needs one label "
            "file per case, named like the case."
        )
    return found


def _label_file(folder: Path, case: InputCase) -> Path | None:
    """``folder``'s label file for ``case``: named like the case, with the case's output ending, else another one."""
    names = [f"{case.case_id}{case.ending}", *(f"{case.case_id}{ending}" for ending in sorted(supported_endings()))]
    return next((folder / name for name in names if (folder / name).is_file()), None)


def _write_all(writer, work: list, device: torch.device) -> list[Path]:
    written = []
    for case, output, properties, folds in work:
        extra = {"fold_outputs": folds} if folds is not None else {}
        if case.dicom_series is not None:
            extra["source"] = case.dicom_series
        written += writer.write(case.case_id, output, properties, ending=case.ending, device=device, **extra)
    return written


def _claim(output_dir: Path, model: TrainedModel, input_dir: Path, options: dict, continuing: bool) -> None:
    """Records the run in prediction.json (refusing a folder holding another run's outputs: prediction_record.py),
    and writes the dataset.json the evaluation needs."""
    holds_outputs = any(not p.name.startswith(".") and p.name not in (RECORD, "dataset.json") for p in output_dir.iterdir())
    claim_folder(output_dir, run_record(model, input_dir=input_dir, **options), holds_outputs=holds_outputs, continuing=continuing)
    atomic_write(output_dir / "dataset.json", lambda tmp: tmp.write_text(json.dumps(model.spec.to_json(), indent=2) + "\n"))

"""The task interface and its registry: one object, bound to its dataset, answers every kind question."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from autoseg.data.device_augmentation import Probabilities
from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.evaluation import summarise
from autoseg.inference.sliding_window import predict_configuration, sliding_window_predict
from autoseg.losses import DeepSupervisionLoss, get_loss
from autoseg.networks import network_for
from autoseg.registry import Registry
from autoseg.selection import ensemble_image_candidates, ensemble_images_case, merge_image_folds
from autoseg.tasks.writers import ImageWriter, check_image_output_format


@dataclass
class CaseResult:
    """One case's prediction on its raw grid: ``images`` (a label map, or one float image per regression target,
    each (*spatial); none for classification), ``probabilities`` (segmentation, when asked: (K, *spatial);
    classification: (K,)) and ``label`` (classification: the predicted class's name)."""

    images: list[np.ndarray] = field(default_factory=list)
    probabilities: np.ndarray | None = None
    label: str | None = None


class Task:
    """What varies between task kinds, bound to one dataset (``task_for(spec)``). Subclasses override what
    differs; code outside autoseg/tasks asks the task and never branches on its kind.

    * the network: ``out_channels()``, ``make_network``, ``has_decoder`` (a
      U-Net predicting an image, or an encoder with a head predicting one
      vector per case), ``configurations(ndim)`` (what a planner plans),
      ``previous_stage_inputs`` / ``encode_previous_stage`` (the cascade's
      first-stage prediction as input channels; segmentation only);
    * targets: ``target_resampling`` (``label``: integer maps resampled as
      labels, ``target_is_label``; ``linear``: float images; None: one class
      per case, no image), ``fingerprint_target``, ``plan_target_normalisation``,
      ``plan_input_skips``, ``plan_class_weights``, ``prepare_input``,
      ``sampling_locations``, ``batch_classes``;
    * training: ``make_loss``, ``prepare_targets`` (one target per
      deep-supervision output), ``augmentation_place`` and
      ``augmentation_probabilities`` (where and how batches are augmented),
      ``augment``, ``validation_outputs``, ``validation_counts`` /
      ``validation_scores`` (the per-epoch pseudo metric, whose mean picks the
      best checkpoint);
    * outputs: ``output_files`` / ``cases_in``, ``restore``, ``api_result`` (what
      the Python API returns), ``check_output_format``, ``case_writer``,
      ``describe_written``, ``uncertainty_maps``;
    * evaluation and selection: ``case_metrics``, ``baseline_metrics``,
      ``evaluate_folder``, ``summary_text`` (what ``autoseg evaluate`` prints),
      ``held_out_text`` (the demo's table), ``selection_metric`` /
      ``selection_score`` / ``baseline_score`` (what find_best_configuration
      maximises over the cross-validation), the cross-validation merges and
      ensembles;
    * the QC report: ``report_view`` (the kind's table columns, rows and figures,
      in autoseg/tasks/<kind>/report.py).
    """

    name = ""
    has_decoder = True
    uses_label_geometry = False  # label centroids constrain mirroring
    selection_metric = ""  # summary key whose foreground mean find_best_configuration maximises
    target_resampling: str | None = "label"
    locations_per_class = 10_000
    default_loss = ""  # the registered loss (autoseg.losses) a trainer that names none trains with

    def __init__(self, spec: DatasetSpec):
        self.spec = spec

    @property
    def target_is_label(self) -> bool:
        """Whether the targets are integer maps, resampled, augmented and stored as label maps."""
        return self.target_resampling == "label"

    def out_channels(self) -> int:
        raise NotImplementedError

    def configurations(self, ndim: int) -> list[str]:
        """The configurations a planner plans for ``ndim``-dimensional data: 2d for 2D data; for 3D data
        3d_fullres, 2d slices of it, and 3d_lowres where the images are large."""
        return ["2d"] if ndim == 2 else ["3d_fullres", "2d", "3d_lowres"]

    def plan_target_normalisation(self, fingerprint) -> dict:
        return {}

    def plan_input_skips(self, normalisation: dict, target_normalisation: dict) -> dict:
        """{target index: InputSkip}: targets predicted as corrections of an input channel (regression)."""
        return {}

    def plan_class_weights(self, fingerprint) -> dict[str, float]:
        """{class name: cross-entropy weight} (classification)."""
        return {}

    def fingerprint_target(self, record, target, mask, box, rng: np.random.Generator):
        """Adds what the fingerprint needs of a case's target to ``record``; returns
        (the foreground mask for intensity statistics, sampled target values per target channel)."""
        return mask, []

    def prepare_input(self, data: np.ndarray, configuration) -> np.ndarray:
        return data

    def fixed_input_size(self, configuration) -> list[int] | None:
        """The size every preprocessed case is fitted to (``prepare_input``), or None where cases keep their own."""
        return None

    def prepare_target(self, target: np.ndarray) -> np.ndarray:
        """A preprocessed target as it is stored (label maps as the smallest integer type that holds them)."""
        return target

    def sampling_locations(self, target: np.ndarray | None, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {}

    def batch_classes(self, data_folder: Path, case_ids) -> tuple[int, ...] | None:
        """Each case's class index, where batches carry one class per case (classification); else None."""
        return None

    def make_network(self, architecture, plans=None, extra_inputs: int = 0):
        """The network for ``architecture`` (any registered network); with ``plans``, also the input skips they
        plan (regression); ``extra_inputs``: input channels beyond the images (the cascade's previous stage)."""
        skips = {
            int(target): (skip.input_channel, skip.scale, skip.shift)
            for target, skip in (plans.input_skips if plans is not None else {}).items()
        }
        return network_for(architecture).build(self.spec.num_channels + extra_inputs, self.out_channels(), architecture, skips)

    def previous_stage_inputs(self, configuration) -> int:
        """How many input channels a configuration's previous stage adds (``previous_stage``: the cascade)."""
        if configuration.previous_stage is None:
            return 0
        raise AutosegError(f"configuration {configuration.name!r} refines a previous stage, which {self.name} models do not do.")

    def encode_previous_stage(self, labels: torch.Tensor) -> torch.Tensor:
        """A previous stage's label maps (N, 1, *spatial) as input channels (N, K, *spatial)."""
        raise AutosegError(f"{self.name} models have no previous stage.")

    def make_loss(self, num_outputs: int, name: str = "", plans=None):
        """The training loss over ``num_outputs`` deep-supervision outputs (one for a per-case output): the
        registered loss ``name`` ("" = ``default_loss``), built for this task kind; ``plans``: what the loss
        may need of them (class weights)."""
        loss = get_loss(name or self.default_loss).build(self.name, self.spec, plans)
        return DeepSupervisionLoss(loss, num_outputs if self.has_decoder else 1)

    def prepare_targets(self, target, scales: list[list[int]]) -> list:
        raise NotImplementedError

    def augmentation_place(self, choice: str, device: torch.device) -> str:
        """Where training batches are augmented, ``cpu`` (batchgenerators workers) or ``device`` (batched on the
        training device), for the trainer's ``augmentation`` setting ``choice`` (auto, cpu or device): auto picks
        the device on a GPU."""
        return "device" if choice == "device" or (choice == "auto" and device.type == "cuda") else "cpu"

    def augmentation_probabilities(self):
        """The probabilities of the device augmenter's transforms (autoseg.data.device_augmentation)."""
        return Probabilities()

    def augment(self, augmenter, data, target, generator):
        """(data, target) of a batch augmented on the device: images and target maps transformed together."""
        return augmenter(data, target, generator)

    def validation_outputs(self, network, data) -> list:
        """The network's outputs for the per-epoch validation, as the loss takes them (a list, highest
        resolution first). A U-Net stays in training mode: instance norm keeps no running statistics and
        there is no dropout, so it computes the same function, and training mode returns the
        deep-supervision outputs the loss needs."""
        return network(data)

    def validation_counts(self, output, target) -> dict:
        raise NotImplementedError

    def validation_scores(self, counts: dict) -> dict[str, float]:
        raise NotImplementedError

    def output_files(self, case_id: str, folder: Path, ending: str | None = None) -> list[Path]:
        """The files a case's whole-image prediction is written to (``ending``: the dataset's by default)."""
        return [folder / f"{case_id}{ending or self.spec.file_ending}"]

    def cases_in(self, folder: Path, ending: str | None = None) -> list[str]:
        """The case ids whose output files ``folder`` holds (the inverse of ``output_files``; ``ending``: the
        dataset's by default); hidden files, such as an interrupted write's temporary, are not cases."""
        ending = ending or self.spec.file_ending
        return sorted(p.name[: -len(ending)] for p in folder.glob(f"*{ending}") if not p.name.startswith("."))

    def restore(self, output, properties, configuration, *, plans, probabilities: bool = False, device=None) -> CaseResult:
        """A case's predicted output (what ``predict_cases`` returns) on the raw grid and in the raw units: what the
        Python API returns, and what the case writer writes."""
        raise NotImplementedError

    def api_result(self, result: CaseResult, like_input, *, probabilities: bool = False):
        """What the Python API's ``Model.predict`` returns for a case (docs/python_api.md): the result's images, each
        as ``like_input`` makes it (the input's type, on its grid): one, or a list for several targets; with
        ``probabilities``, paired with the class probabilities."""
        images = [like_input(image) for image in result.images]
        restored = images[0] if len(images) == 1 else images
        return (restored, result.probabilities) if probabilities else restored

    def check_output_format(self, output_format: str | None, cases: list) -> None:
        """Refuses, before anything is predicted, an ``output_format`` (``--output_format``) this kind or the
        input ``cases`` cannot give (see autoseg/tasks/writers.py)."""
        check_image_output_format(self, output_format, cases)

    def describe_written(self, written: list[Path], folder: Path) -> str:
        """The line ``autoseg predict`` closes with: what it wrote."""
        return f"wrote {len(written)} predictions to {folder}"

    uncertainty_folds = 1  # the folds the uncertainty maps need (a spread across folds needs two)

    def uncertainty_maps(self, fold_outputs: list, properties, configuration, plans, *, device=None) -> dict[str, list[np.ndarray]]:
        """{map name: one raw-grid image per output file} from each fold's output of a case (``--save_uncertainty``)."""
        raise AutosegError(f"{self.name} has no uncertainty maps.")

    def uncertainty_scores(self, maps: dict[str, list[np.ndarray]], result: CaseResult) -> dict[str, float]:
        """One score per structure (or target) of a case, to rank cases for review (``uncertainty.csv``)."""
        raise NotImplementedError

    def case_metrics(self, predicted: list[Path], reference: list[Path], *, check_geometry: bool = True) -> dict[str, dict[str, float]]:
        """Scores one case's prediction files against its reference files: {structure or target: {metric: value}};
        files on another grid than their reference are refused unless ``check_geometry`` is False."""
        raise NotImplementedError

    def baseline_metrics(
        self, baseline: list[Path | None], reference: list[Path], *, check_geometry: bool = True
    ) -> dict[str, dict[str, float]]:
        """Scores a case's baseline inputs like ``case_metrics`` (regression: the input the model improves on)."""
        raise NotImplementedError

    # whole cases: prediction, where it is written, how it is scored ------------------------------
    def predict_cases(self, networks, images: list[np.ndarray], configuration, *, device, mirror_axes, step_size: float = 0.5) -> list:
        """The ``networks``' averaged outputs (in evaluation mode) for preprocessed images, each (C, *spatial):
        logits (K, *spatial) on each image's grid, by sliding window with mirroring along ``mirror_axes``;
        several 2D images of one shape share tile batches."""
        options = dict(step_size=step_size, mirror_axes=mirror_axes, device=device)
        if len(images) == 1:
            image = torch.from_numpy(np.ascontiguousarray(images[0]))
            return [predict_configuration(networks, image, configuration, self.out_channels(), **options)]
        stacked = torch.from_numpy(np.stack(images, axis=1))
        patch, batch = configuration.patch_size, configuration.batch_size
        return list(
            sliding_window_predict(
                networks, stacked, patch, out_channels=self.out_channels(), tile_batch_size=batch, stacked=True, **options
            ).unbind(1)
        )

    def case_writer(
        self,
        folder: Path,
        *,
        plans,
        configuration,
        save_probabilities: bool = False,
        save_uncertainty: bool = False,
        part: str = "",
        resume: bool = False,
        output_format: str | None = None,
    ):
        """Where predicted cases go: one file per case (per target) in ``folder``, in the raw geometry and
        format (see autoseg/tasks/writers.py); ``part`` concerns tables of per-case outputs only;
        ``output_format`` "dicom_seg": label maps as DICOM Segmentation objects."""
        return ImageWriter(
            self,
            folder,
            plans=plans,
            configuration=configuration,
            save_probabilities=save_probabilities,
            save_uncertainty=save_uncertainty,
            resume=resume,
            output_format=output_format,
        )

    def prepare_output_folder(self, folder: Path) -> None:
        """Clears what an earlier validation left in ``folder`` that this one would read with its own."""

    def validation_summary(self, folder: Path, fold) -> dict | None:
        """Scores the validation cases of ``fold`` (a FoldSetup) predicted into ``folder`` against the raw
        references; None without references."""
        if fold.reference_folder is None:
            return None
        references = fold.reference_folder
        per_case = {
            case_id: self.case_metrics(self.output_files(case_id, folder), self.output_files(case_id, references))
            for case_id in fold.validation_ids
        }
        return summarise(per_case)

    def summary_text(self, summary: dict) -> str:
        """What ``autoseg evaluate`` prints of a summary this kind's ``evaluate_folder`` returned: the metrics'
        table and their units."""
        raise NotImplementedError

    def report_view(self, source) -> tuple[list, list, list, list]:
        """This kind's part of the QC report of a prediction folder (``source``: autoseg/workflows/report.py's Source):
        (notes, table columns, one row per case, sections of figures)."""
        raise NotImplementedError

    def held_out_text(self, validation: dict, test: dict, training_cases: list) -> str:
        """``autoseg demo``'s closing table: the fold-0 validation's and the held-out test cases' scores side by side,
        beside the kind's baseline (regression: the input; classification: always the majority training class)."""
        raise NotImplementedError

    def describe(self, summary: dict) -> str:
        """One line of a validation summary's scores (and its baseline's)."""
        metric = self.selection_metric
        line = f"{metric} " + ", ".join(f"{name} {values[metric]:.4f}" for name, values in summary["mean"].items())
        if "baseline" in summary:
            line += " (input: " + ", ".join(f"{name} {values[metric]:.4f}" for name, values in summary["baseline"]["mean"].items()) + ")"
        return f"{len(summary['cases'])} cases (whole images, raw geometry): {line}"

    def evaluate_folder(
        self,
        reference_dir: Path,
        prediction_dir: Path,
        *,
        num_processes: int | None = None,
        baseline_dir=None,
        baseline_channel=None,
        check_geometry: bool = True,
        nsd_tolerance=None,
    ) -> dict:
        """The summary of a folder of predictions scored against the references (autoseg evaluate);
        ``baseline_dir``: regression's inputs, scored beside the predictions; ``check_geometry``: refuse a
        prediction on another grid than its reference (False: compare the stored arrays voxel by voxel);
        ``nsd_tolerance``: the surface Dice tolerance (mm) of label maps (kinds without them refuse one)."""
        raise NotImplementedError

    # configuration selection on the cross-validation (autoseg.selection) ----------------------------
    def merge_cross_validation(self, model: Path, folds: list[str]):
        """The folds' out-of-fold predictions of ``model`` merged into one candidate (one folder, one summary)."""
        return merge_image_folds(model, folds, self)

    def selection_score(self, summary: dict) -> float:
        """What find_best_configuration maximises of a candidate's cross-validation summary: the foreground mean
        of ``selection_metric``."""
        return summary["foreground_mean"][self.selection_metric]

    def baseline_score(self, summary: dict) -> float | None:
        """The same score of the baseline inputs scored beside the predictions (regression), else None."""
        return summary.get("baseline", {}).get("foreground_mean", {}).get(self.selection_metric)

    def ensemble_members(self, candidates: list, say=print) -> list:
        """The candidates that can be ensembled with each other."""
        return list(candidates)

    def ensemble_cross_validation(self, first, second, folder: Path, references: Path, num_processes: int | None = None):
        """The pair ensemble of two candidates' out-of-fold predictions, written to ``folder`` and scored:
        the predicted images averaged."""
        case_of = partial(ensemble_images_case, task=self)
        return ensemble_image_candidates(
            first, second, folder, references=references, num_processes=num_processes, ensemble_case_of=case_of
        )

    def choose_postprocessing(self, best, references: Path, num_processes: int | None = None):
        """(postprocessing, report) chosen on the best candidate's out-of-fold predictions, or None where
        predictions are used as they are."""
        return None

    def ensemble_folders(self, folders: list[Path], output_dir: Path, save_probabilities: bool = False) -> list[Path]:
        """Averages the predictions of several prediction folders case by case into ``output_dir``; returns the
        files written (autoseg ensemble)."""
        raise NotImplementedError

    def _sample(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Returns up to ``locations_per_class`` coordinates (N, ndim) of ``mask``'s True voxels."""
        coordinates = np.argwhere(mask)
        if len(coordinates) > self.locations_per_class:
            coordinates = coordinates[np.sort(rng.choice(len(coordinates), self.locations_per_class, replace=False))]
        return coordinates.astype(np.int32)


TASKS: Registry[type[Task]] = Registry("task")


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: registers a task kind under ``cls.name``, the value of ``task`` in dataset.json."""
    TASKS.add(cls.name, cls)
    return cls


def get_task(name: str) -> type[Task]:
    return TASKS.get(name)


def task_for(spec: DatasetSpec) -> Task:
    """The task of ``spec``'s kind, bound to it."""
    return get_task(spec.task)(spec)


def task_names() -> list[str]:
    return TASKS.names()

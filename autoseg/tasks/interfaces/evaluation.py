"""How a task kind scores predictions (``autoseg evaluate``, the per-fold validation, the demo's table) and what
find_best_configuration maximises over the cross-validation."""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import partial
from pathlib import Path

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.selection import ensemble_image_candidates, ensemble_images_case, merge_image_folds

# The scoring options a kind may take beyond those every kind takes, and the ``autoseg evaluate`` flag of each.
OPTION_FLAGS = {"baseline_dir": "--baseline", "baseline_channel": "--baseline_channel", "nsd_tolerance": "--nsd_tolerance"}


class Evaluation(ABC):
    """Scoring and selection: ``evaluate_folder`` (with the options ``evaluation_options``
    names), ``validation_summary``, ``summary_text`` (what ``autoseg evaluate`` prints), ``describe``,
    ``selection_metric`` / ``selection_score`` / ``baseline_score`` (what find_best_configuration maximises),
    the cross-validation merges and ensembles (``merge_cross_validation``, ``ensemble_members``,
    ``ensemble_cross_validation``, ``choose_postprocessing``) and ``ensemble_folders`` (autoseg ensemble)."""

    name: str
    spec: DatasetSpec
    selection_metric = ""  # summary key whose foreground mean find_best_configuration maximises
    evaluation_options: tuple[str, ...] = ()  # keywords of OPTION_FLAGS that ``score_folder`` takes

    def evaluate_folder(
        self, reference_dir: Path, prediction_dir: Path, *, num_processes: int | None = None, check_geometry: bool = True, **options
    ) -> dict:
        """The summary of a folder of predictions scored against the references (autoseg evaluate):
        ``check_geometry`` refuses a prediction on another grid than its reference (False: compare the stored
        arrays voxel by voxel); ``options`` (those not None) are the kind's own (``evaluation_options``), and any
        other is refused naming its flag."""
        given = {key: value for key, value in options.items() if value is not None}
        foreign = [key for key in given if key not in self.evaluation_options]
        if foreign:
            flags = ", ".join(OPTION_FLAGS.get(key, key) for key in foreign)
            takes = ", ".join(OPTION_FLAGS.get(key, key) for key in self.evaluation_options) or "no options of its own"
            verb = "does" if len(foreign) == 1 else "do"
            raise AutosegError(f"{flags} {verb} not apply to a {self.name} dataset; scoring {self.name} predictions takes {takes}.")
        return self.score_folder(reference_dir, prediction_dir, num_processes=num_processes, check_geometry=check_geometry, **given)

    @abstractmethod
    def score_folder(
        self, reference_dir: Path, prediction_dir: Path, *, num_processes: int | None, check_geometry: bool, **options
    ) -> dict:
        """``evaluate_folder``'s work, given only the kind's own options."""

    @abstractmethod
    def validation_summary(self, folder: Path, fold) -> dict | None:
        """Scores the validation cases of ``fold`` (a FoldSetup) predicted into ``folder`` against the raw
        references; None without references."""

    @abstractmethod
    def summary_text(self, summary: dict) -> str:
        """What ``autoseg evaluate`` prints of a summary this kind's ``evaluate_folder`` returned: the metrics'
        table and their units."""

    @abstractmethod
    def held_out_text(self, validation: dict, test: dict, training_cases: list) -> str:
        """``autoseg demo``'s closing table: the fold-0 validation's and the held-out test cases' scores side by side,
        beside the kind's baseline (regression: the input; classification: always the majority training class)."""

    def describe(self, summary: dict) -> str:
        """One line of a validation summary's scores (and its baseline's)."""
        metric = self.selection_metric
        line = f"{metric} " + ", ".join(f"{name} {values[metric]:.4f}" for name, values in summary["mean"].items())
        if "baseline" in summary:
            line += " (input: " + ", ".join(f"{name} {values[metric]:.4f}" for name, values in summary["baseline"]["mean"].items()) + ")"
        return f"{len(summary['cases'])} cases (whole images, raw geometry): {line}"

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

    @abstractmethod
    def ensemble_folders(self, folders: list[Path], output_dir: Path, save_probabilities: bool = False) -> list[Path]:
        """Averages the predictions of several prediction folders case by case into ``output_dir``; returns the
        files written (autoseg ensemble)."""

"""What some task kinds add to the interfaces every kind implements: image outputs scored case by case, the cascade
and uncertainty maps."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch

from autoseg.evaluation import summarise


class Cascade(ABC):
    """A kind whose configurations may refine a previous stage's prediction (3d_cascade_fullres after 3d_lowres):
    the previous stage's predicted maps become input channels."""

    @abstractmethod
    def previous_stage_inputs(self, configuration) -> int:
        """How many input channels ``configuration``'s previous stage adds (0 without one)."""

    @abstractmethod
    def encode_previous_stage(self, labels: torch.Tensor) -> torch.Tensor:
        """A previous stage's predicted maps (N, 1, *spatial) as input channels (N, K, *spatial), float."""


class UncertaintyMaps(ABC):
    """A kind writing image uncertainty maps beside its image outputs (``--save_uncertainty``), and one score per
    structure or target of each case to rank cases for review (``uncertainty.csv``)."""

    uncertainty_folds = 1  # the folds the maps need (a spread across folds needs two)

    @abstractmethod
    def uncertainty_maps(self, fold_outputs: list, properties, configuration, plans, *, device=None) -> dict[str, list[np.ndarray]]:
        """{map name: one raw-grid image per output file} from each fold's output of a case."""

    @abstractmethod
    def uncertainty_scores(self, maps: dict[str, list[np.ndarray]], result) -> dict[str, float]:
        """One score per structure (or target) of a case (``result``: its CaseResult)."""


class ImageScores(ABC):
    """A kind whose predictions are image files scored case by case against reference files of the same names
    (segmentation, regression): the validation, the cross-validation's ensembles and ``autoseg evaluate`` score
    each case's ``output_files`` through ``case_metrics``."""

    @abstractmethod
    def case_metrics(self, predicted: list[Path], reference: list[Path], *, check_geometry: bool = True) -> dict[str, dict[str, float]]:
        """Scores one case's prediction files against its reference files: {structure or target: {metric: value}};
        files on another grid than their reference are refused unless ``check_geometry`` is False."""

    def validation_summary(self, folder: Path, fold) -> dict | None:
        """Scores the validation cases of ``fold`` (a FoldSetup) predicted into ``folder`` against the raw
        references, case by case; None without references."""
        if fold.reference_folder is None:
            return None
        references = fold.reference_folder
        per_case = {
            case_id: self.case_metrics(self.output_files(case_id, folder), self.output_files(case_id, references))
            for case_id in fold.validation_ids
        }
        return summarise(per_case)

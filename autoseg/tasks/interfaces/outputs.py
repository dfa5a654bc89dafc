"""What a task kind predicts for a whole case, how it returns to the raw grid and units, and where it is written."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from autoseg.dataset import DatasetSpec
from autoseg.inference.sliding_window import predict_configuration, sliding_window_predict
from autoseg.tasks.writers import ImageWriter, check_image_output_format


@dataclass
class CaseResult:
    """One case's prediction on its raw grid: ``images`` (a label map, or one image per output file, each
    (*spatial); none for classification), ``probabilities`` (segmentation, when asked: (K, *spatial);
    classification: (K,)) and ``label`` (classification: the predicted class's name)."""

    images: list[np.ndarray] = field(default_factory=list)
    probabilities: np.ndarray | None = None
    label: str | None = None


def channel_files(case_id: str, folder: Path, ending: str, count: int) -> list[Path]:
    """One file per output channel, named as labelsTr names several references per case: ``{case}{ending}`` for
    one, else ``{case}_{XXXX}{ending}``."""
    return [folder / f"{case_id}{ending}"] if count == 1 else [folder / f"{case_id}_{index:04d}{ending}" for index in range(count)]


def channel_cases(names: list[str], count: int) -> list[str]:
    """The case ids of ``channel_files`` names (without ending): for several channels, those of a first channel."""
    return names if count == 1 else [name[: -len("_0000")] for name in names if name.endswith("_0000")]


class Outputs(ABC):
    """Whole-case prediction and its outputs: ``predict_cases``, ``restore``, ``api_result`` (what the Python API
    returns), ``output_files`` / ``cases_in``, ``check_output_format``, ``case_writer``, ``describe_written``,
    ``prepare_output_folder``, ``uncertainty_folds`` (0: no ``--save_uncertainty``)."""

    name: str
    spec: DatasetSpec
    uncertainty_folds = 0  # the folds --save_uncertainty needs; 0: this kind writes no uncertainty

    @abstractmethod
    def out_channels(self) -> int: ...

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
                networks,
                stacked,
                patch,
                out_channels=self.out_channels(),
                tile_batch_size=batch,
                stacked=True,
                nnunet_weights=configuration.nnunet_inference,
                **options,
            ).unbind(1)
        )

    @abstractmethod
    def restore(self, output, properties, configuration, *, plans, probabilities: bool = False, device=None) -> CaseResult:
        """A case's predicted output (what ``predict_cases`` returns) on the raw grid and in the raw units: what the
        Python API returns, and what the case writer writes."""

    def api_result(self, result: CaseResult, like_input, *, probabilities: bool = False):
        """What the Python API's ``Model.predict`` returns for a case (docs/python_api.md): the result's images, each
        as ``like_input`` makes it (the input's type, on its grid): one, or a list for several; with
        ``probabilities``, paired with the class probabilities."""
        images = [like_input(image) for image in result.images]
        restored = images[0] if len(images) == 1 else images
        return (restored, result.probabilities) if probabilities else restored

    def output_files(self, case_id: str, folder: Path, ending: str | None = None) -> list[Path]:
        """The files a case's whole-image prediction is written to (``ending``: the dataset's by default)."""
        return [folder / f"{case_id}{ending or self.spec.file_ending}"]

    def cases_in(self, folder: Path, ending: str | None = None) -> list[str]:
        """The case ids whose output files ``folder`` holds (the inverse of ``output_files``; ``ending``: the
        dataset's by default); hidden files, such as an interrupted write's temporary, are not cases."""
        ending = ending or self.spec.file_ending
        return sorted(p.name[: -len(ending)] for p in folder.glob(f"*{ending}") if not p.name.startswith("."))

    def check_output_format(self, output_format: str | None, cases: list) -> None:
        """Refuses, before anything is predicted, an ``output_format`` (``--output_format``) this kind or the
        input ``cases`` cannot give (see autoseg/tasks/writers.py)."""
        check_image_output_format(self, output_format, cases)

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
        """Where predicted cases go: one file per case (per output image) in ``folder``, in the raw geometry and
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

    def describe_written(self, written: list[Path], folder: Path) -> str:
        """The line ``autoseg predict`` closes with: what it wrote."""
        return f"wrote {len(written)} predictions to {folder}"

    def prepare_output_folder(self, folder: Path) -> None:
        """Clears what an earlier validation left in ``folder`` that this one would read with its own."""

"""The task interface and its registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autoseg.dataset import DatasetSpec
from autoseg.registry import Registry


class Task:
    """What varies between task kinds. Subclasses override what differs.

    * ``dense_output``: the network predicts an image (U-Net with a decoder), or
      one vector per case (encoder and a classification head);
    * ``out_channels(spec)``: the network's output channels;
    * ``plan_target_normalisation(fingerprint)``: how targets are normalised
      (only regression has image-valued targets to normalise), and
      ``plan_input_skips``: which targets are learned as corrections of an input;
    * ``uses_label_geometry``: whether label centroids constrain mirroring;
    * ``target_kind``: ``label`` (an integer image), ``image`` (float images on
      the input's grid) or ``class`` (one class per case, no target image);
    * ``prepare_input(data, configuration)``: a last step of preprocessing
      (classification fits every case to the network's fixed input size);
    * ``sampling_locations(target, rng)``: voxels that patch sampling should
      oversample, by name;
    * training (dense tasks): ``make_network``, ``make_loss``,
      ``prepare_targets`` (one target per deep-supervision output) and
      ``validation_counts`` / ``validation_scores`` (the per-epoch pseudo
      metric, whose mean picks the best checkpoint);
    * ``selection_metric``: what find_best_configuration maximises over the
      cross-validation.
    """

    name = ""
    dense_output = True
    uses_label_geometry = False
    selection_metric = ""  # summary key whose foreground mean find_best_configuration maximises
    target_kind = "label"
    locations_per_class = 10_000
    default_loss = ""  # the registered loss (autoseg.losses) a trainer that names none trains with

    def out_channels(self, spec: DatasetSpec) -> int:
        raise NotImplementedError

    def plan_target_normalisation(self, fingerprint) -> dict:
        return {}

    def plan_input_skips(self, spec: DatasetSpec, normalisation: dict, target_normalisation: dict) -> dict:
        """{target index: InputSkip}: targets predicted as corrections of an input channel (regression)."""
        return {}

    def plan_class_weights(self, fingerprint) -> dict[str, float]:
        """{class name: cross-entropy weight} (classification)."""
        return {}

    def fingerprint_target(self, record, target, mask, box, spec: DatasetSpec, rng: np.random.Generator):
        """Adds what the fingerprint needs of a case's target to ``record``; returns
        (the foreground mask for intensity statistics, sampled target values per target channel)."""
        return mask, []

    def prepare_input(self, data: np.ndarray, configuration) -> np.ndarray:
        return data

    def fixed_input_size(self, configuration) -> list[int] | None:
        """The size every preprocessed case is fitted to (``prepare_input``), or None where cases keep their own."""
        return None

    def sampling_locations(self, target: np.ndarray | None, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {}

    def make_network(self, spec: DatasetSpec, architecture, plans=None):
        """The U-Net for ``architecture``; with ``plans``, also the input skips they plan (regression)."""
        from autoseg.networks import network_for

        skips = {
            int(target): (skip.input_channel, skip.scale, skip.shift)
            for target, skip in (plans.input_skips if plans is not None else {}).items()
        }
        return network_for(architecture).build(spec.num_channels, self.out_channels(spec), architecture, skips)

    def make_loss(self, spec: DatasetSpec, num_outputs: int, name: str = "", plans=None):
        """The training loss over ``num_outputs`` deep-supervision outputs (one for a per-case output): the
        registered loss ``name`` ("" = ``default_loss``), built for this task kind; ``plans``: what the loss
        may need of them (class weights)."""
        from autoseg.losses import DeepSupervisionLoss, get_loss

        loss = get_loss(name or self.default_loss).build(self.name, spec, plans)
        return DeepSupervisionLoss(loss, num_outputs if self.dense_output else 1)

    def prepare_targets(self, target, spec: DatasetSpec, scales: list[list[int]]) -> list:
        raise NotImplementedError

    def validation_counts(self, output, target, spec: DatasetSpec) -> dict:
        raise NotImplementedError

    def validation_scores(self, counts: dict, spec: DatasetSpec) -> dict[str, float]:
        raise NotImplementedError

    def output_files(self, case_id: str, ending: str, folder: Path, spec: DatasetSpec) -> list[Path]:
        """The files a case's whole-image prediction is written to."""
        return [folder / f"{case_id}{ending}"]

    def cases_in(self, folder: Path, spec: DatasetSpec) -> list[str]:
        """The case ids whose output files ``folder`` holds (the inverse of ``output_files``); hidden files,
        such as an interrupted write's temporary, are not cases."""
        ending = spec.file_ending
        return sorted(p.name[: -len(ending)] for p in folder.glob(f"*{ending}") if not p.name.startswith("."))

    def export(
        self, output, properties, configuration, plans, spec: DatasetSpec, files: list[Path], probabilities_path=None, device=None
    ) -> None:
        """Writes a case's network output (K, *preprocessed) to ``files`` in the raw geometry and units."""
        raise NotImplementedError

    def case_metrics(self, predicted: list[Path], reference: list[Path], spec: DatasetSpec) -> dict[str, dict[str, float]]:
        """Scores one case's prediction files against its reference files: {structure or target: {metric: value}}."""
        raise NotImplementedError

    def baseline_metrics(self, baseline: list[Path | None], reference: list[Path], spec: DatasetSpec) -> dict[str, dict[str, float]]:
        """Scores a case's baseline inputs like ``case_metrics`` (regression: the input the model improves on)."""
        raise NotImplementedError

    def _sample(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Returns up to ``locations_per_class`` coordinates (N, ndim) of ``mask``'s True voxels."""
        coordinates = np.argwhere(mask)
        if len(coordinates) > self.locations_per_class:
            coordinates = coordinates[np.sort(rng.choice(len(coordinates), self.locations_per_class, replace=False))]
        return coordinates.astype(np.int32)


TASKS: Registry[Task] = Registry("task")


def register_task(cls: type[Task]) -> type[Task]:
    TASKS.add(cls.name, cls())
    return cls


def get_task(name: str) -> Task:
    return TASKS.get(name)


def task_for(spec: DatasetSpec) -> Task:
    return get_task(spec.task)


def task_names() -> list[str]:
    return TASKS.names()

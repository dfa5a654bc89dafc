"""What a task kind trains: its network's outputs, its targets (fingerprinted, preprocessed, sampled, augmented),
its loss and the per-epoch validation score that picks the best checkpoint."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

import numpy as np
import torch

from autoseg.data.device_augmentation import Probabilities
from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.losses import DeepSupervisionLoss, get_loss
from autoseg.networks import network_for
from autoseg.statistics import sample_voxels


class Training(ABC):
    """The network and targets of a kind, and how it trains.

    * the network: ``out_channels``, ``make_network``, ``has_decoder`` (a U-Net predicting an image, or an
      encoder with a head predicting one vector per case), ``configurations(ndim)`` (what a planner plans);
    * targets: ``target_is_label`` (integer maps, resampled and augmented as labels; else float images, or
      one class per case when ``prepare_targets`` takes no map), ``fingerprint_target``,
      ``plan_target_normalisation``, ``plan_input_skips``, ``plan_class_weights``, ``prepare_input``,
      ``prepare_target``, ``sampling_locations``, ``batch_classes``;
    * training: ``make_loss``, ``prepare_targets`` (one target per deep-supervision output),
      ``augmentation_place`` and ``augmentation_probabilities``, ``augment``, ``validation_outputs``,
      ``validation_counts`` / ``validation_scores`` (the per-epoch pseudo metric);
    * examples for the registries' contract tests (``autoseg check_plugins`` runs them on a plug-in's kind):
      ``example_specs``, ``example_target``, ``confident_output``.
    """

    name: str
    spec: DatasetSpec
    has_decoder = True
    target_is_label = True  # integer target maps (resampled, augmented and stored as labels)
    uses_label_geometry = False  # label centroids constrain mirroring
    locations_per_class = 10_000
    default_loss = ""  # the registered loss (autoseg.losses) a trainer that names none trains with

    @abstractmethod
    def out_channels(self) -> int:
        """The network's output channels."""

    def configurations(self, ndim: int) -> list[str]:
        """The configurations a planner plans for ``ndim``-dimensional data: 2d for 2D data; for 3D data
        3d_fullres, 2d slices of it, and 3d_lowres where the images are large."""
        return ["2d"] if ndim == 2 else ["3d_fullres", "2d", "3d_lowres"]

    def make_network(self, architecture, plans=None, extra_inputs: int = 0):
        """The network for ``architecture`` (any registered network); with ``plans``, also the input skips they
        plan (regression); ``extra_inputs``: input channels beyond the images (the cascade's previous stage)."""
        skips = {
            int(target): (skip.input_channel, skip.scale, skip.shift)
            for target, skip in (plans.input_skips if plans is not None else {}).items()
        }
        return network_for(architecture).build(self.spec.num_channels + extra_inputs, self.out_channels(), architecture, skips)

    def previous_stage_inputs(self, configuration) -> int:
        """How many input channels a configuration's previous stage adds: none; a kind that refines a previous
        stage's prediction is a ``Cascade``."""
        if configuration.previous_stage is None:
            return 0
        raise AutosegError(f"configuration {configuration.name!r} refines a previous stage, which {self.name} models do not do.")

    # targets -----------------------------------------------------------------------------------
    def fingerprint_target(self, record, target, mask, box, rng: np.random.Generator):
        """Adds what the fingerprint needs of a case's target to ``record``; returns
        (the foreground mask for intensity statistics, sampled target values per target channel)."""
        return mask, []

    def plan_target_normalisation(self, fingerprint) -> dict:
        return {}

    def plan_input_skips(self, normalisation: dict, target_normalisation: dict) -> dict:
        """{target index: InputSkip}: targets predicted as corrections of an input channel (regression)."""
        return {}

    def plan_class_weights(self, fingerprint) -> dict[str, float]:
        """{class name: cross-entropy weight} (classification)."""
        return {}

    def prepare_input(self, data: np.ndarray, configuration) -> np.ndarray:
        return data

    def fixed_input_size(self, configuration) -> list[int] | None:
        """The size every preprocessed case is fitted to (``prepare_input``), or None where cases keep their own."""
        return None

    def prepare_target(self, target: np.ndarray) -> np.ndarray:
        """A preprocessed target as it is stored (label maps as the smallest integer type that holds them)."""
        return target

    def sampling_locations(self, target: np.ndarray | None, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """{name: voxel coordinates (N, ndim)} the loader centres foreground patches on (one entry per class)."""
        return {}

    def batch_classes(self, data_folder: Path, case_ids) -> tuple[int, ...] | None:
        """Each case's class index, where batches carry one class per case (classification); else None."""
        return None

    # training ----------------------------------------------------------------------------------
    def make_loss(self, num_outputs: int, name: str = "", plans=None):
        """The training loss over ``num_outputs`` deep-supervision outputs (one for a per-case output): the
        registered loss ``name`` ("" = ``default_loss``), built for this task kind; ``plans``: what the loss
        may need of them (class weights)."""
        loss = get_loss(name or self.default_loss).build(self.name, self.spec, plans)
        return DeepSupervisionLoss(loss, num_outputs if self.has_decoder else 1)

    @abstractmethod
    def prepare_targets(self, target, scales: list[list[int]]) -> list:
        """A batch's target as the loss takes it: one per deep-supervision output at ``scales``."""

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

    @abstractmethod
    def validation_counts(self, output, target) -> dict:
        """What one validation batch adds to the epoch's pseudo metric (summed over batches)."""

    @abstractmethod
    def validation_scores(self, counts: dict) -> dict[str, float]:
        """{structure or target: score} of the summed counts; their mean picks the best checkpoint."""

    # examples: what the contract tests (autoseg/contracts/registries.py) exercise every kind with ----------------
    @classmethod
    @abstractmethod
    def example_specs(cls) -> list[DatasetSpec]:
        """Small valid datasets of this kind (their dataset.json as DatasetSpecs), one per variant the kind has
        (segmentation: labels, and regions)."""

    @abstractmethod
    def example_target(self, batch_size: int, spatial: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """A random batch of targets for patches of ``spatial``, as the loader gives them to ``prepare_targets``."""

    @abstractmethod
    def confident_output(self, target: torch.Tensor) -> torch.Tensor:
        """Network outputs (one level) that predict ``example_target``'s ``target`` confidently, their negation
        wrongly: every loss of the kind must be lower for the one than for the other."""

    def _sample(self, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Returns up to ``locations_per_class`` coordinates (N, ndim) of ``mask``'s True voxels."""
        return sample_voxels(mask, self.locations_per_class, rng)

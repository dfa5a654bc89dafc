"""The generic trainer: one short loop, varied through the task object and the trainer's hooks.

Per epoch: ``iterations_per_epoch`` optimiser steps on augmented patches (batch
``i`` of the run is a pure function of the seed and ``i``, see
autoseg/data/loader.py), then ``validation_iterations`` unaugmented patches
of the validation cases scored with the task's pseudo metric (Dice for
segmentation). The best checkpoint follows an exponential moving average of
that score. ``resume=True`` continues from ``checkpoint_latest.pt`` exactly:
weights, optimiser, epoch, random state and log.

What varies between trainers are hooks a subclass overrides (``make_network``,
``make_loss``, ``make_optimiser``, ``learning_rate``, ``train_step``) and
its ``default_settings``; ``@register_trainer("name")`` makes it ``-tr name``,
and ``register_variant`` registers a settings-only variant in one line.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from autoseg.data.augmentation import training_transforms
from autoseg.data.device_augmentation import DeviceAugmenter
from autoseg.data.loader import BatchRecipe, BatchStream, build, make_batch
from autoseg.data.previous_stage import load_previous_stage
from autoseg.dataset import DatasetSpec
from autoseg.device import autocast, needs_gradient_scaling
from autoseg.errors import AutosegError
from autoseg.io import atomic_write, read_image
from autoseg.networks import evaluating, network_for
from autoseg.parallel import default_num_processes, worker_context
from autoseg.plans import Configuration, Plans
from autoseg.registry import Registry
from autoseg.tasks import task_for
from autoseg.training.budget import NNUNET, plan_optimisation
from autoseg.training.cascade import next_stage_file, write_next_stage
from autoseg.training.checkpoint import (
    BEST_CHECKPOINT,
    FINAL_CHECKPOINT,
    LATEST_CHECKPOINT,
    load_checkpoint,
    load_pretrained_weights,
    save_checkpoint,
)
from autoseg.training.distributed import Processes
from autoseg.training.log import EpochRecord, TrainingLog
from autoseg.training.optim import OPTIMISERS, SCHEDULES
from autoseg.training.plot import plot_progress
from autoseg.training.settings import TrainingSettings

EMA_WEIGHT = 0.9


@dataclass(frozen=True)
class FoldSetup:
    """What one fold trains on and where it writes.

    ``data_folder``: the configuration's preprocessed cases; ``reference_folder``:
    the raw references (``gt/``) the whole-case validation scores against;
    ``baseline_folder``: regression's raw baseline inputs, scored beside the model.
    """

    spec: DatasetSpec
    plans: Plans
    configuration: Configuration
    data_folder: Path
    train_ids: tuple[str, ...]
    validation_ids: tuple[str, ...]
    output_dir: Path
    reference_folder: Path | None = None
    baseline_folder: Path | None = None
    previous_stage: dict[str, Path] | None = None  # the cascade: each case's out-of-fold previous-stage prediction


def _hook_reference(trainer: type, hook: str) -> tuple[str, str]:
    """(module, qualified name) of the class method ``hook`` as ``trainer`` has it (from itself or the base class
    that defines it): how a loader worker finds it."""
    owner = next(cls for cls in trainer.__mro__ if hook in vars(cls))
    if "<locals>" in owner.__qualname__:
        raise AutosegError(
            f"trainer class {owner.__qualname__} overrides {hook} inside a function; define it at a module's top level so the "
            "loader's worker processes can find it."
        )
    return owner.__module__, f"{owner.__qualname__}.{hook}"


class Trainer:
    """Trains one fold. Under DDP every process builds one; ``processes`` says which it is, and only
    the main process writes logs and checkpoints. ``settings`` default to the class's ``default_settings``."""

    default_settings = TrainingSettings()
    summary = (
        "optimisation planned for the budget: nnU-Net's schedule (SGD, momentum 0.99, lr 1e-2, poly) for 1000 x 250 "
        "iterations, AdamW with warm-up and cosine decay for short runs (docs/training.md)"
    )

    def __init__(
        self,
        fold: FoldSetup,
        settings: TrainingSettings | None = None,
        *,
        device: torch.device | str = "cpu",
        processes: Processes = Processes(),
        save_probabilities: bool = False,
        validation_checkpoint: str = FINAL_CHECKPOINT,
    ):
        self.validation_checkpoint = validation_checkpoint  # the weights the whole-case validation predicts with
        configuration = fold.configuration
        self.task = task_for(fold.spec)
        settings = settings if settings is not None else self.default_settings
        settings, _ = plan_optimisation(settings, configuration.batch_size)  # already planned when train_fold built it
        self.fold, self.settings, self.processes = fold, settings, processes
        self.spec, self.configuration, self.plans = fold.spec, configuration, fold.plans
        self.data_folder, self.validation_ids = Path(fold.data_folder), list(fold.validation_ids)
        self.output_dir, self.save_probabilities = Path(fold.output_dir), save_probabilities
        self.device = processes.device(torch.device(device))
        torch.manual_seed(settings.seed)
        self.network = self.make_network().to(self.device)
        self.model = self._training_model()
        self.scales = network_for(configuration.architecture).output_scales(configuration.architecture)
        self.loss = self.make_loss()
        self.optimiser = self.make_optimiser(self.network.parameters())
        self.scaler = torch.amp.GradScaler("cuda", enabled=needs_gradient_scaling(self.device))
        if configuration.batch_size < processes.world_size:
            raise AutosegError(
                f"the planned batch size {configuration.batch_size} cannot be split between {processes.world_size} processes; "
                f"use at most {configuration.batch_size}."
            )
        self.augmenter = self.make_device_augmenter()
        part = processes.share(configuration.batch_size) if processes.distributed else None
        common = dict(
            folder=str(self.data_folder),
            patch_size=tuple(configuration.patch_size),
            batch_size=configuration.batch_size,
            mirror_axes=tuple(configuration.mirror_axes),
            slice_axis=configuration.slice_axis,
            target_is_label=self.task.target_is_label,
            part=part,
            previous=tuple((case, str(path)) for case, path in sorted(fold.previous_stage.items())) if fold.previous_stage else None,
        )
        self.train_recipe = BatchRecipe(
            case_ids=tuple(fold.train_ids),
            augment=self.augmenter is None,
            transforms=_hook_reference(type(self), "training_transforms"),
            seed=settings.seed,
            classes=self.task.batch_classes(self.data_folder, fold.train_ids),
            perturb_previous=True,
            **common,
        )
        self.validation_recipe = BatchRecipe(
            case_ids=tuple(fold.validation_ids),
            augment=True,
            transforms=_hook_reference(type(self), "validation_transforms"),
            seed=settings.seed + 1,
            classes=self.task.batch_classes(self.data_folder, fold.validation_ids),
            **common,
        )
        self.validation_maker = build(self.validation_recipe)
        self.log = TrainingLog()
        self.start_epoch = 0

    # hooks: what a trainer variant overrides ---------------------------------
    def make_network(self) -> torch.nn.Module:
        """The network to train (initialised; the trainer moves it to the device): the task's, from the
        configuration's architecture and the plans."""
        return self.task.make_network(self.configuration.architecture, self.plans, self.task.previous_stage_inputs(self.configuration))

    def with_previous_stage(self, data: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The cascade: the previous stage's labels, carried as the target's last channel through augmentation,
        moved into the data as input channels (unchanged without a previous stage)."""
        if not self.fold.previous_stage:
            return data, target
        return torch.cat([data, self.task.encode_previous_stage(target[:, -1:]).to(data.dtype)], 1), target[:, :-1]

    def make_loss(self) -> torch.nn.Module:
        """The loss over the network's outputs (a list, highest resolution first) and their targets:
        ``settings.loss`` or the task's default, over the deep-supervision outputs."""
        return self.task.make_loss(len(self.scales), self.settings.loss, self.plans)

    def make_optimiser(self, parameters) -> torch.optim.Optimizer:
        """The optimiser ``settings.optimiser`` names (autoseg.training.optim)."""
        return OPTIMISERS.get(self.settings.optimiser)(parameters, self.settings)

    def learning_rate(self, epoch: int) -> float:
        """The learning rate of ``epoch``, from the schedule ``settings.schedule`` names."""
        return SCHEDULES.get(self.settings.schedule)(self.settings, epoch)

    def _training_model(self) -> torch.nn.Module:
        """The network as the training step calls it: wrapped for DDP, compiled if asked."""
        model = self.network
        if self.processes.distributed:
            from torch.nn.parallel import DistributedDataParallel

            model = DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        # training batches have one shape (the planned patch and batch): static shapes, no dynamic-shape guards
        return torch.compile(model, dynamic=False) if self.settings.compile else model

    @classmethod
    def training_transforms(cls, patch_size: list[int], mirror_axes: list[int], target_is_label: bool):
        """Hook: the CPU augmentation pipeline of training batches (batchgenerators transforms taking and returning
        ``data`` (B, C, *patch) and ``seg`` (B, T, *patch)), built in each loader worker; None for none. The default
        is autoseg.data.augmentation's (nnU-Net's recipe, mirroring only along ``mirror_axes``). A class method,
        looked up by name in the workers: define trainer classes that override it at a module's top level."""
        return training_transforms(patch_size, mirror_axes, target_is_label)

    @classmethod
    def validation_transforms(cls, patch_size: list[int], mirror_axes: list[int], target_is_label: bool):
        """Hook: the transforms of the per-epoch validation batches, as ``training_transforms``; none by default."""
        return None

    def make_device_augmenter(self) -> DeviceAugmenter | None:
        """Hook: the batched augmenter when training batches are augmented on the training device, else None (CPU
        workers, ``training_transforms``); where is the task's answer for the ``augmentation`` setting (auto: the
        device on a GPU, and always for float-image targets)."""
        choice = self.settings.augmentation
        if choice not in ("auto", "cpu", "device"):
            raise AutosegError(f"augmentation must be auto, cpu or device, got {choice!r}.")
        if self.task.augmentation_place(choice, self.device) == "cpu":
            return None
        config = self.configuration
        probabilities = self.task.augmentation_probabilities()
        label = self.task.target_is_label
        return DeviceAugmenter(config.patch_size, config.mirror_axes, target_is_label=label, probabilities=probabilities)

    def say(self, message: str) -> None:
        if self.processes.is_main:
            print(message, flush=True)

    def load_pretrained(self, path: Path) -> None:
        """Starts from another model's weights (transfer learning); prints what was skipped."""
        self.say(load_pretrained_weights(self.network, path).summary(path))

    # checkpoints -------------------------------------------------------------
    def state(self, epoch: int) -> dict:
        return {
            "network": self.network.state_dict(),
            "optimiser": self.optimiser.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "log": self.log.to_state(),
            "torch_rng": torch.get_rng_state(),
            "configuration": self.configuration.name,
        }

    def restore(self, path: Path) -> None:
        state = load_checkpoint(path, self.device)
        self.network.load_state_dict(state["network"])
        self.optimiser.load_state_dict(state["optimiser"])
        self.scaler.load_state_dict(state["scaler"])
        self.log = TrainingLog.from_state(state["log"])
        # A kill between an epoch's log line and its checkpoint leaves a line the checkpoint does not know.
        if self.processes.is_main:
            atomic_write(
                self.output_dir / "training_log.txt", lambda tmp: tmp.write_text("".join(r.line() + "\n" for r in self.log.records))
            )
        torch.set_rng_state(state["torch_rng"].cpu())
        self.start_epoch = state["epoch"] + 1
        self.say(f"resuming from {path} after epoch {state['epoch']}")

    # the loop ---------------------------------------------------------------
    def train_step(self, batch: dict) -> float:
        """One optimiser step on ``batch`` (``data``, ``target`` and its ``iteration`` in the run); returns the loss."""
        iteration = batch["iteration"]
        data = torch.from_numpy(batch["data"]).to(self.device, non_blocking=True)
        target = torch.from_numpy(batch["target"]).to(self.device, non_blocking=True)
        if self.augmenter is not None:
            # Seeded by (seed, iteration, process) alone, like the CPU workers' batches: resuming stays exact.
            seed = np.random.SeedSequence([self.settings.seed, iteration, self.processes.rank]).generate_state(1, np.uint64)[0]
            generator = torch.Generator().manual_seed(int(seed))
            data, target = self.task.augment(self.augmenter, data, target, generator)
        data, target = self.with_previous_stage(data, target)
        targets = self.task.prepare_targets(target, self.scales)
        self.optimiser.zero_grad(set_to_none=True)
        with autocast(self.device):
            loss = self.loss(self.model(data), targets)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimiser)
        torch.nn.utils.clip_grad_norm_(self.network.parameters(), self.settings.gradient_clip)
        self.scaler.step(self.optimiser)
        self.scaler.update()
        return float(loss.detach())

    def time_iterations(self, count: int = 8, warmup: int = 2) -> tuple[float, float]:
        """Seconds per training iteration (batch loading and augmentation included) and per validation batch,
        each timed over ``count`` after ``warmup`` untimed ones (worker start-up, first allocations). The
        steps change the network's weights: a trainer timed is then discarded (``--budget_minutes``)."""
        with BatchStream(self.train_recipe, 0, warmup + count, num_workers=self._workers(), mp_context=worker_context()) as batches:
            for index in range(warmup + count):
                if index == warmup:
                    began = time.perf_counter()
                self.train_step({**next(batches), "iteration": index})
            self._synchronise()
            step = (time.perf_counter() - began) / count
        self.validate(warmup)
        began = time.perf_counter()
        self.validate(count)
        self._synchronise()
        return step, (time.perf_counter() - began) / count

    def _workers(self) -> int:
        """Augmentation worker processes: ``settings.num_workers``, else the CPUs (this process's share under DDP) less one."""
        if self.settings.num_workers is not None:
            return self.settings.num_workers
        return max(1, default_num_processes() // self.processes.world_size - 1)

    def _synchronise(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @torch.no_grad()
    def validate(self, batches: int | None = None) -> tuple[float, dict[str, float]]:
        """Returns the validation loss and the task's pseudo scores on ``batches`` (default
        ``settings.validation_iterations``) unaugmented validation patches (the network's outputs as the task's
        ``validation_outputs`` gives them). Under DDP each process scores its part of every batch and the sums
        are shared."""
        losses, totals = [], {}
        for index in range(batches if batches is not None else self.settings.validation_iterations):
            batch = make_batch(self.validation_recipe, index, self.validation_maker)
            data, target = self.with_previous_stage(
                torch.from_numpy(batch["data"]).to(self.device), torch.from_numpy(batch["target"]).to(self.device)
            )
            targets = self.task.prepare_targets(target, self.scales)
            with autocast(self.device):
                outputs = self.task.validation_outputs(self.network, data)
                losses.append(float(self.loss(outputs, targets)))
            for key, value in self.task.validation_counts(outputs[0], targets[0]).items():
                totals[key] = totals.get(key, 0) + value
        loss_sum, loss_count = self.processes.sum([sum(losses), len(losses)])
        return loss_sum / loss_count, self.task.validation_scores(self.processes.sum_tensors(totals))

    def run(self, resume: bool = False) -> TrainingLog:
        """Trains to ``settings.epochs``; returns the log. Checkpoints go to ``output_dir``."""
        settings = self.settings
        self.output_dir.mkdir(parents=True, exist_ok=True)
        latest = self.output_dir / LATEST_CHECKPOINT
        if resume and latest.is_file():
            self.restore(latest)
        start, stop = self.start_epoch * settings.iterations_per_epoch, settings.epochs * settings.iterations_per_epoch
        workers = self._workers()
        main = self.processes.is_main
        self.network.train()
        saved = time.monotonic()  # when checkpoint_latest.pt was last written (or the run started)
        with BatchStream(self.train_recipe, start, stop, num_workers=workers, mp_context=worker_context()) as batches:
            for epoch in range(self.start_epoch, settings.epochs):
                began = time.perf_counter()
                learning_rate = self.learning_rate(epoch)
                for group in self.optimiser.param_groups:
                    group["lr"] = learning_rate
                if self.device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(self.device)
                first = epoch * settings.iterations_per_epoch
                losses = [self.train_step({**next(batches), "iteration": first + i}) for i in range(settings.iterations_per_epoch)]
                train_loss = self.processes.sum([float(np.mean(losses))])[0] / self.processes.world_size
                self._synchronise()
                train_seconds = time.perf_counter() - began
                peak = torch.cuda.max_memory_allocated(self.device) / 2**30 if self.device.type == "cuda" else None
                validation_loss, scores = self.validate()
                mean_score = float(np.nanmean(list(scores.values()))) if any(not math.isnan(v) for v in scores.values()) else math.nan
                previous = self.log.records[-1].ema_score if self.log.records else math.nan
                ema = mean_score if math.isnan(previous) else EMA_WEIGHT * previous + (1 - EMA_WEIGHT) * mean_score
                improved = not math.isnan(ema) and ema > self.log.best_ema
                record = EpochRecord(
                    epoch, train_loss, validation_loss, scores, ema, learning_rate, time.perf_counter() - began, train_seconds, peak
                )
                if not main:
                    self.log.records.append(record)
                    continue
                self.log.append(record, self.output_dir / "training_log.txt")
                plot_progress(self.log, self.output_dir / "progress.png")
                if improved:
                    save_checkpoint(self.output_dir / BEST_CHECKPOINT, self.state(epoch))
                due = (epoch + 1) % settings.checkpoint_every == 0 or time.monotonic() - saved >= 60 * settings.checkpoint_minutes
                if due and epoch + 1 < settings.epochs:  # by epochs and by time: an interruption loses minutes, not hours
                    save_checkpoint(latest, self.state(epoch))
                    saved = time.monotonic()
        if main:
            save_checkpoint(self.output_dir / FINAL_CHECKPOINT, self.state(settings.epochs - 1))
            latest.unlink(missing_ok=True)
        if self.validation_checkpoint != FINAL_CHECKPOINT:
            self.processes.barrier()
            self.load_validation_weights()
        self.validate_cases()
        return self.log

    def validate_cases(self) -> dict | None:
        """Predicts each validation case whole (as the task does: sliding window and mirroring, or class
        probabilities), writes it to ``validation/`` in the raw geometry (with ``save_probabilities``, also
        the class probabilities as ``{case}.npz``) and the task's scores to ``validation/summary.json``.

        Under DDP each process predicts its share of the cases; the main process scores them all.
        Returns the summary (None in other processes, or without references to score against).
        """
        from autoseg.evaluation import write_summary
        from autoseg.preprocessing.storage import load_case

        folder = self.output_dir / "validation"
        if self.processes.is_main:
            self.task.prepare_output_folder(folder)
        self.processes.barrier()
        part = f"part{self.processes.rank}" if self.processes.distributed else ""
        config = self.configuration
        writer = self.task.case_writer(
            folder, plans=self.plans, configuration=config, save_probabilities=self.save_probabilities, part=part
        )
        next_stages = {name: c for name, c in self.plans.configurations.items() if c.previous_stage == config.name}
        first, count = self.processes.share(len(self.validation_ids))
        with evaluating(self.network, self.device):
            for case_id in self.validation_ids[first : first + count]:
                data, _, properties = load_case(self.data_folder, case_id)
                if self.fold.previous_stage:
                    stage = torch.from_numpy(load_previous_stage(self.fold.previous_stage[case_id]))[None, None]
                    data = np.concatenate([data, self.task.encode_previous_stage(stage)[0].numpy()])
                (output,) = self.task.predict_cases([self.network], [data], config, device=self.device, mirror_axes=config.mirror_axes)
                written = writer.write(case_id, output, properties)
                labels = read_image(written[0]).array[0] if next_stages else None
                for name, stage_config in next_stages.items():  # the cascade's out-of-fold input, on its grid
                    write_next_stage(next_stage_file(self.output_dir, name, case_id), labels, properties, stage_config)
        writer.close()
        self.processes.barrier()
        if not self.processes.is_main:
            return None
        summary = self.task.validation_summary(folder, self.fold)
        if summary is not None:
            summary["checkpoint"] = self.validation_checkpoint
            write_summary(folder / "summary.json", summary)
            print(f"validation of {self.task.describe(summary)} with {self.validation_checkpoint}; written to {folder}")
        return summary

    def load_validation_weights(self) -> None:
        """The network's weights from ``validation_checkpoint`` (checkpoint_final.pt, or checkpoint_best.pt with
        --val_best); refused, naming the file, where training never wrote it."""
        path = self.output_dir / self.validation_checkpoint
        if not path.is_file():
            raise AutosegError(
                f"{path} does not exist: no epoch improved the validation pseudo-score's moving average, so there is no best "
                "checkpoint; validate with checkpoint_final.pt (leave out --val_best)."
            )
        self.network.load_state_dict(load_checkpoint(path, self.device)["network"])

    def validate_only(self) -> dict | None:
        """Loads the validation checkpoint (checkpoint_final.pt, or checkpoint_best.pt) and runs the whole-case
        validation again."""
        self.load_validation_weights()
        return self.validate_cases()


TRAINERS: Registry[type[Trainer]] = Registry("trainer")


def register_trainer(name: str):
    """Class decorator: registers a ``Trainer`` subclass as ``-tr name``; its ``summary`` (else its docstring's
    first line) describes it in ``autoseg train --help``."""

    def add(cls: type[Trainer]) -> type[Trainer]:
        if not (isinstance(cls, type) and issubclass(cls, Trainer)):
            raise TypeError(f"trainer {name!r} must be a subclass of autoseg.training.Trainer, got {cls!r}")
        if "summary" not in vars(cls):
            cls.summary = (cls.__doc__ or "").strip().split("\n")[0]
        return TRAINERS.add(name, cls)

    return add


def register_variant(name: str, summary: str, base: type[Trainer] = Trainer, **settings) -> type[Trainer]:
    """Registers ``-tr name``: ``base`` with some of its default settings changed, in one line."""
    changed = {"summary": summary, "default_settings": replace(base.default_settings, **settings)}
    return register_trainer(name)(type(f"{base.__name__}_{name}", (base,), changed))


def get_trainer(name: str) -> type[Trainer]:
    return TRAINERS.get(name)


def trainer_settings(name: str) -> TrainingSettings:
    """The default settings of the trainer registered as ``name``."""
    return get_trainer(name).default_settings


def trainer_summaries() -> dict[str, str]:
    """{name: summary} of every registered trainer, for ``--help``."""
    return {name: get_trainer(name).summary for name in TRAINERS.names()}


register_trainer("default")(Trainer)
register_variant("nnunet", "nnU-Net's schedule at any budget: SGD (Nesterov momentum 0.99) from 1e-2, poly decay", **NNUNET)
register_variant(
    "short",
    "Adam at 1e-3 with poly decay, 50 x 50 iterations (the CPU trainer before the budget rule)",
    optimiser="adam",
    schedule="poly",
    initial_lr=1e-3,
    weight_decay=3e-5,
    momentum=0.99,
    warmup_fraction=0.0,
    epochs=50,
    iterations_per_epoch=50,
    validation_iterations=10,
)
register_variant("mse", "regression with mean squared error (default schedule)", loss="mse")
register_variant("l1_ssim", "regression with L1 + (1 - SSIM) (default schedule)", loss="l1_ssim")
register_variant("ce_smooth", "classification with label smoothing 0.1 (default schedule)", loss="ce_smooth")

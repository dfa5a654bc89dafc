"""The planner: configurations 2d, 3d_fullres and (for large images) 3d_lowres, as rules over a frozen dataclass.

A planner is data: ``Planner`` holds every constant of its rules (feature base
and cap, blocks per stage, minimum feature-map edge, batch caps, anisotropy
threshold, low-resolution threshold, memory target), and a preset is
``replace(DEFAULT, ...)`` registered by name (planners/presets.py). The rules,
documented with their reasons in docs/planning.md, with the default's values:

* target spacing: the median spacing per axis; when the data is strongly
  anisotropic (coarsest / finest median spacing > 3, and the coarse axis has
  over 3 times fewer voxels) the coarse axis takes the 10th percentile of its
  spacings instead, but never finer than the other axes;
* patch: the median cropped shape at the target spacing, shrunk with its
  aspect kept until a batch of 2 fits the memory budget of the analytic
  model (the network's own, autoseg.networks); then the batch grows to fill the budget, capped so
  that one batch covers at most 5 % of the dataset's voxels (at least 2);
  classification, whose samples are whole images, caps it at 25 % (about a
  quarter of the cases: batches of 2 would make its gradient mostly noise);
* 3d_lowres when the full-resolution patch covers less than a quarter of the
  median image: the spacing grows 3 % at a time (only the axes more than twice
  finer than the coarsest, while there are such) until the patch covers a
  quarter; dropped when its median image keeps more than half the voxels.
  With it, segmentation gets 3d_cascade_fullres: 3d_fullres refining the
  low-resolution prediction (``previous_stage``);
* 2d slices along the coarsest axis; 2D datasets get 2d only, and so do 2D
  images stored as 3D files (one voxel thick along an axis in every case:
  that axis is the slice axis whatever its spacing); classification gets one
  configuration whose patch is the network's fixed input size;
* a configuration whose patch has fewer than 8 voxels along an axis its
  network convolves is left out (``Plans.left_out`` says why);
* mirroring axes from the labels (see ``mirror_axes``).

``plan(..., target_spacing=...)`` replaces the first rule by the user's spacing
and plans everything else around it (the configurations say
``spacing_overridden``); ``transfer`` keeps another dataset's network, patch
and spacing and plans only what belongs to this dataset's data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.fingerprint import Fingerprint
from autoseg.networks import Architecture, network_for
from autoseg.plans import ChannelNormalisation, Configuration, Plans, plans_file_name
from autoseg.preprocessing.normalisation import scheme_for_channel
from autoseg.preprocessing.resample import ANISOTROPY_THRESHOLD
from autoseg.tasks import task_for
from planners.registry import register_planner
from planners.topology import MIN_EDGE, plan_topology

DEFAULT_GPU_MEMORY_GB = 8.0


def available_gpu_memory_gb() -> float | None:
    """Returns the total memory of CUDA device 0 in GiB, or None without CUDA."""
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory / 2**30
    return None


@dataclass(frozen=True)
class Planner:
    """The planning rules and their constants; ``plan`` (or calling the planner) returns the plans.

    ``memory_target_gb`` None plans for the CUDA device's memory (8 GB without
    one); a preset fixes it (ResEnc M: 8 GB), and ``--gpu_memory_gb`` always
    wins. ``blocks_per_stage`` None gives every encoder stage
    ``convs_per_stage`` conv blocks; otherwise stage s gets
    ``blocks_per_stage[s]`` blocks of type ``block``.
    """

    name: str = "default"
    network: str = "unet"
    block: str = "conv"
    base_features: int = 32
    max_features_2d: int = 512
    max_features_3d: int = 320
    convs_per_stage: int = 2
    blocks_per_stage: tuple[int, ...] | None = None
    decoder_convs_per_stage: int = 2
    max_stages_2d: int = 7
    max_stages_3d: int = 6
    min_edge: int = MIN_EDGE
    memory_target_gb: float | None = None
    # Plans fill 95 % of the budget: the rest is for the CUDA context and allocator fragmentation,
    # which torch.cuda.max_memory_allocated (what the memory model predicts) does not count.
    budget_fraction: float = 0.95
    max_batch_fraction: float = 0.05
    max_batch_fraction_whole_images: float = 0.25  # classification
    anisotropy_threshold: float = ANISOTROPY_THRESHOLD
    lowres_coverage: float = 0.25
    use_mask_below_crop_fraction: float = 0.75

    @property
    def plans_file(self) -> str:
        """The plans file this planner writes in the dataset's preprocessed folder."""
        return plans_file_name(self.name)

    def data_identifier(self, identifier: str) -> str:
        """The preprocessed data folder of ``identifier`` (``3d_fullres``, ...): the default planner's own name
        for it, other planners' prefixed with their name so that no two planners share (or delete) a folder."""
        return identifier if self.name == "default" else f"{self.name}_{identifier}"

    def plan(
        self,
        fingerprint: Fingerprint,
        spec: DatasetSpec,
        gpu_memory_gb: float | None = None,
        mixed_precision: bool = True,
        target_spacing: list[float] | None = None,
    ) -> Plans:
        """Returns the plans for a dataset from its fingerprint (rules in the module docstring); ``target_spacing``
        (array axis order, mm) replaces the planned full-resolution spacing."""
        if gpu_memory_gb is None:
            gpu_memory_gb = self.memory_target_gb or available_gpu_memory_gb() or DEFAULT_GPU_MEMORY_GB
        if gpu_memory_gb <= 0:
            raise AutosegError(f"--gpu_memory_gb must be positive, got {gpu_memory_gb}.")
        task = task_for(spec)
        context = {
            "in_channels": spec.num_channels,
            "out_channels": task.out_channels(),
            "budget": self.budget_fraction * gpu_memory_gb * 2**30,
            "mixed_precision": mixed_precision,
            "decoder": task.has_decoder,
        }
        spacing = self.target_spacing(fingerprint) if target_spacing is None else checked_spacing(target_spacing, fingerprint)
        shapes = fingerprint.shapes_at(np.array(spacing))
        axes = mirror_axes(fingerprint, spec)
        flat = _flat_axis(fingerprint)
        wanted = task.configurations(2 if flat is not None else fingerprint.ndim)
        configurations = {}
        if fingerprint.ndim == 2 or flat is not None:  # 2D images, or 2D images stored as 3D files: 2d only
            configurations["2d"] = self._configuration(
                "2d", "2d", spacing, shapes=shapes, fingerprint_axes=axes, context=context, slice_axis=flat
            )
        else:
            fullres = self._configuration("3d_fullres", "3d_fullres", spacing, shapes=shapes, fingerprint_axes=axes, context=context)
            if "2d" in wanted:  # slices along the coarsest axis, sharing 3d_fullres's data
                slice_axis = int(np.argmax(spacing))
                configurations["2d"] = self._configuration(
                    "2d", "3d_fullres", spacing, shapes=shapes, fingerprint_axes=axes, context=context, slice_axis=slice_axis
                )
            configurations["3d_fullres"] = fullres
            median = np.median(shapes, axis=0)
            if "3d_lowres" in wanted and np.prod(fullres.patch_size) < self.lowres_coverage * np.prod(median):
                lowres = self._plan_lowres(fingerprint, fullres, axes, context)
                if lowres is not None:
                    configurations["3d_lowres"] = lowres
                    if "3d_cascade_fullres" in wanted:  # full resolution refining the low-resolution prediction
                        configurations["3d_cascade_fullres"] = replace(fullres, name="3d_cascade_fullres", previous_stage="3d_lowres")
        left_out = {name: reason for name, configuration in configurations.items() if (reason := configuration.thin_patch())}
        if len(left_out) == len(configurations):
            reasons = "; ".join(f"{name}: {reason}" for name, reason in left_out.items())
            raise AutosegError(
                f"no configuration can be planned for {fingerprint.dataset}: {reasons}. Resample the images, or store 2D images "
                "with one voxel along the slice axis."
            )
        configurations = {name: configuration for name, configuration in configurations.items() if name not in left_out}
        if target_spacing is not None:
            configurations = {name: replace(c, spacing_overridden=True) for name, c in configurations.items()}
        normalisation, target_normalisation = self.plan_normalisation(fingerprint), task.plan_target_normalisation(fingerprint)
        return Plans(
            dataset=fingerprint.dataset,
            planner=self.name,
            task=spec.task,
            gpu_memory_gb=float(gpu_memory_gb),
            normalisation=normalisation,
            configurations=configurations,
            target_normalisation=target_normalisation,
            input_skips=task.plan_input_skips(normalisation, target_normalisation),
            class_weights=task.plan_class_weights(fingerprint),
            left_out=left_out,
        )

    def __call__(self, *args, **kwargs) -> Plans:
        """``plan``: a planner is called with the fingerprint to plan."""
        return self.plan(*args, **kwargs)

    def transfer(self, source: Plans, source_name: str, fingerprint: Fingerprint, spec: DatasetSpec) -> Plans:
        """Plans for this dataset that keep ``source``'s configurations (network, patch, batch, spacing), so weights
        trained on the source fit (``--pretrained_weights``), with this dataset's own normalisation statistics,
        targets, class weights, mirror axes and median shapes (nnU-Net's move_plans_between_datasets).
        ``source_name``: where they came from, recorded in the plans."""
        task = task_for(spec)
        if len({source.task, spec.task}) > 1:  # weights move between datasets of one kind
            raise AutosegError(
                f"plans of a {source.task} dataset ({source_name}) cannot plan a {spec.task} dataset; transfer between one kind."
            )
        dimensions = "/".join(sorted({str(len(c.spacing)) for c in source.configurations.values()}))
        if dimensions != str(fingerprint.ndim):
            raise AutosegError(
                f"{source_name} plans {dimensions}D images and {fingerprint.dataset} holds {fingerprint.ndim}D ones; transfer "
                "plans between datasets of one dimensionality."
            )
        axes = mirror_axes(fingerprint, spec)
        configurations = {}
        for name, config in source.configurations.items():
            shapes = fingerprint.shapes_at(np.array(config.spacing))
            in_plane = [a for a in range(shapes.shape[1]) if a != config.slice_axis]
            median = np.median(shapes[:, in_plane], axis=0)
            mirrored = [i for i, a in enumerate(in_plane) if a in axes]
            configurations[name] = replace(config, mirror_axes=mirrored, median_shape=[int(round(m)) for m in median])
        normalisation, target_normalisation = self.plan_normalisation(fingerprint), task.plan_target_normalisation(fingerprint)
        return replace(
            source,
            dataset=fingerprint.dataset,
            normalisation=normalisation,
            target_normalisation=target_normalisation,
            input_skips=task.plan_input_skips(normalisation, target_normalisation),
            class_weights=task.plan_class_weights(fingerprint),
            configurations=configurations,
            transferred_from=source_name,
        )

    def target_spacing(self, fingerprint: Fingerprint) -> list[float]:
        """Returns the full-resolution target spacing (rule in the module docstring); anisotropy is judged on the
        axes the images extend along (not the singleton axis of 2D images stored as 3D files)."""
        spacings = fingerprint.spacings
        target = np.median(spacings, axis=0)
        median_shape = np.median(np.array([c.shape for c in fingerprint.cases]), axis=0)
        extended = [a for a in range(len(target)) if a not in fingerprint.singleton_axes]
        coarse = max(extended, key=lambda a: target[a])
        others = [a for a in extended if a != coarse]
        if not others:
            return target.tolist()
        anisotropic_spacing = target[coarse] > self.anisotropy_threshold * min(target[others])
        anisotropic_voxels = median_shape[coarse] * self.anisotropy_threshold < min(median_shape[others])
        if anisotropic_spacing and anisotropic_voxels:
            lower = np.percentile(spacings[:, coarse], 10)
            target[coarse] = max(lower, max(target[others]) + 1e-5)
        return [float(s) for s in target]

    def plan_normalisation(self, fingerprint: Fingerprint) -> dict[str, ChannelNormalisation]:
        """Returns each channel's scheme from its name, with the dataset statistics it needs."""
        crop_fractions = [np.prod(c.cropped_shape) / np.prod(c.shape) for c in fingerprint.cases]
        use_mask = float(np.median(crop_fractions)) < self.use_mask_below_crop_fraction
        plans = {}
        for index, name in fingerprint.channel_names.items():
            scheme = scheme_for_channel(name)
            stats = fingerprint.intensity_statistics[index]
            parameters = {
                "mean": stats.mean,
                "std": stats.std,
                "percentile_00_5": stats.percentile_00_5,
                "percentile_99_5": stats.percentile_99_5,
            }
            plans[index] = ChannelNormalisation(scheme, use_mask and scheme == "zscore", parameters)
        return plans

    def architecture(self, spacing: list[float], patch_size: list[int]) -> tuple[Architecture, list[int]]:
        """Returns (this planner's network for the patch, the patch rounded up to its total stride)."""
        ndim = len(spacing)
        max_stages = self.max_stages_3d if ndim == 3 else self.max_stages_2d
        max_features = self.max_features_3d if ndim == 3 else self.max_features_2d
        topology, patch = plan_topology(
            spacing, patch_size, max_stages=max_stages, base_features=self.base_features, max_features=max_features, min_edge=self.min_edge
        )
        blocks = None if self.blocks_per_stage is None else list(self.blocks_per_stage[: topology.num_stages])
        if blocks is not None and len(blocks) < topology.num_stages:
            raise AutosegError(f"planner {self.name!r} gives blocks for {len(blocks)} stages; the network has {topology.num_stages}.")
        architecture = replace(
            topology,
            network=self.network,
            block=self.block,
            n_conv_per_stage=self.convs_per_stage,
            n_conv_per_stage_decoder=self.decoder_convs_per_stage,
            n_blocks_per_stage=blocks,
        )
        return architecture, patch

    def fit_patch_and_batch(
        self,
        spacing: list[float],
        median_shape: list[float],
        dataset_voxels: float,
        context: dict,
    ) -> tuple[Architecture, list[int], int, float]:
        """Returns (architecture, patch size, batch size, estimated GB) of the largest patch that fits, aspect kept;
        one batch covers at most the planner's batch fraction of ``dataset_voxels``."""
        in_channels, out_channels, budget_bytes = context["in_channels"], context["out_channels"], context["budget"]
        mixed_precision, decoder = context["mixed_precision"], context["decoder"]
        scale = 1.0
        while True:
            wanted = [max(1, round(m * scale)) for m in median_shape]
            architecture, patch = self.architecture(spacing, wanted)
            network = network_for(architecture)
            memory = network.memory(
                architecture,
                patch,
                in_channels=in_channels,
                out_channels=out_channels,
                batch_size=2,
                mixed_precision=mixed_precision,
                decoder=decoder,
            )
            if memory.total_bytes <= budget_bytes:
                break
            if all(w <= self.min_edge for w in wanted):
                raise AutosegError(
                    f"no patch fits in {budget_bytes / 2**30:.1f} GB of GPU memory, even {patch}; pass a larger --gpu_memory_gb."
                )
            scale *= 0.95
        fixed = network.memory(
            architecture,
            patch,
            in_channels=in_channels,
            out_channels=out_channels,
            batch_size=0,
            mixed_precision=mixed_precision,
            decoder=decoder,
        ).total_bytes
        per_sample = (memory.total_bytes - fixed) / 2
        by_memory = int((budget_bytes - fixed) // per_sample)
        batch_fraction = self.max_batch_fraction if decoder else self.max_batch_fraction_whole_images
        by_coverage = int(batch_fraction * dataset_voxels // np.prod(patch))
        batch = max(2, min(by_memory, by_coverage))
        estimate = network.memory(
            architecture,
            patch,
            in_channels=in_channels,
            out_channels=out_channels,
            batch_size=batch,
            mixed_precision=mixed_precision,
            decoder=decoder,
        )
        return architecture, patch, batch, estimate.total_gb

    def _configuration(self, name, identifier, spacing, *, shapes, fingerprint_axes, context, slice_axis=None) -> Configuration:
        """Plans one configuration; ``shapes`` are the cases' cropped shapes at ``spacing`` (all axes)."""
        in_plane = [a for a in range(shapes.shape[1]) if a != slice_axis]
        median_shape = np.median(shapes[:, in_plane], axis=0).tolist()
        dataset_voxels = float(np.sum(np.prod(shapes, axis=1)))
        architecture, patch, batch, memory_gb = self.fit_patch_and_batch(
            [spacing[a] for a in in_plane], median_shape, dataset_voxels, context
        )
        return Configuration(
            name=name,
            data_identifier=self.data_identifier(identifier),
            spacing=[float(s) for s in spacing],
            patch_size=[int(p) for p in patch],
            batch_size=int(batch),
            architecture=architecture,
            mirror_axes=[i for i, a in enumerate(in_plane) if a in fingerprint_axes],
            median_shape=[int(round(m)) for m in median_shape],
            slice_axis=slice_axis,
            estimated_memory_gb=round(memory_gb, 3),
        )

    def _plan_lowres(self, fingerprint: Fingerprint, fullres: Configuration, axes: list[int], context: dict) -> Configuration | None:
        """The low-resolution configuration (nnU-Net's rule): the spacing grows 3 % per step, only along the axes
        more than twice finer than the coarsest while there are such axes, until the patch covers a quarter of the
        median image (or the spacing is 8 times the full resolution's); None when its median image would hold more
        than half the full resolution's voxels (too little saved for a second stage to be worth training)."""
        fullres_spacing = np.array(fullres.spacing, dtype=float)
        spacing = fullres_spacing.copy()
        while True:
            fine = spacing.max() / spacing > 2
            spacing = np.where(fine if fine.any() else np.ones_like(fine), spacing * 1.03, spacing)
            shapes = fingerprint.shapes_at(spacing)
            config = self._configuration("3d_lowres", "3d_lowres", spacing.tolist(), shapes=shapes, fingerprint_axes=axes, context=context)
            coverage = np.prod(config.patch_size) / np.prod(np.median(shapes, axis=0))
            if coverage >= self.lowres_coverage or np.max(spacing / fullres_spacing) > 8:
                break
        if np.prod(config.median_shape) > 0.5 * np.prod(fullres.median_shape):
            return None
        return config


DEFAULT = register_planner(Planner())


def checked_spacing(spacing, fingerprint: Fingerprint) -> list[float]:
    """A user's target spacing, refused unless it gives one positive value (mm) per axis of the images."""
    values = [float(s) for s in spacing]
    if len(values) != fingerprint.ndim or not all(np.isfinite(values)) or min(values) <= 0:
        median = ", ".join(f"{s:.3g}" for s in np.median(fingerprint.spacings, axis=0))
        raise AutosegError(
            f"--target_spacing {' '.join(map(str, spacing))}: give {fingerprint.ndim} positive spacings in mm, in array axis order "
            f"(the dataset's median is {median})."
        )
    return values


def _flat_axis(fingerprint: Fingerprint) -> int | None:
    """The slice axis of 2D images stored as 3D files (one voxel thick along it in every case), whatever its
    spacing; None for images that extend along every axis."""
    flat = fingerprint.singleton_axes
    if len(flat) == fingerprint.ndim - 1:
        raise AutosegError(
            f"every case of {fingerprint.dataset} is one voxel thick along {len(flat)} of its {fingerprint.ndim} axes; autoseg "
            "plans 2D and 3D images, not lines."
        )
    return flat[0] if flat and fingerprint.ndim == 3 else None


_SIDE = re.compile(r"(^|[_\-\s.])(left|right|l|r|lt|rt)($|[_\-\s.])", re.IGNORECASE)


def _side_free_name(name: str) -> str | None:
    """Returns the name without its left/right token, or None if it has none."""
    stripped, count = _SIDE.subn(r"\1\3", name)
    return re.sub(r"[_\-\s.]+", "_", stripped).strip("_").lower() if count else None


def mirror_axes(fingerprint: Fingerprint, spec: DatasetSpec) -> list[int]:
    """Returns the spatial axes along which flipping keeps every label's meaning.

    An axis is excluded when two classes are each other's mirror image along
    it: their centroids sit on opposite sides of that axis (mean beyond 0.1 of
    the half-extent, the same side in at least 90 % of cases where both are
    present) and level with each other on the other axes (within 0.25), or
    their names differ only by a left/right token. Flipping along such an axis
    would teach the network that left is right. A structure that sits on one
    side alone (the liver) does not block mirroring: a flipped liver is still
    a liver.
    """
    ndim = fingerprint.ndim
    if not task_for(spec).uses_label_geometry:
        return list(range(ndim))
    names = {str(v): n for n, v in spec.labels.items() if not isinstance(v, tuple)}
    values = sorted(k for k in names if k != "0")
    excluded = set()
    for i, first in enumerate(values):
        for second in values[i + 1 :]:
            named_pair = _side_free_name(names[first]) is not None and _side_free_name(names[first]) == _side_free_name(names[second])
            pairs = [
                (c.class_centroids[first], c.class_centroids[second])
                for c in fingerprint.cases
                if first in c.class_centroids and second in c.class_centroids
            ]
            if not pairs:
                continue
            a, b = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
            for axis in range(ndim):
                opposite = np.mean(np.sign(a[:, axis]) != np.sign(b[:, axis])) >= 0.9
                apart = (
                    abs(a[:, axis].mean()) > 0.1
                    and abs(b[:, axis].mean()) > 0.1
                    and np.sign(a[:, axis].mean()) != np.sign(b[:, axis].mean())
                )
                others = [o for o in range(ndim) if o != axis]
                level = all(abs(a[:, o].mean() - b[:, o].mean()) < 0.25 for o in others)
                if opposite and apart and (level or named_pair):
                    excluded.add(axis)
    return [axis for axis in range(ndim) if axis not in excluded]

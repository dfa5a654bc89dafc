"""plans.json: what the planner decided, read by preprocessing, training and prediction.

The JSON is the source of truth: a user may edit it (patch size, batch size,
normalisation) and every later stage honours the edit. See docs/planning.md.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autoseg.errors import AutosegError
from autoseg.io import atomic_write
from autoseg.networks import Architecture, network_for
from autoseg.preprocessing.normalisation import ChannelNormalisation, get_scheme


def plans_file_name(planner: str) -> str:
    """The plans file a planner writes: ``plans.json`` for the default planner, else ``plans_<planner>.json``."""
    return "plans.json" if planner == "default" else f"plans_{planner}.json"


MIN_PATCH_EDGE = 8  # voxels along every axis a network convolves; fewer leave its convolutions mostly padding
# A forward pass without gradients keeps about this fraction of a training step's activations (the skips and a few
# transient maps; measured 0.34-0.36 for the plain 2D U-Net on the CPU at 1024^2 and 2048^2): rounded up.
INFERENCE_ACTIVATION_FRACTION = 0.4
# The share of a device's memory a plan may take: a GPU's nearly all; the machine's RAM less what the system, the
# process, its data and its workers need (a 4096 x 4096 2D patch, about 18 GB per tile, is refused on 24 GB).
MEMORY_SHARE = {"cuda": 0.95, "cpu": 0.7, "mps": 0.7}


@dataclass
class InputSkip:
    """Regression: a target predicted as a correction of an input channel. The network's output for the
    target is ``scale * input[input_channel] + shift + U-Net(input)``, all in normalised units; ``scale``
    and ``shift`` map the input channel's normalisation onto the target's (see docs/planning.md)."""

    input_channel: int
    scale: float
    shift: float = 0.0


@dataclass
class Configuration:
    """One trainable configuration (``2d``, ``3d_fullres``, ``3d_lowres``).

    ``spacing`` and ``patch_size`` follow the preprocessed data's spatial axes.
    For 2D training on 3D data, ``slice_axis`` names the axis that is sliced and
    ``patch_size`` holds the other two; with ``keep_slice_spacing`` each case
    keeps its own spacing along that axis (nnU-Net's ``2d``, which autoseg
    imports) instead of being resampled to ``spacing[slice_axis]``.
    ``data_identifier`` names the preprocessed data folder; configurations
    with equal spacing share it. ``nnunet_inference`` (models imported from
    nnU-Net, autoseg.nnunet) predicts as nnU-Net v2 does where autoseg's
    rules differ: spline resampling clipped to the input's range, outputs
    resampled as logits before the softmax (docs/nnunet.md).
    """

    name: str
    data_identifier: str
    spacing: list[float]
    patch_size: list[int]
    batch_size: int
    architecture: Architecture
    mirror_axes: list[int]
    median_shape: list[int]
    slice_axis: int | None = None
    estimated_memory_gb: float = 0.0
    previous_stage: str | None = None
    spacing_overridden: bool = False  # planned at a target spacing the user gave (plan --target_spacing)
    keep_slice_spacing: bool = False
    nnunet_inference: bool = False

    @property
    def ndim(self) -> int:
        return len(self.patch_size)

    def grid_spacing(self, case_spacing) -> list[float]:
        """The spacing a case of ``case_spacing`` is resampled to: the planned one, except along a kept slice axis."""
        spacing = list(self.spacing)
        if self.keep_slice_spacing:
            spacing[self.slice_axis] = float(case_spacing[self.slice_axis])
        return spacing

    def thin_patch(self) -> str | None:
        """Why the patch is too thin for the network (fewer than MIN_PATCH_EDGE voxels along an axis it convolves),
        or None."""
        convolved = [any(kernel[axis] > 1 for kernel in self.architecture.kernel_sizes) for axis in range(self.ndim)]
        thin = [axis for axis, edge in enumerate(self.patch_size) if edge < MIN_PATCH_EDGE and convolved[axis]]
        if not thin:
            return None
        return (
            f"its patch {self.patch_size} has {self.patch_size[thin[0]]} voxels along axis {thin[0]}, fewer than the "
            f"{MIN_PATCH_EDGE} a network needs along an axis it convolves: the images are too thin along it at the spacing "
            f"{self.spacing}"
        )

    def memory_needed_bytes(self, in_channels: int, out_channels: int, *, decoder: bool, training: bool, mixed_precision: bool) -> int:
        """The modelled peak memory of one training step of the planned batch (``training``), or of one sliding-window
        tile predicted without gradients (autoseg.networks.memory; the inference share is INFERENCE_ACTIVATION_FRACTION)."""
        network = network_for(self.architecture)
        batch = self.batch_size if training else 1
        estimate = network.memory(
            self.architecture,
            self.patch_size,
            in_channels=in_channels,
            out_channels=out_channels,
            batch_size=batch,
            mixed_precision=mixed_precision,
            decoder=decoder,
        )
        if training:
            return estimate.total_bytes
        return int(estimate.activation_bytes * INFERENCE_ACTIVATION_FRACTION + estimate.parameter_bytes / 3 + estimate.workspace_bytes)

    def check_memory(
        self, device, in_channels: int, out_channels: int, *, decoder: bool, training: bool, source: str = "plans.json"
    ) -> None:
        """Raises AutosegError, before anything is allocated, when a training step (or a prediction tile) of this
        configuration needs more memory than ``device`` has (its MEMORY_SHARE): what would otherwise run until the
        kernel kills the process, or fail with an out-of-memory error deep inside the network."""
        from autoseg.device import MIXED_PRECISION, memory_total_bytes

        mixed = device.type in MIXED_PRECISION
        needed = self.memory_needed_bytes(in_channels, out_channels, decoder=decoder, training=training, mixed_precision=mixed)
        total = memory_total_bytes(device)
        usable = MEMORY_SHARE.get(device.type, 1.0) * (total if total is not None else float("inf"))
        if needed > usable:
            what = f"a training step (batch {self.batch_size})" if training else "predicting one tile"
            raise AutosegError(
                f"{source}: configuration {self.name!r} with patch {self.patch_size} needs about {needed / 2**30:.1f} GB for {what}, "
                f"more than the {usable / 2**30:.1f} GB {device} can give it. Use a smaller patch_size"
                f"{' or batch_size' if training else ''} (re-plan with autoseg plan --gpu_memory_gb), or a device with more memory."
            )

    def to_json(self) -> dict:
        data = asdict(self)
        data["architecture"] = self.architecture.to_json()
        for flag in ("spacing_overridden", "keep_slice_spacing", "nnunet_inference"):
            if not data[flag]:
                del data[flag]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Configuration":
        data = dict(data)
        data["architecture"] = Architecture.from_json(data["architecture"])
        return cls(**data)


@dataclass
class Plans:
    dataset: str
    planner: str
    task: str
    gpu_memory_gb: float
    normalisation: dict[str, ChannelNormalisation]
    configurations: dict[str, Configuration]
    target_normalisation: dict[str, ChannelNormalisation] = field(default_factory=dict)
    input_skips: dict[str, InputSkip] = field(default_factory=dict)  # target index -> InputSkip
    class_weights: dict[str, float] = field(default_factory=dict)  # classification: class name -> loss weight
    left_out: dict[str, str] = field(default_factory=dict)  # configuration name -> why the planner did not plan it
    transferred_from: str | None = None  # the plans these were copied from (plan --plans_from)

    def configuration(self, name: str) -> Configuration:
        if name in self.left_out:
            raise AutosegError(f"configuration {name!r} was left out of the plans of {self.dataset}: {self.left_out[name]}.")
        if name not in self.configurations:
            raise AutosegError(f"configuration {name!r} is not in the plans of {self.dataset}; planned: {', '.join(self.configurations)}.")
        return self.configurations[name]

    def to_json(self) -> dict:
        return {
            "dataset": self.dataset,
            "planner": self.planner,
            "task": self.task,
            "gpu_memory_gb": self.gpu_memory_gb,
            "normalisation": {k: asdict(v) for k, v in self.normalisation.items()},
            "target_normalisation": {k: asdict(v) for k, v in self.target_normalisation.items()},
            "input_skips": {k: asdict(v) for k, v in self.input_skips.items()},
            "class_weights": dict(self.class_weights),
            "configurations": {k: v.to_json() for k, v in self.configurations.items()},
            **({"left_out": dict(self.left_out)} if self.left_out else {}),
            **({"transferred_from": self.transferred_from} if self.transferred_from else {}),
        }

    @classmethod
    def from_json(cls, data: dict) -> "Plans":
        return cls(
            dataset=data["dataset"],
            planner=data["planner"],
            task=data["task"],
            gpu_memory_gb=data["gpu_memory_gb"],
            normalisation={k: ChannelNormalisation(**v) for k, v in data["normalisation"].items()},
            target_normalisation={k: ChannelNormalisation(**v) for k, v in data.get("target_normalisation", {}).items()},
            input_skips={k: InputSkip(**v) for k, v in data.get("input_skips", {}).items()},
            class_weights=dict(data.get("class_weights", {})),
            configurations={k: Configuration.from_json(v) for k, v in data["configurations"].items()},
            left_out=dict(data.get("left_out", {})),
            transferred_from=data.get("transferred_from"),
        )

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n"))

    @classmethod
    def load(cls, path: Path) -> "Plans":
        """Reads plans.json; raises AutosegError naming the file and the problem if it is missing or malformed."""
        path = Path(path)
        if not path.is_file():
            raise AutosegError(f"{path} not found; run `autoseg plan` (or plan_and_preprocess) for this dataset first.")
        try:
            plans = cls.from_json(json.loads(path.read_text()))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise AutosegError(
                f"{path} is not valid plans ({type(error).__name__}: {error}); fix the edit or re-run `autoseg plan --overwrite`."
            ) from error
        plans.validate(path)
        return plans

    def validate(self, source: Path | str = "plans.json") -> None:
        """Raises AutosegError if an edited value cannot work (e.g. a patch not divisible by the network's strides)."""
        for channel in list(self.normalisation.values()) + list(self.target_normalisation.values()):
            get_scheme(channel.scheme)
        for name, weight in self.class_weights.items():
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not weight > 0:
                raise AutosegError(f"{source}: class_weights[{name!r}] must be a positive number, got {weight!r}.")
        for target, skip in self.input_skips.items():
            if target not in self.target_normalisation or str(skip.input_channel) not in self.normalisation:
                raise AutosegError(
                    f"{source}: input_skips maps target {target!r} to input channel {skip.input_channel!r}; "
                    f"targets are {', '.join(self.target_normalisation) or 'none'}, input channels "
                    f"{', '.join(self.normalisation)}. Fix or delete the entry."
                )
        for name, config in self.configurations.items():
            where = f"{source}: configuration {name!r}"
            architecture_problem = _architecture_problem(config.architecture)
            if architecture_problem:
                raise AutosegError(f"{where}: {architecture_problem}.")
            network_for(config.architecture, where)
            if not all(_positive_number(value) for value in config.spacing):
                raise AutosegError(f"{where}: spacing {config.spacing} must be positive millimetres along every axis.")
            if not _positive_int(config.batch_size):
                raise AutosegError(f"{where}: batch_size must be at least 1, got {config.batch_size}.")
            if len(config.patch_size) != config.architecture.ndim or len(config.spacing) != (
                config.ndim if config.slice_axis is None else config.ndim + 1
            ):
                raise AutosegError(
                    f"{where}: patch_size {config.patch_size} and spacing {config.spacing} do not fit a "
                    f"{config.architecture.ndim}D network."
                )
            if config.keep_slice_spacing and config.slice_axis is None:
                raise AutosegError(f"{where}: keep_slice_spacing is for 2D configurations of 3D images; set slice_axis or remove it.")
            thin = config.thin_patch()
            if thin:
                raise AutosegError(f"{where}: {thin}.")
            divisor = config.architecture.total_stride()
            if not all(_positive_int(p) for p in config.patch_size) or any(p % d for p, d in zip(config.patch_size, divisor)):
                raise AutosegError(
                    f"{where}: patch_size {config.patch_size} must be positive multiples of {divisor} (the network's total "
                    "stride per axis)."
                )
            if any(not _int(a) or a < 0 or a >= config.ndim for a in config.mirror_axes):
                raise AutosegError(f"{where}: mirror_axes {config.mirror_axes} must be spatial axes 0..{config.ndim - 1}.")


def _int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value) -> bool:
    return _int(value) and value > 0


def _positive_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _architecture_problem(architecture: Architecture) -> str | None:
    """What makes an edited architecture unbuildable: stage lists of different lengths or axis counts, or a stride,
    kernel size or feature count that is not a positive whole number."""
    stages = len(architecture.features_per_stage)
    if not stages or len(architecture.kernel_sizes) != stages or len(architecture.strides) != stages:
        return (
            f"features_per_stage, kernel_sizes and strides must have one entry per stage; got {stages}, "
            f"{len(architecture.kernel_sizes)} and {len(architecture.strides)}"
        )
    if not all(_positive_int(f) for f in architecture.features_per_stage):
        return f"features_per_stage {architecture.features_per_stage} must be positive whole numbers"
    for key in ("kernel_sizes", "strides"):
        values = getattr(architecture, key)
        if not all(isinstance(v, list) and len(v) == len(values[0]) and all(_positive_int(x) for x in v) for v in values):
            return f"{key} {values} must list, per stage, one positive whole number per axis"
    return None

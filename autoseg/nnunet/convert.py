"""nnU-Net v2's plans and weights in autoseg's terms.

nnU-Net transposes each image (``transpose_forward``) before preprocessing,
so its plans and its networks' kernels list the axes in that order. autoseg
keeps the image's own order and instead permutes the plans' per-axis lists
and each convolution kernel's axes: a convolution over transposed axes is
the same convolution with its kernel's axes permuted back, so the imported
network computes exactly what nnU-Net's computes on the transposed image.

nnU-Net's ``2d`` on 3D images keeps each case's spacing along the sliced
axis (``keep_slice_spacing``); its 2D images (PNG, or 2D NIfTI) carry a
dummy first axis of 999 times the in-plane spacing, which autoseg's 2D
images do not have.
"""

from __future__ import annotations

import re

import torch

from autoseg.errors import AutosegError
from autoseg.networks import Architecture
from autoseg.nnunet.model_folder import NnUNetModel
from autoseg.plans import Configuration, Plans
from autoseg.preprocessing.normalisation import ChannelNormalisation

SCHEMES = {
    "ZScoreNormalization": "zscore",
    "CTNormalization": "ct",
    "NoNormalization": "noNorm",
    "RescaleTo01Normalization": "rescale_to_0_1",
    "RGBTo01Normalization": "rgb",
    "RGBTo0_1Normalization": "rgb",
}
NETWORKS = {"PlainConvUNet": ("unet", "conv"), "ResidualEncoderUNet": ("resenc_unet", "basic_d")}
GPU_MEMORY_GB = {"nnUNetResEncUNetLPlans": 24.0, "nnUNetResEncUNetXLPlans": 40.0}  # else nnU-Net's default target, 8 GB
IMAGE_READERS = ("SimpleITKIO", "NibabelIO", "NaturalImage2DIO", "Tiff3DIO")  # give the axis order autoseg's readers give

# nnU-Net's tensor names -> autoseg's (dynamic_network_architectures' PlainConvUNet and ResidualEncoderUNet).
RENAMES = [
    (r"encoder\.stages\.(\d+)\.0\.convs\.(\d+)\.conv\.(weight|bias)", r"encoder.stages.\1.\2.0.\3"),
    (r"encoder\.stages\.(\d+)\.0\.convs\.(\d+)\.norm\.(weight|bias)", r"encoder.stages.\1.\2.1.\3"),
    (r"encoder\.stem\.convs\.0\.conv\.(weight|bias)", r"encoder.stem.0.\1"),
    (r"encoder\.stem\.convs\.0\.norm\.(weight|bias)", r"encoder.stem.1.\1"),
    (r"encoder\.stages\.(\d+)\.blocks\.(\d+)\.conv1\.conv\.(weight|bias)", r"encoder.stages.\1.\2.conv1.0.\3"),
    (r"encoder\.stages\.(\d+)\.blocks\.(\d+)\.conv1\.norm\.(weight|bias)", r"encoder.stages.\1.\2.conv1.1.\3"),
    (r"encoder\.stages\.(\d+)\.blocks\.(\d+)\.conv2\.conv\.(weight|bias)", r"encoder.stages.\1.\2.conv2.\3"),
    (r"encoder\.stages\.(\d+)\.blocks\.(\d+)\.conv2\.norm\.(weight|bias)", r"encoder.stages.\1.\2.norm2.\3"),
    (r"decoder\.stages\.(\d+)\.convs\.(\d+)\.conv\.(weight|bias)", r"decoder.\1.\2.0.\3"),
    (r"decoder\.stages\.(\d+)\.convs\.(\d+)\.norm\.(weight|bias)", r"decoder.\1.\2.1.\3"),
    (r"decoder\.transpconvs\.(\d+)\.(weight|bias)", r"upsample.\1.\2"),
    (r"decoder\.seg_layers\.(\d+)\.(weight|bias)", r"heads.\1.\2"),
]
SKIP = re.compile(r"(encoder\.stages\.\d+)\.blocks\.(\d+)\.skip\.(\d+)\.(conv|norm)\.(weight|bias)")


class AxisOrder:
    """Where the network's axes lie among the image's: ``order[i]`` is the image axis (autoseg's order, no channel
    axis) of the network's axis ``i``; autoseg's network takes them ascending, ``permutation`` picks them."""

    def __init__(self, order: list[int]):
        self.order = list(order)
        self.permutation = [self.order.index(axis) for axis in sorted(self.order)]

    def lists(self, values: list) -> list:
        """A per-axis list of the plans (network order) in autoseg's order."""
        return [values[index] for index in self.permutation]

    def kernel(self, tensor: torch.Tensor) -> torch.Tensor:
        """A convolution weight (out, in, *kernel) with its kernel axes in autoseg's order."""
        if tensor.ndim < 3:
            return tensor
        return tensor.permute(0, 1, *(2 + index for index in self.permutation)).contiguous()

    def mirror_axes(self, axes) -> list[int]:
        """nnU-Net's mirror axes (the network's spatial axes) as autoseg's."""
        ascending = sorted(self.order)
        return sorted(ascending.index(self.order[axis]) for axis in axes)


def is_2d_dataset(plans: dict) -> bool:
    """Whether nnU-Net read the dataset's images as 2D: its readers give them a first axis of one voxel, 999 times
    the in-plane spacing."""
    shape, spacing = plans.get("original_median_shape_after_transp"), plans.get("original_median_spacing_after_transp")
    if not shape or not spacing or len(shape) != 3:
        return False
    return shape[0] == 1 and spacing[0] >= 100 * max(spacing[1:])


def axis_order(model: NnUNetModel, configuration: dict) -> tuple[AxisOrder, int | None]:
    """The network's axes among autoseg's image axes, and the axis a 2D network slices 3D images along (or None)."""
    transpose = [int(axis) for axis in model.plans["transpose_forward"]]
    if sorted(transpose) != [0, 1, 2]:
        raise AutosegError(f"{model.folder / 'plans.json'}: transpose_forward {transpose} is not a permutation of 3 axes.")
    reader = model.plans.get("image_reader_writer", "SimpleITKIO")
    if reader not in IMAGE_READERS:
        raise AutosegError(
            f"{model.folder / 'plans.json'}: the model was trained on images read by nnU-Net's {reader}, whose axes autoseg's "
            f"readers do not reproduce (supported: {', '.join(IMAGE_READERS)}); re-export the images in their stored orientation."
        )
    network_dims = len(configuration["patch_size"])
    if is_2d_dataset(model.plans):
        if transpose[0] != 0:
            raise AutosegError(
                f"{model.folder / 'plans.json'}: a 2D dataset transposed by {transpose}; nnU-Net keeps its dummy axis first."
            )
        return AxisOrder([axis - 1 for axis in transpose[1:]]), None
    if network_dims == 3:
        return AxisOrder(transpose), None
    return AxisOrder(transpose[1:]), transpose[0]


def architecture(model: NnUNetModel, configuration: dict, axes: AxisOrder) -> Architecture:
    """The autoseg architecture of a configuration's network; AutosegError for a network autoseg does not build
    exactly as nnU-Net does."""
    where = f"{model.folder / 'plans.json'}: configuration {model.configuration_name!r}"
    network = configuration.get("architecture", {})
    class_name = str(network.get("network_class_name", "")).rsplit(".", 1)[-1]
    if class_name not in NETWORKS:
        raise AutosegError(f"{where} uses the network {class_name or '(none)'}; autoseg imports {', '.join(NETWORKS)}.")
    kwargs = network["arch_kwargs"]
    ndim = len(configuration["patch_size"])
    stages = int(kwargs["n_stages"])

    def per_stage(value, count):
        return list(value) if isinstance(value, (list, tuple)) else [value] * count

    norm, nonlin = str(kwargs.get("norm_op") or ""), str(kwargs.get("nonlin") or "")
    norm_kwargs, nonlin_kwargs = kwargs.get("norm_op_kwargs") or {}, kwargs.get("nonlin_kwargs") or {}
    problems = []
    if not norm.endswith(f"InstanceNorm{ndim}d") or not norm_kwargs.get("affine", False) or norm_kwargs.get("eps", 1e-5) != 1e-5:
        problems.append(f"norm_op {norm or None} {norm_kwargs} (autoseg builds affine instance norm, eps 1e-5)")
    if nonlin.rsplit(".", 1)[-1] not in ("LeakyReLU", "ReLU"):
        problems.append(f"nonlin {nonlin or None} (autoseg builds leaky ReLU)")
    if kwargs.get("nonlin_first"):
        problems.append("nonlin_first (autoseg normalises before the non-linearity)")
    if class_name == "ResidualEncoderUNet":
        if str(kwargs.get("block", "BasicBlockD")).rsplit(".", 1)[-1] != "BasicBlockD":
            problems.append(f"block {kwargs.get('block')} (autoseg builds BasicBlockD)")
        if kwargs.get("stem_channels") not in (None, per_stage(kwargs["features_per_stage"], stages)[0]):
            problems.append(f"stem_channels {kwargs.get('stem_channels')} (autoseg's stem has the first stage's features)")
        if kwargs.get("squeeze_excitation"):
            problems.append("squeeze_excitation")
    decoder = per_stage(kwargs["n_conv_per_stage_decoder"], stages - 1)
    if len(set(decoder)) > 1:
        problems.append(f"n_conv_per_stage_decoder {decoder} (autoseg's decoder stages have one count)")
    if problems:
        raise AutosegError(f"{where}: its network differs from what autoseg builds: {'; '.join(problems)}.")
    name, block = NETWORKS[class_name]
    blocks = per_stage(kwargs["n_blocks_per_stage" if class_name == "ResidualEncoderUNet" else "n_conv_per_stage"], stages)
    slope = 0.0 if nonlin.endswith(".ReLU") or nonlin == "ReLU" else float(nonlin_kwargs.get("negative_slope", 0.01))
    return Architecture(
        features_per_stage=per_stage(kwargs["features_per_stage"], stages),
        kernel_sizes=[axes.lists(list(k)) for k in per_stage(kwargs["kernel_sizes"], stages)],
        strides=[axes.lists(list(s)) for s in per_stage(kwargs["strides"], stages)],
        n_conv_per_stage=blocks[0],
        n_conv_per_stage_decoder=decoder[0] if decoder else 1,
        deep_supervision=True,
        negative_slope=slope,
        network=name,
        block=block,
        n_blocks_per_stage=blocks,
        upsample_bias=True,
    )


def normalisation(model: NnUNetModel, configuration: dict) -> dict[str, ChannelNormalisation]:
    schemes, masks = configuration["normalization_schemes"], configuration.get("use_mask_for_norm", [])
    properties = model.plans.get("foreground_intensity_properties_per_channel", {})
    channels = {}
    for index, scheme in enumerate(schemes):
        if scheme not in SCHEMES:
            raise AutosegError(
                f"{model.folder / 'plans.json'}: channel {index} is normalised with {scheme}, which autoseg does not have "
                f"(it imports {', '.join(sorted(set(SCHEMES)))})."
            )
        parameters = {}
        if SCHEMES[scheme] == "ct":
            statistics = properties.get(str(index), {})
            parameters = {key: float(statistics[key]) for key in ("mean", "std", "percentile_00_5", "percentile_99_5") if key in statistics}
            if len(parameters) < 4:
                raise AutosegError(f"{model.folder / 'plans.json'}: channel {index} (CT) lacks its foreground intensity statistics.")
        use_mask = bool(masks[index]) if index < len(masks) else False
        channels[str(index)] = ChannelNormalisation(SCHEMES[scheme], use_mask, parameters)
    return channels


def configuration_of(model: NnUNetModel, mirror_axes) -> tuple[Configuration, AxisOrder]:
    """autoseg's Configuration of the model's configuration (``mirror_axes``: from its checkpoint, nnU-Net's axes);
    AutosegError naming the file when the plans lack a value or hold one of the wrong kind."""
    try:
        return _configuration_of(model, mirror_axes)
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise AutosegError(
            f"{model.folder / 'plans.json'}: configuration {model.configuration_name!r} cannot be read ({type(error).__name__}: "
            f"{error}); is it plans written by nnU-Net v2, unedited?"
        ) from error


def _configuration_of(model: NnUNetModel, mirror_axes) -> tuple[Configuration, AxisOrder]:
    raw = model.configuration()
    axes, slice_axis = axis_order(model, raw)
    spacing = axes.lists([float(s) for s in raw["spacing"]])
    median = axes.lists([int(round(float(s))) for s in raw.get("median_image_size_in_voxels", raw["patch_size"])])
    if slice_axis is not None:  # a 2D network on 3D images: each case keeps its spacing along the sliced axis
        median_spacing = model.plans["original_median_spacing_after_transp"]
        spacing.insert(slice_axis, float(median_spacing[0]))
    configuration = Configuration(
        name=model.configuration_name,
        data_identifier=str(raw.get("data_identifier", f"nnunet_{model.configuration_name}")),
        spacing=spacing,
        patch_size=axes.lists([int(p) for p in raw["patch_size"]]),
        batch_size=int(raw.get("batch_size", 2)),
        architecture=architecture(model, raw, axes),
        mirror_axes=axes.mirror_axes(mirror_axes or ()),
        median_shape=median,
        slice_axis=slice_axis,
        previous_stage=raw.get("previous_stage"),
        keep_slice_spacing=slice_axis is not None,
        nnunet_inference=True,
    )
    return configuration, axes


def plans_of(model: NnUNetModel, configurations: list[Configuration], dataset: str) -> Plans:
    """autoseg's plans holding ``configurations`` of ``model`` (its configuration, and a cascade's first stage)."""
    schemes = [normalisation(model, model.configuration(c.name)) for c in configurations]
    if any(scheme != schemes[0] for scheme in schemes[1:]):
        raise AutosegError(f"{model.folder / 'plans.json'}: the cascade's stages normalise the channels differently.")
    return Plans(
        dataset=dataset,
        planner=f"nnunet:{model.plans_name}",
        task="segmentation",
        gpu_memory_gb=GPU_MEMORY_GB.get(model.plans_name, 8.0),
        normalisation=schemes[0],
        configurations={c.name: c for c in configurations},
    )


def state_dict(weights: dict[str, torch.Tensor], axes: AxisOrder, source: str) -> dict[str, torch.Tensor]:
    """nnU-Net's network weights under autoseg's names, kernel axes in autoseg's order. nnU-Net's modules appear
    twice in its state dict (``all_modules``, ``decoder.encoder``): those copies are left out."""
    converted = {}
    for name, tensor in weights.items():
        name = re.sub(r"^(module\.|_orig_mod\.)+", "", name)
        if ".all_modules." in name or name.startswith("decoder.encoder."):
            continue
        skip = SKIP.fullmatch(name)
        if skip:  # nnU-Net's skip: [pool,] conv block; autoseg's: [pool,] conv, norm
            stage, block, index, part, kind = skip.groups()
            target = f"{stage}.{block}.skip.{int(index) + (part == 'norm')}.{kind}"
        else:
            target = next((re.sub(pattern, replacement, name) for pattern, replacement in RENAMES if re.fullmatch(pattern, name)), None)
        if target is None:
            raise AutosegError(
                f"{source}: the tensor {name} has no place in autoseg's network; is the plans' architecture the one trained?"
            )
        converted[target] = axes.kernel(tensor.detach().to(torch.float32))
    return converted


def load_weights(network: torch.nn.Module, weights: dict[str, torch.Tensor], source: str) -> None:
    """Loads converted weights; a convolution nnU-Net built without a bias (``conv_bias`` false) gets a zero one."""
    expected = network.state_dict()
    unknown = sorted(set(weights) - set(expected))
    missing = [name for name in expected if name not in weights]
    absent_bias = [name for name in missing if name.endswith(".bias") and name[: -len("bias")] + "weight" in weights]
    if unknown or set(missing) - set(absent_bias):
        listed = unknown[:3] + sorted(set(missing) - set(absent_bias))[:3]
        raise AutosegError(f"{source}: the weights do not fit the network the plans describe ({', '.join(listed)}, ...).")
    for name in absent_bias:
        weights[name] = torch.zeros_like(expected[name])
    for name, tensor in weights.items():
        if tuple(tensor.shape) != tuple(expected[name].shape):
            raise AutosegError(f"{source}: {name} has shape {tuple(tensor.shape)}; the plans' network needs {tuple(expected[name].shape)}.")
    network.load_state_dict(weights)

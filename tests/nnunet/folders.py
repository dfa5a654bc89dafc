"""nnU-Net v2 model folders and raw images, written as nnU-Net writes them, from a seed.

The tests import models through these folders without nnU-Net installed;
``make_references.py`` (run once in a venv with nnunetv2) predicts the same
folders with nnU-Net itself and stores its label maps in tests/data/nnunet/,
which the tests compare autoseg's predictions with. So this module uses only
NumPy, torch and SimpleITK (no autoseg): both environments run it, and the
same seed gives the same weights and images in both.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import torch

PLAIN = "dynamic_network_architectures.architectures.unet.PlainConvUNet"
RESENC = "dynamic_network_architectures.architectures.unet.ResidualEncoderUNet"


@dataclass
class Stage:
    """One configuration of the plans, in nnU-Net's (transposed) axis order."""

    name: str
    spacing: list[float]
    patch_size: list[int]
    strides: list[list[int]]
    kernel_sizes: list[list[int]]
    features: list[int]
    network: str = PLAIN
    normalization: list[str] = field(default_factory=lambda: ["ZScoreNormalization"])
    use_mask: list[bool] = field(default_factory=lambda: [False])
    mirror_axes: tuple[int, ...] = (0, 1, 2)
    previous_stage: str | None = None


@dataclass
class Scenario:
    """A dataset and its trained configurations, as nnU-Net would have them."""

    name: str
    channels: dict[str, str]
    labels: dict
    stages: list[Stage]
    transpose: list[int]
    image_shape: tuple[int, ...]  # in autoseg's (SimpleITK's array) order; two axes for a 2D dataset
    image_spacing: tuple[float, ...]
    cases: int = 2
    regions_class_order: list[int] | None = None
    seed: int = 0
    reader: str = "SimpleITKIO"

    @property
    def is_2d(self) -> bool:
        return len(self.image_shape) == 2

    @property
    def dataset_name(self) -> str:
        return f"Dataset990_{self.name}"


def _weights(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
    return torch.from_numpy((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32))


def _conv_block(state: dict, prefix: str, rng, c_in: int, c_out: int, kernel: list[int], bias: bool = True) -> None:
    """A ConvDropoutNormReLU: conv and norm, and the same tensors again under ``all_modules`` as nnU-Net saves them."""
    conv = _weights(rng, (c_out, c_in, *kernel), c_in * int(np.prod(kernel)))
    state[f"{prefix}.conv.weight"] = conv
    if bias:
        state[f"{prefix}.conv.bias"] = torch.from_numpy((0.1 * rng.standard_normal(c_out)).astype(np.float32))
    state[f"{prefix}.norm.weight"] = torch.from_numpy((1 + 0.1 * rng.standard_normal(c_out)).astype(np.float32))
    state[f"{prefix}.norm.bias"] = torch.from_numpy((0.1 * rng.standard_normal(c_out)).astype(np.float32))
    for index, part in ((0, "conv"), (1, "norm")):
        for kind in ("weight", "bias"):
            if f"{prefix}.{part}.{kind}" in state:
                state[f"{prefix}.all_modules.{index}.{kind}"] = state[f"{prefix}.{part}.{kind}"]


def network_weights(stage: Stage, in_channels: int, out_channels: int, seed: int) -> OrderedDict:
    """The state dict of dynamic_network_architectures' PlainConvUNet or ResidualEncoderUNet (2 conv blocks per
    plain stage, 1 or 2 residual blocks per stage, 1 conv block per decoder stage for ResEnc, else 2), seeded."""
    rng = np.random.default_rng(seed)
    state: OrderedDict = OrderedDict()
    features, kernels, strides = stage.features, stage.kernel_sizes, stage.strides
    c_in = in_channels
    if stage.network == RESENC:
        _conv_block(state, "encoder.stem.convs.0", rng, in_channels, features[0], kernels[0])
        c_in = features[0]
    for s, (f, kernel, stride) in enumerate(zip(features, kernels, strides)):
        if stage.network == PLAIN:
            for i in range(2):
                _conv_block(state, f"encoder.stages.{s}.0.convs.{i}", rng, c_in if i == 0 else f, f, kernel)
        else:
            for b in range(1 if s == 0 else 2):
                prefix = f"encoder.stages.{s}.blocks.{b}"
                first_in = c_in if b == 0 else f
                _conv_block(state, f"{prefix}.conv1", rng, first_in, f, kernel)
                _conv_block(state, f"{prefix}.conv2", rng, f, f, kernel)
                if first_in != f:  # a projection ([pool,] conv block); a strided block of equal widths only pools
                    index = 1 if any(x != 1 for x in stride) else 0
                    _conv_block(state, f"{prefix}.skip.{index}", rng, first_in, f, [1] * len(kernel), bias=False)
        c_in = f
    for key in [k for k in state if k.startswith("encoder.")]:
        state[f"decoder.{key}"] = state[key]  # the decoder holds the encoder too
    decoder_convs = 2 if stage.network == PLAIN else 1
    for d in range(len(features) - 1):
        below, here = features[-(d + 1)], features[-(d + 2)]
        stride = strides[-(d + 1)]
        state[f"decoder.transpconvs.{d}.weight"] = _weights(rng, (below, here, *stride), below)
        state[f"decoder.transpconvs.{d}.bias"] = torch.from_numpy((0.1 * rng.standard_normal(here)).astype(np.float32))
        for i in range(decoder_convs):
            _conv_block(state, f"decoder.stages.{d}.convs.{i}", rng, 2 * here if i == 0 else here, here, kernels[-(d + 2)])
        ndim = len(stride)
        state[f"decoder.seg_layers.{d}.weight"] = 3 * _weights(rng, (out_channels, here, *[1] * ndim), here)
        state[f"decoder.seg_layers.{d}.bias"] = torch.from_numpy(rng.standard_normal(out_channels).astype(np.float32))
    return state


def _architecture(stage: Stage) -> dict:
    ndim = len(stage.patch_size)
    n = len(stage.features)
    kwargs = {
        "n_stages": n,
        "features_per_stage": stage.features,
        "conv_op": f"torch.nn.modules.conv.Conv{ndim}d",
        "kernel_sizes": stage.kernel_sizes,
        "strides": stage.strides,
        "n_conv_per_stage_decoder": [2 if stage.network == PLAIN else 1] * (n - 1),
        "conv_bias": True,
        "norm_op": f"torch.nn.modules.instancenorm.InstanceNorm{ndim}d",
        "norm_op_kwargs": {"eps": 1e-05, "affine": True},
        "dropout_op": None,
        "dropout_op_kwargs": None,
        "nonlin": "torch.nn.LeakyReLU",
        "nonlin_kwargs": {"inplace": True},
    }
    if stage.network == PLAIN:
        kwargs["n_conv_per_stage"] = [2] * n
    else:
        kwargs["n_blocks_per_stage"] = [1] + [2] * (n - 1)
    return {
        "network_class_name": stage.network,
        "arch_kwargs": kwargs,
        "_kw_requires_import": ["conv_op", "norm_op", "dropout_op", "nonlin"],
    }


def _configuration(stage: Stage) -> dict:
    resampling = {"is_seg": False, "order": 3, "order_z": 0, "force_separate_z": None}
    return {
        "data_identifier": f"nnUNetPlans_{stage.name}",
        "preprocessor_name": "DefaultPreprocessor",
        "batch_size": 2,
        "patch_size": stage.patch_size,
        "median_image_size_in_voxels": [float(p) for p in stage.patch_size],
        "spacing": stage.spacing,
        "normalization_schemes": stage.normalization,
        "use_mask_for_norm": stage.use_mask,
        "resampling_fn_data": "resample_data_or_seg_to_shape",
        "resampling_fn_seg": "resample_data_or_seg_to_shape",
        "resampling_fn_data_kwargs": resampling,
        "resampling_fn_seg_kwargs": {**resampling, "is_seg": True, "order": 1},
        "resampling_fn_probabilities": "resample_data_or_seg_to_shape",
        "resampling_fn_probabilities_kwargs": {**resampling, "order": 1},
        "architecture": _architecture(stage),
        "batch_dice": True,
    }


def plans(scenario: Scenario) -> dict:
    spacing = list(scenario.image_spacing)
    shape = list(scenario.image_shape)
    if scenario.is_2d:
        spacing, shape = [999.0 * max(spacing), *spacing], [1, *shape]
    transposed_spacing = [spacing[axis] for axis in scenario.transpose]
    transposed_shape = [shape[axis] for axis in scenario.transpose]
    backward = [int(i) for i in np.argsort(scenario.transpose)]
    return {
        "dataset_name": scenario.dataset_name,
        "plans_name": "nnUNetPlans",
        "original_median_spacing_after_transp": transposed_spacing,
        "original_median_shape_after_transp": transposed_shape,
        "image_reader_writer": scenario.reader,
        "transpose_forward": list(scenario.transpose),
        "transpose_backward": backward,
        "configurations": {
            stage.name: (
                {"inherits_from": "3d_fullres", "previous_stage": stage.previous_stage} if stage.previous_stage else _configuration(stage)
            )
            for stage in scenario.stages
        },
        "experiment_planner_used": "ExperimentPlanner",
        "label_manager": "LabelManager",
        "foreground_intensity_properties_per_channel": {
            str(c): {
                "max": 900.0,
                "mean": 120.0,
                "median": 110.0,
                "min": -50.0,
                "percentile_00_5": -20.0,
                "percentile_99_5": 600.0,
                "std": 80.0,
            }
            for c in range(len(scenario.channels))
        },
    }


def dataset_json(scenario: Scenario) -> dict:
    data = {"channel_names": scenario.channels, "labels": scenario.labels, "numTraining": 10, "file_ending": ".nii.gz"}
    if scenario.regions_class_order:
        data["regions_class_order"] = scenario.regions_class_order
    return data


def output_channels(scenario: Scenario) -> int:
    values = [v for k, v in scenario.labels.items() if k != "background"]
    return len(values) if scenario.regions_class_order else len(values) + 1


def write_model(scenario: Scenario, results: Path) -> dict[str, Path]:
    """Writes one model folder per configuration (fold 0, checkpoint_final.pth as nnU-Net's trainer saves it) into
    ``results/DatasetXXX_Name``; returns them by configuration."""
    dataset = Path(results) / scenario.dataset_name
    folders = {}
    all_plans, description = plans(scenario), dataset_json(scenario)
    foreground = output_channels(scenario) - (0 if scenario.regions_class_order else 1)
    for index, stage in enumerate(scenario.stages):
        if stage.name == "3d_fullres" and any(s.previous_stage for s in scenario.stages):
            continue  # a cascade's 3d_fullres is its second stage's plan, not a model of its own here
        folder = dataset / f"nnUNetTrainer__nnUNetPlans__{stage.name}"
        (folder / "fold_0").mkdir(parents=True, exist_ok=True)
        (folder / "plans.json").write_text(json.dumps(all_plans, indent=4))
        (folder / "dataset.json").write_text(json.dumps(description, indent=4))
        (folder / "dataset_fingerprint.json").write_text(json.dumps({"spacings": [list(scenario.image_spacing)]}, indent=4))
        in_channels = len(scenario.channels) + (foreground if stage.previous_stage else 0)
        weights = network_weights(stage, in_channels, output_channels(scenario), scenario.seed + index)
        checkpoint = {
            "network_weights": weights,
            "optimizer_state": {"state": {}, "param_groups": [{"lr": 0.01, "momentum": 0.99, "nesterov": True, "params": [0, 1]}]},
            "grad_scaler_state": None,
            "logging": {
                "mean_fg_dice": [np.float32(0.5)],
                "ema_fg_dice": [np.float64(0.5)],
                "lrs": [0.01],
                "dice_per_class_or_region": [[np.float64(0.5)]],
            },
            "_best_ema": np.float64(0.5),
            "current_epoch": 1000,
            "init_args": {
                "plans": all_plans,
                "configuration": stage.name,
                "fold": 0,
                "dataset_json": description,
                "device": torch.device("cpu"),
            },
            "trainer_name": "nnUNetTrainer",
            "inference_allowed_mirroring_axes": tuple(stage.mirror_axes),
        }
        torch.save(checkpoint, folder / "fold_0" / "checkpoint_final.pth")
        folders[stage.name] = folder
    return folders


def write_images(scenario: Scenario, folder: Path) -> list[str]:
    """Writes the scenario's cases (channels ``CASE_000C.nii.gz``: blobs inside a frame of zeros, so cropping and
    masked normalisation have work to do); returns the case ids."""
    rng = np.random.default_rng(scenario.seed + 100)
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for case in range(scenario.cases):
        shape = scenario.image_shape
        grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
        radius = np.sqrt(sum(g**2 for g in grid))
        inside = radius < 0.85
        case_id = f"{scenario.name.lower()}_{case:03d}"
        for channel in range(len(scenario.channels)):
            blobs = sum(np.exp(-sum((g - c) ** 2 for g, c in zip(grid, rng.uniform(-0.5, 0.5, len(shape)))) / 0.05) for _ in range(3))
            image = (100 + 300 * blobs + 20 * rng.standard_normal(shape)) * inside
            itk = sitk.GetImageFromArray(image.astype(np.float32))
            itk.SetSpacing(tuple(float(s) for s in reversed(scenario.image_spacing)))
            itk.SetOrigin(tuple(float(10 * i) for i in range(len(shape))))
            sitk.WriteImage(itk, str(folder / f"{case_id}_{channel:04d}.nii.gz"))
        cases.append(case_id)
    return cases


def _isotropic(name: str, ndim: int, features: list[int], network: str = PLAIN, **options) -> Stage:
    strides = [[1] * ndim] + [[2] * ndim] * (len(features) - 1)
    return Stage(name=name, strides=strides, kernel_sizes=[[3] * ndim] * len(features), features=features, network=network, **options)


SCENARIOS = {
    # 3D, two channels (CT with the dataset's statistics, MR z-scored inside the mask), the coarse axis last in the
    # images: nnU-Net transposes it first; several tiles, mirroring along two axes only.
    "transposed": Scenario(
        name="Transposed",
        channels={"0": "CT", "1": "MR"},
        labels={"background": 0, "a": 1, "b": 2},
        stages=[
            Stage(
                name="3d_fullres",
                spacing=[4.0, 1.5, 1.0],
                patch_size=[8, 16, 16],
                strides=[[1, 1, 1], [1, 2, 2], [2, 2, 2]],
                kernel_sizes=[[1, 3, 3], [3, 3, 3], [3, 3, 3]],
                features=[4, 8, 16],
                normalization=["CTNormalization", "ZScoreNormalization"],
                use_mask=[False, True],
                mirror_axes=(1, 2),
            )
        ],
        transpose=[2, 0, 1],
        image_shape=(22, 30, 11),
        image_spacing=(1.2, 1.0, 4.5),
    ),
    # 2D network on 3D images, residual encoder, BraTS-like regions painted in regions_class_order.
    "regions_2d": Scenario(
        name="Regions2D",
        channels={"0": "T1", "1": "FLAIR"},
        labels={"background": 0, "whole": [1, 2, 3], "core": [2, 3], "enhancing": [3]},
        regions_class_order=[1, 2, 3],
        stages=[
            _isotropic(
                "2d",
                2,
                [4, 8, 16],
                RESENC,
                spacing=[1.0, 1.0],
                patch_size=[16, 16],
                use_mask=[True, True],
                normalization=["ZScoreNormalization"] * 2,
                mirror_axes=(0, 1),
            )
        ],
        transpose=[0, 1, 2],
        image_shape=(5, 26, 21),
        image_spacing=(3.0, 1.1, 0.9),
    ),
    # 2D images (2D NIfTI): nnU-Net's dummy axis.
    "images_2d": Scenario(
        name="Images2D",
        channels={"0": "MR"},
        labels={"background": 0, "muscle": 1, "fat": 2},
        stages=[_isotropic("2d", 2, [4, 8, 16], spacing=[0.8, 0.8], patch_size=[32, 32], mirror_axes=(0, 1))],
        transpose=[0, 1, 2],
        image_shape=(40, 36),
        image_spacing=(1.0, 1.0),
    ),
    # The cascade: 3d_lowres, then 3d_cascade_fullres with its predictions as input channels.
    "cascade": Scenario(
        name="Cascade",
        channels={"0": "MR"},
        labels={"background": 0, "liver": 1, "tumour": 2},
        stages=[
            _isotropic("3d_lowres", 3, [4, 8, 16], spacing=[2.0, 2.0, 2.0], patch_size=[16, 16, 16]),
            _isotropic("3d_fullres", 3, [4, 8, 16], spacing=[1.0, 1.0, 1.0], patch_size=[16, 16, 16]),
            _isotropic("3d_cascade_fullres", 3, [4, 8, 16], spacing=[1.0, 1.0, 1.0], patch_size=[16, 16, 16], previous_stage="3d_lowres"),
        ],
        transpose=[0, 1, 2],
        image_shape=(24, 26, 20),
        image_spacing=(1.0, 1.0, 1.0),
        cases=1,
    ),
}

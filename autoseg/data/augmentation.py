"""The training augmentation pipeline (batchgenerators), built from a configuration.

Batches are dicts with ``data`` (B, C, *patch) and ``seg`` (B, T, *patch):
labels or regression targets. The transforms and their probabilities follow
the recipe that works across medical segmentation tasks: rotation and
scaling, Gaussian noise and blur, brightness, contrast, simulated low
resolution, gamma (plain and inverted), then mirroring, but only along the
axes the planner allows (see planners/default.py: flipping across the
patient's left-right axis would swap paired left/right labels). When an axis
is protected that way, rotations stay within 30 degrees, since a half turn
swaps left and right too.

For anisotropic 3D patches (coarsest / finest patch axis > 3 in physical size
is what matters; the voxel ratio of the patch is used, as the planner keeps
the coarse axis short) rotation and scaling are applied within each slice
only, as nnU-Net does: rotating across 5 mm slices blurs anatomy into
neighbouring slices.

batchgenerators draws from NumPy's global random state and, for Gaussian
noise, from Python's ``random`` module: ``seed_augmentation`` seeds both, and
``augmentation_state`` / ``restore_augmentation_state`` carry both through a
checkpoint, so a resumed run draws the same augmentations.
"""

from __future__ import annotations

import importlib
import random

import numpy as np
from batchgenerators.transforms.abstract_transforms import AbstractTransform, Compose
from batchgenerators.transforms.color_transforms import BrightnessMultiplicativeTransform, ContrastAugmentationTransform, GammaTransform
from batchgenerators.transforms.noise_transforms import GaussianBlurTransform, GaussianNoiseTransform
from batchgenerators.transforms.resample_transforms import SimulateLowResolutionTransform
from batchgenerators.transforms.spatial_transforms import MirrorTransform, SpatialTransform

from autoseg.plugins import load_plugins
from autoseg.preprocessing.resample import ANISOTROPY_THRESHOLD


class FoldFirstAxisIntoChannels(AbstractTransform):
    """(B, C, Z, Y, X) -> (B, C*Z, Y, X), so 2D transforms act on every slice alike."""

    def __call__(self, **batch):
        for key in ("data", "seg"):
            if key in batch and batch[key] is not None:
                array = batch[key]
                batch[f"_{key}_shape"] = array.shape
                batch[key] = array.reshape(array.shape[0], array.shape[1] * array.shape[2], *array.shape[3:])
        return batch


class UnfoldFirstAxisFromChannels(AbstractTransform):
    """Undoes FoldFirstAxisIntoChannels."""

    def __call__(self, **batch):
        for key in ("data", "seg"):
            if key in batch and batch[key] is not None:
                shape = batch.pop(f"_{key}_shape")
                batch[key] = batch[key].reshape(shape[0], shape[1], shape[2], *batch[key].shape[2:])
        return batch


# The default CPU transforms' factory, named so a worker process can find it (BatchRecipe.transforms).
DEFAULT_TRANSFORMS = ("autoseg.data.augmentation", "training_transforms")


def resolve(reference: tuple[str, str]):
    """The object named by ``reference`` (module, qualified name), plug-ins loaded first: a worker process finds
    a plug-in trainer's transforms hook by name, as the trainer registry finds the trainer."""
    load_plugins()
    found = importlib.import_module(reference[0])
    for part in reference[1].split("."):
        found = getattr(found, part)
    return found


def seed_augmentation(seed: int) -> None:
    """Seeds every random source the augmentation pipeline draws from."""
    random.seed(seed)
    np.random.seed(seed % 2**32)


def is_anisotropic_patch(patch_size: list[int]) -> bool:
    return len(patch_size) == 3 and max(patch_size) / min(patch_size) > ANISOTROPY_THRESHOLD


def training_transforms(patch_size: list[int], mirror_axes: list[int], target_is_label: bool = True) -> Compose:
    """Returns the augmentation pipeline for patches of ``patch_size`` (2D or 3D)."""
    ndim = len(patch_size)
    slice_wise = is_anisotropic_patch(patch_size)
    spatial_size = patch_size[1:] if slice_wise else patch_size
    in_plane_only = ndim == 2 or slice_wise
    # A half turn swaps left and right just as a mirror does: where the plan protects an axis
    # from mirroring (paired left/right labels), rotations stay within 30 degrees.
    protected = len(mirror_axes) < ndim
    angle = (-np.pi, np.pi) if in_plane_only and not protected else (-np.pi / 6, np.pi / 6)
    full_turn = in_plane_only
    transforms: list[AbstractTransform] = []
    if slice_wise:
        transforms.append(FoldFirstAxisIntoChannels())
    transforms.append(
        SpatialTransform(
            spatial_size,
            patch_center_dist_from_border=None,
            do_elastic_deform=False,
            do_rotation=True,
            angle_x=angle,
            angle_y=(0, 0) if full_turn else angle,
            angle_z=(0, 0) if full_turn else angle,
            p_rot_per_axis=1,
            do_scale=True,
            scale=(0.7, 1.4),
            border_mode_data="constant",
            border_cval_data=0,
            order_data=3,
            border_mode_seg="constant",
            border_cval_seg=0,
            order_seg=0 if target_is_label else 1,
            random_crop=False,
            p_scale_per_sample=0.2,
            p_rot_per_sample=0.2,
            independent_scale_for_each_axis=False,
        )
    )
    if slice_wise:
        transforms.append(UnfoldFirstAxisFromChannels())
    transforms += [
        GaussianNoiseTransform(p_per_sample=0.1),
        GaussianBlurTransform((0.5, 1.0), different_sigma_per_channel=True, p_per_sample=0.2, p_per_channel=0.5),
        BrightnessMultiplicativeTransform(multiplier_range=(0.75, 1.25), p_per_sample=0.15),
        ContrastAugmentationTransform(p_per_sample=0.15),
        SimulateLowResolutionTransform(
            zoom_range=(0.5, 1),
            per_channel=True,
            p_per_channel=0.5,
            order_downsample=0,
            order_upsample=3,
            p_per_sample=0.25,
            ignore_axes=(0,) if slice_wise else None,
        ),
        GammaTransform((0.7, 1.5), invert_image=True, per_channel=True, retain_stats=True, p_per_sample=0.1),
        GammaTransform((0.7, 1.5), invert_image=False, per_channel=True, retain_stats=True, p_per_sample=0.3),
    ]
    if mirror_axes:
        transforms.append(MirrorTransform(tuple(mirror_axes)))
    return Compose(transforms)

"""Batched augmentation on the training device, the twin of augmentation.py in torch.

On a GPU the CPU workers then only cut patches, and the whole batch is
augmented at once where the network runs: one grid sample for every rotated
or scaled patch, grouped convolutions for blur. Users of CPU-side pipelines
report GPUs idling behind augmentation; this path removes that wait.

The transforms, their probabilities and ranges are those of augmentation.py
(rotation and scaling, optional elastic deformation, Gaussian noise and blur,
brightness, contrast, simulated low resolution, gamma plain and inverted,
mirroring only along the planned axes; in-plane only for anisotropic 3D
patches; rotations within 30 degrees where an axis is protected from
mirroring). Two differences: images are resampled linearly (not cubic
splines), and labels are resampled as one-hot maps and turned back into
labels by argmax, which keeps thin structures better than nearest neighbour.

Random parameters are drawn on the CPU from a generator seeded by the
caller (the trainer passes ``(seed, iteration)``), so batch ``i`` is
augmented the same way however the run was interrupted; noise fields are
drawn on the device from a generator seeded from the same source.

Tensors are (B, C, *patch) for images and (B, T, *patch) for targets, in
autoseg's array axis order (see autoseg/io/geometry.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from autoseg.data.augmentation import is_anisotropic_patch


@dataclass(frozen=True)
class Probabilities:
    """Per-sample probabilities (per-channel where named so) and ranges, as in augmentation.py."""

    rotation: float = 0.2
    scaling: float = 0.2
    scale_range: tuple[float, float] = (0.7, 1.4)
    elastic: float = 0.0  # as in the CPU pipeline; raise it to use elastic deformation
    elastic_magnitude: float = 0.05  # displacement, as a fraction of the patch size
    noise: float = 0.1
    noise_std: tuple[float, float] = (0.0, 0.1)
    blur: float = 0.2
    blur_per_channel: float = 0.5
    blur_sigma: tuple[float, float] = (0.5, 1.0)
    brightness: float = 0.15
    brightness_range: tuple[float, float] = (0.75, 1.25)
    contrast: float = 0.15
    contrast_range: tuple[float, float] = (0.75, 1.25)
    low_resolution: float = 0.25
    low_resolution_per_channel: float = 0.5
    low_resolution_zoom: tuple[float, float] = (0.5, 1.0)
    inverted_gamma: float = 0.1
    gamma: float = 0.3
    gamma_range: tuple[float, float] = (0.7, 1.5)
    mirror: float = 0.5

    @classmethod
    def for_image_targets(cls) -> "Probabilities":
        """Regression: the target keeps its units, so the input keeps its own. Brightness, contrast and
        gamma are off (they would teach the network to ignore the input's values, which carry the
        physics, such as uptake); noise, blur and low resolution stay: they degrade the input further
        without changing its units."""
        return cls(brightness=0.0, contrast=0.0, gamma=0.0, inverted_gamma=0.0)


class DeviceAugmenter:
    """Augments whole batches of patches of ``patch_size`` where they lie (CPU, CUDA or MPS)."""

    def __init__(
        self,
        patch_size: list[int],
        mirror_axes: list[int],
        target_is_label: bool = True,
        num_classes: int | None = None,
        probabilities: Probabilities = Probabilities(),
    ):
        self.patch_size, self.mirror_axes = list(patch_size), list(mirror_axes)
        self.ndim = len(patch_size)
        self.target_is_label, self.num_classes, self.p = target_is_label, num_classes, probabilities
        self.slice_wise = is_anisotropic_patch(self.patch_size)
        # Axes spatial transforms act on: all, or the two in-plane axes of anisotropic patches.
        self.spatial_axes = [1, 2] if self.slice_wise else list(range(self.ndim))
        in_plane_only = self.ndim == 2 or self.slice_wise
        protected = len(self.mirror_axes) < self.ndim  # a half turn swaps left and right like a mirror
        self.max_angle = math.pi if in_plane_only and not protected else math.pi / 6

    @torch.no_grad()
    def __call__(
        self, data: torch.Tensor, target: torch.Tensor | None, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns the augmented (data, target); ``generator`` (CPU) decides every random choice."""
        device_generator = torch.Generator(data.device).manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
        data, target = self._spatial(data.float(), target, generator, device_generator)
        data = self._noise(data, generator, device_generator)
        data = self._blur(data, generator)
        data = self._brightness(data, generator)
        data = self._contrast(data, generator)
        data = self._low_resolution(data, generator)
        data = self._gamma(data, generator, self.p.inverted_gamma, invert=True)
        data = self._gamma(data, generator, self.p.gamma, invert=False)
        return self._mirror(data, target, generator)

    # spatial -----------------------------------------------------------------------
    def _matrices(self, batch: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Per sample, the voxel-space matrix (array axis order) mapping output to input coordinates, and
        whether it differs from the identity."""
        matrices = torch.eye(self.ndim, dtype=torch.float64).repeat(batch, 1, 1)
        rotate = torch.rand(batch, generator=generator) < self.p.rotation
        scale = torch.rand(batch, generator=generator) < self.p.scaling
        if self.ndim == 2:
            planes = [(0, 1)]
        else:
            planes = [(1, 2)] if self.slice_wise else [(1, 2), (0, 2), (0, 1)]
        for first, second in planes:
            angles = (torch.rand(batch, generator=generator, dtype=torch.float64) * 2 - 1) * self.max_angle
            angles = torch.where(rotate, angles, torch.zeros_like(angles))
            rotation = torch.eye(self.ndim, dtype=torch.float64).repeat(batch, 1, 1)
            rotation[:, first, first], rotation[:, first, second] = torch.cos(angles), -torch.sin(angles)
            rotation[:, second, first], rotation[:, second, second] = torch.sin(angles), torch.cos(angles)
            matrices = rotation @ matrices
        low, high = self.p.scale_range
        # Half the time zoom in, half out, as batchgenerators does, so both directions are equally likely.
        factors = torch.where(
            torch.rand(batch, generator=generator) < 0.5,
            low + (1 - low) * torch.rand(batch, generator=generator, dtype=torch.float64),
            1 + (high - 1) * torch.rand(batch, generator=generator, dtype=torch.float64),
        )
        factors = torch.where(scale, factors, torch.ones_like(factors))
        scaling = torch.ones(batch, self.ndim, dtype=torch.float64)
        scaling[:, self.spatial_axes] = factors[:, None]
        return matrices * scaling[:, None, :], rotate | scale

    def _grid(self, matrices: torch.Tensor, device: torch.device) -> torch.Tensor:
        """Sampling grids (B, *patch, ndim) for grid_sample from voxel-space matrices."""
        half = torch.tensor(self.patch_size, dtype=torch.float64) / 2
        normalised = matrices * half[None, None, :] / half[None, :, None]  # D^-1 M D: coordinates in [-1, 1]
        normalised = normalised.flip(1).flip(2)  # grid_sample orders coordinates x, y(, z): reversed axes
        theta = torch.cat([normalised, torch.zeros(len(matrices), self.ndim, 1, dtype=torch.float64)], 2).float().to(device)
        return F.affine_grid(theta, [len(matrices), 1, *self.patch_size], align_corners=False)

    def _elastic(self, grid: torch.Tensor, selected: torch.Tensor, device_generator: torch.Generator) -> torch.Tensor:
        """Adds a smooth random displacement (coarse noise, upsampled) to the grids of ``selected`` samples."""
        count = int(selected.sum())
        if count == 0:
            return grid
        coarse = [max(2, size // 16) for size in self.patch_size]
        if self.slice_wise:
            coarse[0] = 1  # one in-plane deformation for every slice, as the CPU pipeline's slice-wise transform
        noise = torch.randn(count, self.ndim, *coarse, generator=device_generator, device=grid.device) * 2 * self.p.elastic_magnitude
        mode = "bilinear" if self.ndim == 2 else "trilinear"
        displacement = F.interpolate(noise, self.patch_size, mode=mode, align_corners=False).movedim(1, -1)
        if self.slice_wise:
            displacement[..., 2] = 0  # the grid's last coordinate is the slice axis: no through-plane motion
        grid = grid.clone()
        grid[selected.to(grid.device)] += displacement
        return grid

    def _spatial(self, data, target, generator, device_generator):
        matrices, moved = self._matrices(len(data), generator)
        elastic = torch.rand(len(data), generator=generator) < self.p.elastic
        selected = moved | elastic
        if not bool(selected.any()):
            return data, target
        grid = self._elastic(self._grid(matrices[selected], data.device), elastic[selected], device_generator)
        index = selected.nonzero()[:, 0].to(data.device)
        data = data.clone()
        data[index] = F.grid_sample(data[index], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if target is None:
            return data, target
        target = target.clone()
        if self.target_is_label:
            labels = target[index].long()
            classes = self.num_classes or int(labels.max()) + 1
            for channel in range(labels.shape[1]):  # each channel a label map of its own
                one_hot = F.one_hot(labels[:, channel], classes).movedim(-1, 1).float()
                # Outside the image is background: pad the background channel with ones.
                one_hot[:, 0] -= 1
                resampled = F.grid_sample(one_hot, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
                resampled[:, 0] += 1
                target[index, channel] = resampled.argmax(1).to(target.dtype)
        else:
            target[index] = F.grid_sample(target[index].float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False).to(
                target.dtype
            )
        return data, target

    # intensity ---------------------------------------------------------------------
    def _chosen(self, shape: tuple[int, ...], probability: float, generator: torch.Generator, device: torch.device) -> torch.Tensor:
        return (torch.rand(shape, generator=generator) < probability).to(device)

    def _uniform(
        self, shape: tuple[int, ...], bounds: tuple[float, float], generator: torch.Generator, device: torch.device
    ) -> torch.Tensor:
        return (bounds[0] + (bounds[1] - bounds[0]) * torch.rand(shape, generator=generator)).to(device)

    def _per_sample(self, values: torch.Tensor) -> torch.Tensor:
        return values.view(-1, *[1] * (self.ndim + 1))

    def _per_channel(self, values: torch.Tensor) -> torch.Tensor:
        return values.view(*values.shape[:2], *[1] * self.ndim)

    def _noise(self, data, generator, device_generator):
        chosen = self._chosen((len(data),), self.p.noise, generator, data.device)
        std = self._uniform((len(data),), self.p.noise_std, generator, data.device) * chosen
        if not bool(chosen.any()):
            return data
        return data + torch.randn(data.shape, generator=device_generator, device=data.device) * self._per_sample(std)

    def _blur(self, data, generator):
        batch, channels = data.shape[:2]
        chosen = self._chosen((batch, 1), self.p.blur, generator, data.device) & self._chosen(
            (batch, channels), self.p.blur_per_channel, generator, data.device
        )
        sigma = self._uniform((batch, channels), self.p.blur_sigma, generator, data.device)
        if not bool(chosen.any()):
            return data
        radius = math.ceil(3 * self.p.blur_sigma[1])
        offsets = torch.arange(-radius, radius + 1, device=data.device, dtype=torch.float32)
        kernels = torch.exp(-(offsets[None] ** 2) / (2 * sigma.reshape(-1, 1) ** 2))
        kernels = kernels / kernels.sum(1, keepdim=True)
        identity = (offsets == 0).float()[None].expand_as(kernels)
        kernels = torch.where(chosen.reshape(-1, 1), kernels, identity)  # unchosen channels pass unchanged
        blurred = data.reshape(1, batch * channels, *data.shape[2:])
        convolve = F.conv2d if self.ndim == 2 else F.conv3d
        for axis in range(self.ndim):  # separable: one 1D kernel per axis, one group per (sample, channel)
            shape = [batch * channels, 1] + [1] * self.ndim
            shape[2 + axis] = 2 * radius + 1
            padding = [0] * (2 * self.ndim)  # F.pad lists the last axis first
            padding[2 * (self.ndim - 1 - axis)] = padding[2 * (self.ndim - 1 - axis) + 1] = radius
            blurred = convolve(F.pad(blurred, padding, mode="replicate"), kernels.reshape(shape), groups=batch * channels)
        return blurred.reshape(data.shape)

    def _brightness(self, data, generator):
        batch, channels = data.shape[:2]
        chosen = self._chosen((batch, 1), self.p.brightness, generator, data.device)
        factor = torch.where(
            chosen, self._uniform((batch, channels), self.p.brightness_range, generator, data.device), torch.ones((), device=data.device)
        )
        return data * self._per_channel(factor)

    def _below_or_above_one(self, shape, bounds, generator, device) -> torch.Tensor:
        """Factors below 1 half the time and above 1 otherwise, as batchgenerators draws them."""
        low = self._uniform(shape, (bounds[0], 1.0), generator, device)
        high = self._uniform(shape, (1.0, bounds[1]), generator, device)
        return torch.where(self._chosen(shape, 0.5, generator, device), low, high)

    def _contrast(self, data, generator):
        batch, channels = data.shape[:2]
        chosen = self._chosen((batch, 1), self.p.contrast, generator, data.device)
        factor = self._below_or_above_one((batch, channels), self.p.contrast_range, generator, data.device)
        factor = self._per_channel(torch.where(chosen, factor, torch.ones((), device=data.device)))
        flat = data.flatten(2)
        mean, low, high = (self._per_channel(v) for v in (flat.mean(2), flat.amin(2), flat.amax(2)))
        return torch.minimum(torch.maximum((data - mean) * factor + mean, low), high)  # the range is kept

    def _low_resolution(self, data, generator):
        batch, channels = data.shape[:2]
        chosen = self._chosen((batch, 1), self.p.low_resolution, generator, data.device) & self._chosen(
            (batch, channels), self.p.low_resolution_per_channel, generator, data.device
        )
        zoom = self._uniform((batch, channels), self.p.low_resolution_zoom, generator, "cpu")
        if not bool(chosen.any()):
            return data
        data = data.clone()
        mode = "bilinear" if self.ndim == 2 else "trilinear"
        for sample, channel in chosen.nonzero().tolist():  # each has its own coarse shape
            coarse = [
                size if axis not in self.spatial_axes else max(1, round(size * float(zoom[sample, channel])))
                for axis, size in enumerate(self.patch_size)
            ]
            image = data[sample, channel][None, None]
            data[sample, channel] = F.interpolate(
                F.interpolate(image, coarse, mode="nearest"), self.patch_size, mode=mode, align_corners=False
            )[0, 0]
        return data

    def _gamma(self, data, generator, probability: float, invert: bool):
        batch, channels = data.shape[:2]
        chosen = self._chosen((batch, 1), probability, generator, data.device).expand(batch, channels)
        gamma = self._below_or_above_one((batch, channels), self.p.gamma_range, generator, data.device)
        if not bool(chosen.any()):
            return data
        sign = -1.0 if invert else 1.0
        image = sign * data
        flat = image.flatten(2)
        mean, std, low, high = (self._per_channel(v) for v in (flat.mean(2), flat.std(2), flat.amin(2), flat.amax(2)))
        spread = high - low
        changed = ((image - low) / (spread + 1e-7)).clamp_min(0) ** self._per_channel(gamma) * spread + low
        # Keep each channel's mean and standard deviation, as batchgenerators' retain_stats does.
        flat = changed.flatten(2)
        changed = (changed - self._per_channel(flat.mean(2))) / (self._per_channel(flat.std(2)) + 1e-8) * std + mean
        return torch.where(self._per_channel(chosen), sign * changed, data)

    # mirroring ---------------------------------------------------------------------
    def _mirror(self, data, target, generator):
        for axis in self.mirror_axes:
            flip = (torch.rand(len(data), generator=generator) < self.p.mirror).nonzero()[:, 0].to(data.device)
            if len(flip) == 0:
                continue
            data = data.clone()
            data[flip] = data[flip].flip(2 + axis)
            if target is not None:
                target = target.clone()
                target[flip] = target[flip].flip(2 + axis)
        return data, target

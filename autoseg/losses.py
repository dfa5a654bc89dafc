"""Losses for dense prediction: soft Dice, cross-entropy + Dice, their region form, image losses
(L1, MSE, L1 + SSIM) for regression, deep supervision.

Shapes: network outputs ``(N, K, *spatial)`` logits (or images); label targets
``(N, 1, *spatial)`` integer class indices; region targets ``(N, R, *spatial)``
binary masks; regression targets ``(N, T, *spatial)`` in normalised units.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


def soft_dice(probabilities: torch.Tensor, one_hot: torch.Tensor, batch_dice: bool = True, smooth: float = 1e-5) -> torch.Tensor:
    """Returns the soft Dice per channel, ``(K,)`` with ``batch_dice`` (sums over the batch) else ``(N, K)``.

    ``(2 * intersection + smooth) / (|prediction| + |target| + smooth)``; with
    batch Dice, a patch without some class does not produce a degenerate score.
    """
    axes = [0, *range(2, probabilities.ndim)] if batch_dice else list(range(2, probabilities.ndim))
    intersection = (probabilities * one_hot).sum(axes)
    total = probabilities.sum(axes) + one_hot.sum(axes)
    return (2 * intersection + smooth) / (total.clamp_min(1e-8) + smooth)


class DiceCELoss(nn.Module):
    """Cross-entropy + (1 - mean soft Dice over foreground classes), for softmax outputs and label targets."""

    def __init__(self, batch_dice: bool = True, smooth: float = 1e-5, ignore_background: bool = True):
        super().__init__()
        self.batch_dice, self.smooth, self.ignore_background = batch_dice, smooth, ignore_background

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        labels = target[:, 0].long()
        cross_entropy = functional.cross_entropy(logits.float(), labels)
        probabilities = torch.softmax(logits.float(), 1)
        one_hot = functional.one_hot(labels, logits.shape[1]).movedim(-1, 1).to(probabilities.dtype)
        dice = soft_dice(probabilities, one_hot, self.batch_dice, self.smooth)
        if self.ignore_background:
            dice = dice[..., 1:]
        return cross_entropy + (1 - dice.mean())


class RegionDiceBCELoss(nn.Module):
    """Binary cross-entropy + (1 - mean soft Dice), one sigmoid channel per (possibly overlapping) region."""

    def __init__(self, batch_dice: bool = True, smooth: float = 1e-5):
        super().__init__()
        self.batch_dice, self.smooth = batch_dice, smooth

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.float()
        bce = functional.binary_cross_entropy_with_logits(logits.float(), target)
        dice = soft_dice(torch.sigmoid(logits.float()), target, self.batch_dice, self.smooth)
        return bce + (1 - dice.mean())


def gaussian_blur(images: torch.Tensor, sigma: float = 1.5, truncate: float = 3.5) -> torch.Tensor:
    """Blurs each channel of ``(N, C, *spatial)`` (2D or 3D) with a separable Gaussian; edges replicated,
    so patches smaller than the kernel (deep supervision's coarsest outputs) are blurred too."""
    radius = int(truncate * sigma + 0.5)
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    spatial, channels = images.ndim - 2, images.shape[1]
    convolve = functional.conv3d if spatial == 3 else functional.conv2d
    for axis in range(spatial):
        shape = [1] * spatial
        shape[axis] = kernel.numel()
        padding = [0] * (2 * spatial)  # F.pad lists the last axis first
        padding[2 * (spatial - 1 - axis)] = padding[2 * (spatial - 1 - axis) + 1] = radius
        weight = kernel.view(1, 1, *shape).expand(channels, 1, *shape)
        images = convolve(functional.pad(images, padding, mode="replicate"), weight, groups=channels)
    return images


def ssim(
    prediction: torch.Tensor, target: torch.Tensor, data_range: torch.Tensor | float, k1: float = 0.01, k2: float = 0.03
) -> torch.Tensor:
    """Per-voxel SSIM of two ``(N, C, *spatial)`` images with a Gaussian window (sigma 1.5 voxels), the
    definition autoseg.evaluation.image_metrics scores with (edges replicated here, mirrored there)."""
    x, y = prediction.float(), target.float()
    mu_x, mu_y = gaussian_blur(x), gaussian_blur(y)
    var_x, var_y = gaussian_blur(x * x) - mu_x**2, gaussian_blur(y * y) - mu_y**2
    covariance = gaussian_blur(x * y) - mu_x * mu_y
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * covariance + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))


class L1SSIMLoss(nn.Module):
    """L1 + (1 - mean SSIM): the L1 term keeps intensities (uptake values) right, the SSIM term keeps
    structure and noise texture, which L1 alone blurs. The SSIM's data range is the batch target's."""

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.float()
        data_range = (target.amax() - target.amin()).clamp_min(1e-6).detach()
        return functional.l1_loss(prediction.float(), target) + (1 - ssim(prediction, target, data_range).mean())


REGRESSION_LOSSES = {"l1": nn.L1Loss, "mse": nn.MSELoss, "l1_ssim": L1SSIMLoss}


def labels_to_regions(labels: torch.Tensor, regions: list[tuple[int, ...]]) -> torch.Tensor:
    """Returns ``(N, R, *spatial)`` masks, channel r true where the label is one of ``regions[r]``."""
    return torch.cat([torch.isin(labels, torch.as_tensor(values, device=labels.device)) for values in regions], dim=1)


def deep_supervision_weights(num_outputs: int) -> list[float]:
    """Returns weights halving from the full-resolution output down, normalised to sum to 1."""
    raw = [0.5**level for level in range(num_outputs)]
    return [w / sum(raw) for w in raw]


class DeepSupervisionLoss(nn.Module):
    """Weighted sum of ``loss`` over outputs at decreasing resolution, each against its own target."""

    def __init__(self, loss: nn.Module, num_outputs: int):
        super().__init__()
        self.loss = loss
        self.weights = deep_supervision_weights(num_outputs)

    def forward(self, outputs: list[torch.Tensor], targets: list[torch.Tensor]) -> torch.Tensor:
        if len(outputs) != len(self.weights) or len(targets) != len(self.weights):
            raise ValueError(f"expected {len(self.weights)} outputs and targets, got {len(outputs)} and {len(targets)}")
        return sum(w * self.loss(o, t) for w, o, t in zip(self.weights, outputs, targets))

"""Losses, registered by name for the task kinds they fit: soft Dice, cross-entropy (plain, top-k) and their
sum for segmentation (each with its region form), image losses (L1, MSE, L1 + SSIM) for regression,
class-weighted cross-entropy for classification; and deep supervision over any of them.

A trainer names its loss in its settings (``loss``; "" is the task's default:
``ce_dice``, ``l1`` or ``ce``). A registered loss is a factory
``build(spec, plans) -> nn.Module`` scoring one output level against its
target; plug-ins add their own with ``@register_loss(name, tasks=...)``.

Shapes: network outputs ``(N, K, *spatial)`` logits (or images); label targets
``(N, 1, *spatial)`` integer class indices; region targets ``(N, R, *spatial)``
binary masks; regression targets ``(N, T, *spatial)`` in normalised units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.nn import functional

from autoseg.errors import AutosegError
from autoseg.registry import Registry


def soft_dice(probabilities: torch.Tensor, one_hot: torch.Tensor, batch_dice: bool = True, smooth: float = 1e-5) -> torch.Tensor:
    """Returns the soft Dice per channel, ``(K,)`` with ``batch_dice`` (sums over the batch) else ``(N, K)``.

    ``(2 * intersection + smooth) / (|prediction| + |target| + smooth)``; with
    batch Dice, a patch without some class does not produce a degenerate score.
    """
    axes = [0, *range(2, probabilities.ndim)] if batch_dice else list(range(2, probabilities.ndim))
    intersection = (probabilities * one_hot).sum(axes)
    total = probabilities.sum(axes) + one_hot.sum(axes)
    return (2 * intersection + smooth) / (total.clamp_min(1e-8) + smooth)


def top_k_mean(losses: torch.Tensor, top_k: float) -> torch.Tensor:
    """The mean of the largest ``top_k`` (a fraction) of the voxel losses."""
    flat = losses.reshape(-1)
    return flat.topk(max(1, int(flat.numel() * top_k)), sorted=False).values.mean()


def add_terms(terms: list[torch.Tensor]) -> torch.Tensor:
    """The sum of a loss's terms, first to last (the default ``ce + (1 - dice)`` exactly as it always was)."""
    return sum(terms[1:], terms[0])


def masked_mean(losses: torch.Tensor, mask: torch.Tensor, top_k: float | None = None) -> torch.Tensor:
    """The mean of the voxel ``losses`` where ``mask`` holds (over its hardest ``top_k`` fraction, if given); 0
    where it holds nowhere (a patch without annotated voxels adds no loss, and no NaN)."""
    if top_k is not None:
        chosen = losses[mask.expand_as(losses)]
        return top_k_mean(chosen, top_k) if chosen.numel() else losses.sum() * 0
    return (losses * mask).sum() / mask.expand_as(losses).sum().clamp_min(1)


class DiceCELoss(nn.Module):
    """Cross-entropy + (1 - mean soft Dice over foreground classes), for softmax outputs and label targets.

    ``ce`` or ``dice`` False leaves that term out; ``top_k`` (a fraction, e.g.
    0.1) averages the cross-entropy over the hardest voxels only (nnU-Net's TopK).
    ``ignore_index``: the label of unannotated voxels, left out of both terms
    (cross-entropy averaged over the annotated voxels, Dice summed over them).
    """

    def __init__(
        self,
        batch_dice: bool = True,
        smooth: float = 1e-5,
        ignore_background: bool = True,
        *,
        ce: bool = True,
        dice: bool = True,
        top_k: float | None = None,
        ignore_index: int | None = None,
    ):
        super().__init__()
        self.batch_dice, self.smooth, self.ignore_background = batch_dice, smooth, ignore_background
        self.ce, self.dice, self.top_k, self.ignore_index = ce, dice, top_k, ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        labels = target[:, 0].long()
        annotated = None
        if self.ignore_index is not None:
            annotated = labels != self.ignore_index
            labels = torch.where(annotated, labels, 0)
        terms = []
        if self.ce and self.top_k is None and annotated is None:
            terms.append(functional.cross_entropy(logits.float(), labels))
        elif self.ce:
            losses = functional.cross_entropy(logits.float(), labels, reduction="none")
            terms.append(masked_mean(losses, annotated, self.top_k) if annotated is not None else top_k_mean(losses, self.top_k))
        if self.dice:
            probabilities = torch.softmax(logits.float(), 1)
            one_hot = functional.one_hot(labels, logits.shape[1]).movedim(-1, 1).to(probabilities.dtype)
            if annotated is not None:
                weight = annotated.unsqueeze(1).to(probabilities.dtype)
                probabilities, one_hot = probabilities * weight, one_hot * weight
            dice = soft_dice(probabilities, one_hot, self.batch_dice, self.smooth)
            if self.ignore_background:
                dice = dice[..., 1:]
            terms.append(1 - dice.mean())
        return add_terms(terms)


class RegionDiceBCELoss(nn.Module):
    """Binary cross-entropy + (1 - mean soft Dice), one sigmoid channel per (possibly overlapping) region;
    ``ce``, ``dice`` and ``top_k`` as for ``DiceCELoss``. ``masked``: the target's last channel marks the
    annotated voxels (sparse annotations): the cross-entropy is averaged over them, the Dice summed over them."""

    def __init__(
        self,
        batch_dice: bool = True,
        smooth: float = 1e-5,
        *,
        ce: bool = True,
        dice: bool = True,
        top_k: float | None = None,
        masked: bool = False,
    ):
        super().__init__()
        self.batch_dice, self.smooth = batch_dice, smooth
        self.ce, self.dice, self.top_k, self.masked = ce, dice, top_k, masked

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = target.float()
        annotated = None
        if self.masked:
            target, annotated = target[:, :-1], target[:, -1:].bool()
        terms = []
        if self.ce and self.top_k is None and annotated is None:
            terms.append(functional.binary_cross_entropy_with_logits(logits.float(), target))
        elif self.ce:
            losses = functional.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
            terms.append(masked_mean(losses, annotated, self.top_k) if annotated is not None else top_k_mean(losses, self.top_k))
        if self.dice:
            probabilities = torch.sigmoid(logits.float())
            if annotated is not None:
                probabilities, target = probabilities * annotated, target * annotated
            terms.append(1 - soft_dice(probabilities, target, self.batch_dice, self.smooth).mean())
        return add_terms(terms)


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


class WeightedCrossEntropy(nn.Module):
    """Cross-entropy with per-class weights (kept on the logits' device) and optional label smoothing."""

    def __init__(self, weights: torch.Tensor | None, label_smoothing: float = 0.0):
        super().__init__()
        self.register_buffer("weights", weights, persistent=False)
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weights = self.weights.to(logits.device) if self.weights is not None else None
        return functional.cross_entropy(logits.float(), target, weight=weights, label_smoothing=self.label_smoothing)


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


class RelativeGradient(nn.Module):
    """``loss`` whose value is unchanged but whose gradient is divided by that value: the gradient of its
    logarithm, the same however small the loss is.

    Regression needs it: a network predicting a correction of its input starts at the input's own error
    (0.15 in normalised units on the low-dose PET stand-in), and the L1 gradient there is a tenth of
    segmentation's CE + Dice, so SGD at nnU-Net's learning rate barely moves it (benchmarks/learning_curves.py).
    """

    def __init__(self, loss: nn.Module, eps: float = 1e-6):
        super().__init__()
        self.loss, self.eps = loss, eps

    def forward(self, outputs, targets) -> torch.Tensor:
        loss = self.loss(outputs, targets)
        size = loss.detach().clamp_min(self.eps)
        return loss.detach() + (loss - loss.detach()) / size


@dataclass
class LossEntry:
    """A registered loss name: per task kind it fits, a one-line summary and a factory
    ``build(spec, plans) -> nn.Module`` (the loss of one output level)."""

    name: str
    summaries: dict[str, str] = field(default_factory=dict)
    builders: dict[str, Callable[..., nn.Module]] = field(default_factory=dict)

    @property
    def tasks(self) -> list[str]:
        return sorted(self.builders)

    def check(self, task: str) -> None:
        """Raises AutosegError, listing the losses that fit, unless this loss fits the task kind ``task``."""
        if task not in self.builders:
            fitting = ", ".join(entry.name for entry in LOSSES if task in entry.builders)
            raise AutosegError(f"loss {self.name!r} is for {' and '.join(self.tasks)}, not {task}; losses for {task}: {fitting}.")

    def build(self, task: str, spec, plans=None) -> nn.Module:
        self.check(task)
        return self.builders[task](spec, plans)


LOSSES: Registry[LossEntry] = Registry("loss")


def register_loss(name: str, *, tasks: tuple[str, ...]):
    """Decorator registering ``build(spec, plans) -> nn.Module`` as loss ``name`` for the task kinds ``tasks``
    (``segmentation``, ``regression``, ``classification`` or a plug-in's); one name may have a factory per kind.
    The docstring's first line is its summary (``autoseg train --help``)."""

    def add(build: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        entry = LOSSES.registered(name) or LOSSES.add(name, LossEntry(name))
        for task in tasks:
            if task in entry.builders:
                raise ValueError(f"loss {name!r} is registered twice for {task}")
            entry.builders[task] = build
            entry.summaries[task] = (build.__doc__ or "").strip().split("\n")[0]
        return build

    return add


def get_loss(name: str) -> LossEntry:
    return LOSSES.get(name)


def _segmentation(spec, **terms) -> nn.Module:
    """The label or region form of a segmentation loss, leaving out the voxels of the dataset's ignore label."""
    if spec.has_regions:
        return RegionDiceBCELoss(**terms, masked=spec.ignore_label is not None)
    return DiceCELoss(**terms, ignore_index=spec.ignore_label)


@register_loss("ce_dice", tasks=("segmentation",))
def ce_dice(spec, plans=None) -> nn.Module:
    """cross-entropy + soft Dice (binary cross-entropy per region with regions); the default"""
    return _segmentation(spec)


@register_loss("dice", tasks=("segmentation",))
def dice_only(spec, plans=None) -> nn.Module:
    """soft Dice alone"""
    return _segmentation(spec, ce=False)


@register_loss("ce", tasks=("segmentation",))
def cross_entropy(spec, plans=None) -> nn.Module:
    """cross-entropy alone"""
    return _segmentation(spec, dice=False)


@register_loss("topk_ce_dice", tasks=("segmentation",))
def topk_ce_dice(spec, plans=None) -> nn.Module:
    """cross-entropy over the hardest 10 % of voxels + soft Dice (nnU-Net's TopK10 + Dice)"""
    return _segmentation(spec, top_k=0.1)


@register_loss("l1", tasks=("regression",))
def l1(spec, plans=None) -> nn.Module:
    """mean absolute error; the default"""
    return nn.L1Loss()


@register_loss("mse", tasks=("regression",))
def mse(spec, plans=None) -> nn.Module:
    """mean squared error"""
    return nn.MSELoss()


@register_loss("l1_ssim", tasks=("regression",))
def l1_ssim(spec, plans=None) -> nn.Module:
    """L1 + (1 - SSIM): intensities and structure"""
    return L1SSIMLoss()


@register_loss("ce", tasks=("classification",))
def weighted_cross_entropy(spec, plans=None) -> nn.Module:
    """cross-entropy weighted per class by the plans' class_weights; the default"""
    return WeightedCrossEntropy(_class_weights(spec, plans))


@register_loss("ce_smooth", tasks=("classification",))
def ce_smooth(spec, plans=None) -> nn.Module:
    """class-weighted cross-entropy with label smoothing 0.1"""
    return WeightedCrossEntropy(_class_weights(spec, plans), 0.1)


def _class_weights(spec, plans) -> torch.Tensor | None:
    """The plans' class_weights in class-index order, or None (unweighted) without them."""
    if plans is None or not plans.class_weights:
        return None
    missing = sorted(set(spec.classes) - set(plans.class_weights))
    if missing:
        raise AutosegError(
            f"plans.json class_weights lacks class(es) {', '.join(missing)}; add them or delete class_weights to train unweighted."
        )
    return torch.tensor([plans.class_weights[name] for name in sorted(spec.classes, key=spec.classes.get)], dtype=torch.float32)

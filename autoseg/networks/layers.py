"""The layers every registered network is built from: convolution blocks, their in-place inference path, initialisation.

Tensors are ``(N, C, *spatial)`` with spatial axes in autoseg's array order.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_op(ndim: int) -> type[nn.Module]:
    return nn.Conv3d if ndim == 3 else nn.Conv2d


def norm_op(ndim: int) -> type[nn.Module]:
    return nn.InstanceNorm3d if ndim == 3 else nn.InstanceNorm2d


def same_padding(kernel: list[int]) -> list[int]:
    return [k // 2 for k in kernel]


class ConvBlock(nn.Sequential):
    """Convolution -> instance norm (affine) -> leaky ReLU (in place)."""

    def __init__(self, ndim: int, in_channels: int, out_channels: int, *, kernel: list[int], stride: list[int], negative_slope: float):
        super().__init__(
            conv_op(ndim)(in_channels, out_channels, kernel, stride, padding=same_padding(kernel)),
            norm_op(ndim)(out_channels, eps=1e-5, affine=True),
            nn.LeakyReLU(negative_slope, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, norm, activation = self
        return activation(normalise(norm, conv(x)))


def normalise(norm: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``norm(x)``; in channels-last inference, the same instance norm computed in place.

    torch's instance norm would copy a channels-last tensor to channels-first
    and back, which costs more than the layout saves (prepare_for_inference).
    """
    if norm.training or torch.is_grad_enabled() or x.dtype != torch.float32 or not is_channels_last(x):
        return norm(x)
    return instance_norm_(x, norm.weight, norm.bias, norm.eps)


def is_channels_last(x: torch.Tensor) -> bool:
    """Whether ``x`` is a 3D feature map in the layout ``prepare_for_inference`` gives 3D networks on the CPU."""
    return x.ndim == 5 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last_3d)


def instance_norm_(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """Instance norm of a channels-last ``x`` in place, its memory viewed as (N, voxels, C); returns ``x``."""
    n, c = x.shape[:2]
    rows = x.permute(0, *range(2, x.ndim), 1).view(n, -1, c)
    rows.sub_(rows.mean(1, keepdim=True))
    scale = torch.rsqrt(rows.square().mean(1, keepdim=True) + eps) * weight
    rows.mul_(scale).add_(bias)
    return x


def conv_stage(
    ndim: int, in_channels: int, out_channels: int, *, kernel: list[int], stride: list[int], n_conv: int, slope: float
) -> nn.Sequential:
    """``n_conv`` conv blocks; the first changes the channels and applies ``stride``."""
    blocks = [ConvBlock(ndim, in_channels, out_channels, kernel=kernel, stride=stride, negative_slope=slope)]
    blocks += [
        ConvBlock(ndim, out_channels, out_channels, kernel=kernel, stride=[1] * ndim, negative_slope=slope) for _ in range(n_conv - 1)
    ]
    return nn.Sequential(*blocks)


def initialise_weights(module: nn.Module, negative_slope: float = 0.01) -> None:
    """Kaiming-normal initialisation for the leaky ReLU's slope; zero biases."""
    if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)):
        nn.init.kaiming_normal_(module.weight, a=negative_slope)
        if module.bias is not None:
            nn.init.zeros_(module.bias)

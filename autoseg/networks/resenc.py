"""The residual encoder of nnU-Net's ResEnc presets (nnU-Net Revisited, MICCAI 2024).

A stem conv block, then per stage ``n_blocks_per_stage[s]`` ResNet-D basic
blocks, the first strided. A basic block is conv-norm-LeakyReLU, conv-norm,
plus a skip (identity; average pooling where the block is strided, then a
1x1 conv and norm where the channels change), and a LeakyReLU after the sum.
The last norm of each block starts with zero weight, so a new block passes its
skip through unchanged. The U-Net decoder over it is autoseg's usual one.
"""

from __future__ import annotations

import torch
from torch import nn

from autoseg.networks.architecture import Architecture
from autoseg.networks.layers import ConvBlock, conv_op, norm_op, normalise, same_padding


class BasicBlockD(nn.Module):
    """A ResNet-D basic block (``(N, C_in, *spatial)`` -> ``(N, C_out, *spatial / stride)``)."""

    def __init__(self, ndim: int, in_channels: int, out_channels: int, *, kernel: list[int], stride: list[int], negative_slope: float):
        super().__init__()
        self.conv1 = ConvBlock(ndim, in_channels, out_channels, kernel=kernel, stride=stride, negative_slope=negative_slope)
        self.conv2 = conv_op(ndim)(out_channels, out_channels, kernel, 1, padding=same_padding(kernel))
        self.norm2 = norm_op(ndim)(out_channels, eps=1e-5, affine=True)
        self.negative_slope = negative_slope
        skip = []
        if any(s != 1 for s in stride):
            pool = nn.AvgPool3d if ndim == 3 else nn.AvgPool2d
            skip.append(pool(stride, stride))
        if in_channels != out_channels:
            skip += [conv_op(ndim)(in_channels, out_channels, 1, bias=False), norm_op(ndim)(out_channels, eps=1e-5, affine=True)]
        self.skip = nn.Sequential(*skip)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.skip(x)
        out = normalise(self.norm2, self.conv2(self.conv1(x)))
        out += residual  # instance norm keeps its input, not its output, for the backward pass
        return nn.functional.leaky_relu_(out, self.negative_slope)


class ResidualEncoder(nn.Module):
    """Stem and residual stages; ``forward`` returns every stage's output, highest resolution first."""

    def __init__(self, in_channels: int, architecture: Architecture):
        super().__init__()
        a = architecture
        self.stem = ConvBlock(
            a.ndim, in_channels, a.features_per_stage[0], kernel=a.kernel_sizes[0], stride=[1] * a.ndim, negative_slope=a.negative_slope
        )
        channels = [a.features_per_stage[0]] + a.features_per_stage[:-1]
        self.stages = nn.ModuleList(
            nn.Sequential(
                BasicBlockD(a.ndim, c_in, c_out, kernel=k, stride=s, negative_slope=a.negative_slope),
                *(
                    BasicBlockD(a.ndim, c_out, c_out, kernel=k, stride=[1] * a.ndim, negative_slope=a.negative_slope)
                    for _ in range(blocks - 1)
                ),
            )
            for c_in, c_out, k, s, blocks in zip(channels, a.features_per_stage, a.kernel_sizes, a.strides, a.encoder_blocks())
        )
        self.out_channels = a.features_per_stage[-1]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        return skips


def zero_last_norms(module: nn.Module) -> None:
    """Zeroes the weight of each basic block's last norm (the block starts as its skip)."""
    if isinstance(module, BasicBlockD):
        nn.init.zeros_(module.norm2.weight)

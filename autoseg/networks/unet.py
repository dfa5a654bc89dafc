"""A U-Net built entirely from a plan's ``architecture`` record (2D or 3D).

Each stage is ``n_conv`` blocks of convolution -> instance norm -> leaky ReLU;
the first block of each encoder stage downsamples with a strided convolution,
the decoder upsamples with transposed convolutions and concatenates the skip
connection. With deep supervision, ``forward`` returns one output per decoder
stage, highest resolution first.

Tensors are ``(N, C, *spatial)`` with spatial axes in autoseg's array order.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

from autoseg.errors import AutosegError


@dataclass
class Architecture:
    """The network part of a configuration in plans.json.

    ``kernel_sizes[s]`` and ``strides[s]`` give, per spatial axis, the kernel
    and the downsampling stride of encoder stage ``s`` (stage 0 has stride 1).
    """

    features_per_stage: list[int]
    kernel_sizes: list[list[int]]
    strides: list[list[int]]
    n_conv_per_stage: int = 2
    n_conv_per_stage_decoder: int = 2
    deep_supervision: bool = True
    negative_slope: float = 0.01

    def __post_init__(self) -> None:
        stages = len(self.features_per_stage)
        if not (len(self.kernel_sizes) == len(self.strides) == stages) or stages < 1:
            raise ValueError(
                f"architecture needs one kernel size and stride per stage ({stages} stages); got {len(self.kernel_sizes)} and "
                f"{len(self.strides)}"
            )
        dims = {len(k) for k in self.kernel_sizes} | {len(s) for s in self.strides}
        if len(dims) != 1 or dims.pop() not in (2, 3):
            raise ValueError("every kernel size and stride must list 2 or 3 axes, all the same")

    @property
    def ndim(self) -> int:
        return len(self.kernel_sizes[0])

    @property
    def num_stages(self) -> int:
        return len(self.features_per_stage)

    def total_stride(self) -> list[int]:
        """Returns, per axis, the product of all strides: patch sizes must be divisible by it."""
        total = [1] * self.ndim
        for stride in self.strides:
            total = [t * s for t, s in zip(total, stride)]
        return total

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: dict) -> "Architecture":
        return cls(**data)


def _conv(ndim: int):
    return nn.Conv3d if ndim == 3 else nn.Conv2d


class ConvBlock(nn.Sequential):
    """Convolution -> instance norm (affine) -> leaky ReLU (in place)."""

    def __init__(self, ndim: int, in_channels: int, out_channels: int, kernel: list[int], stride: list[int], negative_slope: float):
        norm = nn.InstanceNorm3d if ndim == 3 else nn.InstanceNorm2d
        super().__init__(
            _conv(ndim)(in_channels, out_channels, kernel, stride, padding=[k // 2 for k in kernel]),
            norm(out_channels, eps=1e-5, affine=True),
            nn.LeakyReLU(negative_slope, inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, norm, activation = self
        x = conv(x)
        if self.training or torch.is_grad_enabled() or x.dtype != torch.float32 or not _is_channels_last(x):
            return activation(norm(x))
        # Inference in the channels-last layout: torch's instance norm would copy the tensor to
        # channels-first and back, which costs more than the layout saves; normalise it in place.
        return functional.leaky_relu_(_instance_norm_(x, norm.weight, norm.bias, norm.eps), activation.negative_slope)


def _is_channels_last(x: torch.Tensor) -> bool:
    """Whether ``x`` is a 3D feature map in the layout ``prepare_for_inference`` gives 3D networks on the CPU."""
    return x.ndim == 5 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last_3d)


def _instance_norm_(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """Instance norm of a channels-last ``x`` in place, its memory viewed as (N, voxels, C); returns ``x``."""
    n, c = x.shape[:2]
    rows = x.permute(0, *range(2, x.ndim), 1).view(n, -1, c)
    rows.sub_(rows.mean(1, keepdim=True))
    scale = torch.rsqrt(rows.square().mean(1, keepdim=True) + eps) * weight
    rows.mul_(scale).add_(bias)
    return x


def prepare_for_inference(network: nn.Module, device: torch.device | str) -> nn.Module:
    """Puts ``network`` (a UNet or Classifier) in evaluation mode on ``device``; a 3D network on the CPU
    also in the channels-last layout, in which oneDNN's 3D convolutions run 1.2-2x faster (a whole
    forward pass about 1.3x; 2D networks gained nothing, measured). Returns ``network``."""
    device = torch.device(device)
    network.to(device).eval()
    if device.type == "cpu" and network.architecture.ndim == 3:
        network.to(memory_format=torch.channels_last_3d)
    return network


@contextmanager
def evaluating(network: nn.Module, device: torch.device | str):
    """``prepare_for_inference`` for the block; training mode and the standard layout again after."""
    prepare_for_inference(network, device)
    try:
        yield network
    finally:
        network.to(memory_format=torch.contiguous_format).train()


def _stage(
    ndim: int, in_channels: int, out_channels: int, kernel: list[int], stride: list[int], n_conv: int, slope: float
) -> nn.Sequential:
    blocks = [ConvBlock(ndim, in_channels, out_channels, kernel, stride, slope)]
    blocks += [ConvBlock(ndim, out_channels, out_channels, kernel, [1] * ndim, slope) for _ in range(n_conv - 1)]
    return nn.Sequential(*blocks)


class Encoder(nn.Module):
    """The contracting path; ``forward`` returns every stage's output, highest resolution first."""

    def __init__(self, in_channels: int, architecture: Architecture):
        super().__init__()
        a = architecture
        channels = [in_channels] + a.features_per_stage[:-1]
        self.stages = nn.ModuleList(
            _stage(a.ndim, c_in, c_out, k, s, a.n_conv_per_stage, a.negative_slope)
            for c_in, c_out, k, s in zip(channels, a.features_per_stage, a.kernel_sizes, a.strides)
        )
        self.out_channels = a.features_per_stage[-1]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        skips = []
        for stage in self.stages:
            x = stage(x)
            skips.append(x)
        return skips


class UNet(nn.Module):
    """Encoder, decoder and a 1x1 convolution head per decoder stage.

    ``input_skips`` ({output channel: (input channel, scale, shift)}) adds
    ``scale * input[channel] + shift`` to that output channel (block-averaged
    to each deep-supervision output's grid): the network then learns a
    correction of that input (regression of a standard-dose from a low-dose
    image). The skips hold no weights; they come from the plans.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        architecture: Architecture,
        input_skips: dict[int, tuple[int, float, float]] | None = None,
    ):
        super().__init__()
        a = architecture
        skips = input_skips or {}
        for output, (channel, _, _) in skips.items():
            if not (0 <= output < out_channels and 0 <= channel < in_channels):
                raise AutosegError(
                    f"input skip {channel} -> {output} does not fit a network with {in_channels} input and {out_channels} "
                    "output channels; fix input_skips in plans.json."
                )
        self.skip_outputs = sorted(skips)
        self.register_buffer("skip_targets", torch.tensor(self.skip_outputs, dtype=torch.long), persistent=False)
        self.register_buffer("skip_inputs", torch.tensor([skips[o][0] for o in self.skip_outputs], dtype=torch.long), persistent=False)
        self.register_buffer("skip_scales", torch.tensor([skips[o][1] for o in self.skip_outputs], dtype=torch.float32), persistent=False)
        self.register_buffer("skip_shifts", torch.tensor([skips[o][2] for o in self.skip_outputs], dtype=torch.float32), persistent=False)
        self.architecture = a
        self.deep_supervision = a.deep_supervision
        self.encoder = Encoder(in_channels, a)
        transposed = nn.ConvTranspose3d if a.ndim == 3 else nn.ConvTranspose2d
        self.upsample = nn.ModuleList()
        self.decoder = nn.ModuleList()
        self.heads = nn.ModuleList()
        for s in range(a.num_stages - 2, -1, -1):
            below, here = a.features_per_stage[s + 1], a.features_per_stage[s]
            self.upsample.append(transposed(below, here, a.strides[s + 1], a.strides[s + 1], bias=False))
            self.decoder.append(
                _stage(a.ndim, 2 * here, here, a.kernel_sizes[s], [1] * a.ndim, a.n_conv_per_stage_decoder, a.negative_slope)
            )
            self.heads.append(_conv(a.ndim)(here, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        inputs = x
        skips = self.encoder(x)
        x = skips[-1]
        outputs = []
        for up, stage, head, skip in zip(self.upsample, self.decoder, self.heads, reversed(skips[:-1])):
            x = stage(torch.cat((up(x), skip), dim=1))
            if self.deep_supervision and self.training:
                outputs.append(self._add_skips(head(x), inputs))
        if self.deep_supervision and self.training:
            return outputs[::-1]
        return self._add_skips(self.heads[-1](x), inputs)

    def _add_skips(self, output: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        if not self.skip_outputs:
            return output
        chosen = inputs.index_select(1, self.skip_inputs)
        if chosen.shape[2:] != output.shape[2:]:
            chosen = functional.interpolate(chosen.float(), size=output.shape[2:], mode="area")
        shape = (1, -1) + (1,) * (output.ndim - 2)
        added = chosen.float() * self.skip_scales.view(shape) + self.skip_shifts.view(shape)
        # In float32 even under autocast: the skip carries the whole input image, the network a small correction.
        return output.float().index_add(1, self.skip_targets, added)

    def zero_heads(self) -> None:
        """Zeroes the output convolutions, so the network starts out predicting its input skips exactly."""
        for head in self.heads:
            nn.init.zeros_(head.weight)
            if head.bias is not None:
                nn.init.zeros_(head.bias)


class Classifier(nn.Module):
    """The U-Net's encoder, global average pooling, dropout and a linear head: one logit per class.

    Its parameters are named like the U-Net's encoder (``encoder.*``), so the
    encoder of a segmentation model of the same modality loads into it
    (transfer learning). In training mode ``forward`` returns ``[logits]``,
    one output level as the trainer's losses expect; in evaluation mode the
    logits ``(N, K)``.
    """

    def __init__(self, in_channels: int, num_classes: int, architecture: Architecture, dropout: float = 0.2):
        super().__init__()
        self.architecture = architecture
        self.encoder = Encoder(in_channels, architecture)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(architecture.features_per_stage[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        deepest = self.encoder(x)[-1]
        logits = self.head(self.dropout(deepest.mean(dim=tuple(range(2, deepest.ndim)))))
        return [logits] if self.training else logits


def initialise_weights(module: nn.Module, negative_slope: float = 0.01) -> None:
    """Kaiming-normal initialisation for the leaky ReLU's slope; zero biases."""
    if isinstance(module, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear)):
        nn.init.kaiming_normal_(module.weight, a=negative_slope)
        if module.bias is not None:
            nn.init.zeros_(module.bias)

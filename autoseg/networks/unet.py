"""The U-Net (2D or 3D) over any encoder, the plain conv encoder, and the encoder with a classification head.

An encoder returns every stage's output, highest resolution first; stage
``s`` has ``architecture.features_per_stage[s]`` channels. The decoder
upsamples with transposed convolutions, concatenates the skip connection and
applies ``n_conv_per_stage_decoder`` conv blocks. In training mode ``forward``
returns a list of outputs, as the losses take them: with deep supervision one
per decoder stage, highest resolution first, else the full-resolution one
alone; in evaluation mode the full-resolution output itself.

Tensors are ``(N, C, *spatial)`` with spatial axes in autoseg's array order.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional

from autoseg.errors import AutosegError
from autoseg.networks.architecture import Architecture
from autoseg.networks.layers import conv_op, conv_stage


class Encoder(nn.Module):
    """The plain contracting path: per stage, ``n_conv_per_stage`` conv blocks, the first strided."""

    def __init__(self, in_channels: int, architecture: Architecture):
        super().__init__()
        a = architecture
        channels = [in_channels] + a.features_per_stage[:-1]
        self.stages = nn.ModuleList(
            conv_stage(a.ndim, c_in, c_out, kernel=k, stride=s, n_conv=n, slope=a.negative_slope)
            for c_in, c_out, k, s, n in zip(channels, a.features_per_stage, a.kernel_sizes, a.strides, a.encoder_blocks())
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

    ``encoder`` defaults to the plain ``Encoder``. ``input_skips`` ({output
    channel: (input channel, scale, shift)}) adds ``scale * input[channel] +
    shift`` to that output channel (block-averaged to each deep-supervision
    output's grid): the network then learns a correction of that input
    (regression of a standard-dose from a low-dose image). The skips hold no
    weights; they come from the plans.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        architecture: Architecture,
        input_skips: dict[int, tuple[int, float, float]] | None = None,
        *,
        encoder: nn.Module | None = None,
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
        self.encoder = encoder if encoder is not None else Encoder(in_channels, a)
        transposed = nn.ConvTranspose3d if a.ndim == 3 else nn.ConvTranspose2d
        self.upsample = nn.ModuleList()
        self.decoder = nn.ModuleList()
        self.heads = nn.ModuleList()
        for s in range(a.num_stages - 2, -1, -1):
            below, here = a.features_per_stage[s + 1], a.features_per_stage[s]
            self.upsample.append(transposed(below, here, a.strides[s + 1], a.strides[s + 1], bias=a.upsample_bias))
            self.decoder.append(
                conv_stage(
                    a.ndim,
                    2 * here,
                    here,
                    kernel=a.kernel_sizes[s],
                    stride=[1] * a.ndim,
                    n_conv=a.n_conv_per_stage_decoder,
                    slope=a.negative_slope,
                )
            )
            self.heads.append(conv_op(a.ndim)(here, out_channels, 1))

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
        output = self._add_skips(self.heads[-1](x), inputs)
        return [output] if self.training else output

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
    """An encoder, global average pooling, dropout and a linear head: one logit per class.

    ``encoder`` defaults to the plain ``Encoder``. Its parameters are named
    like a U-Net's encoder (``encoder.*``), so the encoder of a segmentation
    model of the same network and modality loads into it (transfer learning).
    In training mode ``forward`` returns ``[logits]``, one output level as the
    trainer's losses expect; in evaluation mode the logits ``(N, K)``.
    """

    def __init__(
        self, in_channels: int, num_classes: int, architecture: Architecture, dropout: float = 0.2, *, encoder: nn.Module | None = None
    ):
        super().__init__()
        self.architecture = architecture
        self.encoder = encoder if encoder is not None else Encoder(in_channels, architecture)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(architecture.features_per_stage[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        deepest = self.encoder(x)[-1]
        logits = self.head(self.dropout(deepest.mean(dim=tuple(range(2, deepest.ndim)))))
        return [logits] if self.training else logits


def prepare_for_inference(network: nn.Module, device: torch.device | str) -> nn.Module:
    """Puts ``network`` (any registered network, which carries its ``architecture``) in evaluation mode
    on ``device``; a 3D network on the CPU also in the channels-last layout, in which oneDNN's 3D
    convolutions run 1.2-2x faster (a whole forward pass about 1.3x; 2D networks gained nothing,
    measured). Returns ``network``."""
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

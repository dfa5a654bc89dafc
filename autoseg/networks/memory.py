"""Analytic models of the memory one training step needs: the terms every network shares, and the plain U-Net's.

Everything is counted in bytes for a batch of ``batch_size`` patches. The
terms, for a network with stage features F_s and voxels per sample V_s at
stage s (V_s = patch voxels / cumulative stride), K output channels, C input
channels, and b bytes per feature-map value (4 in float32, 2 under mixed
precision; the input, target and loss maps stay float32 either way):

* activations kept for the backward pass, per sample:
  - encoder: the network's own term (``Network.encoder_feature_values``); for
    the plain U-Net 2 F_s V_s per convolution block (the convolution's
    output, which instance norm keeps, and the in-place activation's output,
    which the next convolution keeps);
  - decoder: 2 F_s V_s for the concatenated skip and upsampled maps, then
    2 F_s V_s per convolution block;
  - heads and loss: LOSS_MAPS K V_s per deep-supervision output (logits,
    softmax, one-hot target and the Dice and cross-entropy intermediates);
  - the input and target: (C + 1) V_0;
* the backward pass's transient gradients: BACKWARD_TRANSIENT times the
  largest single feature map (F_s V_s), per sample;
* parameters: P weights in float32, their gradients, SGD momentum, and under
  mixed precision a half-precision copy cast for the forward pass:
  P (4 + 4 + 4 [+ 2]) bytes;
* a fixed WORKSPACE_BYTES for convolution algorithms and allocator slack.

The test suite checks each registered network's model against the measured
peak memory of real training steps (see ``planners.measure_memory``);
docs/planning.md gives the formula and the tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoseg.networks.architecture import Architecture

LOSS_MAPS = 4
BACKWARD_TRANSIENT = 2
WORKSPACE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class MemoryEstimate:
    activation_bytes: int
    parameter_bytes: int
    workspace_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.activation_bytes + self.parameter_bytes + self.workspace_bytes

    @property
    def total_gb(self) -> float:
        return self.total_bytes / 2**30


def stage_voxels(architecture: Architecture, patch_size: list[int]) -> list[int]:
    """Returns the voxels per sample of each stage's feature maps."""
    voxels = []
    size = np.asarray(patch_size, dtype=float)
    for stride in architecture.strides:
        size = size / np.asarray(stride)
        voxels.append(int(np.prod(np.ceil(size))))
    return voxels


def plain_encoder_values(architecture: Architecture, voxels: list[int]) -> int:
    """Feature-map values per sample the plain encoder keeps for the backward pass: 2 F_s V_s per conv block."""
    return sum(blocks * 2 * f * v for blocks, f, v in zip(architecture.encoder_blocks(), architecture.features_per_stage, voxels))


def plain_parameter_count(architecture: Architecture, in_channels: int, out_channels: int, decoder: bool = True) -> int:
    """Returns the number of trainable parameters of the plain U-Net (or, without ``decoder``, its encoder
    and a linear head)."""
    a = architecture
    total = 0
    channels_in = in_channels
    for features, kernel, blocks in zip(a.features_per_stage, a.kernel_sizes, a.encoder_blocks()):
        k = int(np.prod(kernel))
        total += channels_in * features * k + features + 2 * features  # first conv + bias + norm
        total += (blocks - 1) * (features * features * k + 3 * features)
        channels_in = features
    if not decoder:
        return total + a.features_per_stage[-1] * out_channels + out_channels
    return total + decoder_parameter_count(a, out_channels)


def decoder_parameter_count(architecture: Architecture, out_channels: int) -> int:
    """Parameters of the U-Net decoder: transposed convolutions, conv blocks and deep-supervision heads."""
    a = architecture
    total = 0
    for s in range(a.num_stages - 1):
        here, below = a.features_per_stage[s], a.features_per_stage[s + 1]
        k = int(np.prod(a.kernel_sizes[s]))
        total += below * here * int(np.prod(a.strides[s + 1])) + (here if a.upsample_bias else 0)  # transposed conv
        total += 2 * here * here * k + 3 * here
        total += (a.n_conv_per_stage_decoder - 1) * (here * here * k + 3 * here)
        total += here * out_channels + out_channels  # head
    return total


def training_step_memory(
    architecture: Architecture,
    patch_size: list[int],
    *,
    in_channels: int,
    out_channels: int,
    batch_size: int,
    mixed_precision: bool,
    encoder_values: int,
    parameters: int,
    decoder: bool = True,
) -> MemoryEstimate:
    """Returns the modelled peak memory of one forward + backward + SGD step, given the encoder's kept
    feature-map values per sample (``encoder_values``) and the parameter count.

    Without ``decoder`` the network is the encoder with a classification head
    (no decoder or dense loss terms).
    """
    a = architecture
    voxels = stage_voxels(a, patch_size)
    features = a.features_per_stage
    feature_values = encoder_values
    float32_values = (in_channels + 1) * voxels[0]
    if decoder:
        supervised = range(a.num_stages - 1) if a.deep_supervision else [0]
        for s in range(a.num_stages - 1):
            feature_values += (2 + 2 * a.n_conv_per_stage_decoder) * features[s] * voxels[s]
        float32_values += sum(LOSS_MAPS * out_channels * voxels[s] for s in supervised)
    feature_values += BACKWARD_TRANSIENT * max(f * v for f, v in zip(features, voxels))
    per_sample_bytes = feature_values * (2 if mixed_precision else 4) + float32_values * 4
    return MemoryEstimate(
        activation_bytes=int(per_sample_bytes * batch_size),
        parameter_bytes=int(parameters * (14 if mixed_precision else 12)),
        workspace_bytes=WORKSPACE_BYTES,
    )

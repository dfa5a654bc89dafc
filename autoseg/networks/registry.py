"""The network registry: each network family builds itself from an ``Architecture`` and knows its own facts.

A registered ``Network`` builds the dense network (encoder + U-Net decoder +
deep-supervision heads) and the classifier (encoder + pooled linear head),
initialises them, and reports its deep-supervision output scales, parameter
count and modelled training memory, so that neither the planner nor the
trainer assumes one architecture. ``architecture.network`` in plans.json
names the entry; plug-ins add their own with ``@register_network``.
"""

from __future__ import annotations

import json
from functools import lru_cache

import torch
from torch import nn

from autoseg.errors import AutosegError
from autoseg.networks.architecture import Architecture
from autoseg.networks.layers import initialise_weights
from autoseg.networks.memory import MemoryEstimate, plain_encoder_values, plain_parameter_count, stage_voxels, training_step_memory
from autoseg.networks.resenc import ResidualEncoder, zero_last_norms
from autoseg.networks.unet import Classifier, Encoder, UNet
from autoseg.registry import Registry


class Network:
    """A network family. Subclasses set ``name`` and ``block`` and provide ``encoder`` and
    ``encoder_feature_values``; the rest has defaults that fit any encoder under autoseg's U-Net decoder."""

    name = ""
    block = "conv"  # the Architecture.block this family builds

    def encoder(self, in_channels: int, architecture: Architecture) -> nn.Module:
        """The contracting path: ``forward`` returns every stage's output (stage s: features_per_stage[s] channels)."""
        raise NotImplementedError

    def encoder_feature_values(self, architecture: Architecture, voxels: list[int], in_channels: int) -> int:
        """Feature-map values per sample that the encoder keeps for the backward pass (``voxels``: per stage)."""
        raise NotImplementedError

    def check(self, architecture: Architecture, source: str = "plans.json") -> None:
        """Raises AutosegError when ``architecture`` is not one this family builds."""
        if architecture.block != self.block:
            raise AutosegError(
                f"{source}: network {self.name!r} is built from {self.block!r} blocks, not {architecture.block!r}; fix 'block'."
            )

    def build(self, in_channels: int, out_channels: int, architecture: Architecture, input_skips: dict | None = None) -> nn.Module:
        """The initialised dense network; with ``input_skips`` its heads start at zero (it predicts those inputs)."""
        network = UNet(in_channels, out_channels, architecture, input_skips, encoder=self.encoder(in_channels, architecture))
        self.initialise(network)
        if input_skips:
            network.zero_heads()
        return network

    def build_classifier(self, in_channels: int, num_classes: int, architecture: Architecture) -> nn.Module:
        """The initialised classifier: this family's encoder, global average pooling and a linear head."""
        network = Classifier(in_channels, num_classes, architecture, encoder=self.encoder(in_channels, architecture))
        self.initialise(network)
        return network

    def initialise(self, network: nn.Module) -> None:
        network.apply(initialise_weights)

    def output_scales(self, architecture: Architecture) -> list[list[int]]:
        """Per deep-supervision output (highest resolution first), its downsampling factor per axis."""
        scales, total = [], [1] * architecture.ndim
        for stride in architecture.strides[:-1]:
            total = [t * s for t, s in zip(total, stride)]
            scales.append(list(total))
        return scales if architecture.deep_supervision else scales[:1]

    def count_parameters(self, architecture: Architecture, in_channels: int, out_channels: int, decoder: bool = True) -> int:
        """Trainable parameters of the dense network (or, without ``decoder``, of the classifier), counted on
        a network built on the meta device (no memory, no initialisation)."""
        return _meta_parameter_count(self, json.dumps(architecture.to_json(), sort_keys=True), in_channels, out_channels, decoder)

    def memory(
        self,
        architecture: Architecture,
        patch_size: list[int],
        *,
        in_channels: int,
        out_channels: int,
        batch_size: int,
        mixed_precision: bool,
        decoder: bool = True,
    ) -> MemoryEstimate:
        """The modelled peak memory of one training step (autoseg.networks.memory)."""
        return training_step_memory(
            architecture,
            patch_size,
            in_channels=in_channels,
            out_channels=out_channels,
            batch_size=batch_size,
            mixed_precision=mixed_precision,
            encoder_values=self.encoder_feature_values(architecture, stage_voxels(architecture, patch_size), in_channels),
            parameters=self.count_parameters(architecture, in_channels, out_channels, decoder),
            decoder=decoder,
        )


@lru_cache(maxsize=256)
def _meta_parameter_count(network: Network, architecture_json: str, in_channels: int, out_channels: int, decoder: bool) -> int:
    """Cached by the architecture's JSON text: the planner asks for the same few architectures many times."""
    architecture = Architecture.from_json(json.loads(architecture_json))
    with torch.device("meta"):
        encoder = network.encoder(in_channels, architecture)
        if decoder:
            built = UNet(in_channels, out_channels, architecture, encoder=encoder)
        else:
            built = Classifier(in_channels, out_channels, architecture, encoder=encoder)
    return sum(p.numel() for p in built.parameters())


NETWORKS: Registry[Network] = Registry("network")


def register_network(cls: type[Network]) -> type[Network]:
    """Class decorator: registers an instance of ``cls`` under ``cls.name``."""
    NETWORKS.add(cls.name, cls())
    return cls


def get_network(name: str) -> Network:
    return NETWORKS.get(name)


def network_for(architecture: Architecture, source: str = "plans.json") -> Network:
    """The registered family that builds ``architecture``, checked against it."""
    network = NETWORKS.get(architecture.network)
    network.check(architecture, source)
    return network


@register_network
class PlainUNet(Network):
    """The plain U-Net: conv blocks in encoder and decoder (nnU-Net's PlainConvUNet)."""

    name = "unet"

    def encoder(self, in_channels, architecture):
        return Encoder(in_channels, architecture)

    def encoder_feature_values(self, architecture, voxels, in_channels):
        return plain_encoder_values(architecture, voxels)

    def count_parameters(self, architecture, in_channels, out_channels, decoder=True):
        return plain_parameter_count(architecture, in_channels, out_channels, decoder)


@register_network
class ResidualEncoderUNet(Network):
    """A residual encoder (stem + ResNet-D basic blocks) under the U-Net decoder (nnU-Net's ResidualEncoderUNet)."""

    name = "resenc_unet"
    block = "basic_d"

    def encoder(self, in_channels, architecture):
        return ResidualEncoder(in_channels, architecture)

    def initialise(self, network):
        super().initialise(network)
        network.apply(zero_last_norms)

    def encoder_feature_values(self, architecture, voxels, in_channels):
        """The stem keeps 2 F_0 V_0; each basic block 4 F V (conv1's output and activation, conv2's output,
        the activated sum); a block that changes the channels also its projection's output, F V, and where
        it is strided the pooled input that projection reads, C_in V."""
        a = architecture
        values = 2 * a.features_per_stage[0] * voxels[0]
        channels = [a.features_per_stage[0]] + a.features_per_stage[:-1]
        for c_in, f, v, stride, blocks in zip(channels, a.features_per_stage, voxels, a.strides, a.encoder_blocks()):
            values += 4 * f * v * blocks
            if c_in != f:
                values += f * v + (c_in * v if any(s != 1 for s in stride) else 0)
        return int(values)

"""The network part of a configuration in plans.json: which registered network, and its shape."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Architecture:
    """A network as plans.json describes it; ``network`` names its entry in the network registry.

    ``kernel_sizes[s]`` and ``strides[s]`` give, per spatial axis, the kernel
    and the downsampling stride of encoder stage ``s`` (stage 0 has stride 1).
    ``block`` is the encoder's building block: ``conv`` (convolution, instance
    norm, leaky ReLU) or ``basic_d`` (a ResNet-D basic block of two of them
    around a residual connection). ``n_blocks_per_stage`` counts them per
    encoder stage; left out, every stage has ``n_conv_per_stage`` conv blocks.
    The decoder has ``n_conv_per_stage_decoder`` conv blocks per stage; its transposed convolutions carry a
    bias where ``upsample_bias`` is set (as in nnU-Net's networks, which autoseg imports; autoseg's own have
    none).
    """

    features_per_stage: list[int]
    kernel_sizes: list[list[int]]
    strides: list[list[int]]
    n_conv_per_stage: int = 2
    n_conv_per_stage_decoder: int = 2
    deep_supervision: bool = True
    negative_slope: float = 0.01
    network: str = "unet"
    block: str = "conv"
    n_blocks_per_stage: list[int] | None = None
    upsample_bias: bool = False

    def __post_init__(self) -> None:
        stages = len(self.features_per_stage)
        if not (len(self.kernel_sizes) == len(self.strides) == stages) or stages < 1:
            raise ValueError(
                f"architecture needs one kernel size and stride per stage ({stages} stages); "
                f"got {len(self.kernel_sizes)} and {len(self.strides)}"
            )
        dims = {len(k) for k in self.kernel_sizes} | {len(s) for s in self.strides}
        if len(dims) != 1 or dims.pop() not in (2, 3):
            raise ValueError("every kernel size and stride must list 2 or 3 axes, all the same")
        if self.n_blocks_per_stage is not None and (len(self.n_blocks_per_stage) != stages or min(self.n_blocks_per_stage) < 1):
            raise ValueError(
                f"n_blocks_per_stage must give at least one block for each of the {stages} stages, got {self.n_blocks_per_stage}"
            )

    @property
    def ndim(self) -> int:
        return len(self.kernel_sizes[0])

    @property
    def num_stages(self) -> int:
        return len(self.features_per_stage)

    def encoder_blocks(self) -> list[int]:
        """Returns the number of encoder blocks of each stage."""
        return list(self.n_blocks_per_stage) if self.n_blocks_per_stage is not None else [self.n_conv_per_stage] * self.num_stages

    def total_stride(self) -> list[int]:
        """Returns, per axis, the product of all strides: patch sizes must be divisible by it."""
        total = [1] * self.ndim
        for stride in self.strides:
            total = [t * s for t, s in zip(total, stride)]
        return total

    def to_json(self) -> dict:
        data = asdict(self)
        if not self.upsample_bias:
            del data["upsample_bias"]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Architecture":
        return cls(**data)

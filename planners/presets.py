"""Residual-encoder presets, as nnU-Net v2 defines them (nnU-Net Revisited, MICCAI 2024).

Each is the default planner with a residual-encoder U-Net (``resenc_unet``:
a stem and ResNet-D basic blocks, 1, 3, 4, 6, 6, 6, ... per stage; one conv
block per decoder stage), planned for a fixed memory target instead of the
device's (M: 8 GB, L: 24 GB, XL: 40 GB), and without the 5 % cap on the
share of the dataset one batch covers: on a large GPU the batch fills the
memory. Choose one with ``autoseg plan_and_preprocess -d ID -pl resenc_m``;
its plans are ``plans_resenc_m.json`` and its data folders
``resenc_m_3d_fullres``..., so it never touches the default planner's.
"""

from __future__ import annotations

from dataclasses import replace

from planners.default import DEFAULT
from planners.registry import register_planner

RESENC = replace(
    DEFAULT,
    name="resenc",
    network="resenc_unet",
    block="basic_d",
    blocks_per_stage=(1, 3, 4, 6, 6, 6, 6, 6),
    decoder_convs_per_stage=1,
    max_batch_fraction=1.0,
)

RESENC_M = register_planner(replace(RESENC, name="resenc_m", memory_target_gb=8.0))
RESENC_L = register_planner(replace(RESENC, name="resenc_l", memory_target_gb=24.0))
RESENC_XL = register_planner(replace(RESENC, name="resenc_xl", memory_target_gb=40.0))

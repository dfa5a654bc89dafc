"""Seeded generators of realistic stand-ins for the datasets autoseg's users bring.

Importing this package registers every generator.
"""

from dataset_conversion.synthetic import alzheimers, brain_tumour_2d, brats, ct, isles, pet, spine  # noqa: F401
from dataset_conversion.synthetic.registry import StandIn, generate_stand_in, get_stand_in, stand_ins

__all__ = ["StandIn", "generate_stand_in", "get_stand_in", "stand_ins"]

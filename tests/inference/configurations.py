"""A configuration for tests of the export, which reads a configuration's grid and rules, not its network."""

from autoseg.networks import Architecture
from autoseg.plans import Configuration


def export_configuration(spacing, nnunet_inference=False) -> Configuration:
    architecture = Architecture([4, 8], [[3] * len(spacing)] * 2, [[1] * len(spacing), [2] * len(spacing)])
    patch = [8] * len(spacing)
    return Configuration("3d_fullres", "x", list(spacing), patch, 1, architecture, [], patch, nnunet_inference=nnunet_inference)

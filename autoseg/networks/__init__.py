"""Networks built from plans: the U-Net and its encoder."""

from autoseg.networks.unet import Architecture, Encoder, UNet, initialise_weights

__all__ = ["Architecture", "Encoder", "UNet", "initialise_weights"]

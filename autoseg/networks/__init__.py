"""Networks built from plans: the U-Net, its encoder, and the encoder with a classification head."""

from autoseg.networks.unet import Architecture, Classifier, Encoder, UNet, initialise_weights

__all__ = ["Architecture", "Classifier", "Encoder", "UNet", "initialise_weights"]

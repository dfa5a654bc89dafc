"""Networks built from plans: the U-Net, its encoder, and the encoder with a classification head."""

from autoseg.networks.unet import Architecture, Classifier, Encoder, UNet, evaluating, initialise_weights, prepare_for_inference

__all__ = ["Architecture", "Classifier", "Encoder", "UNet", "evaluating", "initialise_weights", "prepare_for_inference"]

"""Networks built from plans: a registry of network families (the plain U-Net, the residual-encoder U-Net,
and plug-ins), each building its dense network and classifier from a plan's ``architecture`` record."""

from autoseg.networks.architecture import Architecture
from autoseg.networks.layers import initialise_weights
from autoseg.networks.memory import MemoryEstimate
from autoseg.networks.registry import NETWORKS, Network, get_network, network_for, register_network
from autoseg.networks.unet import Classifier, Encoder, UNet, evaluating, prepare_for_inference

__all__ = [
    "NETWORKS",
    "Architecture",
    "Classifier",
    "Encoder",
    "MemoryEstimate",
    "Network",
    "UNet",
    "evaluating",
    "get_network",
    "initialise_weights",
    "network_for",
    "prepare_for_inference",
    "register_network",
]

"""The analytic memory model against measured peak memory of real training steps (CPU, float32)."""

import pytest
from torch import nn

from autoseg.networks import Encoder, UNet, get_network
from autoseg.networks.memory import plain_parameter_count as count_parameters
from planners import get_planner
from planners.measure_memory import measure_training_step
from planners.topology import plan_topology

training_step_memory = get_network("unet").memory

TOLERANCE = 0.10  # docs/planning.md: the model is within 10 % of the measured peak

TOPOLOGIES = {
    "2d": dict(spacing=[1.0, 1.0], patch=[192, 192], in_channels=2, out_channels=4, batch=6, max_stages=7, max_features=512),
    "3d_isotropic": dict(
        spacing=[1.0, 1.0, 1.0], patch=[48, 48, 48], in_channels=1, out_channels=3, batch=2, max_stages=6, max_features=320
    ),
    "3d_anisotropic": dict(
        spacing=[5.0, 0.8, 0.8], patch=[12, 96, 96], in_channels=6, out_channels=2, batch=2, max_stages=6, max_features=320
    ),
}


# The residual encoder on the 2D topology (72 M parameters: in-place updates must not be counted twice);
# tests/test_registries.py measures every registered network, the plain U-Net among them, on an isotropic 3D
# topology (within the same 10 %), and benchmarks/memory_model.py runs the whole matrix.
MEASURED = [("2d", "resenc_m")]


@pytest.mark.parametrize("name, planner", MEASURED)
def test_model_matches_measured_peak_memory(name, planner):
    """Each network family's memory model (plain U-Net, residual encoder) against a real step."""
    t = TOPOLOGIES[name]
    architecture, patch = get_planner(planner).architecture(t["spacing"], t["patch"])
    network = get_network(architecture.network)
    modelled = network.memory(
        architecture, patch, in_channels=t["in_channels"], out_channels=t["out_channels"], batch_size=t["batch"], mixed_precision=False
    ).total_bytes
    measured = measure_training_step(
        {
            "architecture": architecture.to_json(),
            "patch_size": patch,
            "in_channels": t["in_channels"],
            "out_channels": t["out_channels"],
            "batch_size": t["batch"],
            "device": "cpu",
        }
    )
    assert measured > 300 * 2**20  # large enough that allocator noise does not decide the test
    assert abs(modelled / measured - 1) < TOLERANCE, f"{name}: modelled {modelled / 2**20:.0f} MB, measured {measured / 2**20:.0f} MB"


@pytest.mark.parametrize("name", list(TOPOLOGIES))
def test_parameter_count_matches_the_built_network(name):
    t = TOPOLOGIES[name]
    architecture, _ = plan_topology(t["spacing"], t["patch"], max_stages=t["max_stages"], max_features=t["max_features"])
    network = UNet(t["in_channels"], t["out_channels"], architecture)
    assert count_parameters(architecture, t["in_channels"], t["out_channels"]) == sum(p.numel() for p in network.parameters())
    encoder = nn.Sequential(Encoder(t["in_channels"], architecture), nn.Linear(architecture.features_per_stage[-1], t["out_channels"]))
    assert count_parameters(architecture, t["in_channels"], t["out_channels"], decoder=False) == sum(
        p.numel() for p in encoder.parameters()
    )


def test_memory_grows_linearly_with_batch_and_mixed_precision_halves_only_feature_maps():
    architecture, patch = plan_topology([1.0, 1.0, 1.0], [64, 64, 64], max_stages=6)
    one = training_step_memory(architecture, patch, in_channels=1, out_channels=2, batch_size=1, mixed_precision=False)
    three = training_step_memory(architecture, patch, in_channels=1, out_channels=2, batch_size=3, mixed_precision=False)
    assert three.activation_bytes == 3 * one.activation_bytes and three.parameter_bytes == one.parameter_bytes
    half = training_step_memory(architecture, patch, in_channels=1, out_channels=2, batch_size=1, mixed_precision=True).activation_bytes
    float32_part = one.activation_bytes - 2 * (one.activation_bytes - half)  # input, target and loss maps
    assert 0 < float32_part < 0.2 * one.activation_bytes


def test_tensor_memory_tracker_counts_storages_as_they_are_created_and_freed():
    import torch

    from planners.measure_memory import TensorMemoryTracker

    existing = torch.ones(1000)  # made before the block: not counted
    with TensorMemoryTracker() as tracker:
        a = torch.zeros(1000)  # 4000 bytes
        b = a + 1  # 8000 live
        view = b[:10]  # a view shares b's storage: nothing new
        del a  # 4000 live
        c = existing * 2  # 8000 live again, never more
        assert tracker.current_bytes == 8000
        del b, view, c
    assert tracker.peak_bytes == 8000 and tracker.current_bytes == 0

import pytest
import torch

from autoseg.networks import Architecture, UNet


@pytest.mark.parametrize(
    "architecture, shape",
    [
        (Architecture([4, 8, 16], [[3, 3]] * 3, [[1, 1], [2, 2], [2, 2]]), (2, 3, 32, 24)),
        (Architecture([4, 8, 16], [[1, 3, 3], [3, 3, 3], [3, 3, 3]], [[1, 1, 1], [1, 2, 2], [2, 2, 2]]), (2, 1, 8, 16, 16)),
    ],
)
def test_outputs_per_decoder_stage_in_training_one_in_evaluation(architecture, shape):
    network = UNet(shape[1], 5, architecture)
    network.train()
    outputs = network(torch.randn(shape))
    assert len(outputs) == architecture.num_stages - 1
    assert outputs[0].shape == (shape[0], 5, *shape[2:])
    assert outputs[1].shape[2:] == tuple(s // st for s, st in zip(shape[2:], architecture.strides[1]))
    network.eval()
    with torch.no_grad():
        assert network(torch.randn(shape)).shape == (shape[0], 5, *shape[2:])


def test_architecture_round_trips_and_rejects_mismatched_lists():
    architecture = Architecture([4, 8], [[3, 3, 3]] * 2, [[1, 1, 1], [2, 2, 2]])
    assert Architecture.from_json(architecture.to_json()) == architecture
    with pytest.raises(ValueError):
        Architecture([4, 8], [[3, 3, 3]], [[1, 1, 1], [2, 2, 2]])

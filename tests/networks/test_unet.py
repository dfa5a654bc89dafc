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


def test_input_skips_make_a_zero_headed_network_predict_the_mapped_input_at_every_output():
    from autoseg.errors import AutosegError

    architecture = Architecture([4, 8, 16], [[3, 3, 3]] * 3, [[1, 1, 1], [2, 2, 2], [2, 2, 2]])
    network = UNet(2, 2, architecture, {1: (0, 2.0, -1.0)})  # output 1 = 2 * input 0 - 1; output 0 has no skip
    network.zero_heads()
    x = torch.randn(2, 2, 8, 8, 8)
    full, half = network(x)
    assert torch.allclose(full[:, 1], 2 * x[:, 0] - 1, atol=1e-6) and not full[:, 0].any()
    block_mean = x[:, 0].reshape(2, 4, 2, 4, 2, 4, 2).mean((2, 4, 6))
    assert torch.allclose(half[:, 1], 2 * block_mean - 1, atol=1e-5)  # the deep-supervision target's grid
    network.eval()
    with torch.no_grad():
        assert torch.allclose(network(x)[:, 1], 2 * x[:, 0] - 1, atol=1e-6)
    # The skips come from the plans: checkpoints hold only weights, the same as without skips.
    assert network.state_dict().keys() == UNet(2, 2, architecture).state_dict().keys()
    with pytest.raises(AutosegError, match="input_skips"):
        UNet(2, 2, architecture, {0: (2, 1.0, 0.0)})


def test_inference_on_the_cpu_in_channels_last_computes_the_same_function():
    import copy

    from autoseg.networks import Classifier, evaluating, prepare_for_inference

    torch.manual_seed(0)
    architecture = Architecture([8, 16, 32], [[3, 3, 3]] * 3, [[1, 1, 1], [1, 2, 2], [2, 2, 2]])
    x = 5 + 3 * torch.randn(2, 2, 12, 16, 16)  # an offset mean, as raw feature maps have
    for network in (UNet(2, 3, architecture), Classifier(2, 3, architecture)):
        reference = copy.deepcopy(network).eval()
        prepared = prepare_for_inference(network, torch.device("cpu"))
        assert network.encoder.stages[0][0][0].weight.is_contiguous(memory_format=torch.channels_last_3d)
        with torch.no_grad():
            torch.testing.assert_close(prepared(x), reference(x), rtol=1e-5, atol=1e-5)
    network = UNet(2, 3, architecture)
    with torch.no_grad(), evaluating(network, torch.device("cpu")):
        output = network(x)
        assert not network.training and output.is_contiguous(memory_format=torch.channels_last_3d)
    assert network.training and all(p.is_contiguous() for p in network.parameters())  # as training needs it

import pytest
import torch

from autoseg.losses import DeepSupervisionLoss, DiceCELoss, RegionDiceBCELoss, deep_supervision_weights, labels_to_regions, soft_dice


def test_soft_dice_on_a_hand_built_case():
    probabilities = torch.tensor([[[0.0, 1.0, 1.0, 0.0]], [[1.0, 1.0, 0.0, 0.0]]]).reshape(2, 1, 4)
    target = torch.tensor([[[0.0, 1.0, 1.0, 1.0]], [[1.0, 0.0, 0.0, 0.0]]]).reshape(2, 1, 4)
    # batch: intersection 2 + 1 = 3, |p| = 4, |t| = 4 -> 6 / 8
    assert soft_dice(probabilities, target, batch_dice=True, smooth=0).item() == pytest.approx(0.75)
    # per sample: 4/5 and 2/3
    assert soft_dice(probabilities, target, batch_dice=False, smooth=0)[:, 0].tolist() == pytest.approx([0.8, 2 / 3])


def test_dice_ce_is_near_zero_for_a_confident_correct_prediction_and_large_for_a_wrong_one():
    labels = torch.randint(0, 3, (2, 1, 6, 6))
    correct = 20 * torch.nn.functional.one_hot(labels[:, 0], 3).movedim(-1, 1).float()
    wrong = 20 * torch.nn.functional.one_hot((labels[:, 0] + 1) % 3, 3).movedim(-1, 1).float()
    loss = DiceCELoss()
    assert loss(correct, labels).item() < 1e-3
    assert loss(wrong, labels).item() > 10


def test_region_loss_handles_overlapping_regions():
    labels = torch.tensor([0, 1, 2, 3]).reshape(1, 1, 4)
    regions = labels_to_regions(labels, [(1, 2, 3), (2, 3), (3,)])
    assert regions[0].int().tolist() == [[0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]]
    logits = 20 * (regions.float() * 2 - 1)
    assert RegionDiceBCELoss()(logits, regions).item() < 1e-3


def test_deep_supervision_weights_halve_and_sum_to_one():
    weights = deep_supervision_weights(4)
    assert weights == pytest.approx([8 / 15, 4 / 15, 2 / 15, 1 / 15])
    loss = DeepSupervisionLoss(DiceCELoss(), 2)
    labels = torch.randint(0, 2, (1, 1, 8, 8))
    outputs = [torch.zeros(1, 2, 8, 8, requires_grad=True), torch.zeros(1, 2, 4, 4, requires_grad=True)]
    value = loss(outputs, [labels, labels[..., ::2, ::2]])
    value.backward()
    assert outputs[0].grad.abs().sum() > 0 and outputs[1].grad.abs().sum() > 0


def test_a_few_optimisation_steps_reduce_the_loss():
    torch.manual_seed(0)
    labels = (torch.rand(4, 1, 16, 16) > 0.7).long()
    image = labels.float() + 0.3 * torch.randn(4, 1, 16, 16)
    network = torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 2, 1))
    optimiser = torch.optim.SGD(network.parameters(), lr=0.1, momentum=0.9)
    loss = DiceCELoss()
    values = []
    for _ in range(30):
        optimiser.zero_grad()
        value = loss(network(image), labels)
        value.backward()
        optimiser.step()
        values.append(value.item())
    assert values[-1] < 0.5 * values[0]

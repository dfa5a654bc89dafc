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


def test_ssim_matches_the_evaluation_metric_away_from_the_border():
    from autoseg.evaluation.image_metrics import ssim_map
    from autoseg.losses import ssim

    generator = torch.Generator().manual_seed(0)
    reference = torch.rand(1, 1, 20, 22, 18, generator=generator)
    prediction = reference + 0.2 * torch.rand(1, 1, 20, 22, 18, generator=generator)
    ours = ssim(prediction, reference, 1.0)[0, 0].double().numpy()
    expected = ssim_map(prediction[0, 0].numpy(), reference[0, 0].numpy(), 1.0)
    inside = (slice(6, -6),) * 3  # the window reaches 5 voxels: edges are handled differently
    assert abs(ours[inside] - expected[inside]).max() < 1e-4
    assert ssim(reference, reference, 1.0).min().item() == pytest.approx(1.0, abs=1e-5)


def test_regression_losses_are_zero_for_a_perfect_prediction_and_grow_with_the_error():
    from autoseg.dataset import DatasetSpec
    from autoseg.losses import LOSSES

    spec = DatasetSpec({0: "PET"}, ".nii.gz", 1, task="regression", targets={0: "PET"})
    target = torch.rand(2, 1, 9, 3, 12, generator=torch.Generator().manual_seed(1))  # thinner than the SSIM window
    for name in [entry.name for entry in LOSSES if "regression" in entry.tasks]:
        loss = LOSSES.get(name).build("regression", spec)
        small, large = loss(target + 0.05, target).item(), loss(target + 0.5 * torch.rand_like(target), target).item()
        assert loss(target, target).item() == pytest.approx(0.0, abs=1e-5), name
        assert 0 < small < large, name


def test_the_trainer_name_selects_the_regression_loss_and_segmentation_refuses_one():
    from autoseg.dataset import DatasetSpec
    from autoseg.errors import AutosegError
    from autoseg.losses import L1SSIMLoss
    from autoseg.tasks import task_for
    from autoseg.training import trainer_settings

    regression = DatasetSpec({0: "PET"}, ".nii.gz", 1, task="regression", targets={0: "PET"})
    # regression's losses are taken with a relative gradient, over the deep-supervision outputs
    assert isinstance(task_for(regression).make_loss(2, trainer_settings("l1_ssim").loss).loss.loss, L1SSIMLoss)
    assert isinstance(task_for(regression).make_loss(2, trainer_settings("mse").loss).loss.loss, torch.nn.MSELoss)
    assert isinstance(task_for(regression).make_loss(2).loss.loss, torch.nn.L1Loss)
    segmentation = DatasetSpec({0: "MR"}, ".nii.gz", 1, labels={"background": 0, "a": 1})
    with pytest.raises(AutosegError, match="regression"):
        task_for(segmentation).make_loss(2, "mse")


def test_a_relative_gradient_keeps_the_loss_and_divides_its_gradient_by_it():
    from autoseg.losses import RelativeGradient

    prediction = torch.tensor([1.0, 2.0, 4.0], requires_grad=True)
    target = torch.tensor([1.5, 2.0, 3.0])
    loss = RelativeGradient(torch.nn.L1Loss())(prediction, target)
    assert loss.item() == pytest.approx(0.5)  # (0.5 + 0 + 1) / 3: the L1 loss itself
    loss.backward()
    assert prediction.grad.tolist() == pytest.approx([-1 / 3 / 0.5, 0.0, 1 / 3 / 0.5])  # L1's gradient over 0.5

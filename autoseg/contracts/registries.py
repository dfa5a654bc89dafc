"""Contract tests generated from the registries (as timm tests every registered model): every task kind,
trainer, loss, optimiser, schedule, network, planner and normalisation scheme registered when they run is
exercised, so a new entry (a plug-in's too) is tested the moment it is registered.

The test suite runs them all (tests/test_registries.py); ``autoseg check_plugins`` runs them on what the
loaded plug-ins registered only (``AUTOSEG_CONTRACTS=plugins``), so a plug-in author tests their own entries
without the repository's test suite."""

import math
import os
from dataclasses import replace

import numpy as np
import pytest
import torch

from autoseg.contracts.fixtures import preprocessed_copy
from autoseg.dataset import REFERENCE_FORMATS, DatasetSpec, RawDataset
from autoseg.fingerprint import compute_fingerprint
from autoseg.losses import LOSSES
from autoseg.networks import NETWORKS, Architecture, get_network
from autoseg.plans import Plans
from autoseg.preprocessing.normalisation import SCHEMES
from autoseg.tasks import task_for, task_names
from autoseg.tasks.base import TASKS
from autoseg.training import OPTIMISERS, SCHEDULES, TRAINERS, train_fold
from autoseg.training.budget import plan_optimisation
from planners import get_planner
from planners.measure_memory import measure_training_step
from planners.registry import PLANNERS

PLUGINS_ONLY = os.environ.get("AUTOSEG_CONTRACTS") == "plugins"
# A test of the built-in entries themselves (their formulas, their error messages), not a contract: not run on plug-ins.
builtin_only = pytest.mark.skipif(PLUGINS_ONLY, reason="tests the built-in entries, not a contract")


def checked(registry) -> list[str]:
    """The names of ``registry`` to test: all of them, or only the plug-ins' (``AUTOSEG_CONTRACTS=plugins``)."""
    return registry.from_plugins() if PLUGINS_ONLY else registry.names()


def example_specs() -> dict[str, list[DatasetSpec]]:
    """{task kind: its example datasets} of every registered kind (``Task.example_specs``)."""
    return {name: TASKS.get(name).example_specs() for name in task_names()}


SEGMENTATION = TASKS.get("segmentation").example_specs()[0]


def tiny_architecture(network: str, ndim: int) -> Architecture:
    """A 3-stage architecture of the block type ``network`` builds."""
    block = get_network(network).block
    return Architecture(
        [4, 8, 16],
        [[3] * ndim] * 3,
        [[1] * ndim, [2] * ndim, [2] * ndim],
        network=network,
        block=block,
        n_blocks_per_stage=None if block == "conv" else [1, 2, 2],
        n_conv_per_stage_decoder=1 if block != "conv" else 2,
    )


# networks -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("name", checked(NETWORKS))
def test_every_network_builds_its_outputs_at_its_scales_and_counts_its_parameters(name, ndim):
    network_type = get_network(name)
    architecture = tiny_architecture(name, ndim)
    x = torch.randn(2, 3, *[16] * ndim)
    dense = network_type.build(3, 5, architecture)
    outputs = dense.train()(x)
    scales = network_type.output_scales(architecture)
    assert len(outputs) == len(scales)
    for output, scale in zip(outputs, scales):
        assert output.shape == (2, 5, *[16 // s for s in scale])
    assert dense.eval()(x).shape == (2, 5, *[16] * ndim)
    assert network_type.count_parameters(architecture, 3, 5) == sum(p.numel() for p in dense.parameters())
    classifier = network_type.build_classifier(3, 4, architecture)
    assert classifier.eval()(x).shape == (2, 4) and classifier.train()(x)[0].shape == (2, 4)
    assert network_type.count_parameters(architecture, 3, 4, decoder=False) == sum(p.numel() for p in classifier.parameters())
    # a segmentation encoder loads into the classifier of the same network (transfer learning)
    encoder = {k: v for k, v in dense.state_dict().items() if k.startswith("encoder.")}
    assert encoder and set(encoder) <= set(classifier.state_dict())


@pytest.mark.parametrize("name", checked(NETWORKS))
def test_without_deep_supervision_every_network_trains_on_its_one_output(name):
    architecture = replace(tiny_architecture(name, 2), deep_supervision=False)
    network_type = get_network(name)
    network = network_type.build(1, 3, architecture).train()
    scales = network_type.output_scales(architecture)
    outputs = network(torch.randn(2, 1, 16, 16))
    assert scales == [[1, 1]] and len(outputs) == 1 and outputs[0].shape == (2, 3, 16, 16)
    loss = task_for(SEGMENTATION).make_loss(len(scales))
    loss(outputs, [torch.randint(0, 3, (2, 1, 16, 16))]).backward()


@pytest.mark.parametrize("name", checked(NETWORKS))
def test_every_network_models_its_training_memory_within_10_percent(name):
    """The planner's memory model of each network against a real training step (CPU, float32)."""
    block = get_network(name).block
    architecture = Architecture(
        [32, 64, 128, 256],
        [[3, 3, 3]] * 4,
        [[1, 1, 1], [2, 2, 2], [2, 2, 2], [2, 2, 2]],
        network=name,
        block=block,
        n_blocks_per_stage=None if block == "conv" else [1, 3, 4, 6],
        n_conv_per_stage_decoder=1 if block != "conv" else 2,
    )
    patch, batch = [48, 48, 48], 2
    modelled = (
        get_network(name).memory(architecture, patch, in_channels=2, out_channels=3, batch_size=batch, mixed_precision=False).total_bytes
    )
    measured = measure_training_step(
        {
            "architecture": architecture.to_json(),
            "patch_size": patch,
            "in_channels": 2,
            "out_channels": 3,
            "batch_size": batch,
            "device": "cpu",
        }
    )
    assert measured > 300 * 2**20
    assert abs(modelled / measured - 1) < 0.10, f"{name}: modelled {modelled / 2**20:.0f} MB, measured {measured / 2**20:.0f} MB"


@builtin_only
def test_an_unknown_network_or_a_wrong_block_in_the_plans_is_a_clear_error(tmp_path):
    from autoseg.errors import AutosegError
    from autoseg.networks import network_for

    with pytest.raises(AutosegError, match="unknown network 'vit'; known: .*resenc_unet.*unet"):
        network_for(replace(tiny_architecture("unet", 2), network="vit"))
    with pytest.raises(AutosegError, match="'resenc_unet' is built from 'basic_d' blocks, not 'conv'"):
        network_for(replace(tiny_architecture("resenc_unet", 2), block="conv"))


# task kinds ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task_name", checked(TASKS))
def test_every_task_kind_builds_a_network_and_loss_whose_targets_fit_its_outputs(task_name):
    for spec in TASKS.get(task_name).example_specs():
        task = task_for(spec)
        assert spec.task == task_name and REFERENCE_FORMATS.get(task_name).spec_problems(spec.to_json()) == []
        architecture = tiny_architecture("unet", 2)
        network = task.make_network(architecture).train()
        scales = get_network("unet").output_scales(architecture)
        loss = task.make_loss(len(scales))
        outputs = network(torch.randn(3, spec.num_channels, 16, 16))
        assert all(output.shape[1] == task.out_channels() for output in outputs)
        target = task.example_target(3, (16, 16), torch.Generator().manual_seed(0))
        targets = task.prepare_targets(target, scales)
        value = loss(outputs, targets)
        value.backward()
        assert torch.isfinite(value) and all(torch.isfinite(p.grad).all() for p in network.parameters() if p.grad is not None)
        scores = task.validation_scores(task.validation_counts(outputs[0].detach(), targets[0]))
        assert scores and all(isinstance(v, float) for v in scores.values())
        right = task.confident_output(target)
        assert right.shape == outputs[0].shape[:1] + right.shape[1:] and right.shape[1] == task.out_channels()


@pytest.mark.parametrize("task_name", checked(TASKS))
def test_every_task_kind_has_a_raw_reference_format(task_name):
    assert set(REFERENCE_FORMATS.names()) == set(task_names())


# losses -------------------------------------------------------------------------------------------------
LOSS_CASES = [(name, task) for name in checked(LOSSES) for task in LOSSES.get(name).tasks]


@pytest.mark.parametrize("name, task", LOSS_CASES, ids=[f"{n}-{t}" for n, t in LOSS_CASES])
def test_every_loss_is_lowest_for_the_right_answer_and_differentiable(name, task):
    generator = torch.Generator().manual_seed(0)
    for spec in TASKS.get(task).example_specs():
        kind = task_for(spec)
        loss = LOSSES.get(name).build(task, spec)
        target = kind.example_target(2, (12, 12), generator)
        right = kind.confident_output(target)
        wrong = (-right).requires_grad_(True)
        target = kind.prepare_targets(target, [[1, 1]])[0]  # as the loss takes it
        low, high = loss(right, target), loss(wrong, target)
        high.backward()
        assert torch.isfinite(low) and torch.isfinite(high) and low.item() < high.detach().item(), (name, task)
        assert torch.isfinite(wrong.grad).all() and wrong.grad.abs().sum() > 0


# optimisers and schedules -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", checked(OPTIMISERS))
def test_every_optimiser_takes_a_step_downhill(name):
    from autoseg.training import TrainingSettings

    weight = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    optimiser = OPTIMISERS.get(name)([weight], TrainingSettings(initial_lr=0.1, weight_decay=0.0, momentum=0.9))
    before = float((weight.detach() ** 2).sum())
    for _ in range(5):
        optimiser.zero_grad()
        (weight**2).sum().backward()
        optimiser.step()
    assert float((weight.detach() ** 2).sum()) < before


@pytest.mark.parametrize("name", checked(SCHEDULES))
def test_every_schedule_stays_within_the_initial_rate_and_ends_low(name):
    from autoseg.training import TrainingSettings

    settings = TrainingSettings(epochs=40, initial_lr=0.01, warmup_fraction=0.05)
    rates = [SCHEDULES.get(name)(settings, epoch) for epoch in range(settings.epochs)]
    assert all(0 <= rate <= settings.initial_lr + 1e-12 for rate in rates)
    assert rates[-1] < 0.2 * max(rates)


@builtin_only
def test_the_schedules_compute_their_formulas():
    from autoseg.training import TrainingSettings

    settings = TrainingSettings(epochs=100, initial_lr=0.01, warmup_fraction=0.1)
    assert SCHEDULES.get("poly")(settings, 50) == pytest.approx(0.01 * 0.5**0.9)
    assert SCHEDULES.get("cosine")(settings, 50) == pytest.approx(0.005)
    warmup = SCHEDULES.get("warmup_poly")
    assert warmup(settings, 0) == pytest.approx(0.01 / 11) and warmup(settings, 9) == pytest.approx(0.01 * 10 / 11)
    assert warmup(settings, 10) == pytest.approx(0.01) and warmup(settings, 55) == pytest.approx(0.01 * 0.5**0.9)
    warmup = SCHEDULES.get("warmup_cosine")
    assert warmup(settings, 0) == pytest.approx(0.01 / 11) and warmup(settings, 10) == pytest.approx(0.005 * (1 + math.cos(math.pi / 91)))
    assert warmup(settings, 55) == pytest.approx(0.005 * (1 + math.cos(math.pi * 46 / 91))) and warmup(settings, 99) < 1e-4


# normalisation schemes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", checked(SCHEMES))
def test_every_normalisation_scheme_is_finite_and_its_inverse_and_affine_form_hold(name):
    scheme = SCHEMES.get(name)
    rng = np.random.default_rng(0)
    image = (rng.random((6, 7, 8)) * 200).astype(np.float32)
    parameters = {"mean": 80.0, "std": 30.0, "percentile_00_5": 5.0, "percentile_99_5": 190.0}
    normalised = scheme.normalise(image, None, parameters)
    assert normalised.shape == image.shape and normalised.dtype == np.float32 and np.isfinite(normalised).all()
    if scheme.reversible:
        assert np.allclose(scheme.restore(normalised, parameters), image, rtol=1e-5, atol=1e-3)
    affine = scheme.affine(parameters)
    if affine is not None:
        assert np.allclose(normalised, affine[0] * image + affine[1], rtol=1e-5, atol=1e-4)


# planners -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fingerprints(stand_in_cache):
    """(fingerprint, spec) of a 2D and a 3D segmentation stand-in, regression and classification."""
    found = {}
    for key in ("spine", "brats", "pet", "ad"):
        dataset = RawDataset(stand_in_cache(key, 3, 1))
        found[key] = compute_fingerprint(dataset, num_processes=1), dataset.spec
    return found


@pytest.mark.parametrize("planner_name", checked(PLANNERS))
def test_every_planner_makes_valid_plans_for_every_task_kind(planner_name, fingerprints):
    planner = get_planner(planner_name)
    for key, (fingerprint, spec) in fingerprints.items():
        plans = planner(fingerprint, spec, gpu_memory_gb=4)
        plans.validate(f"{planner_name} plans of {key}")
        assert plans.planner == planner_name
        assert Plans.from_json(plans.to_json()).to_json() == plans.to_json()
        for config in plans.configurations.values():
            assert config.architecture.network == planner.network and config.architecture.block == planner.block
            expected = {"3d_fullres", "2d", "3d_lowres"}
            prefix = "" if planner_name == "default" else f"{planner_name}_"
            assert config.data_identifier in {prefix + identifier for identifier in expected}
            assert config.estimated_memory_gb <= 4 * planner.budget_fraction + 1e-6


# trainers -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_data(stand_in_cache, tmp_path_factory, pet_tiny):
    """Preprocessed folders with tiny networks, one per task kind: (folder, configuration)."""
    root = tmp_path_factory.mktemp("trainers")
    spine = preprocessed_copy(stand_in_cache, root / "spine", "spine", cases=5, test=0, configuration="2d")
    tumour = preprocessed_copy(stand_in_cache, root / "tumour", "tumour2d", cases=18, test=0, configuration="2d")
    return {
        "segmentation": (root / "spine" / "preprocessed" / spine.name, "2d"),
        "regression": (pet_tiny[1], "3d_fullres"),
        "classification": (root / "tumour" / "preprocessed" / tumour.name, "2d"),
    }


@pytest.mark.parametrize("name", checked(TRAINERS))
def test_every_trainer_trains_a_fold_of_a_task_its_loss_fits(name, tiny_data, tmp_path):
    settings = TRAINERS.get(name).default_settings
    tasks = LOSSES.get(settings.loss).tasks if settings.loss else ["segmentation"]
    task = next(t for t in ("segmentation", "regression", "classification") if t in tasks)
    planned, _ = plan_optimisation(settings, batch_size=2)
    assert planned.optimiser in OPTIMISERS and planned.schedule in SCHEDULES
    folder, configuration = tiny_data[task]
    short = replace(settings, epochs=1, iterations_per_epoch=2, validation_iterations=1, num_workers=0)
    output = train_fold(folder, tmp_path / "results", configuration, fold="0", settings=short, trainer=name)
    assert (output / "checkpoint_final.pt").is_file() and (output / "validation" / "summary.json").is_file()
    assert output.parent.name.startswith(f"{name}__")


@pytest.mark.parametrize("name", checked(TRAINERS))
def test_every_trainers_transforms_keep_a_batchs_shapes(name):
    """The augmentation hooks' contract: each pipeline (or None) maps data (B, C, *patch) and seg (B, T, *patch) to
    arrays of the same shapes, in 2D and 3D."""
    trainer = TRAINERS.get(name)
    for patch in ([32, 40], [16, 32, 32]):
        for hook in (trainer.training_transforms, trainer.validation_transforms):
            transforms = hook(patch, list(range(len(patch))), True)
            if transforms is None:
                continue
            data = np.random.default_rng(0).normal(size=(2, 2, *patch)).astype(np.float32)
            seg = np.zeros((2, 1, *patch), dtype=np.float32)
            seg[:, :, 4:12, 4:12] = 1
            out = transforms(data=data, seg=seg)
            assert out["data"].shape == data.shape and out["seg"].shape == seg.shape

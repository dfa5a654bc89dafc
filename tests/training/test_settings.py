"""Trainers as classes: hooks a subclass overrides, training_settings.json, resumes that must match it, and
warnings when a model's folds were trained differently or shorter than their trainer's full run."""

import json
from dataclasses import replace

import pytest
import torch

from autoseg.errors import AutosegError
from autoseg.training import TRAINERS, Trainer, TrainingSettings, register_trainer, register_variant, train_fold
from autoseg.training.checkpoint import load_checkpoint
from autoseg.training.settings import check_resume, load_training_settings, model_warnings, save_training_settings
from tests.training.conftest import small


def test_a_resume_must_keep_what_the_run_learns_from(tmp_path):
    full = TrainingSettings()
    save_training_settings(tmp_path, "default", small(3), full)
    record = load_training_settings(tmp_path)
    check_resume(tmp_path, record, "default", replace(small(3), num_workers=0, checkpoint_every=2))  # speed only: allowed
    with pytest.raises(AutosegError, match=r"other settings \(epochs 3 -> 5\).*training_settings.json"):
        check_resume(tmp_path, record, "default", small(5))
    with pytest.raises(AutosegError, match="trainer 'default' -> 'short'"):
        check_resume(tmp_path, record, "short", small(3))
    assert record.trainer == "default" and record.settings == small(3) and record.full_iterations == 1000 * 250


def test_folds_trained_differently_or_shortened_are_named(tmp_path):
    full = TrainingSettings(epochs=10, iterations_per_epoch=12)
    for fold, settings in (("0", replace(full)), ("1", replace(full)), ("2", replace(full, epochs=4, seed=3))):
        (tmp_path / f"fold_{fold}").mkdir()
        save_training_settings(tmp_path / f"fold_{fold}", "default", settings, full)
    assert model_warnings(tmp_path, ["0", "1"]) == []
    warnings = model_warnings(tmp_path, ["0", "1", "2"])
    assert len(warnings) == 2
    assert "fold 2 was trained differently from fold 0 (epochs 10 -> 4; seed 0 -> 3)" in warnings[0]
    assert "shortened training (fold 2 48 of 120 iterations" in warnings[1]


def test_a_registered_subclass_replaces_the_optimiser_and_schedule_through_its_hooks(spine):
    preprocessed, results = spine

    @register_trainer("constant_sgd_for_test")
    class ConstantSGD(Trainer):
        """Plain SGD at a constant rate."""

        default_settings = small(2)

        def make_optimiser(self, parameters):
            return torch.optim.SGD(parameters, lr=0.05)

        def learning_rate(self, epoch):
            return 0.05

    try:
        output = train_fold(preprocessed, results, "2d", fold="0", trainer="constant_sgd_for_test")
        state = load_checkpoint(output / "checkpoint_final.pt")
        assert [record["learning_rate"] for record in state["log"]] == [0.05, 0.05]
        assert state["optimiser"]["param_groups"][0]["momentum"] == 0  # the hook's optimiser, not Nesterov SGD
        record = json.loads((output / "training_settings.json").read_text())
        assert record["trainer"] == "constant_sgd_for_test" and record["settings"]["epochs"] == 2
        assert output.parent.name == "constant_sgd_for_test__plans__2d"
        with pytest.raises(AutosegError, match=r"other settings \(iterations_per_epoch 12 -> 13\)"):
            train_fold(
                preprocessed,
                results,
                "2d",
                fold="0",
                settings=small(2, iterations_per_epoch=13),
                trainer="constant_sgd_for_test",
                resume=True,
            )
    finally:
        TRAINERS._items.pop("constant_sgd_for_test")


def test_a_settings_only_variant_is_one_line_and_keeps_the_base_hooks():
    variant = register_variant("adamw_for_test", "AdamW at 1e-3", optimiser="adamw", initial_lr=1e-3)
    try:
        assert issubclass(variant, Trainer) and TRAINERS.get("adamw_for_test") is variant
        assert variant.default_settings == replace(TrainingSettings(), optimiser="adamw", initial_lr=1e-3)
        assert variant.summary == "AdamW at 1e-3" and variant.train_step is Trainer.train_step
    finally:
        TRAINERS._items.pop("adamw_for_test")
    with pytest.raises(TypeError, match="subclass of autoseg.training.Trainer"):
        register_trainer("not_a_trainer")(dict)

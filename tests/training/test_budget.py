"""The default trainer's optimisation planned for its budget: nnU-Net's schedule for a full run, AdamW with
warm-up and cosine decay for a short one, whatever a trainer or flag sets kept; --budget_minutes."""

import json
import re
from dataclasses import replace

import pytest
import torch

from autoseg.errors import AutosegError
from autoseg.training import train_fold, trainer_settings
from autoseg.training.budget import SGD_FROM, fit_budget, plan_optimisation
from autoseg.training.optim import OPTIMISERS, SCHEDULES
from tests.training.conftest import small


@pytest.mark.parametrize("batch_size", [2, 12])
def test_a_full_budget_gets_exactly_nnunets_schedule(batch_size):
    planned, note = plan_optimisation(trainer_settings("default"), batch_size)
    assert (planned.optimiser, planned.schedule, planned.initial_lr, planned.momentum, planned.weight_decay) == (
        "sgd",
        "poly",
        1e-2,
        0.99,
        3e-5,
    )
    assert planned.iterations == 1000 * 250 and "nnU-Net's schedule" in note
    rates = [SCHEDULES.get(planned.schedule)(planned, epoch) for epoch in range(planned.epochs)]
    assert rates == [1e-2 * (1 - epoch / 1000) ** 0.9 for epoch in range(1000)]
    optimiser = OPTIMISERS.get(planned.optimiser)([torch.nn.Parameter(torch.zeros(2))], planned)
    assert isinstance(optimiser, torch.optim.SGD)
    group = optimiser.param_groups[0]
    assert (group["lr"], group["momentum"], group["nesterov"], group["weight_decay"]) == (1e-2, 0.99, True, 3e-5)


def test_a_short_budget_gets_adamw_with_warmup_and_cosine_decay():
    short = replace(trainer_settings("default"), epochs=5, iterations_per_epoch=20)
    planned, note = plan_optimisation(short, batch_size=2)
    assert (planned.optimiser, planned.schedule, planned.initial_lr, planned.weight_decay) == ("adamw", "warmup_cosine", 3e-3, 1e-4)
    assert note.startswith("optimisation planned for 100 iterations (fewer than 50,000: a short run, batch 2): AdamW, lr 0.003,")
    assert "warm-up 1 epoch then cosine" in note
    assert plan_optimisation(short, batch_size=8)[0].initial_lr == pytest.approx(3e-3 * 2)  # the square root of the batch against 2
    rates = [SCHEDULES.get("warmup_cosine")(planned, epoch) for epoch in range(5)]
    assert rates[0] == pytest.approx(1.5e-3) and 3e-3 > rates[1] > rates[2] > rates[3] > rates[4] > 0 and rates[4] < 3e-4


def test_the_boundary_is_where_the_rule_says():
    below = replace(trainer_settings("default"), epochs=1, iterations_per_epoch=SGD_FROM - 1)
    assert plan_optimisation(below, 2)[0].optimiser == "adamw"
    assert plan_optimisation(replace(below, iterations_per_epoch=SGD_FROM), 2)[0].optimiser == "sgd"


def test_what_a_trainer_or_flag_sets_is_kept():
    short = replace(trainer_settings("default"), epochs=5, iterations_per_epoch=20, initial_lr=5e-4)
    planned, note = plan_optimisation(short, 2)
    assert planned.optimiser == "adamw" and planned.initial_lr == 5e-4 and "kept as set: initial_lr" in note
    for name in ("nnunet", "short"):  # variants that set the whole optimisation keep it at any budget
        settings = replace(trainer_settings(name), epochs=5, iterations_per_epoch=20)
        planned, note = plan_optimisation(settings, 2)
        assert planned == settings and note.startswith("optimisation as the trainer and flags set it")
    assert trainer_settings("nnunet").optimiser == "sgd" and trainer_settings("short").optimiser == "adam"


class _Timed:
    """Stands in for a trainer class: each training iteration takes 0.5 s and each validation batch 0.1 s."""

    def __init__(self, setup, settings, device):
        pass

    def time_iterations(self):
        return 0.5, 0.1


def test_budget_minutes_fits_epochs_and_iterations_to_the_measured_step(tmp_path, capsys):
    full = trainer_settings("default")
    chosen = fit_budget(_Timed, None, full, minutes=10, device="cpu")  # 570 s: 1140 iterations at most
    assert chosen.iterations_per_epoch == 57 and chosen.validation_iterations == 11
    assert chosen.epochs == int(570 // (57 * 0.5 + 11 * 0.1))
    assert "training 19 epochs x 57 iterations" in capsys.readouterr().out
    long = fit_budget(_Timed, None, full, minutes=100_000, device="cpu")
    assert (long.epochs, long.iterations_per_epoch, long.validation_iterations) == (1000, 250, 50)  # never past the full run
    assert fit_budget(_Timed, None, full, minutes=0.01, device="cpu").epochs == 1
    with pytest.raises(AutosegError, match="--budget_minutes must be a positive number of minutes, got 0"):
        fit_budget(_Timed, None, full, minutes=0, device="cpu")
    from autoseg.training.settings import load_training_settings, save_training_settings

    save_training_settings(tmp_path, "default", replace(full, epochs=7, iterations_per_epoch=30, validation_iterations=3), full)
    kept = fit_budget(_Timed, None, full, minutes=10, device="cpu", recorded=load_training_settings(tmp_path).settings)
    assert (kept.epochs, kept.iterations_per_epoch, kept.validation_iterations) == (7, 30, 3)


def test_a_trainer_times_its_iterations_and_budget_minutes_trains_for_them(spine, capsys):
    preprocessed, results = spine
    output = train_fold(preprocessed, results, "2d", fold="1", settings=small(1, num_workers=0), budget_minutes=0.05)
    said = capsys.readouterr().out
    step = float(re.search(r"--budget_minutes 0.05: a training iteration takes ([0-9.e-]+) s", said).group(1))
    assert 0 < step < 5
    record = json.loads((output / "training_settings.json").read_text())["settings"]
    epochs, per_epoch = record["epochs"], record["iterations_per_epoch"]
    assert f"training {epochs} epoch" in said and per_epoch <= 12 and epochs == 1  # small(1): at most its 1 x 12
    with pytest.raises(AutosegError, match="--budget_minutes measures the step time of one process"):
        train_fold(preprocessed, results, "2d", fold="2", settings=small(1), budget_minutes=1, num_processes=2)


def test_flags_set_the_optimisation_and_the_rule_fills_the_rest(spine, capsys):
    from autoseg.cli import main

    preprocessed, results = spine
    where = ["--preprocessed", str(preprocessed.parent), "--results", str(results)]
    short = ["--epochs", "1", "--iterations_per_epoch", "2", "--validation_iterations", "1", "--num_workers", "0"]
    assert main(["train", preprocessed.name, "2d", "0", "--optimiser", "sgd", "--lr", "0.05", *short, *where]) == 0
    record = json.loads((results / preprocessed.name / "default__plans__2d" / "fold_0" / "training_settings.json").read_text())
    settings = record["settings"]
    assert (settings["optimiser"], settings["initial_lr"], settings["schedule"]) == ("sgd", 0.05, "warmup_cosine")
    assert record["optimisation"].endswith("kept as set: optimiser, initial_lr") and record["optimisation"] in capsys.readouterr().out


def test_a_continued_run_keeps_the_optimisation_it_started_with():
    started = replace(trainer_settings("nnunet"), epochs=5, iterations_per_epoch=20)  # e.g. a run from before the rule
    continued = replace(trainer_settings("default"), epochs=5, iterations_per_epoch=20)
    planned, note = plan_optimisation(continued, 2, recorded=started)
    assert (planned.optimiser, planned.initial_lr, planned.momentum, planned.schedule) == ("sgd", 1e-2, 0.99, "poly")
    assert note.startswith("optimisation as recorded when the run started: SGD (Nesterov momentum 0.99), lr 0.01")
    assert plan_optimisation(replace(continued, initial_lr=1e-3), 2, recorded=started)[0].initial_lr == 1e-3  # a flag still wins

"""nnU-Net's command lines, with autoseg's command names, mean what autoseg's own spellings mean."""

import os

import pytest

from autoseg.cli import build_parser, main
from autoseg.commands.nnunet_spellings import ALIASES, IGNORED, INSTEAD
from autoseg.paths import data_root

SAME = [
    (
        ["train", "4", "3d_fullres", "0", "-tr", "nnUNetTrainer", "-p", "nnUNetPlans", "-device", "cpu", "--c", "--npz"],
        ["train", "4", "3d_fullres", "0", "--device", "cpu", "--continue", "--npz"],
    ),
    (
        ["train", "4", "2d", "all", "--val", "--val_best", "-pretrained_weights", "w.pt", "-num_gpus", "2"],
        ["train", "4", "2d", "all", "--val_only", "--val_best", "--pretrained_weights", "w.pt", "--num_gpus", "2"],
    ),
    (
        ["train", "4", "3d_fullres", "1", "-p", "nnUNetResEncUNetMPlans"],
        ["train", "4", "3d_fullres", "1", "-p", "resenc_m"],
    ),
    (
        [
            "predict",
            "-i",
            "in",
            "-o",
            "out",
            "-d",
            "4",
            "-c",
            "3d_cascade_fullres",
            "-f",
            "0",
            "1",
            "-tr",
            "nnUNetTrainer",
            "-p",
            "nnUNetPlans",
        ]
        + ["-chk", "checkpoint_best.pth", "-step_size", "0.7", "--disable_tta", "--save_probabilities", "--c", "-device", "cpu"]
        + ["-prev_stage_predictions", "low", "-num_parts", "2", "-part_id", "1"],
        ["predict", "-i", "in", "-o", "out", "-d", "4", "-c", "3d_cascade_fullres", "-f", "0", "1", "-chk", "checkpoint_best.pth"]
        + ["--step_size", "0.7", "--disable_tta", "--save_probabilities", "--continue_prediction", "--device", "cpu"]
        + ["--prev_stage_predictions", "low", "--num_parts", "2", "--part_id", "1"],
    ),
    (
        [
            "plan_and_preprocess",
            "-d",
            "4",
            "--verify_dataset_integrity",
            "-npfp",
            "2",
            "-pl",
            "nnUNetPlannerResEncL",
            "-gpu_memory_target",
            "24",
        ]
        + ["-overwrite_target_spacing", "3", "1", "1", "--clean", "-c", "3d_fullres"],
        ["plan_and_preprocess", "-d", "4", "--verify", "-np", "2", "-pl", "resenc_l", "--gpu_memory_gb", "24"]
        + ["--target_spacing", "3", "1", "1", "--overwrite", "-c", "3d_fullres"],
    ),
]


@pytest.mark.parametrize("nnunet, autoseg", SAME)
def test_nnunets_spelling_parses_to_what_autosegs_does(nnunet, autoseg):
    parser = build_parser()
    first, second = vars(parser.parse_args(nnunet)), vars(parser.parse_args(autoseg))
    first.pop("run"), second.pop("run")
    assert first == second


def test_every_alias_is_listed_in_the_help_beside_autosegs_spelling():
    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command").choices
    for name, aliases in ALIASES.items():
        text = commands[name].format_help()
        for flag, spellings in aliases.items():
            assert flag in text and all(spelling in text for spelling in spellings), (name, flag)


@pytest.mark.parametrize("command", ["train", "predict", "plan_and_preprocess"])
def test_an_nnunet_flag_autoseg_lacks_is_refused_with_what_to_use(command, capsys):
    start = {
        "train": ["train", "4", "2d", "0"],
        "predict": ["predict", "-i", "a", "-o", "b", "-d", "4"],
        "plan_and_preprocess": ["plan_and_preprocess", "-d", "4"],
    }
    for flag, instead in INSTEAD[command].items():
        with pytest.raises(SystemExit) as stop:
            build_parser().parse_args([*start[command], flag])
        assert stop.value.code == 2
        message = capsys.readouterr().err
        assert f"{flag} is nnU-Net's" in message and instead.split(";")[0] in message


def test_flags_whose_work_autoseg_does_itself_are_accepted_with_a_note(capsys):
    args = build_parser().parse_args(["predict", "-i", "a", "-o", "b", "-d", "4", "-npp", "3", "-nps", "2"])
    assert args.dataset == "4"
    err = capsys.readouterr().err
    assert all(f"{flag} is nnU-Net's" in err for flag in IGNORED["predict"] if flag.startswith("-np"))


def test_nnunet_raw_is_read_when_autoseg_raw_is_unset_and_never_written(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("AUTOSEG_RAW", raising=False)
    monkeypatch.setenv("nnUNet_raw", str(tmp_path / "nnunet_raw"))
    assert data_root("raw") == tmp_path / "nnunet_raw"
    assert "nnUNet_raw" in capsys.readouterr().err
    assert data_root("raw", writing=True) != tmp_path / "nnunet_raw"
    monkeypatch.chdir(tmp_path)
    assert main(["generate", "spine", "--cases", "1", "--test", "0"]) == 0
    assert not (tmp_path / "nnunet_raw").exists()
    assert os.listdir(tmp_path / "autoseg_data" / "raw")
    monkeypatch.setenv("AUTOSEG_RAW", str(tmp_path / "mine"))
    assert data_root("raw") == tmp_path / "mine"


def test_verbose_may_follow_the_command_as_in_nnunet():
    parser = build_parser()
    assert parser.parse_args(["predict", "-i", "a", "-o", "b", "-d", "4", "--verbose"]).verbose is True
    assert parser.parse_args(["--verbose", "predict", "-i", "a", "-o", "b", "-d", "4"]).verbose is True
    assert parser.parse_args(["predict", "-i", "a", "-o", "b", "-d", "4"]).verbose is False

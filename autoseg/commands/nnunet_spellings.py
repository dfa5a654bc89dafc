"""nnU-Net v2's spellings of autoseg's options: an nnU-Net command line runs with autoseg's command name.

``ALIASES`` adds nnU-Net's option strings to the autoseg options that mean the
same (without it ``-device cpu`` would parse as ``-d evice``). ``NAMES`` takes
nnU-Net's default trainer, plans and planner names for autoseg's. ``IGNORED``
accepts flags whose work autoseg does on its own, with a note; ``INSTEAD``
stops at an nnU-Net flag autoseg does not have, naming what to use; and
``--verbose`` may follow the command, as in nnU-Net. The table is
docs/nnunet.md's, command by command.
"""

from __future__ import annotations

import argparse
import sys

from autoseg.paths import plans_file_for

_TRAINING = {"--device": ["-device"], "--continue": ["--c"], "--val_only": ["--val"]}
_TRAINING |= {"--pretrained_weights": ["-pretrained_weights"], "--num_gpus": ["-num_gpus"]}
_PREDICTION = {"--device": ["-device"], "--step_size": ["-step_size"], "--continue_prediction": ["--c"]}
_PREDICTION |= {"--prev_stage_predictions": ["-prev_stage_predictions"], "--num_parts": ["-num_parts"], "--part_id": ["-part_id"]}
_PLANNING = {"--num_processes": ["-npfp"], "--gpu_memory_gb": ["-gpu_memory_target"], "--target_spacing": ["-overwrite_target_spacing"]}
_PLANNING |= {"--overwrite": ["--clean"]}
ALIASES = {
    "train": _TRAINING,
    "predict": _PREDICTION,
    "plan": _PLANNING,
    "plan_and_preprocess": _PLANNING | {"--verify": ["--verify_dataset_integrity"]},
}

NAMES = {
    "trainer": {"nnUNetTrainer": "default"},
    "trainers": {"nnUNetTrainer": "default"},
    "plans": {
        "nnUNetPlans": "plans",
        "nnUNetResEncUNetMPlans": "plans_resenc_m",
        "nnUNetResEncUNetLPlans": "plans_resenc_l",
        "nnUNetResEncUNetXLPlans": "plans_resenc_xl",
    },
    "planner": {
        "ExperimentPlanner": "default",
        "nnUNetPlannerResEncM": "resenc_m",
        "nnUNetPlannerResEncL": "resenc_l",
        "nnUNetPlannerResEncXL": "resenc_xl",
    },
}

_WORKERS = "autoseg preprocesses the next case in a background thread while the network runs and exports in the background"
IGNORED = {
    "predict": {"-npp": _WORKERS, "-nps": _WORKERS, "--disable_progress_bar": "autoseg's progress bar goes to stderr"},
    "train": {"--use_compressed": "autoseg's preprocessed data is read the same way either way"},
}

INSTEAD = {
    "train": {"--disable_checkpointing": "autoseg always writes checkpoints (by epoch and by time); there is no equivalent"},
    "predict": {
        "--not_on_device": "autoseg keeps the whole output on the device while it fits and moves it to the CPU otherwise, "
        "by itself; there is no equivalent",
    },
    "plan_and_preprocess": {
        "-fpe": "autoseg has one fingerprint extractor; there is no equivalent",
        "-preprocessor_name": "autoseg has one preprocessor; there is no equivalent",
        "-overwrite_plans_name": "a planner writes plans_<planner>.json; choose the planner with -pl",
        "--no_pp": "use autoseg plan (fingerprint and plan, no preprocessing)",
    },
}
INSTEAD["plan"] = {flag: why for flag, why in INSTEAD["plan_and_preprocess"].items() if flag != "--no_pp"}


def add_nnunet_spellings(name: str, parser: argparse.ArgumentParser) -> None:
    """Gives the subcommand ``name``'s parser nnU-Net's spellings of its options (the tables above)."""
    options = parser._option_string_actions  # argparse's map from option string to action; there is no public one
    for flag, aliases in ALIASES.get(name, {}).items():
        action = options[flag]
        for alias in aliases:
            action.option_strings.append(alias)
            options[alias] = action
    for action in parser._actions:
        if action.dest in NAMES and action.option_strings:
            action.type = _translating(NAMES[action.dest], action.type)
    if "--verbose" not in options:  # nnU-Net's place for it; autoseg's is before the command, which this sets too
        parser.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help="as autoseg --verbose COMMAND")
    quiet = dict(nargs="?", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # leaves the namespace alone
    for flag, note in IGNORED.get(name, {}).items():
        parser.add_argument(flag, action=_note(note), **quiet)
    for flag, instead in INSTEAD.get(name, {}).items():
        parser.add_argument(flag, action=_refusal(instead), **quiet)


def _translating(names: dict[str, str], then):
    def convert(value: str):
        value = names.get(value, value)
        return then(value) if then is not None else value

    if then is plans_file_for:
        convert.__name__ = "plans"  # argparse names the type in its error message
    return convert


def _note(note: str) -> type[argparse.Action]:
    class Note(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            print(f"note: {option_string} is nnU-Net's; {note}, so it is not needed here.", file=sys.stderr)

    return Note


def _refusal(instead: str) -> type[argparse.Action]:
    class Refusal(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            parser.error(f"{option_string} is nnU-Net's, and autoseg does not have it: {instead}.")

    return Refusal

"""``autoseg demo``: the whole pipeline on a built-in stand-in dataset."""

from __future__ import annotations

import argparse

from autoseg.commands.common import EXIT_OK, EXIT_PROBLEMS, preprocessed_option, raw_option
from autoseg.paths import data_root


def cmd_demo(args: argparse.Namespace) -> int:
    from autoseg.demo import run_demo

    results = data_root("results", args.results)
    return (
        EXIT_OK
        if run_demo(
            data_root("raw", args.raw, writing=True), data_root("preprocessed", args.preprocessed), results, seed=args.seed, task=args.task
        )
        else EXIT_PROBLEMS
    )


def add_commands(commands) -> None:
    """Adds this module's subcommands to the ``autoseg`` parser."""
    demo = commands.add_parser(
        "demo",
        help="run autoseg on built-in stand-in datasets",
        description="The whole pipeline on a built-in stand-in, in minutes on a CPU: "
        "generate and verify it, plan, preprocess, briefly train fold 0, predict the held-out cases and score them.",
    )
    demo.add_argument(
        "--task",
        choices=["spine", "pet", "ad"],
        default="spine",
        help="spine: lumbar-spine muscle segmentation on 2D Dixon MRI (also generates and verifies every stand-in); "
        "pet: standard-dose PET from low-dose PET, model vs low-dose input; ad: Alzheimer's vs normal from PET + MRI, model vs "
        "majority class (default: spine)",
    )
    demo.add_argument("--seed", type=int, default=0)
    raw_option(demo)
    preprocessed_option(demo)
    demo.add_argument("--results", metavar="DIR", help="trained models folder (default: $AUTOSEG_RESULTS, else ./autoseg_data/results)")
    demo.set_defaults(run=cmd_demo)

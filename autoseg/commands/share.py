"""``autoseg export_model``, ``install_model``, ``export_onnx`` and ``import_nnunet``: trained models carried
between machines and tools."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from autoseg.commands.common import EXIT_OK, model_options, model_source
from autoseg.paths import data_root, find_dataset, plans_file_for


def cmd_export_model(args: argparse.Namespace) -> int:
    from autoseg.sharing import export_model

    results = find_dataset(args.dataset, data_root("results", args.results))
    path = export_model(
        results,
        Path(args.output),
        configurations=args.configurations,
        trainer=args.trainer,
        plans=Path(args.plans).name.removesuffix(".json"),
        folds=args.folds,
    )
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB); install it with: autoseg install_model {path}")
    return EXIT_OK


def cmd_export_onnx(args: argparse.Namespace) -> int:
    from autoseg.inference.onnx import export_onnx
    from autoseg.workflows.model import load_model

    model = load_model(
        model_source(args),
        args.configuration,
        folds=args.folds,
        device="cpu",
        trainer=args.trainer,
        plans=Path(args.plans).stem,
        results=args.results,
    )
    written = export_onnx(model.trained, Path(args.output))
    print(f"wrote {', '.join(path.name for path in written)} into {args.output}")
    return EXIT_OK


def cmd_install_model(args: argparse.Namespace) -> int:
    from autoseg.sharing import install_model

    target = install_model(Path(args.archive), data_root("results", args.results), args.overwrite)
    print(
        f"installed {target}; predict with: autoseg predict -d {target.name} -i INPUT_FOLDER -o OUTPUT_FOLDER -c CONFIGURATION "
        f"(see {target / 'inference_instructions.txt'} if present)"
    )
    return EXIT_OK


def cmd_import_nnunet(args: argparse.Namespace) -> int:
    from autoseg.nnunet import import_nnunet

    folder = import_nnunet(
        Path(args.model_folder), data_root("results", args.results), dataset_id=args.dataset_id, folds=args.folds, overwrite=args.overwrite
    )
    if args.json:
        print(json.dumps({"model_folder": str(folder)}))
        return EXIT_OK
    trainer, plans, configuration = folder.name.split("__")
    named = ("" if trainer == "default" else f" -tr {trainer}") + ("" if plans == "plans" else f" -p {plans}")
    print(f"imported {args.model_folder} as {folder}")
    print(f"predict with: autoseg predict -d {folder.parent.name} -c {configuration}{named} -i INPUT_FOLDER -o OUTPUT_FOLDER")
    return EXIT_OK


def add_commands(commands) -> None:
    """Adds this module's subcommands to the ``autoseg`` parser."""
    export = commands.add_parser(
        "export_model",
        help="write trained models to one zip file to share",
        description="Write plans, dataset.json, the folds' weights (no optimiser state), "
        "postprocessing and inference instructions of a dataset's models to a zip; by default the models "
        "find_best_configuration chose, else every trained one.",
    )
    export.add_argument("dataset", help="dataset id, name or path")
    export.add_argument("-o", "--output", required=True, help="the .zip to write")
    export.add_argument(
        "-c",
        "--configurations",
        nargs="+",
        default=None,
        help="configurations to export (default: find_best_configuration's choice, else all)",
    )
    export.add_argument("-tr", "--trainer", default="default", help="trainer of the named configurations (default: default)")
    export.add_argument(
        "-p",
        "--plans",
        type=plans_file_for,
        default="plans.json",
        help="plans of the named configurations: a plans file or its planner (default: plans.json)",
    )
    export.add_argument("-f", "--folds", nargs="+", default=None, help="folds to export (default: every finished fold)")
    export.add_argument("--results", metavar="DIR", help="trained models folder (default: $AUTOSEG_RESULTS, else ./autoseg_data/results)")
    export.set_defaults(run=cmd_export_model)

    onnx = commands.add_parser(
        "export_onnx",
        help="export a trained configuration's folds as ONNX files",
        description="Write one ONNX file per fold (dynamic batch, the planned patch) and autoseg_onnx.json (plans, "
        "dataset.json, configuration) into a new folder; predict with it through autoseg predict --backend onnxruntime "
        "or load_model(folder, backend='onnxruntime'). Needs pip install 'autoseg[onnx]'.",
    )
    model_options(onnx, "folds to export (default: every trained fold)")
    onnx.add_argument("-o", "--output", required=True, help="a new folder for the ONNX files")
    onnx.set_defaults(run=cmd_export_onnx)

    install = commands.add_parser(
        "install_model",
        help="install a model zip written by export_model",
        description="Check a model archive (no member outside the model layout, weights loadable as tensors only) "
        "and install it into the results folder in one step.",
    )
    install.add_argument("archive", help="the .zip written by autoseg export_model")
    install.add_argument("--overwrite", action="store_true", help="replace an installed model of the same dataset")
    install.add_argument("--results", metavar="DIR", help="trained models folder (default: $AUTOSEG_RESULTS, else ./autoseg_data/results)")
    install.set_defaults(run=cmd_install_model)

    imported = commands.add_parser(
        "import_nnunet",
        help="import a trained nnU-Net v2 model folder as an autoseg model",
        description="Convert an nnU-Net v2 model folder (TRAINER__PLANS__CONFIGURATION with plans.json, dataset.json and "
        "fold_K/checkpoint_final.pth; a cascade's 3d_lowres beside it) into the results folder: autoseg's plans, the weights as "
        "tensors (the checkpoints are read without running code) and the postprocessing nnU-Net's find_best_configuration "
        "chose. nnU-Net's folders are only read. nnUNetTrainer and nnUNetPlans become autoseg's default and plans, so the "
        "model answers to autoseg's usual -d and -c. docs/nnunet.md has the details.",
    )
    imported.add_argument("model_folder", help="the nnU-Net model folder")
    imported.add_argument("-d", "--dataset_id", type=int, default=None, help="import under this dataset id (default: nnU-Net's)")
    imported.add_argument("-f", "--folds", nargs="+", default=None, help="folds to import (default: every trained fold)")
    imported.add_argument("--overwrite", action="store_true", help="replace a model imported before")
    imported.add_argument("--json", action="store_true", help="print the model folder as JSON (for scripts)")
    imported.add_argument("--results", metavar="DIR", help="trained models folder (default: $AUTOSEG_RESULTS, else ./autoseg_data/results)")
    imported.set_defaults(run=cmd_import_nnunet)

"""The ``autoseg`` command: argparse subcommands, each a few lines over a Python API function."""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from autoseg import __version__
from autoseg.allocator import keep_freed_memory
from autoseg.errors import AutosegError
from autoseg.paths import data_root, find_dataset, plans_file_for
from autoseg.plugins import load_plugins

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def _raw_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raw", metavar="DIR", help="raw datasets folder (default: $AUTOSEG_RAW, else ./autoseg_data/raw)")


def _processes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-np", "--num_processes", type=int, default=None, metavar="N", help="worker processes (default: CPUs available, at most 8)"
    )


def cmd_verify(args: argparse.Namespace) -> int:
    from autoseg.dataset import verify_dataset

    report = verify_dataset(find_dataset(args.dataset, data_root("raw", args.raw)), args.num_processes)
    print(report.summary())
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def cmd_generate(args: argparse.Namespace) -> int:
    from dataset_conversion.synthetic import generate_stand_in, stand_ins

    keys = [s.key for s in stand_ins()] if args.name == "all" else [args.name]
    if args.name == "all" and args.dataset_id is not None:
        raise AutosegError("-d cannot be combined with 'all': each stand-in has its own id.")
    for key in keys:
        folder = generate_stand_in(
            key, data_root("raw", args.raw), args.dataset_id, args.cases, args.test, args.seed, args.overwrite, args.zoom
        )
        print(f"wrote {folder}")
    return EXIT_OK


def cmd_convert(args: argparse.Namespace) -> int:
    from autoseg.dataset import verify_dataset
    from dataset_conversion.converters import convert_dataset

    folder = convert_dataset(args.converter, Path(args.source), data_root("raw", args.raw), args.dataset_id, args.name, args.overwrite)
    print(f"wrote {folder}")
    report = verify_dataset(folder, args.num_processes)
    print(report.summary())
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _preprocessed_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preprocessed", metavar="DIR", help="preprocessed data folder (default: $AUTOSEG_PREPROCESSED, else ./autoseg_data/preprocessed)"
    )


def _open_dataset(args: argparse.Namespace):
    """Returns (raw dataset, its folder in the preprocessed root)."""
    from autoseg.dataset import RawDataset

    dataset = RawDataset(find_dataset(args.dataset, data_root("raw", args.raw)))
    return dataset, data_root("preprocessed", args.preprocessed) / dataset.name


def cmd_fingerprint(args: argparse.Namespace) -> int:
    from autoseg.plan_and_preprocess import run_fingerprint

    dataset, output = _open_dataset(args)
    run_fingerprint(dataset, output, args.num_processes, args.overwrite)
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from autoseg.plan_and_preprocess import run_plan

    dataset, output = _open_dataset(args)
    _print_plans(run_plan(dataset, output, args.planner, args.gpu_memory_gb, args.overwrite))
    return EXIT_OK


def cmd_preprocess(args: argparse.Namespace) -> int:
    from autoseg.plan_and_preprocess import run_preprocess
    from autoseg.plans import Plans, plans_file_name

    dataset, output = _open_dataset(args)
    plans = Plans.load(output / plans_file_name(args.planner))
    run_preprocess(dataset, output, plans, args.configurations, args.num_processes, args.overwrite)
    return EXIT_OK


def cmd_plan_and_preprocess(args: argparse.Namespace) -> int:
    from autoseg.plan_and_preprocess import plan_and_preprocess

    dataset, output = _open_dataset(args)
    plans = plan_and_preprocess(
        dataset, output, args.configurations, args.planner, args.gpu_memory_gb, args.num_processes, args.verify, args.overwrite
    )
    _print_plans(plans)
    return EXIT_OK


def _print_plans(plans) -> None:
    for name, config in plans.configurations.items():
        spacing = ", ".join(f"{s:.3g}" for s in config.spacing)
        print(
            f"  {name:<11} spacing ({spacing}) mm, patch {config.patch_size}, batch {config.batch_size}, "
            f"{config.architecture.num_stages} stages, mirror axes {config.mirror_axes}, ~{config.estimated_memory_gb:.2f} GB"
        )


def cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from autoseg.training import get_trainer, train_fold

    preprocessed = find_dataset(args.dataset, data_root("preprocessed", args.preprocessed))
    overrides = {
        name: getattr(args, name)
        for name in ("epochs", "iterations_per_epoch", "validation_iterations", "checkpoint_every", "seed", "num_workers")
        if getattr(args, name) is not None
    }
    for name, value in overrides.items():
        if value < (0 if name in ("seed", "num_workers") else 1):
            raise AutosegError(f"--{name} must be at least {0 if name in ('seed', 'num_workers') else 1}, got {value}.")
    if args.num_gpus < 1:
        raise AutosegError(f"--num_gpus must be at least 1, got {args.num_gpus}.")
    if args.pretrained_weights is not None and not Path(args.pretrained_weights).is_file():
        raise AutosegError(f"--pretrained_weights {args.pretrained_weights}: no such file.")
    if args.augmentation is not None:
        overrides["augmentation"] = args.augmentation
    defaults = get_trainer(args.trainer).default_settings
    settings = replace(defaults, **overrides, compile=args.compile or defaults.compile)
    train_fold(
        preprocessed,
        data_root("results", args.results),
        args.configuration,
        args.fold,
        plans_file=args.plans,
        device=args.device,
        settings=settings,
        resume=args.resume,
        validation_only=args.val_only,
        trainer=args.trainer,
        pretrained_weights=args.pretrained_weights,
        save_probabilities=args.npz,
        num_processes=args.num_gpus,
    )
    return EXIT_OK


def _model_folder(args: argparse.Namespace) -> Path:
    """The trained configuration a predict call names: dataset, trainer, plans and configuration."""
    from autoseg.paths import trained_configurations

    dataset = find_dataset(args.dataset, data_root("results", args.results))
    models = trained_configurations(dataset, args.trainer, Path(args.plans).stem)
    trained = list(models)
    if args.configuration is None:
        if len(trained) != 1:
            raise AutosegError(
                f"{dataset} holds {len(trained)} trained configurations for trainer {args.trainer} "
                f"({', '.join(trained) or 'none'}); name one with -c."
            )
        return models[trained[0]]
    if args.configuration not in trained:
        raise AutosegError(
            f"{dataset} has no trained {args.configuration} for trainer {args.trainer}; trained: {', '.join(trained) or 'none'}."
        )
    return models[args.configuration]


def cmd_predict(args: argparse.Namespace) -> int:
    from autoseg.device import pick_device
    from autoseg.inference.predictor import load_trained_model, predict_folder

    device = pick_device(args.device)
    model = load_trained_model(_model_folder(args), args.folds, args.checkpoint, device)
    print(f"predicting with {model.folder.name}, folds {', '.join(model.folds)}, on {device}")
    written = predict_folder(
        model,
        Path(args.input),
        Path(args.output),
        device,
        args.step_size,
        not args.disable_tta,
        args.save_probabilities,
        args.num_parts,
        args.part_id,
        args.continue_prediction,
    )
    tables = [path for path in written if path.suffix == ".csv"]  # classification: one table of every case
    print(f"wrote {', '.join(str(t) for t in tables)}" if tables else f"wrote {len(written)} predictions to {args.output}")
    return EXIT_OK


def cmd_ensemble(args: argparse.Namespace) -> int:
    from autoseg.inference.ensemble import ensemble_folders

    written = ensemble_folders([Path(folder) for folder in args.input], Path(args.output), args.save_probabilities)
    print(f"wrote {len(written)} ensembled predictions to {args.output}")
    return EXIT_OK


def cmd_export_model(args: argparse.Namespace) -> int:
    from autoseg.sharing import export_model

    results = find_dataset(args.dataset, data_root("results", args.results))
    path = export_model(
        results, Path(args.output), args.configurations, args.trainer, Path(args.plans).name.removesuffix(".json"), args.folds
    )
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MB); install it with: autoseg install_model {path}")
    return EXIT_OK


def cmd_install_model(args: argparse.Namespace) -> int:
    from autoseg.sharing import install_model

    target = install_model(Path(args.archive), data_root("results", args.results), args.overwrite)
    print(
        f"installed {target}; predict with: autoseg predict -d {target.name} -i INPUT_FOLDER -o OUTPUT_FOLDER -c CONFIGURATION "
        f"(see {target / 'inference_instructions.txt'} if present)"
    )
    return EXIT_OK


def cmd_find_best_configuration(args: argparse.Namespace) -> int:
    from autoseg.selection import find_best_configuration

    results = find_dataset(args.dataset, data_root("results", args.results))
    references = data_root("preprocessed", args.preprocessed) / results.name / "gt"
    chosen = find_best_configuration(
        results,
        references,
        args.configurations,
        tuple(args.trainers),
        tuple(Path(p).name.removesuffix(".json") for p in args.plans),
        tuple(args.folds),
        not args.disable_ensembling,
        args.num_processes,
    )
    print((results / "inference_instructions.txt").read_text())
    written = (
        ["inference_instructions.txt"] + (["postprocessing.json"] if "postprocessing" in chosen else []) + ["find_best_configuration.json"]
    )
    print(f"wrote {', '.join(written)} into {results}")
    return EXIT_OK


def cmd_apply_postprocessing(args: argparse.Namespace) -> int:
    from autoseg.inference.postprocessing import Postprocessing, apply_postprocessing_folder

    written = apply_postprocessing_folder(
        Path(args.input), Path(args.output), Postprocessing.load(Path(args.postprocessing)), args.num_processes
    )
    print(f"wrote {len(written)} postprocessed predictions to {args.output}")
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace) -> int:
    from autoseg.evaluation import parse_structures
    from autoseg.evaluation.folders import evaluate_folders, print_table

    structures = parse_structures(args.labels) if args.labels else None
    summary = evaluate_folders(
        Path(args.reference),
        Path(args.prediction),
        Path(args.dataset_json) if args.dataset_json else None,
        args.num_processes,
        structures,
        Path(args.baseline) if args.baseline else None,
        args.baseline_channel,
    )
    print_table(summary)
    print(f"wrote {Path(args.prediction) / 'summary.json'}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from autoseg.demo import run_demo

    results = data_root("results", args.results)
    return (
        EXIT_OK
        if run_demo(data_root("raw", args.raw), data_root("preprocessed", args.preprocessed), results, seed=args.seed, task=args.task)
        else EXIT_PROBLEMS
    )


class _HelpWithRegistries(argparse.Action):
    """``autoseg train --help``: the help with the registries listed, built only when asked for (importing the
    trainer and its plug-ins takes seconds that no other command should pay)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from autoseg.losses import LOSSES
        from autoseg.training.optim import OPTIMISERS, SCHEDULES
        from autoseg.training.trainer import trainer_summaries

        lines = ["trainers (-tr):"] + [f"  {name:<16} {summary}" for name, summary in trainer_summaries().items()]
        lines += ["", "losses (a trainer's settings.loss; \"\" is the task's default):"]
        lines += [f"  {entry.name:<16} {'; '.join(f'{task}: {text}' for task, text in entry.summaries.items())}" for entry in LOSSES]
        lines += ["", f"optimisers: {', '.join(OPTIMISERS.names())}; schedules: {', '.join(SCHEDULES.names())}"]
        lines += ["", "Add your own with a plug-in: see docs/extending.md."]
        parser.epilog = "\n".join(lines)
        parser.print_help()
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    from dataset_conversion.converters import converters
    from dataset_conversion.synthetic import stand_ins

    parser = argparse.ArgumentParser(prog="autoseg", description="Self-configuring deep learning for medical images.")
    parser.add_argument("--version", action="version", version=f"autoseg {__version__}")
    parser.add_argument("--verbose", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    verify = commands.add_parser(
        "verify",
        help="check a raw dataset and report every problem",
        description="Check dataset.json, the file layout and every image; report all problems, each naming its case and file. "
        "Exits 1 if any are found.",
    )
    verify.add_argument("-d", "--dataset", required=True, help="dataset id (4), folder name (Dataset004_Name) or path")
    _raw_option(verify)
    _processes_option(verify)
    verify.set_defaults(run=cmd_verify)

    generate = commands.add_parser(
        "generate",
        help="write a seeded stand-in dataset",
        description="Write a seeded, realistic stand-in dataset in the raw format.\n\n"
        + "\n".join(f"  {s.key:<9} Dataset{s.dataset_id:03d}_{s.folder_name}: {s.summary}" for s in stand_ins()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("name", choices=[s.key for s in stand_ins()] + ["all"], help="which stand-in, or all")
    generate.add_argument("-d", "--dataset_id", type=int, default=None, help="dataset id (default: the stand-in's own, 901-906)")
    generate.add_argument("--cases", type=int, default=None, help="training cases (default: the stand-in's own)")
    generate.add_argument("--test", type=int, default=None, help="held-out test cases (default: the stand-in's own)")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument(
        "--zoom", type=float, default=1.0, help="image grid scale: 2 gives twice the voxels per axis over the same anatomy"
    )
    generate.add_argument("--overwrite", action="store_true", help="replace an existing dataset of the same id and name")
    _raw_option(generate)
    generate.set_defaults(run=cmd_generate)

    convert = commands.add_parser(
        "convert",
        help="convert a public dataset layout to the raw format",
        description="Convert a public dataset layout into the raw format, then verify it.\n\n"
        + "\n".join(f"  {c.key:<10} {c.summary}" for c in converters()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    convert.add_argument("converter", choices=[c.key for c in converters()])
    convert.add_argument("source", help="the downloaded dataset's folder")
    convert.add_argument(
        "-d",
        "--dataset_id",
        type=int,
        default=None,
        help="id of the new raw dataset (default: the source's own TaskXX/DatasetXXX id, else the lowest free id)",
    )
    convert.add_argument("--name", default=None, help="dataset name (default: from the source)")
    convert.add_argument("--overwrite", action="store_true")
    _raw_option(convert)
    _processes_option(convert)
    convert.set_defaults(run=cmd_convert)

    def dataset_command(name: str, help_text: str, run, description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=description)
        sub.add_argument("-d", "--dataset", required=True, help="dataset id, folder name or path")
        sub.add_argument("--overwrite", action="store_true", help="recompute instead of reusing existing results (and hand edits)")
        _raw_option(sub)
        _preprocessed_option(sub)
        _processes_option(sub)
        sub.set_defaults(run=run)
        return sub

    def planning_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("-pl", "--planner", default="default", help="planner name (default: default)")
        sub.add_argument(
            "--gpu_memory_gb", type=float, default=None, help="memory budget for training (default: the CUDA device's, else 8)"
        )

    dataset_command(
        "fingerprint",
        "compute fingerprint.json for a dataset",
        cmd_fingerprint,
        "Spacings, shapes, intensity and class statistics of the training cases, written to fingerprint.json.",
    )
    planning_options(
        dataset_command(
            "plan",
            "plan configurations from the fingerprint",
            cmd_plan,
            "Target spacing, patch and batch size, network topology and normalisation, written to plans.json. An existing "
            "plans.json (perhaps edited by hand) is kept unless --overwrite.",
        )
    )
    preprocess = dataset_command(
        "preprocess",
        "preprocess the training cases as plans.json says",
        cmd_preprocess,
        "Crop, normalise and resample every training case for the chosen configurations; finished cases are skipped.",
    )
    preprocess.add_argument("-c", "--configurations", nargs="+", default=None, help="configurations (default: all planned)")
    preprocess.add_argument("-pl", "--planner", default="default", help="whose plans to use (default: default)")
    both = dataset_command(
        "plan_and_preprocess",
        "fingerprint, plan and preprocess in one go",
        cmd_plan_and_preprocess,
        "Run verify (with --verify), fingerprint, plan and preprocess.",
    )
    both.add_argument("-c", "--configurations", nargs="+", default=None, help="configurations to preprocess (default: all planned)")
    both.add_argument("--verify", action="store_true", help="verify the raw dataset first")
    planning_options(both)

    train = commands.add_parser(
        "train",
        help="train one fold of a configuration",
        description="Train one cross-validation fold (0-4, or 'all' for every case) of a planned configuration on the preprocessed data.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    train.add_argument("-h", "--help", action=_HelpWithRegistries, nargs=0, help="show this help (with the registered trainers) and exit")
    train.add_argument("dataset", help="dataset id, folder name or path (in the preprocessed folder)")
    train.add_argument("configuration", help="a planned configuration: 2d, 3d_fullres, 3d_lowres")
    train.add_argument("fold", help="0-4, or all")
    train.add_argument(
        "-tr",
        "--trainer",
        default="default",
        help="a registered trainer, listed below with the losses, optimisers and schedules a trainer may name (default: default)",
    )
    train.add_argument(
        "-p",
        "--plans",
        type=plans_file_for,
        default="plans.json",
        help="plans the data was preprocessed with: a plans file (plans_resenc_m.json) or its planner (resenc_m) (default: plans.json)",
    )
    train.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: CUDA, else MPS, else CPU)")
    train.add_argument("--continue", dest="resume", action="store_true", help="resume from checkpoint_latest.pt exactly where it stopped")
    train.add_argument("--val_only", action="store_true", help="only re-run the whole-case validation of a finished fold")
    train.add_argument(
        "--npz", action="store_true", help="also save the validation cases' class probabilities (validation/CASE.npz), for ensembling"
    )
    train.add_argument(
        "--pretrained_weights",
        metavar="CKPT",
        default=None,
        help="start from this checkpoint's weights (transfer learning); tensors of other shapes are skipped and reported",
    )
    train.add_argument(
        "--num_gpus",
        type=int,
        default=1,
        help="train with DDP on this many GPUs (with --device cpu: gloo processes); or start autoseg train under torchrun",
    )
    train.add_argument(
        "--compile", action="store_true", help="torch.compile the network for training (CUDA; needs a C++ compiler on the CPU)"
    )
    train.add_argument("--epochs", type=int, default=None, help="default: the trainer's (1000)")
    train.add_argument("--iterations_per_epoch", type=int, default=None, help="default: the trainer's (250)")
    train.add_argument("--validation_iterations", type=int, default=None, help="default: the trainer's (50)")
    train.add_argument("--checkpoint_every", type=int, default=None, help="epochs between checkpoint_latest.pt updates (default: 5)")
    train.add_argument("--num_workers", type=int, default=None, help="augmentation worker processes (default: CPUs - 1)")
    train.add_argument(
        "--augmentation",
        choices=("auto", "cpu", "device"),
        default=None,
        help="augment in CPU workers, or batched on the training device (default auto: on the device when it is a GPU, and "
        "always for regression)",
    )
    train.add_argument("--seed", type=int, default=None, help="default: 0")
    _preprocessed_option(train)
    train.add_argument("--results", metavar="DIR", help="trained models folder (default: $AUTOSEG_RESULTS, else ./autoseg_data/results)")
    train.set_defaults(run=cmd_train)

    predict = commands.add_parser(
        "predict",
        help="predict a folder of new cases with a trained configuration",
        description="Predict every case in a folder (raw layout: CASE_0000.nii.gz, ...; plain CASE.ext for one-channel models) "
        "with the trained folds of a configuration, averaged, with mirroring; each prediction is written in its "
        "input's format and geometry.",
    )
    predict.add_argument("-i", "--input", required=True, help="folder of images to predict")
    predict.add_argument("-o", "--output", required=True, help="folder for the predictions")
    predict.add_argument("-d", "--dataset", required=True, help="dataset id, name or path (in the results folder)")
    predict.add_argument("-c", "--configuration", default=None, help="trained configuration (default: the only one trained)")
    predict.add_argument("-f", "--folds", nargs="+", default=None, help="folds to ensemble (default: every trained fold)")
    predict.add_argument("-tr", "--trainer", default="default", help="trainer variant the model was trained with (default: default)")
    predict.add_argument(
        "-p",
        "--plans",
        type=plans_file_for,
        default="plans.json",
        help="plans the model was trained with: a plans file or its planner (resenc_m) (default: plans.json)",
    )
    predict.add_argument(
        "-chk", "--checkpoint", default="checkpoint_final.pt", help="checkpoint file in each fold (default: checkpoint_final.pt)"
    )
    predict.add_argument("--step_size", type=float, default=0.5, help="tile step as a fraction of the patch (default 0.5)")
    predict.add_argument("--disable_tta", action="store_true", help="no mirroring at test time (faster, slightly worse)")
    predict.add_argument(
        "--save_probabilities", action="store_true", help="also write CASE.npz with class probabilities (for autoseg ensemble)"
    )
    predict.add_argument("--device", default=None, help="cpu, cuda, mps (default: CUDA, else MPS, else CPU)")
    predict.add_argument("--num_parts", type=int, default=1, help="split the cases into this many parts (one per GPU or machine)")
    predict.add_argument("--part_id", type=int, default=0, help="which part this call predicts (0-based)")
    predict.add_argument("--continue_prediction", action="store_true", help="skip cases whose output already exists")
    predict.add_argument("--results", metavar="DIR", help="trained models folder (default: $AUTOSEG_RESULTS, else ./autoseg_data/results)")
    predict.set_defaults(run=cmd_predict)

    ensemble = commands.add_parser(
        "ensemble",
        help="average the probabilities of several prediction folders",
        description="Average, case by case, the probabilities saved by autoseg predict --save_probabilities in several folders "
        "(e.g. 2d and 3d_fullres) and write label files.",
    )
    ensemble.add_argument("-i", "--input", nargs="+", required=True, help="prediction folders with CASE.npz files")
    ensemble.add_argument("-o", "--output", required=True, help="folder for the ensembled predictions")
    ensemble.add_argument("--save_probabilities", action="store_true", help="also write the averaged probabilities")
    ensemble.set_defaults(run=cmd_ensemble)

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

    best = commands.add_parser(
        "find_best_configuration",
        help="choose configuration, ensemble and postprocessing on the cross-validation",
        description="Score every trained configuration (all folds validated) and every pair ensemble (where trained with --npz) "
        "on the out-of-fold predictions, "
        "pick the best, choose largest-component postprocessing that raises the mean Dice, and write "
        "inference_instructions.txt, postprocessing.json "
        "and find_best_configuration.json into the dataset's results folder.",
    )
    best.add_argument("dataset", help="dataset id, name or path (in the results folder)")
    best.add_argument(
        "-c", "--configurations", nargs="+", default=None, help="configurations to compare (default: every one trained on all folds)"
    )
    best.add_argument("-tr", "--trainers", nargs="+", default=["default"], help="trainer variants to compare (default: default)")
    best.add_argument(
        "-p",
        "--plans",
        type=plans_file_for,
        nargs="+",
        default=["plans.json"],
        help="plans to compare: plans files or their planners (default: plans.json)",
    )
    best.add_argument("-f", "--folds", nargs="+", default=["0", "1", "2", "3", "4"], help="the cross-validation folds (default: 0 1 2 3 4)")
    best.add_argument("--disable_ensembling", action="store_true", help="score single configurations only")
    _preprocessed_option(best)
    best.add_argument("--results", metavar="DIR", help="trained models folder (default: $AUTOSEG_RESULTS, else ./autoseg_data/results)")
    _processes_option(best)
    best.set_defaults(run=cmd_find_best_configuration)

    postprocess = commands.add_parser(
        "apply_postprocessing",
        help="apply postprocessing.json to a folder of predictions",
        description="Apply the largest-component steps of a postprocessing.json (from find_best_configuration) to every label "
        "file of a folder; files keep their names, format and geometry.",
    )
    postprocess.add_argument("-i", "--input", required=True, help="folder of predicted label files")
    postprocess.add_argument("-o", "--output", required=True, help="folder for the postprocessed files")
    postprocess.add_argument("-pp", "--postprocessing", required=True, help="postprocessing.json")
    _processes_option(postprocess)
    postprocess.set_defaults(run=cmd_apply_postprocessing)

    evaluate = commands.add_parser(
        "evaluate",
        help="score predictions against references",
        description="Per case and mean Dice, IoU, precision, recall, HD95 and ASSD (mm) per label or region; "
        "for regression, MAE, NRMSE, PSNR and SSIM inside the body mask; for classification, accuracy, balanced accuracy, "
        "sensitivity, specificity, AUC and the confusion matrix; writes PRED/summary.json.",
    )
    evaluate.add_argument("reference", help="folder of reference label files (classification: labelsTs.csv or its folder)")
    evaluate.add_argument(
        "prediction", help="folder of predicted label files, same names (classification: the folder with predictions.csv)"
    )
    evaluate.add_argument(
        "-dj",
        "--dataset_json",
        default=None,
        help="dataset.json naming the labels and regions (default: PRED/dataset.json, written by autoseg predict)",
    )
    evaluate.add_argument(
        "--baseline",
        default=None,
        metavar="INPUTS",
        help="regression: also score input channel --baseline_channel of these images (raw layout), e.g. the low-dose PET the "
        "model improves on",
    )
    evaluate.add_argument(
        "--baseline_channel",
        type=int,
        default=None,
        help="which input channel is the baseline of a single-target dataset (default: dataset.json's baseline_channels, else channel 0)",
    )
    evaluate.add_argument(
        "-l",
        "--labels",
        nargs="+",
        default=None,
        metavar="L",
        help="score these instead of dataset.json's: label values (1 2) and regions as comma-joined values (1,2,4)",
    )
    _processes_option(evaluate)
    evaluate.set_defaults(run=cmd_evaluate)

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
    _raw_option(demo)
    _preprocessed_option(demo)
    demo.add_argument("--results", metavar="DIR", help="trained models folder (default: $AUTOSEG_RESULTS, else ./autoseg_data/results)")
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns the exit status (0 ok, 1 problems found, 2 bad input)."""
    try:
        load_plugins()  # before the parser lists what the registries hold
    except AutosegError as error:
        print(f"autoseg: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    parser = build_parser()
    args = parser.parse_args(argv)
    keep_freed_memory()  # the CPU's feature maps reused, not page-faulted in anew (autoseg/allocator.py)
    try:
        return args.run(args)
    except AutosegError as error:
        if args.verbose:
            traceback.print_exc()
        print(f"autoseg {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:  # a folder not writable, a disk full, a path through a file
        if args.verbose:
            traceback.print_exc()
        where = f" {error.filename}" if error.filename else ""
        print(
            f"autoseg {args.command}: error: cannot use{where}: {error.strerror or error}. Check that the path exists, "
            "is a folder where one is expected, is writable and that the disk has space.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

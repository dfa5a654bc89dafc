"""The raw dataset and the stages before training: ``autoseg verify``, ``generate``, ``convert``,
``fingerprint``, ``plan``, ``preprocess`` and ``plan_and_preprocess``."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoseg.commands.common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    cluster_options,
    cluster_request,
    help_listing,
    open_dataset,
    preprocessed_option,
    processes_option,
    raw_option,
)
from autoseg.errors import AutosegError
from autoseg.paths import data_root, find_dataset, plans_file_for


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
            key,
            data_root("raw", args.raw, writing=True),
            dataset_id=args.dataset_id,
            num_cases=args.cases,
            num_test=args.test,
            seed=args.seed,
            overwrite=args.overwrite,
            zoom=args.zoom,
        )
        print(f"wrote {folder}")
    return EXIT_OK


def cmd_convert(args: argparse.Namespace) -> int:
    from autoseg.dataset import verify_dataset
    from dataset_conversion.converters import convert_dataset

    folder = convert_dataset(
        args.converter,
        Path(args.source),
        data_root("raw", args.raw, writing=True),
        dataset_id=args.dataset_id,
        name=args.name,
        overwrite=args.overwrite,
        channels=args.channels,
    )
    print(f"wrote {folder}")
    report = verify_dataset(folder, args.num_processes)
    print(report.summary())
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def cmd_fingerprint(args: argparse.Namespace) -> int:
    from autoseg.plan_and_preprocess import run_fingerprint

    dataset, output = open_dataset(args)
    run_fingerprint(dataset, output, args.num_processes, overwrite=args.overwrite, num_parts=args.num_parts, part_id=args.part_id)
    return EXIT_OK


def cmd_plan(args: argparse.Namespace) -> int:
    from autoseg.plan_and_preprocess import run_plan

    dataset, output = open_dataset(args)
    plans = run_plan(
        dataset,
        output,
        planner=args.planner,
        gpu_memory_gb=args.gpu_memory_gb,
        overwrite=args.overwrite,
        target_spacing=args.target_spacing,
        plans_from=_plans_source(args),
    )
    _print_plans(plans)
    return EXIT_OK


def _plans_source(args: argparse.Namespace) -> Path | None:
    """The plans file ``--plans_from SOURCE -p PLANS`` names: SOURCE's preprocessed folder, its PLANS file."""
    if args.plans_from is None:
        return None
    source = find_dataset(args.plans_from, data_root("preprocessed", args.preprocessed)) / plans_file_for(args.plans)
    if not source.is_file():
        raise AutosegError(f"{source} not found; plan {args.plans_from} first, or name its plans with -p.")
    return source


def cmd_preprocess(args: argparse.Namespace) -> int:
    from autoseg.plan_and_preprocess import run_preprocess
    from autoseg.plans import Plans, plans_file_name

    dataset, output = open_dataset(args)
    plans = Plans.load(output / plans_file_name(args.planner))
    parts = dict(num_parts=args.num_parts, part_id=args.part_id)
    run_preprocess(
        dataset, output, plans, configurations=args.configurations, num_processes=args.num_processes, overwrite=args.overwrite, **parts
    )
    return EXIT_OK


def cmd_plan_and_preprocess(args: argparse.Namespace) -> int:
    from autoseg.plan_and_preprocess import plan_and_preprocess

    dataset, output = open_dataset(args)
    options = dict(
        configurations=args.configurations,
        planner=args.planner,
        gpu_memory_gb=args.gpu_memory_gb,
        num_processes=args.num_processes,
        verify=args.verify,
        overwrite=args.overwrite,
        target_spacing=args.target_spacing,
        plans_from=_plans_source(args),
        wait_minutes=args.wait_minutes,
    )
    if args.submit is not None:
        from autoseg.plan_and_preprocess import submit_plan_and_preprocess

        if args.num_parts < 2 or args.part_id != 0:
            raise AutosegError("--submit runs every part as a job: give --num_parts N (2 or more) and leave out --part_id.")
        submit_plan_and_preprocess(cluster_request(args), dataset.root, output, args.num_parts, **options)
        return EXIT_OK
    plans = plan_and_preprocess(dataset, output, num_parts=args.num_parts, part_id=args.part_id, **options)
    _print_plans(plans)
    return EXIT_OK


def _print_plans(plans) -> None:
    for name, config in plans.configurations.items():
        spacing = ", ".join(f"{s:.3g}" for s in config.spacing)
        print(
            f"  {name:<11} spacing ({spacing}) mm, patch {config.patch_size}, batch {config.batch_size}, "
            f"{config.architecture.num_stages} stages, mirror axes {config.mirror_axes}, ~{config.estimated_memory_gb:.2f} GB"
        )


def _planners() -> list[str]:
    """The registered planners, for the planning commands' ``--help``."""
    from planners.registry import PLANNERS

    described = [
        f"  {planner.name:<12} {planner.network} network, planned for "
        + (f"{planner.memory_target_gb:g} GB" if planner.memory_target_gb else "the GPU's memory (8 GB without one)")
        for planner in PLANNERS
    ]
    return ["planners (-pl):", *described]


def add_commands(commands) -> None:
    """Adds this module's subcommands to the ``autoseg`` parser."""
    from dataset_conversion.converters import converters
    from dataset_conversion.synthetic import stand_ins

    verify = commands.add_parser(
        "verify",
        help="check a raw dataset and report every problem",
        description="Check dataset.json, the file layout and every image; report all problems, each naming its case and file. "
        "Exits 1 if any are found.",
    )
    verify.add_argument("-d", "--dataset", required=True, help="dataset id (4), folder name (Dataset004_Name) or path")
    raw_option(verify)
    processes_option(verify)
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
    raw_option(generate)
    generate.set_defaults(run=cmd_generate)

    convert = commands.add_parser(
        "convert",
        help="convert a public dataset layout to the raw format",
        description="Convert a public dataset layout into the raw format, then verify it.\n\n"
        + "\n".join(f"  {c.key:<13} {c.summary}" for c in converters()),
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
    convert.add_argument(
        "--channels",
        nargs="+",
        default=None,
        metavar="TEXT",
        help="dicom_folder: the channels, each as text its series' description contains (e.g. T1 FLAIR); default: the one "
        "series of each case, or the series descriptions all cases share",
    )
    raw_option(convert)
    processes_option(convert)
    convert.set_defaults(run=cmd_convert)

    def dataset_command(name: str, help_text: str, run, description: str, planning: bool = False) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=description, add_help=not planning)
        if planning:
            sub.add_argument("-h", "--help", action=help_listing(_planners), nargs=0, help="show this help (with the planners) and exit")
            planning_options(sub)
        sub.add_argument("-d", "--dataset", required=True, help="dataset id, folder name or path")
        sub.add_argument("--overwrite", action="store_true", help="recompute instead of reusing existing results (and hand edits)")
        raw_option(sub)
        preprocessed_option(sub)
        processes_option(sub)
        sub.set_defaults(run=run)
        return sub

    def planning_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "-pl",
            "--planner",
            default="default",
            help="a registered planner (listed below); its plans are plans_NAME.json (default: default, plans.json)",
        )
        sub.add_argument(
            "--gpu_memory_gb", type=float, default=None, help="memory budget for training (default: the CUDA device's, else 8)"
        )
        sub.add_argument(
            "--target_spacing",
            type=float,
            nargs="+",
            default=None,
            metavar="MM",
            help="plan patch, network and batch around this full-resolution spacing (array axis order, e.g. 3 1 1) instead of "
            "the planned one; the configurations record spacing_overridden",
        )
        sub.add_argument(
            "--plans_from",
            default=None,
            metavar="SOURCE",
            help="copy the network, patch and spacing of this (preprocessed) dataset's plans, keeping this dataset's own "
            "normalisation and labels, so that --pretrained_weights from SOURCE fit",
        )
        sub.add_argument(
            "-p", "--plans", default="plans.json", help="with --plans_from: which of SOURCE's plans to copy (default: plans.json)"
        )

    def parts_options(sub: argparse.ArgumentParser, what: str) -> None:
        sub.add_argument("--num_parts", type=int, default=1, help=f"split the cases into this many parts, {what}")
        sub.add_argument("--part_id", type=int, default=0, help="which part this call does (0-based)")

    fingerprint = dataset_command(
        "fingerprint",
        "compute fingerprint.json for a dataset",
        cmd_fingerprint,
        "Spacings, shapes, intensity and class statistics of the training cases, written to fingerprint.json.",
    )
    parts_options(fingerprint, "one call each (on as many machines); the last part to finish merges them into fingerprint.json")
    dataset_command(
        "plan",
        "plan configurations from the fingerprint",
        cmd_plan,
        "Target spacing, patch and batch size, network topology and normalisation, written to plans.json. An existing "
        "plans.json (perhaps edited by hand) is kept unless --overwrite.",
        planning=True,
    )
    preprocess = dataset_command(
        "preprocess",
        "preprocess the training cases as plans.json says",
        cmd_preprocess,
        "Crop, normalise and resample every training case for the chosen configurations; finished cases are skipped.",
    )
    preprocess.add_argument("-c", "--configurations", nargs="+", default=None, help="configurations (default: all planned)")
    preprocess.add_argument("-pl", "--planner", default="default", help="whose plans to use, plans_NAME.json (default: default)")
    parts_options(preprocess, "one call each (on as many machines); training refuses the data until all have finished")
    both = dataset_command(
        "plan_and_preprocess",
        "fingerprint, plan and preprocess in one go",
        cmd_plan_and_preprocess,
        "Run verify (with --verify), fingerprint, plan and preprocess.",
        planning=True,
    )
    both.add_argument("-c", "--configurations", nargs="+", default=None, help="configurations to preprocess (default: all planned)")
    both.add_argument("--verify", action="store_true", help="verify the raw dataset first")
    parts_options(
        both,
        "one call each (on as many machines): each fingerprints its cases, waits for the other parts' fingerprints, "
        "plans and preprocesses its cases",
    )
    both.add_argument(
        "--wait_minutes",
        type=float,
        default=120.0,
        help="with --num_parts: how long a part waits for the other parts' fingerprints (default: 120)",
    )
    cluster_options(
        both,
        "the --num_parts parts as jobs: fingerprint parts, then plan and preprocess parts (logs in the preprocessed dataset's jobs/)",
        gpus=False,
    )

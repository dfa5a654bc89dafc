"""What the command modules share: exit statuses and the options every dataset command takes."""

from __future__ import annotations

import argparse
from typing import Callable

from autoseg.errors import AutosegError
from autoseg.paths import data_root, find_dataset, plans_file_for

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def raw_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--raw", metavar="DIR", help="raw datasets folder (default: $AUTOSEG_RAW, else ./autoseg_data/raw)")


def processes_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-np", "--num_processes", type=int, default=None, metavar="N", help="worker processes (default: CPUs available, at most 8)"
    )


def preprocessed_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preprocessed", metavar="DIR", help="preprocessed data folder (default: $AUTOSEG_PREPROCESSED, else ./autoseg_data/preprocessed)"
    )


def model_options(parser: argparse.ArgumentParser, folds_help: str) -> None:
    """The options that name a trained configuration: dataset, configuration, folds, trainer, plans, results folder
    (what ``autoseg.load_model`` takes)."""
    parser.add_argument("-d", "--dataset", default=None, help="dataset id, name or path (in the results folder)")
    parser.add_argument(
        "-m",
        "--model",
        default=None,
        metavar="MODEL_FOLDER",
        help="instead of -d: a model folder (TRAINER__PLANS__CONFIGURATION), autoseg's or an nnU-Net v2 one as nnU-Net wrote it",
    )
    parser.add_argument("-c", "--configuration", default=None, help="trained configuration (default: the only one trained)")
    parser.add_argument("-f", "--folds", nargs="+", default=None, help=folds_help)
    parser.add_argument("-tr", "--trainer", default="default", help="trainer variant the model was trained with (default: default)")
    parser.add_argument(
        "-p",
        "--plans",
        type=plans_file_for,
        default="plans.json",
        help="plans the model was trained with: a plans file or its planner (resenc_m) (default: plans.json)",
    )
    parser.add_argument("--results", metavar="DIR", help="trained models folder (default: $AUTOSEG_RESULTS, else ./autoseg_data/results)")


def cluster_options(parser: argparse.ArgumentParser, what: str, gpus: bool) -> None:
    """``--submit`` and the Slurm resources (autoseg.cluster); ``what``: what runs as jobs, for the help."""
    cluster = parser.add_argument_group("cluster jobs (pip install 'autoseg[cluster]'; docs/cluster.md)")
    cluster.add_argument(
        "--submit",
        choices=["slurm", "local"],
        default=None,
        help=f"run {what} through submitit: slurm submits and prints the job ids; local runs them as processes here and waits",
    )
    cluster.add_argument("--slurm_partition", default=None, metavar="P", help="the Slurm partition")
    if gpus:
        cluster.add_argument("--slurm_gpus_per_node", type=int, default=None, metavar="N", help="GPUs per job")
    cluster.add_argument("--slurm_cpus_per_task", type=int, default=None, metavar="N", help="CPUs per job (worker processes)")
    cluster.add_argument("--slurm_time", default=None, metavar="T", help="time limit: minutes (720) or [days-]hours:minutes (12:00)")


def cluster_request(args: argparse.Namespace):
    """The ClusterRequest of ``cluster_options``' flags."""
    from autoseg.cluster import ClusterRequest

    gpus = getattr(args, "slurm_gpus_per_node", None)
    return ClusterRequest(args.submit, args.slurm_partition, gpus, args.slurm_time, args.slurm_cpus_per_task)


def model_source(args: argparse.Namespace) -> str:
    """What ``model_options`` named: the model folder (-m) or the dataset (-d), exactly one of them."""
    if (args.dataset is None) == (args.model is None):
        raise AutosegError("name the model with -d DATASET (and -c CONFIGURATION) or with -m MODEL_FOLDER: one of the two.")
    return args.model if args.model is not None else args.dataset


def open_dataset(args: argparse.Namespace):
    """Returns (raw dataset, its folder in the preprocessed root)."""
    from autoseg.dataset import RawDataset

    dataset = RawDataset(find_dataset(args.dataset, data_root("raw", args.raw)))
    return dataset, data_root("preprocessed", args.preprocessed) / dataset.name


def help_listing(listing: Callable[[], list[str]]) -> type[argparse.Action]:
    """A ``-h/--help`` action that prints the help with ``listing()``'s lines after it: what the registries hold
    (plug-ins included), built only when asked for (importing them takes seconds no other call should pay)."""

    class HelpWithListing(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            parser.epilog = "\n".join([*listing(), "", "Add your own with a plug-in: see docs/extending.md."])
            parser.formatter_class = argparse.RawDescriptionHelpFormatter
            parser.print_help()
            parser.exit()

    return HelpWithListing

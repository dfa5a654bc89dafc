"""What the command modules share: exit statuses and the options every dataset command takes."""

from __future__ import annotations

import argparse

from autoseg.paths import data_root, find_dataset

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


def open_dataset(args: argparse.Namespace):
    """Returns (raw dataset, its folder in the preprocessed root)."""
    from autoseg.dataset import RawDataset

    dataset = RawDataset(find_dataset(args.dataset, data_root("raw", args.raw)))
    return dataset, data_root("preprocessed", args.preprocessed) / dataset.name

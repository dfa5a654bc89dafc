"""``autoseg find_best_configuration``, ``apply_postprocessing``, ``evaluate`` and ``report``: scores, selection,
postprocessing and the QC report."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoseg.commands.common import EXIT_OK, preprocessed_option, processes_option
from autoseg.paths import data_root, find_dataset, plans_file_for


def cmd_find_best_configuration(args: argparse.Namespace) -> int:
    from autoseg.workflows.best_configuration import find_best_configuration

    results = find_dataset(args.dataset, data_root("results", args.results))
    references = data_root("preprocessed", args.preprocessed) / results.name / "gt"
    chosen = find_best_configuration(
        results,
        references,
        configurations=args.configurations,
        trainers=tuple(args.trainers),
        plans=tuple(Path(p).name.removesuffix(".json") for p in args.plans),
        folds=tuple(args.folds),
        allow_ensembles=not args.disable_ensembling,
        num_processes=args.num_processes,
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
    from autoseg.workflows.evaluation import evaluate_folders, summary_text

    structures = parse_structures(args.labels) if args.labels else None
    summary = evaluate_folders(
        Path(args.reference),
        Path(args.prediction),
        dataset_json=Path(args.dataset_json) if args.dataset_json else None,
        num_processes=args.num_processes,
        structures=structures,
        baseline_dir=Path(args.baseline) if args.baseline else None,
        baseline_channel=args.baseline_channel,
        ignore_geometry=args.ignore_geometry,
        nsd_tolerance=args.nsd_tolerance,
    )
    print(summary_text(summary, Path(args.prediction), Path(args.dataset_json) if args.dataset_json else None, structures))
    print(f"wrote {Path(args.prediction) / 'summary.json'}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from autoseg.workflows.report import build_report

    written = build_report(
        Path(args.prediction),
        Path(args.reference) if args.reference else None,
        Path(args.output) if args.output else None,
        Path(args.images) if args.images else None,
        args.num_processes,
    )
    print(f"wrote {written}")
    return EXIT_OK


def add_commands(commands) -> None:
    """Adds this module's subcommands to the ``autoseg`` parser."""
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
    preprocessed_option(best)
    best.add_argument("--results", metavar="DIR", help="trained models folder (default: $AUTOSEG_RESULTS, else ./autoseg_data/results)")
    processes_option(best)
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
    processes_option(postprocess)
    postprocess.set_defaults(run=cmd_apply_postprocessing)

    evaluate = commands.add_parser(
        "evaluate",
        help="score predictions against references",
        description="Segmentation: per case and mean Dice, IoU, precision, recall, HD95, ASSD (mm) and NSD per label or region. "
        "HD95 and ASSD pool the surface-voxel distances of both directions (HD95 their 95th percentile, ASSD their mean); "
        "NSD is the area-weighted normalised surface Dice at --nsd_tolerance (DeepMind's surface-distance definition). "
        "An empty reference and empty prediction score NaN (left out of the means); only one empty scores Dice 0, NSD 0 "
        "and the image diagonal as HD95 and ASSD. "
        "Regression: MAE, NRMSE (by the reference's range in the body), PSNR (that range as peak) and SSIM inside the "
        "reference's body mask. Classification: accuracy, balanced accuracy (mean recall of the classes present), "
        "sensitivity, specificity and AUC of the second class (more classes: one-vs-rest means), and the confusion "
        "matrix. Writes PRED/summary.json; every convention is in docs/evaluation.md.",
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
    evaluate.add_argument(
        "--ignore_geometry",
        action="store_true",
        help="score predictions whose spacing, origin or direction differ from their reference's, comparing the stored arrays "
        "voxel by voxel (by default such a prediction is refused: it is not where the reference is)",
    )
    evaluate.add_argument(
        "--nsd_tolerance",
        type=float,
        nargs="+",
        default=None,
        metavar="MM",
        help="normalised surface Dice tolerance in mm: one value for every label and region, or one each in their order "
        "(dataset.json's, or -l's) (default: 1)",
    )
    processes_option(evaluate)
    evaluate.set_defaults(run=cmd_evaluate)

    report = commands.add_parser(
        "report",
        help="write an HTML page to look at a folder of predictions",
        description="Write one self-contained HTML page (images embedded) about a folder autoseg predict wrote: a sortable table "
        "of its cases, worst first, with their metrics (scored against --reference, else from the folder's summary.json) and "
        "uncertainty scores; the metrics' distributions; per case, segmentations drawn over the input image through the "
        "structure's centroid in three planes (prediction filled, reference outlined), or regression images beside the "
        "reference and their difference, or for classification the confusion matrix and ROC curves; and the training "
        "curves of the model that predicted it.",
    )
    report.add_argument("prediction", help="folder of predictions (written by autoseg predict)")
    report.add_argument(
        "--reference", default=None, help="references to score against: label or target files (classification: labelsTs.csv)"
    )
    report.add_argument(
        "--images",
        default=None,
        help="the input images the folder was predicted from (default: the folder its prediction.json names)",
    )
    report.add_argument("-o", "--output", default=None, help="the HTML file to write (default: PRED/report.html)")
    processes_option(report)
    report.set_defaults(run=cmd_report)

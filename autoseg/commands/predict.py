"""``autoseg predict`` and ``ensemble``: trained models applied to new cases."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoseg.commands.common import EXIT_OK, model_options, model_source


def cmd_predict(args: argparse.Namespace) -> int:
    from autoseg.workflows.model import load_model

    model = load_model(
        model_source(args),
        args.configuration,
        folds=args.folds,
        checkpoint=args.checkpoint,
        device=args.device,
        trainer=args.trainer,
        plans=Path(args.plans).stem,
        results=args.results,
        backend=args.backend,
    )
    print(f"predicting with {model.trained.folder.name}, folds {', '.join(model.folds)}, on {model.device}")
    written = model.predict_folder(
        Path(args.input),
        Path(args.output),
        step_size=args.step_size,
        mirroring=not args.disable_tta,
        save_probabilities=args.save_probabilities,
        save_uncertainty=args.save_uncertainty,
        num_parts=args.num_parts,
        part_id=args.part_id,
        continue_prediction=args.continue_prediction,
        output_format=args.output_format,
        previous_stage_dir=Path(args.prev_stage_predictions) if args.prev_stage_predictions else None,
    )
    print(model.trained.task.describe_written(written, Path(args.output)))
    return EXIT_OK


def cmd_ensemble(args: argparse.Namespace) -> int:
    from autoseg.workflows.ensemble import ensemble_folders

    written = ensemble_folders([Path(folder) for folder in args.input], Path(args.output), args.save_probabilities)
    print(f"wrote {len(written)} ensembled predictions to {args.output}")
    return EXIT_OK


def add_commands(commands) -> None:
    """Adds this module's subcommands to the ``autoseg`` parser."""
    predict = commands.add_parser(
        "predict",
        help="predict a folder of new cases with a trained configuration",
        description="Predict every case in a folder (raw layout: CASE_0000.nii.gz, ...; plain CASE.ext for one-channel models; "
        "a channel may be a folder holding one DICOM series, CASE_0000/) with the trained folds of a configuration, averaged, "
        "with mirroring; each prediction is written in its input's format and geometry (NIfTI for DICOM input, in patient "
        "coordinates), or as --output_format says.",
    )
    predict.add_argument("-i", "--input", required=True, help="folder of images to predict")
    predict.add_argument("-o", "--output", required=True, help="folder for the predictions")
    model_options(predict, "folds to ensemble (default: every trained fold)")
    predict.add_argument(
        "-chk",
        "--checkpoint",
        default="checkpoint_final.pt",
        help="checkpoint file in each fold (default: checkpoint_final.pt; checkpoint_best.pt: the epoch with the best moving "
        "average of the validation pseudo-score, which train --val_best validates)",
    )
    predict.add_argument("--step_size", type=float, default=0.5, help="tile step as a fraction of the patch (default 0.5)")
    predict.add_argument("--disable_tta", action="store_true", help="no mirroring at test time (faster, slightly worse)")
    predict.add_argument(
        "--save_probabilities", action="store_true", help="also write CASE.npz with class probabilities (for autoseg ensemble)"
    )
    predict.add_argument(
        "--backend",
        choices=["torch", "onnxruntime"],
        default="torch",
        help="run the networks in PyTorch (default) or in onnxruntime on the CPU (exported once into the model folder's onnx/; "
        "needs pip install 'autoseg[onnx]')",
    )
    predict.add_argument(
        "--save_uncertainty",
        action="store_true",
        help="also write uncertainty maps in the input's geometry, one folder per map (segmentation: uncertainty/entropy/CASE, and "
        "with 2+ folds uncertainty/mutual_information/CASE; regression: uncertainty/std/CASE across folds) and uncertainty.csv, one "
        "score per case and structure "
        "to rank cases for review; classification: each class's spread across folds in predictions.csv",
    )
    predict.add_argument(
        "--output_format",
        default=None,
        metavar="FORMAT",
        help="write every prediction as this image ending (.nii.gz, .nrrd, .mha, ...), or as dicom_seg: one DICOM Segmentation "
        "object per case (CASE.dcm) referencing the DICOM series it was read from, one segment per label named from "
        "dataset.json (segmentation of DICOM input; needs pip install 'autoseg[dicom]') (default: the input's format)",
    )
    predict.add_argument(
        "--prev_stage_predictions",
        default=None,
        metavar="DIR",
        help="-c 3d_cascade_fullres: the 3d_lowres predictions of these cases (label files named like them); by default the "
        "3d_lowres model (same trainer, plans and folds) predicts them first, into OUTPUT/3d_lowres/",
    )
    predict.add_argument("--device", default=None, help="cpu, cuda, mps (default: CUDA, else MPS, else CPU)")
    predict.add_argument("--num_parts", type=int, default=1, help="split the cases into this many parts (one per GPU or machine)")
    predict.add_argument("--part_id", type=int, default=0, help="which part this call predicts (0-based)")
    predict.add_argument("--continue_prediction", action="store_true", help="skip cases whose output already exists")
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

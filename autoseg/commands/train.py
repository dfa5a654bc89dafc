"""``autoseg train``: one fold of a configuration, with the trainer, loss, optimiser and schedule registries listed in its help."""

from __future__ import annotations

import argparse
from pathlib import Path

from autoseg.commands.common import EXIT_OK, cluster_options, cluster_request, help_listing, preprocessed_option
from autoseg.errors import AutosegError
from autoseg.paths import data_root, find_dataset, plans_file_for


def cmd_train(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from autoseg.training import get_trainer, train_fold

    preprocessed = find_dataset(args.dataset, data_root("preprocessed", args.preprocessed))
    overrides = {
        name: getattr(args, name)
        for name in (
            "epochs",
            "iterations_per_epoch",
            "validation_iterations",
            "checkpoint_every",
            "checkpoint_minutes",
            "seed",
            "num_workers",
        )
        if getattr(args, name) is not None
    }
    for name, value in overrides.items():
        least = 0 if name in ("seed", "num_workers", "checkpoint_minutes") else 1
        if value < least:
            raise AutosegError(f"--{name} must be at least {least}, got {value}.")
    if args.num_gpus < 1:
        raise AutosegError(f"--num_gpus must be at least 1, got {args.num_gpus}.")
    if args.pretrained_weights is not None and not Path(args.pretrained_weights).is_file():
        raise AutosegError(f"--pretrained_weights {args.pretrained_weights}: no such file.")
    if args.augmentation is not None:
        overrides["augmentation"] = args.augmentation
    overrides.update(_optimisation_overrides(args))
    defaults = get_trainer(args.trainer).default_settings
    settings = replace(defaults, **overrides, compile=args.compile or defaults.compile)
    given = overrides | ({"compile": True} if args.compile else {})  # --continue takes the rest from the fold's record
    if len(set(args.folds)) < len(args.folds):
        raise AutosegError(f"folds {' '.join(args.folds)}: a fold is named twice.")
    results = data_root("results", args.results)
    options = dict(
        preprocessed_dir=preprocessed,
        results_root=results,
        configuration_name=args.configuration,
        plans_file=args.plans,
        device=args.device,
        settings=settings,
        resume=args.resume,
        validation_only=args.val_only,
        trainer=args.trainer,
        pretrained_weights=args.pretrained_weights,
        save_probabilities=args.npz,
        num_processes=args.num_gpus,
        validate_best=args.val_best,
        budget_minutes=args.budget_minutes,
        given=given,
    )
    if args.submit is None:
        for fold in args.folds:  # one after the other, in this process
            train_fold(fold=fold, **options)
        return EXIT_OK
    from autoseg.cluster import submit_folds
    from autoseg.training import model_folder

    request = cluster_request(args)
    folder = model_folder(results, preprocessed.name, args.trainer, Path(args.plans).stem, args.configuration)
    submit_folds(
        request, {fold: folder / f"fold_{fold}" for fold in args.folds}, f"{preprocessed.name}_{args.configuration}", train_fold, **options
    )
    return EXIT_OK


def _optimisation_overrides(args: argparse.Namespace) -> dict:
    """The optimisation settings the flags set (what they leave out, the trainer or the budget rule chooses)."""
    from autoseg.training.optim import OPTIMISERS, SCHEDULES

    if args.budget_minutes is not None and (args.epochs is not None or args.iterations_per_epoch is not None):
        raise AutosegError("--budget_minutes chooses the epochs and iterations per epoch; leave out --epochs and --iterations_per_epoch.")
    overrides = {}
    for flag, registry in (("optimiser", OPTIMISERS), ("schedule", SCHEDULES)):
        if getattr(args, flag) is not None:
            registry.get(getattr(args, flag))  # refuses an unknown name, listing the known ones
            overrides[flag] = getattr(args, flag)
    if args.loss is not None:
        from autoseg.losses import LOSSES

        LOSSES.get(args.loss)  # refuses an unknown name; one that does not fit the task is refused when the loss is built
        overrides["loss"] = args.loss
    if args.lr is not None:
        if not args.lr > 0:
            raise AutosegError(f"--lr must be a positive learning rate, got {args.lr}.")
        overrides["initial_lr"] = args.lr
    return overrides


def _registries() -> list[str]:
    """The registered trainers, losses, optimisers and schedules, for ``autoseg train --help``."""
    from autoseg.losses import LOSSES
    from autoseg.training.optim import OPTIMISERS, SCHEDULES
    from autoseg.training.trainer import trainer_summaries

    lines = ["trainers (-tr):"] + [f"  {name:<16} {summary}" for name, summary in trainer_summaries().items()]
    lines += ["", "losses (a trainer's settings.loss; \"\" is the task's default):"]
    lines += [f"  {entry.name:<16} {'; '.join(f'{task}: {text}' for task, text in entry.summaries.items())}" for entry in LOSSES]
    lines += ["", f"optimisers (--optimiser): {', '.join(OPTIMISERS.names())}"]
    return lines + [f"schedules (--schedule): {', '.join(SCHEDULES.names())}"]


def add_commands(commands) -> None:
    """Adds this module's subcommands to the ``autoseg`` parser."""
    train = commands.add_parser(
        "train",
        help="train folds of a configuration (here, or as cluster jobs)",
        description="Train one cross-validation fold (0-4, or 'all' for every case) of a planned configuration on the preprocessed data.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    train.add_argument("-h", "--help", action=help_listing(_registries), nargs=0, help="show this help (with the trainers) and exit")
    train.add_argument("dataset", help="dataset id, folder name or path (in the preprocessed folder)")
    train.add_argument("configuration", help="a planned configuration: 2d, 3d_fullres, 3d_lowres")
    train.add_argument("folds", nargs="+", metavar="fold", help="0-4, or all; several run one after the other, or as jobs with --submit")
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
    cluster_options(train, "each fold as a job (its log stays in its fold folder, jobs/)", gpus=True)
    train.add_argument(
        "--continue",
        dest="resume",
        action="store_true",
        help="resume from checkpoint_latest.pt exactly where it stopped, with the settings in the fold's "
        "training_settings.json (flags given must agree with them; workers and checkpoint interval may change)",
    )
    train.add_argument("--val_only", action="store_true", help="only re-run the whole-case validation of a finished fold")
    train.add_argument(
        "--val_best",
        action="store_true",
        help="validate whole cases with checkpoint_best.pt (the epoch with the best moving average of the validation "
        "pseudo-score) instead of checkpoint_final.pt, after training or with --val_only; validation/summary.json records "
        "which (predict chooses its checkpoint with -chk)",
    )
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
    train.add_argument(
        "--checkpoint_minutes",
        type=float,
        default=None,
        help="also update checkpoint_latest.pt at the end of the first epoch this many minutes after the last update (default: 5)",
    )
    train.add_argument("--num_workers", type=int, default=None, help="augmentation worker processes (default: CPUs - 1)")
    train.add_argument(
        "--augmentation",
        choices=("auto", "cpu", "device"),
        default=None,
        help="augment in CPU workers, or batched on the training device (default auto: on the device when it is a GPU, and "
        "always for regression)",
    )
    train.add_argument("--seed", type=int, default=None, help="default: 0")
    optimisation = train.add_argument_group(
        "optimisation (default: planned for the budget, nnU-Net's schedule for a full run, AdamW for a short one; docs/training.md)"
    )
    optimisation.add_argument(
        "--budget_minutes",
        type=float,
        default=None,
        metavar="M",
        help="choose the epochs and iterations per epoch to train about M minutes on this device, from a measured step time",
    )
    optimisation.add_argument("--loss", default=None, help="a registered loss that fits the task (listed below; default: the trainer's)")
    optimisation.add_argument("--optimiser", default=None, help="a registered optimiser (listed below)")
    optimisation.add_argument("--lr", type=float, default=None, help="the initial learning rate")
    optimisation.add_argument("--schedule", default=None, help="a registered learning-rate schedule (listed below)")
    preprocessed_option(train)
    train.add_argument("--results", metavar="DIR", help="trained models folder (default: $AUTOSEG_RESULTS, else ./autoseg_data/results)")
    train.set_defaults(run=cmd_train, on_interrupt="the same command with --continue resumes from the last checkpoint")

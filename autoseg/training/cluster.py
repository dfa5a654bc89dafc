"""Folds as cluster jobs: ``autoseg train D C 0 1 2 3 4 --submit slurm`` through submitit (``autoseg[cluster]``).

One job per fold, each running exactly what ``autoseg train D C F`` runs. A
job's submitit files (its pickled call, stdout and stderr, named by job id)
stay in the fold's folder, under ``jobs/``, beside the checkpoints they
produce. ``slurm`` submits and returns (the job ids are printed); ``local``
runs the jobs as processes on this machine through submitit's local executor
(what the tests use) and waits for them. See docs/cluster.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from autoseg.errors import AutosegError

JOBS_FOLDER = "jobs"
BACKENDS = ("slurm", "local")


@dataclass(frozen=True)
class ClusterRequest:
    """Where and how fold jobs run: ``backend`` (slurm or local) and the Slurm resources."""

    backend: str
    partition: str | None = None
    gpus_per_node: int | None = None
    time: str | None = None  # minutes, or [D-]HH:MM[:SS]
    cpus_per_task: int | None = None

    def timeout_minutes(self) -> int | None:
        return None if self.time is None else parse_minutes(self.time)


def parse_minutes(text: str) -> int:
    """``90``, ``1:30``, ``01:30:00`` or ``2-00:00:00`` (Slurm's forms) -> minutes."""
    match = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not match:
        raise AutosegError(f"--slurm_time {text!r}: give minutes (90) or [days-]hours:minutes[:seconds] (1:30, 2-00:00:00).")
    days, first, second, third = (int(group) if group else None for group in match.groups())
    if second is None:  # minutes alone
        minutes = first
    else:
        minutes = first * 60 + second + (1 if third else 0)
    minutes += (days or 0) * 24 * 60
    if minutes < 1:
        raise AutosegError(f"--slurm_time {text!r} is under a minute.")
    return minutes


def _submitit():
    try:
        import submitit
    except ImportError:
        raise AutosegError("--submit runs folds as jobs through submitit: pip install 'autoseg[cluster]'.") from None
    return submitit


def submit_folds(request: ClusterRequest, fold_folders: dict[str, Path], name: str, train, **train_options) -> dict[str, str]:
    """Submits ``train(fold=F, **train_options)`` for each fold F of ``fold_folders`` ({fold: its output folder});
    returns {fold: job id}. With the local backend, waits for every job and raises naming the folds that failed
    and their logs."""
    if request.backend not in BACKENDS:
        raise AutosegError(f"--submit {request.backend!r}: choose one of {', '.join(BACKENDS)}.")
    submitit = _submitit()
    jobs = {}
    for fold, folder in fold_folders.items():
        executor = submitit.AutoExecutor(folder=folder / JOBS_FOLDER, cluster=request.backend)
        parameters = {"name": f"{name}_fold{fold}"}
        if request.timeout_minutes() is not None:
            parameters["timeout_min"] = request.timeout_minutes()
        if request.backend == "slurm":
            parameters.update(
                {
                    key: value
                    for key, value in {
                        "slurm_partition": request.partition,
                        "gpus_per_node": request.gpus_per_node,
                        "cpus_per_task": request.cpus_per_task,
                    }.items()
                    if value is not None
                }
            )
        executor.update_parameters(**parameters)
        jobs[fold] = executor.submit(train, fold=fold, **train_options)
        print(f"fold {fold}: job {jobs[fold].job_id} ({request.backend}); log in {folder / JOBS_FOLDER}")
    if request.backend == "local":
        failed = []
        for fold, job in jobs.items():
            try:
                job.result()
            except Exception as error:  # submitit re-raises the job's error with its traceback
                failed.append(f"fold {fold} (job {job.job_id}, log {job.paths.stderr}): {str(error).strip().splitlines()[-1]}")
        if failed:
            raise AutosegError("fold job(s) failed:\n  " + "\n  ".join(failed))
        print(f"{len(jobs)} fold job(s) finished")
    return {fold: str(job.job_id) for fold, job in jobs.items()}

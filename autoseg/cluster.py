"""Work as cluster jobs through submitit (``autoseg[cluster]``): folds (``autoseg train D C 0 1 2 3 4 --submit
slurm``) and the parts of fingerprinting and preprocessing (``autoseg plan_and_preprocess -d D --num_parts 8
--submit slurm``).

Each job runs exactly what the command without ``--submit`` runs for its fold
or part. A job's submitit files (its pickled call, stdout and stderr, named by
job id) stay under a ``jobs/`` folder beside what it produces: the fold's
folder, or the preprocessed dataset's. ``slurm`` submits and returns (the job
ids are printed; a wave that needs an earlier one's results is held by Slurm
until that one has succeeded, ``--dependency=afterok``); ``local`` runs the
jobs as processes on this machine through submitit's local executor (what the
tests use) and waits for each wave. See docs/cluster.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autoseg.errors import AutosegError

JOBS_FOLDER = "jobs"
BACKENDS = ("slurm", "local")


@dataclass(frozen=True)
class ClusterRequest:
    """Where and how jobs run: ``backend`` (slurm or local) and the Slurm resources."""

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
        raise AutosegError("--submit runs jobs through submitit: pip install 'autoseg[cluster]'.") from None
    return submitit


@dataclass(frozen=True)
class Call:
    """One job: ``function(**arguments)``, its submitit files under ``folder/jobs/``, named ``name`` in the queue."""

    name: str
    folder: Path
    function: Callable
    arguments: dict


def submit_jobs(request: ClusterRequest, calls: dict[str, Call], *, after: list | None = None) -> dict:
    """Submits each call as a job; returns {key: submitit job}. ``after``: jobs these may start only once all of
    them have succeeded (Slurm holds them; the local backend's caller waits for those first)."""
    if request.backend not in BACKENDS:
        raise AutosegError(f"--submit {request.backend!r}: choose one of {', '.join(BACKENDS)}.")
    submitit = _submitit()
    jobs = {}
    for key, call in calls.items():
        executor = submitit.AutoExecutor(folder=call.folder / JOBS_FOLDER, cluster=request.backend)
        parameters = {"name": call.name}
        if request.timeout_minutes() is not None:
            parameters["timeout_min"] = request.timeout_minutes()
        if request.backend == "slurm":
            resources = {
                "slurm_partition": request.partition,
                "gpus_per_node": request.gpus_per_node,
                "cpus_per_task": request.cpus_per_task,
            }
            parameters.update({key: value for key, value in resources.items() if value is not None})
            if after:
                parameters["slurm_additional_parameters"] = {"dependency": "afterok:" + ":".join(str(job.job_id) for job in after)}
        executor.update_parameters(**parameters)
        jobs[key] = executor.submit(call.function, **call.arguments)
        print(f"{key}: job {jobs[key].job_id} ({request.backend}); log in {call.folder / JOBS_FOLDER}")
    return jobs


def wait_for_jobs(jobs: dict, what: str) -> None:
    """Waits for every job; AutosegError naming each failed one (``what`` it was, its id, its log) and its error."""
    failed = []
    for key, job in jobs.items():
        try:
            job.result()
        except Exception as error:  # submitit re-raises the job's error with its traceback
            failed.append(f"{key} (job {job.job_id}, log {job.paths.stderr}): {str(error).strip().splitlines()[-1]}")
    if failed:
        raise AutosegError(f"{what} job(s) failed:\n  " + "\n  ".join(failed))
    print(f"{len(jobs)} {what} job(s) finished")


def submit_folds(request: ClusterRequest, fold_folders: dict[str, Path], name: str, train, **train_options) -> dict[str, str]:
    """Submits ``train(fold=F, **train_options)`` for each fold F of ``fold_folders`` ({fold: its output folder});
    returns {fold: job id}. With the local backend, waits for every job and raises naming the folds that failed
    and their logs."""
    calls = {
        f"fold {fold}": Call(f"{name}_fold{fold}", folder, train, dict(train_options, fold=fold)) for fold, folder in fold_folders.items()
    }
    jobs = submit_jobs(request, calls)
    if request.backend == "local":
        wait_for_jobs(jobs, "fold")
    return {key.removeprefix("fold "): str(job.job_id) for key, job in jobs.items()}

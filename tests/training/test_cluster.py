"""Folds as jobs: `autoseg train D C 0 1 --submit local` through submitit's local executor (the Slurm path takes the
same calls with Slurm parameters), logs in each fold's folder; several folds without --submit run one by one."""

import sys
from types import SimpleNamespace

import pytest

from autoseg.cli import main
from autoseg.cluster import parse_minutes
from autoseg.errors import AutosegError

TINY = ["--epochs", "1", "--iterations_per_epoch", "2", "--validation_iterations", "1", "--num_workers", "0", "--device", "cpu"]


def test_two_folds_run_as_local_jobs_and_leave_their_logs_in_their_folds(spine, capsys):
    preprocessed, results = spine
    assert main(["train", str(preprocessed), "2d", "0", "1", "--submit", "local", "--results", str(results), *TINY]) == 0
    out = capsys.readouterr().out
    model = results / preprocessed.name / "default__plans__2d"
    for fold in ("0", "1"):
        folder = model / f"fold_{fold}"
        assert f"fold {fold}: job " in out and (folder / "checkpoint_final.pt").is_file()
        logs = list((folder / "jobs").glob("*_log.out"))
        assert logs and "training" in logs[0].read_text()  # the job's own output, kept beside its checkpoints
    assert "2 fold job(s) finished" in out

    # a failing job is named with its log; without --submit, folds run one after the other here
    assert main(["train", str(preprocessed), "2d", "0", "--submit", "local", "--results", str(results), *TINY]) == 2
    assert "fold 0 (job" in capsys.readouterr().err  # fold 0 is finished: its job refuses to train it again
    assert main(["train", str(preprocessed), "2d", "2", "3", "--results", str(results), *TINY]) == 0
    assert all((model / f"fold_{fold}" / "checkpoint_final.pt").is_file() for fold in ("2", "3"))


def test_without_submitit_or_with_a_bad_time_the_request_is_refused(tmp_path, monkeypatch, capsys):
    preprocessed = tmp_path / "Dataset999_Bare"
    preprocessed.mkdir()
    monkeypatch.setitem(sys.modules, "submitit", None)
    assert main(["train", str(preprocessed), "2d", "0", "--submit", "slurm", "--results", str(tmp_path / "results"), *TINY]) == 2
    assert "pip install 'autoseg[cluster]'" in capsys.readouterr().err
    assert [parse_minutes(text) for text in ("90", "1:30", "01:30:00", "2-00:00", "0:00:30")] == [90, 90, 90, 2880, 1]
    with pytest.raises(AutosegError, match="give minutes"):
        parse_minutes("two hours")


def test_a_slurm_wave_waits_for_the_jobs_it_needs(tmp_path, monkeypatch, capsys):
    """The Slurm parameters submitit receives (no Slurm here: a stand-in records them): the resources asked for, and
    for a wave that needs an earlier one, Slurm's afterok dependency on each of its jobs."""
    from autoseg.cluster import Call, ClusterRequest, submit_jobs

    submitted = []

    class Executor:
        def __init__(self, folder, cluster):
            self.record = {"folder": folder, "cluster": cluster}

        def update_parameters(self, **parameters):
            self.record |= parameters

        def submit(self, function, **arguments):
            submitted.append(self.record | {"arguments": arguments})
            return SimpleNamespace(job_id=str(100 + len(submitted)))

    monkeypatch.setitem(sys.modules, "submitit", SimpleNamespace(AutoExecutor=Executor))
    request = ClusterRequest("slurm", partition="cpu", time="2:00", cpus_per_task=8)
    first = submit_jobs(request, {f"part {k}": Call(f"fp_{k}", tmp_path, print, {"part_id": k}) for k in range(2)})
    submit_jobs(request, {"part 0": Call("pre_0", tmp_path, print, {"part_id": 0})}, after=list(first.values()))
    assert [job["name"] for job in submitted] == ["fp_0", "fp_1", "pre_0"]
    assert all(job["slurm_partition"] == "cpu" and job["cpus_per_task"] == 8 and job["timeout_min"] == 120 for job in submitted)
    assert "slurm_additional_parameters" not in submitted[0]
    assert submitted[2]["slurm_additional_parameters"] == {"dependency": "afterok:101:102"}
    assert submitted[2]["folder"] == tmp_path / "jobs" and "part 0: job 103 (slurm)" in capsys.readouterr().out

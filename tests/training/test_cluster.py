"""Folds as jobs: `autoseg train D C 0 1 --submit local` through submitit's local executor (the Slurm path takes the
same calls with Slurm parameters), logs in each fold's folder; several folds without --submit run one by one."""

import sys

import pytest

from autoseg.cli import main
from autoseg.errors import AutosegError
from autoseg.training.cluster import parse_minutes

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

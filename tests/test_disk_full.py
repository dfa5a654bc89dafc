"""A full disk while writing: an error naming the file, exit 2, and no partial file (a small tmpfs stands in for a
full disk; the tests are skipped where one cannot be mounted)."""

import subprocess
import uuid

import numpy as np
import pytest
import torch

from autoseg.cli import main
from autoseg.errors import AutosegError
from autoseg.io import atomic_write
from autoseg.training.checkpoint import save_checkpoint
from tests.conftest import preprocessed_copy


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB file system at ``tmp_path/small``."""
    folder = tmp_path / f"small_{uuid.uuid4().hex[:6]}"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({mounted.stderr.decode().strip() or 'not permitted'})")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_a_checkpoint_on_a_full_disk_is_an_error_naming_it_and_leaves_nothing(small_disk):
    path = small_disk / "checkpoint_final.pt"
    with pytest.raises(AutosegError, match="checkpoint_final.pt: cannot be written, the disk is full"):
        save_checkpoint(path, {"network": {"weight": torch.zeros(2**20)}})  # 4 MiB
    assert not list(small_disk.iterdir())


def test_an_array_on_a_full_disk_is_an_error_naming_it_and_leaves_nothing(small_disk):
    path = small_disk / "probabilities.npy"

    def write(tmp):
        with open(tmp, "wb") as handle:
            np.save(handle, np.zeros(2**20))

    with pytest.raises(AutosegError, match="probabilities.npy: cannot be written, the disk is full"):
        atomic_write(path, write)
    assert not list(small_disk.iterdir())


def test_training_onto_a_full_disk_exits_2_naming_the_file(stand_in_cache, tmp_path, small_disk, capsys):
    root = tmp_path / "data"
    preprocessed_copy(stand_in_cache, root, "spine", cases=5, test=1, configuration="2d")
    command = ["train", "901", "2d", "0", "--preprocessed", str(root / "preprocessed"), "--results", str(small_disk), "-tr", "short"]
    features = ["--epochs", "2", "--iterations_per_epoch", "1", "--validation_iterations", "1", "--num_workers", "0"]
    (small_disk / "filler").write_bytes(bytes(1024 * 1024 - 96 * 1024))  # leaves about 96 KB
    assert main([*command, *features]) == 2
    error = capsys.readouterr().err
    assert "the disk is full" in error and str(small_disk) in error and "Traceback" not in error
    assert not list(small_disk.rglob(".*.tmp*"))

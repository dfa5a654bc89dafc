"""Large volumes never die of memory: the sliding window accumulates on the device while the output fits, else on
the CPU, and a device out-of-memory error retries the case that way (simulated here on the CPU)."""

import numpy as np
import pytest
import torch

import autoseg
from autoseg.errors import AutosegError
from autoseg.inference import sliding_window
from autoseg.inference.sliding_window import sliding_window_predict
from autoseg.io import read_image


class Doubling(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.convolution = torch.nn.Conv2d(2, 3, 3, padding=1)

    def forward(self, x):
        return self.convolution(x)


def failing_on_the_device(monkeypatch, failures: int = 1):
    """``accumulators`` raising a device out-of-memory error on its first ``failures`` calls."""
    calls = []
    original = sliding_window.accumulators

    def accumulators(shape, weight_shape, place):
        calls.append(place)
        if len(calls) <= failures:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 18.00 GiB")
        return original(shape, weight_shape, place)

    monkeypatch.setattr(sliding_window, "accumulators", accumulators)
    return calls


def test_an_out_of_memory_error_retries_with_the_output_on_the_cpu_and_gives_the_same_result(monkeypatch, capsys):
    torch.manual_seed(0)
    network, image = Doubling().eval(), torch.randn(2, 37, 29)
    with torch.no_grad():
        expected = sliding_window_predict(network, image, [16, 16], out_channels=3, mirror_axes=[0, 1], device="cpu", accumulate="device")
        calls = failing_on_the_device(monkeypatch)
        retried = sliding_window_predict(network, image, [16, 16], out_channels=3, mirror_axes=[0, 1], device="cpu", accumulate="device")
    assert len(calls) == 2
    torch.testing.assert_close(retried, expected, rtol=0, atol=0)
    assert "notice: cpu ran out of memory for the output of a [37, 29] image; predicting it again with the output on the CPU" in (
        capsys.readouterr().err
    )


def test_out_of_memory_even_with_the_output_on_the_cpu_is_a_clear_error(monkeypatch):
    failing_on_the_device(monkeypatch, failures=2)
    with pytest.raises(AutosegError, match=r"out of memory on cpu predicting an image of \[37, 29\] even with its output on the CPU"):
        with torch.no_grad():
            sliding_window_predict(Doubling(), torch.randn(2, 37, 29), [16, 16], out_channels=3, device="cpu", accumulate="device")


def test_auto_keeps_the_output_on_the_device_only_while_it_fits_in_half_the_free_memory(monkeypatch):
    image = torch.zeros(1, 1, 100, 100, 100)  # output (4 + 1 weight) x 1e6 float32 = 20 MB
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (50 * 2**20, 80 * 2**30))
    assert sliding_window._accumulation_for(image, [64, 64, 64], 4, torch.device("cuda")) == "device"
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device: (30 * 2**20, 80 * 2**30))
    assert sliding_window._accumulation_for(image, [64, 64, 64], 4, torch.device("cuda")) == "cpu"
    assert sliding_window._accumulation_for(image, [64, 64, 64], 4, torch.device("cpu")) == "device"


def test_predict_survives_an_out_of_memory_error_with_the_same_files(spine, tmp_path, monkeypatch, capsys):
    folder, dataset = spine
    model = autoseg.load_model(folder, device="cpu")
    expected = model.predict_folder(dataset.root / "imagesTs", tmp_path / "plain")
    failing_on_the_device(monkeypatch)
    written = model.predict_folder(dataset.root / "imagesTs", tmp_path / "retried")
    assert "predicting it again with the output on the CPU" in capsys.readouterr().err
    assert [p.name for p in written] == [p.name for p in expected]
    for first, second in zip(expected, written):
        np.testing.assert_array_equal(read_image(first).array, read_image(second).array)


def test_a_case_that_cannot_be_predicted_leaves_no_file(spine, tmp_path, monkeypatch):
    folder, dataset = spine
    model = autoseg.load_model(folder, device="cpu")
    failing_on_the_device(monkeypatch, failures=10**6)
    with pytest.raises(AutosegError, match="even with its output on the CPU"):
        model.predict_folder(dataset.root / "imagesTs", tmp_path / "out")
    assert not list((tmp_path / "out").glob(f"*{dataset.spec.file_ending}"))


def test_restoring_the_output_out_of_memory_retries_on_the_cpu(spine, tmp_path, monkeypatch, capsys):
    folder, dataset = spine
    model = autoseg.load_model(folder, device="cpu")
    expected = model.predict_folder(dataset.root / "imagesTs", tmp_path / "plain")
    task_class = type(model.task)
    original, calls = task_class.restore, []

    def restore(self, *arguments, **options):
        calls.append(options["device"])
        if len(calls) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return original(self, *arguments, **options)

    monkeypatch.setattr(task_class, "restore", restore)
    written = model.predict_folder(dataset.root / "imagesTs", tmp_path / "retried")
    assert "ran out of memory restoring case" in capsys.readouterr().err and calls[1] == torch.device("cpu")
    for first, second in zip(expected, written):
        np.testing.assert_array_equal(read_image(first).array, read_image(second).array)

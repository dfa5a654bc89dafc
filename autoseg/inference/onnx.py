"""ONNX: a trained configuration exported for deployment outside PyTorch, and onnxruntime as a backend.

``export_onnx`` writes one ``fold_K.onnx`` per fold (the network in evaluation mode: input ``(N, C, *patch)``
with a dynamic batch, C the image channels and for a cascade the previous stage's, output ``(N, K, *patch)``;
classification ``(N, K)``) and ``autoseg_onnx.json``:
the plans, the dataset.json and the configuration, everything preprocessing, the sliding window and the
export need. ``load_onnx_networks`` wraps the sessions so the one prediction pipeline runs around them
(``autoseg predict --backend onnxruntime``, ``load_model(..., backend="onnxruntime")``). Optional extra:
``pip install 'autoseg[onnx]'``.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from autoseg.dataset import DatasetSpec
from autoseg.errors import AutosegError
from autoseg.plans import Plans

MANIFEST = "autoseg_onnx.json"
FORMAT_VERSION = 1


def _require(module: str):
    try:
        return __import__(module)
    except ImportError:
        needed = "pip install 'autoseg[onnx]'"
        raise AutosegError(f"{module} is not installed; ONNX export and the onnxruntime backend need it: {needed}.") from None


class _FirstOutput(torch.nn.Module):
    """The network as deployed: one output (the full-resolution logits), whatever the network returns."""

    def __init__(self, network: torch.nn.Module):
        super().__init__()
        self.network = network

    def forward(self, x):
        output = self.network(x)
        return output[0] if isinstance(output, (list, tuple)) else output


def export_onnx(trained, output_dir: Path) -> list[Path]:
    """Writes ``trained``'s folds (a TrainedModel on the CPU) as ONNX files and the manifest into ``output_dir``;
    returns the files. Written into a temporary folder first and moved into place, so a failed export leaves
    nothing half-written."""
    _require("onnx")
    _require("onnxscript")
    output_dir = Path(output_dir)
    if output_dir.exists() and any(output_dir.iterdir()):
        raise AutosegError(f"{output_dir} is not empty; export into a new folder.")
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    try:
        configuration, spec = trained.configuration, trained.spec
        inputs = spec.num_channels + trained.task.previous_stage_inputs(configuration)  # a cascade's first-stage channels too
        example = torch.zeros(2, inputs, *configuration.patch_size)
        batch = torch.export.Dim("batch", min=1, max=4096)
        for fold, network in zip(trained.folds, trained.networks):
            network = _FirstOutput(network.to("cpu", memory_format=torch.contiguous_format)).eval()
            with _quiet_exporter():
                torch.onnx.export(
                    network,
                    (example,),
                    staging / f"fold_{fold}.onnx",
                    input_names=["input"],
                    output_names=["output"],
                    dynamic_shapes=({0: batch},),
                    dynamo=True,
                    verbose=False,
                )
        manifest = {
            "format_version": FORMAT_VERSION,
            "model": trained.folder.name,
            "configuration": configuration.name,
            "folds": list(trained.folds),
            "plans": trained.plans.to_json(),
            "dataset": spec.to_json(),
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if output_dir.exists():
            output_dir.rmdir()
        staging.rename(output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(output_dir.iterdir())


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter's progress lines and its notes about optional packages (torchvision's operators) are not the
    user's business; its errors still are."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.onnx._internal.exporter._registration")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


class OnnxNetwork:
    """An onnxruntime session called like the PyTorch network it was exported from: tensor in, tensor out."""

    def __init__(self, path: Path, threads: int | None = None):
        onnxruntime = _require("onnxruntime")
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # Between runs the sliding window works in torch (flips, sums); onnxruntime's threads spinning for the next run
        # would take those cores from it.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.path = path

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(x.detach().float().cpu().numpy())
        return torch.from_numpy(self.session.run(["output"], {"input": array})[0])

    def eval(self) -> OnnxNetwork:
        return self


def is_onnx_export(folder: Path) -> bool:
    return (Path(folder) / MANIFEST).is_file()


def load_onnx_networks(folder: Path, folds: list[str] | None = None):
    """(dataset spec, plans, configuration, folds, onnxruntime networks) of the export in ``folder``."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise AutosegError(f"{folder} holds no {MANIFEST}; export a model with autoseg export_onnx first.")
    manifest = json.loads(manifest_path.read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise AutosegError(f"{folder} has ONNX export format {manifest.get('format_version')!r}; this autoseg reads {FORMAT_VERSION}.")
    spec = DatasetSpec.from_json(manifest["dataset"], str(manifest_path))
    plans = Plans.from_json(manifest["plans"])
    plans.validate(manifest_path)
    folds = folds or manifest["folds"]
    missing = [fold for fold in folds if not (folder / f"fold_{fold}.onnx").is_file()]
    if missing:
        raise AutosegError(f"{folder} has no ONNX file for fold(s) {', '.join(missing)}; exported: {', '.join(manifest['folds'])}.")
    networks = [OnnxNetwork(folder / f"fold_{fold}.onnx") for fold in folds]
    return spec, plans, plans.configuration(manifest["configuration"]), list(folds), networks

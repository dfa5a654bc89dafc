"""The GPU suite: what only a GPU can answer, in one command that finishes within 8 minutes on one GPU.

    python benchmarks/gpu_suite.py                                    # CUDA, full size; table + JSON
    python benchmarks/gpu_suite.py --device cpu --quick               # every step, small (tests/test_gpu_suite.py)
    python benchmarks/gpu_suite.py --steps speed memory --output x.json

Steps (each a row per case in the printed table and in the JSON written to ``--output``):

- ``speed``: seconds per training iteration, mixed precision on CUDA, of the 2D (spine) and 3D (BraTS)
  stand-ins' plans, plain U-Net (planner ``default``) and residual encoder (``resenc_m``), at an 8 GB target;
- ``memory``: the peak memory of one training step of the planned batch against the planner's promise, for
  three stand-ins (spine, BraTS, low-dose PET) at an 8 GB target; the ratio must stay below 1;
- ``augmentation``: training steps per second with the batched device augmentation and with CPU worker
  processes, and the GPU's idle fraction in each (1 - the network's own step time / the training step's);
- ``prediction``: seconds per case of ``autoseg predict`` (sliding window, mirroring, export on the device);
- ``oom_fallback``: a CT-sized volume through the sliding window with its output on the device, on the CPU,
  and after a simulated out-of-memory error (seconds, peak device memory);
- ``compile``: the speed-up of ``--compile`` (torch.compile) on the 2D stand-in's training step;
- ``determinism``: two runs of one fold with one seed: the largest difference between their final weights.

``--quick`` shrinks everything (a few cases, a 0.25 GB target, a few iterations) so the suite cannot rot: the
test suite runs it on the CPU. Only the numbers of a full run on a GPU belong in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from autoseg.dataset import RawDataset  # noqa: E402
from autoseg.device import autocast  # noqa: E402
from autoseg.inference import sliding_window  # noqa: E402
from autoseg.io import atomic_write  # noqa: E402
from autoseg.networks import Architecture, network_for  # noqa: E402
from autoseg.plan_and_preprocess import plan_and_preprocess  # noqa: E402
from autoseg.plans import plans_file_name  # noqa: E402
from autoseg.tasks import task_for  # noqa: E402
from autoseg.training import TrainingSettings, train_fold  # noqa: E402
from autoseg.training.checkpoint import load_checkpoint  # noqa: E402
from autoseg.workflows.prediction import load_trained_model, predict_folder  # noqa: E402
from dataset_conversion.synthetic import generate_stand_in  # noqa: E402
from planners.measure_memory import measure_training_step, peak_of_training_step  # noqa: E402

STEPS = ("speed", "memory", "augmentation", "prediction", "oom_fallback", "compile", "determinism")
CONFIGURATION = {"spine": "2d", "brats": "3d_fullres", "pet": "3d_fullres"}


@dataclass
class Row:
    step: str
    case: str
    value: float | None
    unit: str
    note: str = ""


class Suite:
    """Stand-ins generated, planned and preprocessed once per (dataset, planner), and folds trained once per
    setting, in one scratch folder. ``quick``: 5 cases, a 0.25 GB target, two-stage networks of 4 and 8
    features, one iteration per epoch."""

    def __init__(self, device: str, quick: bool, scratch: Path):
        self.device, self.quick, self.scratch = device, quick, scratch
        self.gpu_memory_gb = 0.25 if quick else 8.0
        self.epochs, self.iterations = (1, 1) if quick else (3, 30)
        self._raw: dict[str, Path] = {}
        self._prepared: dict[tuple[str, str], Path] = {}
        self._trained: dict[tuple, Path] = {}

    def dataset(self, key: str) -> RawDataset:
        if key not in self._raw:
            self._raw[key] = generate_stand_in(key, self.scratch / "raw", num_cases=5 if self.quick else 10, num_test=1, seed=0)
        return RawDataset(self._raw[key])

    def preprocessed(self, key: str, planner: str = "default") -> Path:
        if (key, planner) not in self._prepared:
            dataset = self.dataset(key)
            folder = self.scratch / "preprocessed" / dataset.name
            configuration = CONFIGURATION[key]
            plan_and_preprocess(
                dataset, folder, configurations=[configuration], planner=planner, gpu_memory_gb=self.gpu_memory_gb, num_processes=2
            )
            if self.quick:  # a tiny network (two stages of 4 and 8 features): quick checks that every step runs
                path = folder / plans_file_name(planner)
                plans = json.loads(path.read_text())
                architecture = plans["configurations"][configuration]["architecture"]
                for key in ("kernel_sizes", "strides", "n_blocks_per_stage"):
                    architecture[key] = architecture[key][:2] if architecture.get(key) else architecture.get(key)
                architecture["features_per_stage"] = [4, 8]
                path.write_text(json.dumps(plans, indent=2))
            self._prepared[key, planner] = folder
        return self._prepared[key, planner]

    def configuration(self, key: str, planner: str = "default") -> dict:
        plans = json.loads((self.preprocessed(key, planner) / plans_file_name(planner)).read_text())
        return plans["configurations"][CONFIGURATION[key]]

    def train(self, key: str, planner: str = "default", run: int = 1, **changes) -> Path:
        """Fold 0 trained with the suite's settings and ``changes``, once per setting and ``run``; returns the fold
        folder. Augmentation is explicit (what ``auto`` picks: the device on CUDA, CPU workers elsewhere), so a
        setting named two ways is trained once."""
        changes.setdefault("augmentation", "device" if self.device == "cuda" else "cpu")
        setting = (key, planner, run, *sorted(changes.items()))
        if setting not in self._trained:
            settings = replace(
                TrainingSettings(epochs=self.epochs, iterations_per_epoch=self.iterations, validation_iterations=1),
                num_workers=0 if self.quick else 4,
                **changes,
            )
            results = self.scratch / "results" / "_".join(str(part) for part in setting)
            self._trained[setting] = train_fold(
                self.preprocessed(key, planner),
                results,
                CONFIGURATION[key],
                fold="0",
                plans_file=plans_file_name(planner),
                device=self.device,
                settings=settings,
            )
        return self._trained[setting]

    def seconds_per_iteration(self, fold: Path) -> float:
        """The last epoch's training time per iteration (on a full run, the first epoch's start-up is left out)."""
        record = load_checkpoint(fold / "checkpoint_final.pt")["log"][-1]
        return record["train_seconds"] / self.iterations


def step_speed(suite: Suite) -> list[Row]:
    rows = []
    for key in ("spine", "brats"):
        for planner in ("default", "resenc_m"):
            fold = suite.train(key, planner)
            configuration = suite.configuration(key, planner)
            precision = "AMP" if suite.device == "cuda" else "fp32"
            note = f"patch {configuration['patch_size']}, batch {configuration['batch_size']}, {precision}"
            rows.append(Row("speed", f"{key} {CONFIGURATION[key]} {planner}", suite.seconds_per_iteration(fold), "s/it", note))
    return rows


def step_memory(suite: Suite) -> list[Row]:
    """The measured peak of one training step (a fresh process) against the memory model the planner fitted the
    batch with; the stand-in's plans at the suite's target (their architecture as the suite trains it)."""
    rows = []
    for key in ("spine", "brats", "pet"):
        configuration = suite.configuration(key)
        spec = suite.dataset(key).spec
        architecture = Architecture.from_json(configuration["architecture"])
        shape = dict(in_channels=spec.num_channels, out_channels=task_for(spec).out_channels(), batch_size=configuration["batch_size"])
        patch = configuration["patch_size"]
        step = {"architecture": configuration["architecture"], "patch_size": patch, "device": suite.device, **shape}
        # quick: in this process (the measurement is the same; a fresh process per case costs a torch import)
        measured = peak_of_training_step(step)["peak_bytes"] if suite.quick else measure_training_step(step)
        promised = network_for(architecture).memory(architecture, patch, **shape, mixed_precision=suite.device == "cuda").total_bytes
        note = f"measured {measured / 2**30:.2f} GB, promised {promised / 2**30:.2f} GB (target {suite.gpu_memory_gb} GB)"
        rows.append(Row("memory", f"{key} {CONFIGURATION[key]}", measured / promised, "measured/promised", note))
    return rows


def network_step_seconds(suite: Suite, key: str, steps: int) -> float:
    """Seconds per step of the planned network alone (forward, loss, backward, SGD) on a batch already on the device."""
    configuration = suite.configuration(key)
    spec = suite.dataset(key).spec
    architecture = Architecture.from_json(configuration["architecture"])
    device = torch.device(suite.device)
    network = task_for(spec).make_network(architecture).to(device).train()
    optimiser = torch.optim.SGD(network.parameters(), lr=1e-3, momentum=0.9)
    batch = torch.randn(configuration["batch_size"], spec.num_channels, *configuration["patch_size"], device=device)

    def step():
        optimiser.zero_grad(set_to_none=True)
        with autocast(device):
            outputs = network(batch)
            loss = sum(output.float().square().mean() for output in outputs)
        loss.backward()
        optimiser.step()

    step()
    synchronise(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronise(device)
    return (time.perf_counter() - start) / steps


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step_augmentation(suite: Suite) -> list[Row]:
    compute = network_step_seconds(suite, "brats", 2 if suite.quick else 20)
    rows = []
    for path in ("device", "cpu"):
        fold = suite.train("brats", augmentation=path)
        seconds = suite.seconds_per_iteration(fold)
        idle = max(0.0, 1 - compute / seconds)
        rows.append(Row("augmentation", f"brats 3d_fullres, {path} augmentation", 1 / seconds, "steps/s", f"GPU idle {idle:.0%}"))
    return rows


def step_prediction(suite: Suite) -> list[Row]:
    fold = suite.train("brats")
    model = load_trained_model(fold.parent, device=suite.device)
    inputs = suite.dataset("brats").root / "imagesTs"
    cases = len({p.name.rsplit("_", 1)[0] for p in inputs.iterdir()})
    start = time.perf_counter()
    predict_folder(model, inputs, suite.scratch / "predictions", device=suite.device, mirroring=True)
    seconds = (time.perf_counter() - start) / cases
    return [Row("prediction", "brats 3d_fullres, mirroring, export on the device", seconds, "s/case", f"{cases} case(s)")]


def step_oom_fallback(suite: Suite) -> list[Row]:
    """A CT-sized volume through the sliding window (a one-layer network, so the window's own memory is measured):
    the output summed on the device, on the CPU, and after a simulated device out-of-memory error (the first
    accumulation on the device fails, the volume is predicted again with its output on the CPU)."""
    shape, patch = ([40, 96, 96], [32, 64, 64]) if suite.quick else ([320, 512, 512], [128, 128, 128])
    device = torch.device(suite.device)
    network = torch.nn.Conv3d(1, 3, 3, padding=1).to(device).eval()
    volume = torch.randn(1, *shape)
    rows = []
    original = sliding_window.accumulators
    variants = (("output on the device", "device", 0), ("output on the CPU", "cpu", 0), ("simulated OOM", "device", 1))
    for label, accumulate, failures in variants:
        calls = []

        def accumulators(*arguments, calls=calls, failures=failures):
            calls.append(1)
            if len(calls) <= failures:
                raise torch.OutOfMemoryError("simulated by the GPU suite")
            return original(*arguments)

        sliding_window.accumulators = accumulators
        try:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            start = time.perf_counter()
            with torch.no_grad():
                sliding_window.sliding_window_predict(
                    network, volume, patch, out_channels=3, device=device, tile_batch_size=2, accumulate=accumulate
                )
            synchronise(device)
            seconds = time.perf_counter() - start
        finally:
            sliding_window.accumulators = original
        peak = f", peak {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GB on the device" if device.type == "cuda" else ""
        rows.append(Row("oom_fallback", f"{shape} volume, {label}", seconds, "s", f"{len(calls)} accumulation(s){peak}"))
    return rows


def step_compile(suite: Suite) -> list[Row]:
    eager = suite.seconds_per_iteration(suite.train("spine"))
    compiled = suite.seconds_per_iteration(suite.train("spine", compile=True))
    return [Row("compile", "spine 2d", eager / compiled, "x faster", f"eager {eager:.3f} s/it, compiled {compiled:.3f} s/it")]


def step_determinism(suite: Suite) -> list[Row]:
    weights = []
    for run in (1, 2):
        fold = suite.train("spine", run=run, seed=3)
        weights.append(load_checkpoint(fold / "checkpoint_final.pt")["network"])
    difference = max(float((weights[0][name].float() - weights[1][name].float()).abs().max()) for name in weights[0])
    return [Row("determinism", "spine 2d, two runs, seed 3", difference, "max |weight difference|", "0 = bitwise identical")]


def run_suite(device: str, quick: bool, steps: list[str], scratch: Path) -> dict:
    suite = Suite(device, quick, scratch)
    rows, started = [], time.perf_counter()
    for name in steps:
        step_start = time.perf_counter()
        found = globals()[f"step_{name}"](suite)
        for row in found:
            row.note = (row.note + "; " if row.note else "") + f"step {time.perf_counter() - step_start:.0f} s"
        rows += found
    return {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "quick": quick,
        "seconds": round(time.perf_counter() - started, 1),
        "rows": [row.__dict__ for row in rows],
    }


def table(result: dict) -> str:
    lines = [
        f"GPU suite on {result['device']} (torch {result['torch']}{', quick' if result['quick'] else ''}), {result['seconds']:.0f} s",
        "",
        "| step | case | value | unit | note |",
        "|---|---|---|---|---|",
    ]
    for row in result["rows"]:
        value = "-" if row["value"] is None else f"{row['value']:.4g}"
        lines.append(f"| {row['step']} | {row['case']} | {value} | {row['unit']} | {row['note']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="a small version of every step (the test suite runs it on the CPU)")
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument("--output", type=Path, default=None, help="JSON file (default: benchmarks/results/gpu_suite_DEVICE.json)")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    np.random.seed(0)
    with tempfile.TemporaryDirectory(prefix="autoseg_gpu_suite_") as scratch:
        result = run_suite(args.device, args.quick, args.steps, Path(scratch))
    output = args.output or Path(__file__).parent / "results" / f"gpu_suite_{args.device}{'_quick' if args.quick else ''}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(output, lambda tmp: tmp.write_text(json.dumps(result, indent=2) + "\n"))
    print(table(result))
    print(f"\nwrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

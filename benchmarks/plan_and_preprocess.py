"""Fingerprint + plan + preprocess: time, CPU time, peak memory and disk, autoseg against nnU-Net v2.

    python benchmarks/plan_and_preprocess.py [-np 2] [--scales 1 4] [--zoom 1] [--pairs 3] [--nnunet /path/to/venv/bin]

For each 3D stand-in (BraTS, ISLES, low-dose PET, AD vs CN, and with
``--datasets ct`` the abdominal CT at clinical size) at its default size and
at ``scale`` times its default case count (``--cases`` sets the count),
runs the whole command in a fresh process and prints wall time, seconds per
case, the CPU time of the process tree (user + system, workers included),
its peak memory (the proportional set size summed over the tree, sampled
every 0.5 s, as reading it costs CPU time: pages shared by workers count once) and the preprocessed
data's size on disk (the data folders, not the copied references). ``-c``
preprocesses those configurations only, in both tools. With ``--nnunet``
(the bin folder of a venv holding nnunetv2), the segmentation datasets also
run through ``nnUNetv2_plan_and_preprocess`` with the same worker count;
nnU-Net has no regression or classification. ``--pairs N`` runs the tools N
times, alternating which goes first, and prints the medians and their ratio.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dataset_conversion.synthetic import generate_stand_in, get_stand_in  # noqa: E402

DATASETS = ["brats", "isles", "pet", "ad", "ct"]
SEGMENTATION = {"brats", "isles", "ct"}
SAMPLE_SECONDS = 0.5  # between readings of the tree's memory (each costs a few ms of CPU per process)
REFERENCES = {"gt", "baseline", "gt_segmentations"}  # copies of raw files, not preprocessed data


def data_megabytes(folder: Path) -> float:
    """The size of the preprocessed data below ``folder`` (a dataset's preprocessed folder), in MB."""
    folders = [p for p in folder.rglob("*") if p.is_dir() and p.parent == folder and p.name not in REFERENCES]
    return sum(f.stat().st_size for d in folders for f in d.rglob("*") if f.is_file()) / 2**20


def _tree_pids(pid: int) -> list[int]:
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        try:
            with open(f"/proc/{current}/task/{current}/children") as handle:
                stack += [int(child) for child in handle.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return pids


def _tree_pss(pid: int) -> int:
    """The summed proportional set size (bytes) of ``pid`` and all its descendants."""
    total = 0
    for current in _tree_pids(pid):
        try:
            with open(f"/proc/{current}/smaps_rollup") as handle:
                total += next(int(line.split()[1]) * 1024 for line in handle if line.startswith("Pss:"))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def _adopt_orphans() -> None:
    """Makes this process the reaper of its descendants' orphans (Linux): a forkserver outlives the command that
    started it, and its workers' CPU time counts here only once this process has waited for it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _reap_orphans() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def run_measured(command: list[str], env: dict) -> tuple[float, float, int]:
    """Runs ``command``; returns (wall seconds, CPU seconds of the tree, peak tree PSS bytes). Raises if it fails."""
    _adopt_orphans()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_pss(process.pid))
            time.sleep(SAMPLE_SECONDS)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - start
    _reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-np", "--num_processes", type=int, default=2)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--cases", type=int, default=None, help="case count (instead of the scales of the default count)")
    parser.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    parser.add_argument("--zoom", type=float, default=1.0, help="stand-in grid scale (2: 8 times the voxels of the default 3D size)")
    parser.add_argument("--nnunet", type=Path, default=None, help="bin folder of a venv with nnunetv2 installed")
    parser.add_argument("-c", "--configurations", nargs="+", default=None, help="configurations to preprocess (default: all planned)")
    parser.add_argument("--pairs", type=int, default=1, help="runs of each tool, alternating which goes first; medians printed")
    args = parser.parse_args()
    print(f"zoom {args.zoom:g}, {args.num_processes} worker processes")
    print(f"{'dataset':<10} {'cases':>5} {'tool':<14} {'wall s':>8} {'s/case':>7} {'CPU s':>8} {'peak MB':>8} {'disk MB':>8}")
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for key in args.datasets:
            stand_in = get_stand_in(key)
            for cases in [args.cases] if args.cases else [stand_in.default_cases * scale for scale in args.scales]:
                raw = work / f"raw_{key}_{cases}"
                folder = generate_stand_in(key, raw, num_cases=cases, num_test=0, zoom=args.zoom)
                tools = _commands(args, key, stand_in.dataset_id, folder.name, raw, work)
                results = {tool: [] for tool in tools}
                for pair in range(args.pairs):
                    for tool in tools if pair % 2 == 0 else list(reversed(tools)):
                        command, env, preprocessed = tools[tool]
                        shutil.rmtree(preprocessed, ignore_errors=True)
                        wall, cpu, peak = run_measured(command, env)
                        disk = data_megabytes(preprocessed / folder.name)
                        results[tool].append((wall, cpu, peak / 2**20, disk))
                        _print_row(key, cases, tool, results[tool][-1])
                if args.pairs > 1 or len(tools) > 1:
                    _print_medians(key, cases, results)


def _commands(args, key: str, dataset_id: int, name: str, raw: Path, work: Path) -> dict[str, tuple[list[str], dict, Path]]:
    """{tool: (command, environment, preprocessed folder)} for one dataset."""
    only = ["-c", *args.configurations] if args.configurations else []
    workers = str(args.num_processes)
    ours = work / f"pre_autoseg_{name}"
    tools = {
        "autoseg": (
            [
                sys.executable,
                "-m",
                "autoseg.cli",
                "plan_and_preprocess",
                "-d",
                name,
                "-np",
                workers,
                "--raw",
                str(raw),
                "--preprocessed",
                str(ours),
                *only,
            ],
            dict(os.environ),
            ours,
        )
    }
    if args.nnunet and key in SEGMENTATION:
        theirs = work / f"pre_nnunet_{name}"
        env = dict(os.environ, nnUNet_raw=str(raw), nnUNet_preprocessed=str(theirs), nnUNet_results=str(work / "results"))
        command = [str(args.nnunet / "nnUNetv2_plan_and_preprocess"), "-d", str(dataset_id), "-np", workers, "-npfp", workers, *only]
        tools["nnU-Net"] = (command, env, theirs)
    return tools


def _print_row(key: str, cases: int, tool: str, row: tuple) -> None:
    wall, cpu, peak, disk = row
    print(f"{key:<10} {cases:>5} {tool:<14} {wall:>8.1f} {wall / cases:>7.2f} {cpu:>8.1f} {peak:>8.0f} {disk:>8.1f}", flush=True)


def _print_medians(key: str, cases: int, results: dict[str, list[tuple]]) -> None:
    medians = {tool: [statistics.median(run[i] for run in runs) for i in range(4)] for tool, runs in results.items()}
    for tool, row in medians.items():
        _print_row(key, cases, f"{tool} median", row)
    if "nnU-Net" in medians:
        ratios = [a / b for a, b in zip(medians["autoseg"], medians["nnU-Net"])]
        print(
            f"{key:<10} {cases:>5} {'ratio':<14} {ratios[0]:>8.2f} {'':>7} {ratios[1]:>8.2f} {ratios[2]:>8.2f} {ratios[3]:>8.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()

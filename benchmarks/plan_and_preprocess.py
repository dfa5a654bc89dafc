"""Fingerprint + plan + preprocess time per case and peak memory, autoseg against nnU-Net v2.

    python benchmarks/plan_and_preprocess.py [-np 2] [--scales 1 4] [--zoom 1] [--nnunet /path/to/venv/bin]

For each 3D stand-in (BraTS, ISLES, low-dose PET, AD vs CN, and with
``--datasets ct`` the abdominal CT at clinical size) at its default size and
at ``scale`` times its default case count, runs the whole command in a fresh
process and prints wall time, seconds per case, the peak resident memory of
the process tree (all workers together, sampled every 50 ms) and the
preprocessed data's size on disk (the data folders, not the copied
references). ``-c`` preprocesses those configurations only, in both tools.
With ``--nnunet`` (the bin folder of a venv holding nnunetv2), the
segmentation datasets also run through ``nnUNetv2_plan_and_preprocess`` with
the same worker count; nnU-Net has no regression or classification.
"""

from __future__ import annotations

import argparse
import os
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
REFERENCES = {"gt", "baseline", "gt_segmentations"}  # copies of raw files, not preprocessed data


def data_megabytes(folder: Path) -> float:
    """The size of the preprocessed data below ``folder`` (a dataset's preprocessed folder), in MB."""
    folders = [p for p in folder.rglob("*") if p.is_dir() and p.parent == folder and p.name not in REFERENCES]
    return sum(f.stat().st_size for d in folders for f in d.rglob("*") if f.is_file()) / 2**20


def _tree_rss(pid: int) -> int:
    """Returns the summed resident memory (bytes) of ``pid`` and all its descendants."""
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/statm") as handle:
                total += int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{current}/task/{current}/children") as handle:
                stack += [int(child) for child in handle.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def run_measured(command: list[str], env: dict) -> tuple[float, int]:
    """Runs ``command``; returns (wall seconds, peak tree RSS bytes). Raises if it fails."""
    start = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr[-2000:]}")
    return time.perf_counter() - start, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-np", "--num_processes", type=int, default=2)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--datasets", nargs="+", default=DATASETS, choices=DATASETS)
    parser.add_argument("--zoom", type=float, default=1.0, help="stand-in grid scale (2: 8 times the voxels of the default 3D size)")
    parser.add_argument("--nnunet", type=Path, default=None, help="bin folder of a venv with nnunetv2 installed")
    parser.add_argument("-c", "--configurations", nargs="+", default=None, help="configurations to preprocess (default: all planned)")
    args = parser.parse_args()
    only = ["-c", *args.configurations] if args.configurations else []
    print(f"zoom {args.zoom:g}, {args.num_processes} worker processes")
    print(f"{'dataset':<10} {'cases':>5} {'tool':<9} {'total s':>8} {'s/case':>7} {'peak MB':>8} {'disk MB':>8}")
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for key in args.datasets:
            stand_in = get_stand_in(key)
            for scale in args.scales:
                cases = stand_in.default_cases * scale
                raw = work / f"raw_{key}_{scale}"
                folder = generate_stand_in(key, raw, num_cases=cases, num_test=0, zoom=args.zoom)
                tools = [
                    (
                        "autoseg",
                        [
                            sys.executable,
                            "-m",
                            "autoseg.cli",
                            "plan_and_preprocess",
                            "-d",
                            folder.name,
                            "-np",
                            str(args.num_processes),
                            "--raw",
                            str(raw),
                            "--preprocessed",
                            str(work / f"pre_autoseg_{key}_{scale}"),
                            *only,
                        ],
                        dict(os.environ),
                        work / f"pre_autoseg_{key}_{scale}" / folder.name,
                    )
                ]
                if args.nnunet and key in SEGMENTATION:
                    env = dict(
                        os.environ,
                        nnUNet_raw=str(raw),
                        nnUNet_preprocessed=str(work / f"pre_nnunet_{key}_{scale}"),
                        nnUNet_results=str(work / "results"),
                    )
                    tools.append(
                        (
                            "nnU-Net",
                            [
                                str(args.nnunet / "nnUNetv2_plan_and_preprocess"),
                                "-d",
                                str(stand_in.dataset_id),
                                "-np",
                                str(args.num_processes),
                                "-npfp",
                                str(args.num_processes),
                                *only,
                            ],
                            env,
                            work / f"pre_nnunet_{key}_{scale}" / folder.name,
                        )
                    )
                for tool, command, env, output in tools:
                    seconds, peak = run_measured(command, env)
                    disk = data_megabytes(output)
                    print(
                        f"{key:<10} {cases:>5} {tool:<9} {seconds:>8.1f} {seconds / cases:>7.2f} {peak / 2**20:>8.0f} {disk:>8.1f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()

"""``autoseg demo``: the pipeline on built-in stand-in datasets, end to end as far as it is built."""

from __future__ import annotations

import time
from pathlib import Path

from autoseg.dataset import verify_dataset


def run_demo(raw_root: Path, seed: int = 0) -> bool:
    """Generates every stand-in dataset into ``raw_root`` and verifies it; returns True if all are clean."""
    from dataset_conversion.synthetic import generate_stand_in, stand_ins

    all_ok = True
    print(f"autoseg demo: stand-in datasets in {raw_root.resolve()}")
    for stand_in in stand_ins():
        start = time.perf_counter()
        folder = generate_stand_in(stand_in.key, raw_root, seed=seed, overwrite=True)
        report = verify_dataset(folder)
        all_ok &= report.ok
        print(f"[{time.perf_counter() - start:5.1f} s] {report.summary()}")
    print("demo finished: every dataset verified." if all_ok else "demo finished with problems (see above).")
    return all_ok

"""``autoseg demo``: the pipeline on built-in stand-in datasets, end to end as far as it is built."""

from __future__ import annotations

import time
from pathlib import Path

from autoseg.dataset import RawDataset, verify_dataset


def run_demo(raw_root: Path, preprocessed_root: Path, seed: int = 0) -> bool:
    """Generates and verifies every stand-in, then plans and preprocesses the lumbar-spine one.

    Returns True if every dataset verified.
    """
    from autoseg.plan_and_preprocess import plan_and_preprocess
    from dataset_conversion.synthetic import generate_stand_in, stand_ins

    all_ok = True
    print(f"autoseg demo: stand-in datasets in {raw_root.resolve()}")
    for stand_in in stand_ins():
        start = time.perf_counter()
        folder = generate_stand_in(stand_in.key, raw_root, seed=seed, overwrite=True)
        report = verify_dataset(folder)
        all_ok &= report.ok
        print(f"[{time.perf_counter() - start:5.1f} s] {report.summary()}")
    if not all_ok:
        print("demo stopped: a dataset has problems (see above).")
        return False
    start = time.perf_counter()
    spine = RawDataset(raw_root / "Dataset901_LumbarSpineDixon")
    plans = plan_and_preprocess(spine, preprocessed_root / spine.name, overwrite=True)
    config = plans.configurations["2d"]
    print(f"[{time.perf_counter() - start:5.1f} s] planned and preprocessed {spine.name}: patch {config.patch_size}, "
          f"batch {config.batch_size}, {config.architecture.num_stages} stages, mirroring only along axes {config.mirror_axes} "
          "(never across the patient's left-right axis, which would swap the paraspinal muscles)")
    print("demo finished.")
    return True

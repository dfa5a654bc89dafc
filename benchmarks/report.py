"""The QC report at the size of a real batch: what a case's slice viewer costs to build and to carry, and how fast a
report of many cases opens and scrolls in Chromium.

    python benchmarks/report.py [--cases 20 200] [--shape 155 240 240]

One BraTS-sized case (``--shape``, the BraTS stand-in's first case resampled
to it, with a prediction 3 voxels off its reference) is built into a viewer at
the voxel budget a report of each ``--cases`` count gives a case; the page of
that many such cases is written and opened in headless Chromium (where
playwright and Chromium are installed) at 1400 x 900. Printed per count:
voxels shown per case, seconds to build a case's viewer, its bytes in the page,
the page's size, DOMContentLoaded, the time until the first case is drawn, and
the milliseconds one slider step takes to redraw a plane.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from scipy import ndimage  # noqa: E402

from autoseg.dataset import RawDataset  # noqa: E402
from autoseg.io import read_image  # noqa: E402
from autoseg.report.page import Column, Section, render_page  # noqa: E402
from autoseg.report.slices import case_viewer, case_voxel_budget, structure_colours  # noqa: E402
from dataset_conversion.synthetic import generate_stand_in  # noqa: E402


def brats_sized_case(shape: tuple[int, int, int], root: Path):
    dataset = RawDataset(generate_stand_in("brats", root, num_cases=1, num_test=0, seed=0))
    case = dataset.cases()[0]
    image, label = read_image(case.image_files[0]).array[0], read_image(case.label_files[0]).array[0]
    factors = [n / m for n, m in zip(shape, label.shape)]
    image = ndimage.zoom(image.astype(np.float32), factors, order=1)
    label = ndimage.zoom(label, factors, order=0)
    structures = {name: value for name, value in dataset.spec.predicted_labels.items() if name != "background"}
    return image, label, structures


def open_in_chromium(path: Path) -> dict[str, float] | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    browser_path = os.environ.get("AUTOSEG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        return None
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=browser_path, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        started = time.perf_counter()
        page.goto(path.resolve().as_uri(), timeout=300_000)
        page.wait_for_function("document.querySelector('.viewer').dataset.state === 'drawn'", timeout=300_000)
        first_drawn = time.perf_counter() - started
        opened = page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
        slider = page.locator(".viewer").first.locator("input[type=range]").first
        slider.focus()
        steps = 20
        started = time.perf_counter()
        for _ in range(steps):
            page.keyboard.press("ArrowLeft")
        step_ms = 1000 * (time.perf_counter() - started) / steps
        browser.close()
    return {"opened_s": opened / 1000, "first_drawn_s": first_drawn, "step_ms": step_ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[20, 200])
    parser.add_argument("--shape", type=int, nargs=3, default=[155, 240, 240])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        image, label, structures = brats_sized_case(tuple(args.shape), root / "raw")
        prediction = np.roll(label, 3, axis=2)
        colours = structure_colours(structures)
        print(f"case {tuple(args.shape)}: {label.size / 1e6:.1f} M voxels, regions {', '.join(structures)}")
        print("cases | voxels per case | build s per case | MB per case | page MB | DOMContentLoaded s | first drawn s | ms per slice step")
        for count in args.cases:
            budget = case_voxel_budget(count)
            started = time.perf_counter()
            viewer = case_viewer(
                "x", image, prediction, reference=label, spacing=(1.0, 1.0, 1.0), structures=structures, colours=colours, budget=budget
            )
            build = time.perf_counter() - started
            ids = [f"case_{index:03d}" for index in range(count)]
            rows = [{"case": name, "anchor": f"case-{name}"} for name in ids]
            sections = [Section(f"case {name}", [replace(viewer, case=name)], f"case-{name}", case=True) for name in ids]
            page = root / f"report_{count}.html"
            page.write_text(render_page(f"{count} cases", [], [Column("case", "case", numeric=False)], rows, sections))
            timings = open_in_chromium(page)
            shown = "x".join(map(str, viewer.shape))
            line = f"{count} | {shown} | {build:.2f} | {len(viewer.html()) / 1e6:.2f} | {page.stat().st_size / 1e6:.0f}"
            if timings:
                line += f" | {timings['opened_s']:.2f} | {timings['first_drawn_s']:.2f} | {timings['step_ms']:.0f}"
            else:
                line += " | (no Chromium: pip install playwright; apt-get install chromium)"
            print(line, flush=True)


if __name__ == "__main__":
    main()

"""The screenshots in docs/report.md: reports of models trained briefly on the stand-ins, seen in Chromium.

    python docs/images/make_report_screenshots.py WORK_DIR

Runs ``autoseg demo`` (spine: a 2D model, 600 iterations) and the same demo
recipe on the BraTS stand-in (a 3D model, 25 x 20 iterations, regions), predicts
each held-out folder with --save_uncertainty, writes ``autoseg report`` with
--reference, and saves the page at 1400 x 900 as report_spine.png and
report_brats.png beside this script (the BraTS page scrolled to its first case).
Needs playwright and Chromium; minutes on a CPU.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from autoseg.cli import main as autoseg  # noqa: E402
from autoseg.demo import DemoRecipe, run_demo  # noqa: E402

BRATS = DemoRecipe("brats", "3d_fullres", (32, 32, 32), (8, 16, 32, 64), 2, 25, 20, "a first look, not a trained model")


def screenshot(report: Path, png: Path, scroll_to: str | None) -> None:
    from playwright.sync_api import sync_playwright

    browser_path = os.environ.get("AUTOSEG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=browser_path, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(report.resolve().as_uri())
        if scroll_to:
            page.locator(scroll_to).first.scroll_into_view_if_needed()
            page.evaluate("window.scrollBy(0, -120)")
        page.wait_for_function("Array.from(document.querySelectorAll('.viewer')).slice(0, 2).every(v => v.dataset.state === 'drawn')")
        page.screenshot(path=str(png))
        browser.close()


def main() -> None:
    work = Path(sys.argv[1]).resolve()
    raw, preprocessed, results = work / "raw", work / "preprocessed", work / "results"
    here = Path(__file__).resolve().parent
    for task, recipe, scroll_to in (("spine", None, None), ("brats", BRATS, "section.case")):
        assert run_demo(raw, preprocessed, results, task=task, recipe=recipe)
        dataset = next(raw.glob(f"Dataset*_{'LumbarSpineDixon' if task == 'spine' else 'BraTS*'}"))
        model = next((results / dataset.name).glob("default__plans_demo__*"))
        output = work / f"{task}_predictions"
        shutil.rmtree(output, ignore_errors=True)
        assert autoseg(["predict", "-i", str(dataset / "imagesTs"), "-o", str(output), "-m", str(model), "--save_uncertainty"]) == 0
        assert autoseg(["report", str(output), "--reference", str(dataset / "labelsTs")]) == 0
        screenshot(output / "report.html", here / f"report_{task}.png", scroll_to)


if __name__ == "__main__":
    main()

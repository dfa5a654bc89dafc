"""autoseg report: the page on hand-made prediction folders of each kind (no training needed: the report reads
files), parsed for its table and images, and opened in a real browser where one is installed."""

import base64
import contextlib
import json
import os
import shutil
import struct
import zlib
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from autoseg.cli import main
from autoseg.dataset import DatasetSpec, RawDataset
from autoseg.io import ImageData, read_image, write_image
from autoseg.report.page import Column, Section, render_page
from autoseg.report.slices import case_viewer, case_voxel_budget, preview_grid, structure_colours
from autoseg.tasks.classification.table import write_predictions
from autoseg.tasks.writers import write_uncertainty_table


class Page(HTMLParser):
    """The parts of a report page the tests check: table rows (cell data-values), header titles and colours, images,
    anchors, and each slice viewer's data ({case: decoded JSON})."""

    def __init__(self, text: str):
        super().__init__()
        self.headers, self.rows, self.images, self.anchors, self._row, self._in_th = [], [], [], set(), None, False
        self.header_colours, self.viewers, self._viewer, self._json = {}, {}, None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and attrs.get("class") == "viewer":
            self._viewer = attrs["data-case"]
        elif tag == "script" and attrs.get("type") == "application/json" and self._viewer:
            self._json = ""
        elif tag == "span" and self._in_th and "swatch" in attrs.get("class", ""):
            self.header_colours[len(self.headers) - 1] = attrs["style"].split("background:")[1].strip()
        if tag == "tr":
            self._row = []
        elif tag == "td" and self._row is not None:
            self._row.append(attrs.get("data-value", ""))
        elif tag == "th":
            self._in_th = True
            self.headers.append("")
        elif tag == "img":
            self.images.append(attrs["src"])
        if "id" in attrs:
            self.anchors.add(attrs["id"])

    def handle_data(self, data):
        if self._in_th:
            self.headers[-1] += data
        if self._json is not None:
            self._json += data

    def handle_endtag(self, tag):
        if tag == "script" and self._json is not None:
            self.viewers[self._viewer], self._json, self._viewer = json.loads(self._json), None, None
        if tag == "tr" and self._row:
            self.rows.append(self._row)
        if tag == "tr":
            self._row = None
        if tag == "th":
            self._in_th = False


def png_size(src: str) -> tuple[int, int]:
    """(width, height) of an embedded PNG; fails unless the data is a PNG."""
    assert src.startswith("data:image/png;base64,")
    data = base64.b64decode(src.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def write_png(path: Path) -> None:
    """A training-curves picture, as training writes one."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, axis = pyplot.subplots(figsize=(4, 3))
    axis.plot([1.0, 0.6, 0.4])
    figure.savefig(path, format="png")
    pyplot.close(figure)


def write_folder(prediction: Path, spec: DatasetSpec, inputs: Path, model: Path | None = None) -> None:
    (prediction / "dataset.json").write_text(json.dumps(spec.to_json()))
    settings = {"input": str(inputs)} | ({"model": str(model), "folds": ["0"]} if model else {})
    (prediction / "prediction.json").write_text(json.dumps(settings))


@pytest.fixture(scope="module")
def segmentation_report(stand_in_cache, tmp_path_factory):
    """BraTS stand-in training cases predicted by hand (labels shifted by 0-4 voxels: Dice falls case by case),
    with uncertainty scores and a model folder holding a progress.png; the report written with --reference."""
    dataset = RawDataset(stand_in_cache("brats", 5, 1))
    root = tmp_path_factory.mktemp("report")
    prediction, model = root / "predictions", root / "model"
    scores = {}
    for shift, case in enumerate(dataset.cases()):
        label = read_image(case.label_files[0])
        predicted = np.roll(label.array, shift, axis=3)
        if shift == 4:  # the worst case also misses the first half of its slices: smaller volumes than the reference
            predicted[:, : predicted.shape[1] // 2] = 0
        write_image(ImageData(predicted, label.geometry), prediction / f"{case.case_id}.nii.gz")
        scores[case.case_id] = {name: 0.1 * shift for name in dataset.spec.labels if name != "background"}
    write_uncertainty_table(prediction / "uncertainty.csv", scores)
    write_folder(prediction, dataset.spec, dataset.root / "imagesTr", model)
    (model / "fold_0").mkdir(parents=True)
    write_png(model / "fold_0" / "progress.png")
    assert main(["report", str(prediction), "--reference", str(dataset.root / "labelsTr"), "-np", "1"]) == 0
    return prediction / "report.html", dataset


VOLUME_COLUMNS = {
    "predicted": "predicted {} (mL)",
    "reference": "reference {} (mL)",
    "difference": "difference {} (mL)",
    "percent": "difference {} (%)",
}


def test_a_segmentation_report_lists_each_case_worst_first_with_its_overlay_and_every_picture_is_a_png(segmentation_report):
    report, dataset = segmentation_report
    page = Page(report.read_text())
    cases = [case.case_id for case in dataset.cases()]
    assert sorted(row[0] for row in page.rows) == cases
    mean_dice = [float(row[page.headers.index("mean Dice")]) for row in page.rows]
    assert mean_dice == sorted(mean_dice) and mean_dice[-1] == 1.0  # worst first; the unshifted case is perfect
    assert {"Dice whole_tumour", "HD95 mm whole_tumour", "NSD whole_tumour", "entropy whole_tumour"} <= set(page.headers)
    assert {f"case-{case}" for case in cases} <= page.anchors
    sizes = [png_size(src) for src in page.images]
    assert len(sizes) == 2  # the metric distributions, fold 0's training curves (the cases are slice viewers)
    assert sizes[0][0] > 300 and sizes[0][1] > 150
    assert os.stat(report).st_mode & 0o044  # readable by others, as a plain file would be
    lost = {}
    for row in page.rows:  # volumes counted here from the files, against the table's
        case = next(case for case in dataset.cases() if case.case_id == row[0])
        reference, predicted = read_image(case.label_files[0]), read_image(report.parent / f"{case.case_id}.nii.gz")
        millilitres = np.prod(reference.geometry.spacing) / 1000
        for name, values in dataset.spec.predicted_labels.items():
            if name == "background":
                continue
            value = {key: float(row[page.headers.index(title.format(name))]) for key, title in VOLUME_COLUMNS.items()}
            assert value["reference"] == pytest.approx(np.isin(reference.array, values).sum() * millilitres)
            assert value["predicted"] == pytest.approx(np.isin(predicted.array, values).sum() * millilitres)
            assert value["difference"] == pytest.approx(value["predicted"] - value["reference"])
            assert value["percent"] == pytest.approx(100 * value["difference"] / value["reference"], abs=1e-9)
            lost[row[0]] = min(lost.get(row[0], 0.0), value["difference"])
    assert [case for case, difference in lost.items() if difference < -1] == [dataset.cases()[4].case_id]  # the halved case
    assert all(difference == 0 for case, difference in lost.items() if case != dataset.cases()[4].case_id)  # rolled: same


def viewer_arrays(viewer: dict) -> dict[str, np.ndarray]:
    """A viewer's slices decoded from the page's data: the image (uint8) and the label maps (label values)."""
    data = zlib.decompress(base64.b64decode(viewer["data"]))
    shape, offset, arrays = tuple(viewer["shape"]), 0, {}
    for name, dtype in viewer["layout"]:
        codes = np.frombuffer(data, dtype, int(np.prod(shape)), offset).reshape(shape)
        offset += codes.nbytes
        arrays[name] = codes if name == "image" else np.asarray(viewer["values"])[codes]
    return arrays


def test_each_case_is_a_viewer_of_all_its_slices_opening_where_prediction_and_reference_disagree_most(segmentation_report):
    report, dataset = segmentation_report
    page = Page(report.read_text())
    regions = {name: value for name, value in dataset.spec.predicted_labels.items() if name != "background"}
    assert all(isinstance(value, tuple) for value in regions.values())  # BraTS: the structures are regions
    for index, case in enumerate(dataset.cases()):
        viewer = page.viewers[case.case_id]
        arrays = viewer_arrays(viewer)
        reference = read_image(case.label_files[0]).array[0]
        predicted = read_image(report.parent / f"{case.case_id}.nii.gz").array[0]
        image = read_image(case.image_files[0]).array[0]
        assert viewer["shape"] == list(reference.shape)  # every slice, at full resolution (a small case)
        np.testing.assert_array_equal(arrays["prediction"], predicted)
        np.testing.assert_array_equal(arrays["reference"], reference)
        assert np.corrcoef(arrays["image"].ravel(), image.ravel())[0, 1] > 0.95  # the image, windowed to 8 bits
        wrong = sum(np.isin(predicted, values) != np.isin(reference, values) for values in regions.values())
        if index == 0:  # predicted exactly: no disagreement to show, so the largest predicted area
            assert wrong.sum() == 0 and viewer["start"][0] == int(np.argmax(np.isin(predicted, regions["whole_tumour"]).sum((1, 2))))
        else:
            assert viewer["start"] == [int(np.argmax(wrong.sum(tuple(a for a in range(3) if a != axis)))) for axis in range(3)]
    # One colour per structure, named as the regions are: in the viewers' legend and on the table's headers.
    structures = page.viewers[dataset.cases()[0].case_id]["structures"]
    assert [s["name"] for s in structures] == list(regions) and [tuple(s["values"]) for s in structures] == list(regions.values())
    colours = {s["name"]: s["colour"] for s in structures}
    assert len(set(colours.values())) == len(colours)
    for column, colour in page.header_colours.items():
        title = page.headers[column]
        assert colour == colours[next(name for name in regions if title.endswith(f" {name}") or f" {name} (" in title)]
    assert len(page.header_colours) == 8 * len(regions)  # Dice, HD95, NSD, 4 volumes and entropy of each region


def test_without_a_reference_a_case_opens_on_its_most_uncertain_slices(stand_in_cache, tmp_path):
    dataset = RawDataset(stand_in_cache("brats", 5, 1))
    prediction = tmp_path / "predictions"
    first, second = dataset.cases()[:2]
    for case in (first, second):
        label = read_image(case.label_files[0])
        write_image(label, prediction / f"{case.case_id}.nii.gz")
    entropy = np.zeros(label.array.shape, np.float32)
    entropy[0, 5, :, :] += 0.2  # one uncertain axial slice ...
    entropy[0, :, 10, 30] += 0.5  # ... and one uncertain line, across it
    write_image(ImageData(entropy, label.geometry), prediction / "uncertainty" / "entropy" / f"{first.case_id}.nii.gz")
    write_folder(prediction, dataset.spec, dataset.root / "imagesTr")
    assert main(["report", str(prediction)]) == 0
    viewers = Page((prediction / "report.html").read_text()).viewers
    assert viewers[first.case_id]["start"] == [5, 10, 30]
    predicted = np.isin(read_image(second.label_files[0]).array[0], dataset.spec.predicted_labels["whole_tumour"])
    assert viewers[second.case_id]["start"] == [int(np.argmax(predicted.sum(axes))) for axes in ((1, 2), (0, 2), (0, 1))]
    assert "image" in viewers[first.case_id]["layout"][0] and [name for name, _ in viewers[first.case_id]["layout"]][1:] == ["prediction"]


def test_a_large_volume_is_shown_on_a_coarser_grid_within_the_cases_voxel_budget():
    grid = preview_grid((30, 512, 512), 4_000_000)
    assert [len(axis) for axis in grid] == [30, 365, 365]  # the thick-slice axis keeps its slices
    assert all(axis[0] == 0 and axis[-1] == n - 1 and np.all(np.diff(axis) > 0) for axis, n in zip(grid, (30, 512, 512)))
    assert [len(axis) for axis in preview_grid((40, 56, 48), 4_000_000)] == [40, 56, 48]
    assert case_voxel_budget(10) == 4_000_000 and case_voxel_budget(200) == 1_000_000
    labels = np.zeros((30, 512, 512), np.uint8)
    labels[20, 100:110, 400:410] = 2
    viewer = case_viewer(
        "big",
        None,
        labels,
        reference=None,
        spacing=(5.0, 0.7, 0.7),
        structures={"lesion": (2,)},
        colours={"lesion": "#e6194b"},
        budget=4_000_000,
    )
    assert viewer.shape == (30, 365, 365) and viewer.spacing[1] == pytest.approx(0.7 * 512 / 365)
    assert viewer.start == [20, int(np.argmin(np.abs(grid[1] - 100))), int(np.argmin(np.abs(grid[2] - 400)))]
    flat = case_viewer(  # a 2D image stored as a volume one slice thick: one plane, not three
        "flat", None, labels[20:21], reference=None, spacing=(5.0, 0.7, 0.6), structures={"lesion": (2,)}, colours={"lesion": "#e6194b"}
    )
    assert flat.shape == (512, 512) and flat.spacing == (0.7, 0.6) and flat.start == [100, 400]


@contextlib.contextmanager
def chromium_page(path: Path, width: int = 1400, height: int = 900):
    """``path`` opened in headless Chromium at ``width`` x ``height``: yields (page, console errors so far)."""
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    browser_path = os.environ.get("AUTOSEG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium; or set AUTOSEG_CHROMIUM to a Chromium binary)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=browser_path, args=flags)
        page = browser.new_page(viewport={"width": width, "height": height})
        errors = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.resolve().as_uri())
        yield page, errors
        browser.close()


def test_the_report_opens_in_headless_chromium_without_errors_and_sorts_by_a_column(segmentation_report):
    report, dataset = segmentation_report
    with chromium_page(report) as (page, errors):
        assert page.locator("#cases tbody tr").count() == len(dataset.cases())
        first_column = lambda: page.locator("#cases tbody tr td:first-child").all_inner_texts()  # noqa: E731
        assert first_column() != sorted(first_column())  # worst first, not by name
        page.locator("#cases th", has_text="case").first.click()
        assert first_column() == sorted(first_column())
        page.locator("#cases th", has_text="case").first.click()
        assert first_column() == sorted(first_column(), reverse=True)
        assert all(page.locator("img").evaluate_all("images => images.map(image => image.naturalWidth > 0)"))
    assert errors == []


# Per structure, from the page: its legend's fill and outline swatches, and over every drawn plane the pixels exactly
# its colour (the reference's outline) and those of its hue blended with the grey image (the prediction's fill).
COLOURS_ON_THE_PAGE = """() => {
  const rgb = (text) => text.match(/\\d+/g).slice(0, 3).map(Number);
  const hue = ([r, g, b]) => {
    const max = Math.max(r, g, b), min = Math.min(r, g, b);
    if (max - min < 0.25 * max || max === 0) return null;
    const h = max === r ? (g - b) / (max - min) : max === g ? 2 + (b - r) / (max - min) : 4 + (r - g) / (max - min);
    return (h * 60 + 360) % 360;
  };
  const result = {};
  document.querySelectorAll(".viewer:first-of-type .legend li").forEach((item) => {
    const name = item.dataset.structure;
    const fill = rgb(getComputedStyle(item.querySelector(".swatch.fill")).backgroundColor);
    const outline = rgb(getComputedStyle(item.querySelector(".swatch.outline")).borderTopColor);
    result[name] = { fill, outline, exact: 0, sameHue: 0 };
  });
  document.querySelectorAll(".viewer canvas").forEach((canvas) => {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let p = 0; p < data.length; p += 4) {
      const pixel = [data[p], data[p + 1], data[p + 2]];
      for (const entry of Object.values(result)) {
        if (pixel.every((v, i) => v === entry.fill[i])) entry.exact++;
        else if (hue(pixel) !== null && Math.abs(((hue(pixel) - hue(entry.fill) + 540) % 360) - 180) < 4) entry.sameHue++;
      }
    }
  });
  return result;
}"""


def test_in_chromium_the_page_fits_1400px_each_structure_keeps_its_colour_and_the_slider_scrolls_slices(segmentation_report):
    report, dataset = segmentation_report
    with chromium_page(report) as (page, errors):
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")  # no page scroll bar
        box = page.locator(".table-box")
        assert box.evaluate("box => box.scrollWidth > box.clientWidth")  # the wide table scrolls inside its box ...
        box.evaluate("box => { box.scrollLeft = box.scrollWidth; }")
        pinned = page.locator("#cases tbody tr:first-child td:first-child").bounding_box()
        assert abs(pinned["x"] - box.bounding_box()["x"]) <= 2  # ... with the case column pinned
        assert page.locator("#cases th").first.evaluate("th => getComputedStyle(th).position") == "sticky"

        for viewer in page.locator(".viewer").all():  # each case drawn as it scrolls into view
            viewer.scroll_into_view_if_needed()
        page.wait_for_function("Array.from(document.querySelectorAll('.viewer')).every(v => v.dataset.state === 'drawn')")
        planes = page.locator(".viewer canvas")
        assert planes.count() == 3 * len(dataset.cases())
        assert all(width >= 256 for width in planes.evaluate_all("canvases => canvases.map(c => c.getBoundingClientRect().width)"))
        colours = page.evaluate(COLOURS_ON_THE_PAGE)
        headers = page.locator("#cases th .swatch").evaluate_all("spans => spans.map(s => getComputedStyle(s).backgroundColor)")
        assert len(colours) == 3 and len({tuple(entry["fill"]) for entry in colours.values()}) == 3
        for name, entry in colours.items():
            assert entry["fill"] == entry["outline"], name  # legend: the same colour filled and outlined
            assert f"rgb({', '.join(map(str, entry['fill']))})" in headers, name  # and on the table's headers
            assert entry["exact"] > 0 and entry["sameHue"] > 0, (name, entry)  # reference outlined, prediction filled

        worst = page.locator(".viewer").first
        worst.scroll_into_view_if_needed()
        caption, slider, canvas = worst.locator(".slice").first, worst.locator("input[type=range]").first, worst.locator("canvas").first
        shown = caption.inner_text(), canvas.evaluate("c => c.toDataURL()")
        start = int(slider.input_value())
        slider.focus()
        for _ in range(3):
            page.keyboard.press("ArrowLeft")
        depth = int(slider.get_attribute("max")) + 1
        assert int(slider.input_value()) == start - 3 and caption.inner_text() == f"slice {start - 2} of {depth}"
        assert canvas.evaluate("c => c.toDataURL()") != shown[1]  # another slice drawn
        canvas.focus()
        page.keyboard.press("ArrowUp")  # the keyboard on a plane moves its slice too
        assert int(slider.input_value()) == start - 2

        canvas.click()  # enlarged in a dialog, arrow keys still scrolling, Escape closing it
        dialog = page.locator("dialog[open]")
        assert dialog.locator("canvas").bounding_box()["width"] > 500
        page.keyboard.press("ArrowUp")
        assert int(slider.input_value()) == start - 1
        page.keyboard.press("Escape")
        assert page.locator("dialog[open]").count() == 0

        page.evaluate("window.scrollTo(0, 0)")
        last = page.locator("#cases tbody tr").last
        target = last.get_attribute("data-anchor")
        last.locator("td").nth(1).click()  # a row's click jumps to its case
        top = page.locator(f"#{target}").bounding_box()["y"]
        assert 0 <= top < 900
    assert errors == []


def test_a_200_case_report_opens_in_chromium_within_seconds_drawing_only_the_cases_in_view(stand_in_cache, tmp_path):
    dataset = RawDataset(stand_in_cache("brats", 5, 1))
    case = dataset.cases()[1]
    reference = read_image(case.label_files[0])
    image = read_image(case.image_files[0]).array[0].astype(np.float32)
    structures = {name: value for name, value in dataset.spec.predicted_labels.items() if name != "background"}
    viewer = case_viewer(
        "x",
        image,
        np.roll(reference.array[0], 2, 2),
        reference=reference.array[0],
        spacing=reference.geometry.spacing,
        structures=structures,
        colours=structure_colours(structures),
    )
    ids = [f"case_{index:03d}" for index in range(200)]
    columns = [Column("case", "case", numeric=False), Column("dice", "Dice")]
    rows = [{"case": name, "anchor": f"case-{name}", "dice": index / 200} for index, name in enumerate(ids)]
    sections = [Section(f"case {name}", [replace(viewer, case=name)], f"case-{name}", case=True) for name in ids]
    report = tmp_path / "report.html"
    report.write_text(render_page("200 cases", [], columns, rows, sections))
    with chromium_page(report) as (page, errors):
        opened = page.evaluate("performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd")
        assert opened < 5000, f"DOMContentLoaded after {opened:.0f} ms"
        page.wait_for_function("document.querySelector('.viewer').dataset.state === 'drawn'")
        assert page.evaluate("document.querySelectorAll('.viewer[data-state]').length") < 10  # only those near the view
        page.locator("#cases tbody tr").last.locator("td").nth(1).click()
        page.wait_for_function("document.querySelector('#case-case_199 .viewer').dataset.state === 'drawn'")
    assert errors == []


def test_a_regression_report_shows_the_gain_over_the_input_and_each_cases_panels(stand_in_cache, tmp_path):
    dataset = RawDataset(stand_in_cache("pet", 5, 1))
    prediction = tmp_path / "predictions"
    for index, case in enumerate(dataset.cases()):
        target = read_image(case.label_files[0])
        noise = np.random.default_rng(index).normal(0, 0.02 * (index + 1) * target.array.max(), target.array.shape)
        write_image(ImageData((target.array + noise).astype(np.float32), target.geometry), prediction / f"{case.case_id}.nii.gz")
    write_folder(prediction, dataset.spec, dataset.root / "imagesTr")
    assert main(["report", str(prediction), "--reference", str(dataset.root / "labelsTr"), "-o", str(tmp_path / "pet.html")]) == 0
    page = Page((tmp_path / "pet.html").read_text())
    target = dataset.spec.targets[0]
    psnr = [float(row[page.headers.index(f"PSNR {target} (dB)")]) for row in page.rows]
    assert psnr == sorted(psnr) and len(psnr) == 5  # worst (noisiest) first
    assert f"PSNR gain over input {target} (dB)" in page.headers
    assert all(png_size(src)[0] > 500 for src in page.images[1:])  # input, prediction, reference, difference side by side


def test_a_classification_report_puts_wrong_answers_first_and_draws_the_confusion_matrix_and_roc(tmp_path, capsys):
    spec = DatasetSpec.from_json(
        {"channel_names": {"0": "MR"}, "task": "classification", "classes": {"CN": 0, "AD": 1}, "numTraining": 4, "file_ending": ".nii.gz"}
    )
    prediction = tmp_path / "predictions"
    probabilities = {"a": [0.9, 0.1], "b": [0.2, 0.8], "c": [0.6, 0.4], "d": [0.3, 0.7]}
    write_predictions(prediction / "predictions.csv", {k: np.array(v) for k, v in probabilities.items()}, spec)
    write_folder(prediction, spec, tmp_path / "no_images")
    (tmp_path / "labelsTs.csv").write_text("case_id,label\na,CN\nb,AD\nc,AD\nd,CN\n")
    assert main(["report", str(prediction), "--reference", str(tmp_path / "labelsTs.csv")]) == 0
    page = Page((prediction / "report.html").read_text())
    assert [row[0] for row in page.rows] == ["d", "c", "b", "a"]  # by the probability given to the true class: 0.3, 0.4, 0.8, 0.9
    assert [row[page.headers.index("correct")] for row in page.rows] == ["no", "no", "yes", "yes"]
    assert len(page.images) == 2 and all(png_size(src) for src in page.images)
    assert "accuracy 0.500" in (prediction / "report.html").read_text()


def test_a_folder_not_written_by_predict_is_refused_and_nothing_is_written(tmp_path, capsys):
    (tmp_path / "stray").mkdir()
    assert main(["report", str(tmp_path / "stray")]) == 2
    assert "has no dataset.json; report on a folder autoseg predict wrote" in capsys.readouterr().err
    assert not (tmp_path / "stray" / "report.html").exists()

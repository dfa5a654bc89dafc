"""autoseg report: the page on hand-made prediction folders of each kind (no training needed: the report reads
files), parsed for its table and images, and opened in a real browser where one is installed."""

import base64
import json
import os
import shutil
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from autoseg.cli import main
from autoseg.dataset import DatasetSpec, RawDataset
from autoseg.io import ImageData, read_image, write_image
from autoseg.tasks.classification.table import write_predictions
from autoseg.tasks.writers import write_uncertainty_table


class Page(HTMLParser):
    """The parts of a report page the tests check: table rows (cell data-values), header titles, images, anchors."""

    def __init__(self, text: str):
        super().__init__()
        self.headers, self.rows, self.images, self.anchors, self._row, self._in_th = [], [], [], set(), None, False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
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

    def handle_endtag(self, tag):
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
    assert len(sizes) == len(cases) + 2  # one overlay per case, the metric distributions, fold 0's training curves
    assert all(width > 300 and height > 150 for width, height in sizes[:-1])
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


def test_the_report_opens_in_headless_chromium_without_errors_and_sorts_by_a_column(segmentation_report):
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    browser_path = os.environ.get("AUTOSEG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        pytest.skip("no Chromium installed (Debian: apt-get install chromium; or set AUTOSEG_CHROMIUM to a Chromium binary)")
    report, dataset = segmentation_report
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=browser_path, args=flags)
        page = browser.new_page()
        errors = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(report.resolve().as_uri())
        assert page.locator("#cases tbody tr").count() == len(dataset.cases())
        first_column = lambda: page.locator("#cases tbody tr td:first-child").all_inner_texts()  # noqa: E731
        assert first_column() != sorted(first_column())  # worst first, not by name
        page.locator("#cases th", has_text="case").first.click()
        assert first_column() == sorted(first_column())
        page.locator("#cases th", has_text="case").first.click()
        assert first_column() == sorted(first_column(), reverse=True)
        assert all(page.locator("img").evaluate_all("images => images.map(image => image.naturalWidth > 0)"))
        browser.close()
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

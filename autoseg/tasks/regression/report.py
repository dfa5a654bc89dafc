"""Regression's view in the QC report: PSNR, SSIM and MAE per target (and the gain over the input) in the table;
each case's input, prediction, reference and their difference side by side."""

from __future__ import annotations

import math

import numpy as np

import autoseg.report.figures as figures
from autoseg.evaluation.image_metrics import body_mask
from autoseg.io import read_image
from autoseg.report.page import Column, Figure, Section
from autoseg.report.views import distributions, finite_mean, rows_worst_first


def image_report(source) -> tuple[list[str], list[Column], list[dict], list[Section]]:
    """Image-to-image models: PSNR, SSIM and MAE per target (and the input's); prediction, reference, difference."""
    summary, origin = source.summary()
    if source.reference is not None and source.images is not None and source.spec.baselines():
        summary = source.task.evaluate_folder(
            source.reference, source.folder, num_processes=source.num_processes, baseline_dir=source.images
        )
    per_case = summary["cases"] if summary else {}
    baseline = summary.get("baseline", {}).get("cases", {}) if summary else {}
    targets = list(source.spec.targets.values())
    inputs = source.input_files()
    ending = source.output_ending
    columns = [Column("case", "case", numeric=False)]
    for name in targets:
        columns += [
            Column(f"psnr:{name}", f"PSNR {name} (dB)", digits=2),
            Column(f"ssim:{name}", f"SSIM {name}"),
            Column(f"mae:{name}", f"MAE {name}"),
        ]
        if baseline:
            columns.append(Column(f"gain:{name}", f"PSNR gain over input {name} (dB)", digits=2))
    rows, sections = [], []
    for case_id in source.cases():
        row = {"case": case_id, "anchor": f"case-{case_id}"}
        pictures = []
        for index, (name, path) in enumerate(zip(targets, source.task.output_files(case_id, source.folder, ending))):
            for metric in ("psnr", "ssim", "mae"):
                row[f"{metric}:{name}"] = per_case.get(case_id, {}).get(name, {}).get(metric)
            if baseline:
                row[f"gain:{name}"] = (row[f"psnr:{name}"] or math.nan) - baseline.get(case_id, {}).get(name, {}).get("psnr", math.nan)
            predicted = read_image(path)
            reference_name = path.name[: -len(ending)]
            reference_path = source.reference_file(reference_name)
            reference = read_image(reference_path).array[0].astype(np.float32) if reference_path is not None else None
            channel = source.spec.baselines().get(index)
            base = read_image(inputs[case_id][channel]).array[0].astype(np.float32) if case_id in inputs and channel is not None else None
            mask = body_mask(reference) if reference is not None else None
            png = figures.regression_panels(
                predicted.array[0].astype(np.float32),
                reference,
                base,
                mask=mask,
                spacing=predicted.geometry.spacing,
                title=f"{case_id}: {name}",
            )
            pictures.append(Figure(f"{case_id}, {name}", png))
        sections.append(Section(f"case {case_id}", pictures, row["anchor"], case=True))
        row["worst"] = finite_mean(row[f"psnr:{name}"] for name in targets)
        rows.append(row)
    if summary:
        rows = rows_worst_first(rows, "worst")
        sections.insert(0, distributions(per_case, ["psnr", "ssim", "mae"], "per target"))
    notes = [origin + ("; worst first by PSNR" if summary else ""), "metrics inside the reference's body mask (docs/evaluation.md)"]
    return notes, columns, rows, sections

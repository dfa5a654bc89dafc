"""Segmentation's view in the QC report: Dice, HD95 and NSD per structure, predicted and reference volumes and their
difference, and uncertainty in the table; each case's slices in a viewer, the prediction filled and the reference
outlined over the image in one colour per structure (label or region), opening where they disagree most."""

from __future__ import annotations

import numpy as np

from autoseg.io import read_image
from autoseg.report.page import Column, Section
from autoseg.report.slices import case_viewer, case_voxel_budget, structure_colours
from autoseg.report.views import distributions, finite_mean, rows_worst_first
from autoseg.tasks.writers import uncertainty_file


def label_map_report(source) -> tuple[list[str], list[Column], list[dict], list[Section]]:
    """Segmentation-like models: Dice, HD95 and NSD per structure, volumes, uncertainty; a slice viewer per case."""
    summary, origin = source.summary()
    uncertainty = source.uncertainty()
    structures = source.task.evaluation_structures()
    colours = structure_colours(structures)
    inputs = source.input_files()
    ending = source.output_ending
    per_case = summary["cases"] if summary else {}
    columns = [Column("case", "case", numeric=False)]
    if summary:
        columns.append(Column("mean_dice", "mean Dice"))
        columns += [
            Column(f"{metric}:{name}", f"{label} {name}", colour=colours[name])
            for name in structures
            for metric, label in (("dice", "Dice"), ("hd95", "HD95 mm"), ("nsd", "NSD"))
        ]
    cases = source.cases()
    unit = "mL" if read_image(source.folder / f"{cases[0]}{ending}").geometry.ndim == 3 else "cm2"
    references = any(source.reference_file(case_id) is not None for case_id in cases)
    for name in structures:
        columns.append(Column(f"volume:{name}", f"predicted {name} ({unit})", colour=colours[name]))
        if references:
            columns += [
                Column(f"reference_volume:{name}", f"reference {name} ({unit})", colour=colours[name]),
                Column(f"volume_difference:{name}", f"difference {name} ({unit})", colour=colours[name]),
                Column(f"volume_difference_percent:{name}", f"difference {name} (%)", digits=1, colour=colours[name]),
            ]
    if uncertainty:
        columns += [Column(f"uncertainty:{name}", f"entropy {name}", colour=colours[name]) for name in structures]
    budget = case_voxel_budget(len(cases))
    rows, sections, elsewhere = [], [], []
    for case_id in cases:
        prediction_path = source.folder / f"{case_id}{ending}"
        predicted = read_image(prediction_path)
        labels, spacing = predicted.array[0], predicted.geometry.spacing
        row = {"case": case_id, "anchor": f"case-{case_id}"}
        reference_path = source.reference_file(case_id)
        reference = read_image(reference_path).array[0] if reference_path is not None else None
        for name, values in structures.items():
            row |= _volumes(name, values, labels, reference, spacing)
            row[f"uncertainty:{name}"] = uncertainty.get(case_id, {}).get(name)
            for metric in ("dice", "hd95", "nsd"):
                row[f"{metric}:{name}"] = per_case.get(case_id, {}).get(name, {}).get(metric)
        row["mean_dice"] = finite_mean(row[f"dice:{name}"] for name in structures) if summary else None
        image = _same_grid(inputs[case_id][0], labels.shape) if case_id in inputs else None
        if case_id in inputs and image is None:
            elsewhere.append(case_id)
        entropy = uncertainty_file(prediction_path, "entropy")
        viewer = case_viewer(
            case_id,
            image,
            labels,
            reference=reference,
            spacing=spacing,
            structures=structures,
            colours=colours,
            uncertainty=_same_grid(entropy, labels.shape) if reference is None and entropy.is_file() else None,
            budget=budget,
        )
        sections.append(Section(f"case {case_id}", [viewer], row["anchor"], case=True))
        rows.append(row)
    if summary:
        rows = rows_worst_first(rows, "mean_dice")
        sections.insert(0, distributions(per_case, ["dice", "hd95", "nsd"], "per structure", colours))
    elif uncertainty:
        for row in rows:
            row["worst"] = -finite_mean(row[f"uncertainty:{name}"] for name in structures)
        rows = rows_worst_first(rows, "worst")
    notes = [origin + ("; worst first by mean Dice" if summary else "; most uncertain first" if uncertainty else "")]
    notes.append("images: " + (f"channel 0 of the inputs in {source.images}" if inputs else "unknown (pass --images), shown on black"))
    if elsewhere:
        notes.append(f"shown on black, their image's grid not the prediction's (another case's images?): {', '.join(elsewhere)}")
    return notes, columns, rows, sections


def _same_grid(path, shape) -> np.ndarray | None:
    """Channel 0 of the image at ``path`` as float32, or None where its grid is not the prediction's (another case's
    or another resolution's image), so nothing is drawn under a prediction it does not belong to."""
    array = read_image(path).array[0]
    return array.astype(np.float32) if array.shape == shape else None


def _volumes(name: str, values, labels: np.ndarray, reference: np.ndarray | None, spacing) -> dict:
    """The structure's predicted volume (mL, or cm2 for 2D images) and, with a reference, the reference's volume and
    the difference (predicted minus reference) in those units and in % of the reference (none for an empty one)."""
    unit = float(np.prod(spacing)) / 10 ** len(spacing)  # mm3 -> mL, mm2 -> cm2
    predicted = float(np.isin(labels, values).sum()) * unit
    volumes = {f"volume:{name}": predicted}
    if reference is not None:
        expected = float(np.isin(reference, values).sum()) * unit
        volumes[f"reference_volume:{name}"] = expected
        volumes[f"volume_difference:{name}"] = predicted - expected
        volumes[f"volume_difference_percent:{name}"] = 100 * (predicted - expected) / expected if expected else None
    return volumes

"""Every slice of a case for the report's viewer: the image, the prediction and the reference, packed into one
compressed block of bytes that the page decodes and draws (autoseg/report/page.js) when the case scrolls into view.

The page composes the slices itself, so each structure has one colour everywhere: the prediction's fill, the
reference's outline, the legend and the table's column headers (``structure_colours``). Each plane opens on the
slice that shows the error (``default_slices``). Volumes larger than the case's voxel budget are shown on a coarser
grid (``preview_grid``); a 200-case report stays a file a browser opens in seconds.
"""

from __future__ import annotations

import base64
import colorsys
import html
import json
import zlib
from dataclasses import dataclass

import numpy as np

PLANES = ("axial", "coronal", "sagittal")  # the plane normal to array axis 0, 1, 2 of a (z, y, x) volume
CASE_VOXELS = 4_000_000  # at most this many voxels of a case are shown (e.g. 155 x 160 x 160) ...
PAGE_VOXELS = 200_000_000  # ... and fewer per case when the page would otherwise hold more than this many

# Saturated colours with hues far apart, readable as a fill over grey and as an outline; more structures than these
# get hues a golden angle apart.
PALETTE = ("#e6194b", "#3cb44b", "#4363d8", "#ffe119", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45", "#469990")


def structure_colours(names) -> dict[str, str]:
    """{structure name: "#rrggbb"}, one colour per structure (label or region) in the order given."""
    colours = {}
    for index, name in enumerate(names):
        if index < len(PALETTE):
            colours[name] = PALETTE[index]
        else:
            red, green, blue = colorsys.hsv_to_rgb((index * 0.381966) % 1.0, 0.85, 0.95)
            colours[name] = f"#{round(red * 255):02x}{round(green * 255):02x}{round(blue * 255):02x}"
    return colours


def case_voxel_budget(num_cases: int) -> int:
    """The voxels shown per case: ``CASE_VOXELS``, fewer (down to 64^3) where the page would exceed ``PAGE_VOXELS``."""
    return max(64**3, min(CASE_VOXELS, PAGE_VOXELS // max(num_cases, 1)))


def preview_grid(shape: tuple[int, ...], budget: int) -> list[np.ndarray]:
    """Per axis, the indices of the voxels shown: all of them within ``budget`` voxels; else the largest axes are
    thinned evenly to a common length (a thick-slice axis keeps its slices, the in-plane grid gets coarser)."""
    if int(np.prod(shape)) <= budget:
        return [np.arange(n) for n in shape]
    low, high = 1, max(shape)
    while low < high:  # the largest common cap whose grid fits the budget
        cap = (low + high + 1) // 2
        if np.prod([min(n, cap) for n in shape]) <= budget:
            low = cap
        else:
            high = cap - 1
    return [np.round(np.linspace(0, n - 1, min(n, low))).astype(np.intp) for n in shape]


def default_slices(
    prediction: np.ndarray, reference: np.ndarray | None, uncertainty: np.ndarray | None, structures: dict[str, tuple[int, ...]]
) -> tuple[list[int], str]:
    """The slice each plane opens on, and why: the most voxels where prediction and reference disagree (false
    positives plus false negatives, summed over the structures); without a reference (or without disagreement) the
    highest total uncertainty; else the largest predicted area; else the centre."""
    if reference is not None:
        wrong = np.zeros(prediction.shape, np.uint8 if len(structures) < 256 else np.uint16)  # structures wrong per voxel
        for values in structures.values():
            wrong += np.isin(prediction, values) != np.isin(reference, values)
        if wrong.any():
            return _argmax_per_axis(wrong), "largest disagreement with the reference"
    if uncertainty is not None and uncertainty.shape == prediction.shape and np.nanmax(uncertainty) > 0:
        return _argmax_per_axis(np.nan_to_num(uncertainty)), "highest uncertainty"
    predicted = np.isin(prediction, [v for values in structures.values() for v in values])
    if predicted.any():
        return _argmax_per_axis(predicted), "largest predicted area"
    return [n // 2 for n in prediction.shape], "centre (nothing predicted)"


def _argmax_per_axis(weights: np.ndarray) -> list[int]:
    axes = range(weights.ndim)
    return [int(np.argmax(weights.sum(axis=tuple(a for a in axes if a != axis), dtype=np.float64))) for axis in axes]


@dataclass
class SliceViewer:
    """One case's viewer: its slices (``payload``: deflated bytes of the image as uint8, then the prediction and the
    reference as codes into ``values``) and what the page needs to draw them. Built by ``case_viewer``."""

    case: str
    shape: tuple[int, ...]
    spacing: tuple[float, ...]
    start: list[int]
    reason: str
    structures: list[dict]
    values: list[int]
    layout: list[tuple[str, str]]
    payload: bytes

    def html(self) -> str:
        """The viewer's element: its data (read by page.js), one canvas and slider per plane, and the legend."""
        data = {
            "shape": list(self.shape),
            "spacing": [float(s) for s in self.spacing],
            "start": self.start,
            "structures": self.structures,
            "values": self.values,
            "layout": self.layout,
            "data": base64.b64encode(self.payload).decode("ascii"),
        }
        names = PLANES if len(self.shape) == 3 else ("image",)
        planes = "".join(
            f'<figure class="plane"><canvas tabindex="0" data-plane="{axis}" title="click to enlarge; arrow keys: slices"></canvas>'
            f'<input type="range" min="0" max="{self.shape[axis] - 1}" value="{self.start[axis]}" aria-label="{name} slice"'
            f"{' hidden' if self.shape[axis] == 1 or len(self.shape) == 2 else ''}>"
            f'<figcaption>{name} <span class="slice"></span></figcaption></figure>'
            for axis, name in enumerate(names)
        )
        legend = "".join(
            f'<li data-structure="{html.escape(s["name"])}"><span class="swatch fill" style="background:{s["colour"]}"></span>'
            f'<span class="swatch outline" style="border-color:{s["colour"]}"></span>{html.escape(s["name"])}</li>'
            for s in self.structures
        )
        script = json.dumps(data).replace("</", "<\\/")  # nothing in the data ends the script element
        return (
            f'<div class="viewer" data-case="{html.escape(self.case)}"><script type="application/json">{script}</script>'
            f'<div class="planes">{planes}</div><div class="key"><p class="notes">opens on the {html.escape(self.reason)}</p>'
            f'<ul class="legend">{legend}</ul><p class="notes">filled: prediction; outlined: reference</p></div></div>'
        )


def case_viewer(
    case: str,
    image: np.ndarray | None,
    prediction: np.ndarray,
    *,
    reference: np.ndarray | None,
    spacing,
    structures: dict[str, tuple[int, ...]],
    colours: dict[str, str],
    uncertainty: np.ndarray | None = None,
    budget: int = CASE_VOXELS,
) -> SliceViewer:
    """The viewer of one case: ``image`` (grey, windowed to its 1st-99th percentile; None: black), the predicted and
    the reference label maps (same shape), ``structures`` {name: label values} drawn in ``colours``. A volume one
    voxel thick is shown as the 2D image it is."""
    if prediction.ndim == 3 and 1 in prediction.shape:
        thin = prediction.shape.index(1)
        image, prediction, reference, uncertainty = (
            None if a is None else np.take(a, 0, axis=thin) for a in (image, prediction, reference, uncertainty)
        )
        spacing = [s for axis, s in enumerate(spacing) if axis != thin]
    start, reason = default_slices(prediction, reference, uncertainty, structures)
    grid = preview_grid(prediction.shape, budget)
    shown = np.ix_(*grid)
    start = [int(np.argmin(np.abs(indices - s))) for indices, s in zip(grid, start)]
    spacing = tuple(float(s) * n / len(indices) for s, n, indices in zip(spacing, prediction.shape, grid))
    maps = [prediction[shown]] + ([reference[shown]] if reference is not None else [])
    values = np.unique(np.concatenate([np.unique(m) for m in maps]))
    code_type = np.dtype(np.uint8 if len(values) <= 256 else "<u2")
    parts, layout = [], []
    if image is not None:
        parts.append(_grey(image[shown]))
        layout.append(("image", "uint8"))
    for name, labels in zip(("prediction", "reference"), maps):
        parts.append(np.searchsorted(values, labels).astype(code_type))
        layout.append((name, code_type.name))
    described = [{"name": name, "colour": colours[name], "values": [int(v) for v in held]} for name, held in structures.items()]
    payload = zlib.compress(b"".join(np.ascontiguousarray(p).tobytes() for p in parts), 6)
    return SliceViewer(case, tuple(len(g) for g in grid), spacing, start, reason, described, [int(v) for v in values], layout, payload)


def intensity_window(image: np.ndarray) -> tuple[float, float]:
    """The 1st and 99th percentile of the image's finite values (of an even sample of a million for larger images),
    the upper one kept above the lower: the grey scale every picture of the report uses."""
    sample = image.ravel()[:: max(1, image.size // 1_000_000)]
    finite = sample[np.isfinite(sample)]
    low, high = (float(v) for v in np.percentile(finite, [1, 99])) if finite.size else (0.0, 1.0)
    return low, high if high > low else low + 1.0


def _grey(image: np.ndarray) -> np.ndarray:
    """The image as uint8, its intensity window spread over 0-255."""
    low, high = intensity_window(image)
    scaled = (np.nan_to_num(image, nan=low) - low) * (255.0 / (high - low))
    return np.clip(scaled, 0, 255).round().astype(np.uint8)

"""One self-contained HTML page: a sortable table of cases in its own scrolling box, then sections of figures
(pictures embedded as PNG data, slice viewers as their compressed slices; autoseg/report/slices.py).

No script or style is fetched from anywhere: the page opens offline, from a
mail attachment or a shared drive, exactly as written. Its style and behaviour
live in page.css and page.js beside this module.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from importlib import resources


def _asset(name: str) -> str:
    """The page's style sheet or script (autoseg/report/page.css, page.js), written into the page."""
    return resources.files("autoseg.report").joinpath(name).read_text(encoding="utf-8")


@dataclass
class Column:
    key: str
    title: str
    numeric: bool = True
    digits: int = 3
    colour: str | None = None  # the colour of the structure the column describes ("#rrggbb"), shown in its header


@dataclass
class Figure:
    caption: str
    png: bytes

    def html(self) -> str:
        data = base64.b64encode(self.png).decode("ascii")
        caption = html.escape(self.caption)
        return f'<figure><img alt="{caption}" src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'


@dataclass
class Section:
    """A heading and its figures: ``Figure`` pictures or ``SliceViewer`` cases (anything with an ``html()``); a
    ``case`` section is one row's target, a ``compact`` one shows its pictures small, side by side."""

    title: str
    figures: list = field(default_factory=list)
    anchor: str = ""
    notes: str = ""
    case: bool = False
    compact: bool = False


def _cell(column: Column, value) -> str:
    if column.numeric:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            shown = "" if value is None or math.isnan(value) else ("inf" if value > 0 else "-inf")
            sortable = "" if shown == "" else ("1e308" if value > 0 else "-1e308")
            return f'<td class="missing" data-value="{sortable}">{shown}</td>'
        return f'<td data-value="{value!r}">{value:.{column.digits}f}</td>'
    text = "" if value is None else str(value)
    return f'<td class="text" data-value="{html.escape(text)}">{html.escape(text)}</td>'


def _header(column: Column) -> str:
    swatch = f'<span class="swatch" style="background:{column.colour}"></span>' if column.colour else ""
    return f'<th data-type="{"number" if column.numeric else "text"}">{swatch}{html.escape(column.title)}</th>'


def _section(section: Section) -> str:
    classes = " ".join(name for name, on in (("case", section.case), ("compact", section.compact)) if on)
    anchor = f' id="{html.escape(section.anchor)}"' if section.anchor else ""
    notes = f'<p class="notes">{html.escape(section.notes)}</p>' if section.notes else ""
    figures = "".join(figure.html() for figure in section.figures)
    return f'<section class="{classes}"{anchor}><h2>{html.escape(section.title)}</h2>{notes}<div class="figures">{figures}</div></section>'


def render_page(title: str, notes: list[str], columns: list[Column], rows: list[dict], sections: list[Section]) -> str:
    """The page: ``title``, ``notes`` (one paragraph each), the table of ``rows`` (one per case, worst first as
    given; a row with an ``anchor`` jumps to that section when clicked) and the figure ``sections``."""
    body = []
    for row in rows:
        cells = [_cell(column, row.get(column.key)) for column in columns]
        anchor = html.escape(row["anchor"]) if row.get("anchor") else ""
        if anchor:
            name = html.escape(str(row[columns[0].key]))
            cells[0] = f'<td class="text" data-value="{name}"><a href="#{anchor}">{name}</a></td>'
        body.append(f'<tr data-anchor="{anchor}">' if anchor else "<tr>")
        body.append(f"{''.join(cells)}</tr>")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_asset('page.css')}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *(f'<p class="notes">{html.escape(note)}</p>' for note in notes),
        f'<div class="table-box"><table id="cases"><thead><tr>{"".join(_header(c) for c in columns)}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>",
        *(_section(section) for section in sections),
        f"<script>{_asset('page.js')}</script></body></html>",
    ]
    return "\n".join(parts) + "\n"

"""One self-contained HTML page: a sortable table of cases, then sections of figures, images embedded as PNG data.

No script or style is fetched from anywhere: the page opens offline, from a
mail attachment or a shared drive, exactly as written.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; } h3 { font-size: 1em; margin-bottom: 0.3em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f0f0f0; cursor: pointer; user-select: none; position: sticky; top: 0; }
th.sorted-ascending::after { content: " \\25B2"; } th.sorted-descending::after { content: " \\25BC"; }
td.text { text-align: left; } td.missing { color: #999; }
.notes { color: #555; font-size: 0.9em; } figure { margin: 0.4em 0 1.2em 0; } img { max-width: 100%; }
"""

# Sorting: numbers by their data-value (missing values last in either direction), text alphabetically.
SCRIPT = """
function sortTable(header) {
  const table = header.closest("table");
  const column = Array.from(header.parentNode.children).indexOf(header);
  const ascending = !header.classList.contains("sorted-ascending");
  table.querySelectorAll("th").forEach((th) => th.classList.remove("sorted-ascending", "sorted-descending"));
  header.classList.add(ascending ? "sorted-ascending" : "sorted-descending");
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const key = (row) => row.cells[column].dataset.value;
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === "" || y === "") return (x === "") - (y === "");
    const numeric = header.dataset.type === "number";
    const order = numeric ? Number(x) - Number(y) : x.localeCompare(y);
    return ascending ? order : -order;
  });
  rows.forEach((row) => body.appendChild(row));
}
document.querySelectorAll("th").forEach((th) => th.addEventListener("click", () => sortTable(th)));
"""


@dataclass
class Column:
    key: str
    title: str
    numeric: bool = True
    digits: int = 3


@dataclass
class Figure:
    caption: str
    png: bytes


@dataclass
class Section:
    title: str
    figures: list[Figure] = field(default_factory=list)
    anchor: str = ""
    notes: str = ""


def _cell(column: Column, value) -> str:
    if column.numeric:
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            shown = "" if value is None or math.isnan(value) else ("inf" if value > 0 else "-inf")
            sortable = "" if shown == "" else ("1e308" if value > 0 else "-1e308")
            return f'<td class="missing" data-value="{sortable}">{shown}</td>'
        return f'<td data-value="{value!r}">{value:.{column.digits}f}</td>'
    text = "" if value is None else str(value)
    return f'<td class="text" data-value="{html.escape(text)}">{html.escape(text)}</td>'


def _image(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    caption = html.escape(figure.caption)
    return f'<figure><img alt="{caption}" src="data:image/png;base64,{data}"><figcaption>{caption}</figcaption></figure>'


def render_page(title: str, notes: list[str], columns: list[Column], rows: list[dict], sections: list[Section]) -> str:
    """The page: ``title``, ``notes`` (one paragraph each), the table of ``rows`` (one per case, worst first as
    given; the first column links to the case's section) and the figure ``sections``."""
    header = "".join(f'<th data-type="{"number" if c.numeric else "text"}">{html.escape(c.title)}</th>' for c in columns)
    body = []
    for row in rows:
        cells = [_cell(column, row.get(column.key)) for column in columns]
        if row.get("anchor"):
            name = html.escape(str(row[columns[0].key]))
            cells[0] = f'<td class="text" data-value="{name}"><a href="#{html.escape(row["anchor"])}">{name}</a></td>'
        body.append(f"<tr>{''.join(cells)}</tr>")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        *(f'<p class="notes">{html.escape(note)}</p>' for note in notes),
        f'<table id="cases"><thead><tr>{header}</tr></thead><tbody>{"".join(body)}</tbody></table>',
    ]
    for section in sections:
        anchor = f' id="{html.escape(section.anchor)}"' if section.anchor else ""
        parts.append(f"<h2{anchor}>{html.escape(section.title)}</h2>")
        if section.notes:
            parts.append(f'<p class="notes">{html.escape(section.notes)}</p>')
        parts += [_image(figure) for figure in section.figures]
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"

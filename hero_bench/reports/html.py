"""Lay a `Report` out as one self-contained HTML file.

Figures are embedded as base64 data URIs and styles are inline, so the file opens anywhere (mail, an
offline laptop, a CI artifact) and never makes a network request: no CDN, no web fonts, no scripts.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

from hero_bench.reports.content import Figure, Report, Section, Table

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;
color:#222;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.85rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;
text-align:left;vertical-align:top}th{background:#f3f3f3}caption{caption-side:bottom;font-size:.8rem;color:#555;
text-align:left;padding-top:.2rem}figure{margin:1rem 0}figcaption{font-size:.85rem;color:#444}
img{max-width:100%;height:auto;border:0}code{background:#f5f5f5;padding:0 .2rem;font-size:.85rem}
nav a{margin-right:.8rem}.files{font-size:.8rem;color:#666}
#answer li{font-size:.92rem}#answer-table th,#answer-table td{padding:.2rem .4rem}
#answer-table th[scope=row]{white-space:nowrap}
"""


def inline(text: str) -> str:
    """Escape text, then turn **bold** and `code` spans into tags (the report's only markup)."""
    out = html.escape(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def table_html(t: Table) -> str:
    frame: pd.DataFrame = t.frame
    head_cells = [html.escape(str(frame.index.name or ""))] if t.index else []
    head_cells += [html.escape(str(c)) for c in frame.columns]
    rows = []
    for idx, rec in zip(frame.index, frame.itertuples(index=False), strict=True):
        cells = ([f"<th scope='row'>{html.escape(str(idx))}</th>"] if t.index else [])
        cells += [f"<td>{html.escape('' if pd.isna(v) else str(v)).replace(chr(10), '<br>')}</td>" for v in rec]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    caption = inline(t.caption) + (f" <span class='files'>(CSV: {html.escape(t.csv)})</span>" if t.csv else "")
    return (f"<table id='{html.escape(t.id)}'><caption>{caption}</caption><thead><tr>"
            + "".join(f"<th>{c}</th>" for c in head_cells) + "</tr></thead><tbody>" + "".join(rows)
            + "</tbody></table>")


def figure_html(f: Figure, out: Path) -> str:
    svg = ""
    if f.svg is not None:
        svg = f" <span class='files'>(SVG: {html.escape(str(f.svg.relative_to(out)))})</span>"
    return (f"<figure id='{html.escape(f.id)}'><img src='{data_uri(f.png)}' alt='{html.escape(f.caption)}'>"
            f"<figcaption>{inline(f.caption)}{svg}</figcaption></figure>")


def section_html(s: Section, out: Path) -> str:
    parts = [f"<section id='{html.escape(s.id)}'><h2>{inline(s.title)}</h2>"]
    parts += [f"<p>{inline(p)}</p>" for p in s.paragraphs]
    if s.bullets:
        parts.append("<ul>" + "".join(f"<li>{inline(b)}</li>" for b in s.bullets) + "</ul>")
    parts += [table_html(t) for t in s.tables]
    parts += [figure_html(f, out) for f in s.figures]
    parts.append("</section>")
    return "\n".join(parts)


def render_html(report: Report) -> str:
    nav = " ".join(f"<a href='#{html.escape(s.id)}'>{inline(s.title)}</a>" for s in report.sections)
    body = "\n".join(section_html(s, report.out) for s in report.sections)
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\">"
            f"<title>{html.escape(report.title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{html.escape(report.title)}</h1><nav>{nav}</nav>\n{body}\n</body></html>\n")

"""Lay a `Report` out as Markdown, with figures linked by relative paths to the PNGs beside it."""

from __future__ import annotations

import pandas as pd

from hero_bench.reports.content import Report, Table


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value).replace("|", "\\|").replace("\n", "<br>")  # a cell of several lines (the ranking)


def table_md(t: Table) -> str:
    frame = t.frame
    cols = ([str(frame.index.name or "")] if t.index else []) + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(_cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for idx, rec in zip(frame.index, frame.itertuples(index=False), strict=True):
        cells = ([_cell(idx)] if t.index else []) + [_cell(v) for v in rec]
        lines.append("| " + " | ".join(cells) + " |")
    caption = t.caption + (f" (CSV: `{t.csv}`)" if t.csv else "")
    return "\n".join(lines) + (f"\n\n*{caption}*" if caption else "")


def render_markdown(report: Report) -> str:
    out = [f"# {report.title}", ""]
    for s in report.sections:
        out += [f"## {s.title}", ""]
        for p in s.paragraphs:
            out += [p, ""]
        if s.bullets:
            out += [f"- {b}" for b in s.bullets] + [""]
        for t in s.tables:
            out += [table_md(t), ""]
        for f in s.figures:
            rel = f.png.relative_to(report.out).as_posix()
            svg = f" (SVG: `{f.svg.relative_to(report.out).as_posix()}`)" if f.svg is not None else ""
            out += [f"![{f.caption}]({rel})", "", f"*{f.caption}*{svg}", ""]
    return "\n".join(out)

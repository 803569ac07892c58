"""What a report says, independent of its format: sections of text, tables and figures.

`build.py` fills a `Report`; `html.py` and `markdown.py` only lay it out, so both formats always carry the
same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass
class Table:
    id: str
    frame: pd.DataFrame
    caption: str = ""
    csv: str | None = None
    """The CSV beside the report holding the full (long-form) numbers, relative to the report folder."""
    index: bool = True


@dataclass
class Figure:
    id: str
    png: Path
    """Absolute path of the PNG; renderers embed it (HTML) or link it relatively (Markdown)."""
    caption: str = ""
    svg: Path | None = None


@dataclass
class Section:
    id: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)


@dataclass
class Report:
    title: str
    out: Path
    sections: list[Section] = field(default_factory=list)

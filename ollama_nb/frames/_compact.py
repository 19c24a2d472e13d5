"""The model lists' notebook display: every column in the frame, a compact table on screen.

``models()`` and ``running()`` return frames with full data (bytes and human sizes, the
whole digest, microsecond UTC timestamps, families, capabilities). Shown whole they are
too wide for a notebook cell, names wrap at their hyphens and times carry
``.123456+00:00``. The frames they return are :class:`ModelsFrame` / :class:`RunningFrame`,
plain DataFrames in every other way, whose HTML and text displays pick the columns a
person reads, formatted for reading, and never wrap a cell. Any operation on them
(selecting columns, filtering, sorting) gives an ordinary DataFrame, shown as pandas
shows it. Model names come from the server, so every cell is escaped.

Imported only by ``_inventory`` when it builds a frame (pandas is loaded by then).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any, ClassVar

import pandas as pd

from ..display._units import human_size

__all__ = ["ModelsFrame", "RunningFrame"]

_NOWRAP = "white-space:nowrap"


def _text(value: Any) -> str:
    if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)):
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _minutes(value: Any) -> str:
    """A UTC timestamp to the minute: ``2026-05-04 10:31``."""
    return "" if pd.isna(value) else value.strftime("%Y-%m-%d %H:%M")


def _context(value: Any) -> str:
    return "" if pd.isna(value) else f"{int(value):,}"


def _share(row: Any) -> str:
    share = row["vram_share"]
    if pd.isna(share):
        return ""
    return f"{human_size(row['size_vram'])} ({share:.0%})" if share else "0 (CPU)"


class _CompactFrame(pd.DataFrame):
    """A DataFrame whose notebook display is a compact, readable table."""

    #: (heading, how one row gives its cell), in display order
    _columns: ClassVar[list[tuple[str, Callable[[Any], str]]]] = []
    _what: ClassVar[str] = "rows"

    @property
    def _constructor(self) -> Any:  # anything derived is a plain DataFrame again
        return pd.DataFrame

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        columns = [(h, f) for h, f in self._columns
                   if h != "context" or self["context_length"].notna().any()]
        rows = [[f(row) for _h, f in columns] for _i, row in self.iterrows()]
        return [h for h, _f in columns], rows

    def _repr_html_(self) -> str:
        headings, rows = self._cells()
        head = "".join(f'<th style="{_NOWRAP};text-align:left">{html.escape(h)}</th>'
                       for h in headings)
        body = "".join("<tr>" + "".join(f'<td style="{_NOWRAP};text-align:left">'
                                        f"{html.escape(c)}</td>" for c in row) + "</tr>"
                       for row in rows)
        note = (f"{len(self)} {self._what}; the frame has every column "
                f"({', '.join(self.columns[:6])}, …)")
        return (f'<div style="overflow-x:auto;max-width:100%"><table class="dataframe" '
                f'style="margin:0"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
                f'<div style="color:var(--jp-ui-font-color2,#777);font-size:0.85em">'
                f"{html.escape(note)}</div></div>")

    def __repr__(self) -> str:
        headings, rows = self._cells()
        if not rows:
            return f"no {self._what} (columns: {', '.join(self.columns)})"
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headings)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(headings, widths)).rstrip()]
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        return "\n".join(lines)


class ModelsFrame(_CompactFrame):
    """``models()``: shown as name, family, parameters, quantization, size, modified, …"""

    _what = "local models"
    _columns = [
        ("name", lambda r: _text(r["name"])),
        ("family", lambda r: _text(r["family"])),
        ("parameters", lambda r: _text(r["parameter_size"])),
        ("quantization", lambda r: _text(r["quantization"])),
        ("size", lambda r: _text(r["size_h"])),
        ("modified (UTC)", lambda r: _minutes(r["modified"])),
        ("context", lambda r: _context(r["context_length"])),
        ("capabilities", lambda r: _text(r["capabilities"])),
        ("digest", lambda r: _text(r["digest"])[:12]),
    ]


class RunningFrame(_CompactFrame):
    """``running()``: shown as name, size, in VRAM, context, until, parameters, quantization."""

    _what = "loaded models"
    _columns = [
        ("name", lambda r: _text(r["name"])),
        ("size", lambda r: _text(r["size_h"])),
        ("in VRAM", _share),
        ("context", lambda r: _context(r["context_length"])),
        ("until (UTC)", lambda r: _minutes(r["expires"])),
        ("parameters", lambda r: _text(r["parameter_size"])),
        ("quantization", lambda r: _text(r["quantization"])),
    ]

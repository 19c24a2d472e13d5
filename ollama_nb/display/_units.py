"""Byte counts for people: one formatter for DataFrames, progress lines and widgets."""

from __future__ import annotations

import math

__all__ = ["human_size"]


def human_size(n: float | None, missing: str = "") -> str:
    """``2019393189`` -> ``"2.0 GB"`` (powers of 1000, as `ollama list` prints them)."""
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return missing
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(value) < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"

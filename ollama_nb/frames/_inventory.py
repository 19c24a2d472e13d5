"""`models()` and `running()`: the server's model lists as typed DataFrames.

Both keep the server's own order, which is what `ollama list` / `ollama ps` print:
local models newest first (by ``modified``), loaded models longest-lived first (by
``expires``). Newest-first is the order people scan for "what did I just pull", and
it matches the CLI they already know; ``df.sort_values("name")`` is one call away.
Timestamps arrive with local offsets that may differ per row, so they are converted
to UTC (one tz-aware dtype for the whole column; ``.dt.tz_convert(...)`` to view them
locally). Microsecond resolution, because ``keep_alive=-1`` gives an ``expires`` about
290 years ahead, beyond what nanosecond timestamps can hold.

The frames keep all of that; in a notebook they show as a compact table (``_compact``).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..client._session import get_client
from ..display._units import human_size

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..client._client import Client

__all__ = ["human_size", "models", "running"]

# column -> dtype ("datetime" = UTC, microseconds)
_MODEL_COLUMNS: dict[str, str] = {
    "name": "string",
    "family": "string",
    "parameter_size": "string",
    "quantization": "string",
    "size": "int64",
    "size_h": "string",
    "modified": "datetime",
    "digest": "string",
    "format": "string",
    "families": "object",
    "context_length": "Int64",
    "embedding_length": "Int64",
    "capabilities": "object",
}
_RUNNING_COLUMNS: dict[str, str] = {
    "name": "string",
    "size": "int64",
    "size_h": "string",
    "size_vram": "int64",
    "size_vram_h": "string",
    "vram_share": "float64",
    "context_length": "Int64",
    "expires": "datetime",
    "family": "string",
    "parameter_size": "string",
    "quantization": "string",
    "digest": "string",
}

_FRACTION = re.compile(r"(\.\d{6})\d+")


def _parse_time(text: Any) -> _dt.datetime | None:
    """RFC 3339 with up to 9 fractional digits and any offset -> aware UTC datetime."""
    if not isinstance(text, str) or not text:
        return None
    text = _FRACTION.sub(r"\1", text.strip()).replace("Z", "+00:00").replace("z", "+00:00")
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.astimezone(_dt.timezone.utc)


def _raw(obj: Any) -> Any:
    """The plain JSON of a typed client result (or the object itself if it is plain)."""
    raw = getattr(obj, "raw", None)
    return raw if raw is not None else obj


def _column(values: list[Any], dtype: str) -> Any:
    import pandas as pd

    if dtype == "datetime":
        moments = [_parse_time(v) for v in values]
        try:
            return pd.Series(moments, dtype="datetime64[us, UTC]")
        except TypeError:  # pragma: no cover - pandas < 2 has nanoseconds only
            return pd.to_datetime(pd.Series(moments, dtype=object), utc=True, errors="coerce")
    if dtype == "int64":
        return pd.Series([int(v or 0) for v in values], dtype="int64")
    if dtype == "Int64":
        return pd.Series([None if v is None else int(v) for v in values], dtype="Int64")
    if dtype == "float64":
        return pd.Series([float("nan") if v is None else float(v) for v in values], dtype="float64")
    if dtype == "string":
        return pd.Series([None if v is None else str(v) for v in values], dtype="string")
    return pd.Series(values, dtype="object")


def _frame(rows: Iterable[Mapping[str, Any]], columns: Mapping[str, str]) -> pd.DataFrame:
    import pandas as pd

    rows = list(rows)
    data = {name: _column([row.get(name) for row in rows], dtype) for name, dtype in columns.items()}
    return pd.DataFrame(data, index=pd.RangeIndex(len(rows)))


def _details(entry: Mapping[str, Any]) -> dict[str, Any]:
    details = entry.get("details") or {}
    families = details.get("families")
    return {
        "name": entry.get("name") or entry.get("model"),
        "family": details.get("family") or None,
        "parameter_size": details.get("parameter_size") or None,
        "quantization": details.get("quantization_level") or None,
        "format": details.get("format") or None,
        "families": list(families) if families else None,
        "digest": entry.get("digest"),
        "size": entry.get("size") or 0,
        "size_h": human_size(entry.get("size") or 0),
    }


def models(*, host: str | None = None, client: Client | None = None) -> pd.DataFrame:
    """Local models (``/api/tags``) as a DataFrame, newest first like ``ollama list``.

    Columns: name, family, parameter_size, quantization (strings), size (int64 bytes),
    size_h ("2.0 GB"), modified (UTC datetime), digest, format, families, and, from
    servers that send them, context_length, embedding_length (Int64) and capabilities.
    No models gives an empty frame with the same columns and dtypes.
    """
    listing = _raw(get_client(host, client).list())
    entries = listing.get("models") or [] if isinstance(listing, Mapping) else []
    rows = []
    for entry in entries:
        entry = _raw(entry)
        details = entry.get("details") or {}
        caps = entry.get("capabilities")
        rows.append({
            **_details(entry),
            "modified": entry.get("modified_at"),
            "context_length": details.get("context_length"),
            "embedding_length": details.get("embedding_length"),
            "capabilities": list(caps) if caps is not None else None,
        })
    frame = _frame(rows, _MODEL_COLUMNS)
    if len(frame):  # the server's order, made explicit: newest first, then by name
        frame = frame.sort_values(["modified", "name"], ascending=[False, True],
                                  na_position="last", kind="stable", ignore_index=True)
    from ._compact import ModelsFrame

    return ModelsFrame(frame)


def running(*, host: str | None = None, client: Client | None = None) -> pd.DataFrame:
    """Loaded models (``/api/ps``) as a DataFrame, longest-lived first like ``ollama ps``.

    Columns: name, size / size_h, size_vram / size_vram_h, vram_share (0.0 = all on
    CPU, 1.0 = all in GPU memory), context_length (Int64; missing on servers before
    0.10), expires (UTC datetime), family, parameter_size, quantization, digest.
    """
    listing = _raw(get_client(host, client).ps())
    entries = listing.get("models") or [] if isinstance(listing, Mapping) else []
    rows = []
    for entry in entries:
        entry = _raw(entry)
        size = int(entry.get("size") or 0)
        vram = int(entry.get("size_vram") or 0)
        rows.append({
            **_details(entry),
            "size_vram": vram,
            "size_vram_h": human_size(vram),
            "vram_share": vram / size if size else None,
            "context_length": entry.get("context_length"),
            "expires": entry.get("expires_at"),
        })
    frame = _frame(rows, _RUNNING_COLUMNS)
    if len(frame):
        frame = frame.sort_values(["expires", "name"], ascending=[False, True],
                                  na_position="last", kind="stable", ignore_index=True)
    from ._compact import RunningFrame

    return RunningFrame(frame)

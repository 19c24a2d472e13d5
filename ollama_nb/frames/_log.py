"""``prompt_log()``: the prompt log (:mod:`ollama_nb.client._promptlog`) as a DataFrame."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..client._errors import InvalidArgumentError
from ..client._promptlog import read

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["prompt_log"]

COLUMNS = ["time", "source", "model", "prompt", "answer", "thinking", "done", "interrupted",
           "error", "endpoint", "digest", "host", "system", "provenance"]


def prompt_log(n: int | None = None, *, search: str | None = None, model: str | None = None,
               path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Logged prompts and answers, newest first (index: the log's row id).

    ``n`` keeps the last ``n``; ``search`` keeps rows whose prompt or answer contains it
    (any case); ``model`` keeps one model's. ``path`` reads another log file. Each row's
    ``provenance`` is the dict that ``_ollama.provenance`` held.
    """
    import pandas as pd

    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise InvalidArgumentError(f"n must be a positive integer, got {n!r}")
    rows: list[dict[str, Any]] = read(n, search=search, model=model, path=path)
    frame = pd.DataFrame(rows, columns=["id", *COLUMNS])
    frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601", errors="coerce")
    for column in ("done", "interrupted"):
        frame[column] = frame[column].astype(bool)
    return frame.set_index("id")

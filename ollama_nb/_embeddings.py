"""`embed()`: texts -> one contiguous float32 block, wrapped in a DataFrame without a copy.

Why it is shaped like this: a 20,000 x 768 embedding is 61 MB as float32 but over
400 MB as Python float lists, which is what a generic client hands back. Here each
`/api/embed` batch is posted through the session's one connection
(``Client.request_raw``), its JSON is parsed, and its rows are copied straight into
a preallocated ``np.empty((n, dim), float32)``; only one batch ever exists as Python
objects. The DataFrame is built on that block with ``copy=False``.

Input rules (all checked before any request):

* a list/tuple/array of strings (RangeIndex), a Series (its index is kept), a
  one-column DataFrame, or a single string;
* every item must be a ``str``: ``None``/NaN or numbers raise
  :class:`InvalidArgumentError` naming the position (``.dropna()`` or ``.fillna("")``
  first);
* duplicate texts are embedded once and the row is repeated;
* the empty string gives a row of NaN and is not sent (the server has no embedding
  for it: an empty input only loads the model);
* no texts at all sends nothing and returns a 0 x 0 frame (the width is unknown
  without a request).

Columns are the integers ``0 .. dim-1``, as numpy users expect. ``.attrs`` holds
``model``, ``dimensions`` and ``texts`` (the input texts, shared, not copied; used by
:func:`nearest` and :func:`project` to show them; JSON-serialisable, so
``to_parquet`` keeps it).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._errors import InvalidArgumentError, ResponseError
from ._session import get_client, session

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from ._client import Client

__all__ = ["embed", "as_texts", "SharedTexts", "DEFAULT_BATCH_SIZE"]

DEFAULT_BATCH_SIZE = 128
#: a progress bar is shown (progress=None) when the texts need more batches than this
PROGRESS_MIN_BATCHES = 8


class SharedTexts(tuple):  # type: ignore[type-arg]
    """The texts behind an embedding frame, kept in ``.attrs["texts"]``.

    pandas deep-copies ``.attrs`` on every operation; this tuple returns itself
    instead, so slicing a 100,000-row frame does not copy 100,000 strings. It
    remembers the row labels (``.index``) so lookups still work after filtering
    or sorting. JSON sees a plain list; pickle keeps the labels.
    """

    index: Any = None

    def __new__(cls, texts: Iterable[str], index: Any = None) -> SharedTexts:
        self = super().__new__(cls, texts)
        self.index = index
        return self

    def __getnewargs__(self) -> tuple[Any, ...]:  # pickle: texts and labels
        return (tuple(self), self.index)

    def __deepcopy__(self, memo: dict[int, Any]) -> SharedTexts:
        return self

    def __copy__(self) -> SharedTexts:
        return self

    def __repr__(self) -> str:
        return f"<{len(self)} texts>"


def as_texts(texts: Any, what: str = "texts") -> tuple[list[str], Any]:
    """Validate ``texts``; return (list of str, pandas index for the rows)."""
    import pandas as pd

    if isinstance(texts, str):
        values, index = [texts], pd.RangeIndex(1)
    elif isinstance(texts, pd.DataFrame):
        if texts.shape[1] != 1:
            raise InvalidArgumentError(
                f"{what}: got a DataFrame with {texts.shape[1]} columns; pass one column, "
                f"e.g. df[{str(texts.columns[0]) if len(texts.columns) else 'col'!r}]")
        values, index = texts.iloc[:, 0].tolist(), texts.index
    elif isinstance(texts, pd.Series):
        values, index = texts.tolist(), texts.index
    elif isinstance(texts, Mapping) or not isinstance(texts, Iterable):
        raise InvalidArgumentError(
            f"{what}: expected a list, Series or DataFrame column of strings, "
            f"got {type(texts).__name__}")
    else:
        values = list(texts)
        index = pd.RangeIndex(len(values))
    for pos, value in enumerate(values):
        if not isinstance(value, str):
            label = index[pos]
            where = f"position {pos}" + ("" if label == pos else f" (index {label!r})")
            kind = "a missing value" if value is None or value != value else type(value).__name__
            raise InvalidArgumentError(
                f"{what}: item at {where} is {kind}, not a string; "
                f"drop missing values with .dropna() or fill them with .fillna('') first")
    return values, index


def _show_progress(progress: bool | None, batches: int) -> bool:
    return bool(progress) if progress is not None else batches > PROGRESS_MIN_BATCHES


def embed(
    texts: Any,
    model: str | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dimensions: int | None = None,
    truncate: bool | None = None,
    keep_alive: Any = None,
    options: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    host: str | None = None,
    client: Client | None = None,
) -> pd.DataFrame:
    """Embed ``texts`` with ``model`` (default: the session's embedding model).

    Returns an ``n x dim`` float32 DataFrame (columns ``0..dim-1``) in input order with
    the input's index; ``.attrs`` has ``model``, ``dimensions`` and ``texts``. Texts go
    to ``/api/embed`` in batches of ``batch_size`` over one connection; a progress bar
    appears for long inputs (``progress=True``/``False`` forces it). ``dimensions``
    asks the server to shorten the vectors; ``truncate=False`` makes over-long texts
    an error instead of cutting them.
    """
    import numpy as np
    import pandas as pd

    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")
    if dimensions is not None and (not isinstance(dimensions, int) or dimensions < 1):
        raise InvalidArgumentError(f"dimensions must be a positive integer, got {dimensions!r}")
    model = model or session.embed_model
    values, index = as_texts(texts)
    n = len(values)

    # one request per distinct non-empty text; codes[i] = which distinct text row i is
    first: dict[str, int] = {}
    first_rows: list[int] = []
    codes = np.empty(n, dtype=np.intp)
    for i, text in enumerate(values):
        code = first.get(text)
        if code is None:
            code = first[text] = len(first_rows)
            first_rows.append(i)
        codes[i] = code
    first_row = np.asarray(first_rows, dtype=np.intp)     # code -> row of first occurrence
    empty_code = first.pop("", None)
    send = list(first)                                    # distinct texts, first-seen order
    send_rows = first_row[np.fromiter(first.values(), dtype=np.intp, count=len(first))]
    in_order = len(send) == n                             # no duplicates, no empty texts

    attrs = {"model": model, "dimensions": 0, "texts": SharedTexts(values, index)}
    if not send:  # nothing to ask: the width is unknown, so no columns
        frame = pd.DataFrame(np.empty((n, 0), dtype=np.float32), index=index, copy=False)
        frame.attrs.update(attrs)
        return frame

    body: dict[str, Any] = {"model": model}
    for key, value in (("dimensions", dimensions), ("truncate", truncate),
                       ("keep_alive", keep_alive), ("options", dict(options) if options else None)):
        if value is not None:
            body[key] = value
    http = get_client(host, client)
    starts = range(0, len(send), batch_size)
    bar = None
    if _show_progress(progress, len(starts)):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(send), desc=f"embed {model}", unit="text")
    out: np.ndarray | None = None
    try:
        for start in starts:
            batch = send[start:start + batch_size]
            response = http.request_raw("POST", "/api/embed", json={**body, "input": batch})
            vectors = _vectors(response.content, len(batch), model)
            if out is None:
                out = np.empty((n, vectors.shape[1]), dtype=np.float32)
            elif vectors.shape[1] != out.shape[1]:
                raise ResponseError(
                    f"/api/embed returned {vectors.shape[1]}-dimensional vectors after "
                    f"{out.shape[1]}-dimensional ones for model {model!r}", 200)
            if in_order:
                out[start:start + len(batch)] = vectors
            else:
                out[send_rows[start:start + len(batch)]] = vectors
            del vectors
            if bar is not None:
                bar.update(len(batch))
    finally:
        if bar is not None:
            bar.close()
    assert out is not None
    if not in_order:  # repeat rows of duplicate texts, NaN for empty ones
        first_of = first_row[codes]
        repeats = np.flatnonzero(first_of != np.arange(n))
        if len(repeats):
            out[repeats] = out[first_of[repeats]]
        if empty_code is not None:
            out[codes == empty_code] = np.nan
    frame = pd.DataFrame(out, index=index, columns=pd.RangeIndex(out.shape[1]), copy=False)
    attrs["dimensions"] = int(out.shape[1])
    frame.attrs.update(attrs)
    return frame


def _vectors(content: bytes, expected: int, model: str) -> np.ndarray:
    """Parse one /api/embed response body into a (expected, dim) float32 array."""
    import numpy as np

    try:
        data = json.loads(content)
        vectors = np.asarray(data["embeddings"], dtype=np.float32)
    except (ValueError, KeyError, TypeError) as exc:
        raise ResponseError(f"/api/embed returned an unreadable body for model {model!r} "
                            f"({type(exc).__name__}: {exc})", 200) from None
    if vectors.ndim != 2 or vectors.shape[0] != expected:
        raise ResponseError(f"/api/embed returned {len(data['embeddings'])} vectors for "
                            f"{expected} texts (model {model!r})", 200)
    return vectors

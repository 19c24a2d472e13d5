"""`embed()`: texts -> one contiguous float32 block, wrapped in a DataFrame without a copy.

Why it is shaped like this: a 20,000 x 768 embedding is 61 MB as float32 but over
400 MB as Python float lists, which is what a generic client hands back. Here each
`/api/embed` batch is posted by a helper thread (``Client.request_raw``; one per server
and slot, each keeping its connection, see ``_spread``) while this thread parses the
previous body and copies its rows straight into a preallocated
``np.empty((n, dim), float32)``; only one batch ever exists as Python objects, and at
most one finished body per slot waits. The DataFrame is built on that block with
``copy=False``. Over several hosts (``hosts=``) the batches are the same as on one, so
the result is too.

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
``model``, ``dimensions``, ``hosts`` (rows, errors and tokens/s per server) and ``texts`` (the input texts, shared, not copied; used by
:func:`nearest` and :func:`project` to show them; JSON-serialisable, so
``to_parquet`` keeps it).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..client._errors import HostsDownError, InvalidArgumentError, ModelNotFoundError, ResponseError
from ..client._session import session
from ._spread import AllDown, Done, Progress, Spread, pull_missing, targets

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from ..client._client import Client

__all__ = ["DEFAULT_BATCH_SIZE", "SharedTexts", "as_texts", "embed"]

DEFAULT_BATCH_SIZE = 128
#: a progress bar is shown (progress=None) when the texts need more batches than this
PROGRESS_MIN_BATCHES = 8


class SharedTexts(tuple):  # type: ignore[type-arg]
    """The texts behind an embedding frame, kept in ``.attrs["texts"]``.

    pandas deep-copies ``.attrs`` on every operation; this tuple returns itself
    instead, so slicing a 100,000-row frame does not copy 100,000 strings. It
    remembers the row labels (``.labels``) so lookups still work after filtering
    or sorting. JSON sees a plain list; pickle keeps the labels.
    """

    labels: Any = None

    def __new__(cls, texts: Iterable[str], labels: Any = None) -> SharedTexts:
        self = super().__new__(cls, texts)
        self.labels = labels
        return self

    def __getnewargs__(self) -> tuple[Any, ...]:  # pickle: texts and labels
        return (tuple(self), self.labels)

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
            label = label.item() if hasattr(label, "item") and not isinstance(label, str) else label
            where = f"position {pos}" + ("" if label == pos else f" (index {label!r})")
            kind = "a missing value" if _missing(value) else type(value).__name__
            raise InvalidArgumentError(
                f"{what}: item at {where} is {kind}, not a string; "
                f"drop missing values with .dropna() or fill them with .fillna('') first")
    return values, index


def _missing(value: Any) -> bool:
    """None, NaN, NaT or pd.NA."""
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _show_progress(progress: Any, batches: int) -> bool:
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
    progress: bool | Callable[[int, int], None] | None = None,
    host: str | None = None,
    client: Client | None = None,
    hosts: Any = None,
    concurrency: int = 1,
    pull: bool = False,
) -> pd.DataFrame:
    """Embed ``texts`` with ``model`` (default: the session's embedding model).

    Returns an ``n x dim`` float32 DataFrame (columns ``0..dim-1``) in input order with
    the input's index; ``.attrs`` has ``model``, ``dimensions``, ``texts`` and ``hosts``
    (what each server did). Texts go to ``/api/embed`` in batches of ``batch_size``,
    ``concurrency`` requests at a time per server (one connection each); a progress bar
    appears for long inputs (``progress=True``/``False`` forces it; a callable gets
    ``(texts done, total)`` instead). ``hosts`` (a list
    of URLs or a :class:`~ollama_nb.Hosts`) spreads the batches over several servers;
    ``pull=True`` first pulls the model where it is missing. ``dimensions`` asks the
    server to shorten the vectors; ``truncate=False`` makes over-long texts an error
    instead of cutting them.
    """
    import numpy as np
    import pandas as pd

    for name, count in (("batch_size", batch_size), ("concurrency", concurrency)):
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise InvalidArgumentError(f"{name} must be a positive integer, got {count!r}")
    if dimensions is not None and (not isinstance(dimensions, int) or dimensions < 1):
        raise InvalidArgumentError(f"dimensions must be a positive integer, got {dimensions!r}")
    model = model or session.embed_model
    if not isinstance(model, str) or not model.strip():
        raise InvalidArgumentError("embed needs a model: pass model='all-minilm' or set a "
                                   "default with %config OllamaMagics.embed_model = 'NAME'")
    values, index = as_texts(texts)
    n = len(values)
    target = targets("embed", host=host, client=client, hosts=hosts, concurrency=concurrency)

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

    attrs: dict[str, Any] = {"model": model, "dimensions": 0, "texts": SharedTexts(values, index)}
    if not send:  # nothing to ask: the width is unknown, so no columns
        frame = pd.DataFrame(np.empty((n, 0), dtype=np.float32), index=index, copy=False)
        frame.attrs.update(attrs)
        return frame

    body: dict[str, Any] = {"model": model}
    for key, value in (("dimensions", dimensions), ("truncate", truncate),
                       ("keep_alive", keep_alive), ("options", dict(options) if options else None)):
        if value is not None:
            body[key] = value
    if pull:
        pull_missing("embed", target, model)
    batches = [send[start:start + batch_size] for start in range(0, len(send), batch_size)]

    def fetch(http: Client, batch: list[str]) -> bytes:
        try:
            return http.request_raw("POST", "/api/embed", json={**body, "input": batch}).content
        except ResponseError as exc:  # request_raw does not know the model: name it in a 404
            if exc.status_code == 404 and "not found" in exc.error and not isinstance(exc, ModelNotFoundError):
                raise ModelNotFoundError(model, exc.error, 404, body=exc.body) from None
            raise

    bar = Progress(progress, len(send), 0, f"embed {model}", "text",
                   show=_show_progress(progress, len(batches)))
    # at most one finished body per slot waits for this thread, so memory stays at a few batches
    spread = Spread("embed", target, model, row_errors=False, thread_name="ollama_nb.embed-fetch",
                    ready=sum(target.slots))
    out: np.ndarray | None = None
    answered = np.zeros(len(send), dtype=bool)
    try:
        with contextlib.closing(spread.run(batches, fetch, join=0.5)) as events:
            for event in events:
                assert isinstance(event, Done)  # embed has no row errors: a failure stops it
                batch = batches[event.index]
                start = event.index * batch_size
                vectors, tokens = _parse(event.value, len(batch), model)
                event.value = None
                if out is None:
                    out = np.empty((n, len(vectors[0])), dtype=np.float32)
                rows = slice(start, start + len(batch)) if in_order else send_rows[start:start + len(batch)]
                try:
                    out[rows] = vectors
                except ValueError:
                    raise ResponseError(f"/api/embed returned vectors of different lengths for model "
                                        f"{model!r} (expected {out.shape[1]} numbers each)", 200) from None
                del vectors
                answered[start:start + len(batch)] = True
                event.host.rows += len(batch)
                event.host.tokens += tokens
                bar.step(len(batch), spread)
    except AllDown as down:
        partial = None
        if out is not None:  # the rows that came back; NaN for the others
            out[send_rows[~answered]] = np.nan
            partial = _frame(out, index, codes, first_row, empty_code, in_order, attrs)
        raise HostsDownError("embed", down.errors, done=int(answered.sum()), total=len(send),
                             partial=partial) from None
    finally:
        bar.close()
    assert out is not None
    attrs["hosts"] = spread.summary()
    attrs["provenance"] = spread.provenance("/api/embed", body, texts=len(send))
    return _frame(out, index, codes, first_row, empty_code, in_order, attrs)


def _frame(out: np.ndarray, index: Any, codes: np.ndarray, first_row: np.ndarray,
           empty_code: int | None, in_order: bool, attrs: dict[str, Any]) -> pd.DataFrame:
    """The result frame on ``out`` (no copy): duplicate texts' rows repeated, empty ones NaN."""
    import numpy as np
    import pandas as pd

    n = len(codes)
    if not in_order:
        first_of = first_row[codes]
        repeats = np.flatnonzero(first_of != np.arange(n))
        for chunk in range(0, len(repeats), 4096):  # bounded temporaries, whatever the count
            rows = repeats[chunk:chunk + 4096]
            out[rows] = out[first_of[rows]]
        if empty_code is not None:
            out[codes == empty_code] = np.nan
    frame = pd.DataFrame(out, index=index, columns=pd.RangeIndex(out.shape[1]), copy=False)
    attrs["dimensions"] = int(out.shape[1])
    frame.attrs.update(attrs)
    return frame


def _parse(content: bytes, expected: int, model: str) -> tuple[list[list[float]], int]:
    """The ``embeddings`` of one /api/embed body (``expected`` non-empty lists of numbers)
    and its ``prompt_eval_count``."""
    try:
        answer = json.loads(content)
        vectors = answer["embeddings"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ResponseError(f"/api/embed returned an unreadable body for model {model!r} "
                            f"({type(exc).__name__}: {exc})", 200) from None
    if not isinstance(vectors, list) or len(vectors) != expected or not (
            isinstance(vectors[0], list) and vectors[0]):
        count = len(vectors) if isinstance(vectors, list) else type(vectors).__name__
        raise ResponseError(f"/api/embed returned {count} vectors for {expected} texts "
                            f"(model {model!r})", 200)
    tokens = answer.get("prompt_eval_count")
    return vectors, tokens if isinstance(tokens, int) else 0

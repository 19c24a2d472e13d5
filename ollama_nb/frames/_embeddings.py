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
import queue
import threading
from collections.abc import Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..client._errors import InvalidArgumentError, ModelNotFoundError, ResponseError
from ..client._session import get_client, session

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
    if not isinstance(model, str) or not model.strip():
        raise InvalidArgumentError("embed needs a model: pass model='all-minilm' or set a "
                                   "default with %config OllamaMagics.embed_model = 'NAME'")
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
    batches = [send[start:start + batch_size] for start in range(0, len(send), batch_size)]
    bar = None
    if _show_progress(progress, len(batches)):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(send), desc=f"embed {model}", unit="text")
    out: np.ndarray | None = None
    start = 0
    bodies = _not_found_named(_responses(http, body, batches), model)
    try:
        for batch, content in zip(batches, bodies):
            vectors = _parse(content, len(batch), model)
            del content
            if out is None:
                out = np.empty((n, len(vectors[0])), dtype=np.float32)
            rows = slice(start, start + len(batch)) if in_order else send_rows[start:start + len(batch)]
            try:
                out[rows] = vectors
            except ValueError:
                raise ResponseError(f"/api/embed returned vectors of different lengths for model "
                                    f"{model!r} (expected {out.shape[1]} numbers each)", 200) from None
            del vectors
            start += len(batch)
            if bar is not None:
                bar.update(len(batch))
    finally:
        bodies.close()  # stops the fetch thread now, even while a traceback keeps this frame
        if bar is not None:
            bar.close()
    assert out is not None
    if not in_order:  # repeat rows of duplicate texts, NaN for empty ones
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


def _not_found_named(bodies: Generator[bytes, None, None], model: str) -> Generator[bytes, None, None]:
    """``request_raw`` does not know the model: name it in a 404 "model not found"."""
    try:
        yield from bodies
    except ResponseError as exc:
        if exc.status_code == 404 and "not found" in exc.error and not isinstance(exc, ModelNotFoundError):
            raise ModelNotFoundError(model, exc.error, 404, body=exc.body) from None
        raise


def _responses(http: Client, body: dict[str, Any], batches: list[list[str]]
               ) -> Generator[bytes, None, None]:
    """Response bodies of ``/api/embed`` for each batch, in order.

    With several batches a helper thread fetches the next body while the caller parses
    the current one (socket reads and the server's work overlap the JSON parsing). It
    sends one request at a time, so one connection is reused throughout, and holds at
    most one finished body ahead of the caller, so memory stays at about one batch.
    """
    if len(batches) == 1:
        yield http.request_raw("POST", "/api/embed", json={**body, "input": batches[0]}).content
        return
    handoff: queue.Queue[tuple[bytes | None, BaseException | None]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand(item: tuple[bytes | None, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            for batch in batches:
                if stop.is_set():
                    return
                response = http.request_raw("POST", "/api/embed", json={**body, "input": batch})
                if not hand((response.content, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread, raised there
            hand((None, exc))

    worker = threading.Thread(target=fetch, name="ollama_nb.embed-fetch", daemon=True)
    worker.start()
    try:
        for _ in batches:
            content, error = handoff.get()
            if error is not None:
                raise error
            assert content is not None
            yield content
    finally:
        stop.set()
        worker.join(timeout=0.5)  # a request in flight finishes on its own (daemon thread)


def _parse(content: bytes, expected: int, model: str) -> list[list[float]]:
    """The ``embeddings`` of one /api/embed body: ``expected`` non-empty lists of numbers."""
    try:
        vectors = json.loads(content)["embeddings"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ResponseError(f"/api/embed returned an unreadable body for model {model!r} "
                            f"({type(exc).__name__}: {exc})", 200) from None
    if not isinstance(vectors, list) or len(vectors) != expected or not (
            isinstance(vectors[0], list) and vectors[0]):
        count = len(vectors) if isinstance(vectors, list) else type(vectors).__name__
        raise ResponseError(f"/api/embed returned {count} vectors for {expected} texts "
                            f"(model {model!r})", 200)
    return vectors

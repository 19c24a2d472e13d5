"""``embed`` and ``map_prompts`` on Dask collections (public face: :mod:`ollama_nb.dask`).

Both build a lazy collection with ``map_partitions``: each partition goes through the
pandas function of the same name, over the same hosts (a :class:`Hosts` resolved here,
in the client, and shipped with the graph), so a partition's rows are exactly what
the pandas path gives for them. ``meta`` is known up front: float32 columns for
embeddings (one probe request asks the width; the column names are strings, which
Parquet requires), the schema's dtypes for structured answers.

Every worker process keeps its own connection pool (the session's cached clients).
What one host may run at once is bounded across all workers, not per worker: on a
``dask.distributed`` worker each request holds a lease of a ``distributed.Semaphore``
named after the host and its limit (leases of a worker that dies expire after
``distributed.scheduler.locks.lease-timeout``), and in a single process (the threaded
scheduler) a process-wide semaphore does the same. Rows that ``map_prompts`` finished
are in its answer cache, so a partition recomputed after a worker died asks only for
the rest.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..client._errors import InvalidArgumentError, ResponseError
from ..client._host import DEFAULT_HOST
from ..client._hosts import Hosts
from ..client._schema import Schema
from ..client._session import session
from . import _batch, _embeddings
from ._spread import GATE, pull_missing, targets

try:
    import dask.dataframe as dd
except ImportError:  # pragma: no cover - the message is the point
    raise ImportError("ollama_nb.dask needs Dask: pip install 'ollama-nb[dask]' "
                      "(dask[dataframe] and distributed)") from None

__all__ = ["embed", "map_prompts"]

_PROBE = "dimension probe"


def _hosts(what: str, host: str | None, hosts: Any) -> Hosts:
    """The hosts every worker will use, fixed now (workers may have another OLLAMA_HOST)."""
    if hosts is not None and host is not None:
        raise InvalidArgumentError(f"{what}: pass either hosts= or host=, not both")
    chosen = Hosts.coerce(hosts) if hosts is not None else None
    if chosen is None and host is None:
        chosen = session.hosts
    if chosen is None:
        url = host or session.host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
        chosen = Hosts([url], timeout=session.timeout)
    return chosen


def _collection(what: str, data: Any, *, frame_ok: bool) -> None:
    if not isinstance(data, (dd.Series, dd.DataFrame)):
        raise InvalidArgumentError(
            f"ollama_nb.dask.{what} takes a Dask Series or DataFrame, got {type(data).__name__}; "
            f"for pandas use ollama_nb.{what}, or make one with dd.from_pandas(data, npartitions=8)")
    if isinstance(data, dd.DataFrame) and not frame_ok and len(data.columns) != 1:
        raise InvalidArgumentError(
            f"{what}: got a Dask DataFrame with {len(data.columns)} columns; pass one column, "
            f"e.g. ddf[{str(data.columns[0]) if len(data.columns) else 'col'!r}]")


# -- embed ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _EmbedJob:
    model: str
    width: int
    hosts: Hosts
    concurrency: int
    settings: dict[str, Any] = field(default_factory=dict)


def embed(texts: Any, model: str | None = None, *, batch_size: int = _embeddings.DEFAULT_BATCH_SIZE,
          dimensions: int | None = None, truncate: bool | None = None, keep_alive: Any = None,
          options: Mapping[str, Any] | None = None, host: str | None = None, hosts: Any = None,
          concurrency: int = 1, pull: bool = False) -> dd.DataFrame:
    """Embed a Dask Series (or one-column DataFrame) of texts, partition by partition.

    Returns a lazy Dask DataFrame with the input's index and float32 columns ``"0"`` ..
    ``"dim-1"`` (strings, so ``to_parquet`` writes it as it goes; the pandas ``embed``
    names them with integers). One request is made now, to learn the width. The other
    arguments are those of :func:`ollama_nb.embed`; no ``.attrs`` travel with Dask.
    """
    import numpy as np
    import pandas as pd

    _collection("embed", texts, frame_ok=False)
    model = model or session.embed_model
    chosen = _hosts("embed", host, hosts)
    settings = {"batch_size": batch_size, "dimensions": dimensions, "truncate": truncate,
                "keep_alive": keep_alive, "options": dict(options) if options else None}
    if pull:
        pull_missing("embed", targets("embed", host=None, client=None, hosts=chosen,
                                      concurrency=concurrency), model)
    probe = _embeddings.embed([_PROBE], model, hosts=chosen, concurrency=concurrency,
                              progress=False, **settings)
    width = probe.shape[1]
    columns = [str(i) for i in range(width)]
    meta = pd.DataFrame(np.empty((0, width), dtype=np.float32), columns=columns,
                        index=texts._meta.index)
    job = _EmbedJob(model, width, chosen, concurrency, settings)
    return texts.map_partitions(_embed_partition, job, meta=meta)


def _embed_partition(part: Any, job: _EmbedJob) -> Any:
    import numpy as np
    import pandas as pd

    with _gated():
        frame = _embeddings.embed(part, job.model, hosts=job.hosts, concurrency=job.concurrency,
                                  progress=False, **job.settings)
    if frame.shape[1] == 0:  # no partition rows, or only empty texts: NaN rows of the width
        frame = pd.DataFrame(np.full((len(frame), job.width), np.nan, dtype=np.float32),
                             index=frame.index)
    elif frame.shape[1] != job.width:
        raise ResponseError(f"/api/embed returned {frame.shape[1]} numbers per vector for "
                            f"{job.model!r}, but {job.width} when the collection was built "
                            f"(do the hosts have the same model?)", 200)
    frame.columns = [str(i) for i in range(job.width)]
    frame.attrs = {}  # the texts would travel back to the client with every partition
    return frame


# -- map_prompts ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _PromptJob:
    template: str
    model: str
    hosts: Hosts
    concurrency: int
    settings: dict[str, Any] = field(default_factory=dict)


def map_prompts(data: Any, template: str, model: str | None = None, *, schema: Any = None,
                system: str | None = None, options: Mapping[str, Any] | None = None,
                think: bool | str | None = None, keep_alive: Any = None, concurrency: int = 4,
                cache: bool = True, cache_dir: str | None = None, host: str | None = None,
                hosts: Any = None, pull: bool = False) -> dd.Series | dd.DataFrame:
    """Answer ``template`` for every row of a Dask DataFrame or Series, partition by partition.

    Returns a lazy Dask Series (``"answer"``, string dtype) or, with ``schema``, a Dask
    DataFrame with the schema's typed columns and ``error``, aligned with ``data``'s
    index. Unknown ``{{names}}`` are an error now, before anything runs. Answers go to
    the answer cache as they arrive (``cache_dir`` must be a folder every worker can
    write; the default is each worker's own), so a rerun, or a partition recomputed
    after a worker died, asks only for what is missing. The other arguments are those
    of :func:`ollama_nb.map_prompts`.
    """
    _collection("map_prompts", data, frame_ok=True)
    model = model or session.model
    if not isinstance(model, str) or not model.strip():
        raise InvalidArgumentError("map_prompts needs a model: pass model='llama3.2' or set a "
                                   "default with %ollama model NAME")
    index, _ = _batch.render(template, data._meta)  # unknown {{names}} fail here, not on a worker
    typed = Schema(schema) if schema is not None else None
    meta, _ = _batch._assemble(index, [], {}, {}, typed)
    schema_dict = typed.json if typed is not None else None  # workers get plain JSON: it pickles
    chosen = _hosts("map_prompts", host, hosts)
    if pull:
        pull_missing("map_prompts", targets("map_prompts", host=None, client=None, hosts=chosen,
                                            concurrency=concurrency), model)
    job = _PromptJob(template, model, chosen, concurrency, {
        "schema": schema_dict, "system": system, "options": dict(options) if options else None,
        "think": think, "keep_alive": keep_alive, "cache": cache, "cache_dir": cache_dir})
    return data.map_partitions(_prompt_partition, job, meta=meta)


def _prompt_partition(part: Any, job: _PromptJob) -> Any:
    import warnings

    with _gated(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a worker's warnings reach nobody; errors stay in cells
        result = _batch.map_prompts(part, job.template, job.model, hosts=job.hosts,
                                    concurrency=job.concurrency, progress=False, **job.settings)
    result.attrs = {}
    return result


# -- bounding each host across workers ----------------------------------------------------
class _LocalGate:
    """Process-wide leases per (host, limit): threads of the threaded scheduler share them."""

    _lock = threading.Lock()
    _semaphores: dict[tuple[str, int], threading.BoundedSemaphore] = {}

    def _semaphore(self, url: str, limit: int) -> threading.BoundedSemaphore:
        with self._lock:
            return self._semaphores.setdefault((url, limit), threading.BoundedSemaphore(limit))

    def acquire(self, url: str, limit: int, timeout: float) -> bool:
        return self._semaphore(url, limit).acquire(timeout=timeout)

    def release(self, url: str, limit: int) -> None:
        self._semaphore(url, limit).release()


class _DistributedGate:
    """A ``distributed.Semaphore`` per (host, limit), shared by every worker of the cluster;
    this worker process keeps one instance of each (each refreshes its leases). Made in a
    task's thread (``worker``), used from the run's own threads."""

    _lock = threading.Lock()
    _semaphores: dict[tuple[str, int], Any] = {}

    def __init__(self, worker: Any) -> None:
        self._worker = worker

    def _semaphore(self, url: str, limit: int) -> Any:
        from distributed import Semaphore

        with self._lock:
            found = self._semaphores.get((url, limit))
            if found is None:
                found = self._semaphores[(url, limit)] = Semaphore(
                    max_leases=limit, name=f"ollama_nb-host-{limit}-{url}",
                    scheduler_rpc=self._worker.scheduler, loop=self._worker.loop)
            return found

    def acquire(self, url: str, limit: int, timeout: float) -> bool:
        return bool(self._semaphore(url, limit).acquire(timeout=timeout))

    def release(self, url: str, limit: int) -> None:
        self._semaphore(url, limit).release()


def _distributed_worker() -> Any:
    """The ``distributed`` worker running this task, or None."""
    try:
        from distributed import get_worker
    except ImportError:
        return None
    try:
        return get_worker()
    except ValueError:
        return None


@contextlib.contextmanager
def _gated() -> Iterator[None]:
    """Requests made in this block hold a lease of their host (see the module docstring)."""
    worker = _distributed_worker()
    gate = _DistributedGate(worker) if worker is not None else _LocalGate()
    reset = GATE.set(gate)
    try:
        yield
    finally:
        GATE.reset(reset)

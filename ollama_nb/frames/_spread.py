"""Work spread over one or several Ollama hosts: each free slot pulls the next item.

``embed`` (items = batches) and ``map_prompts`` (items = distinct prompts) hand their
items to :class:`Spread`. Every host gets as many worker threads as its concurrency;
a worker takes the next item only when it is free, so a fast host simply comes back
for more sooner than a slow one and both stay busy to the end (work-pulling, not
round-robin). Results come back to the caller's thread as events, in completion
order; the caller puts each one at its rows, so the result is the same whichever
host answered.

With one host given as ``host=``/``client=`` (the plain call) errors keep their
one-host meaning. With ``hosts=`` (or the session's ``%ollama hosts``) a host that
refuses, drops the connection, times out or answers 502/503/504 is *down*: its item
goes back to the front of the queue for another host, and the host is asked again
(``HEAD /``) after a backoff that doubles up to 10 s; it rejoins when it answers. A
JSON 500 is tried once on another host (it may be the host, or the row). A host
without the model is left out with a :class:`HostsWarning` (or, with ``pull=True``,
pulls it first). When every host has failed ``retries + 1`` times in a row, the run
stops (:class:`~ollama_nb.HostsDownError`, raised by the caller with its rows kept).

A *gate* (set through :data:`GATE` by the Dask layer) can bound each host's
concurrency across processes: a worker holds one of its leases while it has an item.
"""

from __future__ import annotations

import contextvars
import queue
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..client._errors import (
    ConnectError,
    InvalidArgumentError,
    ModelNotFoundError,
    OllamaError,
    OllamaTimeout,
    ResponseError,
    StreamError,
)
from ..client._hosts import Hosts, track
from ..client._session import get_client, session

if TYPE_CHECKING:  # pragma: no cover
    from ..client._client import Client

__all__ = ["GATE", "Done", "Failed", "Gate", "HostsWarning", "Progress", "Spread", "Target",
           "message", "targets"]

MAX_BACKOFF = 10.0
PROBE_TIMEOUT = 2.0


class HostsWarning(UserWarning):
    """A host of a run over several hosts was left out (it lacks the model, or its pull failed)."""


class Gate(Protocol):
    """Leases per host shared beyond this process (the Dask layer's distributed semaphores)."""

    def acquire(self, url: str, limit: int, timeout: float) -> bool: ...

    def release(self, url: str, limit: int) -> None: ...


#: the gate for runs started in this context (None: only this call's own threads bound it)
GATE: contextvars.ContextVar[Gate | None] = contextvars.ContextVar("ollama_nb_gate", default=None)


@dataclass
class Target:
    """Where a call sends its work: the clients, their slots, and whether to fail over."""

    clients: list[Client]
    slots: list[int]
    failover: bool
    retries: int = 3
    backoff: float = 0.5


def targets(what: str, *, host: str | None, client: Client | None, hosts: Any,
            concurrency: int) -> Target:
    """Resolve ``host=``/``client=``/``hosts=`` (then the session's hosts, then its host)."""
    if hosts is not None and (host is not None or client is not None):
        raise InvalidArgumentError(f"{what}: pass either hosts= or host=/client=, not both")
    chosen = Hosts.coerce(hosts) if hosts is not None else None
    if chosen is None and host is None and client is None:
        chosen = session.hosts
    if chosen is None:
        return Target([get_client(host, client)], [concurrency], failover=False)
    clients = [session.client(url, chosen.timeout) for url in chosen]
    return Target(clients, chosen.limits(concurrency), failover=True, retries=chosen.retries,
                  backoff=chosen.backoff)


@dataclass
class Done:
    """Item ``index`` was answered by ``host`` with ``value``."""

    index: int
    value: Any
    host: HostState


@dataclass
class Failed:
    """Item ``index`` failed for good (a row error): ``message`` says why."""

    index: int
    message: str
    host: HostState


class AllDown(Exception):
    """Every host failed ``retries + 1`` times in a row; ``errors`` has each one's last error."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass(eq=False)
class HostState:
    """One host in a run: its state, its workers' bookkeeping, and what it did."""

    client: Client
    slots: int
    state: str = "up"  # up | down | out
    failures: int = 0  # in a row
    down_until: float = 0.0
    probing: bool = False
    in_flight: int = 0
    rows: int = 0
    errors: int = 0
    last_error: str | None = None
    tokens: int = 0
    first: float | None = None
    last: float | None = None

    @property
    def url(self) -> str:
        return self.client.base_url

    @property
    def label(self) -> str:
        return self.url.split("://", 1)[-1]

    def rate(self) -> float:
        span = (self.last or 0.0) - (self.first or 0.0)
        return self.rows / span if span > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        span = (self.last - self.first) if self.first is not None and self.last is not None else 0.0
        return {"host": self.url, "rows": self.rows, "errors": self.errors,
                "last_error": self.last_error, "tokens": self.tokens,
                "seconds": round(span, 3),
                "tokens_per_s": round(self.tokens / span, 1) if span > 0 else None,
                "state": {"up": "up", "down": "down", "out": "left out"}[self.state]}


def message(exc: BaseException) -> str:
    """The one line a failed row keeps."""
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return text if isinstance(exc, OllamaError) else f"{type(exc).__name__}: {text}"


def _reason(exc: BaseException) -> str:
    """A few words for a host's last error (the long messages name the URL already)."""
    if isinstance(exc, ConnectError):
        return getattr(exc, "reason", "") or "cannot connect"
    if isinstance(exc, OllamaTimeout):
        return "timed out"
    if isinstance(exc, StreamError):
        return "the connection dropped mid-answer"
    if isinstance(exc, ResponseError):
        return f"{exc.status_code} {exc.error[:60]}" if exc.status_code >= 400 else exc.error[:60]
    return message(exc)[:80]


# what a failure means for the run
_FATAL, _ROW, _MISSING, _HOST, _TIMEOUT, _SERVER = range(6)


def _kind(exc: BaseException, failover: bool) -> int:
    if isinstance(exc, InvalidArgumentError):
        return _FATAL
    if isinstance(exc, ModelNotFoundError):
        return _MISSING if failover else _FATAL
    if not failover:
        return _FATAL if isinstance(exc, ConnectError) else _ROW
    if isinstance(exc, OllamaTimeout):
        return _TIMEOUT
    if isinstance(exc, (ConnectError, StreamError)):
        return _HOST
    if isinstance(exc, ResponseError):
        if exc.status_code in (502, 503, 504) or (exc.status_code >= 500 and exc.body is None):
            return _HOST  # a gateway, a busy server, or a non-JSON 5xx page: the host, not the row
        if exc.status_code >= 500:
            return _SERVER
    return _ROW


class Spread:
    """Run ``work(client, item)`` for every item over the target's hosts (see the module doc).

    ``row_errors``: a failure that belongs to the item becomes a :class:`Failed` event
    (map_prompts) instead of stopping the run (embed). ``ready``: most finished values
    waiting for the caller (0: no bound); bounds memory when values are large.
    """

    def __init__(self, what: str, target: Target, model: str, *, row_errors: bool,
                 thread_name: str, ready: int = 0) -> None:
        self.what, self.model, self.row_errors = what, model, row_errors
        self.failover, self.retries, self.backoff = target.failover, target.retries, target.backoff
        self.hosts = [HostState(c, s) for c, s in zip(target.clients, target.slots)]
        self.thread_name = thread_name
        self.gate = GATE.get()
        self._cond = threading.Condition()
        self._pending: deque[int] = deque()
        self._avoid: dict[int, set[int]] = {}  # item -> hosts that gave it a 500
        self._timeouts: dict[int, int] = {}
        self._in_flight = 0
        self._over = False
        self._stop: BaseException | None = None  # why the run stopped early
        self._notes: list[str] = []  # HostsWarning lines, warned from the caller's thread
        self._events: queue.Queue[Any] = queue.Queue(maxsize=ready)
        self._threads: list[threading.Thread] = []

    # -- the caller's side ----------------------------------------------------------------
    def run(self, items: Sequence[Any], work: Callable[[Client, Any], Any], *,
            join: float = 0.0) -> Generator[Done | Failed, None, None]:
        """Yield one event per item (completion order). Raises the error that stops the
        run: a fatal one, :class:`AllDown`, or the ModelNotFoundError when no host has the
        model. On exit (done, error, interrupt) no worker takes another item; requests in
        flight finish on their own (waited for up to ``join`` seconds)."""
        self._items, self._work = items, work
        self._pending.extend(range(len(items)))
        for number, host in enumerate(self.hosts):
            for slot in range(min(host.slots, len(items)) if items else 0):
                thread = threading.Thread(target=self._worker, args=(host,), daemon=True,
                                          name=f"{self.thread_name}-{number}.{slot}")
                self._threads.append(thread)
                thread.start()
        left = len(items)
        try:
            while left:
                stop = self._stop
                try:
                    event = self._events.get(timeout=0.1 if stop is None else 0)
                except queue.Empty:
                    if stop is not None:  # what had finished before the stop was yielded
                        raise stop from None
                    continue
                left -= 1
                self._warn()  # only when the run goes on: no host with the model is an error
                yield event
            self._warn()
        finally:
            with self._cond:
                self._over = True
                self._pending.clear()
                self._cond.notify_all()
            deadline = time.monotonic() + join
            for thread in self._threads:
                thread.join(max(0.0, deadline - time.monotonic()))

    def _warn(self) -> None:
        while self._notes:
            warnings.warn(self._notes.pop(0), HostsWarning, stacklevel=4)

    def summary(self) -> list[dict[str, Any]]:
        """What each host did: rows, errors, last error, tokens, seconds, tokens/s, state."""
        return [h.summary() for h in self.hosts]

    def provenance(self, endpoint: str, body: Mapping[str, Any], **counts: Any) -> dict[str, Any]:
        """The run's provenance over the hosts that answered (the first host if none had to)."""
        from ..client._provenance import run_provenance

        used = [h.client for h in self.hosts if h.rows] or [self.hosts[0].client]
        tokens = sum(h.tokens for h in self.hosts)
        return run_provenance(used, endpoint, body, **counts,
                              **{"prompt_eval_count" if endpoint == "/api/embed"
                                 else "eval_count": tokens})

    def rates(self) -> str:
        """``host rate/s`` for each host, for a progress bar (only when there are several)."""
        if len(self.hosts) < 2:
            return ""
        parts = []
        for h in self.hosts:
            state = {"down": " down", "out": " left out"}.get(h.state, "")
            parts.append(f"{h.label} {h.rate():.1f}/s{state}")
        return ", ".join(parts)

    # -- the workers ----------------------------------------------------------------------
    def _worker(self, host: HostState) -> None:
        limit = host.slots
        while True:
            if self.gate is not None:
                while not self.gate.acquire(host.url, limit, 0.5):
                    if self._over:
                        return
            try:
                index = self._take(host)
                if index is None:
                    return
                self._attempt(host, index)
            finally:
                if self.gate is not None:
                    self.gate.release(host.url, limit)

    def _take(self, host: HostState) -> int | None:
        with self._cond:
            while True:
                if self._over or host.state == "out":
                    return None
                if host.state == "down":
                    wait = host.down_until - time.monotonic()
                    if host.probing or wait > 0:
                        self._cond.wait(wait if wait > 0 else None)
                        continue
                    host.probing = True
                    self._cond.release()
                    try:
                        alive = host.client.is_reachable(PROBE_TIMEOUT)
                    finally:
                        self._cond.acquire()
                        host.probing = False
                    if alive:
                        host.state = "up"
                    else:
                        self._down(host)
                    self._cond.notify_all()
                    continue
                index = next((i for i in self._pending if self._may_take(host, i)), None)
                if index is not None:
                    self._pending.remove(index)
                    host.in_flight += 1
                    self._in_flight += 1
                    return index
                if not self._pending and not self._in_flight:
                    return None  # all handed out and answered
                self._cond.wait()

    def _number(self, host: HostState) -> int:
        return self.hosts.index(host)

    def _may_take(self, host: HostState, index: int) -> bool:
        """Not an item this host gave a 500, unless no other host can take it now."""
        avoided = self._avoid.get(index)
        if not avoided or self._number(host) not in avoided:
            return True
        return not any(h.state == "up" and n not in avoided for n, h in enumerate(self.hosts))

    def _attempt(self, host: HostState, index: int) -> None:
        started = time.monotonic()
        try:
            with track(host.url):
                value = self._work(host.client, self._items[index])
        except BaseException as exc:  # noqa: BLE001 - classified; fatal ones reach the caller
            self._failed(host, index, exc, started)
            return
        with self._cond:
            host.failures = 0
            host.in_flight -= 1
            self._in_flight -= 1
            host.first = started if host.first is None else min(host.first, started)
            host.last = time.monotonic()
            self._cond.notify_all()
        self._put(Done(index, value, host))

    def _put(self, event: Any) -> None:
        while True:
            try:
                self._events.put(event, timeout=0.1)
                return
            except queue.Full:
                if self._over:
                    return

    def _failed(self, host: HostState, index: int, exc: BaseException, started: float) -> None:
        kind = _kind(exc, self.failover)
        if kind == _ROW and not self.row_errors:
            kind = _FATAL
        event: Failed | None = None
        with self._cond:
            host.in_flight -= 1
            self._in_flight -= 1
            host.errors += 1
            host.last_error = _reason(exc)
            if kind == _FATAL:
                self._end(exc)
            elif kind == _MISSING:
                self._pending.appendleft(index)
                if host.state != "out":
                    self._left_out(host, exc)
            elif kind in (_HOST, _TIMEOUT):
                tries = self._timeouts[index] = self._timeouts.get(index, 0) + (kind == _TIMEOUT)
                if tries > self.retries:  # this item times out wherever it goes
                    event = self._row(host, index, exc)
                else:
                    self._pending.appendleft(index)
                self._down(host)
            elif kind == _SERVER:
                avoided = self._avoid.setdefault(index, set())
                first = not avoided
                avoided.add(self._number(host))
                elsewhere = any(h.state == "up" and n not in avoided for n, h in enumerate(self.hosts))
                if first and elsewhere:
                    self._pending.appendleft(index)  # once more, on another host
                else:
                    event = self._row(host, index, exc)
            else:
                event = Failed(index, message(exc), host)
            self._cond.notify_all()
        if event is not None:
            self._put(event)

    def _row(self, host: HostState, index: int, exc: BaseException) -> Failed | None:
        """A row error, or (embed, which has no row errors) the end of the run."""
        if self.row_errors:
            return Failed(index, message(exc), host)
        self._end(exc)
        return None

    def _end(self, error: BaseException) -> None:
        """Stop the run with ``error`` (the first reason wins)."""
        self._over = True
        if self._stop is None:
            self._stop = error

    def _down(self, host: HostState) -> None:
        """Mark ``host`` down with its next backoff; stop the run when every host is spent."""
        host.state = "down"
        host.failures += 1
        host.down_until = time.monotonic() + min(self.backoff * 2 ** (host.failures - 1), MAX_BACKOFF)
        self._check_spent()

    def _check_spent(self) -> None:
        if all(h.state == "out" or (h.state == "down" and h.failures > self.retries and not h.probing)
               for h in self.hosts):
            self._end(AllDown(self._last_errors()))

    def _left_out(self, host: HostState, exc: BaseException) -> None:
        """``host`` lacks the model: leave it out with one line; stop if no host has it."""
        host.state = "out"
        if all(h.state == "out" for h in self.hosts):
            self._end(exc)
            return
        self._notes.append(f"{self.what}: {host.url} does not have {self.model!r}, so it is left "
                           f"out (pull it there, or pass pull=True)")
        self._check_spent()

    def _last_errors(self) -> dict[str, str]:
        return {h.url: ("left out: no " + repr(self.model)) if h.state == "out"
                else (h.last_error or "down") for h in self.hosts}


class Progress:
    """A tqdm bar (``progress=True``/None past a size) or a ``callable(done, total)``, with
    each host's rate in the bar's postfix when there are several hosts."""

    def __init__(self, progress: Any, total: int, initial: int, desc: str, unit: str,
                 show: bool) -> None:
        self.done, self.total = initial, total
        self._call = progress if callable(progress) else None
        self._bar = None
        self._shown = 0.0
        if self._call is None and show:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, initial=initial, desc=desc, unit=unit)

    def step(self, n: int, spread: Spread | None = None) -> None:
        self.done += n
        if self._call is not None:
            self._call(self.done, self.total)
        if self._bar is not None:
            self._bar.update(n)
            now = time.monotonic()
            if spread is not None and now - self._shown > 0.5:
                self._shown = now
                rates = spread.rates()
                if rates:
                    self._bar.set_postfix_str(rates, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def pull_missing(what: str, target: Target, model: str) -> None:
    """``pull=True``: every reachable host without ``model`` pulls it (all at once, a
    progress bar each) before the run starts; a host whose pull fails is left out later."""
    from tqdm.auto import tqdm

    def one(client: Client) -> None:
        try:
            client.show(model)
            return
        except ModelNotFoundError:
            pass
        except OllamaError:
            return  # down now: the run finds out again, and may find it back
        bar = tqdm(total=0, desc=f"pull {model} @ {client.base_url.split('://', 1)[-1]}",
                   unit="B", unit_scale=True)
        totals: dict[str, int] = {}  # per layer digest: bytes in all, bytes so far
        done: dict[str, int] = {}
        try:
            with client.pull(model, stream=True) as stream:  # type: ignore[union-attr]
                for line in stream:
                    digest, total = line.raw.get("digest"), line.raw.get("total")
                    if digest and total:
                        totals[digest] = int(total)
                        done[digest] = int(line.raw.get("completed") or 0)
                        bar.total, bar.n = sum(totals.values()), sum(done.values())
                        bar.refresh()
        except OllamaError as exc:
            warnings.warn(f"{what}: pulling {model!r} on {client.base_url} failed ({message(exc)})",
                          HostsWarning, stacklevel=3)
        finally:
            bar.close()

    threads = [threading.Thread(target=one, args=(c,), name="ollama_nb.pull", daemon=True)
               for c in target.clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

"""``Hosts``: several Ollama servers used together, each with its own concurrency.

``embed`` and ``map_prompts`` spread their work over a ``Hosts`` (``hosts=`` or the
session's ``%ollama hosts``); the dispatching itself is in ``ollama_nb.frames._spread``.
This module holds the value (URLs, per-host limits, retry settings), a process-wide count
of requests in flight per host (for ``%ollama status``), and :meth:`Hosts.check`.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ._args import with_tag
from ._errors import InvalidArgumentError, OllamaError
from ._host import HostText, _safe, parse_host

__all__ = ["HostCheck", "Hosts", "in_flight", "track"]

_SPLIT = re.compile(r"[\s,]+")
_WITH_LIMIT = re.compile(r"^(?P<url>.+?)=(?P<limit>\d+)$")


class Hosts:
    """Several Ollama servers for one run, e.g. ``Hosts(["http://gpu1:11434", "http://gpu2:11434"])``.

    ``hosts`` is a list of URLs, a ``{url: concurrency}`` dict (``None`` for "the call's
    default"), a string of URLs separated by spaces or commas (``URL=N`` gives one a
    limit), or another ``Hosts``. ``concurrency`` is the default per-host limit (else the
    call's ``concurrency=``); ``timeout`` the read timeout (or ``(connect, read)``) of
    requests to these hosts; a host that fails is retried after ``backoff`` seconds,
    doubling up to 10 s, and a run stops with :class:`~ollama_nb.HostsDownError` only
    when every host has failed ``retries + 1`` times in a row.
    """

    __slots__ = ("_entries", "backoff", "concurrency", "retries", "timeout")
    _entries: tuple[tuple[HostText, int | None], ...]
    concurrency: int | None
    timeout: float | tuple[float, float] | None
    retries: int
    backoff: float

    def __init__(self, hosts: Any, *, concurrency: int | None = None,
                 timeout: float | tuple[float, float] | None = None, retries: int = 3,
                 backoff: float = 0.5) -> None:
        if isinstance(hosts, Hosts):
            concurrency = hosts.concurrency if concurrency is None else concurrency
            timeout = hosts.timeout if timeout is None else timeout
            hosts = dict(hosts.items())
        self.concurrency = _limit(concurrency, "concurrency")
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise InvalidArgumentError(f"retries must be an integer >= 0, got {retries!r}")
        if isinstance(backoff, bool) or not isinstance(backoff, (int, float)) or not backoff > 0:
            raise InvalidArgumentError(f"backoff must be a number of seconds > 0, got {backoff!r}")
        self.retries, self.backoff, self.timeout = retries, float(backoff), timeout
        entries: list[tuple[HostText, int | None]] = []
        for url, limit in _pairs(hosts):
            base = parse_host(url, source="hosts").base_url
            if any(parse_host(seen, source="hosts").base_url == base for seen, _ in entries):
                raise InvalidArgumentError(f"hosts: {_safe(url)!r} is listed twice")
            entries.append((HostText(url), _limit(limit, f"concurrency of {_safe(url)!r}")))
        if not entries:
            raise InvalidArgumentError("hosts: no URL given; pass e.g. "
                                       "Hosts(['http://gpu1:11434', 'http://gpu2:11434'])")
        self._entries = tuple(entries)

    @classmethod
    def coerce(cls, value: Any) -> Hosts | None:
        """``value`` as a ``Hosts`` (``None``, ``""`` and ``[]`` stay ``None``)."""
        if value is None or isinstance(value, Hosts):
            return value
        if isinstance(value, (str, list, tuple, dict)) and not value:
            return None
        return cls(value)

    def items(self) -> Iterator[tuple[str, int | None]]:
        """``(url as given, its own limit or None)`` in order."""
        return iter(self._entries)

    @property
    def urls(self) -> list[str]:
        """The base URLs (no credentials), in order."""
        return [parse_host(url).base_url for url, _ in self._entries]

    def limits(self, default: int) -> list[int]:
        """The concurrency of each host: its own, else ``concurrency``, else ``default``."""
        return [limit or self.concurrency or default for _, limit in self._entries]

    def __iter__(self) -> Iterator[str]:
        return (url for url, _ in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hosts):
            return NotImplemented
        return (self._entries, self.concurrency, self.timeout, self.retries, self.backoff) == (
            other._entries, other.concurrency, other.timeout, other.retries, other.backoff)

    def __hash__(self) -> int:
        return hash(self._entries)

    def __getstate__(self) -> dict[str, Any]:  # pickled to Dask workers
        return {name: getattr(self, name) for name in self.__slots__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        shown = {_safe(url): limit for url, limit in self._entries}
        extra = "".join(f", {name}={getattr(self, name)!r}" for name, default in
                        (("concurrency", None), ("timeout", None), ("retries", 3),
                         ("backoff", 0.5)) if getattr(self, name) != default)
        return f"Hosts({shown!r}{extra})"

    def check(self, models: Iterable[str] = (), timeout: float = 3.0) -> list[HostCheck]:
        """Ask every host at once whether it answers: version, model count, which of
        ``models`` it lacks, and this process's requests in flight to it."""
        import concurrent.futures as cf

        from ._client import Client

        wanted = [m for m in models if m]

        def one(url: str) -> HostCheck:
            with Client(url, timeout=(min(timeout, 2.0), timeout)) as client:
                try:
                    version = client.version()
                    names = [m.model for m in client.list().models]
                except OllamaError as exc:
                    return HostCheck(client.base_url, False, None, None, (),
                                     in_flight(client.base_url), exc.message)
            have = {_tagged(n) for n in names}
            lacks = tuple(m for m in wanted if _tagged(m) not in have)
            return HostCheck(client.base_url, True, version, len(names), lacks,
                             in_flight(client.base_url))

        with cf.ThreadPoolExecutor(max_workers=len(self), thread_name_prefix="ollama_nb.hosts") as pool:
            return list(pool.map(one, list(self)))


@dataclass(frozen=True)
class HostCheck:
    """One row of :meth:`Hosts.check`."""

    host: str
    reachable: bool
    version: str | None
    models: int | None
    lacks: tuple[str, ...]
    in_flight: int
    error: str | None = None


def _tagged(name: str) -> str:
    return with_tag(name.strip().lower())


def _limit(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{what} must be a positive integer, got {value!r}")
    return value


def _pairs(hosts: Any) -> list[tuple[str, Any]]:
    """``(url, limit)`` pairs from the forms :class:`Hosts` accepts."""
    if isinstance(hosts, str):
        hosts = [word for word in _SPLIT.split(hosts.strip()) if word]
    if isinstance(hosts, Mapping):
        return [(_url(url), limit) for url, limit in hosts.items()]
    if not isinstance(hosts, Iterable):
        raise InvalidArgumentError(f"hosts must be a list of URLs or a {{url: concurrency}} dict, "
                                   f"got {type(hosts).__name__}")
    pairs: list[tuple[str, Any]] = []
    for item in hosts:
        url = _url(item)
        match = _WITH_LIMIT.match(url)
        pairs.append((match["url"], int(match["limit"])) if match else (url, None))
    return pairs


def _url(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError(f"hosts: expected a URL string, got {value!r}")
    return value.strip()


# -- requests in flight, per host, in this process -----------------------------------------
_IN_FLIGHT: Counter[str] = Counter()
_IN_FLIGHT_LOCK = threading.Lock()


@contextlib.contextmanager
def track(base_url: str) -> Iterator[None]:
    """Count one request to ``base_url`` as in flight while the block runs."""
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT[base_url] += 1
    try:
        yield
    finally:
        with _IN_FLIGHT_LOCK:
            _IN_FLIGHT[base_url] -= 1
            if not _IN_FLIGHT[base_url]:
                del _IN_FLIGHT[base_url]


def in_flight(base_url: str) -> int:
    """Requests to ``base_url`` that this process is waiting for now."""
    with _IN_FLIGHT_LOCK:
        return _IN_FLIGHT.get(base_url, 0)

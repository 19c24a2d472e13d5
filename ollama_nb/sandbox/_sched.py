"""Capacity: parallel slots per model, a bounded queue behind them, and compute time.

A real server runs at most ``OLLAMA_NUM_PARALLEL`` requests per loaded model at once
(embedding models always one: sched.go loads them with ``numParallel = 1``); later
requests wait in a queue of at most ``OLLAMA_MAX_QUEUE`` and beyond that get a 503 with
:data:`BUSY` (server/sched.go ``ErrMaxQueue``, sent as a JSON error by routes.go's
``handleScheduleError``). The sandbox does the same when ``num_parallel`` is set, and
``tokens_per_second`` makes every generated token (and every embedded input token)
cost time in its slot, so several sandboxes behave like machines of different speeds.

Simplification: the real 503 comes from the scheduler's pending channel, which only
fills while a model is being loaded; here every request that cannot start at once
counts against the queue, which is what the FAQ describes and what a client sees
from a busy server.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

from ._wire import ApiError

__all__ = ["BUSY", "Scheduler", "Stopping"]

#: the real text, two spaces included (server/sched.go ErrMaxQueue)
BUSY = "server busy, please try again.  maximum pending requests exceeded"


class Stopping(Exception):
    """The sandbox is stopping while a request waits for a slot: drop the connection."""


class Scheduler:
    """FIFO slots per model key; counts what runs and waits (``running``, ``queued``, ``peak``)."""

    def __init__(self, num_parallel: int | None = None, max_queue: int = 512,
                 tokens_per_second: float | None = None) -> None:
        if num_parallel is not None and (not isinstance(num_parallel, int) or num_parallel < 1):
            raise ValueError(f"num_parallel must be a positive integer or None, got {num_parallel!r}")
        if not isinstance(max_queue, int) or max_queue < 0:
            raise ValueError(f"max_queue must be an integer >= 0, got {max_queue!r}")
        if tokens_per_second is not None and not tokens_per_second > 0:
            raise ValueError(f"tokens_per_second must be > 0 or None, got {tokens_per_second!r}")
        self.num_parallel = num_parallel
        self.max_queue = max_queue
        self.tokens_per_second = tokens_per_second
        self._cond = threading.Condition()
        self._running: collections.Counter[str] = collections.Counter()
        self._waiting: dict[str, collections.deque[object]] = collections.defaultdict(collections.deque)
        self._stopping = False
        self.running = 0
        self.queued = 0
        self.peak = 0
        self.rejected = 0

    def seconds(self, tokens: int) -> float:
        """Compute time of ``tokens`` tokens (0 when no speed is set)."""
        return tokens / self.tokens_per_second if self.tokens_per_second else 0.0

    def admit(self, key: str, *, embedding: bool) -> Callable[[], None]:
        """Wait for a slot of model ``key``; returns the (idempotent) release.

        Raises ``ApiError(503, BUSY)`` when the queue is full and :class:`Stopping` when
        the sandbox stops while the request waits.
        """
        limit = None if self.num_parallel is None else (1 if embedding else self.num_parallel)
        with self._cond:
            if self._stopping:
                raise Stopping
            if limit is not None and (self._running[key] >= limit or self._waiting[key]):
                if self.queued >= self.max_queue:
                    self.rejected += 1
                    raise ApiError(503, BUSY)
                ticket = object()
                queue = self._waiting[key]
                queue.append(ticket)
                self.queued += 1
                self._note_peak()
                try:
                    while not self._stopping and (queue[0] is not ticket or self._running[key] >= limit):
                        self._cond.wait()
                finally:
                    queue.remove(ticket)
                    self.queued -= 1
                    self._cond.notify_all()  # the next in line may now be first
                if self._stopping:
                    raise Stopping
            self._running[key] += 1
            self.running += 1
            self._note_peak()
        released = False

        def release() -> None:
            nonlocal released
            with self._cond:
                if released:
                    return
                released = True
                self._running[key] -= 1
                self.running -= 1
                self._cond.notify_all()

        return release

    def _note_peak(self) -> None:
        self.peak = max(self.peak, self.running + self.queued)

    def stop(self) -> None:
        """Wake every waiting request (they raise :class:`Stopping`) and refuse new ones."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()

    def restart(self) -> None:
        with self._cond:
            self._stopping = False

    def reset_peak(self) -> None:
        with self._cond:
            self.peak = self.running + self.queued
            self.rejected = 0

    def to_json(self) -> dict[str, object]:
        with self._cond:
            return {"num_parallel": self.num_parallel, "max_queue": self.max_queue,
                    "tokens_per_second": self.tokens_per_second, "running": self.running,
                    "queued": self.queued, "peak": self.peak, "rejected": self.rejected}

"""Time-based throttling for live output, shared by the magics' display handle and the widgets.

At most one flush per ``interval``. Whatever arrives in between is merged, and it is not
left waiting for the next token: when the interval ends, a trailing flush sends it. Without
that, the tail of a burst (the last words before a slow model pauses, a stall, a tool call)
would stay hidden until the stream moved again.

The trailing flush runs on a timer thread in a copy of the caller's ``contextvars``
context, so ipykernel still routes its output to the cell that started the stream.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable

__all__ = ["Throttle"]


class Throttle:
    """Let updates through at most once per ``interval`` seconds (``None``: never).

    Two ways to use it: ``ready()`` answers "may I update now?" (for steady ticks such as
    pull progress); ``poke()`` calls ``flush`` now, or schedules it for when the interval
    ends (for token streams). ``close()`` cancels a pending flush; call it before the final
    update.
    """

    def __init__(self, interval: float | None, flush: Callable[[], None] | None = None, *,
                 clock: Callable[[], float] = time.monotonic, wait_first: bool = False) -> None:
        self.interval = interval
        self._flush = flush
        self._clock = clock
        self._last = clock() if wait_first else float("-inf")
        self._lock = threading.RLock()
        self._timer: threading.Timer | None = None
        self._closed = False

    def ready(self, *, force: bool = False) -> bool:
        """True (and the interval restarts) when an update may go out now."""
        with self._lock:
            now = self._clock()
            if force or (self.interval is not None and now - self._last >= self.interval):
                self._last = now
                return True
            return False

    def poke(self) -> None:
        """Something new arrived: flush now if the interval has passed, else flush when it does."""
        if self._flush is None or self.interval is None:
            return
        with self._lock:
            if self._closed:
                return
            now = self._clock()
            due = self._last + self.interval
            if now >= due:
                self._fire(now)
            elif self._timer is None:
                context = contextvars.copy_context()
                self._timer = threading.Timer(due - now, context.run, args=(self._on_timer,))
                self._timer.daemon = True
                self._timer.start()

    def close(self) -> None:
        """No more flushes; a pending one is cancelled (the caller sends the final update)."""
        with self._lock:
            self._closed = True
            self._cancel()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
            try:
                self._fire(self._clock())
            except Exception:  # noqa: BLE001, S110 - a failed live update must not kill the timer
                pass  # thread; the final update is still sent by the stream's owner

    def _fire(self, now: float) -> None:
        self._last = now
        self._cancel()
        assert self._flush is not None
        self._flush()

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

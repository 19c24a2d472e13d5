"""Throttled streaming into one display handle (or into a live view such as a pane).

One answer is one ``display_data`` output: ``display(bundle, raw=True,
display_id=True)`` first, then ``handle.update(...)``. That is the mechanism that
every frontend (JupyterLab, Notebook 7, VS Code, Colab, nbclient) keeps in the
saved notebook. Tokens are merged between updates; at most ``rate`` updates a
second are sent (0: none until the end), and :meth:`LiveAnswer.finish` always
sends the final bundle — at the end, on error and on interrupt. A final bundle
of ``{}`` removes the output (an error raised right after says it all).

In ``final`` mode (nbval, nbconvert) nothing is shown until :meth:`finish`,
which then makes a single plain ``display``. In a plain terminal IPython
(``stdout=True``; its display publisher would print every update in full) the
tokens are written to stdout as they arrive and the end adds only the status and
stats lines.

The view
--------
Anything with the :class:`AnswerView` methods can stand in for the live output (the
StreamPane widget does): it gets ``start(model)``, throttled ``update(text,
thinking)`` with the whole answer so far, and ``finish(result)`` with the
:class:`~ollama_nb.magics._result.OllamaResult`. A view that can be displayed
(``_repr_mimebundle_``, as every widget) *is* the output while the answer streams:
the handle shows it, the throttled updates go to it alone, and the final bundle
replaces it. So one answer is on screen, and the saved notebook holds the finished
answer as an ordinary output, not a widget that needs its state to show anything.
A view may expose ``stop_requested`` (a ``threading.Event``); when it is set, the
magic closes the stream between chunks and keeps the partial answer, as with an
interrupt. A view may also define ``attach(stream)``: it then gets the live
``Stream`` and may call ``stream.close()`` from any thread (a Stop click while the
model is slow), which ends the read at once. A view that is not displayable (the Stop
control of a background answer) shows itself, if at all, in ``start``, before the
answer's own output.

:meth:`LiveAnswer.stop` is the same Stop from code (``%ollama stop``): it sets the
answer's own flag, tells the view, and closes the stream, from any thread.

A :class:`LiveAnswer` is the sink of :func:`ollama_nb.client._loop.converse`: tool calls
arrive through :meth:`LiveAnswer.steps` and show as collapsed blocks above the answer
(one line each in a terminal) while the loop runs.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from ..display._render import streaming_bundle
from ..display._throttle import Throttle

__all__ = ["AnswerView", "LiveAnswer"]


@runtime_checkable
class AnswerView(Protocol):
    """What a live view of an answer implements (the StreamPane widget does)."""

    def start(self, model: str) -> None: ...

    def update(self, text: str, thinking: str) -> None: ...

    def finish(self, result: Any) -> None: ...


class LiveAnswer:
    """Collect chunks of one answer and show them through a throttled display handle."""

    def __init__(self, *, header: str = "", live: bool = True, rate: float = 10.0,
                 view: Any = None, clock: Callable[[], float] = time.monotonic,
                 stdout: bool = False) -> None:
        self.header = header
        self.stdout = stdout and live
        self.live = live and not self.stdout
        self.interval = 1.0 / rate if rate > 0 else None
        self.view = view
        # a widget view is shown in the handle's place while the answer streams
        self._view_shown = self.live and hasattr(view, "_repr_mimebundle_")
        self._clock = clock
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._steps: list[Any] = []  # tool calls (and what the model said before them)
        self._printed = 0  # steps written to stdout so far
        self._dirty = False
        self._throttle = Throttle(self.interval, self._push, clock=clock, wait_first=True)
        self.handle: Any = None
        self.updates = 0  # update_display_data messages sent (the final one included)
        self.finished = False
        self.started = False
        self._stop = threading.Event()
        self._stream: Any = None
        self._stream_lock = threading.Lock()

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def thinking(self) -> str:
        return "".join(self._thinking)

    @property
    def stop_requested(self) -> bool:
        """True when :meth:`stop` was called or the view (e.g. its Stop button) asked to stop."""
        event = getattr(self.view, "stop_requested", None)
        return self._stop.is_set() or (isinstance(event, threading.Event) and event.is_set())

    def stop(self) -> None:
        """Stop the answer from any thread: the view is told, the open stream is closed."""
        self._stop.set()
        stop = getattr(self.view, "stop", None)
        if callable(stop):
            stop()
        with self._stream_lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    def start(self, model: str = "") -> None:
        """Show the placeholder, or the view (live mode), and tell the view (once; a background
        answer starts before it is queued, so that its output is there at once)."""
        from IPython.display import display

        if self.started:
            return
        self.started = True
        if self.view is not None:
            self.view.start(model)
        if self._view_shown:
            self.handle = display(self.view, display_id=True)
        elif self.live:
            self.handle = display(streaming_bundle("", header=self.header), raw=True, display_id=True)
        self._throttle = Throttle(self.interval, self._push, clock=self._clock, wait_first=True)

    def attach(self, stream: Any) -> None:
        """Keep the open stream for :meth:`stop`, and hand it to a view that can close it."""
        with self._stream_lock:
            self._stream = stream
        attach = getattr(self.view, "attach", None)
        if callable(attach):
            attach(stream)
        if self._stop.is_set():  # stopped before the request was answered
            stream.close()

    def feed(self, text: str = "", thinking: str = "") -> None:
        """Add a chunk; it is shown now if the interval has passed, else when it does."""
        if text:
            self._text.append(text)
            self._dirty = True
            if self.stdout:
                sys.stdout.write(text)
                sys.stdout.flush()
        if thinking:
            self._thinking.append(thinking)
            self._dirty = True
        if self._dirty:
            self._throttle.poke()

    def steps(self, items: list[Any]) -> None:
        """The tool loop's steps so far; the text fed until now is part of them."""
        self._steps = list(items)
        self._text, self._thinking = [], []
        if self.stdout:
            from ..display._render import tool_call_text

            while self._printed < len(self._steps) and getattr(self._steps[self._printed], "done", True):
                step = self._steps[self._printed]
                if not isinstance(step, dict):
                    sys.stdout.write(tool_call_text(step) + "\n")
                elif str(step.get("content") or "").strip():  # it was printed as it came
                    sys.stdout.write("\n")
                self._printed += 1
            sys.stdout.flush()
        self._dirty = True
        self._throttle.poke()

    def _push(self) -> None:
        if not self._dirty or self.finished:
            return
        text, thinking = self.text, self.thinking
        if self.handle is not None and not self._view_shown:
            self.handle.update(streaming_bundle(text, thinking=thinking, steps=self._steps), raw=True)
            self.updates += 1
        if self.view is not None:
            self.view.update(text, thinking)
        self._dirty = False

    def finish(self, bundle: dict[str, str], result: Any = None, tail: str = "",
               metadata: dict[str, Any] | None = None) -> None:
        """Send the final bundle (always, exactly once; it replaces a shown view), then hand
        the result to the view.

        With ``stdout`` the answer is already printed: only ``tail`` (status, stats) follows.
        ``metadata`` goes with the final bundle (a saved notebook keeps it: the provenance).
        """
        if self.finished:
            return
        self._throttle.close()  # no trailing update may land after the final one
        self.finished = True
        with self._stream_lock:
            self._stream = None
        from IPython.display import display

        if self.stdout:
            sys.stdout.write("\n" + (f"\n{tail}\n" if tail else ""))
            sys.stdout.flush()
        elif self.handle is not None:
            self.handle.update(bundle, raw=True, metadata=metadata or None)
            self.updates += 1
        elif bundle:
            display(bundle, raw=True, metadata=metadata or None)
        if self.view is not None:
            try:
                self.view.finish(result)
            except Exception:  # noqa: BLE001, S110 - a broken view must not hide the answer or the error
                pass

"""Throttled streaming into one display handle (plus optional live views such as a pane).

One answer is one ``display_data`` output: ``display(bundle, raw=True,
display_id=True)`` first, then ``handle.update(...)``. That is the mechanism that
every frontend (JupyterLab, Notebook 7, VS Code, Colab, nbclient) keeps in the
saved notebook. Tokens are merged between updates; at most ``rate`` updates a
second are sent (0: none until the end), and :meth:`LiveAnswer.finish` always
sends the final bundle — at the end, on error and on interrupt.

In ``final`` mode (nbval, nbconvert) nothing is shown until :meth:`finish`,
which then makes a single plain ``display``. In a plain terminal IPython
(``stdout=True``; its display publisher would print every update in full) the
tokens are written to stdout as they arrive and the end adds only the status and
stats lines.

Views
-----
Anything with the :class:`AnswerView` methods can ride along (the StreamPane
widget does): it gets ``start(model)``, throttled ``update(text, thinking)``
with the whole answer so far, and ``finish(result)`` with the
:class:`~ollama_nb.magics._result.OllamaResult`. A view may expose
``stop_requested`` (a ``threading.Event``); when it is set, the magic closes the
stream between chunks and keeps the partial answer, as with an interrupt. A view
may also define ``attach(stream)``: it then gets the live ``Stream`` and may call
``stream.close()`` from any thread (a Stop click while the model is slow), which
ends the read at once.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
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
                 views: Sequence[Any] = (), clock: Callable[[], float] = time.monotonic,
                 stdout: bool = False) -> None:
        self.header = header
        self.stdout = stdout and live
        self.live = live and not self.stdout
        self.interval = 1.0 / rate if rate > 0 else None
        self.views = list(views)
        self._clock = clock
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._dirty = False
        self._throttle = Throttle(self.interval, self._push, clock=clock, wait_first=True)
        self.handle: Any = None
        self.updates = 0  # update_display_data messages sent (the final one included)
        self.finished = False

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def thinking(self) -> str:
        return "".join(self._thinking)

    @property
    def stop_requested(self) -> bool:
        """True when a view (e.g. a Stop button) asked to stop."""
        for view in self.views:
            event = getattr(view, "stop_requested", None)
            if isinstance(event, threading.Event) and event.is_set():
                return True
        return False

    def start(self, model: str = "") -> None:
        """Show the placeholder (live mode) and tell the views."""
        from IPython.display import display

        if self.live:
            self.handle = display(streaming_bundle("", header=self.header), raw=True, display_id=True)
        self._throttle = Throttle(self.interval, self._push, clock=self._clock, wait_first=True)
        for view in self.views:
            view.start(model)

    def attach(self, stream: Any) -> None:
        """Hand the open stream to views that can close it (``attach(stream)``)."""
        for view in self.views:
            attach = getattr(view, "attach", None)
            if callable(attach):
                attach(stream)

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

    def _push(self) -> None:
        if not self._dirty or self.finished:
            return
        text, thinking = self.text, self.thinking
        if self.handle is not None:
            self.handle.update(streaming_bundle(text, thinking=thinking), raw=True)
            self.updates += 1
        for view in self.views:
            view.update(text, thinking)
        self._dirty = False

    def finish(self, bundle: dict[str, str], result: Any = None, tail: str = "") -> None:
        """Send the final bundle (always, exactly once) and hand the result to the views.

        With ``stdout`` the answer is already printed: only ``tail`` (status, stats) follows.
        """
        if self.finished:
            return
        self._throttle.close()  # no trailing update may land after the final one
        self.finished = True
        from IPython.display import display

        if self.stdout:
            sys.stdout.write("\n" + (f"\n{tail}\n" if tail else ""))
            sys.stdout.flush()
        elif self.handle is not None:
            self.handle.update(bundle, raw=True)
            self.updates += 1
        else:
            display(bundle, raw=True)
        for view in self.views:
            try:
                view.finish(result)
            except Exception:  # noqa: BLE001, S110 - a broken view must not hide the answer or the error
                pass

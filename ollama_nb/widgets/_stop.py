"""``StopControl``: the small Stop button of an answer that streams in the background.

``%%ollama --bg`` shows it as its own output, above the answer, while the answer is
queued or streaming; when the answer ends its output is emptied, so the saved
notebook holds the answer alone. It is a view of the magic's answer (the
``AnswerView`` seam of :mod:`ollama_nb.magics._stream_display`): ``start`` shows it,
``finish`` takes it away, and a click calls ``on_stop``: the background answer's
own ``stop``, which takes a queued answer out of the queue, or has its ``LiveAnswer``
(which holds the open stream) close the stream at once. The click is handled because the cell has returned: the kernel is
free, in every frontend that handles widget messages.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ._base import muted

__all__ = ["StopControl"]


class StopControl:
    """A Stop button and one status line for background answer ``label`` (e.g. ``#2``)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.stop_requested = threading.Event()
        self.handle: Any = None
        #: called on a click (the magic sets it to the background answer's ``stop``)
        self.on_stop: Callable[[], None] = self.stop
        self.button = w.Button(
            description="Stop",
            icon="stop",
            tooltip=f"Stop {label} (closes its connection; the partial answer is kept)",
            layout=w.Layout(width="auto"),
        )
        self._status = w.HTML("")
        self.widget = w.HBox([self.button, self._status])
        self.widget.add_class("ollama-nb-bg")
        self.button.on_click(lambda _button: self.on_stop())

    def note(self, text: str) -> None:
        """Set the status line (e.g. queued, streaming)."""
        self._status.value = muted(text)

    # -- the view protocol --------------------------------------------------------------------
    def start(self, model: str = "") -> None:
        """Show the control as its own output (the answer's output follows it)."""
        if self.handle is not None:
            return
        from IPython.display import display

        bundle = dict(self.widget._repr_mimebundle_() or {})
        # what a notebook saved mid-stream keeps: true without the widget
        bundle["text/plain"] = f"({self.label} streamed in the background here, with a Stop button)"
        self.handle = display(bundle, raw=True, display_id=True)

    def update(self, text: str, thinking: str = "") -> None:
        """The answer so far: the control has nothing to show of it."""

    def stop(self) -> None:
        """The answer is stopping (told by ``LiveAnswer.stop``, from any thread)."""
        self.stop_requested.set()
        self.button.disabled = True
        self.note(f"{self.label}: stopping…")

    def finish(self, result: Any = None) -> None:
        """The answer ended: empty the control's output and close its widgets."""
        if self.handle is not None:
            self.handle.update({}, raw=True)
        for widget in (self.button, self._status, self.widget):
            widget.close()

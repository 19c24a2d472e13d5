"""``PullProgress``: per-layer progress bars for ``pull``, ``push`` and ``create``.

Feed it the progress lines of a stream (``feed(chunk)``), or let it run the
request (``run(client, "pull", "llama3.2")``). One bar per layer digest with bytes
and speed, an overall status line, and a final success or error state. Updates
are throttled (``interval``); the last state is always pushed.

Without a widget frontend (plain IPython, scripts, tests) the same object prints
short text lines instead: a status line when the status changes and a
percentage per layer at most once per ``text_interval``.

The outcome (one line per layer and the final state) is also kept as an ordinary
output, the record, hidden while the bars are alive (see :mod:`._record`); the
magics instead replace the bars with that outcome when the pull ends.
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import ipywidgets as w
from traitlets import Bool, Float, HasTraits, Unicode

from ..client._errors import OllamaError
from ..display._interrupt import one_line_interrupt
from ._base import Throttle, error_html, format_bytes, has_widget_frontend, muted
from ._record import Record

__all__ = ["PullProgress"]

ACTIONS = ("pull", "push", "create")


@dataclass
class _Layer:
    digest: str
    total: int = 0
    completed: int = 0
    speed: float = 0.0  # bytes per second, smoothed
    sample_time: float = 0.0
    sample_bytes: int = 0
    bar: Any = None
    label: Any = None
    row: Any = None
    dirty: bool = True
    last_text: float = float("-inf")

    @property
    def short(self) -> str:
        name = self.digest.split(":", 1)[-1]
        return name[:12] or self.digest

    def describe(self) -> str:
        done = format_bytes(self.completed)
        parts = [f"{done} / {format_bytes(self.total)}" if self.total else done]
        if self.speed > 0 and self.completed < self.total:
            parts.append(f"{format_bytes(self.speed)}/s")
        return " · ".join(parts)


def _field(chunk: Any, key: str) -> Any:
    if isinstance(chunk, dict):
        return chunk.get(key)
    raw = getattr(chunk, "raw", None)
    return raw.get(key) if isinstance(raw, dict) else getattr(chunk, key, None)


class PullProgress(HasTraits):
    """Bars per layer (bytes, speed), an overall status line and a final state.

    Not a widget itself but the owner of one (``.widget``, a ``VBox``), so that
    ``close(error=..., interrupted=...)`` can mean "the operation ended" (the
    magics' ``ProgressView`` protocol) while the bars stay on screen. Displaying
    a ``PullProgress`` displays its widget.
    """

    model = Unicode("", help="The model being pulled, pushed or created.")
    action = Unicode("pull", help="pull, push or create.")
    status = Unicode("", help="The server's latest status line (e.g. 'pulling manifest').")
    state = Unicode("idle", help="idle, running, success or error.")
    error = Unicode("", help="The error message when state is 'error'.")
    interval = Float(0.2, min=0.0, help="Minimum seconds between two widget updates.")
    text_interval = Float(1.0, min=0.0, help="Minimum seconds between two text lines per layer.")
    text_mode = Bool(
        False, help="Print text lines instead of updating widgets (no widget frontend)."
    )
    record = Bool(
        True,
        help="In widget mode, also leave the outcome as a display output when finished, "
        "hidden while the bars are alive (widget state is not saved in notebooks).",
    )

    def __init__(
        self,
        model: str = "",
        action: str = "pull",
        *,
        title: str | None = None,
        text_mode: bool | None = None,
        file: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        if title and not model:  # the magics' seam: PullProgress(title="pull llama3.2")
            first, _, rest = title.partition(" ")
            action, model = (first, rest) if first in ACTIONS else (action, title)
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
        self._clock = clock
        self._file = file
        self._layers: dict[str, _Layer] = {}
        self._throttle = Throttle(0.2, clock=clock)
        self._last_printed = ""
        self._layer_status = False
        self.messages = 0  #: widget updates pushed (throttled), for tests and curiosity
        self._title = w.HTML("")
        self._status = w.HTML("")
        self._bars = w.VBox()
        self._record = Record()
        self.widget = w.VBox([self._title, self._bars, self._status, self._record.style])
        self.widget.add_class("ollama-nb-progress")
        super().__init__(
            model=model,
            action=action,
            text_mode=not has_widget_frontend() if text_mode is None else text_mode,
            **kwargs,
        )
        self._throttle.interval = self.interval
        self._title.value = muted(f"{action} {model}".strip())

    # -- input ------------------------------------------------------------------------------------
    def feed(self, chunk: Any) -> None:
        """Take one progress line (a ``ProgressResponse`` or its dict)."""
        if self.state == "idle":
            self.state = "running"
        error = _field(chunk, "error")
        if error:
            self.finish(error=str(error))
            return
        status = str(_field(chunk, "status") or "")
        digest = _field(chunk, "digest")
        if digest:
            layer = self._layer(str(digest))
            total, completed = _field(chunk, "total"), _field(chunk, "completed")
            if isinstance(total, int) and total >= 0:
                layer.total = total
            if isinstance(completed, int) and completed >= 0:
                self._sample(layer, completed)
            layer.dirty = True
        if status:
            self.status = status
            self._layer_status = bool(digest)  # "pulling 1a2b3c4d5e6f" lines: shown as bars
        if status == "success":
            self.finish()
            return
        if self.text_mode:
            self._print_text(force=False)
        elif self._throttle.ready():
            self._push()

    update = feed  # the magics' ProgressView name for it

    def finish(self, error: str | None = None, interrupted: bool = False) -> None:
        """Final state: success (every bar full) or the error; always pushed, once.

        In widget mode the outcome follows as an ordinary display output (``record``,
        hidden while the bars are alive), because widget state is not kept in a saved
        notebook.
        """
        if self.state in ("success", "error"):
            return
        if interrupted and not error:
            error = "interrupted"
        if error:
            self.error, self.state = error, "error"
        else:
            self.state = "success"
            for layer in self._layers.values():
                if layer.total:
                    layer.completed = layer.total
                layer.speed, layer.dirty = 0.0, True
        if self.text_mode:
            self._print_text(force=True)
        else:
            self._push()
            if self.record and has_widget_frontend():
                self._record.show(self.outcome())

    def _summary(self, error: str | None = None) -> str:
        if self.state == "error" and self.error == "interrupted":
            return f"⏹ {self.action} {self.model}: interrupted"
        if self.state == "error":
            return f"✖ {self.action} {self.model}: {self.error if error is None else error}"
        size = sum(layer.total for layer in self._layers.values())
        layers = f" ({len(self._layers)} layers, {format_bytes(size)})" if self._layers else ""
        return f"✔ {self.action} {self.model}: success{layers}"

    def outcome(self, *, error: str | None = None) -> dict[str, str]:
        """The finished state as an ordinary output: a line per layer, then the outcome.

        ``error`` replaces the error's text in the last line (the magics, whose own
        error line follows, pass a short pointer to it). Nothing to show gives ``{}``.
        """
        if self.state == "error" and error is not None and not self._layers:
            return {}
        lines = [f"  {layer.short}  {format_bytes(layer.total)}"
                 + ("" if self.state == "success" or layer.completed >= layer.total
                    else f"  ({format_bytes(layer.completed)} done)")
                 for layer in self._layers.values() if layer.total]
        last = self._summary(error)
        text = "\n".join([*lines, last])
        rows = "".join(f"<div>{html.escape(line.strip())}</div>" for line in lines)
        tail = error_html(last) if self.state == "error" else muted(last)
        return {"text/plain": text,
                "text/html": f'<div class="ollama-nb-outcome" style="font-size:0.9em">'
                             f'<div style="color:var(--jp-ui-font-color2,#777)">{rows}</div>'
                             f"<div>{tail}</div></div>"}

    def run(
        self,
        client: Any,
        action: str | None = None,
        model: str | None = None,
        *,
        show: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Run ``client.<action>(model, stream=True, **kwargs)``, showing its progress.

        Returns the final progress result; on error the bars turn red and the
        error is raised (a ``KeyboardInterrupt`` closes the stream and is re-raised).
        """
        action = action or self.action
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
        self.action, self.model = action, model or self.model
        self._title.value = muted(f"{action} {self.model}".strip())
        if show:
            self.show()
        stream = None
        try:
            stream = getattr(client, action)(self.model, stream=True, **kwargs)
            with stream:
                for chunk in stream:
                    self.feed(chunk)
                result = stream.partial
        except KeyboardInterrupt as exc:
            self.finish(error="interrupted")
            raise one_line_interrupt(exc, f"{action} of {self.model} stopped") from None
        except Exception as exc:
            self.finish(
                error=exc.message
                if isinstance(exc, OllamaError)
                else f"{type(exc).__name__}: {exc}"
            )
            raise
        self.finish()
        return result

    def show(self) -> None:
        """Display the widget (or, in text mode, nothing yet: lines come as progress arrives)."""
        if not self.text_mode:
            from IPython.display import display

            display(self)

    # -- layers -----------------------------------------------------------------------------------
    def _layer(self, digest: str) -> _Layer:
        layer = self._layers.get(digest)
        if layer is None:
            layer = self._layers[digest] = _Layer(digest, sample_time=self._clock())
            if not self.text_mode:
                layer.bar = w.FloatProgress(
                    value=0.0, min=0.0, max=1.0, layout=w.Layout(width="40%")
                )
                # HTML with escaped text, not Label: a Label's text goes through MathJax
                layer.label = w.HTML("")
                layer.row = w.HBox(
                    [
                        w.HTML(html.escape(layer.short), layout=w.Layout(width="9em")),
                        layer.bar,
                        layer.label,
                    ]
                )
                self._bars.children = (*self._bars.children, layer.row)
        return layer

    def _sample(self, layer: _Layer, completed: int) -> None:
        now = self._clock()
        elapsed = now - layer.sample_time
        if elapsed >= 0.5:  # speed over half-second windows, smoothed
            rate = max(completed - layer.sample_bytes, 0) / elapsed
            layer.speed = rate if layer.speed == 0 else 0.5 * layer.speed + 0.5 * rate
            layer.sample_time, layer.sample_bytes = now, completed
        layer.completed = completed

    # -- widget output ----------------------------------------------------------------
    def _push(self) -> None:
        style = {"success": "success", "error": "danger"}.get(self.state, "")
        for layer in self._layers.values():
            if not layer.dirty and not style:
                continue
            fraction = layer.completed / layer.total if layer.total else 0.0
            with layer.bar.hold_sync():
                layer.bar.value = min(max(fraction, 0.0), 1.0)
                layer.bar.bar_style = style
            layer.label.value = html.escape(layer.describe())
            layer.dirty = False
            self.messages += 1
        if self.state == "error":
            self._status.value = error_html(f"✖ {self.error}")
        elif self.state == "success":
            self._status.value = muted(f"✔ {self.action} {self.model}: success".replace("  ", " "))
        else:
            self._status.value = muted(self.status)
        self.messages += 1

    # -- text output ------------------------------------------------------------------
    def _print_text(self, *, force: bool) -> None:
        lines: list[str] = []
        if self.state == "error":
            lines.append(f"✖ {self.action} {self.model}: {self.error}")
        elif self.state == "success":
            lines.extend(
                f"  {layer.short}  100%  {format_bytes(layer.total)}"
                for layer in self._layers.values()
                if layer.dirty and layer.total
            )
            lines.append(self._summary())
        else:
            if self.status and self.status != self._last_printed and not self._layer_status:
                lines.append(self.status)
                self._last_printed = self.status
            now = self._clock()
            for layer in self._layers.values():
                if (
                    layer.dirty
                    and layer.total
                    and (force or now - layer.last_text >= self.text_interval)
                ):
                    percent = 100 * layer.completed / layer.total
                    lines.append(f"  {layer.short}  {percent:3.0f}%  {layer.describe()}")
                    layer.last_text, layer.dirty = now, False
        if lines:
            print("\n".join(lines), file=self._file or sys.stdout, flush=True)

    def __repr__(self) -> str:
        state = self.state if not self.error else f"error: {self.error}"
        return f"PullProgress({self.action} {self.model!r}, {len(self._layers)} layers, {state})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The bars, with a text that stays true after it is saved (no state, no count)."""
        bundle = dict(self.widget._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = (f"PullProgress({self.action} {self.model!r})  (live bars; the "
                                f"outcome is kept as the next output)")
        return bundle

    def discard(self) -> None:
        """Close the bars and every widget in them (their outcome has replaced them)."""
        rows = [child for layer in self._layers.values()
                for child in (layer.bar, layer.label, layer.row, *layer.row.children)
                if layer.row is not None]
        for child in (*rows, self._title, self._status, self._bars, self.widget):
            child.close()
        self._record.close()

    def close(self, error: str | None = None, interrupted: bool = False) -> None:
        """The operation ended (``ProgressView`` protocol): same as :meth:`finish`.

        The bars stay on screen; ``progress.widget.close()`` removes them.
        """
        self.finish(error=error, interrupted=interrupted)

"""``StreamPane``: an answer as it streams, with a Stop button, stats and safe rendering.

Three ways to run it, which differ only in whether the kernel can handle a Stop
click while the answer streams (see docs/widgets.md):

* ``pane.run(...)`` blocks the cell. Clicks are queued until the cell ends on
  most kernels, so kernel interrupt is the dependable stop there.
* ``await pane.arun(...)`` streams in a worker thread while the cell awaits; on
  ipykernel >= 7.4 the kernel handles the click at once.
* ``pane.start(...)`` returns at once (a Future); Stop works wherever clicks are
  handled. Output published after the cell ends is lost by nbclient/nbconvert.

``%%ollama --pane`` uses the pane as a view (``start``/``update``/``finish``,
``stop_requested``) of the magic's own stream: the magic shows the pane while the
answer streams and replaces it with the final answer's output.

Every string from the model goes through :mod:`ollama_nb.display._render` before it
reaches an ``HTMLMath`` widget (so math is typeset as in a cell's output): ipywidgets
inserts its ``value`` with ``innerHTML``, unsanitised. Live updates are throttled
(``interval``) and each is exactly one widget message; each finished answer is also
published as an ordinary ``display_data`` (``record=True``), hidden while the pane
is alive, so the saved notebook keeps it (see :mod:`._record`).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any

import ipywidgets as w
from traitlets import Bool, Float, Unicode

from ..client._errors import OllamaError
from ..display._interrupt import INTERRUPTED, one_line_interrupt
from ..display._render import FORMATS, Stats, answer_bundle, stats_line, streaming_html
from ._base import ANSWER_CSS, Throttle, error_html, in_thread, muted
from ._record import Record

__all__ = ["StreamPane"]

_STATUS_TEXT = {
    "idle": "",
    "running": "● streaming…",
    "stopping": "stopping…",
    "done": "✔ done",
    "stopped": "⏹ stopped (partial answer)",
    "interrupted": INTERRUPTED,
    "error": "✖ error",
}


class StreamPane(w.VBox):
    """Live view of one answer: status, Stop button, the text as it arrives, stats."""

    status = Unicode("idle", help="idle, running, stopping, done, stopped, interrupted or error.")
    model = Unicode("", help="The model producing the answer.")
    text = Unicode("", help="The answer so far (the whole answer once finished).")
    thinking = Unicode("", help="The model's thinking so far, kept apart from the answer.")
    error = Unicode("", help="The error message when status is 'error'.")
    interval = Float(0.1, min=0.0, help="Minimum seconds between two live updates (10 a second).")
    fmt = Unicode(
        "markdown", help="How the final answer is rendered: markdown, text, code or json."
    )
    record = Bool(
        True,
        help="Also publish each finished answer as an ordinary display output "
        "(run/arun/start), hidden while the pane is alive, so the saved notebook keeps it.",
    )

    def __init__(self, **kwargs: Any) -> None:
        self.stop_requested = threading.Event()
        self.updates = 0  #: live updates pushed to the body since the last start
        self.result: Any = None  #: the last typed result (run/arun/start), or the view's result
        self._stream: Any = None
        self._stream_lock = threading.Lock()
        self._throttle = Throttle(0.1)
        self._final_stats: Stats | None = None
        self._status = w.HTML("")
        self.stop_button = w.Button(
            description="Stop",
            icon="stop",
            disabled=True,
            tooltip="Stop the answer (closes the connection)",
            layout=w.Layout(width="auto"),
        )
        # HTMLMath: the frontend typesets the answer's math (the rest is marked mathjax_ignore)
        self._body = w.HTMLMath("", layout=w.Layout(min_height="2em"))
        self._stats = w.HTML("")
        self._record = Record()
        self._css = w.HTML(ANSWER_CSS, layout=w.Layout(display="none"))
        kwargs.setdefault(
            "layout",
            w.Layout(border="1px solid var(--jp-border-color2,#ddd)", padding="0.3em 0.6em"),
        )
        super().__init__(
            children=[
                w.HBox([self.stop_button, self._status]),
                self._body,
                self._stats,
                self._css,
                self._record.style,
            ],
            **kwargs,
        )
        self.add_class("ollama-nb-pane")
        self.stop_button.on_click(lambda _button: self.stop())

    # -- the view protocol (also used by %%ollama --pane) ---------------------------------
    def start(self, model: str = "", *args: Any, **kwargs: Any) -> Any:
        """As a view: an answer from ``model`` begins. With a prompt: stream in the background.

        ``pane.start("llama3.2")`` resets the pane (the magics call it so);
        ``pane.start("llama3.2", "Why is the sky blue?")`` or with ``messages=`` also starts
        the request in a background thread and returns a ``Future`` of the result.
        """
        if args or kwargs:
            return self._start_background(model, *args, **kwargs)
        self._begin(model)
        return None

    def update(self, text: str, thinking: str = "") -> None:
        """As a view: the whole answer so far (the caller throttles). One widget message."""
        self.text, self.thinking = text, thinking
        self._body.value = streaming_html(text, thinking=thinking)
        self.updates += 1

    def attach(self, stream: Any) -> None:
        """As a view: the magic's open stream, so Stop can close it even while a read waits."""
        with self._stream_lock:
            self._stream = stream
        if self.stop_requested.is_set():  # Stop came before the stream opened
            stream.close()

    def finish(self, result: Any) -> None:
        """As a view: the answer ended; ``result`` has ``text``, ``thinking``, ``stats``, flags."""
        with self._stream_lock:
            self._stream = None
        self.result = result
        stats = getattr(result, "stats", None)
        if not isinstance(stats, Stats):
            stats = Stats.from_response(
                getattr(result, "response", None) or result, model=self.model
            )
        error = getattr(result, "error", None)
        status = (
            "error"
            if error
            else "stopped"
            if self.stop_requested.is_set()
            else "interrupted"
            if getattr(result, "interrupted", False)
            else "done"
        )
        self._end(
            str(getattr(result, "text", "") or ""),
            str(getattr(result, "thinking", "") or ""),
            stats,
            status,
            str(error or ""),
            fmt=str(getattr(result, "fmt", "") or self.fmt),
        )

    def stop(self) -> None:
        """Ask the running answer to stop and close its connection now (thread-safe)."""
        self.stop_requested.set()
        with self._stream_lock:
            stream = self._stream
        if stream is not None:
            stream.close()
        if self.status == "running":
            self._set_status("stopping")

    # -- running a request ------------------------------------------------------------------
    def run(
        self,
        model: str,
        prompt: str | None = None,
        *,
        messages: Any = None,
        client: Any = None,
        host: str | None = None,
        **options: Any,
    ) -> Any:
        """Stream an answer into the pane, blocking the cell; returns the typed result.

        ``messages`` makes it a chat request, otherwise ``prompt`` is sent to
        ``/api/generate``; other keyword arguments go to the client call (``system``,
        ``options``, ``think``, ...). Errors are raised after the pane shows them.
        """
        self._claim(model)
        try:
            stream = self._open(model, prompt, messages, client, host, options)
        except BaseException as exc:
            self._end("", "", None, "error", _message(exc))
            self._publish_record()
            raise
        return self.consume(stream, model=model, begin=False)

    async def arun(
        self,
        model: str,
        prompt: str | None = None,
        *,
        messages: Any = None,
        client: Any = None,
        host: str | None = None,
        **options: Any,
    ) -> Any:
        """Like :meth:`run`, but the cell awaits while a worker thread streams.

        The kernel's event loop stays free, so ipykernel >= 7.4 handles Stop at once.
        """
        self._claim(model)
        future = in_thread(
            lambda: self.consume(
                self._open(model, prompt, messages, client, host, options),
                model=model,
                record=False,
                begin=False,
            ),
            name="ollama-nb-pane",
        )
        try:
            result = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            self.stop()
            raise
        finally:
            if future.done() and future.exception() is not None and self.status == "running":
                self._end(self.text, self.thinking, None, "error", _message(future.exception()))
            self._publish_record()
        return result

    def _start_background(
        self,
        model: str,
        prompt: str | None = None,
        *,
        messages: Any = None,
        client: Any = None,
        host: str | None = None,
        **options: Any,
    ) -> Future[Any]:
        self._claim(model)

        def work() -> Any:
            try:
                stream = self._open(model, prompt, messages, client, host, options)
            except BaseException as exc:
                self._end("", "", None, "error", _message(exc))
                self._publish_record()
                raise
            return self.consume(stream, model=model, begin=False)

        return in_thread(work, name="ollama-nb-pane")

    def _open(
        self,
        model: str,
        prompt: str | None,
        messages: Any,
        client: Any,
        host: str | None,
        options: dict[str, Any],
    ) -> Any:
        from ..client._session import get_client

        chosen = get_client(host, client)
        if messages is not None:
            return chosen.chat(model, messages, stream=True, **options)
        return chosen.generate(model, prompt or "", stream=True, **options)

    def consume(
        self, stream: Any, *, model: str = "", record: bool = True, begin: bool = True
    ) -> Any:
        """Show an open client ``Stream`` in the pane until it ends or Stop closes it.

        Returns the stream's result (partial when stopped). A ``StreamError`` or
        ``KeyboardInterrupt`` is re-raised after the pane (and the record) show what arrived.
        """
        if begin:
            self._begin(model or self.model)
        with self._stream_lock:
            self._stream = stream
        if self.stop_requested.is_set():  # Stop was pressed while the request was being sent
            stream.close()
        # the first update waits one interval (tokens get merged); a pause flushes the tail
        self._throttle = Throttle(self.interval, lambda: self.update(stream.text, stream.thinking),
                                  wait_first=True)
        status, error = "done", ""
        try:
            for _chunk in stream:
                if self.stop_requested.is_set():
                    stream.close()
                    break
                self._throttle.poke()
        except KeyboardInterrupt as exc:
            status = "interrupted"
            raise one_line_interrupt(
                exc, "the partial answer is kept in the pane (pane.text, pane.result)"
            ) from None
        except Exception as exc:
            status, error = "error", _message(exc)
            raise
        finally:
            self._throttle.close()
            stream.close()
            with self._stream_lock:
                self._stream = None
            if status == "done" and (
                self.stop_requested.is_set() or getattr(stream, "stopped", False)
            ):
                status = "stopped"
            self.result = stream.partial
            final = getattr(stream, "final", None)
            stats = Stats.from_response(final, model=self.model) if final is not None else None
            self._end(stream.text, stream.thinking, stats, status, error)
            if record:
                self._publish_record()
        return self.result

    # -- state changes ----------------------------------------------------------------------
    def _claim(self, model: str) -> None:
        """Begin a request of our own; one answer at a time per pane."""
        if self.status in ("running", "stopping"):
            raise RuntimeError(
                "this StreamPane is still streaming an answer: press Stop "
                "(or pane.stop()) first, or use another pane"
            )
        self._begin(model)

    def _begin(self, model: str) -> None:
        self.stop_requested.clear()
        self.updates = 0
        self.result = None
        self._final_stats = None
        with self.hold_trait_notifications():
            self.model, self.text, self.thinking, self.error = model or "", "", "", ""
        self._stats.value = ""
        self._body.value = muted(f"{model} …" if model else "…")
        self.stop_button.disabled = False
        self._set_status("running")

    def _end(
        self,
        text: str,
        thinking: str,
        stats: Stats | None,
        status: str,
        error: str,
        fmt: str | None = None,
    ) -> None:
        fmt = fmt if fmt in FORMATS else (self.fmt if self.fmt in FORMATS else "markdown")
        with self.hold_trait_notifications():
            self.text, self.thinking, self.error = text, thinking, error
        self._final_stats = stats
        body = (
            answer_bundle(text, thinking=thinking, fmt=fmt)["text/html"] if text or thinking else ""
        )
        if error:
            body += f'<div class="ollama-nb-error">{error_html(error)}</div>'
        self._body.value = body
        line = stats_line(stats) if stats is not None else ""
        self._stats.value = muted(line)
        self.stop_button.disabled = True
        self._set_status(status)

    def _set_status(self, status: str) -> None:
        self.status = status
        self._status.value = muted(_STATUS_TEXT.get(status, status))

    def _publish_record(self) -> None:
        """The final answer as an ordinary display output (what a saved notebook keeps)."""
        if not self.record or self.status in ("idle", "running"):
            return
        note = {
            "stopped": _STATUS_TEXT["stopped"],
            "interrupted": _STATUS_TEXT["interrupted"],
            "error": f"✖ {self.error}" if self.error else "",
        }.get(self.status, "")
        fmt = self.fmt if self.fmt in FORMATS else "markdown"
        self._record.show(
            answer_bundle(
                self.text, thinking=self.thinking, stats=self._final_stats, fmt=fmt, status=note
            ),
            new=True,
            metadata=getattr(self.result, "metadata", None) or None,
        )

    # -- text ---------------------------------------------------------------------------------
    def __repr__(self) -> str:
        model = f"model={self.model!r}, " if self.model else ""
        return f"StreamPane({model}status={self.status!r}, {len(self.text)} chars)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """The widget, with a text that stays true after it is saved (no status, no count)."""
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = "StreamPane()  (a live widget; its finished answers are outputs)"
        return bundle

    def close(self) -> None:
        """Stop any running answer and close the widgets."""
        self.stop()
        for child in (self.stop_button, self._status, self._body, self._stats, self._css,
                      *self.children):
            child.close()
        self._record.close()
        super().close()


def _message(exc: BaseException | None) -> str:
    return exc.message if isinstance(exc, OllamaError) else f"{type(exc).__name__}: {exc}"

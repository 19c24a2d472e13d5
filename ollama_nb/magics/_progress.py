"""Progress of ``pull`` / ``push`` / ``create``: a text view in a display handle, or a widget.

:class:`TextProgress` keeps one line per layer (``pulling 6a0746a1ec1a  1.2 GB / 2.0 GB  61%``)
plus the current status, throttled like the answers, and always ends with a final update.
It works everywhere, including in saved notebooks.

Widget seam: :func:`progress_view` shows ``ollama_nb.widgets.PullProgress(model, action)``
when widgets are wanted (a kernel with a frontend, ``OllamaMagics.use_widgets``) and
importable, in a display handle: ``update(chunk)`` for each progress object from the
server (``status``, ``digest``, ``total``, ``completed``) goes to the bars, and
``close(error=None, interrupted=False)`` once at the end replaces them with the
outcome as an ordinary output (widget state is not saved in notebooks).

An error is said once: by the UsageError that follows ``close(error=...)``. The view
then keeps only what had arrived (with a pointer to the error), or nothing at all.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from ..display._throttle import Throttle
from ..display._units import human_size

__all__ = ["ProgressView", "TextProgress", "progress_view"]

FAILED = "✖ stopped by the error that follows"


@runtime_checkable
class ProgressView(Protocol):
    def update(self, chunk: Any) -> None: ...

    def close(self, error: str | None = None, interrupted: bool = False) -> None: ...


def _raw(chunk: Any) -> Mapping[str, Any]:
    raw = getattr(chunk, "raw", chunk)
    return raw if isinstance(raw, Mapping) else {}


class TextProgress:
    """Per-layer progress lines in one display handle, throttled to ``rate`` updates a second."""

    def __init__(self, title: str, *, live: bool = True, rate: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.title = title
        self.live = live
        self.interval = 1.0 / rate if rate > 0 else None
        self._clock = clock
        self.layers: dict[str, tuple[str, int, int]] = {}  # digest -> (status, completed, total)
        self.status = "starting"
        self.handle: Any = None
        self.updates = 0
        self._throttle = Throttle(self.interval, clock=clock, wait_first=True)
        self._closed = False
        if live:
            from IPython.display import display

            self.handle = display(self.bundle(), raw=True, display_id=True)

    def lines(self) -> list[str]:
        out = [self.title]
        for status, completed, total in self.layers.values():
            if total:
                pct = 100 * completed / total
                out.append(f"  {status:<28} {human_size(completed):>9} / {human_size(total):<9} {pct:5.1f}%")
            else:
                out.append(f"  {status}")
        out.append(f"  {self.status}")
        return out

    def bundle(self) -> dict[str, str]:
        text = "\n".join(self.lines())
        return {"text/plain": text,
                "text/html": f'<pre style="white-space:pre-wrap;margin:0">{html.escape(text)}</pre>'}

    def update(self, chunk: Any) -> None:
        raw = _raw(chunk)
        status = str(raw.get("status") or "")
        digest = raw.get("digest")
        if digest and (raw.get("total") or raw.get("completed")):
            self.layers[str(digest)] = (status, int(raw.get("completed") or 0), int(raw.get("total") or 0))
        elif status:
            self.status = status
        if self.handle is not None and self._throttle.ready():
            self._send()

    def _send(self, bundle: dict[str, str] | None = None) -> None:
        from IPython.display import display

        bundle = self.bundle() if bundle is None else bundle
        if self.handle is not None:
            self.handle.update(bundle, raw=True)
            self.updates += 1
        elif bundle:
            display(bundle, raw=True)

    def close(self, error: str | None = None, interrupted: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if interrupted:
            self.status = f"⏹ interrupted ({self.status})"
        elif error and not self.layers:  # the error that follows says it all
            self._send({})
            return
        elif error:
            self.status = FAILED
        self._send()


def progress_view(action: str, model: str, *, live: bool, rate: float, widgets: bool) -> ProgressView:
    """The PullProgress widget when ``widgets`` and importable, else :class:`TextProgress`."""
    if widgets and live:
        try:
            import ipywidgets  # noqa: F401

            from ..widgets import PullProgress
        except ImportError:
            pass
        else:
            return _Bars(PullProgress(model, action, record=False))
    return TextProgress(f"{action} {model}", live=live, rate=rate)


class _Bars:
    """The PullProgress bars in a display handle, replaced by their outcome at the end."""

    def __init__(self, progress: Any) -> None:
        from IPython.display import display

        self.progress = progress
        self.handle = display(progress, display_id=True)

    def update(self, chunk: Any) -> None:
        self.progress.update(chunk)

    def close(self, error: str | None = None, interrupted: bool = False) -> None:
        self.progress.close(error=error, interrupted=interrupted)
        outcome = self.progress.outcome(error=FAILED if error and not interrupted else None)
        if self.handle is not None:
            self.handle.update(outcome, raw=True)
        self.progress.discard()

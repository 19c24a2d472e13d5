"""Small pieces the widgets share: a time throttle, frontend detection, threads, formatting.

Nothing here imports ipywidgets, so the helpers stay usable (and testable) on their own.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from ..display._render import inline_html
from ..display._throttle import Throttle
from ..display._units import human_size

__all__ = ["ANSWER_CSS", "Throttle", "error_html", "format_bytes", "has_widget_frontend",
           "in_thread", "muted"]

T = TypeVar("T")

MUTED = "color:var(--jp-ui-font-color2,#777);font-size:0.85em"
# for a hidden HTML child of the pane and the chat box: ipywidgets lets an HTML widget's
# content grow to its row, but not an HTMLMath's (its content has another class), so a
# short answer would sit in a narrow column; inside a bubble the last block needs no margin
ANSWER_CSS = (
    "<style>.ollama-nb-pane .widget-htmlmath-content,"
    ".ollama-nb-chatbox .widget-htmlmath-content{flex:1 1 auto;min-width:0}"
    ".ollama-nb-msg .ollama-nb-answer>:last-child{margin-bottom:0}</style>"
)
ERROR = "color:var(--jp-error-color1,#c62828)"


def has_widget_frontend() -> bool:
    """True inside a Jupyter kernel, where widget messages can reach a frontend.

    Plain IPython, scripts and pytest have no kernel: widgets there fall back to text.
    """
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def in_thread(target: Callable[[], T], *, name: str,
              context: contextvars.Context | None = None) -> Future[T]:
    """Run ``target`` in a daemon thread; its result or exception lands in the returned Future.

    The thread runs in a copy of the caller's ``contextvars`` context (or in ``context``,
    taken earlier), so ipykernel still knows which cell started it and routes its
    display outputs there.
    """
    future: Future[T] = Future()
    context = context if context is not None else contextvars.copy_context()

    def work() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(context.run(target))
        except BaseException as exc:  # handed to whoever waits on the future
            future.set_exception(exc)

    threading.Thread(target=work, name=name, daemon=True).start()
    return future


def format_bytes(count: float | None) -> str:
    """``1536`` -> ``"1.5 KB"``; ``?`` when unknown."""
    return human_size(count, missing="?")


def muted(text: str) -> str:
    """``text`` escaped (`code` spans set as code), in the muted style of status lines."""
    return f'<span style="{MUTED}">{inline_html(text)}</span>' if text else ""


def error_html(text: str) -> str:
    """``text`` escaped (`code` spans set as code), in the error colour (server messages
    are untrusted too)."""
    return f'<span style="{ERROR}">{inline_html(text)}</span>' if text else ""

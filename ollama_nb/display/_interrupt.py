"""A kernel interrupt shown as one line instead of a traceback through our modules.

IPython shows an exception's ``_render_traceback_()`` (a list of lines) in place of its
traceback, in the terminal and in every Jupyter frontend. The exception stays a plain
``KeyboardInterrupt``: "Run All" still stops, and ``except KeyboardInterrupt`` still
catches it.
"""

from __future__ import annotations

__all__ = ["INTERRUPTED", "one_line_interrupt"]

INTERRUPTED = "⏹ interrupted (partial answer)"


def one_line_interrupt(exc: BaseException, detail: str) -> BaseException:
    """``exc`` (a KeyboardInterrupt), shown by IPython as ``KeyboardInterrupt: detail``."""
    line = f"{type(exc).__name__}: {detail}"
    exc._render_traceback_ = lambda: [line]  # type: ignore[attr-defined]
    return exc.with_traceback(None)

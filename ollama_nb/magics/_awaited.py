"""Awaited cells: ``%%ollama --pane`` as a cell the kernel awaits, so its Stop button works.

A widget click reaches the kernel as a message, and ipykernel >= 7.4 handles such
messages while a cell *awaits* (not while it blocks). IPython has no awaitable magics,
so an input transformer (:func:`await_pane_cells`, installed by ``%load_ext`` in a
kernel that can await) rewrites the cell a ``--pane`` line becomes::

    get_ipython().run_cell_magic('ollama', LINE, BODY)
    await __import__('ollama_nb.magics._awaited', ...).awaited('ollama', LINE, BODY)

:func:`awaited` runs the same magic with :data:`AWAITED` set; the magic then streams in
a worker thread and hands back :func:`in_cell`, which the cell awaits. The answer, its
errors and a kernel interrupt end as in a blocking cell: ipykernel 7 turns an interrupt
of an awaiting cell into a cancellation (ipykernel 6 may raise ``KeyboardInterrupt`` in
it), which :func:`in_cell` turns back into the one-line ``KeyboardInterrupt`` after the
partial answer is shown and stored.

:func:`settle` waits for worker threads from the event loop. It wakes every 0.1 s:
ipykernel delivers a kernel interrupt to an awaiting cell only when its event loop
next wakes up (ipython/ipykernel#881), so a plain ``await`` on a thread could not be
interrupted until the answer ended.
"""

from __future__ import annotations

import ast
import asyncio
import contextvars
import inspect
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

from ..display._interrupt import one_line_interrupt

__all__ = ["AWAITED", "await_pane_cells", "awaited", "can_await", "in_cell", "settle"]

#: set while :func:`awaited` runs the magic: the cell will await what the magic returns
AWAITED: contextvars.ContextVar[bool] = contextvars.ContextVar("ollama_nb_awaited", default=False)

_CALL = "get_ipython().run_cell_magic('ollama', "
_WAKE = 0.1  # seconds between wake-ups of a waiting cell (a kernel interrupt lands then)


async def settle(futures: Iterable[Future[Any]], timeout: float | None = None) -> None:
    """Wait until every future is done (or ``timeout`` passed), waking every 0.1 s."""
    pending = {asyncio.wrap_future(f) for f in futures if not f.done()}
    deadline = None if timeout is None else time.monotonic() + timeout
    while pending:
        wake = _WAKE if deadline is None else min(_WAKE, deadline - time.monotonic())
        if wake <= 0:
            return
        _done, pending = await asyncio.wait(pending, timeout=wake)


def can_await(shell: Any) -> bool:
    """Whether cells of ``shell`` can be awaited by an ipykernel event loop."""
    if getattr(shell, "kernel", None) is None or not getattr(shell, "autoawait", False):
        return False
    try:
        from IPython.core.interactiveshell import _asyncio_runner  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - IPython < 7
        return False
    return getattr(shell, "loop_runner", None) is _asyncio_runner


def await_pane_cells(lines: list[str]) -> list[str]:
    """Input transformer: a ``%%ollama ... --pane`` cell becomes an awaited cell."""
    if len(lines) != 1 or not lines[0].startswith(_CALL):
        return lines
    try:
        call = ast.parse(lines[0]).body[0].value  # type: ignore[attr-defined]
        name, line, body = (ast.literal_eval(arg) for arg in call.args)
    except (SyntaxError, ValueError, AttributeError, IndexError, TypeError):
        return lines
    if "--pane" not in line.split():
        return lines
    return [f"await __import__('ollama_nb.magics._awaited', fromlist=['awaited'])"
            f".awaited({name!r}, {line!r}, {body!r})\n"]


async def awaited(name: str, line: str, cell: str) -> Any:
    """Run cell magic ``name`` knowing that the cell awaits it (see the module docstring)."""
    from IPython import get_ipython

    token = AWAITED.set(True)
    try:
        value = get_ipython().run_cell_magic(name, line, cell)
    finally:
        AWAITED.reset(token)
    if inspect.isawaitable(value):
        return await value
    return value


async def in_cell(future: Future[Any], stop: Callable[[], None], kept: Callable[[], bool]) -> None:
    """Await a foreground answer streaming in a worker thread, as a blocking cell would end.

    Its own errors (a one-line UsageError) are raised here; a kernel interrupt calls
    ``stop``, waits for the final state, then raises the one-line KeyboardInterrupt.
    """
    try:
        await settle([future])
    except (asyncio.CancelledError, KeyboardInterrupt):  # ipykernel 7 cancels; 6 may raise
        stop()
        await settle([future], timeout=10)
        raise one_line_interrupt(KeyboardInterrupt(), "the partial answer is kept in _ollama"
                                 if kept() else "stopped before any answer arrived") from None
    future.result()  # raises what the answer raised (a UsageError)

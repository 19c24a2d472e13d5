"""Answers that stream in the background: ``%%ollama --bg``, ``%ollama stop``, ``onb.wait()``.

A background answer streams in a worker thread while the cell that asked for it has
already returned, so the kernel is free: other cells run, and a Stop click is handled
at once. It shows in its own output (the display handle of its cell, which every
Jupyter frontend routes by display id, from any thread), with a small Stop control
above it (or in a ``--pane``); ``-o VAR`` holds its pending result from the start, and
``_ollama`` is set when it ends. It ends in the states of a foreground cell: the final
answer with its stats, the partial answer marked "interrupted" after a Stop, or the
partial answer (if any) followed by the error's one line, which is shown in the
output since there is no cell left to raise it into.

At most :attr:`Background.limit` answers stream at once (``OllamaMagics.background_limit``);
the others wait in a queue, in order, and say so in their output.

Where no frontend can show what arrives after a cell has returned, ``--bg`` waits
instead (see :func:`frontend_shows_later`): nbclient (``jupyter nbconvert --execute``,
papermill) and nbval collect only the output sent while its cell runs, so a background
answer would be missing from the saved notebook, and the cells after it would run
before ``-o VAR`` has its answer.

Threads rather than tasks on the kernel's event loop: a task would stand still while
another cell runs synchronous code (a pandas cell, a foreground ``%%ollama``), and a
thread reuses the blocking client, whose ``Stream.close()`` ends a read at once from
any thread.
"""

from __future__ import annotations

import contextvars
import itertools
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import Any

from ._awaited import settle
from ._result import OllamaResult

__all__ = ["Background", "BackgroundAnswer", "Waiting", "answers", "frontend_shows_later",
           "wait"]


def frontend_shows_later(shell: Any) -> bool:
    """Whether output sent after this cell returns reaches a frontend that shows it.

    Notebook frontends (JupyterLab, Notebook 7; VS Code too, untested here) send the cell
    id with each execute request; nbclient, nbval, papermill and ``jupyter console`` do not, and
    outside a kernel (terminal IPython, scripts) nothing would show it either.
    """
    kernel = getattr(shell, "kernel", None)
    get_parent = getattr(kernel, "get_parent", None)
    if not callable(get_parent):
        return False
    try:
        parent = get_parent()
    except Exception:  # noqa: BLE001 - an unusual kernel: run in the foreground
        return False
    metadata = parent.get("metadata") if isinstance(parent, dict) else None
    return bool(isinstance(metadata, dict) and metadata.get("cellId"))


class BackgroundAnswer:
    """One answer streaming (or queued) in the background; ``await`` it for its result.

    ``stop()`` stops it (the partial answer is kept); ``done`` tells whether it ended;
    ``result`` is the :class:`~ollama_nb.magics._result.OllamaResult` it fills.
    """

    def __init__(self, number: int, result: OllamaResult, live: Any, work: Callable[[], Any],
                 store: Callable[[OllamaResult], None], *, control: Any = None,
                 summary: str = "") -> None:
        self.number = number
        self.result = result
        self.live = live
        self.control = control
        self.summary = summary
        self.state = "queued"  # queued, running, done
        self.future: Future[OllamaResult] = Future()
        self._work = work
        self._store = store
        self._context = contextvars.copy_context()  # the cell's: outputs are routed there
        result.background = self

    @property
    def label(self) -> str:
        return f"#{self.number}"

    @property
    def model(self) -> str:
        return self.result.model

    @property
    def done(self) -> bool:
        return self.future.done()

    def stop(self) -> None:
        """Stop the answer (thread-safe); a queued one ends without sending its request."""
        self.live.stop()
        answers.dequeue(self)

    def note(self, text: str) -> None:
        """Say ``text`` on the Stop control's status line, if there is a control."""
        note = getattr(self.control, "note", None)
        if callable(note):
            note(text)

    def __await__(self) -> Generator[Any, None, OllamaResult]:
        yield from settle([self.future]).__await__()
        return self.future.result()

    def __repr__(self) -> str:
        return f"<BackgroundAnswer {self.label} {self.model} {self.state}{self.summary}>"

    # -- run by Background ------------------------------------------------------------------
    def _run(self) -> None:
        from ..widgets._base import in_thread

        self.state = "running"
        self.note(f"{self.label}: streaming in the background · Stop, or `%ollama stop "
                  f"{self.number}`")
        in_thread(self._work, name=f"ollama-nb-bg-{self.number}",
                  context=self._context).add_done_callback(self._ended)

    def _ended(self, work: Future[Any]) -> None:
        # The slot (and the chat) is given back before the future wakes a waiter, so the
        # cell after `await onb.wait()` never finds its chat still busy.
        self.state = "done"
        answers.ended(self)
        error = work.exception()
        if error is not None:
            self.future.set_exception(error)
        else:
            self.future.set_result(self.result)

    def _cancel(self) -> None:
        """End a queued answer that never started: stored, and its output says so."""
        self.state = "done"
        self.result.interrupted = True
        self._context.run(self._skip)
        self.future.set_result(self.result)

    def _skip(self) -> None:
        from ..display._render import answer_bundle

        self._store(self.result)
        self.live.finish(answer_bundle("", status="⏹ stopped before it started"), self.result)


class Background:
    """The process's background answers: at most ``limit`` stream at once, the rest wait."""

    def __init__(self, limit: int = 4) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._running: list[BackgroundAnswer] = []
        self._queue: deque[BackgroundAnswer] = deque()

    def next_number(self) -> int:
        return next(self._numbers)

    def submit(self, job: BackgroundAnswer) -> None:
        """Start ``job`` now if a slot is free, else queue it (its output says so)."""
        with self._lock:
            start = len(self._running) < self.limit
            if start:
                self._running.append(job)
            else:
                self._queue.append(job)
                waiting = len(self._queue)
        if start:
            job._run()
        else:
            job.note(f"{job.label}: queued ({waiting} waiting; {self.limit} stream at once, "
                     f"OllamaMagics.background_limit) · Stop, or `%ollama stop {job.number}`")

    def set_limit(self, limit: int) -> None:
        self.limit = limit
        self._fill()

    def ended(self, job: BackgroundAnswer) -> None:
        with self._lock:
            if job in self._running:
                self._running.remove(job)
        self._fill()

    def dequeue(self, job: BackgroundAnswer) -> None:
        """Take ``job`` out of the queue (if it is there) and end it as stopped."""
        with self._lock:
            if job not in self._queue:
                return
            self._queue.remove(job)
        job._cancel()

    def _fill(self) -> None:
        while True:
            with self._lock:
                if not self._queue or len(self._running) >= self.limit:
                    return
                job = self._queue.popleft()
                self._running.append(job)
            job._run()

    def pending(self) -> list[BackgroundAnswer]:
        """Every answer streaming or queued, oldest first."""
        with self._lock:
            return sorted([*self._running, *self._queue], key=lambda j: j.number)

    def find(self, which: str | None) -> list[BackgroundAnswer]:
        """``None``: the newest pending answer; ``"all"``; or ``"N"``/``"#N"``: answer N."""
        pending = self.pending()
        if which is None:
            return pending[-1:]
        if which == "all":
            return pending
        text = which.removeprefix("#")
        if not text.isdigit():
            raise ValueError(f"expected `all` or the number of a background answer, got {which!r}")
        chosen = [job for job in pending if job.number == int(text)]
        if not chosen:
            running = ", ".join(job.label for job in pending) or "none"
            raise ValueError(f"no background answer #{text} is streaming (streaming now: {running})")
        return chosen

    def chat_busy(self, chat: str) -> BackgroundAnswer | None:
        """The pending answer continuing conversation ``chat``, if any."""
        return next((job for job in self.pending() if job.result.chat == chat), None)


#: the background answers of this process
answers = Background()


class Waiting:
    """``await onb.wait()``: the results of background answers once they have all ended."""

    def __init__(self, jobs: list[BackgroundAnswer], timeout: float | None) -> None:
        self.jobs = jobs
        self.timeout = timeout

    def __await__(self) -> Generator[Any, None, list[OllamaResult]]:
        yield from settle([job.future for job in self.jobs], self.timeout).__await__()
        return self._results(self.timeout)

    def result(self, timeout: float | None = None) -> list[OllamaResult]:
        """Block until they end (for code that cannot ``await``)."""
        timeout = timeout if timeout is not None else self.timeout
        wait_futures([job.future for job in self.jobs], timeout=timeout)
        return self._results(timeout)

    def _results(self, timeout: float | None) -> list[OllamaResult]:
        late = [job.label for job in self.jobs if not job.done]
        if late:
            raise TimeoutError(f"background answers {', '.join(late)} still streaming after "
                               f"{timeout or 0:g}s")
        return [job.future.result() for job in self.jobs]

    def __repr__(self) -> str:
        labels = ", ".join(job.label for job in self.jobs) or "none"
        return f"<onb.wait() for background answers {labels}: `await` it>"


def wait(*results: OllamaResult | BackgroundAnswer, timeout: float | None = None) -> Awaitable[list[OllamaResult]]:
    """Wait for background answers: ``results = await onb.wait()``.

    With no arguments, every answer streaming or queued now; else the given results
    (``-o VAR`` of a ``--bg`` cell) or answers. Returns their results in the order given
    (oldest first by default), each as its cell left it (done, stopped or with an
    ``error``). ``timeout`` seconds: ``TimeoutError`` if some are still streaming.
    """
    if not results:
        jobs = answers.pending()
    else:
        jobs = []
        for item in results:
            job = item.background if isinstance(item, OllamaResult) else item
            if isinstance(job, BackgroundAnswer):
                jobs.append(job)
            elif not isinstance(item, OllamaResult):
                raise TypeError(f"onb.wait() takes results of %%ollama --bg, got {type(item).__name__}")
    return Waiting(jobs, timeout)

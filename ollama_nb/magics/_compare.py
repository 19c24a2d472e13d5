"""``%%ollama --compare M1,M2[,...]``: one prompt, several models, the answers side by side.

Each model's answer goes through the same request and stream path as ``%%ollama``
(:func:`._prompt.run_request`), into a :class:`_Column` instead of a display of its own.
The columns share one output: an HTML grid in one display handle, updated (throttled)
while any answer streams and replaced by the finished answers at the end, then a stats
table. ``text/plain`` holds the answers one after another, for nbconvert and terminals.

Requests run at once, one thread per model (a server that cannot run them together
queues them, as Ollama does); ``--sequential`` sends them one after another. A model that
fails, before or during its answer, shows its error in its column and keeps its partial
answer; the others go on. An interrupt stops every stream and keeps what arrived.
"""

from __future__ import annotations

import contextvars
import html
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from IPython.core.error import UsageError

from ..display._interrupt import one_line_interrupt
from ..display._render import streaming_html
from ..display._throttle import Throttle
from ._parse import parse_cell_line
from ._result import OllamaResult
from ._stream_display import LiveAnswer

__all__ = ["CompareResult", "compare"]

_MUTED = "color:var(--jp-ui-font-color2,#777);font-size:0.85em"


class _Column(LiveAnswer):
    """One model's answer: fed by ``run_request`` like a LiveAnswer, shown by the grid."""

    def __init__(self, grid: _Grid, name: str, model: str) -> None:
        super().__init__(live=False, rate=0)
        self.grid, self.name, self.model = grid, name, model
        self.stream: Any = None
        self.result: OllamaResult | None = None
        self.error: str | None = None  # a failure before any request (a bad option, a bad host)

    def start(self, model: str = "") -> None:
        self.grid.changed()

    def attach(self, stream: Any) -> None:
        self.stream = stream

    def feed(self, text: str = "", thinking: str = "") -> None:
        if text:
            self._text.append(text)
        if thinking:
            self._thinking.append(thinking)
        if text or thinking:
            self.grid.changed()

    def finish(self, bundle: dict[str, str], result: Any = None, tail: str = "",
               metadata: dict[str, Any] | None = None) -> None:
        self.finished = True
        self.result = result
        self.grid.changed()

    def stop(self) -> None:
        stream = self.stream
        if stream is not None:
            stream.close()

    @property
    def cut(self) -> str:
        """A note when the answer stopped at ``num_predict`` (the other stats are in the table)."""
        stats = self.result.stats if self.result is not None else None
        return stats.cut_note if stats is not None else ""

    def html(self) -> str:
        if self.result is not None:  # the stats are in the table below the grid
            note = f'<div style="{_MUTED}">{self.cut}</div>' if self.cut else ""
            return self.result.bundle(show_stats=False)["text/html"] + note
        if self.error:
            return f'<div style="{_MUTED}">✖ {html.escape(self.error)}</div>'
        return streaming_html(self.text, thinking=self.thinking,
                              header="" if self.text or self.thinking else "waiting …")

    def plain(self) -> str:
        if self.result is not None:
            body = self.result.bundle(show_stats=False)["text/plain"].rstrip() + (
                f"\n{self.cut}" if self.cut else "")
        else:
            body = f"✖ {self.error}" if self.error else (self.text or "waiting …")
        return f"── {self.name} ──\n{body.rstrip()}"


class _Grid:
    """The shared output: one display handle, at most ``rate`` updates a second."""

    def __init__(self, *, live: bool, rate: float) -> None:
        self.columns: list[_Column] = []
        self.live = live
        self.handle: Any = None
        self._throttle = Throttle(1.0 / rate if rate > 0 else None, self._push, wait_first=True)
        self._lock = threading.Lock()

    def bundle(self) -> dict[str, str]:
        cells = "".join(
            f'<div class="ollama-nb-compare-cell" style="min-width:0">'
            f'<div style="font-weight:600;border-bottom:1px solid var(--jp-border-color2,#ccc);'
            f'margin-bottom:0.4em">{html.escape(c.name)}'
            + (f' <span style="{_MUTED};font-weight:normal">{html.escape(c.model)}</span>'
               if c.model != c.name else "")
            + f"</div>{c.html()}</div>"
            for c in self.columns)
        grid = (f'<div class="ollama-nb-compare" style="display:grid;grid-template-columns:'
                f'repeat({len(self.columns)},minmax(0,1fr));gap:1.2em;align-items:start">{cells}</div>')
        plain = "\n\n".join(c.plain() for c in self.columns)
        return {"text/plain": plain, "text/html": grid}

    def show(self) -> None:
        from IPython.display import display

        if self.live:
            self.handle = display(self.bundle(), raw=True, display_id=True)

    def changed(self) -> None:
        if self.handle is not None:
            self._throttle.poke()

    def _push(self) -> None:
        with self._lock:
            if self.handle is not None:
                self.handle.update(self.bundle(), raw=True)

    def finish(self) -> None:
        """The final grid, with every answer's provenance in its metadata (by column)."""
        from IPython.display import display

        self._throttle.close()
        where = {c.name: c.result.provenance for c in self.columns
                 if c.result is not None and c.result.provenance}
        metadata = {"ollama_nb": {"provenance": where}} if where else None
        with self._lock:
            if self.handle is not None:
                self.handle.update(self.bundle(), raw=True, metadata=metadata)
            else:
                display(self.bundle(), raw=True, metadata=metadata)


@dataclass
class CompareResult:
    """What ``--compare`` keeps in ``_ollama``: one result per model (by name) and their stats."""

    results: dict[str, OllamaResult] = field(default_factory=dict)
    stats: Any = None  # a DataFrame: model, tokens, tokens/s, load s, total s, done reason, error

    def __getitem__(self, name: str) -> OllamaResult:
        return self.results[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def __repr__(self) -> str:
        return f"<CompareResult {', '.join(repr(r) for r in self.results.values())}>"


def _stats_frame(columns: list[_Column]) -> Any:
    import pandas as pd

    rows = []
    for c in columns:
        stats = c.result.stats if c.result is not None else None
        rows.append({
            "model": c.name,
            "tokens": stats.eval_count if stats else None,
            "tokens/s": round(stats.tokens_per_second, 1) if stats and stats.tokens_per_second else None,
            "load s": round(stats.load_seconds, 2) if stats and stats.load_seconds is not None else None,
            "total s": round(stats.total_seconds, 2) if stats and stats.total_seconds is not None else None,
            "done reason": stats.done_reason if stats else None,
            "error": (c.result.error if c.result is not None else c.error) or None,
        })
    frame = pd.DataFrame(rows)
    frame["tokens"] = frame["tokens"].astype("Int64")
    for name in ("tokens/s", "load s", "total s"):
        frame[name] = frame[name].astype("Float64")
    for name in ("done reason", "error"):
        frame[name] = frame[name].astype("string")
    return frame


def _shown(stats: Any) -> Any:
    """The table as shown: one row per model, no column of blanks, no <NA> where nothing failed."""
    frame = stats.set_index("model")
    frame.index.name = None  # the models label the rows: one header line, not two
    if frame["error"].isna().all():
        frame = frame.drop(columns="error")
    return frame.fillna({name: "" for name in ("done reason", "error") if name in frame})


def compare(magics: Any, line: str, prompt: str, local_ns: Any) -> CompareResult:
    """Ask every model of ``--compare`` the same ``prompt``; show them side by side, then stats."""
    from IPython.display import display

    from ._prompt import build_request, run_request

    first = parse_cell_line(line, aliases=magics.aliases)
    user_ns = magics.shell.user_ns if magics.shell is not None else {}
    grid = _Grid(live=magics.live and not magics._plain_terminal(), rate=magics.update_rate)
    jobs = []
    for name in dict.fromkeys(first.compare):  # a model named twice is asked once
        args = parse_cell_line(line, aliases=magics.aliases, default=name)
        model = args.model or name
        column = _Column(grid, name, model)
        grid.columns.append(column)
        try:
            request = build_request(args, prompt, model=model, default_options=magics.options,
                                    user_ns=user_ns, local_ns=local_ns, chat=None)
            client = magics.client(args.host, args.timeout)
        except UsageError as exc:
            column.error = str(exc)
            continue
        jobs.append((column, client, request))
    results: dict[str, OllamaResult] = {}

    def one(column: _Column, client: Any, request: Any) -> None:
        try:
            run_request(client, request, column, lambda r: results.__setitem__(column.name, r),
                        show_stats=magics.show_stats)
        except (UsageError, KeyboardInterrupt):
            pass  # the result holds the error (or the interruption); the others go on
        except Exception as exc:  # noqa: BLE001 - one model's surprise must not stop the rest
            column.error = f"{type(exc).__name__}: {exc}"

    grid.show()
    threads: list[threading.Thread] = []
    interrupted: BaseException | None = None
    try:
        if first.sequential:
            for job in jobs:
                one(*job)
                if any(c.result is not None and c.result.interrupted for c in grid.columns):
                    raise KeyboardInterrupt
        else:
            threads = [threading.Thread(target=contextvars.copy_context().run, args=(one, *job),
                                        name=f"ollama-compare-{job[0].name}", daemon=True)
                       for job in jobs]
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.05)
    except KeyboardInterrupt as exc:
        interrupted = exc
        for column in grid.columns:
            column.stop()
        for job in jobs:
            if job[0].result is None and job[0].stream is None and not job[0].error:
                job[0].error = "not asked (interrupted)"
        for thread in threads:
            thread.join(5)
    outcome = CompareResult({c.name: results[c.name] for c in grid.columns if c.name in results})
    for column in grid.columns:  # a model that never got to ask still has a result, with its error
        if column.name not in outcome.results:
            outcome.results[column.name] = OllamaResult(model=column.model, error=column.error,
                                                        request={"prompt": prompt})
    outcome.stats = _stats_frame(grid.columns)
    grid.finish()
    if magics.shell is not None:
        magics.shell.user_ns["_ollama"] = outcome
        if first.output:
            magics.shell.user_ns[first.output] = outcome
    if magics.show_stats:
        display(_shown(outcome.stats))
    if interrupted is not None:
        raise one_line_interrupt(interrupted, "the partial answers are kept in _ollama")
    if all(r.error for r in outcome.results.values()):
        raise UsageError("every model failed: " + "; ".join(
            f"{name}: {r.error}" for name, r in outcome.results.items()))
    return outcome

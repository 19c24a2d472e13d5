"""``OllamaResult``: what ``%%ollama`` stores in ``_ollama`` and in ``-o VAR``, and what
``onb.ask`` returns.

The cell magic itself returns ``None``: the answer is already on screen through
its display handle, and returning the result would show it a second time as
``Out[n]``. Displaying the result later (``_ollama`` on its own in a cell)
renders the same safe bundle again.

A result of ``%%ollama --bg`` is *pending* until its answer ends: ``-o VAR`` holds it
from the start, it is filled in place when the answer ends (``_ollama`` is set then),
and ``await result`` waits for that (see :mod:`._background`).
"""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from ..client._errors import SchemaError
from ..client._schema import Schema
from ..display._interrupt import INTERRUPTED
from ..display._render import Stats, answer_bundle, first_code_block

__all__ = ["OllamaResult"]


@dataclass
class OllamaResult:
    """One answer: text, thinking, parsed JSON, stats and the request that produced it.

    With tools, ``tool_calls`` lists every call (a ``ToolRun``: name, arguments, result,
    error, seconds, round) and ``text`` is the final answer; ``messages`` holds what the
    exchange added to the conversation (assistant turns, tool results). With a schema,
    ``parsed`` is the validated answer (a pydantic / dataclass instance, or plain data).
    ``provenance`` says where it came from (``model``, ``digest``, ``options``, ``seed``,
    ``host``, ``server_version``, counts; see docs/reproducibility.md).
    """

    text: str = ""
    thinking: str = ""
    model: str = ""
    request: dict[str, Any] = field(default_factory=dict)
    response: Any = None  # the final (done) chunk, or None if the stream never finished
    stats: Stats = field(default_factory=Stats)
    tool_calls: list[Any] = field(default_factory=list)
    parsed: Any = None  # the validated answer (with a schema), else None
    steps: list[Any] = field(default_factory=list)  # shown before the answer (tool calls)
    messages: list[dict[str, Any]] = field(default_factory=list)
    rounds: int = 0  # requests made (more than 1 when tools were called)
    note: str = ""  # how the tool loop ended, when it did not end with an answer
    interrupted: bool = False
    error: str | None = None
    fmt: str = "markdown"
    chat: str | None = None  # name of the chat session, if any
    provenance: dict[str, Any] = field(default_factory=dict)  # model digest, settings, server
    # the background answer filling this result (None: a foreground one, complete)
    background: Any = field(default=None, repr=False, compare=False)

    @property
    def metadata(self) -> dict[str, Any]:
        """The display metadata that keeps the provenance in a saved notebook."""
        return {"ollama_nb": {"provenance": self.provenance}} if self.provenance else {}

    def describe(self, client: Any, source: str) -> None:
        """Set ``provenance`` from ``request`` and the final answer, and add the turn to the
        prompt log as coming from ``source`` (when anything was answered at all)."""
        from ..client._promptlog import log_answer
        from ..client._provenance import provenance

        final = self.response
        if final is None and not (self.text or self.thinking):
            return  # nothing to describe
        body = {k: v for k, v in self.request.items() if k != "endpoint"}
        self.provenance = provenance(client, self.request.get("endpoint", ""), body,
                                     getattr(final, "raw", None))
        log_answer(source, body, self.provenance, answer=self.text, thinking=self.thinking,
                   done=self.done, interrupted=self.interrupted, error=self.error)

    @property
    def pending(self) -> bool:
        """True while the background answer that fills this result is still streaming."""
        return self.background is not None and not self.background.done

    def __await__(self) -> Generator[Any, None, OllamaResult]:
        """``await result``: the result, once its background answer has ended."""
        if self.pending:
            from ._background import settle

            yield from settle([self.background.future]).__await__()
        return self

    @property
    def json(self) -> Any:
        """The answer parsed as JSON (with ``--json``/``--schema``); None if it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    @property
    def code(self) -> str | None:
        """The answer's first fenced code block (what ``--new-cell`` and ``%ollama fix`` offer)."""
        return first_code_block(self.text)

    @property
    def done(self) -> bool:
        """True when the server finished the answer (not interrupted, no error)."""
        return self.response is not None and not self.interrupted and self.error is None

    @property
    def status(self) -> str:
        """The line shown after the answer: interrupted, error, the tool loop's note, or empty."""
        if self.interrupted:
            return INTERRUPTED
        if self.error:
            return f"✖ {self.error}"
        if self.note:
            return f"⚠ {self.note}"
        return ""

    def bundle(self, *, show_stats: bool = True) -> dict[str, str]:
        """The final display bundle (safe HTML + plain text)."""
        if self.pending:
            return answer_bundle("", status=f"⏳ {self.background.label} is still streaming in the "
                                            f"background: `await` this result to wait for it")
        stats = self.stats if show_stats and self.response is not None else None
        return answer_bundle(self.text, thinking=self.thinking, fmt=self.fmt, status=self.status,
                             stats=stats, steps=self.steps)

    def take(self, outcome: Any, schema: Schema | None = None) -> SchemaError | None:
        """Fill in what a :class:`~ollama_nb.client._loop.Outcome` ended with; with ``schema``,
        parse the answer (the SchemaError of an answer that does not fit is returned, and
        its message kept in ``error``; the raw text stays in ``text``)."""
        self.text, self.thinking = outcome.text, outcome.thinking
        self.response = outcome.final
        self.stats = Stats.from_response(outcome.final, model=self.model)
        self.tool_calls = list(outcome.calls) or list(outcome.model_calls)
        self.steps, self.messages = list(outcome.steps), list(outcome.messages)
        self.rounds, self.note = outcome.rounds, outcome.note
        self.interrupted = self.interrupted or outcome.interrupted
        if outcome.incomplete and outcome.failure is None:
            self.error = "the answer ended without done (incomplete stream)"  # defensive
        if schema is None or outcome.failure is not None or self.interrupted or self.error \
                or outcome.limit_reached:
            return None
        try:
            self.parsed = schema.parse(self.text, partial=self)
        except SchemaError as exc:
            self.error = f"{exc.message} (the raw answer is kept in .text)"
            return exc
        return None

    def __str__(self) -> str:
        return self.text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return self.bundle()

    def __repr__(self) -> str:
        if self.pending:
            return (f"<OllamaResult {self.model or '?'} pending: {self.background.label} streams in "
                    f"the background (await it, or await onb.wait())>")
        flags = " interrupted" if self.interrupted else (" error" if self.error else "")
        preview = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return f"<OllamaResult {self.model or '?'}{flags}: {preview!r}>"

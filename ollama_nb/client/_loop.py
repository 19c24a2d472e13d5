"""The one request-and-tools loop behind ``%%ollama``, ``onb.ask`` and the ChatBox.

:func:`converse` sends a request (streamed or not), hands the answer as it arrives to a
*sink* (the cell's live display, a ChatBox bubble, or nothing), and with a
:class:`~._tools.Toolbox` runs the loop every client otherwise leaves to its user: each
tool call of an answer is run in order (several per turn), its result goes back as a
``role: tool`` message, and the model is asked again, until it answers without tool
calls or ``max_rounds`` requests have been made (the calls of the last answer are then
kept, not run, with a note). A server error or an interrupt ends the loop with what had
arrived; the :class:`Outcome` always says what happened and never loses a partial answer.

The sink
--------
Anything with ``feed(text, thinking)`` (the pieces of the current answer) may be a
sink; it may also define ``attach(stream)`` (to close the stream from another thread),
``stop_requested`` (True or a set ``threading.Event`` ends the loop between chunks) and
``steps(items)``: called with :attr:`Outcome.steps` (what the model said before its tool
calls, and the calls) each time it changes, which is when a call starts and when it ends;
the text fed before that belongs to the steps from then on.

Tools and ``format``
--------------------
On a real Ollama ``format`` is a grammar every generated token must fit
(llm/llama_server.go), so a schema, or a model whose call tag is not ``{`` (qwen's
``<tool_call>``), could never call a tool if ``format`` went with ``tools``. With both,
the tool rounds go without ``format``; when the model answers without tool calls, that
free answer becomes a step (shown above the answer, the thinking with it) and the loop
asks once more, with the conversation as the free answer found it (the question, the
calls and every tool result), ``format`` set and no tools, for the structured answer:
that one is :attr:`Outcome.text`, and ends :attr:`Outcome.messages` (which so reads as a
conversation should: calls, results, the answer; the free answer is only in the steps,
unless the structured request fails before anything arrives: then it ends the messages).
The extra request counts in :attr:`Outcome.rounds` but not against ``max_rounds``, which
bounds the requests that may call tools, so a structured answer can always come (rounds
may then be ``max_rounds + 1``). When the limit is reached while the model still asks for
tools, the loop ends as it does without ``format``: the calls are not run, there is no
structured request, and the note says so. Without tools nothing changes: one request,
``format`` in it; and ``tools`` without ``format`` are the loop above.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from ._errors import InvalidArgumentError, OllamaError
from ._tools import Confirm, Toolbox, ToolRun

__all__ = ["DEFAULT_MAX_ROUNDS", "Outcome", "converse"]

#: requests one prompt may make when the model keeps calling tools
DEFAULT_MAX_ROUNDS = 8


@dataclass
class Outcome:
    """What :func:`converse` ended with."""

    text: str = ""  # the last answer's text (earlier answers are in ``messages``)
    thinking: str = ""
    final: Any = None  # the last answer's done chunk (None if it never finished)
    calls: list[ToolRun] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)  # added after the request's own
    rounds: int = 0
    limit_reached: bool = False
    interrupted: bool = False
    failure: BaseException | None = None  # an OllamaError or KeyboardInterrupt, to re-raise
    incomplete: bool = False  # the stream ended without done (defensive)
    model_calls: list[Any] = field(default_factory=list)  # tool calls of the last answer
    #: in order: the assistant messages that came with tool calls (when they said something)
    #: and the ToolRun of every call
    steps: list[Any] = field(default_factory=list)

    @property
    def note(self) -> str:
        """A line about the loop's end, when it did not end with an answer."""
        if self.limit_reached:
            names = ", ".join(dict.fromkeys(c.name for c in self.calls if c.round == self.rounds))
            return (f"stopped after {self.rounds} rounds (the limit): the model still asked for "
                    f"{names}, not run. Raise it with --max-rounds N (max_rounds=)")
        return ""


def _stop(sink: Any) -> bool:
    flag = getattr(sink, "stop_requested", False)
    return flag.is_set() if isinstance(flag, threading.Event) else bool(flag)


def _pieces(chunk: Any, endpoint: str) -> tuple[str, str]:
    raw = chunk.raw
    source = raw.get("message") or {} if endpoint == "chat" else raw
    text = source.get("content" if endpoint == "chat" else "response") or ""
    return text, source.get("thinking") or ""


def _turn(client: Any, endpoint: str, kwargs: dict[str, Any], stream: bool, sink: Any,
          out: Outcome) -> list[Any]:
    """One request: feed the sink, fill ``out.text/thinking/final``; the model's tool calls."""
    call = getattr(client, endpoint)
    out.final, out.text, out.thinking = None, "", ""  # a request that fails says nothing
    if not stream:
        final = call(**kwargs, stream=False)
        out.text, out.thinking = _pieces(final, endpoint)
        out.final = final
        if sink is not None:
            sink.feed(out.text, out.thinking)
        return list(getattr(final, "tool_calls", None) or [])
    reader = call(**kwargs, stream=True)
    attach = getattr(sink, "attach", None)
    if callable(attach):
        attach(reader)
    try:
        with reader:
            for chunk in reader:
                if sink is not None:
                    sink.feed(*_pieces(chunk, endpoint))
                if chunk.raw.get("done"):
                    out.final = chunk
                if _stop(sink):
                    out.interrupted = True
                    break
        if out.final is None and reader.stopped:  # closed from another thread (Stop)
            out.interrupted = True
    finally:
        reader.close()
        out.text, out.thinking = reader.text, reader.thinking
    return list(reader.tool_calls)


def converse(client: Any, endpoint: str, kwargs: dict[str, Any], *, stream: bool = True,
             tools: Toolbox | None = None, max_rounds: int = DEFAULT_MAX_ROUNDS,
             confirm: Confirm | None = None, sink: Any = None) -> Outcome:
    """Send ``client.<endpoint>(**kwargs)``; with ``tools`` (chat only), run the tool loop.

    Never raises for the server or an interrupt: ``Outcome.failure`` holds the error
    (OllamaError or KeyboardInterrupt) for the caller to raise after keeping the partial.
    """
    held = None
    if tools is not None:
        if endpoint != "chat":
            raise InvalidArgumentError("tools need the chat endpoint (messages=)")
        if not isinstance(max_rounds, int) or isinstance(max_rounds, bool) or max_rounds < 1:
            raise InvalidArgumentError(f"max_rounds must be a positive integer, got {max_rounds!r}")
        held = kwargs.get("format")  # held back for the structured request after the tools
        kwargs = {**_without(kwargs, "format"), "tools": tools.schemas}
    out = Outcome()
    history = list(kwargs.get("messages") or [])
    said = True  # the current answer is in out.messages
    free: dict[str, Any] | None = None  # the answer before the structured one
    try:
        while True:
            out.rounds += 1
            said = False
            calls = _turn(client, endpoint, kwargs, stream, sink, out)
            out.model_calls = calls
            if out.final is None and not out.interrupted:
                out.incomplete = True
            message = _said(out, endpoint, calls)
            said = True
            if tools is None or free is not None or out.final is None or out.interrupted:
                break
            if not calls:
                if held is None:
                    break
                if _stop(sink):
                    out.interrupted = True
                    break
                free = out.messages.pop()
                if out.text or out.thinking:
                    out.steps.append(free)
                    _show(out, sink)
                kwargs = {**_without(kwargs, "tools"), "format": held,
                          "messages": _resend(history, out)}
                continue
            if message is not None and (out.text or out.thinking):
                out.steps.append(message)
            runs = [tools.start(c, out.rounds) for c in calls]
            if out.rounds >= max_rounds:
                out.limit_reached = True
                for run in runs:
                    run.error = f"not run: the round limit ({max_rounds}) was reached"
                    run.done = True
                _add(out, sink, *runs)
                break
            for run in runs:
                _add(out, sink, run)
                tools.run(run, confirm)
                _show(out, sink)
                out.messages.append(run.message())
                if _stop(sink):
                    out.interrupted = True
                    break
            if out.interrupted:
                break
            kwargs = {**kwargs, "messages": _resend(history, out)}
    except KeyboardInterrupt as exc:
        out.interrupted = True
        out.failure = exc
    except OllamaError as exc:
        out.failure = exc
    if not said:  # a failure in the middle of an answer: keep what arrived
        if _said(out, endpoint, []) is None and free is not None:
            out.messages.append(free)  # the structured answer never came: keep the free one
    return out


def _said(out: Outcome, endpoint: str, calls: list[Any]) -> dict[str, Any] | None:
    """Add the answer just read to ``out.messages`` (chat only; nothing if nothing came)."""
    if endpoint != "chat" or not (out.text or out.thinking or calls or out.final is not None):
        return None
    message: dict[str, Any] = {"role": "assistant", "content": out.text}
    if out.thinking:
        message["thinking"] = out.thinking
    if calls:
        message["tool_calls"] = [getattr(c, "raw", c) for c in calls]
    if out.final is None:
        message["incomplete"] = True
    out.messages.append(message)
    return message


def _add(out: Outcome, sink: Any, *runs: ToolRun) -> None:
    out.calls.extend(runs)
    out.steps.extend(runs)
    _show(out, sink)


def _resend(history: list[dict[str, Any]], out: Outcome) -> list[dict[str, Any]]:
    """The messages of the next round: the caller's, then this loop's (without our marks)."""
    return history + [_without(m, "incomplete") for m in out.messages]


def _without(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    """A copy of ``mapping`` without ``key`` (the request and messages are never changed in place)."""
    return {k: v for k, v in mapping.items() if k != key}


def _show(out: Outcome, sink: Any) -> None:
    show = getattr(sink, "steps", None)
    if callable(show):
        show(list(out.steps))

"""The prompt form of ``%%ollama``: build the request, stream it, keep the answer.

:func:`build_request` turns parsed options into client keyword arguments (and a
plain record of them for ``result.request``); :func:`run_request` streams the
answer through :class:`LiveAnswer` and always ends with a final display and a
stored :class:`OllamaResult` — on success, on a server error (partial kept, then
a one-line UsageError) and on KeyboardInterrupt (partial kept, marked, then
re-raised so "Run All" stops, shown as one line instead of a traceback).

Each thing is said once: the answer's own output carries the text, the stats and
whether it is partial; the error's message is the UsageError's alone (an output
with nothing in it is removed). A background answer (``background=True``) has no
cell left to raise into: its output itself ends with the error's one line, and
nothing is raised.
"""

from __future__ import annotations

import argparse
import io
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError

from ..client._args import check_images
from ..client._chat import ChatSession
from ..client._errors import InvalidArgumentError, OllamaError, OllamaTimeout, ResponseError
from ..client._loop import DEFAULT_MAX_ROUNDS, converse
from ..client._provenance import server_facts
from ..client._schema import Schema
from ..client._tools import Toolbox, confirm_on_stdin
from ..display._interrupt import one_line_interrupt
from ..display._render import Stats, answer_bundle, stats_line
from ._parse import parse_option
from ._result import OllamaResult
from ._stream_display import LiveAnswer

__all__ = ["Request", "build_request", "new_result", "run_request"]


@dataclass
class Request:
    """Everything needed to send one prompt: endpoint, client kwargs, and bookkeeping."""

    endpoint: str  # "generate" or "chat"
    kwargs: dict[str, Any]  # for client.<endpoint>(**kwargs, stream=...)
    record: dict[str, Any]  # what result.request shows (images elided)
    stream: bool
    fmt: str  # rendering: markdown, text, code, json
    chat: ChatSession | None
    user_message: dict[str, Any] | None  # added to the chat once an answer arrives
    tools: Toolbox | None = None
    schema: Schema | None = None
    max_rounds: int = DEFAULT_MAX_ROUNDS
    confirm: Callable[[str, dict[str, Any]], bool] | None = None

    @property
    def model(self) -> str:
        return str(self.kwargs["model"])


def _lookup(name: str, user_ns: Mapping[str, Any], local_ns: Mapping[str, Any] | None) -> Any:
    for ns in (local_ns or {}, user_ns):
        if name in ns:
            return ns[name]
    raise KeyError(name)


def _schema(name: str, user_ns: Mapping[str, Any], local_ns: Mapping[str, Any] | None) -> Schema:
    try:
        value = _lookup(name, user_ns, local_ns)
    except KeyError:
        raise UsageError(f"--schema {name}: no variable named {name!r} (it must hold a pydantic "
                         f"model, a dataclass, a TypedDict or a JSON schema dict)") from None
    try:
        return Schema(value)
    except InvalidArgumentError as exc:
        raise UsageError(f"--schema {name}: {exc.message.replace('schema must be', 'expected')}") from None


def _tools(names: list[str], user_ns: Mapping[str, Any], local_ns: Mapping[str, Any] | None) -> Toolbox:
    functions: dict[str, Any] = {}
    for name in names:
        try:
            value = _lookup(name, user_ns, local_ns)
        except KeyError:
            raise UsageError(f"--tools {name}: no function named {name!r} in the notebook "
                             f"(define it first: def {name}(...): ...)") from None
        if not callable(value):
            raise UsageError(f"--tools {name}: {name!r} is a {type(value).__name__}, not a function")
        functions[name] = value
    try:
        return Toolbox(functions)
    except InvalidArgumentError as exc:
        raise UsageError(f"--tools: {exc.message}") from None




def _images(specs: list[str], user_ns: Mapping[str, Any], local_ns: Mapping[str, Any] | None) -> list[str]:
    images: list[str] = []
    for spec in specs:
        try:
            value = _lookup(spec, user_ns, local_ns) if spec.isidentifier() else None
        except KeyError:
            value = None
        if value is None:
            path = Path(os.path.expanduser(spec))
            if not path.is_file():
                raise UsageError(f"--images {spec}: no variable or file named {spec!r}")
            value = path
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if hasattr(item, "save") and not isinstance(item, (str, bytes, os.PathLike)):
                buffer = io.BytesIO()  # a PIL image: send it as PNG
                item.save(buffer, format="PNG")
                item = buffer.getvalue()
            try:  # the client's own check: a file or bytes must really be an image
                images.extend(check_images([item]) or [])
            except InvalidArgumentError as exc:
                raise UsageError(f"--images {spec}: {exc.message.removeprefix('images: ')}") from None
    return images


def build_request(args: argparse.Namespace, prompt: str, *, model: str, default_options: Mapping[str, Any],
                  user_ns: Mapping[str, Any], local_ns: Mapping[str, Any] | None,
                  chat: ChatSession | None) -> Request:
    """Client keyword arguments for ``generate`` (or ``chat`` with ``--chat``)."""
    options = dict(default_options)
    for key, value in (("temperature", args.temperature), ("seed", args.seed),
                       ("num_predict", args.num_predict), ("num_ctx", args.num_ctx)):
        if value is not None:
            options[key] = value
    if args.stop:
        options["stop"] = list(args.stop)
    for item in args.options:
        key, value = parse_option(item)
        options[key] = value
    fmt_request: Any = None
    schema = None
    if args.json:
        fmt_request = "json"
    elif args.schema:
        schema = _schema(args.schema, user_ns, local_ns)
        fmt_request = schema.json
    images = _images(args.images, user_ns, local_ns)
    tools = _tools(args.tools, user_ns, local_ns) if args.tools else None

    common: dict[str, Any] = {"model": model}
    if options:
        common["options"] = options
    if fmt_request is not None:
        common["format"] = fmt_request
    if args.think is not None:
        common["think"] = args.think
    if args.keep_alive is not None:
        common["keep_alive"] = args.keep_alive

    user_message: dict[str, Any] | None = None
    if chat is not None:
        if args.raw:
            raise UsageError("--raw works only without --chat (a chat always uses the model's template)")
        if args.system:
            chat.set_system(args.system)
        user_message = {"role": "user", "content": prompt}
        if images:
            user_message["images"] = images
        kwargs = {**common, "messages": chat.window([user_message])}
        endpoint = "chat"
    elif tools is not None:  # tools need the chat endpoint: a one-message conversation
        user = {"role": "user", "content": prompt, **({"images": images} if images else {})}
        system = [{"role": "system", "content": args.system}] if args.system else []
        kwargs = {**common, "messages": [*system, user]}
        endpoint = "chat"
    else:
        kwargs = {**common, "prompt": prompt}
        if args.system:
            kwargs["system"] = args.system
        if images:
            kwargs["images"] = images
        if args.raw:
            kwargs["raw"] = True
        endpoint = "generate"

    record = {"endpoint": f"/api/{endpoint}", **kwargs}
    if tools is not None:
        record["tools"] = tools.schemas
    if "images" in record:
        record["images"] = [f"<{len(i)} base64 chars>" for i in record["images"]]
    if "messages" in record:
        record["messages"] = [
            {**m, "images": [f"<{len(i)} base64 chars>" for i in m["images"]]} if m.get("images") else m
            for m in record["messages"]
        ]
    fmt = args.fmt or ("json" if fmt_request is not None else "markdown")
    return Request(endpoint, kwargs, record, args.stream, fmt, chat, user_message, tools=tools,
                   schema=schema, max_rounds=args.max_rounds or DEFAULT_MAX_ROUNDS,
                   confirm=confirm_on_stdin if args.confirm else None)


def new_result(request: Request) -> OllamaResult:
    """The (empty) result that :func:`run_request` fills."""
    return OllamaResult(model=request.model, request=request.record, fmt=request.fmt,
                        chat=request.chat.name if request.chat is not None else None)


def run_request(client: Any, request: Request, live: LiveAnswer,
                store: Callable[[OllamaResult], None], *, show_stats: bool = True,
                result: OllamaResult | None = None, background: bool = False) -> OllamaResult:
    """Send ``request`` (running its tool loop), stream into ``live``, store the result; errors become UsageError
    (``background``: they are shown in the answer's output instead, and not raised)."""
    result = result if result is not None else new_result(request)
    if request.chat is not None:
        request.chat.model = request.model
    # the model's digest and the server's version (cached) for the provenance, asked before
    # the answer, so the answer is the cell's last request
    server_facts(client, request.model)
    live.start(request.model)
    outcome = None
    try:
        outcome = converse(client, request.endpoint, request.kwargs, stream=request.stream,
                           tools=request.tools, max_rounds=request.max_rounds,
                           confirm=request.confirm, sink=live)
    finally:
        failure = outcome.failure if outcome is not None else None
        if outcome is not None:
            invalid = result.take(outcome, request.schema)
        else:  # not the server's doing (a bug, a broken view): the output must still end
            invalid = None
            result.text, result.thinking = live.text, live.thinking
        if isinstance(failure, OllamaError):
            result.error = _error_line(failure, kept=bool(result.text or result.thinking),
                                       model=request.model)
        elif invalid is not None:
            result.error = f"{invalid.message} (the raw answer is kept in _ollama.text)"
        result.describe(client, "magic")
        _remember(request, result)
        store(result)
        raised = not background and (isinstance(failure, OllamaError) or invalid is not None)
        if raised:
            status = "✖ incomplete (the error follows)" if isinstance(failure, OllamaError) else ""
        else:
            status = result.status
        stats = result.stats if show_stats and result.response is not None else None
        live.finish(_shown(result, status, stats, raised), result,
                    tail="\n".join(x for x in (status, stats_line(stats) if stats else "") if x),
                    metadata=result.metadata)
    if isinstance(failure, KeyboardInterrupt):
        kept = result.text or result.thinking
        raise one_line_interrupt(failure, "the partial answer is kept in _ollama" if kept
                                 else "stopped before any answer arrived")
    if (failure is not None or invalid is not None) and not background:
        raise UsageError(result.error or str(failure)) from None
    return result


def _shown(result: OllamaResult, status: str, stats: Stats | None, raised: bool) -> dict[str, str]:
    """The answer's final output; ``{}`` (no output) when nothing arrived and an error follows."""
    if raised and not (result.text or result.thinking or result.steps):
        return {}
    return answer_bundle(result.text, thinking=result.thinking, fmt=result.fmt, status=status,
                         stats=stats, steps=result.steps)


def _error_line(error: OllamaError, *, kept: bool, model: str = "") -> str:
    """The one line a cell shows: the client's message, with the magic's own next step."""
    line = error.message
    if isinstance(error, OllamaTimeout):
        line = (f"{error.reason}; give it more time with --timeout SECONDS "
                f"(or %config OllamaMagics.timeout = SECONDS)")
    elif (isinstance(error, ResponseError) and error.status_code == 400
          and re.search(r"does not support (generate|chat)\b", error.error)):
        line += (f". {model} is an embedding model: embed with `%%ollama embed {model}` or "
                 f"onb.embed(texts, model={model!r}); `%ollama models` lists the chat models "
                 f"(capability completion)")
    if kept:
        line += " (the partial answer is kept in _ollama)"
    return line


def _remember(request: Request, result: OllamaResult) -> None:
    """Add the turn to the chat session (see :meth:`ChatSession.add_exchange`)."""
    if request.chat is not None and request.user_message is not None:
        request.chat.add_exchange(request.user_message, result.messages)

"""``onb.ask``: the ``%%ollama`` cell magic as one Python call, for scripts and pipelines.

It runs the same loop (:func:`ollama_nb.client._loop.converse`) and returns the same
:class:`~ollama_nb.magics._result.OllamaResult`, without a live display: in a notebook
the result shows itself when it is the cell's value. Failures raise the typed errors of
:mod:`ollama_nb.client._errors` (an answer that does not fit ``schema`` raises
:class:`~ollama_nb.client._errors.SchemaError`, whose ``.partial`` is the result with the
raw text); a tool's own failure does not raise, it goes back to the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .client._args import check_images
from .client._chat import ChatSession, chats
from .client._errors import InvalidArgumentError, OllamaError
from .client._loop import DEFAULT_MAX_ROUNDS, converse
from .client._provenance import server_facts
from .client._schema import Schema
from .client._session import get_client, session
from .client._tools import Toolbox, confirm_on_stdin
from .magics._result import OllamaResult

__all__ = ["ask"]


def ask(prompt: str, model: str | None = None, *, tools: Any = None, schema: Any = None,
        system: str | None = None, chat: str | ChatSession | None = None,
        images: Iterable[Any] | None = None, options: Mapping[str, Any] | None = None,
        think: bool | str | None = None, format: Any = None, keep_alive: Any = None,
        max_rounds: int = DEFAULT_MAX_ROUNDS,
        confirm: bool | Callable[[str, dict[str, Any]], bool] = False, stream: bool = False,
        host: str | None = None, client: Any = None) -> OllamaResult:
    """Ask ``model`` (default: the session's) and return the result ``%%ollama`` would store.

    ``tools``: functions the model may call (the loop runs them, at most ``max_rounds``
    requests; ``confirm=True`` asks on stdin before each call, or pass
    ``confirm(name, arguments) -> bool``). ``schema``: a pydantic model class, a
    dataclass, a TypedDict or a JSON-schema dict; ``result.parsed`` is then the validated
    answer. ``chat``: a conversation name (as ``--chat NAME``) or a ChatSession, continued
    and extended. ``stream=True`` reads the answer as a stream (same result).
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidArgumentError("ask needs a prompt: a non-empty string")
    model = model or session.model
    if not model:
        raise InvalidArgumentError("ask needs a model: pass model='llama3.2' or set a default with "
                                   "%ollama model NAME")
    if schema is not None and format is not None:
        raise InvalidArgumentError("give either schema= or format=, not both")
    typed = Schema(schema) if schema is not None else None
    toolbox = Toolbox.coerce(tools)
    conversation = chats.get(chat) if isinstance(chat, str) else chat
    pictures = check_images(list(images)) if images is not None else None
    common: dict[str, Any] = {"model": model}
    for key, value in (("options", dict(options) if options else None),
                       ("format", typed.json if typed is not None else format),
                       ("think", think), ("keep_alive", keep_alive)):
        if value is not None:
            common[key] = value
    question: dict[str, Any] = {"role": "user", "content": prompt}
    if pictures:
        question["images"] = pictures
    if conversation is not None or toolbox is not None:
        if conversation is not None:
            if system:
                conversation.set_system(system)
            messages = conversation.window([question])
            conversation.model = model
        else:
            messages = [*([{"role": "system", "content": system}] if system else []), question]
        endpoint, kwargs = "chat", {**common, "messages": messages}
    else:
        endpoint = "generate"
        kwargs = {**common, "prompt": prompt, **({"system": system} if system else {}),
                  **({"images": pictures} if pictures else {})}
    record = {"endpoint": f"/api/{endpoint}", **kwargs}
    if toolbox is not None:
        record["tools"] = toolbox.schemas
    asker = confirm_on_stdin if confirm is True else (confirm or None)
    http = get_client(host, client)
    server_facts(http, model)  # the model's digest for the provenance (cached per host)
    outcome = converse(http, endpoint, kwargs, stream=stream, tools=toolbox,
                       max_rounds=max_rounds, confirm=asker)
    result = OllamaResult(model=model, request=record,
                          fmt="json" if common.get("format") is not None else "markdown",
                          chat=conversation.name if conversation is not None else None)
    invalid = result.take(outcome, typed)
    if isinstance(outcome.failure, OllamaError):
        result.error = outcome.failure.message
    result.describe(http, "ask")
    if conversation is not None:
        conversation.add_exchange(question, result.messages)
    if outcome.failure is not None:
        if getattr(outcome.failure, "partial", None) is None:
            outcome.failure.partial = result  # type: ignore[attr-defined]  # what arrived, as a result
        raise outcome.failure
    if invalid is not None:
        raise invalid
    return result

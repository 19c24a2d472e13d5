"""Small typed results of the Ollama API.

Each result wraps the decoded JSON object (kept whole as ``.raw``) and offers
attribute access: known fields with sensible defaults when a server omits them,
nested objects as typed results, and any field a newer server adds reachable as an
attribute too, so a new server never breaks us. Durations (integer nanoseconds on
the wire) are also offered in seconds, and tokens/s is derived.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

__all__ = [
    "Result",
    "GenerateResponse",
    "ChatResponse",
    "Message",
    "ToolCall",
    "EmbedResponse",
    "EmbeddingsResponse",
    "ListResponse",
    "ModelInfo",
    "ModelDetails",
    "ShowResponse",
    "ProcessResponse",
    "RunningModel",
    "ProgressResponse",
    "parse_timestamp",
]

_TS = re.compile(
    r"^(?P<base>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?"
    r"(?P<tz>Z|z|[+-]\d{2}:?\d{2})?$"
)


def parse_timestamp(value: Any) -> datetime | None:
    """RFC 3339 with up to 9 fractional digits -> timezone-aware datetime (ns truncated)."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    match = _TS.match(value.strip())
    if not match:
        return None
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    tz_text = match["tz"] or "Z"
    if tz_text in ("Z", "z"):
        tz = timezone.utc
    else:
        sign = -1 if tz_text[0] == "-" else 1
        digits = tz_text[1:].replace(":", "")
        tz = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        base = datetime.strptime(match["base"].replace(" ", "T"), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        return None
    return base.replace(microsecond=int(frac), tzinfo=tz)


def _seconds(ns: Any) -> float | None:
    return ns / 1e9 if isinstance(ns, (int, float)) and not isinstance(ns, bool) else None


class Result:
    """A JSON object from the server with attribute access; ``.raw`` is the dict itself."""

    __slots__ = ("raw",)
    #: fields that read as this default when the server left them out
    _defaults: ClassVar[Mapping[str, Any]] = {}
    #: fields shown by repr
    _repr_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, raw: Mapping[str, Any] | None = None, **fields: Any) -> None:
        if type(raw) is dict and not fields:
            data = raw  # the decoded JSON object itself: no copy per stream chunk
        else:
            data = dict(raw) if raw is not None else {}
            data.update(fields)
        object.__setattr__(self, "raw", data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raw = object.__getattribute__(self, "raw")
        if name in raw:
            return raw[name]
        defaults = type(self)._defaults
        if name in defaults:
            value = defaults[name]
            return list(value) if isinstance(value, list) else value
        raise AttributeError(f"{type(self).__name__!s} has no field {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only; copy .raw to change it")

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __contains__(self, key: object) -> bool:
        return key in self.raw

    def get(self, key: str, default: Any = None) -> Any:
        """``raw.get``: dict-style access for code written against plain JSON."""
        return self.raw.get(key, default)

    def keys(self) -> Any:
        return self.raw.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Result):
            return type(self) is type(other) and self.raw == other.raw
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.raw) | set(type(self)._defaults))

    def __repr__(self) -> str:
        parts = []
        for name in self._repr_fields:
            value = getattr(self, name, None)
            if value is None:
                continue
            if isinstance(value, str) and len(value) > 60:
                value = value[:57] + "..."
            elif isinstance(value, list) and len(value) > 4:
                value = f"[{len(value)} items]"
            parts.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __getstate__(self) -> dict[str, Any]:
        return self.raw

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, "raw", state)


class _Metrics(Result):
    """Timing fields of a final chunk (nanoseconds) and derived seconds / rates."""

    __slots__ = ()
    _defaults: ClassVar[Mapping[str, Any]] = {
        "total_duration": None,
        "load_duration": None,
        "prompt_eval_count": None,
        "prompt_eval_duration": None,
        "eval_count": None,
        "eval_duration": None,
    }

    @property
    def total_seconds(self) -> float | None:
        return _seconds(self.raw.get("total_duration"))

    @property
    def load_seconds(self) -> float | None:
        return _seconds(self.raw.get("load_duration"))

    @property
    def prompt_eval_seconds(self) -> float | None:
        return _seconds(self.raw.get("prompt_eval_duration"))

    @property
    def eval_seconds(self) -> float | None:
        return _seconds(self.raw.get("eval_duration"))

    @property
    def tokens_per_second(self) -> float | None:
        """Generated tokens per second of generation (``eval_count / eval_duration``)."""
        count, seconds = self.raw.get("eval_count"), self.eval_seconds
        return count / seconds if isinstance(count, (int, float)) and seconds else None

    @property
    def prompt_tokens_per_second(self) -> float | None:
        count, seconds = self.raw.get("prompt_eval_count"), self.prompt_eval_seconds
        return count / seconds if isinstance(count, (int, float)) and seconds else None

    @property
    def created_at_datetime(self) -> datetime | None:
        return parse_timestamp(self.raw.get("created_at"))


class ToolCall(Result):
    """A tool call: ``.function.name``, ``.function.arguments`` (a dict), ``.id`` if sent."""

    __slots__ = ()
    _defaults: ClassVar[Mapping[str, Any]] = {"id": None}
    _repr_fields = ("name", "arguments")

    @property
    def function(self) -> Result:
        return _Function(self.raw.get("function") or {})

    @property
    def name(self) -> str | None:
        return (self.raw.get("function") or {}).get("name")

    @property
    def arguments(self) -> dict[str, Any]:
        return (self.raw.get("function") or {}).get("arguments") or {}


class _Function(Result):
    __slots__ = ()
    _defaults: ClassVar[Mapping[str, Any]] = {"name": None, "arguments": {}, "index": None}
    _repr_fields = ("name", "arguments")


class Message(Result):
    """A chat message: ``role``, ``content``, and optional ``thinking``, ``tool_calls``, ``images``."""

    __slots__ = ()
    _defaults: ClassVar[Mapping[str, Any]] = {
        "role": "assistant",
        "content": "",
        "thinking": None,
        "images": None,
        "tool_name": None,
        "tool_call_id": None,
    }
    _repr_fields = ("role", "content", "thinking", "tool_calls")

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [ToolCall(call) for call in self.raw.get("tool_calls") or []]


class GenerateResponse(_Metrics):
    """A ``/api/generate`` result or stream chunk."""

    __slots__ = ()
    _defaults: ClassVar[Mapping[str, Any]] = {
        **_Metrics._defaults,
        "model": None,
        "created_at": None,
        "response": "",
        "thinking": None,
        "done": False,
        "done_reason": None,
        "context": None,
        "logprobs": None,
    }
    _repr_fields = ("model", "response", "thinking", "done", "done_reason", "eval_count")

    @property
    def text(self) -> str:
        return self.raw.get("response") or ""

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [ToolCall(call) for call in self.raw.get("tool_calls") or []]


class ChatResponse(_Metrics):
    """A ``/api/chat`` result or stream chunk; ``.message`` is a :class:`Message`."""

    __slots__ = ()
    _defaults: ClassVar[Mapping[str, Any]] = {
        **_Metrics._defaults,
        "model": None,
        "created_at": None,
        "done": False,
        "done_reason": None,
        "logprobs": None,
    }
    _repr_fields = ("model", "message", "done", "done_reason", "eval_count")

    @property
    def message(self) -> Message:
        return Message(self.raw.get("message") or {})

    @property
    def text(self) -> str:
        return (self.raw.get("message") or {}).get("content") or ""

    @property
    def thinking(self) -> str | None:
        return (self.raw.get("message") or {}).get("thinking")

    @property
    def tool_calls(self) -> list[ToolCall]:
        return self.message.tool_calls


class EmbedResponse(_Metrics):
    """``/api/embed``: ``.embeddings`` is one unit-norm vector per input, in input order."""

    __slots__ = ()
    _defaults: ClassVar[Mapping[str, Any]] = {**_Metrics._defaults, "model": None, "embeddings": []}
    _repr_fields = ("model", "dimensions", "count")

    @property
    def count(self) -> int:
        return len(self.raw.get("embeddings") or [])

    @property
    def dimensions(self) -> int | None:
        vectors = self.raw.get("embeddings") or []
        return len(vectors[0]) if vectors else None


class EmbeddingsResponse(Result):
    """Legacy ``/api/embeddings``: ``.embedding`` is one vector (not normalised)."""

    __slots__ = ()
    _defaults: ClassVar[Mapping[str, Any]] = {"embedding": []}
    _repr_fields = ("dimensions",)

    @property
    def dimensions(self) -> int:
        return len(self.raw.get("embedding") or [])


class ModelDetails(Result):
    """``details`` of a model: family, parameter size, quantization…"""

    __slots__ = ()
    _defaults: ClassVar[Mapping[str, Any]] = {
        "parent_model": "",
        "format": None,
        "family": None,
        "families": None,
        "parameter_size": None,
        "quantization_level": None,
        "context_length": None,
        "embedding_length": None,
    }
    _repr_fields = ("family", "parameter_size", "quantization_level")


class _HasModelTimes(Result):
    __slots__ = ()

    @property
    def details(self) -> ModelDetails:
        return ModelDetails(self.raw.get("details") or {})

    @property
    def modified_at(self) -> datetime | None:
        return parse_timestamp(self.raw.get("modified_at"))


class ModelInfo(_HasModelTimes):
    """One entry of ``/api/tags``; ``modified_at`` is a timezone-aware datetime."""

    __slots__ = ()
    _defaults: ClassVar[Mapping[str, Any]] = {
        "name": None,
        "model": None,
        "size": None,
        "digest": None,
        "capabilities": None,
    }
    _repr_fields = ("name", "size", "parameter_size")

    @property
    def parameter_size(self) -> str | None:
        return self.details.parameter_size


class _ModelList(Result):
    """A ``{"models": [...]}`` answer; ``.models`` wraps each entry in ``_item``."""

    __slots__ = ()
    _repr_fields = ("names",)
    _item: ClassVar[type[Result]]

    @property
    def models(self) -> list[Any]:
        return [self._item(m) for m in self.raw.get("models") or []]

    @property
    def names(self) -> list[str]:
        return [m.get("name") or m.get("model") for m in self.raw.get("models") or []]

    def __len__(self) -> int:
        return len(self.raw.get("models") or [])


class ListResponse(_ModelList):
    """``/api/tags``: ``.models`` is a list of :class:`ModelInfo`."""

    __slots__ = ()
    _item = ModelInfo


class RunningModel(_HasModelTimes):
    """One entry of ``/api/ps``; ``expires_at`` is a timezone-aware datetime."""

    __slots__ = ()
    _defaults: ClassVar[Mapping[str, Any]] = {
        "name": None,
        "model": None,
        "size": None,
        "digest": None,
        "size_vram": None,
        "context_length": None,
    }
    _repr_fields = ("name", "size", "size_vram", "expires_at")

    @property
    def expires_at(self) -> datetime | None:
        return parse_timestamp(self.raw.get("expires_at"))


class ProcessResponse(_ModelList):
    """``/api/ps``: ``.models`` is a list of :class:`RunningModel`."""

    __slots__ = ()
    _item = RunningModel


class ShowResponse(_HasModelTimes):
    """``/api/show``: template, system, parameters, license, model_info, capabilities…"""

    __slots__ = ()
    _defaults: ClassVar[Mapping[str, Any]] = {
        "license": None,
        "modelfile": None,
        "parameters": None,
        "template": None,
        "system": None,
        "model_info": None,
        "projector_info": None,
        "tensors": None,
        "capabilities": None,
        "messages": None,
        "renderer": None,
        "parser": None,
    }
    _repr_fields = ("family", "parameter_size", "capabilities")

    @property
    def family(self) -> str | None:
        return self.details.family

    @property
    def parameter_size(self) -> str | None:
        return self.details.parameter_size

    @property
    def context_length(self) -> int | None:
        """``<arch>.context_length`` from ``model_info`` (or ``details``), if known."""
        info = self.raw.get("model_info") or {}
        arch = info.get("general.architecture")
        value = info.get(f"{arch}.context_length") if arch else None
        return value if value is not None else self.details.context_length

    @property
    def parameter_map(self) -> dict[str, Any]:
        """The ``parameters`` text as a dict (repeated keys such as ``stop`` become lists)."""
        result: dict[str, Any] = {}
        for line in (self.raw.get("parameters") or "").splitlines():
            key, _, value = line.strip().partition(" ")
            if not key:
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                try:
                    value = json.loads(value)
                except ValueError:
                    value = value[1:-1]
            else:
                value = _number(value)
            if key in result:
                previous = result[key]
                result[key] = (previous if isinstance(previous, list) else [previous]) + [value]
            elif key == "stop":
                result[key] = [value]
            else:
                result[key] = value
        return result


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text, text)


class ProgressResponse(Result):
    """A pull / push / create progress line: ``status`` and, per layer, ``digest``, ``total``, ``completed``."""

    __slots__ = ()
    _defaults: ClassVar[Mapping[str, Any]] = {
        "status": None,
        "digest": None,
        "total": None,
        "completed": None,
    }
    _repr_fields = ("status", "digest", "total", "completed")

    @property
    def fraction(self) -> float | None:
        """``completed / total`` for a layer line, else None."""
        total = self.raw.get("total")
        if not total:
            return None
        return (self.raw.get("completed") or 0) / total

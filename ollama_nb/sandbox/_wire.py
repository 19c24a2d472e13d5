"""Wire details of the Go server: JSON text, JSON errors, timestamps, durations.

Go's ``encoding/json`` escapes ``<``, ``>`` and ``&`` and reports decoding
errors in its own words; ``time`` prints RFC 3339 with trimmed nanoseconds; a
``keep_alive`` string is a Go duration. The sandbox reproduces these so that a
client tested here meets the same bytes as against a real server.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any


class ApiError(Exception):
    """An error response: HTTP status and the ``{"error": message}`` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- JSON ---------------------------------------------------------------------------


def dumps(obj: Any) -> bytes:
    """Compact JSON as Go's json.Marshal writes it (HTML characters escaped)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if "<" in text or ">" in text or "&" in text or "\u2028" in text or "\u2029" in text:
        text = (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return text.encode()


_JSON_KIND = {str: "string", bool: "bool", int: "number", float: "number", list: "array",
              dict: "object"}


def json_kind(value: Any) -> str:
    return _JSON_KIND.get(type(value), "value")


def loads_request(raw: bytes) -> Any:
    """Decode a request body like gin's ShouldBindJSON; ApiError(400) in Go's words."""
    if not raw.strip():
        raise ApiError(400, "missing request body")
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise ApiError(400, "invalid character looking for beginning of value") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, _go_json_error(text, exc)) from None


def _go_json_error(text: str, exc: json.JSONDecodeError) -> str:
    pos = exc.pos
    if pos >= len(text.rstrip()) and exc.msg != "Extra data":
        return "unexpected EOF"
    ch = text[pos] if pos < len(text) else ""
    shown = json.dumps(ch)[1:-1] if ch not in ("'",) else "\\'"
    if exc.msg == "Extra data":
        context = "after top-level value"
    elif exc.msg.startswith("Expecting property name"):
        context = "looking for beginning of object key string"
    elif exc.msg.startswith("Expecting ':'"):
        context = "after object key"
    elif exc.msg.startswith("Expecting ','"):
        before = text[:pos]
        context = ("after array element" if before.rfind("[") > before.rfind("{")
                   else "after object key:value pair")
    else:
        context = "looking for beginning of value"
    return f"invalid character '{shown}' {context}"


# Field types of the Go request structs: json field -> (accepted JSON kinds, Go type name)
S = ({"string"}, "string")
B = ({"bool"}, "bool")
I = ({"number"}, "int")
M = ({"object"}, "map[string]interface {}")
ANY: tuple[set[str], str] = (set(), "")
MSGS = ({"array"}, "[]api.Message")

STRUCTS: dict[str, dict[str, tuple[set[str], str]]] = {
    "GenerateRequest": {
        "model": S, "prompt": S, "suffix": S, "system": S, "template": S,
        "context": ({"array"}, "[]int"), "stream": B, "raw": B, "format": ANY,
        "keep_alive": ANY, "images": ({"array"}, "[]api.ImageData"), "options": M, "think": ANY,
        "truncate": B, "shift": B, "logprobs": B, "top_logprobs": I,
    },
    "ChatRequest": {
        "model": S, "messages": MSGS, "stream": B, "format": ANY, "keep_alive": ANY,
        "tools": ({"array"}, "api.Tools"), "options": M, "think": ANY, "truncate": B,
        "shift": B, "logprobs": B, "top_logprobs": I,
    },
    "EmbedRequest": {"model": S, "input": ANY, "keep_alive": ANY, "truncate": B,
                     "dimensions": I, "options": M},
    "EmbeddingRequest": {"model": S, "prompt": S, "keep_alive": ANY, "options": M},
    "ShowRequest": {"model": S, "system": S, "template": S, "verbose": B, "options": M,
                    "name": S},
    "CreateRequest": {
        "model": S, "from": S, "files": ({"object"}, "map[string]string"),
        "adapters": ({"object"}, "map[string]string"), "template": S, "license": ANY,
        "system": S, "parameters": M, "messages": MSGS, "quantize": S, "stream": B,
        "name": S, "modelfile": S, "quantization": S,
    },
    "CopyRequest": {"source": S, "destination": S},
    "DeleteRequest": {"model": S, "name": S},
    "PullRequest": {"model": S, "insecure": B, "username": S, "password": S, "stream": B,
                    "name": S},
    "PushRequest": {"model": S, "insecure": B, "username": S, "password": S, "stream": B,
                    "name": S},
}

MESSAGE_FIELDS: dict[str, tuple[set[str], str]] = {
    "role": S, "content": S, "thinking": S, "images": ({"array"}, "[]api.ImageData"),
    "tool_calls": ({"array"}, "[]api.ToolCall"), "tool_name": S, "tool_call_id": S,
}


def check_struct(body: Any, struct: str) -> dict[str, Any]:
    """Type-check a decoded body against a Go request struct (null is always fine)."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, f"json: cannot unmarshal {json_kind(body)} into Go value of type "
                            f"api.{struct}")
    fields = STRUCTS[struct]
    lowered = {k.lower(): k for k in fields}
    out: dict[str, Any] = {}
    for key, value in body.items():
        field = key if key in fields else lowered.get(key.lower())
        if field is None:
            continue  # unknown fields are ignored
        kinds, gotype = fields[field]
        if value is not None and kinds and json_kind(value) not in kinds:
            raise ApiError(400, f"json: cannot unmarshal {json_kind(value)} into Go struct "
                                f"field {struct}.{field} of type {gotype.lstrip('*')}")
        if field == "top_logprobs" or field == "dimensions":
            if isinstance(value, float) and not value.is_integer():
                raise ApiError(400, f"json: cannot unmarshal number {value} into Go struct "
                                    f"field {struct}.{field} of type int")
        out[field] = value
    for msg in out.get("messages") or []:
        _check_message(msg, struct)
    return out


def _check_message(msg: Any, struct: str) -> None:
    if msg is None:
        return
    if not isinstance(msg, dict):
        raise ApiError(400, f"json: cannot unmarshal {json_kind(msg)} into Go struct field "
                            f"{struct}.messages of type api.Message")
    for key, value in msg.items():
        spec = MESSAGE_FIELDS.get(key)
        if spec and value is not None and json_kind(value) not in spec[0]:
            raise ApiError(400, f"json: cannot unmarshal {json_kind(value)} into Go struct "
                                f"field {struct}.messages.{key} of type {spec[1]}")


# --- options (§4.1) -----------------------------------------------------------------------

_OPTION_TYPES = {
    "num_keep": "integer", "seed": "integer", "num_predict": "integer", "top_k": "integer",
    "top_p": "float32", "min_p": "float32", "typical_p": "float32", "repeat_last_n": "integer",
    "temperature": "float32", "repeat_penalty": "float32", "presence_penalty": "float32",
    "frequency_penalty": "float32", "stop": "array", "num_ctx": "integer",
    "num_batch": "integer", "num_gpu": "integer", "main_gpu": "integer", "use_mmap": "boolean",
    "num_thread": "integer", "draft_num_predict": "integer",
}


def check_options(options: Any) -> dict[str, Any]:
    """Known options with the right type; unknown ones dropped; wrong type -> 500."""
    if not options:
        return {}
    out: dict[str, Any] = {}
    for key, value in options.items():
        kind = _OPTION_TYPES.get(key)
        if kind is None or value is None:
            continue
        ok = {
            "integer": isinstance(value, (int, float)) and not isinstance(value, bool),
            "float32": isinstance(value, float) or (isinstance(value, int)
                                                    and not isinstance(value, bool)),
            "boolean": isinstance(value, bool),
            "array": isinstance(value, list),
        }[kind]
        if not ok:
            raise ApiError(500, f"option {key!r} must be of type {kind}".replace("'", '"'))
        if kind == "array" and not all(isinstance(v, str) for v in value):
            raise ApiError(500, f'option "{key}" must be of an array of strings')
        out[key] = int(value) if kind == "integer" else value
    return out


# --- keep_alive (§4.3) ---------------------------------------------------------------------

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
          "h": 3600.0}
_DUR_PART = re.compile(r"(\d+\.?\d*|\.\d+)([a-zµμ]*)")


def parse_go_duration(text: str) -> float:
    """Go's time.ParseDuration, in seconds; ApiError(400) with Go's message."""
    orig = text
    sign = 1.0
    if text[:1] in "+-":
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    if not text:
        raise ApiError(400, f'time: invalid duration "{orig}"')
    total = 0.0
    pos = 0
    while pos < len(text):
        m = _DUR_PART.match(text, pos)
        if not m:
            raise ApiError(400, f'time: invalid duration "{orig}"')
        number, unit = m.groups()
        if not unit:
            raise ApiError(400, f'time: missing unit in duration "{orig}"')
        if unit not in _UNITS:
            raise ApiError(400, f'time: unknown unit "{unit}" in duration "{orig}"')
        total += float(number) * _UNITS[unit]
        pos = m.end()
    return sign * total


_GO_TYPES = {bool: "bool", list: "[]interface {}", dict: "map[string]interface {}"}


def keep_alive_seconds(value: Any, default: float = 300.0) -> float | None:
    """Seconds to stay loaded; ``None`` = forever (negative values)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ApiError(400, f"Unsupported type: '{_GO_TYPES.get(type(value), 'interface {}')}'")
    seconds = float(value) if not isinstance(value, str) else parse_go_duration(value)
    if isinstance(value, (int, float)) and value < 0:
        return None
    return None if seconds < 0 else seconds


# --- time -------------------------------------------------------------------------------


def _frac(ns: int) -> str:
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return f".{frac}" if frac else ""


def utc_now() -> str:
    """``created_at``: UTC, RFC 3339 with trimmed nanoseconds and ``Z``."""
    ns = time.time_ns()
    base = datetime.fromtimestamp(ns // 1_000_000_000, tz=timezone.utc)
    return base.strftime("%Y-%m-%dT%H:%M:%S") + _frac(ns) + "Z"


def local_time(seconds: float) -> str:
    """``modified_at``/``expires_at``: local time with numeric offset (``Z`` when 0)."""
    ns = int(seconds * 1_000_000_000)
    try:
        base = datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
    except (OverflowError, ValueError, OSError):
        base = datetime(2318, 1, 1).astimezone()
    offset = base.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        zone = "Z"
    else:
        total = int(offset.total_seconds())
        sign = "+" if total >= 0 else "-"
        total = abs(total)
        zone = f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"
    return base.strftime("%Y-%m-%dT%H:%M:%S") + _frac(ns) + zone

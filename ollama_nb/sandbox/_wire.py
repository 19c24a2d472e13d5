"""Wire details of the Go server: JSON text, JSON errors, timestamps, durations.

Go's ``encoding/json`` escapes ``<``, ``>`` and ``&`` and reports decoding
errors in its own words; ``time`` prints RFC 3339 with trimmed nanoseconds; a
``keep_alive`` string is a Go duration. The sandbox reproduces these so that a
client tested here meets the same bytes as against a real server.
"""

from __future__ import annotations

import json
import re
import secrets
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


class RawJSON:
    """JSON text that ``dumps`` writes as it is (a Go ``json.RawMessage``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class Float32Rows:
    """A float32 matrix (n x dims) that ``dumps`` writes as Go writes ``[][]float32``.

    Go prints each float32 in its shortest form (``0.0123``, not the float64 digits
    ``0.012299999594688416``), which is about half the bytes of Python's ``json``.
    The matrix stays available (``.matrix``) for base64 encodings.
    """

    __slots__ = ("matrix",)

    def __init__(self, matrix: Any) -> None:
        self.matrix = matrix

    def __len__(self) -> int:
        return len(self.matrix)

    def _texts(self) -> Any:
        """The numbers' texts (numpy's float->str cast gives the shortest digits in C;
        only the few ``1e-05`` and ``1.0`` forms need Go's spelling)."""
        import numpy as np

        texts = self.matrix.astype(str)
        size = np.abs(self.matrix)  # numpy writes 1e-05 below 1e-4 and 1e+06 from 1e6
        odd = (size < 1e-4) | (size >= 1e6) | (self.matrix == np.floor(self.matrix))
        for at in zip(*np.nonzero(odd)):
            texts[at] = float32_text(self.matrix[at])
        return texts

    def row(self, i: int) -> RawJSON:
        return RawJSON("[" + ",".join(Float32Rows(self.matrix[i:i + 1])._texts()[0]) + "]")

    def rows(self) -> list[RawJSON]:
        return [RawJSON("[" + ",".join(row) + "]") for row in self._texts().tolist()]

    def raw(self) -> RawJSON:
        return RawJSON("[" + ",".join(r.text for r in self.rows()) + "]")


def float32_text(value: Any) -> str:
    """One numpy float32 (or float64) as Go's encoding/json writes it: the shortest
    digits that round-trip at that width, 'e' notation only below 1e-6 and from 1e21."""
    text = str(value)  # numpy: the shortest digits that round-trip at the value's width
    if "e" in text:
        mantissa, _, exp = text.partition("e")
        if -7 < int(exp) < 21:  # Go switches to 'e' only below 1e-6 and from 1e21
            import numpy as np

            return np.format_float_positional(value, unique=True, trim="-")
        sign = "-" if exp.startswith("-") else "+"
        return f"{mantissa.removesuffix('.0')}e{sign}{int(exp.lstrip('+-'))}"
    return text[:-2] if text.endswith(".0") else text


def go_float(value: float) -> str:
    """A float64 as Go's encoding/json writes it (``0.00001``, where Python writes
    ``1e-05``); wrap it in ``RawJSON`` to send it."""
    import numpy as np

    return float32_text(np.float64(value))


_RAW_MARK = "raw" + secrets.token_hex(6)  # a placeholder no request text can contain


def dumps(obj: Any, *, sort_keys: bool = False) -> bytes:
    """Compact JSON as Go's json.Marshal writes it (HTML characters escaped).

    ``RawJSON`` and ``Float32Rows`` values are written as their own text;
    ``sort_keys`` is for objects Go builds as ``map[string]any``.
    """
    raws: list[str] = []

    def raw(value: Any) -> str:
        if isinstance(value, Float32Rows):
            value = value.raw()
        if not isinstance(value, RawJSON):
            raise TypeError(f"{type(value).__name__} is not JSON serializable")
        raws.append(value.text)
        return f"\x00{_RAW_MARK}{len(raws) - 1}\x00"

    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False,
                      sort_keys=sort_keys, default=raw)
    for i, piece in enumerate(raws):
        text = text.replace(f'"\\u0000{_RAW_MARK}{i}\\u0000"', piece, 1)
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
INT = ({"number"}, "int")
M = ({"object"}, "map[string]interface {}")
ANY: tuple[set[str], str] = (set(), "")
MSGS = ({"array"}, "[]api.Message")

STRUCTS: dict[str, dict[str, tuple[set[str], str]]] = {
    "GenerateRequest": {
        "model": S, "prompt": S, "suffix": S, "system": S, "template": S,
        "context": ({"array"}, "[]int"), "stream": B, "raw": B, "format": ANY,
        "keep_alive": ANY, "images": ({"array"}, "[]api.ImageData"), "options": M, "think": ANY,
        "truncate": B, "shift": B, "logprobs": B, "top_logprobs": INT,
    },
    "ChatRequest": {
        "model": S, "messages": MSGS, "stream": B, "format": ANY, "keep_alive": ANY,
        "tools": ({"array"}, "api.Tools"), "options": M, "think": ANY, "truncate": B,
        "shift": B, "logprobs": B, "top_logprobs": INT,
    },
    "EmbedRequest": {"model": S, "input": ANY, "keep_alive": ANY, "truncate": B,
                     "dimensions": INT, "options": M},
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

F = ({"number"}, "float64")
F32 = ({"number"}, "float32")


def _obj(gotype: str) -> tuple[set[str], str]:
    return {"object"}, gotype


def _arr(gotype: str) -> tuple[set[str], str]:
    return {"array"}, gotype


# the compatibility endpoints' request structs (openai/openai.go, openai/responses.go,
# anthropic/anthropic.go)
STRUCTS.update({
    "openai.ChatCompletionRequest": {
        "model": S, "messages": _arr("[]openai.Message"), "stream": B,
        "stream_options": _obj("openai.StreamOptions"), "max_tokens": INT, "seed": INT,
        "stop": ANY, "temperature": F, "frequency_penalty": F, "presence_penalty": F,
        "top_p": F, "response_format": _obj("openai.ResponseFormat"),
        "tools": _arr("[]api.Tool"), "reasoning": _obj("openai.Reasoning"),
        "reasoning_effort": S, "logprobs": B, "top_logprobs": INT,
    },
    "openai.CompletionRequest": {
        "model": S, "prompt": S, "frequency_penalty": F32, "max_tokens": INT,
        "presence_penalty": F32, "seed": INT, "stop": ANY, "stream": B,
        "stream_options": _obj("openai.StreamOptions"), "temperature": F32, "top_p": F32,
        "suffix": S, "logprobs": INT,
    },
    "openai.EmbedRequest": {"input": ANY, "model": S, "dimensions": INT, "encoding_format": S},
    "openai.ResponsesRequest": {
        "model": S, "background": B, "conversation": ANY, "include": _arr("[]string"),
        "input": ANY, "instructions": S, "max_output_tokens": INT,
        "reasoning": _obj("openai.ResponsesReasoning"), "temperature": F,
        "text": _obj("openai.ResponsesText"), "top_p": F, "truncation": S,
        "tools": _arr("[]openai.ResponsesTool"), "stream": B,
    },
    "anthropic.MessagesRequest": {
        "model": S, "max_tokens": INT, "messages": _arr("[]anthropic.MessageParam"),
        "system": ANY, "stream": B, "temperature": F, "top_p": F, "top_k": INT,
        "stop_sequences": _arr("[]string"), "tools": _arr("[]anthropic.Tool"),
        "tool_choice": _obj("anthropic.ToolChoice"),
        "thinking": _obj("anthropic.ThinkingConfig"), "metadata": _obj("anthropic.Metadata"),
        "output_config": _obj("anthropic.OutputConfig"),
    },
})

MESSAGE_FIELDS: dict[str, tuple[set[str], str]] = {
    "role": S, "content": S, "thinking": S, "images": ({"array"}, "[]api.ImageData"),
    "tool_calls": ({"array"}, "[]api.ToolCall"), "tool_name": S, "tool_call_id": S,
}


def check_struct(body: Any, struct: str) -> dict[str, Any]:
    """Type-check a decoded body against a Go request struct (null is always fine).

    ``struct`` is a key of ``STRUCTS``: ``"ChatRequest"`` (package ``api``) or
    ``"openai.ChatCompletionRequest"``.
    """
    if body is None:
        return {}
    package, _, name = struct.rpartition(".")
    package = package or "api"
    if not isinstance(body, dict):
        raise ApiError(400, f"json: cannot unmarshal {json_kind(body)} into Go value of type "
                            f"{package}.{name}")
    fields = STRUCTS[struct]
    struct = name
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
        if gotype == "int" or gotype == "*int":
            if isinstance(value, float) and not value.is_integer():
                raise ApiError(400, f"json: cannot unmarshal number {value} into Go struct "
                                    f"field {struct}.{field} of type int")
        out[field] = value
    if package == "api":
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

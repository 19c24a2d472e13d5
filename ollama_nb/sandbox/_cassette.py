"""Cassettes: recorded Ollama exchanges, one JSON object per line, and their replay.

A line holds one exchange (docs/reproducibility.md, "The cassette format")::

    {"request": {"method": "POST", "path": "/api/chat", "body": {...}},
     "response": {"status": 200, "headers": {"Content-Type": "application/x-ndjson"},
                  "chunked": true, "chunks": ["{...}\\n", "{...}\\n"]}}

``chunks`` are the body exactly as the server sent it, one string per HTTP chunk (a
body that is not UTF-8 is kept as ``chunks_b64``). Request headers are not written at
all, so no ``Authorization`` or cookie can land in a cassette; a binary request body
(a blob upload) is kept as its size and sha256.

:class:`Replay` answers a request with the next recorded exchange of the same *meaning*:
the method, the path and the JSON body with key order, whitespace, ``null`` and empty (``[]``, ``{}``) fields,
``keep_alive`` and ``1`` vs ``1.0`` set aside and model names in their full form
(``llama3.2`` = ``llama3.2:latest``). Identical requests get their recorded answers in
order; once those run out, the last one again. An unmatched request gets a
:class:`NoMatch` naming the fields in which the closest recorded request differs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Exchange", "NoMatch", "Replay", "Writer", "counted", "request_record"]

#: request fields that do not change an answer
_IGNORED = {"keep_alive"}
#: fields that hold a model name
_MODEL_FIELDS = {"model", "name", "source", "destination"}
#: response headers worth keeping (the rest are framing, dates and the like)
KEPT_HEADERS = ("content-type", "location")


def counted(n: int) -> str:
    """``1 exchange``, ``3 exchanges`` (for the messages that say how much was recorded)."""
    return f"{n} exchange{'' if n == 1 else 's'}"


def _full_model(name: Any) -> Any:
    if not isinstance(name, str) or not name:
        return name
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last or "@" in last else f"{name}:latest"


def _plain(value: Any) -> Any:
    """``value`` with its meaning kept and its spelling dropped (see the module)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items()) if v not in (None, [], {})}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def meaning(method: str, path: str, body: Any) -> dict[str, Any]:
    """What decides the answer to a request (the key replay matches on)."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    out: dict[str, Any] = {"method": method.upper(), "path": path}
    if isinstance(body, dict):
        fields = {k: _full_model(v) if k in _MODEL_FIELDS else v
                  for k, v in body.items() if k not in _IGNORED}
        if path in ("/api/generate", "/api/chat", "/api/pull", "/api/push", "/api/create"):
            fields.setdefault("stream", True)  # Ollama streams unless told not to
        out["body"] = _plain(fields)
    elif body not in (None, "", b""):
        out["body"] = _plain(body)
    return out


def request_record(method: str, path: str, raw: bytes) -> dict[str, Any]:
    """The cassette's view of a request: the JSON body parsed, other bodies by size and hash."""
    record: dict[str, Any] = {"method": method.upper(), "path": path}
    if not raw:
        return record
    try:
        record["body"] = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        record["body"] = {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    return record


@dataclass
class Exchange:
    """One recorded request and the response exactly as it was sent."""

    request: dict[str, Any]
    status: int
    headers: dict[str, str]
    chunked: bool
    chunks: list[bytes]

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def to_json(self) -> dict[str, Any]:
        response: dict[str, Any] = {"status": self.status, "headers": self.headers,
                                    "chunked": self.chunked}
        try:
            response["chunks"] = [c.decode("utf-8") for c in self.chunks]
        except UnicodeDecodeError:
            response["chunks_b64"] = [base64.b64encode(c).decode() for c in self.chunks]
        return {"request": self.request, "response": response}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Exchange:
        response = obj["response"]
        if "chunks_b64" in response:
            chunks = [base64.b64decode(c) for c in response["chunks_b64"]]
        else:
            chunks = [c.encode("utf-8") for c in response.get("chunks", [])]
        return cls(dict(obj["request"]), int(response["status"]), dict(response.get("headers") or {}),
                   bool(response.get("chunked")), chunks)

    @property
    def key(self) -> str:
        req = self.request
        return _key(meaning(req["method"], req["path"], req.get("body")))


def _key(m: dict[str, Any]) -> str:
    return json.dumps(m, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class Writer:
    """Appends exchanges to a cassette file, one line each, flushed as each one ends."""

    def __init__(self, path: str | os.PathLike[str], *, append: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("a" if append else "w", encoding="utf-8")
        self._lock = threading.Lock()
        self.count = 0

    def write(self, exchange: Exchange) -> None:
        line = json.dumps(exchange.to_json(), ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            if self._file.closed:
                return
            self._file.write(line + "\n")
            self._file.flush()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            self._file.close()


class NoMatch(LookupError):
    """No recorded exchange has this request's meaning; the message names the closest one."""


def load(path: str | os.PathLike[str]) -> list[Exchange]:
    """The exchanges of a cassette file, in order (a bad line is a ValueError naming it)."""
    file = Path(path).expanduser()
    out = []
    with file.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                out.append(Exchange.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{file}:{number}: not a cassette line ({exc})") from None
    return out


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _differences(wanted: Any, recorded: Any, where: str = "") -> list[str]:
    if isinstance(wanted, dict) and isinstance(recorded, dict):
        out = []
        for name in sorted(set(wanted) | set(recorded)):
            label = f"{where}.{name}" if where else name
            if name not in recorded:
                out.append(f"{label} (sent {_short(wanted[name])}, not recorded)")
            elif name not in wanted:
                out.append(f"{label} (not sent, recorded {_short(recorded[name])})")
            else:
                out += _differences(wanted[name], recorded[name], label)
        return out
    if wanted != recorded:
        return [f"{where or 'body'} (sent {_short(wanted)}, recorded {_short(recorded)})"]
    return []


class Replay:
    """Recorded answers by request meaning, handed out in recorded order (thread-safe)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        exchanges = load(self.path)
        self._queues: dict[str, list[Exchange]] = defaultdict(list)
        self._meanings: dict[str, dict[str, Any]] = {}
        for exchange in exchanges:
            key = exchange.key
            self._queues[key].append(exchange)
            req = exchange.request
            self._meanings[key] = meaning(req["method"], req["path"], req.get("body"))
        self._served: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self.count = len(exchanges)

    def take(self, method: str, path: str, raw: bytes) -> Exchange:
        """The next recorded answer to this request, or :class:`NoMatch`."""
        body = request_record(method, path, raw).get("body")
        wanted = meaning(method, path, body)
        key = _key(wanted)
        with self._lock:
            queue = self._queues.get(key)
            if queue:
                index = min(self._served[key], len(queue) - 1)
                self._served[key] += 1
                return queue[index]
        raise NoMatch(self._explain(wanted))

    def _explain(self, wanted: dict[str, Any]) -> str:
        what = f"{wanted['method']} {wanted['path']}"
        model = (wanted.get("body") or {}).get("model") if isinstance(wanted.get("body"), dict) else None
        head = (f"replay: {self.path.name} has no recorded answer for {what}"
                f"{f' (model {model!r})' if model else ''}")
        candidates = [m for m in self._meanings.values()
                      if m["method"] == wanted["method"] and m["path"] == wanted["path"]]
        if not candidates:
            return (f"{head}: nothing was recorded for that path; record it again "
                    f"(ollama-nb proxy --record), or serve it with --replay-fallback")
        scored = [(len(d), d) for d in (_differences(wanted.get("body"), m.get("body"))
                                        for m in candidates)]
        fewest = min(scored, key=lambda item: item[0])[1]
        return (f"{head}; the closest recorded request differs in "
                f"{'; '.join(fewest[:4])}{' ...' if len(fewest) > 4 else ''}")

"""``Stream``: an NDJSON response as an iterator of typed chunks.

Each line is handed out as soon as it arrives (reads use ``read1`` on the raw
socket stream, which returns whatever one chunk delivered instead of waiting to
fill a buffer). The stream accumulates the answer (``text``, ``thinking``,
``tool_calls``) so a failure can always return what had arrived: an ``{"error"}``
line raises :class:`StreamError`, a body that ends before ``done`` (or a dropped
connection) raises :class:`IncompleteStreamError`, both with ``partial`` set.

Closing really closes the socket (not a release to the pool), so the server sees
the client leave and stops generating. ``close()`` runs on ``with`` exit, on
garbage collection, and when any exception (KeyboardInterrupt included) escapes
a read; it is safe to call from another thread (a Stop button) while the
iterating thread is blocked in a read.
"""

from __future__ import annotations

import json
import socket
import threading
import weakref
from collections import deque
from typing import Any, Generic, Literal, TypeVar

from ._errors import IncompleteStreamError, OllamaTimeout, StreamError, _one_line
from ._types import ChatResponse, GenerateResponse, ProgressResponse, Result, ToolCall

__all__ = ["Stream"]

T = TypeVar("T", bound=Result)
Kind = Literal["generate", "chat", "progress"]
_READ_SIZE = 65536
_decode = json.JSONDecoder().decode  # on str: skips json.loads' encoding sniffing
_TYPES: dict[str, type[Result]] = {
    "generate": GenerateResponse,
    "chat": ChatResponse,
    "progress": ProgressResponse,
}


def _hard_close(response: Any) -> None:
    """Shut the socket down (wakes a blocked reader, tells the server) and close it."""
    raw = getattr(response, "raw", None)
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        if raw is not None:
            raw.close()
        response.close()
    except Exception:  # closing must never raise
        pass


def _is_timeout(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (TimeoutError, socket.timeout)) or "ReadTimeout" in type(current).__name__:
            return True
        current = current.__cause__ or current.__context__ or (
            current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        )
    return False


class Stream(Generic[T]):
    """Iterate for typed chunks; ``with`` closes it; ``.text`` etc. hold what arrived."""

    def __init__(
        self,
        response: Any,
        kind: Kind,
        *,
        url: str = "",
        read_timeout: float | None = None,
    ) -> None:
        self._response = response
        self._kind = kind
        self._type = _TYPES[kind]
        self.url = url
        self._read_timeout = read_timeout
        self._buffer = bytearray()
        self._lines: deque[bytes] = deque()
        self._eof = False
        self._closed = False
        self._stopped = False  # closed by the caller before the end: no error for that
        self._finished = False
        self._lock = threading.Lock()
        self._text: list[str] = []
        self._thinking: list[str] = []
        self._tool_calls: list[dict[str, Any]] = []
        self._last: dict[str, Any] | None = None
        self.final: T | None = None  #: the ``done: true`` chunk (``success`` for progress)
        self.chunks = 0  #: how many chunks arrived
        self._finalizer = weakref.finalize(self, _hard_close, response)

    # -- accumulated state -------------------------------------------------------------
    @staticmethod
    def _joined(parts: list[str]) -> str:
        if len(parts) > 1:  # keep it joined, so reading it after every chunk stays cheap
            parts[:] = ["".join(parts)]
        return parts[0] if parts else ""

    @property
    def text(self) -> str:
        """The answer so far (``response`` / ``message.content`` joined)."""
        return self._joined(self._text)

    @property
    def thinking(self) -> str:
        """The thinking so far ("" if the model did not think)."""
        return self._joined(self._thinking)

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [ToolCall(call) for call in self._tool_calls]

    @property
    def last(self) -> T | None:
        """The most recent chunk."""
        return self._type(self._last) if self._last is not None else None  # type: ignore[return-value]

    @property
    def partial(self) -> T:
        """What has arrived so far as one result, shaped like the non-streamed answer."""
        base = dict(self.final.raw if self.final is not None else self._last or {})
        if self._kind == "progress":
            return self._type(base)  # type: ignore[return-value]
        if self.final is None:
            base["done"] = False
            for key in ("done_reason",):
                base.pop(key, None)
        if self._kind == "generate":
            base["response"] = self.text
            if self._thinking:
                base["thinking"] = self.thinking
            if self._tool_calls:
                base["tool_calls"] = list(self._tool_calls)
        else:
            message = dict(base.get("message") or {"role": "assistant"})
            message["content"] = self.text
            if self._thinking:
                message["thinking"] = self.thinking
            if self._tool_calls:
                message["tool_calls"] = list(self._tool_calls)
            base["message"] = message
        return self._type(base)  # type: ignore[return-value]

    def result(self) -> T:
        """Read to the end and return the whole answer (as ``stream=False`` would)."""
        for _ in self:
            pass
        return self.partial

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def stopped(self) -> bool:
        """True when :meth:`close` ended the stream before the server finished."""
        return self._stopped and self.final is None

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection for real; the server sees the disconnect. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stopped = not self._eof and not self._finished
        self._finalizer()

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Stream[T]:
        return self

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        done = ", done" if self.final is not None else ""
        return f"<Stream {self._kind} {state}{done}: {self.chunks} chunks, {len(self.text)} chars>"

    # -- reading -----------------------------------------------------------------------
    def __next__(self) -> T:
        while True:
            if self._lines:
                chunk = self._handle(self._lines.popleft())
                if chunk is not None:
                    return chunk
                continue
            if self._eof or self._closed:
                self._finish()
                raise StopIteration
            self._fill()

    def _fill(self) -> None:
        try:
            data = self._response.raw.read1(_READ_SIZE)
        except BaseException as exc:
            was_closed = self._closed
            self.close()
            if was_closed and isinstance(exc, Exception):
                self._eof = True  # closed by another thread (Stop): end quietly
                return
            if not isinstance(exc, Exception):
                raise  # KeyboardInterrupt, SystemExit: the socket is closed, pass it on
            if _is_timeout(exc):
                waited = f" for {self._read_timeout:g}s" if self._read_timeout else ""
                raise OllamaTimeout(
                    f"Ollama at {self.url} sent nothing{waited} in the middle of a stream "
                    f"(after {self.chunks} chunks)",
                    hint="raise the read timeout with Client(timeout=(connect, read))",
                    partial=self.partial,
                ) from None
            raise IncompleteStreamError(
                f"the connection to {self.url} broke after {self.chunks} chunks "
                f"({_one_line(type(exc).__name__ + ': ' + str(exc), 120)})",
                partial=self.partial,
            ) from None
        if not data:
            self._eof = True
            if self._buffer.strip():
                self._lines.append(bytes(self._buffer))
            self._buffer.clear()
            return
        self._buffer += data
        if b"\n" in data:
            *complete, rest = self._buffer.split(b"\n")
            self._lines.extend(bytes(line) for line in complete)
            self._buffer = bytearray(rest)

    def _handle(self, line: bytes) -> T | None:
        try:
            obj = _decode(line.decode("utf-8"))
        except ValueError:  # also UnicodeDecodeError
            if not line.strip():
                return None
            obj = None
        if not isinstance(obj, dict):
            self.close()
            shown = line[:80].decode("utf-8", "replace")
            raise StreamError(
                f"Ollama at {self.url} sent a line that is not a JSON object after "
                f"{self.chunks} chunks: {shown!r}",
                partial=self.partial,
            )
        if "error" in obj and obj["error"]:
            self.close()
            raise StreamError(
                f"Ollama reported an error mid-stream after {self.chunks} chunks: {obj['error']}",
                partial=self.partial,
            )
        self._accumulate(obj)
        chunk = self._type(obj)
        if self._is_final(obj):
            self.final = chunk  # type: ignore[assignment]
        return chunk  # type: ignore[return-value]

    def _accumulate(self, obj: dict[str, Any]) -> None:
        self.chunks += 1
        self._last = obj
        if self._kind == "progress":
            return
        source = obj if self._kind == "generate" else (obj.get("message") or {})
        text = source.get("response" if self._kind == "generate" else "content")
        if isinstance(text, str) and text:
            self._text.append(text)
        thinking = source.get("thinking")
        if isinstance(thinking, str) and thinking:
            self._thinking.append(thinking)
        calls = source.get("tool_calls")
        if isinstance(calls, list):
            self._tool_calls.extend(c for c in calls if isinstance(c, dict))

    def _is_final(self, obj: dict[str, Any]) -> bool:
        if self._kind == "progress":
            return obj.get("status") == "success"
        return obj.get("done") is True

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self.close()
        if self.final is None and not self._stopped:
            what = "done" if self._kind != "progress" else '"success"'
            raise IncompleteStreamError(
                f"the stream from {self.url} ended without {what} after {self.chunks} chunks "
                f"(the server stopped early or the connection was cut)",
                partial=self.partial,
            )

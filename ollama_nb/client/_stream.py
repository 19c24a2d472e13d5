"""``Stream``: an NDJSON response as typed chunks, read with ``for`` (``Client``) or ``async for``
(``AsyncClient``).

A stream reads a *body*: the transport's response as pieces of bytes, each handed on
as soon as it arrives (one HTTP chunk, or whatever the socket had). All complete
lines of a piece are decoded at once with the C JSON scanner and wrapped as typed
chunks without a copy, which is what keeps a stream close to the cost of a bare
``json.loads`` loop (``benchmarks/bench_client_stream.py``). The stream accumulates
the answer (``text``, ``thinking``, ``tool_calls``, ``chunks``) as each chunk is handed
to the loop, so they always match what the loop has seen, and a failure can always
return what had arrived: an ``{"error"}`` line raises
:class:`StreamError` after the chunks before it, a body that ends before ``done``
(or a dropped connection) raises :class:`IncompleteStreamError`, both with
``partial`` set.

A stream read to its end leaves its connection to the pool; closing one before that
really closes the connection, so the server sees the client leave and stops generating. ``close()`` runs on ``with`` / ``async with``
exit, on garbage collection, when any exception (KeyboardInterrupt, a cancelled task)
escapes a read, and it is safe to call from another thread (a Stop button) while the
reader is blocked: the reader then ends quietly, and ``stopped`` is true.
"""

from __future__ import annotations

import json
import socket
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Generic, Literal, Protocol, TypeVar

from ._errors import IncompleteStreamError, OllamaTimeout, StreamError, _one_line
from ._types import ChatResponse, GenerateResponse, ProgressResponse, Result, ToolCall

__all__ = ["Body", "Kind", "Stream", "buffered", "is_timeout"]

T = TypeVar("T", bound=Result)
Kind = Literal["generate", "chat", "progress"]
_TYPES: dict[str, type[Result]] = {
    "generate": GenerateResponse,
    "chat": ChatResponse,
    "progress": ProgressResponse,
}
_scan = json.JSONDecoder().scan_once  # type: ignore[attr-defined]  # the C scanner: (value, end) = _scan(text, start)
_new = object.__new__
_set_raw = Result.__dict__["raw"].__set__  # the slot itself: a chunk wraps its dict, no copy
_BAD = object()


class Body(Protocol):
    """What a transport gives a stream: an iterable (or async iterable) of byte pieces
    plus ``close()``, which must drop the connection at once and work from any thread."""

    def close(self) -> None: ...


class _Buffered:
    """A body that is already read (an NDJSON answer to a non-streamed request)."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    def __iter__(self) -> Iterator[bytes]:
        return iter((self._content,))

    def close(self) -> None:
        pass


def buffered(content: bytes) -> Body:
    return _Buffered(content)


def is_timeout(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception it wraps, is a timeout."""
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
    """Iterate for typed chunks; ``with`` closes it; ``.text`` etc. hold what arrived.

    From ``AsyncClient`` use ``async for``, ``async with``, ``await aresult()`` and
    ``await aclose()``; ``close()`` works in both, from any thread.
    """

    def __init__(
        self,
        body: Body,
        kind: Kind,
        *,
        url: str = "",
        read_timeout: float | None = None,
        client: str = "Client",
    ) -> None:
        # the state lives in a _Reader that the reading generator holds, and the stream
        # holds that generator: no cycle, so dropping both closes the connection at once
        self._state = _Reader(body, kind, url, read_timeout, client)
        self._reader: Any = None  # the generator (or async generator) that reads the body

    # -- accumulated state -------------------------------------------------------------
    @property
    def url(self) -> str:
        return self._state.url

    @property
    def final(self) -> T | None:
        """The ``done: true`` chunk (``status: success`` for progress), once it arrived."""
        return self._state.final  # type: ignore[return-value]

    @property
    def chunks(self) -> int:
        """How many chunks arrived."""
        return self._state.chunks

    @property
    def text(self) -> str:
        """The answer so far (``response`` / ``message.content`` joined)."""
        return _joined(self._state.text)

    @property
    def thinking(self) -> str:
        """The thinking so far ("" if the model did not think)."""
        return _joined(self._state.thinking)

    @property
    def tool_calls(self) -> list[ToolCall]:
        return [ToolCall(call) for call in self._state.tool_calls]

    @property
    def last(self) -> T | None:
        """The most recent chunk."""
        last = self._state.last
        return self._state.type(last) if last is not None else None  # type: ignore[return-value]

    @property
    def partial(self) -> T:
        """What has arrived so far as one result, shaped like the non-streamed answer."""
        return self._state.partial()  # type: ignore[return-value]

    def result(self) -> T:
        """Read to the end and return the whole answer (as ``stream=False`` would)."""
        for _ in self:
            pass
        return self.partial

    async def aresult(self) -> T:
        """``result()`` for a stream from ``AsyncClient``."""
        async for _ in self:
            pass
        return self.partial

    @property
    def closed(self) -> bool:
        return self._state.closed

    @property
    def stopped(self) -> bool:
        """True when :meth:`close` ended the stream before the server finished."""
        return self._state.stopped and self._state.final is None

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Close the connection for real; the server sees the disconnect. Idempotent,
        and safe from any thread while another one reads."""
        self._state.close()

    async def aclose(self) -> None:
        """``close()``, then let the async reader (if idle) and the transport finish."""
        self._state.close()
        reader = self._reader
        if reader is not None and hasattr(reader, "ag_running") and not reader.ag_running:
            await reader.aclose()
        release = getattr(self._state.body, "aclose", None)
        if release is not None:
            await release()

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Stream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        done = ", done" if self.final is not None else ""
        return f"<Stream {self._state.kind} {state}{done}: {self.chunks} chunks, {len(self.text)} chars>"

    # -- iteration ---------------------------------------------------------------------
    def __iter__(self) -> Iterator[T]:
        if self._reader is None:
            if not hasattr(self._state.body, "__iter__"):
                raise TypeError("this stream comes from AsyncClient: read it with `async for`")
            self._reader = _read(self._state)
        elif not hasattr(self._reader, "__next__"):
            raise TypeError("this stream is read with `async for`")
        return self._reader  # type: ignore[no-any-return]

    def __next__(self) -> T:
        return next(self.__iter__())

    def __aiter__(self) -> AsyncIterator[T]:
        if self._reader is None:
            if not hasattr(self._state.body, "__aiter__"):
                raise TypeError("this stream comes from Client: read it with `for`")
            self._reader = _aread(self._state)
        elif not hasattr(self._reader, "__anext__"):
            raise TypeError("this stream is read with `for`")
        return self._reader  # type: ignore[no-any-return]

    def __anext__(self) -> Any:
        return self.__aiter__().__anext__()


def _joined(parts: list[str]) -> str:
    if len(parts) > 1:  # keep it joined, so reading it after every chunk stays cheap
        parts[:] = ["".join(parts)]
    return parts[0] if parts else ""


def _read(state: _Reader) -> Iterator[Any]:
    """Typed chunks of a sync body, a read at a time."""
    try:
        pieces = iter(state.body)  # type: ignore[call-overload]
        while True:
            try:
                data = next(pieces, b"")
            except Exception as exc:
                state.broken(exc)
                data = b""
            for chunk in state.parse(data) if data else state.end():
                state.take(chunk)
                yield chunk
            if state.failure is not None:
                raise state.failed()
            if not data:
                break
        state.finish()
    except BaseException:
        state.close()  # KeyboardInterrupt, an error, a dropped iterator: let the server know
        raise


async def _aread(state: _Reader) -> AsyncIterator[Any]:
    """Typed chunks of an async body, a read at a time."""
    try:
        pieces = state.body.__aiter__()  # type: ignore[attr-defined]
        while True:
            try:
                data = await pieces.__anext__()
            except StopAsyncIteration:
                data = b""
            except Exception as exc:
                state.broken(exc)
                data = b""
            for chunk in state.parse(data) if data else state.end():
                state.take(chunk)
                yield chunk
            if state.failure is not None:
                raise state.failed()
            if not data:
                break
        state.finish()
    except BaseException:
        state.close()  # a cancelled task closes its connection at once
        raise


class _Reader:
    """A stream's state and its decoding of lines into typed chunks."""

    def __init__(self, body: Body, kind: Kind, url: str, read_timeout: float | None,
                 client: str) -> None:
        self.body = body
        self.client = client  # named in the hint of a timeout
        self.kind = kind
        self.type = _TYPES[kind]
        self.url = url
        self.read_timeout = read_timeout
        self.rest = b""  # the start of a line whose end has not arrived
        self.failure: Callable[[int], str] | None = None  # a bad line: its message, for later
        self.eof = False
        self.closed = False
        self.stopped = False  # closed by the caller before the end: no error for that
        self.finished = False
        self.lock = threading.Lock()
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.last: dict[str, Any] | None = None
        self.final: Result | None = None
        self.chunks = 0
        self.finalizer = weakref.finalize(self, body.close)

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            self.stopped = not self.eof and not self.finished
        self.finalizer()

    def partial(self) -> Result:
        base = dict(self.final.raw if self.final is not None else self.last or {})
        if self.kind == "progress":
            return self.type(base)
        if self.final is None:
            base["done"] = False
            base.pop("done_reason", None)
        if self.kind == "generate":
            base["response"] = _joined(self.text)
            if self.thinking:
                base["thinking"] = _joined(self.thinking)
            if self.tool_calls:
                base["tool_calls"] = [*self.tool_calls]
        else:
            message = dict(base.get("message") or {"role": "assistant"})
            message["content"] = _joined(self.text)
            if self.thinking:
                message["thinking"] = _joined(self.thinking)
            if self.tool_calls:
                message["tool_calls"] = [*self.tool_calls]
            base["message"] = message
        return self.type(base)

    def broken(self, exc: Exception) -> None:
        """A read failed: end quietly if we were closed (Stop), else raise what it means."""
        was_closed = self.closed
        self.close()
        if was_closed:
            self.eof = True
            return
        if is_timeout(exc):
            waited = f" for {self.read_timeout:g}s" if self.read_timeout else ""
            raise OllamaTimeout(
                f"Ollama at {self.url} sent nothing{waited} in the middle of a stream "
                f"(after {self.chunks} chunks)",
                hint=f"raise the read timeout with {self.client}(timeout=(connect, read))",
                partial=self.partial(),
            ) from None
        raise IncompleteStreamError(
            f"the connection to {self.url} broke after {self.chunks} chunks "
            f"({_one_line(type(exc).__name__ + ': ' + str(exc), 120)})",
            partial=self.partial(),
        ) from None

    def end(self) -> list[Result]:
        """The body ended: a last line without a newline still counts (unless we closed)."""
        self.eof = True
        rest, self.rest = self.rest, b""
        if self.closed or not rest.strip():
            return []
        return self.lines(rest)

    def parse(self, data: bytes) -> list[Result]:
        """The chunks of every complete line that ``data`` finishes."""
        if self.rest:
            data = self.rest + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self.rest = data
            return []
        self.rest = data[cut + 1:]
        return self.lines(data[:cut])

    def lines(self, block: bytes) -> list[Result]:
        """Typed chunks of complete lines; a bad line ends them (see ``failure``)."""
        try:
            lines = block.decode("utf-8").split("\n")
        except UnicodeDecodeError:  # find the broken line; the ones before it still count
            lines = [_decoded(line) for line in block.split(b"\n")]
        out: list[Result] = []
        typ = self.type
        for line in lines:
            try:
                obj, end = _scan(line, 0)
            except (StopIteration, ValueError):
                obj, end = _BAD, -1
            if end != len(line) or obj.__class__ is not dict:
                obj = _lenient(line)
                if obj is None:
                    continue  # a blank line
                if obj is _BAD:
                    shown = line[:80]
                    self.fail(lambda n: f"Ollama at {self.url} sent a line that is not a JSON "
                                        f"object after {n} chunks: {shown!r}")
                    break
            if "error" in obj and obj["error"]:
                error = obj["error"]
                self.fail(lambda n: f"Ollama reported an error mid-stream after {n} chunks: {error}")
                break
            chunk = _new(typ)
            _set_raw(chunk, obj)
            out.append(chunk)
        return out

    def take(self, chunk: Result) -> None:
        """Count a chunk handed to the reader and add it to the answer."""
        obj = chunk.raw
        self.chunks += 1
        self.last = obj
        kind = self.kind
        if kind == "progress":
            if obj.get("status") == "success":
                self.final = chunk
            return
        source = obj if kind == "generate" else (obj.get("message") or {})
        piece = source.get("response" if kind == "generate" else "content")
        if piece and piece.__class__ is str:
            self.text.append(piece)
        piece = source.get("thinking")
        if piece and piece.__class__ is str:
            self.thinking.append(piece)
        piece = source.get("tool_calls")
        if piece and piece.__class__ is list:
            self.tool_calls.extend(call for call in piece if isinstance(call, dict))
        if obj.get("done") is True:
            self.final = chunk

    def fail(self, message: Callable[[int], str]) -> None:
        """A bad line: close now, raise once the chunks before it have been read."""
        self.close()
        self.failure = message

    def failed(self) -> StreamError:
        assert self.failure is not None
        return StreamError(self.failure(self.chunks), partial=self.partial())

    def finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.close()
        if self.final is None and not self.stopped:
            what = "done" if self.kind != "progress" else '"success"'
            raise IncompleteStreamError(
                f"the stream from {self.url} ended without {what} after {self.chunks} chunks "
                f"(the server stopped early or the connection was cut)",
                partial=self.partial(),
            )


def _decoded(line: bytes) -> str:
    """A line as text; one that is not UTF-8 is marked so that it cannot parse as JSON."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return "\ufffd" + line.decode("utf-8", "replace")


def _lenient(line: str) -> Any:
    """A line with surrounding whitespace: its JSON object, None if blank, else ``_BAD``."""
    stripped = line.strip()
    if not stripped:
        return None
    try:
        obj, end = _scan(stripped, 0)
    except (StopIteration, ValueError):
        return _BAD
    return obj if end == len(stripped) and isinstance(obj, dict) else _BAD

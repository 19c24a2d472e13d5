"""``AsyncClient``: the endpoints of ``Client``, awaited, over aiohttp.

The endpoints, their argument checks and the reading of answers are ``Client``'s
own (:mod:`._endpoints`, :mod:`._protocol`); what is here is the transport.
Why aiohttp and not httpx (which the official client uses): on the same stream,
measured in ``benchmarks/bench_client_stream.py``, httpx's reading alone costs
several times a whole bare ``requests`` + ``json.loads`` loop, where aiohttp's
C HTTP parser hands over everything the socket has in one read.

Cancel-safe: a task cancelled while it waits for an answer or reads a stream
shuts its socket down before the cancellation goes on, so the server sees the
client leave (and Ollama stops generating). An ``aiohttp.ClientSession`` belongs to
one event loop; the client makes one on first use in a loop, and a new one if it is
later used from another loop (a second ``asyncio.run``).
"""

from __future__ import annotations

import asyncio
import socket
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from . import _endpoints as E
from ._errors import ConnectError, OllamaError
from ._protocol import (
    BaseClient,
    Digest,
    Op,
    Request,
    async_method,
    connect_timeout,
    cut_off,
    error_body_cut_off,
    file_digest,
    invalid_url,
    parse_answer,
    read_timeout,
    reason,
    response_error,
    resume,
)
from ._stream import Stream, is_timeout

__all__ = ["AsyncClient"]

_CLOSING: set[Any] = set()  # sessions being closed in the background, kept until they are


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _drop_connection(response: aiohttp.ClientResponse, loop: asyncio.AbstractEventLoop) -> None:
    """Close ``response``'s connection at once, from any thread.

    Shutting the socket down is immediate and thread-safe (the server sees the
    disconnect, a pending read wakes up); the transport itself is closed on its loop.
    """
    connection = response.connection
    transport = connection.transport if connection is not None else None
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    if loop.is_closed():
        return
    if _in_loop(loop):
        response.close()
    else:
        loop.call_soon_threadsafe(response.close)


class _Body:
    """An aiohttp response as the byte pieces a :class:`Stream` reads: all the socket had."""

    def __init__(self, response: aiohttp.ClientResponse, loop: asyncio.AbstractEventLoop) -> None:
        self._response = response
        self._loop = loop

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        while True:
            try:
                data = await content.readany()
            except Exception:
                # aiohttp raises a connection error before handing out what had arrived
                # with it (the lines before a drop): hand that out first, then fail
                buffer = getattr(content, "_buffer", None)
                if buffer:
                    rest = b"".join(buffer)[getattr(content, "_buffer_offset", 0):]
                    buffer.clear()
                    if rest:
                        yield rest
                raise
            if not data:
                return
            yield data

    def close(self) -> None:
        _drop_connection(self._response, self._loop)


def _discard(slot: list[Any]) -> None:
    """Close the session in ``slot`` (if any) from wherever we are, without a warning."""
    current, slot[:] = (slot[0] if slot else None), []
    if current is None:
        return
    loop, session = current
    if session.closed:
        return
    if loop.is_running():
        future = asyncio.run_coroutine_threadsafe(session.close(), loop)
        _CLOSING.add(future)
        future.add_done_callback(_CLOSING.discard)
        return
    connector = session.connector
    session.detach()
    if connector is not None:
        # the loop is gone: the public close() needs it. Mark the pool closed (no
        # "Unclosed connector" complaint); its sockets go with their transports.
        connector._close()


class AsyncClient(BaseClient):
    """``Client``, awaited: ``await client.chat(...)``; ``stream=True`` gives a :class:`Stream`
    to read with ``async for`` (or ``async with``).

    Host, timeout, headers and credentials follow the same rules as :class:`Client`
    (``OLLAMA_HOST``, ``(connect, read)`` seconds, ``OLLAMA_API_KEY``). Close it with
    ``await client.close()`` or ``async with AsyncClient() as client:``; one left open
    is closed when it is garbage-collected.
    """

    def _start(self) -> None:
        self._slot: list[tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession]] = []
        self._finalizer = weakref.finalize(self, _discard, self._slot)

    # -- the endpoints (see ._endpoints) -----------------------------------------------
    generate = async_method(E.generate)
    chat = async_method(E.chat)
    embed = async_method(E.embed)
    embeddings = async_method(E.embeddings)
    list = async_method(E.list)
    ps = async_method(E.ps)
    show = async_method(E.show)
    copy = async_method(E.copy)
    delete = async_method(E.delete)
    pull = async_method(E.pull)
    push = async_method(E.push)
    create = async_method(E.create)
    blob_exists = async_method(E.blob_exists)
    create_blob = async_method(E.create_blob)
    version = async_method(E.version)
    is_reachable = async_method(E.is_reachable)

    async def request_raw(self, method: str, path: str, json: Any = None) -> aiohttp.ClientResponse:
        """A non-streaming request to ``path``; the aiohttp response, its body read."""
        return await self._perform(Request(method.upper(), path, json=json, raw=True))  # type: ignore[no-any-return]

    # -- lifecycle ---------------------------------------------------------------------
    async def close(self) -> None:
        """Close pooled connections now."""
        current, self._slot[:] = (self._slot[0] if self._slot else None), []
        if current is not None:
            loop, session = current
            if loop is asyncio.get_running_loop():
                await session.close()
            else:
                _discard([current])

    aclose = close

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _session(self) -> aiohttp.ClientSession:
        """This loop's session, made on first use."""
        loop = asyncio.get_running_loop()
        if self._slot:
            owner, session = self._slot[0]
            if owner is loop and not session.closed:
                return session
            _discard(self._slot)
        ssl: Any = True
        if self._base_url.startswith("https:"):
            import ssl as ssl_module

            import certifi  # the trust store requests uses, so both clients agree

            ssl = ssl_module.create_default_context(cafile=certifi.where())
        session = aiohttp.ClientSession(
            headers=self._headers,
            trust_env=self._trust_env,
            skip_auto_headers=("Accept-Encoding",),
            connector=aiohttp.TCPConnector(ssl=ssl),
            timeout=aiohttp.ClientTimeout(total=None),
        )
        self._slot[:] = [(loop, session)]
        return session

    # -- transport ---------------------------------------------------------------------
    async def _drive(self, op: Op[Any]) -> Any:
        """Run an operation: perform each effect it yields, hand it the answer or error."""
        done, value = resume(op, None, None)
        while not done:
            try:
                answer, error = await self._effect(value), None
            except OllamaError as exc:
                answer, error = None, exc
            done, value = resume(op, answer, error)
        return value

    async def _effect(self, effect: Request | Digest) -> Any:
        if isinstance(effect, Digest):
            return await asyncio.to_thread(file_digest, effect.path)
        if isinstance(effect.content, Path):
            with effect.content.open("rb") as handle:  # aiohttp reads it in a thread
                return await self._perform(effect, handle)
        return await self._perform(effect, effect.content)

    async def _perform(self, request: Request, data: Any = None) -> Any:
        """Send one request; transport failures and error statuses become OllamaErrors."""
        session = self._session()
        connect, read = self._limits(request)
        body = self._json_body(request)
        response: aiohttp.ClientResponse | None = None
        content = b""
        try:
            response = await session.request(
                request.method, self._url(request.path), data=data if body is None else body,
                headers=self._request_headers(request) or None, allow_redirects=True,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read),
            )
            if not request.stream or response.status >= 400:
                try:
                    content = await response.read()
                except aiohttp.ClientPayloadError:
                    response.close()
                    if response.status < 400:
                        raise
                    raise error_body_cut_off(response.status, response.reason or "") from None
        except BaseException as exc:
            if response is not None and not isinstance(exc, OllamaError):
                _drop_connection(response, asyncio.get_running_loop())
            if isinstance(exc, aiohttp.ConnectionTimeoutError):
                raise connect_timeout(self._base_url, connect) from None
            if isinstance(exc, (aiohttp.ServerTimeoutError, asyncio.TimeoutError)):
                raise read_timeout(self._base_url, request, read, type(self).__name__) from None
            if isinstance(exc, aiohttp.ClientPayloadError):
                raise cut_off(self._base_url, request, exc) from None
            if isinstance(exc, aiohttp.InvalidURL):
                raise invalid_url(request, exc) from None
            if isinstance(exc, aiohttp.ClientError):
                if is_timeout(exc):
                    raise read_timeout(self._base_url, request, read, type(self).__name__) from None
                raise ConnectError(self._base_url, reason(exc)) from None
            raise  # a cancelled task, KeyboardInterrupt, our own errors
        status = response.status
        content_type = response.headers.get("Content-Type", "")
        if status >= 400:
            response.close()
            raise response_error(request, status, response.reason or "", content_type, content,
                                 self._base_url)
        if request.stream:
            loop = asyncio.get_running_loop()
            return Stream(_Body(response, loop), request.stream, url=self._base_url, read_timeout=read,
                          client=type(self).__name__)
        if request.raw:
            return response
        return parse_answer(request, status, content_type, content, self._base_url)

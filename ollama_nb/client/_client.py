"""``Client``: one pooled ``requests`` session to an Ollama server, a method per endpoint.

The endpoints, their argument checks and the reading of answers are shared with
``AsyncClient`` (:mod:`._endpoints`, :mod:`._protocol`); what is here is the
transport: :meth:`Client._perform` sends one request with requests and turns its
failures into the package's exception tree, with messages that name the URL and
never a credential.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from . import _endpoints as E
from ._errors import ConnectError, OllamaError
from ._protocol import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    BaseClient,
    Digest,
    Op,
    Request,
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
    sync_method,
)
from ._stream import Stream, is_timeout

__all__ = ["Client", "DEFAULT_CONNECT_TIMEOUT", "DEFAULT_READ_TIMEOUT"]

_READ_SIZE = 65536


class _Body:
    """A requests response as the byte pieces a :class:`Stream` reads.

    A chunked body (what Ollama sends) is read one HTTP chunk at a time with urllib3's
    ``read_chunked``, the same reader ``iter_content`` uses; anything else with ``read1``,
    which returns what one read delivered instead of waiting to fill a buffer.
    """

    def __init__(self, response: requests.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        raw = self._response.raw
        if raw.chunked and raw.supports_chunked_reads():
            return raw.read_chunked(decode_content=True)  # type: ignore[no-any-return]
        return iter(functools.partial(raw.read1, _READ_SIZE), b"")

    def close(self) -> None:
        """Shut the socket down (wakes a blocked reader, tells the server) and close it."""
        raw = self._response.raw
        sock = getattr(getattr(raw, "_connection", None), "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        try:
            raw.close()
            self._response.close()
        except Exception:  # closing must never raise
            pass


class Client(BaseClient):
    """Talk to an Ollama server: ``Client()`` follows ``OLLAMA_HOST`` (default ``127.0.0.1:11434``).

    ``timeout`` is the read timeout in seconds or a ``(connect, read)`` pair; the
    defaults (5 s connect, 300 s read) are finite but long enough for a cold model
    load. ``OLLAMA_API_KEY`` is sent as a bearer token unless ``headers`` has an
    ``Authorization``. :class:`AsyncClient` has the same methods, awaited.
    """

    def _start(self) -> None:
        session = requests.Session()
        session.trust_env = self._trust_env
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        session.headers.clear()
        session.headers.update(self._headers)
        self._session = session

    # -- the endpoints (see ._endpoints) -----------------------------------------------
    generate = sync_method(E.generate)
    chat = sync_method(E.chat)
    embed = sync_method(E.embed)
    embeddings = sync_method(E.embeddings)
    list = sync_method(E.list)
    ps = sync_method(E.ps)
    show = sync_method(E.show)
    copy = sync_method(E.copy)
    delete = sync_method(E.delete)
    pull = sync_method(E.pull)
    push = sync_method(E.push)
    create = sync_method(E.create)
    blob_exists = sync_method(E.blob_exists)
    create_blob = sync_method(E.create_blob)
    version = sync_method(E.version)
    is_reachable = sync_method(E.is_reachable)

    def request_raw(self, method: str, path: str, json: Any = None) -> requests.Response:
        """A non-streaming request to ``path`` (e.g. ``"/api/version"``); errors raised."""
        return self._perform(Request(method.upper(), path, json=json, raw=True))  # type: ignore[no-any-return]

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Close pooled connections now.

        urllib3 2 only forgets its pools on ``Session.close()``; their idle sockets stay
        open until the pools are garbage-collected, which a response kept alive by an
        exception's traceback (IPython keeps the last one) can delay indefinitely.
        """
        for adapter in self._session.adapters.values():
            pools = getattr(getattr(adapter, "poolmanager", None), "pools", None)
            if pools is None:
                continue
            for key in [*pools.keys()]:
                pool = pools.get(key)
                if pool is not None:
                    pool.close()
        self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transport ---------------------------------------------------------------------
    def _drive(self, op: Op[Any]) -> Any:
        """Run an operation: perform each effect it yields, hand it the answer or error."""
        done, value = resume(op, None, None)
        while not done:
            try:
                answer, error = self._effect(value), None
            except OllamaError as exc:
                answer, error = None, exc
            done, value = resume(op, answer, error)
        return value

    def _effect(self, effect: Request | Digest) -> Any:
        if isinstance(effect, Digest):
            return file_digest(effect.path)
        if isinstance(effect.content, Path):
            with effect.content.open("rb") as handle:
                return self._perform(effect, handle)
        return self._perform(effect, effect.content)

    def _perform(self, request: Request, data: Any = None) -> Any:
        """Send one request; transport failures and error statuses become OllamaErrors."""
        url = self._url(request.path)
        connect, read = self._limits(request)
        body = self._json_body(request)
        timed_out = False
        try:
            # always stream at the requests level, so a body that breaks still has its status
            response = self._session.request(
                request.method, url, data=data if body is None else body, stream=True,
                timeout=(connect, read), headers=self._request_headers(request) or None,
                allow_redirects=True,
            )
            if not request.stream:
                try:
                    response.content  # noqa: B018 - read the whole body now, inside this try
                except requests.exceptions.RequestException as exc:
                    response.close()
                    if response.status_code < 400 or is_timeout(exc):
                        raise
                    raise error_body_cut_off(response.status_code, response.reason) from None
        except requests.exceptions.ConnectTimeout:
            raise connect_timeout(self._base_url, connect) from None
        except requests.exceptions.ReadTimeout:
            timed_out = True
        except requests.exceptions.ChunkedEncodingError as exc:
            raise cut_off(self._base_url, request, exc) from None
        except requests.exceptions.InvalidURL as exc:
            raise invalid_url(request, exc) from None
        except requests.exceptions.RequestException as exc:
            # requests wraps a read timeout while reading the body in a ConnectionError
            if not is_timeout(exc):
                raise ConnectError(self._base_url, reason(exc)) from None
            timed_out = True
        if timed_out:
            raise read_timeout(self._base_url, request, read, type(self).__name__) from None
        status = response.status_code
        content_type = response.headers.get("Content-Type", "")
        if status >= 400:
            try:
                content = response.content or b""
            except Exception:  # what could be read of it: an error body can be cut off too
                content = b""
            finally:
                response.close()
            raise response_error(request, status, response.reason or "", content_type, content,
                                 self._base_url)
        if request.stream:
            return Stream(_Body(response), request.stream, url=self._base_url, read_timeout=read,
                          client=type(self).__name__)
        if request.raw:
            return response
        return parse_answer(request, status, content_type, response.content, self._base_url)


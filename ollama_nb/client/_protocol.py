"""The core that ``Client`` and ``AsyncClient`` share: everything about a request but the I/O.

Like httpx's split of one client core between its sync and async clients, the
endpoints (:mod:`._endpoints`) are written once as *operations*: generators that
yield what they need done (a :class:`Request` to send, a :class:`Digest` of a file
to take) and receive the answer. ``Client`` performs those effects with requests,
``AsyncClient`` with aiohttp; :func:`sync_method` / :func:`async_method` turn an
operation into the method of each. What is read back is interpreted here too: an
error status becomes the exception of the tree in :mod:`._errors`
(:func:`response_error`), a JSON or NDJSON body becomes the typed result
(:func:`parse_answer`), and each transport's failures become the same messages
(:func:`connect_timeout`, :func:`read_timeout`, :func:`cut_off`, :func:`reason`).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import inspect
import ipaddress
import json
import os
import platform
import re
from collections.abc import Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlsplit

from ._errors import (
    IncompleteStreamError,
    InvalidArgumentError,
    ModelNotFoundError,
    OllamaError,
    OllamaTimeout,
    ResponseError,
    _one_line,
)
from ._host import resolve_host
from ._stream import Kind, Stream, buffered

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "BaseClient",
    "Digest",
    "Op",
    "Request",
    "async_method",
    "sync_method",
]

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 300.0  # a cold load of a large model can take minutes
_NOT_FOUND = re.compile(r"""model\s+['"]?(?P<name>[^'"]*)['"]?\s+not found""", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_NOT_OLLAMA_HTML = ("an HTML page, not Ollama's answer: a proxy or another web server replied; "
                    "check OLLAMA_HOST, the port and any path prefix")
_NOT_OLLAMA_TEXT = {"404 page not found", "405 method not allowed"}

R = TypeVar("R")
P = ParamSpec("P")


# -- what an operation asks for ----------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """One HTTP request of an operation, and how its answer is to be read.

    ``parse`` turns the decoded JSON object into the result (``None``: the body is read
    and dropped, the answer is ``None``); ``stream`` reads the body as a :class:`Stream`
    of that kind instead; ``raw`` hands back the transport's own response, body read.
    """

    method: str
    path: str
    json: Any = None
    content: bytes | Path | None = None  # a raw body: bytes, or a file streamed from disk
    model: str | None = None  # named by a "model not found" error
    parse: Callable[[dict[str, Any]], Any] | None = None
    stream: Kind | None = None
    timeout: float | None = None  # this request's read timeout; connect: the shorter one
    raw: bool = False


@dataclass(frozen=True)
class Digest:
    """Take the ``sha256:<hex>`` digest of a file (the async client does it in a thread)."""

    path: Path


Op = Generator["Request | Digest", Any, R]


def resume(op: Op[R], answer: Any, error: OllamaError | None) -> tuple[bool, Any]:
    """Give ``op`` the answer to its last effect (or raise ``error`` in it at that point).

    Returns ``(True, result)`` when the operation is done, else ``(False, next effect)``.
    """
    try:
        return False, (op.throw(error) if error is not None else op.send(answer))
    except StopIteration as done:
        return True, done.value


def file_digest(path: Path) -> str:
    """``sha256:<hex>`` of a file, read in 1 MB blocks."""
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return "sha256:" + sha.hexdigest()


def _method_of(op: Callable[..., Any], method: Callable[..., Any]) -> Any:
    """``method`` dressed as ``op``: its name, docstring and signature (with ``self``)."""
    functools.update_wrapper(method, op, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
    signature = inspect.signature(op)
    returns = signature.return_annotation
    if isinstance(returns, str) and returns.startswith("Op[") and returns.endswith("]"):
        returns = returns[3:-1]  # what the caller gets, not the generator
    self_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
    method.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[self_param, *signature.parameters.values()], return_annotation=returns)
    method._endpoint = True  # type: ignore[attr-defined]
    return method


def sync_method(op: Callable[P, Op[R]]) -> Callable[Concatenate[Any, P], R]:
    """A ``Client`` method that runs the operation ``op`` to its end."""

    def method(self: Any, /, *args: Any, **kwargs: Any) -> Any:
        return self._drive(op(*args, **kwargs))

    return _method_of(op, method)  # type: ignore[no-any-return]


def async_method(op: Callable[P, Op[R]]) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]:
    """An ``AsyncClient`` coroutine method that runs ``op``; arguments are checked on await."""

    async def method(self: Any, /, *args: Any, **kwargs: Any) -> Any:
        return await self._drive(op(*args, **kwargs))

    return _method_of(op, method)  # type: ignore[no-any-return]


# -- the client's settings ---------------------------------------------------------------
def _user_agent() -> str:
    from .. import __version__

    return (
        f"ollama-nb/{__version__} ({platform.machine().lower() or 'unknown'} "
        f"{platform.system().lower() or 'unknown'}) Python/{platform.python_version()}"
    )


def _basic_auth(user: str, password: str) -> str:
    """The ``Authorization`` value for HTTP basic auth (latin-1 as browsers send it, else UTF-8)."""
    text = f"{user}:{password}"
    try:
        raw = text.encode("latin-1")
    except UnicodeEncodeError:
        raw = text.encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _timeouts(timeout: Any) -> tuple[float, float]:
    if timeout is None:
        return DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0:
        return min(DEFAULT_CONNECT_TIMEOUT, float(timeout)), float(timeout)
    if (
        isinstance(timeout, tuple)
        and len(timeout) == 2
        and all(isinstance(t, (int, float)) and not isinstance(t, bool) and t > 0 for t in timeout)
    ):
        return float(timeout[0]), float(timeout[1])
    raise InvalidArgumentError(
        f"timeout must be seconds (> 0) or a (connect, read) pair of seconds, got {timeout!r}"
    )


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BaseClient:
    """Host, timeouts and headers, resolved the same way for both clients.

    ``timeout`` is the read timeout in seconds or a ``(connect, read)`` pair; the
    defaults (5 s connect, 300 s read) are finite but long enough for a cold model
    load. ``OLLAMA_API_KEY`` is sent as a bearer token unless ``headers`` has an
    ``Authorization``; ``user:pass@`` in the host becomes basic auth (and wins). A proxy from
    ``HTTP(S)_PROXY`` is used for remote servers only, never for one on this machine.
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: float | tuple[float, float] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        resolved = resolve_host(host)
        self._base_url = resolved.base_url
        self._connect_timeout, self._read_timeout = _timeouts(timeout)
        self._trust_env = not is_loopback(self._base_url)
        merged = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": _user_agent(),
        }
        extra = {str(k): str(v) for k, v in (headers or {}).items()}
        key = os.environ.get("OLLAMA_API_KEY", "").strip()
        if key and not any(k.lower() == "authorization" for k in extra):
            merged["Authorization"] = f"Bearer {key}"
        if resolved.auth:  # user:pass@ in the host wins, as requests' auth= does
            extra["Authorization"] = _basic_auth(*resolved.auth)
        for name, value in extra.items():
            for existing in [k for k in merged if k.lower() == name.lower()]:
                del merged[existing]
            merged[name] = value
        self._headers = merged
        self._start()

    def _start(self) -> None:
        """Set up the transport, once the settings above are resolved."""
        raise NotImplementedError

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, value in vars(cls).items():  # name the endpoint methods after their class
            if getattr(value, "_endpoint", False):
                value.__qualname__ = f"{cls.__qualname__}.{name}"

    @property
    def base_url(self) -> str:
        """The server's URL without credentials or trailing slash."""
        return self._base_url

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` seconds."""
        return self._connect_timeout, self._read_timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._base_url!r})"

    def _url(self, path: str) -> str:
        return f"{self._base_url}/{path.lstrip('/')}"

    def _limits(self, request: Request) -> tuple[float, float]:
        """``(connect, read)`` seconds for ``request``."""
        if request.timeout is not None:
            return min(request.timeout, self._connect_timeout), request.timeout
        return self._connect_timeout, self._read_timeout

    @staticmethod
    def _request_headers(request: Request) -> dict[str, str]:
        headers = {}
        if request.stream:
            headers["Accept"] = "application/x-ndjson"
        if request.content is not None:
            headers["Content-Type"] = "application/octet-stream"
        return headers

    @staticmethod
    def _json_body(request: Request) -> bytes | None:
        if request.json is None:
            return None
        return json.dumps(request.json, ensure_ascii=False).encode("utf-8")


# -- reading answers ---------------------------------------------------------------------
def _error_text(status: int, reason: str, content_type: str, body: bytes) -> str:
    """The server's message: ``{"error": ...}``, plain text, or an HTML page's title."""
    stripped = body.decode("utf-8", "replace").strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("error"):
            return str(data["error"])
    if "html" in content_type.lower() or stripped[:1] == "<":
        for pattern in (_TITLE, _H1):
            match = pattern.search(stripped)
            if match:
                title = _one_line(html.unescape(_TAG.sub("", match[1])), 120)
                if title:
                    return f"{title} ({_NOT_OLLAMA_HTML})"
        return f"HTML error page ({_NOT_OLLAMA_HTML})"
    if stripped:
        return _one_line(stripped, 200)
    if status == 403:
        return ("Forbidden (a local Ollama refuses requests whose Host is not local: "
                "reach it as localhost/127.0.0.1, or set OLLAMA_HOST=0.0.0.0 on the server)")
    return reason or "no message"


def response_error(
    request: Request, status: int, reason: str, content_type: str, body: bytes, base_url: str
) -> ResponseError:
    """The exception for an error status (``body``: what could be read of the error body)."""
    message = _error_text(status, reason, content_type, body)
    markup = "html" in content_type.lower() or body.lstrip()[:1] == b"<"
    shown = None if markup or not body else body[:2000].decode("utf-8", "replace")
    if status in (400, 404) and request.model and _NOT_FOUND.search(message):
        return ModelNotFoundError(request.model, message, status, body=shown)
    hint = ""
    if message.strip() in _NOT_OLLAMA_TEXT:
        hint = (f"{request.method} {request.path}: the server at {base_url} is not the "
                f"Ollama API, or too old; check OLLAMA_HOST, the port and any path prefix")
    return ResponseError(message, status, body=shown, hint=hint)


def _merge_kind(path: str) -> Kind:
    return "chat" if path.endswith("chat") else "generate" if path.endswith("generate") else "progress"


def parse_answer(request: Request, status: int, content_type: str, body: bytes, base_url: str) -> Any:
    """The result of a successful, non-streamed answer.

    A JSON object goes through ``request.parse``; an NDJSON body (a server that
    streamed although asked not to) is folded the way a stream would fold it.
    """
    if request.parse is None:
        return None
    if "ndjson" in content_type and body.strip():
        stream: Stream[Any] = Stream(buffered(body), _merge_kind(request.path), url=base_url)
        return request.parse(stream.result().raw)
    text = body.decode("utf-8", "replace").strip()
    if not text:
        raise ResponseError(f"empty response from {base_url} to {request.path} (expected JSON)", status)
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        if data.get("error"):
            raise ResponseError(str(data["error"]), status)
        return request.parse(data)
    raise ResponseError(
        f"invalid response from {base_url} to {request.path} (not a JSON object): {text[:80]!r}",
        status,
    )


# -- transport failures, whichever library saw them --------------------------------------
def reason(exc: BaseException) -> str:
    """A short cause for a connection failure ('connection refused', 'name not resolved'...)."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if match:
        return match[1].strip().rstrip(".").lower()
    code = getattr(getattr(exc, "os_error", None) or exc, "errno", None)  # aiohttp keeps the OSError
    if isinstance(code, int) and code > 0:
        return os.strerror(code).lower()
    for needle, why in (
        ("Name or service not known", "host name not resolved"),
        ("nodename nor servname", "host name not resolved"),
        ("Connection refused", "connection refused"),
        ("RemoteDisconnected", "the server closed the connection"),
        ("Server disconnected", "the server closed the connection"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate verification failed"),
        ("SSL", "TLS error"),
        ("Connection reset", "connection reset"),
        ("Connection aborted", "connection aborted"),
    ):
        if needle in text:
            return why
    return type(exc).__name__


def connect_timeout(base_url: str, seconds: float) -> OllamaTimeout:
    return OllamaTimeout(
        f"Timed out after {seconds:g}s connecting to Ollama at {base_url}; "
        f"is the server up (`ollama serve`) and the host right?"
    )


def read_timeout(base_url: str, request: Request, seconds: float, client: str) -> OllamaTimeout:
    return OllamaTimeout(
        f"Ollama at {base_url} did not answer {request.method} {request.path} within {seconds:g}s "
        f"(a large model may still be loading)",
        hint=f"pass a longer timeout, e.g. {client}(timeout=(5, 900))",
    )


def cut_off(base_url: str, request: Request, exc: BaseException) -> IncompleteStreamError:
    return IncompleteStreamError(
        f"the response from {base_url} to {request.method} {request.path} was cut off ({reason(exc)})"
    )


def error_body_cut_off(status: int, why: str) -> ResponseError:
    return ResponseError(f"{why or 'error'} (the error body was cut off)", status)


def invalid_url(request: Request, exc: BaseException) -> InvalidArgumentError:
    return InvalidArgumentError(f"invalid URL for {request.path}: {exc}")

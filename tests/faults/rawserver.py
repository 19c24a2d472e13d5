"""Loopback servers for faults the sandbox cannot make, built on plain sockets.

* :func:`dead_port` - a port nothing listens on (connection refused).
* :class:`FullBacklog` - a listening socket whose accept queue is full, so a new
  connection attempt hangs until the client's connect timeout.
* :class:`RawServer` - accepts and answers every request with fixed bytes
  (``reply``), or reads the request and never answers (``reply=None``), or
  sends a banner that is not HTTP at all.
* :class:`PrefixProxy` - a reverse proxy that serves an Ollama server under a
  path prefix (``/ollama/api/...`` -> ``/api/...``) and answers anything else with
  an nginx-style HTML 404, streaming chunked bodies through as they arrive.

Everything listens on 127.0.0.1 only and is closed by ``close()`` / ``with``.
"""

from __future__ import annotations

import http.client
import socket
import threading
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FullBacklog", "PrefixProxy", "RawServer", "dead_port", "http_reply"]


def dead_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_reply(status: int, reason: str, body: bytes | str, content_type: str = "text/plain",
               headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 response with Content-Length."""
    data = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {content_type}",
             f"Content-Length: {len(data)}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


class _Base:
    url: str

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class FullBacklog(_Base):
    """A listener with backlog 0 whose queue is already filled: connects time out."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._fillers = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            self._fillers.append(filler)

    def close(self) -> None:
        for sock in self._fillers:
            sock.close()
        self._listener.close()


class RawServer(_Base):
    """Answers each connection with ``reply`` bytes (after reading the request head).

    ``reply=None`` reads the request and then sends nothing until closed (a server
    that stalls before its first byte); ``banner`` is sent on connect without
    reading anything (a service that is not HTTP).
    """

    def __init__(self, reply: bytes | None = None, *, banner: bytes | None = None) -> None:
        self.reply = reply
        self.banner = banner
        self.requests: list[bytes] = []
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._accept, name="faults-raw-accept", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), name="faults-raw-conn",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self.banner is not None:
                conn.sendall(self.banner)
                conn.shutdown(socket.SHUT_WR)
                return
            conn.settimeout(5)
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            self.requests.append(head)
            if self.reply is None:
                self._stop.wait()  # never answer
                return
            conn.sendall(self.reply)
            conn.shutdown(socket.SHUT_WR)
            self._stop.wait(1.0)  # let the client read before the socket goes away
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(2)
        for thread in self._threads:
            thread.join(2)


_NOT_FOUND_HTML = (b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
                   b"<center><h1>404 Not Found</h1></center>\r\n<hr><center>nginx</center>\r\n"
                   b"</body>\r\n</html>\r\n")


class PrefixProxy(_Base):
    """``http://127.0.0.1:P/<prefix>/api/...`` forwarded to ``upstream`` + ``/api/...``."""

    def __init__(self, upstream: str, prefix: str = "/ollama") -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        target = urlsplit(upstream)
        owner = self
        self.prefix = prefix.rstrip("/")

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if not (self.path == owner.prefix or self.path.startswith(owner.prefix + "/")):
                    self.send_response(404)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(_NOT_FOUND_HTML)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(_NOT_FOUND_HTML)
                    return
                path = self.path[len(owner.prefix):] or "/"
                upstream_conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("host", "connection", "content-length")}
                    upstream_conn.request(self.command, path, body=body, headers=headers)
                    answer = upstream_conn.getresponse()
                    self.send_response(answer.status, answer.reason)
                    for key, value in answer.getheaders():
                        if key.lower() not in ("transfer-encoding", "content-length", "connection",
                                               "date", "server"):
                            self.send_header(key, value)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    if self.command != "HEAD":
                        while True:
                            piece = answer.read1(65536)
                            if not piece:
                                break
                            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                            self.wfile.flush()
                        self.wfile.write(b"0\r\n\r\n")
                        self.wfile.flush()
                finally:
                    upstream_conn.close()

            do_GET = do_POST = do_HEAD = do_DELETE = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{self.prefix}"
        self.root = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        name="faults-proxy", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

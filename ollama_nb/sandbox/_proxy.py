"""``RecordingProxy``: a reverse proxy on loopback that writes every exchange to a cassette.

Any client in any language points at the proxy instead of Ollama; each request goes to
the upstream server unchanged (its ``Authorization`` too, which is forwarded and never
written), and the answer comes back chunk for chunk as the upstream sends it, while the
exchange is appended to the cassette (:mod:`._cassette`) when it ends.

The upstream side is a small HTTP/1.1 client on a raw socket rather than ``http.client``:
that one hides the chunk boundaries, and the cassette keeps them (a stream replays with
its own framing). One upstream connection per request (``Connection: close``).
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import ssl
import threading
from typing import Any
from urllib.parse import unquote, urlsplit

from ._cassette import KEPT_HEADERS, Exchange, Writer, request_record
from .server import _LOOPBACK, _ClientGone, _close, _Handler, _serve_in_thread, _Server

__all__ = ["RecordingProxy"]

#: request headers not forwarded: hop-by-hop ones; Expect (the proxy has the whole body
#: already and answers the client's 100-continue itself); Accept-Encoding, so that the
#: upstream answers uncompressed and the cassette holds readable bodies
_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te",
        "trailer", "transfer-encoding", "upgrade", "host", "content-length", "expect",
        "accept-encoding"}


class _Cut(OSError):
    """The upstream's answer ended before its framing said it would."""


class _Upstream:
    """One HTTP/1.1 exchange with the upstream server, read chunk by chunk."""

    def __init__(self, url: str, timeout: float) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.auth = None
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            self.auth = "Basic " + base64.b64encode(pair.encode()).decode()
        self.timeout = timeout

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def open(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Any:
        sock: Any = socket.create_connection((self.host, self.port), timeout=self.timeout)
        if self.https:
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        lines = [f"{method} {self.prefix}{target} HTTP/1.1", f"Host: {self.netloc}",
                 "Connection: close", f"Content-Length: {len(body)}"]
        if self.auth and not any(k.lower() == "authorization" for k in headers):
            lines.append(f"Authorization: {self.auth}")
        lines += [f"{k}: {v}" for k, v in headers.items()]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        return sock.makefile("rb")


def _read_head(reader: Any) -> tuple[int, dict[str, str]]:
    """The final status and headers (interim 1xx answers such as 100 Continue skipped)."""
    while True:
        status_line = reader.readline(65537)
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise OSError(f"upstream sent no HTTP status line ({status_line[:40]!r})")
        headers: dict[str, str] = {}
        while True:
            line = reader.readline(65537)
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        status = int(parts[1])
        if not 100 <= status < 200 or status == 101:
            return status, headers


def _chunks(reader: Any, headers: dict[str, str], method: str, status: int) -> Any:
    """The body's pieces as the upstream framed them (one per HTTP chunk)."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            line = reader.readline(65537)
            if not line:
                raise _Cut("upstream closed the connection in the middle of its answer")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while reader.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return
            data = reader.read(size)
            if len(data) < size:
                raise _Cut("upstream closed the connection in the middle of a chunk")
            reader.readline(65537)
            yield data
    elif "content-length" in headers:
        size = int(headers["content-length"])
        data = reader.read(size)
        if len(data) < size:
            raise _Cut(f"upstream sent {len(data)} of {size} bytes")
        if data:
            yield data
    else:
        data = reader.read()
        if data:
            yield data


class _ProxyHandler(_Handler):
    """Forwards one request upstream and records it (the framing is the sandbox's own)."""

    def _dispatch(self) -> None:
        proxy: RecordingProxy = self.server.sandbox
        try:
            raw = self._read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        if not self._host_allowed():  # a web page cannot reach it through DNS rebinding
            self._send_body(403, b"", None)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        try:
            reader = proxy.upstream.open(self.command, self.path, headers, raw)
            status, answer = _read_head(reader)
        except OSError as exc:
            self._send_json(502, {"error": f"recording proxy: upstream {proxy.upstream_url} "
                                           f"did not answer ({exc})"})
            return
        kept = {name.title(): answer[name] for name in KEPT_HEADERS if name in answer}
        chunked = "chunked" in answer.get("transfer-encoding", "").lower()
        chunks: list[bytes] = []
        complete = False
        try:
            self.send_response_only(status)
            for name in ("date", *KEPT_HEADERS):
                if name in answer:
                    self.send_header(name.title(), answer[name])
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for data in _chunks(reader, answer, self.command, status):
                    chunks.append(data)
                    self._chunk(data)
                self._end_chunks()
            else:
                chunks = list(_chunks(reader, answer, self.command, status))
                length = answer.get("content-length", str(sum(map(len, chunks))))
                self.send_header("Content-Length", length)
                self.end_headers()
                for data in chunks:
                    self._write(data)
                self._flush()
            complete = True
        except (_ClientGone, OSError, ValueError):
            self.close_connection = True
        finally:
            with contextlib.suppress(OSError):
                reader.close()
            if complete and proxy.writer is not None:  # a cut-short exchange is not kept
                proxy.writer.write(Exchange(request_record(self.command, self.path, raw),
                                            status, kept, chunked, chunks))


class RecordingProxy:
    """A recording reverse proxy to ``upstream`` on loopback (``with RecordingProxy(...)``).

    ``record`` is the cassette file (truncated unless ``append``); ``port=0`` picks a free
    port; ``url`` is where clients point (``OLLAMA_HOST``). ``count`` exchanges are written.
    """

    replay = None  # the handler's sandbox interface: a proxy never replays

    def __init__(self, upstream: str, record: str | os.PathLike[str], *, port: int = 0,
                 host: str = "127.0.0.1", append: bool = False, timeout: float = 600.0) -> None:
        if host not in _LOOPBACK:
            raise ValueError(f"the proxy listens on loopback only, not {host!r}")
        self.host = "127.0.0.1" if host == "localhost" else host
        self.port = port
        self.upstream = _Upstream(upstream, timeout)
        scheme = "https" if self.upstream.https else "http"
        #: the upstream's URL without credentials (for messages)
        self.upstream_url = f"{scheme}://{self.upstream.netloc}{self.upstream.prefix}"
        self.record_path, self._append = record, append
        self.writer: Writer | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def count(self) -> int:
        return self.writer.count if self.writer is not None else 0

    def start(self) -> RecordingProxy:
        if self._server is not None:
            return self
        self.writer = Writer(self.record_path, append=self._append)
        self._append = True  # a restart adds to what this proxy recorded
        self._server = _Server((self.host, self.port), self, _ProxyHandler)
        self.port = self._server.server_address[1]
        self._thread = _serve_in_thread(self._server, f"ollama-nb-proxy:{self.port}")
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        _close(server, self._thread)
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> RecordingProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

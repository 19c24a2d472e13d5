"""Fixtures for the DataFrame-layer tests.

Most tests run against the package's sandbox (`ollama_sandbox`). A few need bytes the
sandbox does not produce (recorded real-server answers, a connection counter); they
use `replay_server`, a stdlib HTTP/1.1 server on loopback that answers each path
with a fixed body, or a function of the request body.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Answer = Callable[[dict[str, Any]], Any]


class ReplayServer:
    """Answers ``routes[path]`` (a JSON-able value or a function of the request JSON)."""

    def __init__(self, routes: dict[str, Any]) -> None:
        self.routes = routes
        self.connections = 0
        self.requests: list[tuple[str, str, Any]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # like Go's server; else 40 ms per request

            def setup(self) -> None:
                super().setup()
                owner.connections += 1

            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                owner.requests.append((self.command, self.path, body))
                route = owner.routes.get(self.path)
                if route is None:
                    payload, status = b"404 page not found", 404
                else:
                    value = route(body) if callable(route) else route
                    payload, status = json.dumps(value).encode(), 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def replay_server() -> Iterator[Callable[[dict[str, Any]], ReplayServer]]:
    servers: list[ReplayServer] = []

    def start(routes: dict[str, Any]) -> ReplayServer:
        server = ReplayServer(routes)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def client_for() -> Iterator[Callable[[str], Any]]:
    """A fresh ollama_nb Client for a URL, closed after the test."""
    from ollama_nb.client._client import Client

    clients: list[Any] = []

    def make(url: str) -> Any:
        c = Client(url)
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()


class Fleet(list):
    """Several sandboxes on loopback, like GPU boxes of different speeds (a list of Sandbox)."""

    @property
    def urls(self) -> list[str]:
        return [sb.url for sb in self]

    def asked(self, path: str = "/api/generate") -> list[int]:
        """How many requests each sandbox answered at ``path`` (successfully)."""
        return [sum(r.path == path and r.status == 200 for r in sb.requests) for sb in self]


@pytest.fixture
def fleet() -> Iterator[Callable[..., Fleet]]:
    """``fleet(speeds, **sandbox_kwargs)``: one started sandbox per speed (``tokens_per_second``
    = speed x ``base``; one slot per model unless ``num_parallel`` says otherwise)."""
    from ollama_nb.sandbox import Sandbox

    started: list[Any] = []

    def start(speeds: list[float], base: float = 100.0, **kwargs: Any) -> Fleet:
        kwargs.setdefault("models", ["llama3.2", "all-minilm"])
        kwargs.setdefault("num_parallel", 1)
        kwargs.setdefault("minilm", False)
        boxes = Fleet(Sandbox(tokens_per_second=speed * base if speed else None, **kwargs).start()
                      for speed in speeds)
        started.extend(boxes)
        return boxes

    yield start
    for sandbox in started:
        sandbox.stop()

"""Fixtures of the client tests: a scripted server (see client_scriptserver) and a dead port."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from client_scriptserver import ScriptServer


@pytest.fixture
def script_server() -> Iterator[ScriptServer]:
    server = ScriptServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def free_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]



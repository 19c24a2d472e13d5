"""Fixtures of the client tests: a scripted server (see client_scriptserver), a dead port, and
``make_client``, which runs a test once with ``Client`` and once with ``AsyncClient``."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from blocking import Blocking, EventLoopThread
from client_scriptserver import ScriptServer

import ollama_nb


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


@pytest.fixture(params=["Client", "AsyncClient"])
def make_client(request):
    """Makes the client under test: ``Client``, or an ``AsyncClient`` driven by ``Blocking``."""
    if request.param == "Client":
        yield ollama_nb.Client
        return
    runner = EventLoopThread()
    made = []

    def make(*args, **kwargs):
        made.append(Blocking(runner, *args, **kwargs))
        return made[-1]

    yield make
    for client in made:
        client.close()
    runner.stop()

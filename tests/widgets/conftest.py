"""Headless widget tests: a recording comm stands in for the frontend (see recording.py).

Tests drive widgets the way a frontend does: ``button.click()``, or
``widget._handle_msg(...)`` with the ``update``/``custom`` messages a browser sends.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("ipywidgets")

from hostile_server import HostileServer
from recording import RecordingComm, Wire


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> Iterator[Wire]:
    import comm

    recorded = Wire()

    class _Comm(RecordingComm):
        wire = recorded

    monkeypatch.setattr(comm, "create_comm", lambda **kwargs: _Comm(**kwargs))
    yield recorded


@pytest.fixture(autouse=True)
def _fresh_session() -> Iterator[None]:
    """Each test starts from the built-in session defaults and no chats."""
    from ollama_nb.client._chat import chats
    from ollama_nb.client._session import session

    session.reset()
    chats.clear()
    observers = list(session._observers)
    yield
    session._observers[:] = observers
    session.reset()
    chats.clear()


@pytest.fixture
def hostile() -> Iterator[HostileServer]:
    with HostileServer() as server:
        yield server


@pytest.fixture
def shell() -> Iterator[object]:
    """An IPython shell singleton, so ``display()`` publishes rich outputs that tests capture."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryAccessor.enabled = False
    created = not InteractiveShell.initialized()
    ip = InteractiveShell.instance(config=config)
    yield ip
    if created:
        InteractiveShell.clear_instance()

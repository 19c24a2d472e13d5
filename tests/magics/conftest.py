"""Fixtures for the magics tests: a real InteractiveShell singleton with the extension loaded,
and a small scripted NDJSON server for answers the sandbox would not produce (hostile text)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell
from magic_helpers import ScriptedServer
from traitlets.config import Config


@pytest.fixture
def ip(monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    """The InteractiveShell singleton (display ids need it), history off, ollama_nb loaded."""
    from ollama_nb.client._chat import chats
    from ollama_nb.client._session import session

    monkeypatch.delenv("OLLAMA_NB_DISPLAY", raising=False)
    session.reset()
    chats.clear()
    config = Config()
    config.HistoryAccessor.enabled = False
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "ollama_nb")
    try:
        yield shell
    finally:
        shell.run_line_magic("unload_ext", "ollama_nb")
        InteractiveShell.clear_instance()
        session.reset()
        chats.clear()


@pytest.fixture
def scripted() -> Iterator[ScriptedServer]:
    server = ScriptedServer()
    try:
        yield server
    finally:
        server.close()



"""pytest plugin (entry point ``pytest11``): the ``ollama_sandbox`` fixture.

Each test gets a fresh sandbox on a free loopback port, with ``OLLAMA_HOST`` set
to its URL for the duration of the test, so code under test, the official
``ollama`` client and kernels started by nbval/nbclient all reach it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from .server import Sandbox


@pytest.fixture
def ollama_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A running sandbox (``.url``, ``.requests``, ``.inject(...)``); OLLAMA_HOST points at it."""
    from .server import Sandbox

    with Sandbox(port=0) as sandbox:
        monkeypatch.setenv("OLLAMA_HOST", sandbox.url)
        yield sandbox

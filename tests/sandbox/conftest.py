"""Fixtures for the sandbox tests (the sandbox itself comes from the package plugin)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sandbox_raw import Raw, raw_request


@pytest.fixture
def call(ollama_sandbox: Any) -> Iterator[Any]:
    """``call(method, path, body=None, **kw) -> Raw`` against the test's sandbox."""

    def _call(method: str, path: str, body: Any = None, **kw: Any) -> Raw:
        return raw_request(ollama_sandbox.url, method, path, body, **kw)

    yield _call

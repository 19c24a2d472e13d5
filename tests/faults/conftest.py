"""Fixtures of the fault matrix.

Reuses the other suites' helpers instead of copying them: the magics' InteractiveShell
fixture (``ip``) and cell runner, the widgets' recording comm (``wire``) and hostile
server. Each matrix test gets ``env``: a fresh sandbox started *inside* a leak check,
so when the test ends the sandbox, any raw servers and the session's clients are
closed and the process must have no more fds, threads or TCP connections than before.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent.parent
for _folder in ("magics", "widgets", "faults"):
    if str(_TESTS / _folder) not in sys.path:
        sys.path.insert(0, str(_TESTS / _folder))


from shared_data import load_module as _load  # noqa: E402

_magics = _load("_faults_magics_conftest", _TESTS / "magics" / "conftest.py")
_widgets = _load("_faults_widgets_conftest", _TESTS / "widgets" / "conftest.py")

ip = _magics.ip  # the InteractiveShell singleton with ollama_nb loaded
wire = _widgets.wire  # widget messages recorded as a frontend would receive them

from cases import Env
from leaks import Snapshot, settle


@pytest.fixture(autouse=True)
def _fresh_session() -> Iterator[None]:
    from ollama_nb.client._chat import chats
    from ollama_nb.client._session import session

    observers = list(session._observers)
    session.reset()
    chats.clear()
    yield
    session._observers[:] = observers
    session.reset()
    chats.clear()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "fd_slack(n): the env leak check allows n more open fds "
                            "(a test that starts a kernel keeps its zmq context)")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Env]:
    """A sandbox (OLLAMA_HOST points at it) and room for more servers, all inside a leak check."""
    import contextlib

    from ollama_nb.sandbox import Sandbox

    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    before = Snapshot.take()
    with contextlib.ExitStack() as stack:
        sandbox = stack.enter_context(Sandbox(port=0))
        monkeypatch.setenv("OLLAMA_HOST", sandbox.url)
        yield Env(sandbox, monkeypatch, stack)
    marker = request.node.get_closest_marker("fd_slack")
    problems = settle(before, fd_slack=marker.args[0] if marker else 0)
    assert not problems, "left behind: " + "; ".join(problems)

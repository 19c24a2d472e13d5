"""pytest plugin (entry point ``pytest11``): the ``ollama_sandbox`` fixture.

Each test gets a fresh sandbox on a free loopback port, with ``OLLAMA_HOST`` set
to its URL for the duration of the test, so code under test, the official
``ollama`` client and kernels started by nbval/nbclient all reach it. The marker
``@pytest.mark.ollama_sandbox(models=[...], token_delay=..., ...)`` passes keyword
arguments to ``Sandbox``. ``--ollama-replay FILE`` makes the fixture, and one sandbox for
the whole run behind ``OLLAMA_HOST``, serve a recorded cassette.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from .server import Sandbox


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "ollama_sandbox(**kwargs): keyword arguments for the ollama_sandbox fixture's Sandbox "
        "(models, token_delay, pull_delay, keep_alive, minilm, num_parallel, max_queue, "
        "tokens_per_second)",
    )


@pytest.fixture
def ollama_sandbox(request: pytest.FixtureRequest,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A running sandbox (``.url``, ``.requests``, ``.inject(...)``); OLLAMA_HOST points at it."""
    from .server import Sandbox

    marker = request.node.get_closest_marker("ollama_sandbox")
    kwargs = dict(marker.kwargs) if marker else {}
    replay = request.config.getoption("--ollama-replay", default=None)
    if replay and "replay" not in kwargs:
        kwargs.update(replay=replay, replay_fallback=request.config.getoption(
            "--ollama-replay-fallback", default=False))
    with Sandbox(port=0, **kwargs) as sandbox:
        monkeypatch.setenv("OLLAMA_HOST", sandbox.url)
        yield sandbox


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ollama_nb")
    group.addoption(
        "--ollama-sandbox", action="store_true", default=False,
        help="start one ollama_nb sandbox for the whole run and point OLLAMA_HOST at it "
             "(for nbval notebooks, whose kernels inherit the environment)")
    group.addoption(
        "--ollama-replay", default=None, metavar="FILE",
        help="serve the responses recorded in this cassette (ollama-nb proxy --record FILE) "
             "from the ollama_sandbox fixture and from one sandbox for the whole run that "
             "OLLAMA_HOST points at; other requests are an error")
    group.addoption(
        "--ollama-replay-fallback", action="store_true", default=False,
        help="with --ollama-replay: the sandbox's engines answer requests not in the cassette")


_SESSION_SANDBOX: list[Sandbox] = []


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    replay = config.getoption("--ollama-replay", default=None)
    if config.getoption("--ollama-replay-fallback", default=False) and not replay:
        raise pytest.UsageError("--ollama-replay-fallback needs --ollama-replay FILE")
    if not (config.getoption("--ollama-sandbox", default=False) or replay):
        return
    import os

    from .server import Sandbox

    try:
        sandbox = Sandbox(port=0, replay=replay, replay_fallback=config.getoption(
            "--ollama-replay-fallback", default=False))
    except (ValueError, OSError) as exc:  # no such cassette, or a line that is not one
        raise pytest.UsageError(f"--ollama-replay: {exc}") from None
    sandbox.start()
    _SESSION_SANDBOX.append(sandbox)
    os.environ["OLLAMA_HOST"] = sandbox.url


def pytest_sessionfinish(session: pytest.Session) -> None:
    while _SESSION_SANDBOX:
        _SESSION_SANDBOX.pop().stop()


def pytest_report_header(config: pytest.Config) -> str | None:
    if _SESSION_SANDBOX:
        sandbox = _SESSION_SANDBOX[0]
        replay = f", replaying {sandbox.replay.path}" if sandbox.replay is not None else ""
        return f"ollama_nb sandbox: {sandbox.url} (OLLAMA_HOST{replay})"
    return None

"""Shared test configuration. The `ollama_sandbox` fixture comes from the package's
pytest plugin (entry point `pytest11`), exactly as users' own suites get it."""

from __future__ import annotations

import gc
import os
import signal
import tempfile
from collections.abc import Iterator

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Files ollama_nb writes (the prompt log, the map_prompts cache) go to a folder of this
    run, never to the home directory; kernels and subprocesses inherit it."""
    os.environ["OLLAMA_NB_CACHE_DIR"] = tempfile.mkdtemp(prefix="ollama-nb-tests-")


@pytest.fixture
def default_sigint() -> Iterator[None]:
    """Python's own SIGINT handler (KeyboardInterrupt) for a test that sends SIGINT.

    A process started in the background (``cmd &``, ``nohup``) inherits SIGINT *ignored*,
    and then Python never raises KeyboardInterrupt: tests that interrupt must not depend
    on what the parent set.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Spare the many InteractiveShells the tests made their exit-time reset.

    Each shell's ``atexit_operations`` resets it, which runs a full ``gc.collect()``; hundreds
    of them over a large heap made the interpreter take minutes to exit after the last test.
    The tests clean up their shells themselves (history is off, singletons are cleared).
    """
    from IPython.core.interactiveshell import InteractiveShell

    for obj in gc.get_objects():
        if isinstance(obj, InteractiveShell) and not getattr(obj, "_atexit_once_called", False):
            obj._atexit_once_called = True  # skips reset() and its gc.collect() at exit
            if obj.history_manager is not None:
                obj.history_manager.close()
                obj.history_manager = None

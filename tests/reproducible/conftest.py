"""Fixtures for provenance, the prompt log and record & replay: the magics' real IPython shell
(``ip``, reused as the fault matrix reuses it) and a prompt log of the test's own."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_TESTS = Path(__file__).resolve().parent.parent
if str(_TESTS / "magics") not in sys.path:
    sys.path.insert(0, str(_TESTS / "magics"))

from shared_data import load_module as _load  # noqa: E402

ip = _load("_reproducible_magics_conftest", _TESTS / "magics" / "conftest.py").ip


@pytest.fixture
def log_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh cache directory (so a fresh prompt log) for this test, with the log on."""
    from ollama_nb.client import _promptlog, _provenance

    folder = tmp_path / "cache"
    monkeypatch.setenv("OLLAMA_NB_CACHE_DIR", str(folder))
    monkeypatch.delenv("OLLAMA_NB_PROMPT_LOG", raising=False)
    _promptlog.set_enabled(None)
    _provenance.forget()
    yield folder
    _promptlog.set_enabled(None)
    _provenance.forget()

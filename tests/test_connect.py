"""``onb.connect()``: which server and which chat model a notebook's first cell gets."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import ollama_nb as onb
from ollama_nb.client._session import DEFAULT_MODEL, session
from ollama_nb.sandbox import Sandbox
from ollama_nb.sandbox._api import VERSION
from ollama_nb.sandbox.server import _llama_ok

# a default sandbox installs the real smollm2:135m only with the llm extra
FIRST_CHOICE = "smollm2:135m" if _llama_ok() else "llama3.2:latest"


@pytest.fixture(autouse=True)
def fresh_session() -> Iterator[None]:
    session.reset()
    yield
    session.reset()


def test_a_sandbox_gets_smollm2_and_says_so(ollama_sandbox: Sandbox,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    conn = onb.connect()
    out = capsys.readouterr().out
    assert conn.is_sandbox and conn.sandbox is None and conn.url == ollama_sandbox.url
    assert out.startswith(f"Connected to the ollama_nb sandbox at {ollama_sandbox.url}")
    assert conn.model == FIRST_CHOICE == session.model
    assert f"Chat model: {FIRST_CHOICE} ({ollama_sandbox.engines()[FIRST_CHOICE]})" in out


@pytest.mark.ollama_sandbox(models=["llama3.2", "qwen3", "all-minilm"])
def test_without_smollm2_the_newest_chat_model(ollama_sandbox: Sandbox) -> None:
    assert onb.connect(quiet=True).model == "llama3.2:latest"


@pytest.mark.ollama_sandbox(models=["all-minilm"])
def test_no_chat_model_says_to_pull_one(ollama_sandbox: Sandbox) -> None:
    conn = onb.connect(quiet=True)
    assert conn.model is None and session.model == DEFAULT_MODEL
    assert "No chat model on this server yet: %ollama pull llama3.2" in conn.describe()


def test_a_session_default_set_on_purpose_wins(ollama_sandbox: Sandbox) -> None:
    session.set("model", "qwen3")
    assert onb.connect(quiet=True).model == "qwen3"
    session.set("model", "not-installed")
    assert onb.connect(quiet=True).model == FIRST_CHOICE


def test_no_server_starts_the_sandbox_here(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # nothing listens on port 9
    conn = onb.connect()
    try:
        assert conn.sandbox is not None and os.environ["OLLAMA_HOST"] == conn.sandbox.url
        assert capsys.readouterr().out.startswith(
            f"No Ollama at http://127.0.0.1:9: using the built-in sandbox at {conn.sandbox.url}")
        assert conn.model == FIRST_CHOICE
    finally:
        if conn.sandbox is not None:
            conn.sandbox.stop()


def test_a_real_ollama_keeps_the_session_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server without /_sandbox/ (as a real Ollama) with llama3.2: the built-in default."""
    import ollama_nb._connect as c

    with Sandbox() as sb:
        monkeypatch.setenv("OLLAMA_HOST", sb.url)
        monkeypatch.setattr(c, "_engines", lambda client: None)
        conn = onb.connect(quiet=True)
    assert not conn.is_sandbox and conn.version == VERSION  # what the server said
    assert conn.model == DEFAULT_MODEL
    assert conn.describe().startswith(f"Connected to Ollama {VERSION} at {sb.url}")


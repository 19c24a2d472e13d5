"""The prompt log: every answer of the magics, map_prompts and the ChatBox in a SQLite file
under the cache directory, read back as a DataFrame with filters; nothing secret in it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from magic_helpers import run

import ollama_nb as onb


def test_answers_are_logged_with_their_provenance(ip: Any, ollama_sandbox: Any,
                                                  log_dir: Path) -> None:
    with capture_output():
        run(ip, "%%ollama llama3.2 --seed 5 --num-predict 8\nName a colour.")
        colour = ip.user_ns["_ollama"]
        run(ip, "%%ollama qwen3 --no-think --chat c1 -s 'Be brief.'\nName a bird.")
    onb.map_prompts(["x"], "Name a {{value}}", model="llama3.2", progress=False, cache=False)
    assert (log_dir / "prompt_log.sqlite3").is_file()
    log = onb.prompt_log()
    assert list(log["source"]) == ["map_prompts", "magic", "magic"]  # newest first
    assert list(log["prompt"]) == ["Name a x", "Name a bird.", "Name a colour."]
    first = log.iloc[-1]
    assert first["answer"] == colour.text and first["model"] == "llama3.2"
    assert first["provenance"] == colour.provenance
    assert first["provenance"]["seed"] == 5 and first["digest"] == first["provenance"]["digest"]
    assert log.iloc[1]["system"] == "Be brief." and log.iloc[1]["endpoint"] == "/api/chat"
    assert log.iloc[1]["answer"] == ip.user_ns["_ollama"].text
    assert str(log["time"].dtype).startswith("datetime64")
    # filters
    assert list(onb.prompt_log(1)["prompt"]) == ["Name a x"]
    assert list(onb.prompt_log(search="BIRD")["prompt"]) == ["Name a bird."]
    assert set(onb.prompt_log(model="llama3.2")["prompt"]) == {"Name a x", "Name a colour."}
    # the magic
    shown = run(ip, "%ollama log -n 2 --model qwen3")
    assert list(shown["prompt"]) == ["Name a bird."]


def test_the_log_can_be_turned_off_and_on(ip: Any, ollama_sandbox: Any, log_dir: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    with capture_output():
        run(ip, "%ollama log --off")
        run(ip, "%%ollama llama3.2 --num-predict 4\nnot logged")
        run(ip, "%ollama log --on")
        run(ip, "%%ollama llama3.2 --num-predict 4\nlogged")
    assert list(onb.prompt_log()["prompt"]) == ["logged"]
    from ollama_nb.client import _promptlog

    _promptlog.set_enabled(None)
    monkeypatch.setenv("OLLAMA_NB_PROMPT_LOG", "0")
    with capture_output():
        run(ip, "%%ollama llama3.2 --num-predict 4\noff by the environment")
    assert list(onb.prompt_log()["prompt"]) == ["logged"]


def test_bad_arguments_are_one_line_errors(ip: Any, log_dir: Path) -> None:
    with pytest.raises(UsageError, match="-n must be a positive number"):
        run(ip, "%ollama log -n 0")
    with pytest.raises(onb.InvalidArgumentError, match="n must be a positive integer"):
        onb.prompt_log(0)
    assert onb.prompt_log().empty  # nothing logged yet: an empty frame with the columns
    assert "provenance" in onb.prompt_log().columns


def test_nothing_secret_is_written(ip: Any, ollama_sandbox: Any, log_dir: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "sk-never-in-the-log")
    host = ollama_sandbox.url.replace("http://", "http://bob:s3cr3t-pw@")
    with capture_output():
        run(ip, f"%%ollama llama3.2 --num-predict 4 --host {host}\nHello")
    data = b"".join(p.read_bytes() for p in log_dir.iterdir())
    assert b"Hello" in data and onb.prompt_log().iloc[0]["prompt"] == "Hello"
    for secret in (b"sk-never-in-the-log", b"s3cr3t-pw", b"bob:"):
        assert secret not in data
    assert onb.prompt_log().iloc[0]["host"] == ollama_sandbox.url


def test_chatbox_replies_are_logged(ollama_sandbox: Any, log_dir: Path) -> None:
    from ollama_nb.widgets import ChatBox

    box = ChatBox("logged-box", model="llama3.2", options={"num_predict": 6})
    box.send("Hi box")
    assert box.future is not None
    box.future.result(timeout=60)
    row = onb.prompt_log(1).iloc[0]
    assert (row["source"], row["prompt"]) == ("chatbox", "Hi box")
    assert row["model"] in ("llama3.2", "llama3.2:latest")  # as the box's picker names it
    assert row["answer"] == box.session.messages[-1]["content"]
    assert box.provenance[-1]["digest"] == row["digest"] and row["digest"]
    box.close()

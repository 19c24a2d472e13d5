"""Kernel interrupt (a real SIGINT to the main thread) mid-stream, mid-pull, mid-embed and
mid-``map_prompts``: the work stops, what finished is kept, and the connections and
threads it used are gone afterwards (the ``env`` leak check).

The mid-stream case through a real kernel lives in tests/magics/test_kernel.py and the
plain in-process one in tests/magics/test_prompt.py; here the in-process versions add
the chat history and the leak check.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cases import CHAT_MODEL, EMBED_MODEL, PULL_MODEL, Env
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import ollama_nb as onb
from ollama_nb.client._chat import chats

pytestmark = pytest.mark.usefixtures("default_sigint")  # SIGINT must raise, whatever was inherited


@contextmanager
def interrupt_when(ready: Callable[[], bool], *, delay: float = 0.0) -> Iterator[threading.Thread]:
    """Send SIGINT to the main thread once ``ready()`` is true (as the kernel does on interrupt)."""
    main = threading.main_thread().ident
    assert main is not None and threading.get_ident() == main

    def watch() -> None:
        deadline = time.monotonic() + 10
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=watch, name="faults-interrupter")
    thread.start()
    try:
        yield thread
    finally:
        thread.join()


def _disconnected(env: Env, path: str) -> bool:
    records = [r for r in env.sandbox.requests if r.path == path]
    return bool(records) and records[-1].disconnected


def _wait(predicate: Callable[[], bool], seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_mid_stream_in_a_chat(ip: InteractiveShell, env: Env) -> None:
    env.sandbox.token_delay = 0.03
    with capture_output() as cap, interrupt_when(lambda: len(cap.outputs) >= 2, delay=0.05):
        result = ip.run_cell(f"%%ollama {CHAT_MODEL} --chat story -o told\nTell me a long story")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    told = ip.user_ns["told"]
    assert told is ip.user_ns["_ollama"] and told.interrupted and told.text
    assert "⏹ interrupted" in cap.outputs[-1].data["text/plain"]
    messages = chats.get("story").messages
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == told.text and messages[1].get("incomplete") is True
    assert _wait(lambda: _disconnected(env, "/api/chat")), "the server never saw the client leave"


def test_mid_pull(ip: InteractiveShell, env: Env) -> None:
    env.sandbox.pull_delay = 0.05
    with capture_output() as cap, interrupt_when(lambda: len(cap.outputs) >= 2):
        result = ip.run_cell(f"%ollama pull {PULL_MODEL}")
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    final = cap.outputs[-1].data["text/plain"]
    assert "interrupted" in final.lower(), final
    assert _wait(lambda: _disconnected(env, "/api/pull")), "the pull was not cancelled"
    assert not any(PULL_MODEL in name for name in env.sandbox.installed())


def test_mid_embed(env: Env) -> None:
    env.sandbox.inject("slow_load", model=EMBED_MODEL, seconds=0.2)  # every batch
    texts = [f"text number {i}" for i in range(40)]
    with pytest.raises(KeyboardInterrupt), interrupt_when(
            lambda: len([r for r in env.sandbox.requests if r.path == "/api/embed"]) >= 2):
        onb.embed(texts, model=EMBED_MODEL, batch_size=4, progress=False)
    asked = len([r for r in env.sandbox.requests if r.path == "/api/embed"])
    assert asked < 10, "embedding went on after the interrupt"
    time.sleep(0.5)  # nothing more is asked once the fetch thread saw the stop
    assert len([r for r in env.sandbox.requests if r.path == "/api/embed"]) <= asked + 1
    assert not [t for t in threading.enumerate() if t.name == "ollama_nb.embed-fetch" and t.is_alive()
                and not _wait(lambda t=t: not t.is_alive(), 1.0)]


def test_mid_map_prompts(env: Env, tmp_path: Any) -> None:
    env.sandbox.inject("slow_load", model=CHAT_MODEL, seconds=0.2)  # every row
    rows = [f"question {i}" for i in range(12)]
    done: list[int] = []
    with pytest.raises(KeyboardInterrupt) as info, interrupt_when(lambda: len(done) >= 2):
        onb.map_prompts(rows, "Answer: {{text}}", model=CHAT_MODEL, concurrency=2,
                        cache_dir=str(tmp_path), progress=lambda n, total: done.append(n))
    partial = info.value.partial  # type: ignore[attr-defined]
    finished = partial.dropna()
    assert len(finished) >= 2 and len(partial) == len(rows) and partial.isna().any()
    assert not finished.str.startswith("[error]").any()
    # rows in flight finish into the cache; the rerun resumes instead of asking everything again
    assert _wait(lambda: not [t for t in threading.enumerate()
                              if t.name.startswith("ollama_nb.map_prompts")])
    before = len([r for r in env.sandbox.requests if r.path == "/api/generate"])
    env.sandbox.clear_faults()
    again = onb.map_prompts(rows, "Answer: {{text}}", model=CHAT_MODEL, concurrency=2,
                            cache_dir=str(tmp_path), progress=False)
    asked = len([r for r in env.sandbox.requests if r.path == "/api/generate"]) - before
    assert again.notna().all() and asked <= len(rows) - len(finished)
    assert (again[finished.index] == finished).all()

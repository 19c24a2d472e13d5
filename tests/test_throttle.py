"""The shared throttle: at most one flush per interval, and the tail of a burst is not held back."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from ollama_nb.display._throttle import Throttle


def _wait(predicate: Any, limit: float = 10.0) -> bool:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return False


def test_a_burst_is_merged_and_its_tail_flushed_without_another_poke() -> None:
    flushed = threading.Event()
    calls: list[float] = []

    def flush() -> None:
        calls.append(time.monotonic())
        flushed.set()

    throttle = Throttle(0.05, flush, wait_first=True)
    for _ in range(100):  # a burst far faster than the interval
        throttle.poke()
    assert calls == []  # merged, not sent token by token
    assert flushed.wait(5), "the tail of the burst was never flushed"
    assert len(calls) == 1
    throttle.close()


def test_close_cancels_a_pending_flush() -> None:
    calls: list[int] = []
    throttle = Throttle(0.05, lambda: calls.append(1), wait_first=True)
    throttle.poke()
    throttle.close()
    time.sleep(0.15)
    throttle.poke()
    assert calls == []


def test_ready_limits_updates_to_one_per_interval() -> None:
    now = [0.0]
    throttle = Throttle(1.0, clock=lambda: now[0])
    assert throttle.ready()
    assert not throttle.ready()
    now[0] = 0.99
    assert not throttle.ready()
    assert throttle.ready(force=True)
    now[0] = 2.0
    assert throttle.ready()
    assert not Throttle(None).ready()


def test_words_before_a_stall_are_shown_during_the_stall(ollama_sandbox: Any) -> None:
    """A model that pauses after a burst: the display shows the burst while the model is silent.

    The sandbox sends four chunks, then nothing for 3 s. Some live update must show exactly
    those four chunks: only a flush made during the silence can (without one, the next update
    would come with the fifth chunk).
    """
    from ollama_nb import Client

    prompt = "Why is the sky blue?"
    with Client(ollama_sandbox.url).generate("llama3.2", prompt, stream=True) as stream:
        first_four = "".join(chunk.response for chunk in itertools.islice(stream, 4))
    ollama_sandbox.inject("stall", n=4, seconds=3, model="llama3.2")
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "ollama_nb")
    try:
        with capture_output() as cap:
            ip.run_cell_magic("ollama", f"llama3.2 --host {ollama_sandbox.url}", prompt)
        live = [o.data["text/plain"] for o in cap.outputs if o.update][:-1]  # the last is final
        assert any(text.strip() == first_four.strip() for text in live), (first_four, live[:3])
    finally:
        ip.run_line_magic("unload_ext", "ollama_nb")
        InteractiveShell.clear_instance()

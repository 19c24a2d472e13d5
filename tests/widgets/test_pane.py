"""StreamPane without a browser: what it sends, how often, Stop, escaping, the record output."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from hostile_server import HOSTILE_ANSWER, live_markup
from IPython.utils.capture import capture_output
from recording import Wire, frontend_event, wait_for

from ollama_nb.client._client import Client
from ollama_nb.widgets import StreamPane

PROMPT = "Why is the sky blue? Explain scattering of light in the atmosphere."


def test_streams_with_one_message_per_throttled_update(
    ollama_sandbox: Any, wire: Wire, shell: Any
) -> None:
    ollama_sandbox.token_delay = 0.01
    pane = StreamPane(interval=0.05)
    body = pane._body
    wire.clear()
    started = time.monotonic()
    with capture_output():
        result = pane.run("llama3.2", PROMPT, client=Client(ollama_sandbox.url))
    elapsed = time.monotonic() - started

    assert pane.status == "done"
    assert result.done is True and pane.text == result.response and len(pane.text) > 100
    updates = wire.updates(body)
    # placeholder, throttled live updates, final rendering: never one message per token
    chunks = ollama_sandbox.requests[-1]
    assert pane.updates >= 2, "the text should have been shown while it streamed"
    assert len(updates) == pane.updates + 2
    assert len(updates) <= elapsed / 0.05 + 3
    # each update is a single message that carries one trait: the body's value
    assert all(set(state) == {"value"} for state in updates)
    # text grew monotonically while streaming
    seen = [state["value"] for state in updates[:-1]]
    assert all(len(a) <= len(b) for a, b in zip(seen, seen[1:]))
    assert chunks.path == "/api/generate"
    assert "tokens" in pane._stats.value and pane.stop_button.disabled


def test_hold_sync_folds_several_traits_into_one_message(wire: Wire) -> None:
    """The rule the widgets rely on: hold_sync turns two trait changes into one message."""
    import ipywidgets as w

    bar = w.FloatProgress()
    wire.clear()
    with bar.hold_sync():
        bar.value = 0.5
        bar.bar_style = "success"
    assert wire.updates(bar) == [{"value": 0.5, "bar_style": "success"}]


def test_stop_click_in_background_mode_closes_the_stream(
    ollama_sandbox: Any, wire: Wire, shell: Any
) -> None:
    ollama_sandbox.token_delay = 0.05
    pane = StreamPane(interval=0.05)
    pane.record = False
    future = pane.start("llama3.2", PROMPT, client=Client(ollama_sandbox.url))
    assert pane.status == "running" and not pane.stop_button.disabled
    wait_for(lambda: pane.updates >= 1, what="text in the pane")
    frontend_event(pane.stop_button, "click")  # what the browser sends on a click
    result = future.result(timeout=10)

    assert pane.status == "stopped"
    assert result.done is False and pane.text and pane.text == result.response
    record = wait_for(
        lambda: ollama_sandbox.requests[-1].disconnected and ollama_sandbox.requests[-1],
        what="the sandbox to see the client leave",
    )
    assert record.path == "/api/generate"
    assert "stopped" in pane._status.value


def test_stop_during_blocking_run_when_the_click_is_handled(
    ollama_sandbox: Any, wire: Wire, shell: Any
) -> None:
    """Where the kernel handles the click mid-cell (subshells), Stop ends a blocking run at once."""
    ollama_sandbox.token_delay = 0.05
    pane = StreamPane(interval=0.05)

    def click_when_text_shows() -> None:
        wait_for(lambda: pane.updates >= 1, what="text in the pane")
        pane.stop_button.click()

    clicker = threading.Thread(target=click_when_text_shows)
    clicker.start()
    with capture_output() as captured:
        result = pane.run("llama3.2", PROMPT, client=Client(ollama_sandbox.url))
    clicker.join()
    assert pane.status == "stopped" and result.done is False
    wait_for(lambda: ollama_sandbox.requests[-1].disconnected, what="disconnect")
    # the partial answer is also an ordinary display output, marked as stopped
    (output,) = captured.outputs
    assert pane.text in output.data["text/plain"] and "stopped" in output.data["text/plain"]


def test_arun_stops_while_the_cell_awaits(ollama_sandbox: Any, wire: Wire, shell: Any) -> None:
    ollama_sandbox.token_delay = 0.05
    pane = StreamPane(interval=0.05)

    async def cell() -> Any:
        task = asyncio.ensure_future(
            pane.arun("llama3.2", PROMPT, client=Client(ollama_sandbox.url))
        )
        while pane.updates < 1:  # the event loop is free while the answer streams
            await asyncio.sleep(0.01)
        frontend_event(pane.stop_button, "click")
        return await task

    with capture_output() as captured:
        result = asyncio.run(cell())
    assert pane.status == "stopped" and result.done is False and pane.text
    wait_for(lambda: ollama_sandbox.requests[-1].disconnected, what="disconnect")
    assert len(captured.outputs) == 1


def test_final_answer_is_also_a_display_output(ollama_sandbox: Any, wire: Wire, shell: Any) -> None:
    pane = StreamPane()
    with capture_output() as captured:
        pane.run("llama3.2", "Name a colour", client=Client(ollama_sandbox.url))
    (output,) = captured.outputs
    assert set(output.data) == {"text/plain", "text/html"}
    assert output.data["text/plain"].startswith(pane.text)
    assert "tokens" in output.data["text/plain"]  # the stats line
    pane.record = False
    with capture_output() as captured:
        pane.run("llama3.2", "Name a colour", client=Client(ollama_sandbox.url))
    assert captured.outputs == []


def test_hostile_answer_is_escaped_everywhere(hostile: Any, wire: Wire, shell: Any) -> None:
    pane = StreamPane(interval=0.0)
    with capture_output() as captured:
        pane.run("evil", "anything", client=Client(hostile.url), think=True)
    assert pane.text == HOSTILE_ANSWER
    values = wire.strings()
    assert any("&lt;script&gt;" in v for v in values), "the markup should be shown as text"
    for value in values:
        assert live_markup(value) == [], value
    (output,) = captured.outputs
    assert live_markup(output.data["text/html"]) == []
    assert "<details" in pane._body.value  # thinking is collapsed


def test_hostile_error_message_is_escaped(ollama_sandbox: Any, wire: Wire, shell: Any) -> None:
    ollama_sandbox.inject("error_after", n=3, message="<img src=x onerror=alert(1)>boom")
    pane = StreamPane()
    with capture_output(), pytest.raises(Exception, match="boom"):
        pane.run("llama3.2", PROMPT, client=Client(ollama_sandbox.url))
    assert pane.status == "error" and "boom" in pane.error
    assert "&lt;img" in pane._body.value
    for value in wire.strings():
        assert live_markup(value) == [], value


def test_unreachable_server_shows_the_error(wire: Wire, shell: Any) -> None:
    pane = StreamPane()
    with capture_output() as captured, pytest.raises(Exception, match="Cannot reach Ollama"):
        pane.run("llama3.2", "hi", client=Client("http://127.0.0.1:9"))
    assert pane.status == "error" and "Cannot reach Ollama" in pane._body.value
    assert "Cannot reach Ollama" in captured.outputs[0].data["text/plain"]


def test_as_a_view_of_the_magic(wire: Wire) -> None:
    """The AnswerView protocol %%ollama --pane uses: start, update, finish, stop_requested."""
    from types import SimpleNamespace

    from ollama_nb.display._render import Stats

    pane = StreamPane()
    pane.start("llama3.2")
    assert pane.status == "running"
    pane.update("Hello <b>", "")
    assert "Hello &lt;b&gt;" in pane._body.value
    pane.finish(
        SimpleNamespace(
            text="Hello <b>wor",
            thinking="",
            interrupted=True,
            error=None,
            stats=Stats(model="llama3.2", eval_count=3),
            fmt="markdown",
        )
    )
    assert pane.status == "interrupted" and pane.text == "Hello <b>wor"  # kernel interrupt
    assert "3 tokens" in pane._stats.value
    assert repr(pane) == "StreamPane(model='llama3.2', status='interrupted', 12 chars)"


def test_saved_text_stays_true_after_the_answer(ollama_sandbox: Any, wire: Wire, shell: Any) -> None:
    """The text saved with the widget output says nothing that an answer makes stale."""
    pane = StreamPane()
    saved = pane._repr_mimebundle_()["text/plain"]
    with capture_output():
        pane.run("llama3.2", PROMPT, client=Client(ollama_sandbox.url))
    assert pane._repr_mimebundle_()["text/plain"] == saved
    assert saved.startswith("StreamPane()") and "idle" not in saved and "chars" not in saved
    assert repr(pane).startswith("StreamPane(model='llama3.2', status='done', ")  # live use


def test_stop_click_ends_the_magics_pane_stream(
    ollama_sandbox: Any, wire: Wire, shell: Any, monkeypatch: Any
) -> None:
    """%%ollama --pane: the pane is a view of the magic's stream; a handled click stops it."""
    panes: list[StreamPane] = []
    original = StreamPane.__init__

    def remember(self: StreamPane, **kwargs: Any) -> None:
        original(self, **kwargs)
        panes.append(self)

    monkeypatch.setattr(StreamPane, "__init__", remember)
    ollama_sandbox.token_delay = 0.05
    shell.run_line_magic("load_ext", "ollama_nb")
    try:

        def click_when_text_shows() -> None:
            wait_for(lambda: panes and panes[0].updates >= 1, what="text in the pane")
            frontend_event(panes[0].stop_button, "click")

        clicker = threading.Thread(target=click_when_text_shows)
        clicker.start()
        with capture_output():
            shell.run_cell_magic("ollama", f"llama3.2 --host {ollama_sandbox.url} --pane", PROMPT)
        clicker.join()
    finally:
        shell.run_line_magic("unload_ext", "ollama_nb")
    (pane,) = panes
    result = shell.user_ns["_ollama"]
    assert result.interrupted and pane.status == "stopped"
    assert pane.text == result.text and 0 < len(pane.text)
    wait_for(lambda: ollama_sandbox.requests[-1].disconnected, what="disconnect")


def test_kernel_interrupt_keeps_the_partial_answer(
    ollama_sandbox: Any, wire: Wire, shell: Any, default_sigint: None
) -> None:
    """A real SIGINT (as kernel interrupt sends) mid-stream: socket closed, partial kept."""
    import os
    import signal

    ollama_sandbox.token_delay = 0.05
    pane = StreamPane(interval=0.05)

    def interrupt_when_text_shows() -> None:
        wait_for(lambda: pane.updates >= 1, what="text in the pane")
        os.kill(os.getpid(), signal.SIGINT)

    interrupter = threading.Thread(target=interrupt_when_text_shows)
    interrupter.start()
    with capture_output() as captured, pytest.raises(KeyboardInterrupt) as info:
        pane.run("llama3.2", PROMPT, client=Client(ollama_sandbox.url))
    interrupter.join()
    assert info.value._render_traceback_() == [  # type: ignore[attr-defined]
        "KeyboardInterrupt: the partial answer is kept in the pane (pane.text, pane.result)"]
    assert pane.status == "interrupted" and pane.text
    wait_for(lambda: ollama_sandbox.requests[-1].disconnected, what="disconnect")
    (output,) = captured.outputs
    assert "interrupted" in output.data["text/plain"] and pane.text in output.data["text/plain"]


def test_one_answer_at_a_time(ollama_sandbox: Any, wire: Wire) -> None:
    ollama_sandbox.token_delay = 0.05
    pane = StreamPane(record=False)
    future = pane.start("llama3.2", PROMPT, client=Client(ollama_sandbox.url))
    with pytest.raises(RuntimeError, match="still streaming"):
        pane.run("llama3.2", "again", client=Client(ollama_sandbox.url))
    pane.stop()
    assert future.result(timeout=10).done is False


def test_arun_error_is_shown_recorded_and_raised(wire: Wire, shell: Any) -> None:
    pane = StreamPane()
    with capture_output() as captured, pytest.raises(Exception, match="Cannot reach Ollama"):
        asyncio.run(pane.arun("llama3.2", "hi", client=Client("http://127.0.0.1:9")))
    assert pane.status == "error" and "Cannot reach Ollama" in pane._body.value
    (output,) = captured.outputs
    assert "Cannot reach Ollama" in output.data["text/plain"]


@pytest.mark.timeout(60)
def test_stop_click_closes_a_magic_stream_blocked_in_a_read(
    ollama_sandbox: Any, wire: Wire, shell: Any, monkeypatch: Any
) -> None:
    """The server stalls for 120 s mid-answer: Stop must close the socket, not wait for a token.

    Without the pane's ``attach`` seam the click would only be seen at the next token, and this
    test would run into its 60 s timeout.
    """
    panes: list[StreamPane] = []
    original = StreamPane.__init__

    def remember(self: StreamPane, **kwargs: Any) -> None:
        original(self, **kwargs)
        panes.append(self)

    monkeypatch.setattr(StreamPane, "__init__", remember)
    ollama_sandbox.inject("stall", n=3, seconds=120, model="llama3.2")
    shell.run_line_magic("load_ext", "ollama_nb")
    try:

        def click_when_text_shows() -> None:
            wait_for(lambda: panes and panes[0].text, what="text in the pane")
            frontend_event(panes[0].stop_button, "click")

        clicker = threading.Thread(target=click_when_text_shows)
        clicker.start()
        with capture_output():
            shell.run_cell_magic("ollama", f"llama3.2 --host {ollama_sandbox.url} --pane", PROMPT)
        clicker.join()
    finally:
        shell.run_line_magic("unload_ext", "ollama_nb")
    result = shell.user_ns["_ollama"]
    assert result.interrupted and panes[0].status == "stopped" and result.text


def test_each_finished_answer_has_a_record_hidden_while_the_pane_lives(
    ollama_sandbox: Any, wire: Wire, shell: Any
) -> None:
    """One answer on screen (the pane), one in the saved file (the record), for each answer."""
    pane = StreamPane()
    with capture_output() as cap:
        pane.run("llama3.2", PROMPT, client=Client(ollama_sandbox.url))
        first_key = pane._record.key
        pane.run("llama3.2", "Now about tides.", client=Client(ollama_sandbox.url))
    first, second = cap.outputs
    assert not first.update and not second.update  # a record per answer, where it was asked
    assert f'class="ollama-nb-record {first_key}"' in first.data["text/html"]
    assert f'class="ollama-nb-record {pane._record.key}"' in second.data["text/html"]
    # the pane shows the second answer: only that record is hidden, the first shows again
    style = pane._record.style.value
    assert f".{pane._record.key}{{display:none}}" in style and first_key not in style
    assert pane.text[:30] in second.data["text/plain"]

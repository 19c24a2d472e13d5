"""Hostile model output, and hostile server text, in every place ollama_nb shows it.

A model (or whatever answers on the port) controls the answer, the thinking, model
names and error messages. None of it may become live markup: every HTML string that
reaches the frontend is checked with ``live_markup`` (a real tag or event handler,
not escaped text). The browser tests (tests/browser) prove the same in Chromium.
"""

from __future__ import annotations

from typing import Any

import pytest
from cases import CHAT_MODEL, Env
from hostile_server import HOSTILE_ANSWER, HOSTILE_MODEL, HostileServer, live_markup
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from layers import html_outputs
from magic_helpers import run
from recording import Wire

from ollama_nb import Client, ResponseError

EVIL = '<img src=x onerror="window.__xss=true"><script>window.__xss=true</script>'


@pytest.fixture
def hostile() -> Any:
    with HostileServer() as server:
        yield server


def _clean(pages: list[str]) -> None:
    bad = [(page[:200], live_markup(page)) for page in pages if live_markup(page)]
    assert not bad, bad


def _widget_html(wire: Wire) -> list[str]:
    return [s for s in wire.strings() if "<" in s]


def test_answer_and_thinking_in_the_cell_output(ip: InteractiveShell, hostile: Any, env: Env) -> None:
    run(ip, "%config OllamaMagics.update_rate = 1000")  # every update goes out
    for extra in ("", "--format text", "--format code", "--format json", "--no-stream"):
        with capture_output() as cap:
            run(ip, f"%%ollama {HOSTILE_MODEL!r} --host {hostile.url} {extra}\nhi")
        pages = html_outputs(cap)
        assert len(pages) >= 1
        _clean(pages)
        _clean([ip.user_ns["_ollama"]._repr_mimebundle_()["text/html"]])
    assert "&lt;script&gt;" in pages[-1]


def test_chat_history_everywhere_it_is_shown(ip: InteractiveShell, hostile: Any, env: Env,
                                             wire: Wire) -> None:
    from ollama_nb.widgets import ChatBox

    with capture_output():
        run(ip, f"%%ollama m --host {hostile.url} --chat evil\nhi")
        run(ip, f"%%ollama m --host {hostile.url} --chat evil\n{EVIL}")  # the user's turn too
    frame = run(ip, "%ollama chat evil --history")
    _clean([frame._repr_html_()])
    box = ChatBox("evil", model="m", client=Client(hostile.url))
    try:
        assert HOSTILE_ANSWER[:10] in "".join(c.value for c in box.history.children)
        future = box.send(EVIL)
        assert future is not None
        future.result(timeout=10)
        _clean(_widget_html(wire))
    finally:
        box.close()


def test_stream_pane_of_the_magic(ip: InteractiveShell, hostile: Any, env: Env, wire: Wire) -> None:
    with capture_output() as cap:
        run(ip, f"%%ollama m --host {hostile.url} --pane\nhi")
    _clean(html_outputs(cap))
    _clean(_widget_html(wire))
    assert any("&lt;script&gt;" in s for s in wire.strings())


def test_model_names_in_picker_tables_and_status(ip: InteractiveShell, hostile: Any, env: Env,
                                                 wire: Wire) -> None:
    from ollama_nb.widgets import ModelPicker

    picker = ModelPicker(host=hostile.url, bind=False)
    try:
        assert picker.count == 2  # the hostile model and the echo model
        _clean(_widget_html(wire))  # labels go to <option> text, checked by the browser tests
    finally:
        picker.close()
    frame = run(ip, f"%ollama models --host {hostile.url}")
    _clean([frame._repr_html_()])
    with capture_output():
        status = run(ip, f"%ollama status --host {hostile.url}")
    _clean([status._repr_html_()])


def test_server_error_text_is_never_markup(ip: InteractiveShell, env: Env, wire: Wire) -> None:
    """Error messages echo the server's text: a cell, a pane, a chat box and pull progress."""
    from ollama_nb.widgets import ChatBox, StreamPane

    env.sandbox.inject("error_after", n=2, message=EVIL)
    with capture_output() as cap, pytest.raises(UsageError) as info:
        run(ip, f"%%ollama {CHAT_MODEL}\nhi")
    _clean(html_outputs(cap))
    # the server's text is said once, by the UsageError (plain text); the answer's output
    # keeps the partial answer, marked incomplete
    assert "<script>" in str(info.value) and "script" not in cap.outputs[-1].data["text/html"]

    env.sandbox.inject("error", status=500, message=EVIL)
    pane = StreamPane(record=False)
    box = ChatBox("err", model=CHAT_MODEL)
    try:
        with pytest.raises(ResponseError):
            pane.run(CHAT_MODEL, "hi")
        assert "script" in pane.error
        future = box.send("hi")
        assert future is not None and future.exception(timeout=10) is not None
        assert "script" in box._status.value
        _clean(_widget_html(wire))
    finally:
        pane.close()
        box.close()
    env.sandbox.clear_faults()

    env.sandbox.inject("error_after", model="tinydolphin", n=2, message=EVIL)
    with capture_output() as cap, pytest.raises(UsageError):
        run(ip, "%ollama pull tinydolphin")
    _clean(html_outputs(cap))
    env.sandbox.clear_faults()

    env.sandbox.inject("error", status=503, message=EVIL)
    status = run(ip, "%ollama status")
    _clean([status._repr_html_()])


def test_model_card_of_a_hostile_model(ip: InteractiveShell, env: Env) -> None:
    with capture_output():
        run(ip, f"%%ollama create evil\nFROM {CHAT_MODEL}\nSYSTEM {EVIL}\nLICENSE {EVIL}\n")
    card = run(ip, "%ollama show evil")
    page = card._repr_html_()
    _clean([page])
    assert "&lt;script&gt;" in page

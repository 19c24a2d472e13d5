"""The matrix through the widgets: ``StreamPane.run`` and ``ChatBox.send``.

What the user sees is the widget state that reaches the frontend (recorded by the
``wire`` fixture): status, the error line, the partial answer, all without live markup.
"""

from __future__ import annotations

from typing import Any

import pytest
from cases import CHAT_MODEL, PROMPT, Case, Env, Target, cases_for, check_line
from hostile_server import live_markup
from recording import Wire

from ollama_nb import Client
from ollama_nb.client._chat import chats
from ollama_nb.client._errors import OllamaError
from ollama_nb.display._render import inline_html


def _client(target: Target) -> Any:
    # a bad OLLAMA_HOST must fail inside the widget, so no client is made for it here
    return None if target.host is None else Client(target.host, timeout=target.timeout)


def _no_markup(wire: Wire) -> None:
    found = [s for s in wire.strings() if live_markup(s) and "ollama-nb" not in s[:0]]
    assert not [s for s in found if "<script" in s.lower() or "onerror" in s.lower()], found


@pytest.mark.parametrize("case", cases_for("pane"))
def test_stream_pane(case: Case, env: Env, wire: Wire) -> None:
    from ollama_nb.widgets import StreamPane

    target = case.make(env, CHAT_MODEL)
    model = target.model or CHAT_MODEL
    client = _client(target)
    pane = StreamPane(record=False)
    try:
        if case.error_for("pane") is None:
            result = pane.run(model, PROMPT, client=client)
            assert pane.status == "done" and result.response and pane.text == result.response
            return
        with pytest.raises((OllamaError, KeyboardInterrupt)) as info:
            pane.run(model, PROMPT, client=client)
        assert isinstance(info.value, case.error_for("pane"))  # type: ignore[arg-type]
        assert pane.status == "error" and pane.stop_button.disabled
        check_line(pane.error, case, "pane")
        if case.partial:
            assert pane.text and pane.text == info.value.partial.response  # type: ignore[attr-defined]
            assert pane.text[:10] in pane._body.value
        _no_markup(wire)
    finally:
        pane.close()
        if client is not None:
            client.close()


@pytest.mark.parametrize("case", cases_for("chatbox"))
def test_chatbox(case: Case, env: Env, wire: Wire) -> None:
    from ollama_nb.widgets import ChatBox

    target = case.make(env, CHAT_MODEL)
    model = target.model or CHAT_MODEL
    client = _client(target)
    box = ChatBox("faults", model=model, client=client, interval=0.0)
    try:
        future = box.send(PROMPT)
        assert future is not None
        error = future.exception(timeout=30)
        messages = chats.get("faults").messages
        if case.error_for("chatbox") is None:
            assert error is None and box.status == "done"
            assert [m["role"] for m in messages] == ["user", "assistant"]
            return
        assert isinstance(error, case.error_for("chatbox")), repr(error)  # type: ignore[arg-type]
        assert box.status == "error" and not box.send_button.disabled
        check_line(error.message, case, "chatbox")  # type: ignore[union-attr]
        # said as our lines are set: escaped, `code` spans as code (backticks never show)
        assert inline_html(error.message) in box._status.value  # type: ignore[union-attr]
        assert "`" not in box._status.value
        if case.partial:
            assert [m["role"] for m in messages] == ["user", "assistant"]
            assert messages[1]["content"] == error.partial.message.content != ""  # type: ignore[union-attr]
            assert messages[1].get("incomplete") is True, "a partial reply must be marked incomplete"
            assert messages[1]["content"][:10] in box.history.children[-1].value
        else:  # nothing arrived: the message goes back into the input box to send again
            assert messages == [] and box.input.value == PROMPT
        _no_markup(wire)
    finally:
        box.close()
        if client is not None:
            client.close()

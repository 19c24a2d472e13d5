"""The matrix through ``%%ollama``: one-line UsageError, partial kept on screen, in ``_ollama``,
in ``-o VAR`` and (with ``--chat``) in the conversation, marked as incomplete."""

from __future__ import annotations

import pytest
from cases import CHAT_MODEL, PROMPT, Case, Env, cases_for, check_line
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from layers import html_outputs, magic_options
from magic_helpers import run
from test_render import live_markup

from ollama_nb.client._chat import chats


def _cell(case: Case, env: Env, extra: str = "") -> tuple[str, str]:
    target = case.make(env, CHAT_MODEL)
    model = target.model or CHAT_MODEL
    return model, f"%%ollama {model} -o out {magic_options(target)} {extra}\n{PROMPT}"


@pytest.mark.parametrize("case", cases_for("magic"))
def test_prompt(case: Case, ip: InteractiveShell, env: Env) -> None:
    ip.user_ns.pop("_ollama", None)
    _model, cell = _cell(case, env)
    with capture_output() as cap:
        if case.error_for("magic") is None:
            assert run(ip, cell) is None
        else:
            with pytest.raises(UsageError) as info:
                run(ip, cell)
    pages = html_outputs(cap)
    assert all(not live_markup(page) for page in pages)
    result = ip.user_ns.get("_ollama")
    if case.error_for("magic") is None:
        assert result is not None and result.done and result.text
        assert pages and result.text[:20] in cap.outputs[-1].data["text/plain"]
        return
    message = str(info.value)
    check_line(message, case, "magic")
    if result is None:  # failed before a request was made (bad host): nothing to keep
        assert case.error_for("magic") and issubclass(case.error_for("magic"), ValueError)  # type: ignore[arg-type]
        return
    assert ip.user_ns["out"] is result and not result.done and result.error
    assert pages, "nothing on screen"
    final = cap.outputs[-1].data
    if case.partial:  # the partial answer, marked; the error's text only in the UsageError
        assert result.text, "the partial answer was lost"
        assert final["text/plain"].startswith(result.text)
        assert "✖ incomplete" in final["text/plain"] and message not in final["text/plain"]
    else:  # nothing arrived: the placeholder goes, the error alone says what happened
        assert final == {}, final


@pytest.mark.parametrize("case", [p for p in cases_for("magic") if p.values[0].partial])
def test_chat_keeps_the_partial_turn_marked_incomplete(case: Case, ip: InteractiveShell,
                                                       env: Env) -> None:
    _model, cell = _cell(case, env, "--chat faults")
    with capture_output(), pytest.raises(UsageError):
        run(ip, cell)
    messages = chats.get("faults").messages
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == ip.user_ns["_ollama"].text != ""
    assert messages[1].get("incomplete") is True, "a partial reply must be marked incomplete"
    # the mark is ours: it never goes to the server with the next turn
    assert all("incomplete" not in m for m in chats.get("faults").window())
    history = chats.get("faults").to_dataframe()
    assert bool(history["incomplete"].iloc[1]) and not bool(history["incomplete"].iloc[0])

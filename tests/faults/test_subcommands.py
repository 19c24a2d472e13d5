"""The matrix through ``%ollama`` subcommands: ``show``, ``models``, ``pull`` (text progress)."""

from __future__ import annotations

import pytest
from cases import CHAT_MODEL, PULL_MODEL, Case, Env, cases_for, check_line
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from layers import html_outputs
from magic_helpers import run
from test_render import live_markup


def _host(target: object) -> str:
    host = getattr(target, "host", None)
    return f" --host {host}" if host is not None else ""


def _run(ip: InteractiveShell, case: Case, layer: str, line: str) -> None:
    with capture_output() as cap:
        if case.error_for(layer) is None:
            run(ip, line)
        else:
            with pytest.raises(UsageError) as info:
                run(ip, line)
            check_line(str(info.value), case, layer)
    assert all(not live_markup(page) for page in html_outputs(cap))


@pytest.mark.parametrize("case", cases_for("show"))
def test_show(case: Case, ip: InteractiveShell, env: Env) -> None:
    target = case.make(env, CHAT_MODEL)
    if target.timeout is not None:  # subcommands use the session's timeout
        ip.run_line_magic("config", f"OllamaMagics.timeout = {target.timeout!r}")
    _run(ip, case, "show", f"%ollama show {target.model or CHAT_MODEL}{_host(target)}")


@pytest.mark.parametrize("case", cases_for("models"))
def test_models(case: Case, ip: InteractiveShell, env: Env) -> None:
    target = case.make(env, "")  # /api/tags names no model: the fault hits every request
    if target.timeout is not None:
        ip.run_line_magic("config", f"OllamaMagics.timeout = {target.timeout!r}")
    _run(ip, case, "models", f"%ollama models{_host(target)}")


@pytest.mark.parametrize("case", cases_for("pull"))
def test_pull(case: Case, ip: InteractiveShell, env: Env) -> None:
    target = case.make(env, PULL_MODEL)
    if target.timeout is not None:
        ip.run_line_magic("config", f"OllamaMagics.timeout = {target.timeout!r}")
    model = target.model or PULL_MODEL
    with capture_output() as cap:
        if case.error_for("pull") is None:
            run(ip, f"%ollama pull {model}{_host(target)}")
            assert any(model in m for m in env.sandbox.installed())
            return
        with pytest.raises(UsageError) as info:
            run(ip, f"%ollama pull {model}{_host(target)}")
    check_line(str(info.value), case, "pull")
    assert all(not live_markup(page) for page in html_outputs(cap))
    # the progress view was closed (not left "running"), and the error is said once: by the
    # UsageError; with nothing pulled yet the progress output is removed
    if cap.outputs:
        final = cap.outputs[-1].data
        assert final == {} or "✖ stopped by the error that follows" in final["text/plain"], final
        assert str(info.value) not in final.get("text/plain", "")


@pytest.mark.parametrize("line, message, step", [
    ("%%ollama nosuch\nhi", r"Model 'nosuch' not found on the server \(model 'nosuch' not found\)",
     r"%ollama pull nosuch"),
    ("%%ollama nosuch --chat c\nhi", r"Model 'nosuch' not found", r"%ollama pull nosuch"),
    ("%%ollama embed nosuch\nsome text", r"Model 'nosuch' not found .*try pulling it first",
     r"%ollama pull nosuch"),
    ("%ollama embed nosuch --from texts", r"Model 'nosuch' not found", r"%ollama pull nosuch"),
    ("%ollama show nosuch", r"Model 'nosuch' not found .*model 'nosuch(:latest)?' not found",
     r"%ollama pull nosuch"),
    ("%ollama cp nosuch other", r"Model 'nosuch' not found .*model \"nosuch\" not found",
     r"%ollama pull nosuch"),
    ("%ollama rm nosuch", r"nosuch.* not found", r"%ollama models"),
    ("%ollama pull nosuch", r"file does not exist", r"ollama\.com/library"),
    ("%ollama push nosuch", r"nosuch", r"%ollama models|create|pull"),
], ids=["generate", "chat", "embed-cell", "embed-from", "show", "cp", "rm", "pull", "push"])
def test_each_endpoint_names_the_missing_model(line: str, message: str, step: str,
                                               ip: InteractiveShell, env: Env) -> None:
    """A missing model: each endpoint's own server text, one line, and a next step that fits."""
    import re

    ip.user_ns["texts"] = ["a", "b"]
    with capture_output(), pytest.raises(UsageError) as info:
        run(ip, line)
    text = str(info.value)
    assert "\n" not in text and re.search(message, text), text
    assert re.search(step, text), f"next step {step!r} not in {text!r}"

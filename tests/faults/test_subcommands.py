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
    return None


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
    shown = [o.data.get("text/plain", "") for o in cap.outputs] + [cap.stdout]
    assert all(not live_markup(page) for page in html_outputs(cap))
    # the progress view was closed with the error (not left "running")
    if cap.outputs:
        assert "✖" in shown[-2] or "error" in shown[-2].lower(), shown[-2]

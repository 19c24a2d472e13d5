"""The notebook's assistant through a real InteractiveShell against the sandbox: aliases,
``{{Err[n]}}``, ``%ollama explain`` / ``fix``, ``--new-cell`` (and its fallback where no
frontend takes cells; the kernel's payload is checked in test_kernel.py)."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from magic_helpers import ScriptedServer, run
from traitlets import TraitError
from traitlets.config import Config

from ollama_nb.client._session import session
from ollama_nb.magics._magics import OllamaMagics


def cell(ip: InteractiveShell, source: str) -> Any:
    """Run a numbered cell (as a notebook does: In[n], Err[n]); return its ExecutionResult."""
    return ip.run_cell(source, store_history=True)


def magics(ip: InteractiveShell) -> OllamaMagics:
    return next(c for c in ip.configurables if isinstance(c, OllamaMagics))


# ------------------------------------------------------------------ aliases


def test_alias_resolves_wherever_a_model_is_taken(ip: InteractiveShell, ollama_sandbox: Any,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    run(ip, "%ollama alias fast llama3.2 --temperature 0 --num-ctx 8192 -s 'Be terse.'")
    assert "alias fast → llama3.2 --temperature 0 --num-ctx 8192 -s 'Be terse.'" in capsys.readouterr().out
    assert magics(ip).aliases == {"fast": "llama3.2 --temperature 0 --num-ctx 8192 -s 'Be terse.'"}
    with capture_output():
        run(ip, "%%ollama fast --temperature 0.7 -O top_k=3\nhi")  # the line's options win
    body = ollama_sandbox.requests[-1].body
    assert body["model"] == "llama3.2" and body["system"] == "Be terse."
    assert body["options"] == {"temperature": 0.7, "num_ctx": 8192, "top_k": 3}
    assert ip.user_ns["_ollama"].model == "llama3.2"
    with capture_output():
        run(ip, "%%ollama -m fast\nhi")
    assert ollama_sandbox.requests[-1].body["options"] == {"temperature": 0, "num_ctx": 8192}
    run(ip, "%ollama alias tiny qwen3 --num-predict 4")
    run(ip, "%config OllamaMagics.model = 'tiny'")  # a default that is an alias brings its options
    with capture_output():
        run(ip, "%%ollama\nhi")
    body = ollama_sandbox.requests[-1].body
    assert body["model"] == "qwen3" and body["options"] == {"num_predict": 4}
    capsys.readouterr()
    run(ip, "%ollama model fast")  # the session's default is a real model (onb.ask, widgets use it)
    assert session.model == "llama3.2" and "default model: llama3.2 (alias fast" in capsys.readouterr().out
    card = run(ip, "%ollama show fast")
    assert card.model == "llama3.2" and ollama_sandbox.requests[-1].body["model"] == "llama3.2"
    run(ip, "%ollama alias vec all-minilm")
    ip.user_ns["texts"] = ["a", "b"]
    frame = run(ip, "%ollama embed vec --from texts")
    assert len(frame) == 2 and ollama_sandbox.requests[-1].body["model"] == "all-minilm"
    with capture_output():
        run(ip, "%ollama pull fast")
    assert ollama_sandbox.requests[-1].body["model"] == "llama3.2"


def test_alias_list_show_remove(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    run(ip, "%ollama alias")
    assert capsys.readouterr().out.startswith("no aliases yet")
    run(ip, "%ollama alias a llama3.2 --seed 1")
    run(ip, "%ollama alias b qwen3 --think")
    capsys.readouterr()
    run(ip, "%ollama alias")
    assert capsys.readouterr().out == "a → llama3.2 --seed 1\nb → qwen3 --think\n"
    run(ip, "%ollama alias b")
    assert capsys.readouterr().out == "b → qwen3 --think\n"
    run(ip, "%ollama alias --rm a")
    assert capsys.readouterr().out == "removed alias a\n" and magics(ip).aliases == {"b": "qwen3 --think"}
    run(ip, "%ollama alias b gemma3")  # redefining replaces
    assert magics(ip).aliases == {"b": "gemma3"}


@pytest.mark.parametrize(("line", "message"), [
    ("--rm nope", "no alias named 'nope'"),
    ("nope", "no alias named 'nope'; define it with %ollama alias nope MODEL"),
    ("fast --temperature 0", "alias fast: name the model first"),
    ("fast llama3.2 --temprature 0", "unrecognized arguments: --temprature"),
    ("-x llama3.2", "alias name '-x'"),
    ("a,b llama3.2", "alias name 'a,b'"),
    ("fast --compare a,b", "alias fast: name the model first"),
    ("loop fast", "'fast' is itself an alias"),
])
def test_alias_errors_are_one_line(ip: InteractiveShell, line: str, message: str) -> None:
    magics(ip).aliases = {"fast": "llama3.2"}
    with pytest.raises(UsageError) as info:
        run(ip, f"%ollama alias {line}")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_aliases_from_config_files_and_config_magic(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    run(ip, "%config OllamaMagics.aliases = {'det': 'llama3.2 --seed 3 --temperature 0'}")
    with capture_output():
        run(ip, "%%ollama det\nhi")
    assert ollama_sandbox.requests[-1].body["options"] == {"seed": 3, "temperature": 0}
    with pytest.raises(TraitError, match="OllamaMagics.aliases: alias bad: name the model first"):
        magics(ip).aliases = {"bad": "--seed 3"}
    assert "det" in magics(ip).aliases


def test_aliases_from_ipython_config(ollama_sandbox: Any) -> None:
    session.reset()
    config = Config()  # what c.OllamaMagics.aliases = {...} in ipython_config.py gives
    config.HistoryAccessor.enabled = False
    config.OllamaMagics.aliases = {"cfg": "qwen3 --num-predict 2"}
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "ollama_nb")
    try:
        with capture_output():
            run(shell, "%%ollama cfg\nhi")
        body = ollama_sandbox.requests[-1].body
        assert body["model"] == "qwen3" and body["options"] == {"num_predict": 2}
    finally:
        shell.run_line_magic("unload_ext", "ollama_nb")
        InteractiveShell.clear_instance()
        session.reset()


# ------------------------------------------------------------------ Err[n]


def test_err_n_holds_each_failing_cell_and_goes_with_unload(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    assert ip.events.callbacks["post_run_cell"].count(magics(ip).errors) == 1
    ok = cell(ip, "x = 1")
    failed = cell(ip, "def f(v):\n    return 1 / v\nf(0)")
    n = failed.execution_count
    assert ok.error_in_exec is None and n == ok.execution_count + 1
    err = ip.user_ns["Err"]
    assert list(err) == [n] and err[n].type == "ZeroDivisionError" and err[n].cell == n
    text = str(err[n])
    assert text.startswith("Traceback (most recent call last):\n")
    assert f'File "Cell In[{n}]", line 3, in <module>' in text and "return 1 / v" in text
    assert text.endswith("ZeroDivisionError: division by zero")
    assert "interactiveshell.py" not in text and "\x1b[" not in text  # IPython's frames, colours gone
    with capture_output():
        run(ip, f"%%ollama llama3.2\nWhy? {{{{Err[{n}]}}}}")
    assert ollama_sandbox.requests[-1].body["prompt"] == f"Why? {text}"
    syntax = cell(ip, "def (:")
    assert ip.user_ns["Err"][syntax.execution_count].type == "SyntaxError"
    with pytest.raises(UsageError, match=r"cannot interpolate \{\{Err\[1\]\}\} .*cell 1 raised no error"):
        run(ip, "%%ollama llama3.2\n{{Err[1]}}")
    errors = magics(ip).errors
    ip.run_line_magic("unload_ext", "ollama_nb")
    assert "Err" not in ip.user_ns and errors not in ip.events.callbacks["post_run_cell"]
    ip.run_line_magic("load_ext", "ollama_nb")


def test_a_users_own_err_stays(ip: InteractiveShell) -> None:
    ip.run_line_magic("unload_ext", "ollama_nb")
    ip.user_ns["Err"] = "mine"
    ip.run_line_magic("load_ext", "ollama_nb")
    cell(ip, "1/0")
    assert ip.user_ns["Err"] == "mine" and magics(ip).errors.last.type == "ZeroDivisionError"


# ------------------------------------------------------------------ explain / fix


def test_explain_sends_the_failing_cell_only(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    cell(ip, "token = 'the-secret-of-another-cell'")
    cell(ip, "data = {'a': 1}\nvalue = data['b']")
    cell(ip, "y = 2")  # a later cell that worked
    with capture_output() as cap:
        assert cell(ip, "%ollama explain --temperature 0 --num-predict 40").error_in_exec is None
    body = ollama_sandbox.requests[-1].body
    prompt = body["prompt"]
    assert body["model"] == session.model and body["options"] == {"temperature": 0, "num_predict": 40}
    assert "data = {'a': 1}\nvalue = data['b']" in prompt
    assert "KeyError" in prompt and "'b'" in prompt and 'File "this cell", line 2' in prompt
    assert "Cell In[" not in prompt  # the same prompt whenever the cell ran (a replay matches)
    assert "the-secret-of-another-cell" not in prompt and "y = 2" not in prompt
    assert "Python expert" in body["system"]
    result = ip.user_ns["_ollama"]
    assert result.done and cap.outputs[-1].data["text/plain"].startswith(result.text[:30])  # streamed


def test_explain_n_model_and_alias(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    first = cell(ip, "int('x')")
    cell(ip, "[][1]")
    run(ip, "%ollama alias q qwen3 --no-think")
    with capture_output():
        cell(ip, f"%ollama explain {first.execution_count} q -s 'Answer in French.'")
    body = ollama_sandbox.requests[-1].body
    assert body["model"] == "qwen3" and body["think"] is False and body["system"] == "Answer in French."
    assert "int('x')" in body["prompt"] and "ValueError" in body["prompt"] and "[][1]" not in body["prompt"]


@pytest.mark.parametrize(("source", "message"), [
    ("%ollama explain", "no error to explain yet: run a cell that raises"),
    ("%ollama fix 99", "cell 99 raised no error (cells with errors: none yet)"),
    ("%%ollama explain\nwhy", "%ollama explain is a line magic"),
    ("%%ollama --compare llama3.2\nhi", "--compare takes two or more models"),
    ("%%ollama llama3.2 --compare a,b\nhi", "--compare takes two or more models"),
    ("%%ollama --compare a,b --chat\nhi", "cannot go with --chat"),
    ("%%ollama --compare a,b --new-cell\nhi", "cannot go with --new-cell"),
    ("%%ollama --sequential\nhi", "--sequential goes with --compare"),
])
def test_usage_errors_are_one_line(ip: InteractiveShell, source: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        run(ip, source)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_fix_falls_back_to_a_code_block_without_a_frontend(ip: InteractiveShell, ollama_sandbox: Any,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    cell(ip, "total = sum([1, 2, '3'])")
    with capture_output() as cap:
        cell(ip, "%ollama fix --num-predict 60")
    result = ip.user_ns["_ollama"]
    assert "fenced ```python" in ollama_sandbox.requests[-1].body["system"]
    assert "Fix this Jupyter notebook cell" in ollama_sandbox.requests[-1].body["prompt"]
    assert result.code == "total = sum([1, 2, '3'])"
    # a plain shell has no frontend that takes cells: the code is shown, with one line saying so
    assert getattr(ip, "rl_next_input", None) is None
    shown = cap.outputs[-1].data
    assert shown["text/plain"] == result.code and "<pre" in shown["text/html"]
    assert "this frontend cannot add cells from the kernel; copy it into a new cell" in cap.stdout


def test_new_cell_takes_the_first_code_block(ip: InteractiveShell, scripted: ScriptedServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    scripted.tokens = ["Like this:\n", "```python\n", "print('first')\n", "```\n", "or\n```\nsecond\n```"]
    monkeypatch.setattr("ollama_nb.magics._assistant._takes_cells", lambda shell, live: "cell")
    proposed: list[tuple[str, bool]] = []
    monkeypatch.setattr(ip, "set_next_input", lambda text, replace=False: proposed.append((text, replace)))
    with capture_output() as cap:
        run(ip, f"%%ollama m --host {scripted.url} --format code --new-cell\nwrite code")
    assert proposed == [("print('first')", False)]
    assert "↓ the code is in the next cell" in cap.stdout
    scripted.tokens = ["no code at all"]
    with capture_output() as cap:
        run(ip, f"%%ollama m --host {scripted.url} --new-cell\nwrite prose")
    assert len(proposed) == 1 and "the answer has no code block: no new cell" in cap.stdout

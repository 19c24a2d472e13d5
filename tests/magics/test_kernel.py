"""Real kernels: a notebook executed by nbclient keeps the final answer; nbval passes in
final display mode; a kernel interrupt mid-stream keeps and stores the partial answer."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from ollama_nb import Client

pytestmark = pytest.mark.slow

PROMPT = "Why is the sky blue?"


def _notebook(*cells: str) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _execute(nb: Any, path: Path) -> Any:
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    return nbformat.read(path, as_version=4)


def test_nbclient_saves_the_final_answer(ollama_sandbox: Any, tmp_path: Path) -> None:
    ollama_sandbox.token_delay = 0.005  # several throttled updates before the end
    expected = Client(ollama_sandbox.url).generate("llama3.2", PROMPT, options={"seed": 1}).response
    nb = _notebook("%load_ext ollama_nb",
                   "%config OllamaMagics.update_rate = 50",
                   f"%%ollama llama3.2 --seed 1 -o answer\n{PROMPT}",
                   "print(answer.text == _ollama.text, len(answer.text))")
    saved = _execute(nb, tmp_path / "run.ipynb")
    outputs = saved.cells[2].outputs
    assert [o.output_type for o in outputs] == ["display_data"]
    data = outputs[0].data
    assert data["text/plain"].startswith(expected) and "llama3.2 · " in data["text/plain"]
    assert f"<p>{expected.split('.')[0]}" in data["text/html"]
    assert saved.cells[3].outputs[0].text.strip() == f"True {len(expected)}"


def test_nbval_passes_in_final_mode(ollama_sandbox: Any, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Stored outputs from a final-mode run compare equal under nbval (which ignores updates)."""
    nb = _notebook("%load_ext ollama_nb\n%config OllamaMagics.show_stats = False",
                   f"%%ollama llama3.2 --seed 3\n{PROMPT}")
    path = tmp_path / "checked.ipynb"
    monkeypatch.setenv("OLLAMA_NB_DISPLAY", "final")  # the kernels inherit it
    saved = _execute(nb, path)
    assert [o.output_type for o in saved.cells[1].outputs] == ["display_data"]
    env = {**os.environ, "OLLAMA_HOST": ollama_sandbox.url}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
                           "--nbval-current-env", str(path)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout


def _drain(kc: Any, msg_id: str, deadline: float, stop_on: Any = None) -> list[dict[str, Any]]:
    """iopub messages of ``msg_id`` until idle (or until ``stop_on(msg)`` is true)."""
    got = []
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        got.append(msg)
        if stop_on is not None and stop_on(msg):
            return got
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return got
    raise AssertionError(f"kernel did not finish: {[m['msg_type'] for m in got]}")


def test_kernel_interrupt_mid_stream(ollama_sandbox: Any) -> None:
    from jupyter_client.manager import start_new_kernel

    ollama_sandbox.token_delay = 0.05  # ~60 tokens: a few seconds of streaming
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        deadline = time.monotonic() + 60
        mid = kc.execute("%load_ext ollama_nb")
        _drain(kc, mid, deadline)
        mid = kc.execute(f"%%ollama llama3.2 -o partial\nTell me a long story about rivers and {PROMPT}")
        first = _drain(kc, mid, deadline, stop_on=lambda m: m["msg_type"] == "update_display_data")
        assert first[-1]["msg_type"] == "update_display_data"
        km.interrupt_kernel()
        rest = _drain(kc, mid, deadline)
        updates = [m for m in first + rest if m["msg_type"] in ("display_data", "update_display_data")]
        final = updates[-1]["content"]["data"]["text/plain"]
        assert "⏹ interrupted" in final
        errors = [m for m in rest if m["msg_type"] == "error"]
        assert errors and errors[0]["content"]["ename"] == "KeyboardInterrupt"
        # what the cell shows: one line, not ~70 of traceback through urllib3 and http.client
        assert errors[0]["content"]["traceback"] == [
            "KeyboardInterrupt: the partial answer is kept in _ollama"]
        mid = kc.execute("print(_ollama.interrupted, partial is _ollama, len(_ollama.text) > 0, "
                         "repr(_ollama.text[:20]))")
        out = "".join(m["content"].get("text", "") for m in _drain(kc, mid, deadline) if m["msg_type"] == "stream")
        assert out.startswith("True True True"), out
        assert final.startswith(eval(out.split(" ", 3)[3]))  # the partial shown is the partial stored
        generate = [r for r in ollama_sandbox.requests if r.path == "/api/generate"]
        wait = time.monotonic() + 20
        while not generate[-1].disconnected and time.monotonic() < wait:
            time.sleep(0.05)
            generate = [r for r in ollama_sandbox.requests if r.path == "/api/generate"]
        assert generate[-1].disconnected
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _reply(kc: Any, msg_id: str, deadline: float) -> dict[str, Any]:
    while time.monotonic() < deadline:
        try:
            msg = kc.get_shell_msg(timeout=0.5)
        except queue.Empty:
            continue
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg
    raise AssertionError("no execute_reply")


def test_fix_proposes_the_next_cell_through_the_payload(ollama_sandbox: Any) -> None:
    """In a kernel, %ollama fix sends the set_next_input payload JupyterLab and Notebook 7 turn
    into a new cell; where the frontend ignores it (VS Code) the code is shown instead."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        deadline = time.monotonic() + 90
        for source in ("%load_ext ollama_nb", "words = ['a', 'b']\n' '.join(words) + 1"):
            _drain(kc, kc.execute(source), deadline)
        mid = kc.execute("%ollama fix --num-predict 60")
        messages = _drain(kc, mid, deadline)
        payload = _reply(kc, mid, deadline)["content"]["payload"]
        assert payload == [{"source": "set_next_input", "text": "words = ['a', 'b']\n' '.join(words) + 1",
                            "replace": False}]
        printed = "".join(m["content"].get("text", "") for m in messages if m["msg_type"] == "stream")
        assert "↓ the fixed cell is in the next cell: review it, then run it" in printed
        prompt = next(r for r in reversed(ollama_sandbox.requests) if r.path == "/api/generate").body["prompt"]
        assert "TypeError" in prompt and "can only concatenate str" in prompt
        mid = kc.execute("import os; os.environ['VSCODE_PID'] = '1'")
        _drain(kc, mid, deadline)
        mid = kc.execute("%ollama fix --num-predict 60")
        messages = _drain(kc, mid, deadline)
        assert _reply(kc, mid, deadline)["content"]["payload"] == []
        shown = [m["content"]["data"]["text/plain"] for m in messages if m["msg_type"] == "display_data"]
        printed = "".join(m["content"].get("text", "") for m in messages if m["msg_type"] == "stream")
        assert shown[-1] == "words = ['a', 'b']\n' '.join(words) + 1"
        assert "this frontend cannot add cells from the kernel" in printed
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

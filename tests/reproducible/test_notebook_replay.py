"""A notebook recorded against a server, then checked by nbval strictly from the recording.

The notebook is executed by a real kernel (nbclient) through the recording proxy, saved
with its outputs, and then run by nbval *without* ``--nbval-lax``: every cell's output,
the model's text included, must come back the same from ``pytest --ollama-replay``.
The saved file holds the provenance of every answer in its outputs' metadata.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from ollama_nb.sandbox import RecordingProxy, Sandbox
from ollama_nb.sandbox.server import _llama_ok

pytestmark = pytest.mark.slow

CELLS = [
    "import ollama_nb as onb\n%load_ext ollama_nb",
    "%%ollama {model} --seed 1 --num-predict 16\nName one planet.",
    "%%ollama {model} --chat c --num-predict 16\nAnd one moon?",
    "answers = onb.map_prompts(['red', 'blue'], 'One word for {{{{value}}}}', model='{model}',\n"
    "                          options={{'num_predict': 8}}, progress=False, cache=False)\n"
    "list(answers)",
    "_ollama.provenance['model']",
]


def _notebook(model: str) -> Any:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c.format(model=model)) for c in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def test_a_recorded_notebook_replays_under_strict_nbval(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    model = "smollm2:135m" if _llama_ok() else "llama3.2"  # the real model where installed
    path, cassette = tmp_path / "recorded.ipynb", tmp_path / "recorded.jsonl"
    nb = _notebook(model)
    monkeypatch.setenv("OLLAMA_NB_DISPLAY", "final")  # nbval ignores update_display_data
    with Sandbox() as upstream, RecordingProxy(upstream.url, cassette) as proxy:
        monkeypatch.setenv("OLLAMA_HOST", proxy.url)
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    nbformat.write(nb, path)

    saved = nbformat.read(path, as_version=4)
    answers = [o for c in saved.cells[1:3] for o in c.outputs if o.output_type == "display_data"]
    assert len(answers) == 2
    for output in answers:
        prov = output.metadata["ollama_nb"]["provenance"]
        assert prov["model"] == model and prov["digest"] and prov["eval_count"] > 0
    assert saved.cells[4].outputs[0]["data"]["text/plain"] == repr(model)

    env = {**os.environ, "OLLAMA_NB_DISPLAY": "final"}
    env.pop("OLLAMA_HOST", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
         "--nbval-current-env", "--nbval-cell-timeout", "120", "--ollama-replay", str(cassette),
         str(path)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
        check=False)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert f"{len(CELLS)} passed" in proc.stdout

    # not vacuous: a stored answer the recording would not give fails the strict check
    changed = nbformat.read(path, as_version=4)
    data = next(o for o in changed.cells[1].outputs if o.output_type == "display_data")["data"]
    data["text/plain"] = "Pluto, obviously."
    nbformat.write(changed, path)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
         "--nbval-current-env", "--ollama-replay", str(cassette), str(path)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False)
    assert proc.returncode != 0 and "1 failed" in proc.stdout

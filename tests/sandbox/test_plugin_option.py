"""`pytest --ollama-sandbox`: one sandbox for a whole run, reachable from nbval's kernels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest


@pytest.mark.slow
def test_nbval_kernel_reaches_the_session_sandbox(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import os, json, urllib.request\n"
            "url = os.environ['OLLAMA_HOST']\n"
            "with urllib.request.urlopen(url + '/api/tags') as r:\n"
            "    names = sorted(m['name'] for m in json.load(r)['models'])\n"
            "print(len(names) > 0, url.startswith('http://127.0.0.1:'))"
        ),
    ]
    nb.cells[0].execution_count = 1
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="True True\n")]
    path = tmp_path / "uses_sandbox.ipynb"
    nbformat.write(nb, path)
    env_host = {"OLLAMA_HOST": "http://127.0.0.1:9"}  # nothing listens there: the option must win
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval",
         "--nbval-current-env", "--ollama-sandbox", str(path)],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
        env={**os.environ, **env_host},
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "1 passed" in proc.stdout  # the cell reached a sandbox, not the dead OLLAMA_HOST


def test_option_is_off_by_default(tmp_path: Path) -> None:
    (tmp_path / "test_host.py").write_text(
        "import os\ndef test_host():\n    assert os.environ.get('OLLAMA_HOST') == 'x'\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "OLLAMA_HOST": "x"})
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout[-2000:]

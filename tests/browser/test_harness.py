"""The harness itself: Lab starts, a notebook runs in Chromium, outputs are read back."""

from __future__ import annotations

from typing import Any


def test_notebook_runs_and_kernel_sees_sandbox(open_notebook: Any, lab: Any) -> None:
    nb = open_notebook(["import os\nprint('hello', 6 * 7)", "print(os.environ['OLLAMA_HOST'])"])
    nb.run_all()
    nb.wait_idle()
    assert nb.text(0).strip() == "hello 42"
    assert nb.text(1).strip() == lab.sandbox.url

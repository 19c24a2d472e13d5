"""The DataFrame layer costs nothing until used: no pandas/numpy/requests at import."""

from __future__ import annotations

import subprocess
import sys


def test_importing_frames_and_batch_stays_light() -> None:
    code = ("import sys, ollama_nb.frames, ollama_nb.batch, ollama_nb.frames._cache; "
            "print(sorted(m for m in ('pandas', 'numpy', 'requests', 'matplotlib', 'tqdm') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""Where the project's shared material is: beside the checkout (as CI lays it), else /work/shared."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

_BESIDE = Path(__file__).resolve().parents[2] / "shared"
SHARED = _BESIDE if _BESIDE.is_dir() else Path("/work/shared")
TRANSCRIPTS = SHARED / "ollama-transcripts"
SPEC = SHARED / "spec" / "ollama-api.yaml"


def load_module(name: str, path: Path) -> Any:
    """Import the file ``path`` as module ``name`` (another suite's conftest, to reuse it)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

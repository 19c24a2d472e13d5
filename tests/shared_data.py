"""Where the project's shared material is: beside the checkout (as CI lays it), else /work/shared."""

from __future__ import annotations

from pathlib import Path

_BESIDE = Path(__file__).resolve().parents[2] / "shared"
SHARED = _BESIDE if _BESIDE.is_dir() else Path("/work/shared")
TRANSCRIPTS = SHARED / "ollama-transcripts"
SPEC = SHARED / "spec" / "ollama-api.yaml"

"""Where ollama_nb keeps its files on this machine (the ``map_prompts`` cache, the prompt log)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_cache_dir"]


def default_cache_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where ollama_nb keeps files, first match wins: ``explicit``, ``$OLLAMA_NB_CACHE_DIR``,
    ``$XDG_CACHE_HOME/ollama_nb``, ``~/.cache/ollama_nb``."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("OLLAMA_NB_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "ollama_nb"

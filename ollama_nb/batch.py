"""``ollama_nb.batch`` is kept as an alias: :func:`map_prompts` now lives in :mod:`ollama_nb.frames`."""

from __future__ import annotations

from .frames import MapPromptsWarning, map_prompts

__all__ = ["MapPromptsWarning", "map_prompts"]

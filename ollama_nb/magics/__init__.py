"""The ``%%ollama`` / ``%ollama`` magics (see :mod:`._magics`); kept light to import.

Modules: ``_magics`` (OllamaMagics, traitlets, dispatch), ``_parse`` (argparse →
UsageError), ``_interpolate`` (``{{expr}}``), ``_prompt`` (request + streaming run),
``_stream_display`` (throttled display handle; ``AnswerView`` seam for the pane),
``_progress`` (pull/push/create progress; ``ProgressView`` seam for the widget),
``_commands`` (subcommands), ``_result`` (``OllamaResult``), ``_cell_errors`` (``Err``),
``_assistant`` (explain, fix, code as the next cell), ``_compare`` (``--compare``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["RECORDER", "load", "unload"]

#: ``%ollama record``'s seam, filled by the package when the extension loads (the recorder
#: lives beside the sandbox, which the magics may not import): ``record(FILE, append=)``
#: starts recording the session's traffic, ``record(None)`` stops it, ``record(...)`` says
#: what is recording.
RECORDER: dict[str, Any] = {}


def load(ip: Any, recorder: Any = None) -> None:
    """Register an ``OllamaMagics`` instance on ``ip`` (so ``%config OllamaMagics`` works)."""
    from ._magics import OllamaMagics

    if recorder is not None:
        RECORDER["record"] = recorder
    if any(isinstance(c, OllamaMagics) for c in ip.configurables):
        return
    ip.register_magics(OllamaMagics(shell=ip))


def unload(ip: Any) -> None:
    """Remove the magics, the configurable and the session observer added by :func:`load`."""
    from ._magics import OllamaMagics

    manager = ip.magics_manager
    for kind in ("line", "cell"):
        table = manager.magics[kind]
        for name, fn in list(table.items()):
            if isinstance(getattr(fn, "__self__", None), OllamaMagics):
                del table[name]
    for name, obj in list(manager.registry.items()):
        if isinstance(obj, OllamaMagics):
            del manager.registry[name]
    for obj in [c for c in ip.configurables if isinstance(c, OllamaMagics)]:
        obj.close()
        ip.configurables.remove(obj)

"""An Ollama-compatible server inside the package: Ollama without Ollama.

``Sandbox`` runs it in a background thread (``with Sandbox() as sb: sb.url``),
``serve()`` yields just the URL, ``ollama-nb sandbox`` runs it in the
foreground, and the pytest fixture ``ollama_sandbox`` gives each test a fresh
one with ``OLLAMA_HOST`` pointing at it. See docs/sandbox.md. ``RecordingProxy``
(``ollama-nb proxy``) records any server's answers to a cassette that
``Sandbox(replay=FILE)`` serves back (docs/reproducibility.md).

The server module is imported on first use, so loading the pytest plugin (in
every pytest run) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["RecordingProxy", "RequestRecord", "Sandbox", "serve"]

if TYPE_CHECKING:  # pragma: no cover
    from ._proxy import RecordingProxy
    from .server import RequestRecord, Sandbox, serve


def __getattr__(name: str) -> Any:
    if name == "RecordingProxy":
        from ._proxy import RecordingProxy

        return RecordingProxy
    if name in __all__:
        from . import server

        return getattr(server, name)
    raise AttributeError(f"module 'ollama_nb.sandbox' has no attribute {name!r}")

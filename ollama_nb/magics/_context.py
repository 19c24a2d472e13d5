"""What every magic command needs from the settings and the session: a client, the display mode.

``OllamaMagics`` (``_magics``) and the subcommands (``_commands``) both import this
module, and ``_commands`` sees the magics only through :class:`MagicSettings`, so
neither module imports the other at load time.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Protocol

from IPython.core.error import UsageError

from ..client import _session
from ..client._errors import OllamaError

if TYPE_CHECKING:  # pragma: no cover
    from ..client._client import Client

__all__ = ["DISPLAY_ENV", "MagicSettings", "client_for", "is_live", "widgets_wanted"]

DISPLAY_ENV = "OLLAMA_NB_DISPLAY"


class MagicSettings(Protocol):
    """The settings a subcommand reads (``OllamaMagics`` provides them as traitlets)."""

    shell: Any
    model: str
    embed_model: str
    update_rate: float
    aliases: dict[str, str]
    errors: Any  # the cells' errors (Err), None without a shell

    def resolve(self, model: str) -> str: ...

    def answer(self, args: Any, prompt: str, local_ns: Any) -> Any: ...

    @property
    def live(self) -> bool: ...

    @property
    def widgets_wanted(self) -> bool: ...


def client_for(host: str | None = None, timeout: Any = None) -> Client:
    """A cached client for ``host`` (default: the session host); a bad URL is a UsageError."""
    try:
        return _session.session.client(host, timeout)
    except OllamaError as exc:
        raise UsageError(exc.message) from None


def is_live(display_mode: str) -> bool:
    """Whether answers stream (``'auto'`` follows ``$OLLAMA_NB_DISPLAY``, live when unset)."""
    if display_mode == "auto":
        display_mode = os.environ.get(DISPLAY_ENV, "live").strip().lower() or "live"
    return display_mode != "final"


def widgets_wanted(use_widgets: bool, live: bool, shell: Any) -> bool:
    """Use widgets for progress: allowed, live display, and a kernel with a frontend."""
    return use_widgets and live and getattr(shell, "kernel", None) is not None

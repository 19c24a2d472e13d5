"""Notebook widgets built from core ipywidgets only (no front-end install anywhere).

``ModelPicker``, ``StreamPane``, ``ChatBox`` and ``PullProgress``; see docs/widgets.md.
Importing this package does not import ipywidgets: each widget's module loads on
first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "ModelPicker": "._picker",
    "StreamPane": "._pane",
    "ChatBox": "._chatbox",
    "PullProgress": "._progress",
}

__all__ = ["ChatBox", "ModelPicker", "PullProgress", "StreamPane"]

if TYPE_CHECKING:  # pragma: no cover
    from ._chatbox import ChatBox
    from ._pane import StreamPane
    from ._picker import ModelPicker
    from ._progress import PullProgress


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ollama_nb.widgets' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

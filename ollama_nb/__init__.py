"""ollama_nb: a local Ollama server as a first-class citizen of Jupyter.

``%load_ext ollama_nb`` adds the ``%%ollama`` / ``%ollama`` magics; the Python
API below is imported lazily, so loading the extension and ``import ollama_nb``
stay fast (no pandas, ipywidgets or HTTP stack until first use).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> private module that defines it
_EXPORTS: dict[str, str] = {
    "Client": ".client._client",
    "AsyncClient": ".client._async_client",
    "Hosts": ".client._hosts",
    "connect": "._connect",
    "ask": "._ask",
    "OllamaError": ".client._errors",
    "InvalidArgumentError": ".client._errors",
    "SchemaError": ".client._errors",
    "ConnectError": ".client._errors",
    "HostsDownError": ".client._errors",
    "OllamaTimeout": ".client._errors",
    "ResponseError": ".client._errors",
    "ModelNotFoundError": ".client._errors",
    "StreamError": ".client._errors",
    "IncompleteStreamError": ".client._errors",
    "models": ".frames",
    "running": ".frames",
    "embed": ".frames",
    "similarity": ".frames",
    "nearest": ".frames",
    "project": ".frames",
    "plot_projection": ".frames",
    "map_prompts": ".frames",
    "wait": ".magics._background",
    "prompt_log": ".frames",
    "record": "._record",
}

__all__ = sorted([*_EXPORTS, "load_ipython_extension", "unload_ipython_extension", "__version__"])

if TYPE_CHECKING:  # pragma: no cover
    from ._ask import ask
    from ._connect import connect
    from .client._async_client import AsyncClient
    from .client._client import Client
    from .client._errors import (ConnectError, HostsDownError, IncompleteStreamError,
                          InvalidArgumentError, ModelNotFoundError, OllamaError, OllamaTimeout,
                          ResponseError, SchemaError, StreamError)
    from .client._hosts import Hosts
    from ._record import record
    from .frames import (embed, map_prompts, models, nearest, plot_projection, project,
                         prompt_log, running, similarity)
    from .magics._background import wait


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ollama_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def load_ipython_extension(ipython: Any) -> None:
    """Register the ``%ollama`` magics (called by ``%load_ext ollama_nb``)."""
    from .magics import load

    load(ipython, recorder=_recorder)


def _recorder(*args: Any, **kwargs: Any) -> Any:
    """``%ollama record`` (its module, with the proxy, loads on first use)."""
    from ._record import magic_recorder

    return magic_recorder(*args, **kwargs)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove what :func:`load_ipython_extension` added."""
    from .magics import unload

    unload(ipython)

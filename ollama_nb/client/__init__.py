"""The client layer: HTTP to one Ollama server, and nothing above it (no pandas, no widgets).

``Client`` (``_client``, on requests) and ``AsyncClient`` (``_async_client``, on aiohttp)
share everything but their transport: the endpoints are written once as operations in
``_endpoints``, over the sans-I/O core in ``_protocol`` (requests to send, answers and
errors read back). ``_host`` parses ``OLLAMA_HOST``; ``_args`` checks and converts
arguments; ``_types`` holds the typed results; ``_stream`` turns NDJSON responses into
typed chunks, for ``for`` and ``async for``; ``_errors`` is the one exception tree;
``_modelfile`` turns a Modelfile into the current ``/api/create`` form. ``_session``
keeps the process-wide defaults and cached clients, ``_chat`` the named conversations;
both are shared by every layer above. Importing this package is cheap: the clients (and
requests, aiohttp) load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import (
    ConnectError,
    IncompleteStreamError,
    InvalidArgumentError,
    ModelNotFoundError,
    OllamaError,
    OllamaTimeout,
    ResponseError,
    StreamError,
)

__all__ = [
    "AsyncClient",
    "Client",
    "ConnectError",
    "IncompleteStreamError",
    "InvalidArgumentError",
    "ModelNotFoundError",
    "OllamaError",
    "OllamaTimeout",
    "ResponseError",
    "StreamError",
]

_LAZY = {"Client": "._client", "AsyncClient": "._async_client"}

if TYPE_CHECKING:  # pragma: no cover
    from ._async_client import AsyncClient
    from ._client import Client


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ollama_nb.client' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value

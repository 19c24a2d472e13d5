"""The client layer: HTTP to one Ollama server, and nothing above it (no pandas, no widgets).

``Client`` (``_client``) has a method per endpoint; ``_host`` parses ``OLLAMA_HOST``;
``_args`` checks and converts arguments; ``_types`` holds the typed results; ``_stream``
iterates NDJSON responses; ``_errors`` is the one exception tree; ``_modelfile`` turns a
Modelfile into the current ``/api/create`` form. ``_session`` keeps the process-wide
defaults and cached clients, ``_chat`` the named conversations; both are shared by every
layer above. Importing this package is cheap: ``Client`` (and requests) load on first use.
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

if TYPE_CHECKING:  # pragma: no cover
    from ._client import Client


def __getattr__(name: str) -> Any:
    if name == "Client":
        value = importlib.import_module("._client", __name__).Client
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ollama_nb.client' has no attribute {name!r}")

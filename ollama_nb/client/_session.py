"""Process-wide defaults shared by the magics, the widgets and the DataFrame layer.

One place holds the session's host (or several: ``hosts``), default model, default
embedding model and timeout, so `%ollama model NAME`, the model picker and `onb.embed(...)` all agree.
Observers are told when the default model changes (the picker follows
`%ollama model`, the magics follow the picker).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._host import HostText

if TYPE_CHECKING:  # pragma: no cover
    from ._client import Client
    from ._hosts import Hosts

__all__ = ["Session", "get_client", "session"]

DEFAULT_MODEL = "llama3.2"
DEFAULT_EMBED_MODEL = "all-minilm"


@dataclass
class Session:
    """Mutable defaults for this Python process."""

    host: str | None = None  # None: OLLAMA_HOST, then http://127.0.0.1:11434
    model: str = DEFAULT_MODEL
    embed_model: str = DEFAULT_EMBED_MODEL
    timeout: float | tuple[float, float] | None = None  # None: the client's defaults
    hosts: Hosts | None = None  # several servers for embed / map_prompts (None: just ``host``)
    _observers: list[Callable[[str, Any], None]] = field(default_factory=list, repr=False)
    _clients: dict[tuple[Any, ...], Client] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def set(self, name: str, value: Any) -> None:
        """Set a default (``host``, ``model``, ``embed_model``, ``timeout``, ``hosts``) and tell
        observers."""
        if name not in ("host", "model", "embed_model", "timeout", "hosts"):
            raise AttributeError(f"no session default named {name!r}")
        if name == "host" and isinstance(value, str):
            value = HostText(value)  # its repr hides user:pass@
        if name == "hosts":
            from ._hosts import Hosts

            value = Hosts.coerce(value)
        if getattr(self, name) == value:
            return
        setattr(self, name, value)
        for callback in list(self._observers):
            callback(name, value)

    def observe(self, callback: Callable[[str, Any], None]) -> Callable[[], None]:
        """Call ``callback(name, value)`` on every change; returns a function that stops it."""
        self._observers.append(callback)

        def stop() -> None:
            if callback in self._observers:
                self._observers.remove(callback)

        return stop

    def client(self, host: str | None = None, timeout: Any = None) -> Client:
        """A cached :class:`Client` for ``host`` (default: the session host)."""
        from ._client import Client

        chosen = host if host is not None else self.host
        timeout = timeout if timeout is not None else self.timeout
        # an unset host follows OLLAMA_HOST, which tests and notebooks may change
        key = (chosen, os.environ.get("OLLAMA_HOST") if chosen is None else None, repr(timeout))
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = Client(chosen, timeout=timeout)
                self._clients[key] = client
            return client

    def reset(self) -> None:
        """Back to the built-in defaults; closes cached clients (used by tests and unload)."""
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
        self.host, self.model, self.embed_model, self.timeout = None, DEFAULT_MODEL, DEFAULT_EMBED_MODEL, None
        self.hosts = None


session = Session()


def get_client(host: str | None = None, client: Client | None = None) -> Client:
    """The client to use for a call that accepts ``host=``/``client=`` arguments."""
    if client is not None:
        return client
    return session.client(host)

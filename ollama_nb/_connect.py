"""``onb.connect()``: the first cell of a notebook, in one call.

Use the Ollama that answers at the resolved host, or else start the built-in sandbox in
this process (and point ``OLLAMA_HOST`` at it, so kernels' children follow); then choose
the chat model and make it the session default, so ``%%ollama`` with no model uses it:

1. the session default, when the server has it (on a sandbox only one set on purpose:
   ``%ollama model NAME`` or ``%config OllamaMagics.model`` before the call);
2. on a sandbox, ``smollm2:135m`` (the real SmolLM2 when the ``llm`` extra is installed);
3. the first chat model the server lists (newest first).

A top-level module: it uses the client and the sandbox, which share no code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

__all__ = ["Connection", "connect"]

SANDBOX_MODEL = "smollm2:135m"


@dataclass
class Connection:
    """Where the notebook talks to, and with which chat model (``None``: none installed)."""

    url: str
    model: str | None
    engines: dict[str, str] | None  # the sandbox's engines; None for a real Ollama
    version: str | None = None
    sandbox: Any = None  # the Sandbox started here, if any
    tried: str | None = None  # the host that did not answer, when the sandbox was started

    @property
    def is_sandbox(self) -> bool:
        return self.engines is not None

    def describe(self) -> str:
        if self.sandbox is not None:
            where = f"No Ollama at {self.tried}: using the built-in sandbox at {self.url}"
        elif self.is_sandbox:
            where = f"Connected to the ollama_nb sandbox at {self.url}"
        else:
            where = f"Connected to Ollama {self.version} at {self.url}"
        if self.model is None:
            return f"{where}\nNo chat model on this server yet: %ollama pull llama3.2"
        engine = (self.engines or {}).get(self.model)
        how = f" ({engine})" if engine else ""
        return f"{where}\nChat model: {self.model}{how}"

    def __repr__(self) -> str:
        return self.describe()

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.describe())


def _engines(client: Any) -> dict[str, str] | None:
    from .client._errors import OllamaError

    try:
        engines = client.request_raw("GET", "/_sandbox/engines").json().get("engines")
    except (OllamaError, ValueError, AttributeError):
        return None
    return {str(k): str(v) for k, v in engines.items()} if isinstance(engines, dict) else None


def _choose(client: Any, sandbox: bool) -> str | None:
    from .client._session import DEFAULT_MODEL, session

    listed = client.list().models
    names = [m.raw.get("name") or m.raw.get("model") for m in listed]
    chat = [n for m, n in zip(listed, names)
            if "completion" in (m.raw.get("capabilities") or ["completion"])
            and "embedding" not in (m.raw.get("capabilities") or [])]

    def present(name: str) -> str | None:
        full = name if ":" in name else f"{name}:latest"
        return next((n for n in names if n in (name, full)), None)

    wanted = session.model
    if wanted and (not sandbox or wanted != DEFAULT_MODEL) and present(wanted):
        return wanted
    if sandbox and present(SANDBOX_MODEL):
        return SANDBOX_MODEL
    return chat[0] if chat else None


def connect(host: str | None = None, *, quiet: bool = False) -> Connection:
    """Reach Ollama (or start the sandbox), choose the chat model, say which; see the module."""
    from .client._client import Client
    from .client._session import session

    sandbox = None
    with Client(host) as client:
        reachable = client.is_reachable()
        url = tried = client.base_url
    if not reachable:
        from .sandbox import Sandbox

        sandbox = Sandbox().start()
        os.environ["OLLAMA_HOST"] = sandbox.url
        url = host = sandbox.url
    with Client(host) as client:
        engines = _engines(client)
        version = None if engines is not None else client.version()
        model = _choose(client, engines is not None)
    if model is not None:
        session.set("model", model)
    conn = Connection(url, model, engines, version, sandbox,
                      tried if sandbox is not None else None)
    if not quiet:
        print(conn.describe())
    return conn

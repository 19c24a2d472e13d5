"""Model names as the real server parses them (fact sheet §7).

``[host/][namespace/]model[:tag]`` with defaults ``registry.ollama.ai``, ``library``
and ``latest``; lookups compare every part case-insensitively.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_HOST = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

_HOST_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}")
_NAMESPACE_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}")
_PART_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}")


@dataclass(frozen=True)
class Name:
    """A parsed model name; every part filled with its default."""

    host: str
    namespace: str
    model: str
    tag: str

    @property
    def full(self) -> str:
        """``registry.ollama.ai/library/llama3.2:latest`` (used in capability errors)."""
        return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"

    @property
    def shortest(self) -> str:
        """DisplayShortest: ``model:tag``, ``ns/model:tag`` or ``host/ns/model:tag``."""
        if self.host.lower() != DEFAULT_HOST:
            return f"{self.host}/{self.namespace}/{self.model}:{self.tag}"
        if self.namespace.lower() != DEFAULT_NAMESPACE:
            return f"{self.namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    @property
    def key(self) -> str:
        """Case-folded full name: the lookup key (EqualFold on every part)."""
        return self.full.lower()

    @property
    def is_cloud(self) -> bool:
        """Tags ``cloud``/``local`` or ``*-cloud`` route to ollama.com (not served here)."""
        tag = self.tag.lower()
        return tag in ("cloud", "local") or tag.endswith("-cloud")


def parse(text: str) -> Name | None:
    """Parse a model name; ``None`` when it is not a valid name."""
    text = text.strip()
    if not text:
        return None
    rest = text
    tag = DEFAULT_TAG
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        tag = rest[colon + 1 :]
        rest = rest[:colon]
        if not tag:
            return None
    parts = rest.split("/")
    if len(parts) > 3 or any(not p for p in parts):
        return None
    host, namespace = DEFAULT_HOST, DEFAULT_NAMESPACE
    if len(parts) == 3:
        host, namespace, model = parts
    elif len(parts) == 2:
        namespace, model = parts
    else:
        (model,) = parts
    if not (
        _HOST_RE.fullmatch(host)
        and _NAMESPACE_RE.fullmatch(namespace)
        and _PART_RE.fullmatch(model)
        and _PART_RE.fullmatch(tag)
    ):
        return None
    return Name(host, namespace, model, tag)

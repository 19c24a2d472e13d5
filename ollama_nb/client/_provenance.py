"""Where an answer came from: model build, settings, server and counts, as one plain dict.

A provenance is JSON-ready (it goes into the display metadata of a saved ``.ipynb``,
into ``.attrs`` of DataFrames and into the prompt log). The model's digest and the
server's version are asked of the server once per host and model and cached for the
process (``/api/tags`` gives every local model's digest in one call); a lookup that
fails leaves ``None`` rather than failing the answer it describes. The host is the
client's base URL, which never holds credentials.
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from ._args import with_tag

__all__ = ["forget", "provenance", "run_provenance", "server_facts"]

_lock = threading.Lock()
_digests: dict[tuple[str, str], str | None] = {}
_versions: dict[str, str | None] = {}
_asking: dict[str, threading.Lock] = {}  # per host: held while its server is asked
#: answer fields copied into a provenance when the server sent them
_COUNTS = ("prompt_eval_count", "eval_count", "total_duration", "load_duration",
           "prompt_eval_duration", "eval_duration", "done_reason")


def server_facts(client: Any, model: str) -> tuple[str | None, str | None]:
    """``(digest of model, server version)`` for ``client``'s host, cached per host and model."""
    host = client.base_url
    key = (host, with_tag(model))
    with _lock:
        asking = _asking.setdefault(host, threading.Lock())
    with asking:  # one lookup per host at a time: threads asking together wait for it
        return _facts(client, host, key)


def _facts(client: Any, host: str, key: tuple[str, str]) -> tuple[str | None, str | None]:
    from ._errors import OllamaError

    with _lock:
        known_digest, known_version = key in _digests, host in _versions
    if not known_digest:
        found: dict[tuple[str, str], str | None] = {key: None}
        try:
            for entry in client.list().models:
                name = entry.raw.get("model") or entry.raw.get("name")
                if isinstance(name, str):
                    found[(host, with_tag(name))] = entry.raw.get("digest")
        except OllamaError:
            pass
        with _lock:
            _digests.update(found)
    if not known_version:
        try:
            version: str | None = client.version() or None
        except OllamaError:
            version = None
        with _lock:
            _versions[host] = version
    with _lock:
        return _digests.get(key), _versions.get(host)


def forget(host: str | None = None) -> None:
    """Drop cached digests and versions (of one host, or all): after a pull, create or rm."""
    with _lock:
        for key in [k for k in _digests if host is None or k[0] == host]:
            del _digests[key]
        for name in [h for h in _versions if host is None or h == host]:
            del _versions[name]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _settings(endpoint: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """What in a request decides its answer (the prompt itself aside)."""
    options = dict(body.get("options") or {})
    settings: dict[str, Any] = {
        "endpoint": endpoint,
        "options": options,
        "seed": options.get("seed"),
        "temperature": options.get("temperature"),
        "think": body.get("think"),
        "format": body.get("format"),
        "tools": [t.get("function", {}).get("name") if isinstance(t, Mapping) else str(t)
                  for t in body.get("tools") or []],
    }
    for key in ("system", "raw", "keep_alive", "truncate", "dimensions"):
        if body.get(key) is not None:
            settings[key] = body[key]
    return settings


def provenance(client: Any, endpoint: str, body: Mapping[str, Any],
               answer: Mapping[str, Any] | None) -> dict[str, Any]:
    """The provenance of one answer: ``body`` was sent to ``endpoint``, ``answer`` is the
    final (done) object as the server sent it, or None if none arrived."""
    from .. import __version__

    model = str(body.get("model") or "")
    answer = answer or {}
    digest, version = server_facts(client, model)
    out: dict[str, Any] = {
        "model": str(answer.get("model") or model),
        "digest": digest,
        **_settings(endpoint, body),
        "host": client.base_url,
        "server_version": version,
        "time": _now(),
        "created_at": answer.get("created_at"),
    }
    out.update({k: answer[k] for k in _COUNTS if answer.get(k) is not None})
    out["client"] = f"ollama_nb {__version__}"
    return out


def run_provenance(clients: Iterable[Any], endpoint: str, body: Mapping[str, Any],
                   **counts: Any) -> dict[str, Any]:
    """The provenance of a run of many requests (``embed``, ``map_prompts``) over one or more
    hosts: the first host's facts at the top, every host's under ``hosts``."""
    from .. import __version__

    model = str(body.get("model") or "")
    hosts = []
    for client in clients:
        digest, version = server_facts(client, model)
        hosts.append({"host": client.base_url, "digest": digest, "server_version": version})
    first = hosts[0] if hosts else {"host": None, "digest": None, "server_version": None}
    digests = {h["digest"] for h in hosts}
    return {"model": model, "digest": first["digest"] if len(digests) == 1 else None,
            **_settings(endpoint, body), "host": first["host"],
            "server_version": first["server_version"], "hosts": hosts, "time": _now(),
            **counts, "client": f"ollama_nb {__version__}"}

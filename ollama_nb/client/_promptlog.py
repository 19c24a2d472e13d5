"""The prompt log: every prompt and answer, with its provenance, in a local SQLite file.

On by default, as IPython's own input history is (the prompts are in it already, the
answers in the notebook); nothing leaves the machine and nothing secret is written:
no request headers, no API key, host URLs without ``user:pass@``, images as a count.
``OLLAMA_NB_PROMPT_LOG=0`` (or ``off``/``false``/``no``) turns it off for a process,
``%ollama log --off`` / :func:`set_enabled` for the session.

The file is ``prompt_log.sqlite3`` in the directory the ``map_prompts`` cache uses
(:func:`default_cache_dir`). Writes never fail an answer: a log that cannot be written
warns once and switches itself off.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ._args import with_tag
from ._paths import default_cache_dir

__all__ = ["FILENAME", "PromptLogWarning", "enabled", "log_answer",
           "log_path", "read", "set_enabled"]

FILENAME = "prompt_log.sqlite3"
_COLUMNS = ("id", "time", "source", "endpoint", "model", "digest", "host", "prompt", "system",
            "answer", "thinking", "done", "interrupted", "error", "provenance")
_lock = threading.Lock()
_state: dict[str, Any] = {"enabled": None}


class PromptLogWarning(UserWarning):
    """The prompt log could not be written (it is off for the rest of the session)."""


def log_path(directory: str | os.PathLike[str] | None = None) -> Path:
    """The log file (the cache directory's ``prompt_log.sqlite3``)."""
    return default_cache_dir(directory) / FILENAME


def enabled() -> bool:
    """Whether answers are logged now (the session's choice, else ``OLLAMA_NB_PROMPT_LOG``)."""
    if _state["enabled"] is not None:
        return bool(_state["enabled"])
    value = os.environ.get("OLLAMA_NB_PROMPT_LOG", "").strip().lower()
    return value not in ("0", "off", "false", "no")


def set_enabled(on: bool | None) -> None:
    """Turn the log on or off for this process (None: follow ``OLLAMA_NB_PROMPT_LOG`` again)."""
    _state["enabled"] = on


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), timeout=30, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS prompts (id INTEGER PRIMARY KEY AUTOINCREMENT, "
               "time TEXT, source TEXT, endpoint TEXT, model TEXT, digest TEXT, host TEXT, "
               "prompt TEXT, system TEXT, answer TEXT, thinking TEXT, done INTEGER, "
               "interrupted INTEGER, error TEXT, provenance TEXT)")
    return db


def prompt_text(body: Mapping[str, Any]) -> str:
    """The prompt of a request: ``prompt``, the last user message, or the embedded input."""
    if "messages" in body:
        users = [m for m in body.get("messages") or [] if isinstance(m, Mapping)
                 and m.get("role") == "user"]
        return str(users[-1].get("content") or "") if users else ""
    if "input" in body:
        value = body["input"]
        return value if isinstance(value, str) else "\n".join(map(str, value))
    return str(body.get("prompt") or "")


def log_answer(source: str, body: Mapping[str, Any], provenance: Mapping[str, Any], *,
               answer: str = "", thinking: str = "", done: bool = True,
               interrupted: bool = False, error: str | None = None) -> None:
    """Add one prompt and its answer (no-op when the log is off; never raises)."""
    if not enabled():
        return
    system = body.get("system")
    if system is None and "messages" in body:
        system = next((m.get("content") for m in body.get("messages") or []
                       if isinstance(m, Mapping) and m.get("role") == "system"), None)
    row = (provenance.get("time") or time.strftime("%Y-%m-%dT%H:%M:%S%z"), source,
           provenance.get("endpoint"), provenance.get("model") or body.get("model"),
           provenance.get("digest"), provenance.get("host"), prompt_text(body), system, answer,
           thinking, int(done), int(interrupted), error,
           json.dumps(dict(provenance), ensure_ascii=False, default=str))
    try:
        with _lock:  # a connection per answer: no file stays open between answers
            db = _connect(log_path())
            try:
                db.execute(f"INSERT INTO prompts ({', '.join(_COLUMNS[1:])}) VALUES "
                           f"({', '.join('?' * (len(_COLUMNS) - 1))})", row)
            finally:
                db.close()
    except (OSError, sqlite3.Error) as problem:
        set_enabled(False)
        warnings.warn(f"prompt log off: cannot write {log_path()} ({problem}); set "
                      f"OLLAMA_NB_CACHE_DIR to a writable folder", PromptLogWarning, stacklevel=3)


def read(n: int | None = None, *, search: str | None = None, model: str | None = None,
         path: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """Logged rows, newest first: the last ``n``, whose prompt or answer holds ``search``
    (case-insensitive), of ``model`` (``llama3.2`` matches ``llama3.2:latest``)."""
    file = Path(path).expanduser() if path is not None else log_path()
    if not file.exists():
        return []
    where: list[str] = []
    params: list[Any] = []
    if search:
        where.append("(instr(lower(prompt), lower(?)) OR instr(lower(answer), lower(?)))")
        params += [search, search]
    if model:
        where.append("(model = ? OR model = ?)")
        params += [model, with_tag(model)]
    sql = (f"SELECT {', '.join(_COLUMNS)} FROM prompts"
           f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY id DESC")
    if n is not None:
        sql += " LIMIT ?"
        params.append(int(n))
    with _lock:
        db = _connect(file)
        try:
            rows = db.execute(sql, params).fetchall()
        finally:
            db.close()
    out = []
    for row in rows:
        item = dict(zip(_COLUMNS, row))
        item["done"], item["interrupted"] = bool(item["done"]), bool(item["interrupted"])
        item["provenance"] = json.loads(item["provenance"] or "{}")
        out.append(item)
    return out

"""On-disk answer cache for `map_prompts`: an interrupted or repeated run resumes.

One SQLite file (stdlib, safe across threads and processes) maps a key - the
sha256 of everything that decides an answer (host, model, prompt, system, options,
schema, think) - to the answer's JSON. Rows are written as each one finishes, so
an interrupt loses nothing that had come back.

Location, first match wins: ``cache_dir=`` argument, ``$OLLAMA_NB_CACHE_DIR``,
``$XDG_CACHE_HOME/ollama_nb``, ``~/.cache/ollama_nb``. Delete the directory (or call
:meth:`AnswerCache.clear`) to forget every answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..client._paths import default_cache_dir

__all__ = ["AnswerCache", "cache_key", "default_cache_dir"]

FILENAME = "map_prompts.sqlite3"


def cache_key(**parts: Any) -> str:
    """A stable key for the request described by ``parts`` (JSON, sorted keys)."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AnswerCache:
    """Thread-safe key -> JSON store in ``directory/map_prompts.sqlite3``."""

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = default_cache_dir(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / FILENAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS answers "
                         "(key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL NOT NULL)")

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The cached values among ``keys``."""
        keys = list(dict.fromkeys(keys))
        found: dict[str, Any] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(f"SELECT key, value FROM answers WHERE key IN ({marks})", chunk)
                for key, value in rows:
                    found[key] = json.loads(value)
        return found

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        """Store one answer (committed at once: a crash or interrupt keeps it)."""
        text = json.dumps(dict(value), ensure_ascii=False)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?)", (key, text, time.time()))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])

    def clear(self) -> None:
        """Forget every cached answer."""
        with self._lock:
            self._db.execute("DELETE FROM answers")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

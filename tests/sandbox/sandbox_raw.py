"""Raw HTTP helpers for the sandbox tests (http.client, no retries, no magic)."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Raw:
    """A raw HTTP response: status, headers (lower-case keys), body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.body.splitlines() if line.strip()]


def raw_request(url: str, method: str, path: str, body: Any = None, *,
                headers: dict[str, str] | None = None, data: bytes | None = None,
                timeout: float = 10) -> Raw:
    """One request over a fresh http.client connection; never raises on status."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        payload = data if data is not None else (
            None if body is None else json.dumps(body).encode())
        conn.request(method, path, body=payload, headers=headers or {})
        resp = conn.getresponse()
        return Raw(resp.status, {k.lower(): v for k, v in resp.getheaders()},
                   resp.read() if method != "HEAD" else b"")
    finally:
        conn.close()


def posted_at_once(url: str, bodies: list[tuple[str, Any]], *,
                   timeout: float = 30) -> list[tuple[str, Raw]]:
    """POST each (path, body) on its own thread at the same time; (path, reply) as they end."""
    import threading

    results: list[tuple[str, Raw]] = []

    def ask(path: str, body: Any) -> None:
        results.append((path, raw_request(url, "POST", path, body, timeout=timeout)))

    threads = [threading.Thread(target=ask, args=pair) for pair in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return results

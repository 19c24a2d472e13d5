"""A tiny Ollama look-alike whose models say exactly what a test needs.

The sandbox's models only say what its text engine makes up, so this server
streams fixed answers: any model streams a fixed answer (and thinking, and a
model name) full of markup that would run script if it reached the page
unescaped; the model ``echo`` answers with the prompt itself (for the browser
tests that look at how given Markdown, math and long words are set). Standard
library only; HTTP/1.0 with the body ended by closing the connection, which the
client reads the same way as a chunked body.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOSTILE_ANSWER = (
    'Here you go: <img src=x onerror="window.__xss=true"> and '
    "<script>window.__xss=true</script> **bold** "
    "[click](javascript:window.__xss=true) <svg onload=window.__xss=true></svg> done."
)
HOSTILE_THINKING = (
    '<img src=y onerror="window.__xss=true">thinking<script>window.__xss=true</script>'
)
HOSTILE_MODEL = "evil<img src=z onerror=window.__xss=true>:latest"
ECHO_MODEL = "echo:latest"  # answers with its prompt (the last message's content in a chat)
DANGEROUS = ("<script", "<img", "<svg", "onerror=", "onload=", "javascript:window")


def live_markup(html_text: str) -> list[str]:
    """The dangerous fragments present *unescaped* in ``html_text`` (empty when safe).

    ``<script`` etc. count only as real tags (a literal ``<``); escaped text such as
    ``&lt;script`` is fine. Attribute names count only inside a live tag.
    """
    lowered = html_text.lower()
    found = [tag for tag in ("<script", "<img", "<svg") if tag in lowered]
    # an event handler attribute can only run inside a tag that the browser parses
    for match in re.finditer(r"<[a-z][^<>]*>", lowered):
        tag = match.group(0)
        if "onerror" in tag or "onload" in tag or "javascript:" in tag:
            found.append(tag)
    return found


def _chunks(text: str, size: int = 12) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


class _Handler(BaseHTTPRequestHandler):
    server_version = "hostile/1"

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _send_json(self, obj: Any, status: int = 200) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        if self.path == "/api/tags":
            self._send_json(
                {
                    "models": [
                        {
                            "name": ECHO_MODEL,
                            "model": ECHO_MODEL,
                            "size": 7654321,
                            "digest": "1" * 64,
                            "modified_at": "2026-01-01T00:00:00Z",
                            "details": {
                                "family": "echo",
                                "parameter_size": "1B",
                                "quantization_level": "Q4_0",
                            },
                        },
                        {
                            "name": HOSTILE_MODEL,
                            "model": HOSTILE_MODEL,
                            "size": 1234567,
                            "digest": "0" * 64,
                            "modified_at": "2026-01-01T00:00:00Z",
                            "details": {
                                "family": "evil",
                                "parameter_size": "1B",
                                "quantization_level": "Q4_0",
                            },
                        }
                    ]
                }
            )
        elif self.path == "/api/version":
            self._send_json({"version": "0.0.0-hostile"})
        else:
            body = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        model = request.get("model", "")
        if self.path not in ("/api/generate", "/api/chat"):
            self._send_json({"error": f"hostile server does not serve {self.path}"}, 404)
            return
        chat = self.path == "/api/chat"
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Connection", "close")
        self.end_headers()
        base = {"model": model, "created_at": "2026-01-01T00:00:00Z"}

        def line(obj: dict[str, Any]) -> None:
            self.wfile.write(json.dumps({**base, **obj}).encode() + b"\n")
            self.wfile.flush()

        echo = model.split(":")[0] == ECHO_MODEL.split(":")[0]
        if echo:
            messages = request.get("messages") or [{}]
            answer, thinking = (messages[-1].get("content") if chat else request.get("prompt")), ""
        else:
            answer, thinking = HOSTILE_ANSWER, HOSTILE_THINKING
        delay = getattr(self.server, "token_delay", 0.0)
        for piece in _chunks(str(thinking or "")):
            line(
                {"message": {"role": "assistant", "content": "", "thinking": piece}, "done": False}
                if chat
                else {"response": "", "thinking": piece, "done": False}
            )
        for piece in _chunks(str(answer or "")):
            time.sleep(delay)
            line(
                {"message": {"role": "assistant", "content": piece}, "done": False}
                if chat
                else {"response": piece, "done": False}
            )
        final = {
            "done": True,
            "done_reason": "stop",
            "total_duration": 1_000_000,
            "load_duration": 1000,
            "prompt_eval_count": 3,
            "prompt_eval_duration": 1000,
            "eval_count": 40,
            "eval_duration": 500_000_000,
        }
        line(
            {"message": {"role": "assistant", "content": ""}, **final}
            if chat
            else {"response": "", **final}
        )
        self.close_connection = True


class HostileServer:
    """``with HostileServer() as server: server.url``: serves on a free loopback port."""

    def __init__(self, token_delay: float = 0.0) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.token_delay = token_delay  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="hostile-ollama"
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

"""Helpers for the magics tests (a uniquely named module, importable from any test file)."""

from __future__ import annotations

import json
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from IPython.core.interactiveshell import InteractiveShell


def sigint_when(ready: Any, timeout: float = 10.0) -> threading.Thread:
    """A started thread that sends SIGINT to the main thread once ``ready()`` (or at ``timeout``)."""
    main = threading.main_thread().ident
    assert main is not None and threading.get_ident() == main

    def wait_then_interrupt() -> None:
        deadline = time.monotonic() + timeout
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.01)
        signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=wait_then_interrupt)
    thread.start()
    return thread


def run_interrupted(shell: InteractiveShell, cell: str, ready: Any, line: str) -> Any:
    """Run ``cell``, SIGINT once ``ready(outputs)``; check it ends in the one-line ``line``.
    Returns the captured outputs."""
    from IPython.utils.capture import capture_output

    with capture_output() as cap:
        timer = sigint_when(lambda: ready(cap.outputs))
        result = shell.run_cell(cell)
    timer.join()
    assert isinstance(result.error_in_exec, KeyboardInterrupt)
    # one line in place of a traceback through our modules, urllib3 and http.client
    assert result.error_in_exec._render_traceback_() == [f"KeyboardInterrupt: {line}"]
    return cap


def run(shell: InteractiveShell, cell: str) -> Any:
    """Run a cell; re-raise whatever it raised (IPython would only print it)."""
    result = shell.run_cell(cell)
    if result.error_before_exec is not None:
        raise result.error_before_exec
    if result.error_in_exec is not None:
        raise result.error_in_exec
    return result.result


class ScriptedServer:
    """Answers /api/generate and /api/chat with a scripted stream (HTTP/1.1 chunked NDJSON)."""

    def __init__(self) -> None:
        self.tokens: list[str] = ["Hello", " world"]
        self.thinking: list[str] = []
        #: seconds before each token: a client that leaves mid-stream is then seen leaving, not
        #: outrun by a server that has already put the whole answer in the socket buffers
        self.token_delay = 0.0
        #: one list of tool calls per chat request to come: the model "calls" them (names and
        #: arguments a real model may hallucinate, which the sandbox never does)
        self.tool_calls: list[list[dict[str, Any]]] = []
        self.bodies: list[dict[str, Any]] = []
        self.disconnected = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_HEAD(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.bodies.append(body)
                chat = self.path == "/api/chat"
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    if chat and outer.tool_calls:
                        obj = outer._obj(body, chat, "", "", False)
                        obj["message"]["tool_calls"] = outer.tool_calls.pop(0)
                        self._chunk(obj)
                        self._chunk(outer._obj(body, chat, "", "", True))
                        self.wfile.write(b"0\r\n\r\n")
                        return
                    for piece in outer.thinking:
                        self._chunk(outer._obj(body, chat, "", piece, False))
                    for piece in outer.tokens:
                        time.sleep(outer.token_delay)
                        self._chunk(outer._obj(body, chat, piece, "", False))
                    self._chunk(outer._obj(body, chat, "", "", True))
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    outer.disconnected.set()

            def _chunk(self, obj: dict[str, Any]) -> None:
                data = json.dumps(obj).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def _obj(self, body: dict[str, Any], chat: bool, text: str, thinking: str, done: bool) -> dict[str, Any]:
        obj: dict[str, Any] = {"model": body.get("model"), "created_at": "2026-01-01T00:00:00Z"}
        if chat:
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if thinking:
                message["thinking"] = thinking
            obj["message"] = message
        else:
            obj["response"] = text
            if thinking:
                obj["thinking"] = thinking
        obj["done"] = done
        if done:
            obj.update(done_reason="stop", total_duration=2_000_000_000, load_duration=100_000_000,
                       prompt_eval_count=5, prompt_eval_duration=10_000_000,
                       eval_count=len(self.tokens), eval_duration=1_000_000_000)
        return obj

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)

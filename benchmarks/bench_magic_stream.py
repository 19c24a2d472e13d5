"""How much does ``%%ollama`` cost on top of simply reading the stream?

A local HTTP/1.1 server answers ``/api/generate`` with a 2,000-chunk NDJSON stream
(one HTTP chunk per line, pre-encoded, sent as fast as the socket takes it). In the
same process, alternating runs time:

* baseline: a bare loop — ``requests.post(..., stream=True)``, ``iter_lines``,
  ``json.loads`` per line, text accumulated;
* for reference, the package's own client alone: ``Client.generate(stream=True)``
  iterated with no display (so the magic's own share can be told apart);
* the magic: ``%%ollama`` in a real ``InteractiveShell`` under ``capture_output``
  (client, throttled display handle, final Markdown render, result stored),
  at the default ``update_rate`` (10/s), at 1000/s, and in ``final`` display mode.

Prints the median wall time of each, the ratio magic/baseline, and the number of
display messages the magic sent. Run: ``.venv/bin/python benchmarks/bench_magic_stream.py``
"""

from __future__ import annotations

import json
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHUNKS = 2000
ROUNDS = 7


def _body(n: int) -> bytes:
    parts = []
    for i in range(n):
        line = json.dumps({"model": "m", "created_at": "2026-01-01T00:00:00Z",
                           "response": f"word{i} " if i % 40 else f"\n\n**Part {i // 40}.** ",
                           "done": False}).encode() + b"\n"
        parts.append(b"%x\r\n%s\r\n" % (len(line), line))
    final = json.dumps({"model": "m", "created_at": "2026-01-01T00:00:00Z", "response": "",
                        "done": True, "done_reason": "stop", "total_duration": 1, "load_duration": 1,
                        "prompt_eval_count": 1, "prompt_eval_duration": 1, "eval_count": n,
                        "eval_duration": 1_000_000_000}).encode() + b"\n"
    parts.append(b"%x\r\n%s\r\n" % (len(final), final))
    parts.append(b"0\r\n\r\n")
    return b"".join(parts)


class _Server:
    def __init__(self, body: bytes) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def baseline(url: str, session: Any) -> str:
    text = []
    with session.post(f"{url}/api/generate", json={"model": "m", "prompt": "go"}, stream=True) as r:
        for line in r.iter_lines():
            if line:
                obj = json.loads(line)
                text.append(obj.get("response", ""))
    return "".join(text)


def client_loop(client: Any) -> str:
    with client.generate("m", "go", stream=True) as stream:
        return "".join(chunk.raw.get("response", "") for chunk in stream)


def main() -> None:
    import requests
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from traitlets.config import Config

    server = _Server(_body(CHUNKS))
    config = Config()
    config.HistoryAccessor.enabled = False
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "ollama_nb")
    http = requests.Session()
    from ollama_nb import Client

    client = Client(server.url)
    cell = f"%%ollama m --host {server.url}\ngo"
    variants = {"magic, update_rate=10 (default)": "%config OllamaMagics.update_rate = 10",
                "magic, update_rate=1000": "%config OllamaMagics.update_rate = 1000",
                "magic, display_mode=final": "%config OllamaMagics.display_mode = 'final'"}
    times: dict[str, list[float]] = {"baseline": [], "client": [], **{k: [] for k in variants}}
    messages: dict[str, list[int]] = {k: [] for k in variants}
    expected = baseline(server.url, http)  # warm up both paths
    with capture_output():
        ip.run_cell(cell)
    for _ in range(ROUNDS):
        start = time.perf_counter()
        assert baseline(server.url, http) == expected
        times["baseline"].append(time.perf_counter() - start)
        start = time.perf_counter()
        assert client_loop(client) == expected
        times["client"].append(time.perf_counter() - start)
        for name, setting in variants.items():
            ip.run_line_magic("config", "OllamaMagics.display_mode = 'auto'")
            ip.run_line_magic("config", setting.removeprefix("%config "))
            with capture_output() as cap:
                start = time.perf_counter()
                result = ip.run_cell(cell)
                times[name].append(time.perf_counter() - start)
            assert result.error_in_exec is None and ip.user_ns["_ollama"].text == expected
            messages[name].append(len(cap.outputs))
    server.close()

    base = statistics.median(times["baseline"])
    print(f"{CHUNKS}-chunk stream, median of {ROUNDS} rounds, Python {sys.version.split()[0]}")
    print(f"{'variant':<36} {'median ms':>10} {'ratio':>7} {'display msgs':>13}")
    print(f"{'baseline (requests + json.loads)':<36} {base * 1000:>10.1f} {1.0:>7.2f} {'-':>13}")
    med = statistics.median(times["client"])
    print(f"{'ollama_nb Client stream, no display':<36} {med * 1000:>10.1f} {med / base:>7.2f} {'-':>13}")
    for name in variants:
        med = statistics.median(times[name])
        msgs = f"{min(messages[name])}-{max(messages[name])}"
        print(f"{name:<36} {med * 1000:>10.1f} {med / base:>7.2f} {msgs:>13}")


if __name__ == "__main__":
    main()

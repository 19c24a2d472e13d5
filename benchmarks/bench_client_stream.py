"""Benchmark: consuming a long NDJSON stream with ``ollama_nb.Client`` vs. the alternatives.

A stdlib HTTP/1.1 server in a child process streams the same pre-encoded generate
answer (``--lines`` chunks, one HTTP chunk per line, like Ollama) as fast as it can,
so what is measured is the client side: reading, line splitting, JSON decoding,
typed chunks and accumulation. Three consumers run interleaved, best of ``--repeat``:

* ``baseline``  ``requests`` + ``iter_lines()`` + ``json.loads``, text joined at the end
* ``ollama_nb`` ``Client.generate(..., stream=True)``, iterating typed chunks, ``.text``
* ``official``  ``ollama.Client.generate(..., stream=True)`` (if installed)

Reported as time per chunk and as a ratio to the baseline.
Run: ``.venv/bin/python benchmarks/bench_client_stream.py [--lines 20000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _serve(lines: int, port_queue: mp.Queue) -> None:  # type: ignore[type-arg]
    chunk = {"model": "m", "created_at": "2025-08-20T13:48:22.16461Z", "response": " token", "done": False}
    body = [b"%x\r\n%s\r\n" % (len(p), p) for p in [json.dumps(chunk).encode() + b"\n"] * lines]
    final = json.dumps({"model": "m", "created_at": "2025-08-20T13:48:23Z", "response": "", "done": True,
                        "done_reason": "stop", "eval_count": lines, "eval_duration": 10**9}).encode() + b"\n"
    body.append(b"%x\r\n%s\r\n0\r\n\r\n" % (len(final), final))
    payload = b"".join(body)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    proc = mp.Process(target=_serve, args=(args.lines, queue), daemon=True)
    proc.start()
    url = f"http://127.0.0.1:{queue.get(timeout=10)}"
    expected = " token" * args.lines

    import requests

    import ollama_nb

    session = requests.Session()
    client = ollama_nb.Client(url)

    def baseline() -> str:
        with session.post(f"{url}/api/generate", json={"model": "m", "prompt": "x"}, stream=True) as r:
            parts = [json.loads(line).get("response", "") for line in r.iter_lines() if line]
        return "".join(parts)

    def ours() -> str:
        with client.generate("m", "x", stream=True) as stream:
            for _ in stream:
                pass
        return stream.text

    runners: dict[str, Callable[[], str]] = {"baseline": baseline, "ollama_nb": ours}
    try:
        import ollama

        official_client = ollama.Client(url)

        def official() -> str:
            return "".join(part.response for part in official_client.generate("m", "x", stream=True))

        runners["official"] = official
    except ImportError:
        pass

    best = {name: float("inf") for name in runners}
    for _ in range(args.repeat):
        for name, run in runners.items():
            start = time.perf_counter()
            text = run()
            best[name] = min(best[name], time.perf_counter() - start)
            assert text == expected, name
    proc.terminate()

    base = best["baseline"]
    print(f"{args.lines} chunks, best of {args.repeat}")
    for name, seconds in best.items():
        print(f"  {name:10s} {seconds * 1e6 / args.lines:7.2f} µs/chunk   {seconds / base:5.2f}x baseline")


if __name__ == "__main__":
    main()

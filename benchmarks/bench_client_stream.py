"""Benchmark: consuming a long NDJSON stream with ``ollama_nb.Client`` / ``AsyncClient`` vs. bare loops.

A stdlib HTTP/1.1 server in a child process streams the same pre-encoded generate
answer (``--lines`` chunks, one HTTP chunk per line, like Ollama) as fast as it can,
so what is measured is the client side: reading, line splitting, JSON decoding,
typed chunks and accumulation. The consumers run interleaved in one process and one
event loop, best of ``--repeat``:

sync
* ``requests loop``   ``requests`` + ``iter_lines()`` + ``json.loads``: the baseline
* ``Client``          ``ollama_nb.Client.generate(..., stream=True)``, typed chunks, ``.text``
* ``ollama.Client``   the official client (if installed)

async
* ``httpx loop``      ``httpx.AsyncClient.stream`` + ``aiter_lines()`` + ``json.loads``
* ``aiohttp loop``    ``aiohttp`` + ``async for line in response.content`` + ``json.loads``
* ``AsyncClient``     ``ollama_nb.AsyncClient``: ``async for`` over ``await generate(..., stream=True)``
* ``ollama.AsyncClient`` the official async client (if installed)

Every consumer must produce the same text and the same number of chunks. Reported, as
wall time and as CPU time of this process (steadier on a loaded machine; the server is
another process): time per chunk, the ratio to the requests loop, and for the async
consumers the ratio to the httpx loop and to the aiohttp loop (the bare loop over the
transport ``AsyncClient`` uses).
With ``--pace S`` the server sleeps S seconds between chunks, so each chunk comes in a
read of its own, as tokens from a real model do; wall time is then the server's, and the
CPU columns say what each consumer spends per chunk.
Run: ``python benchmarks/bench_client_stream.py [--lines 20000] [--repeat 7] [--pace 0]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import socket
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _serve(lines: int, port_queue: mp.Queue, pace: float = 0.0) -> None:  # type: ignore[type-arg]
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
            if not pace:
                self.wfile.write(payload)
                self.wfile.flush()
                return
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for piece in body:  # one chunk per write, like tokens from a model
                self.wfile.write(piece)
                self.wfile.flush()
                time.sleep(pace)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


Result = tuple[str, int]  # (text, chunks)


async def _run(url: str, lines: int, repeat: int) -> dict[str, tuple[float, float]]:
    import aiohttp
    import httpx
    import requests

    import ollama_nb

    generate = f"{url}/api/generate"
    request = {"model": "m", "prompt": "x"}
    session = requests.Session()
    client = ollama_nb.Client(url)
    hx = httpx.AsyncClient(timeout=None)
    aio = aiohttp.ClientSession()
    aclient = ollama_nb.AsyncClient(url)

    def requests_loop() -> Result:
        with session.post(generate, json=request, stream=True) as response:
            parts = [json.loads(line).get("response", "") for line in response.iter_lines() if line]
        return "".join(parts), len(parts)

    def ours() -> Result:
        with client.generate("m", "x", stream=True) as stream:
            for _ in stream:
                pass
        return stream.text, stream.chunks

    async def httpx_loop() -> Result:
        parts = []
        async with hx.stream("POST", generate, json=request) as response:
            async for line in response.aiter_lines():
                if line:
                    parts.append(json.loads(line).get("response", ""))
        return "".join(parts), len(parts)

    async def aiohttp_loop() -> Result:
        parts = []
        async with aio.post(generate, json=request) as response:
            async for line in response.content:
                if line.strip():
                    parts.append(json.loads(line).get("response", ""))
        return "".join(parts), len(parts)

    async def ours_async() -> Result:
        async with await aclient.generate("m", "x", stream=True) as stream:
            async for _ in stream:
                pass
        return stream.text, stream.chunks

    sync: dict[str, Callable[[], Result]] = {"requests loop": requests_loop, "Client": ours}
    asynchronous: dict[str, Callable[[], Awaitable[Result]]] = {
        "httpx loop": httpx_loop, "aiohttp loop": aiohttp_loop, "AsyncClient": ours_async}
    try:
        import ollama

        official = ollama.Client(url)
        official_async = ollama.AsyncClient(url)

        def official_loop() -> Result:
            parts = [part.response for part in official.generate("m", "x", stream=True)]
            return "".join(parts), len(parts)

        async def official_async_loop() -> Result:
            parts = [part.response async for part in await official_async.generate("m", "x", stream=True)]
            return "".join(parts), len(parts)

        sync["ollama.Client"] = official_loop
        asynchronous["ollama.AsyncClient"] = official_async_loop
    except ImportError:
        pass

    expected = (" token" * lines, lines + 1)
    best = {name: (float("inf"), float("inf")) for name in [*sync, *asynchronous]}

    def record(name: str, got: Result, wall: float, cpu: float) -> None:
        assert got == expected, (name, len(got[0]), got[1])
        best[name] = (min(best[name][0], time.perf_counter() - wall),
                      min(best[name][1], time.process_time() - cpu))

    for _ in range(repeat):
        for name, run in sync.items():
            wall, cpu = time.perf_counter(), time.process_time()
            record(name, run(), wall, cpu)
        for name, arun in asynchronous.items():
            wall, cpu = time.perf_counter(), time.process_time()
            record(name, await arun(), wall, cpu)
    await hx.aclose()
    await aio.close()
    await aclient.close()
    client.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pace", type=float, default=0.0,
                        help="seconds between chunks (each then arrives in a read of its own); "
                             "read the CPU columns, e.g. --pace 0.0005 --lines 2000 --repeat 3")
    args = parser.parse_args()

    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    proc = mp.Process(target=_serve, args=(args.lines, queue, args.pace), daemon=True)
    proc.start()
    try:
        best = asyncio.run(_run(f"http://127.0.0.1:{queue.get(timeout=10)}", args.lines, args.repeat))
    finally:
        proc.terminate()

    chunks = args.lines + 1
    paced = f", {args.pace * 1e3:g} ms apart" if args.pace else ", sent as fast as possible"
    print(f"{chunks} chunks per stream{paced} (every consumer got all of them), best of {args.repeat}; "
          f"wall time, and CPU time of this process (the server is another one)")
    print(f"  {'consumer':20s} {'µs/chunk':>9s} {'/requests':>10s} {'/httpx':>7s} {'/aiohttp':>9s}"
          f"   {'CPU µs':>7s} {'/requests':>10s} {'/httpx':>7s} {'/aiohttp':>9s}")
    for name, (wall, cpu) in best.items():
        line = f"  {name:20s}"
        for index, value in enumerate((wall, cpu)):
            base, hx, aio = (best[n][index] for n in ("requests loop", "httpx loop", "aiohttp loop"))
            is_async = name not in ("requests loop", "Client", "ollama.Client")
            ratios = f"{value / hx:7.2f} {value / aio:9.2f}" if is_async else " " * 17
            line += f" {value * 1e6 / chunks:9.2f} {value / base:10.2f} {ratios}  "
        print(line.rstrip())

if __name__ == "__main__":
    main()

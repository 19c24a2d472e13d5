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

Every consumer must produce the same text and the same number of chunks. Reported: time
per chunk, the ratio to the requests loop, and for the async consumers the ratio to
the httpx loop and to the aiohttp loop (the bare loop over the transport AsyncClient uses).
Run: ``python benchmarks/bench_client_stream.py [--lines 20000] [--repeat 7]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import time
from collections.abc import Awaitable, Callable
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


Result = tuple[str, int]  # (text, chunks)


async def _run(url: str, lines: int, repeat: int) -> dict[str, float]:
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
    best = {name: float("inf") for name in [*sync, *asynchronous]}
    for _ in range(repeat):
        for name, run in sync.items():
            start = time.perf_counter()
            got = run()
            best[name] = min(best[name], time.perf_counter() - start)
            assert got == expected, (name, len(got[0]), got[1])
        for name, arun in asynchronous.items():
            start = time.perf_counter()
            got = await arun()
            best[name] = min(best[name], time.perf_counter() - start)
            assert got == expected, (name, len(got[0]), got[1])
    await hx.aclose()
    await aio.close()
    await aclient.close()
    client.close()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    queue: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    proc = mp.Process(target=_serve, args=(args.lines, queue), daemon=True)
    proc.start()
    try:
        best = asyncio.run(_run(f"http://127.0.0.1:{queue.get(timeout=10)}", args.lines, args.repeat))
    finally:
        proc.terminate()

    chunks = args.lines + 1
    base, hx, aio = best["requests loop"], best["httpx loop"], best["aiohttp loop"]
    print(f"{chunks} chunks per stream (every consumer got all of them), best of {args.repeat}")
    print(f"  {'consumer':20s} {'µs/chunk':>9s} {'/requests':>10s} {'/httpx':>8s} {'/aiohttp':>9s}")
    for name, seconds in best.items():
        is_async = name not in ("requests loop", "Client", "ollama.Client")
        extra = f" {seconds / hx:8.2f} {seconds / aio:9.2f}" if is_async else ""
        print(f"  {name:20s} {seconds * 1e6 / chunks:9.2f} {seconds / base:10.2f}{extra}")


if __name__ == "__main__":
    main()

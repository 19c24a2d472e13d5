"""Benchmark: ``ollama_nb.embed`` against the official client and a legacy per-text loop.

One run, one server. The server is a stdlib HTTP/1.1 server in a child process that
answers from bytes encoded before the clock starts (vectors in Go's float32 text
form, like the real server), so what is measured is the client side: request
building, HTTP, JSON parsing, building the result. Three ways to embed the same
texts are timed side by side, interleaved, best of ``--repeat``:

* ``ollama_nb``    ``onb.embed(texts, batch_size=B)`` -> float32 DataFrame
* ``official``     ``ollama.Client(url).embed(model, batch)`` for the same batches,
                   embeddings collected into a list (what that client gives you)
* ``legacy loop``  ``ollama.Client(url).embeddings(model, text)`` once per text
                   (``/api/embeddings``), the common pre-2024 pattern

Peak memory is measured separately under ``tracemalloc`` (numpy allocations are
traced) and compared with the bare ``n x dim`` float32 matrix plus one batch of
JSON (the response bytes plus the Python objects ``json.loads`` makes of them).

Run: ``.venv/bin/python benchmarks/bench_embed.py`` (``--help`` for sizes).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "bench-embed"


# -- the server (child process) ----------------------------------------------------------
def _vector_texts(count: int, dim: int, seed: int, *, normalise: bool) -> list[bytes]:
    import numpy as np

    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dim)).astype(np.float32)
    if normalise:
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        # float32 shortest form, as Go's encoding/json writes []float32
        return [("[" + ",".join(str(x) for x in row) + "]").encode() for row in vectors]
    # the legacy endpoint widens to float64 and prints long decimals
    return [json.dumps([float(x) for x in row]).encode() for row in vectors.astype(np.float64)]


def _serve(dim: int, port_queue: Any) -> None:
    vectors = _vector_texts(256, dim, seed=1, normalise=True)
    legacy = b'{"embedding":' + _vector_texts(1, dim, seed=2, normalise=False)[0] + b"}"
    bodies: dict[int, bytes] = {}

    def embed_body(count: int) -> bytes:
        body = bodies.get(count)
        if body is None:
            rows = b",".join(vectors[i % len(vectors)] for i in range(count))
            body = (b'{"model":"' + MODEL.encode() + b'","embeddings":[' + rows +
                    b'],"total_duration":1000,"load_duration":100,"prompt_eval_count":%d}' % count)
            bodies[count] = body
        return body

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # TCP_NODELAY, as Go's server sets it

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/api/embed":
                inputs = json.loads(raw).get("input") or []
                body = embed_body(1 if isinstance(inputs, str) else len(inputs))
            elif self.path == "/api/embeddings":
                body = legacy
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_queue.put(server.server_address[1])
    server.serve_forever()


# -- the contenders ----------------------------------------------------------------------
def _texts(n: int) -> list[str]:
    words = ["battery", "screen", "camera", "price", "delivery", "sound", "keyboard", "charger", "case", "support", "fast", "slow", "great", "poor", "cheap", "broken", "loud", "quiet", "bright", "dim"]
    return [f"review {i}: the {words[i % 10]} is {words[10 + (i * 7) % 10]} and "
            f"{words[(i * 3) % 10]} {words[10 + (i * 11) % 10]}" for i in range(n)]


def run_ollama_nb(url: str, texts: list[str], batch: int) -> Any:
    import ollama_nb as onb

    with onb.Client(url) as client:
        return onb.embed(texts, model=MODEL, batch_size=batch, progress=False, client=client)


def run_official(url: str, texts: list[str], batch: int) -> Any:
    import ollama

    client = ollama.Client(host=url)
    out: list[Any] = []
    for start in range(0, len(texts), batch):
        out.extend(client.embed(model=MODEL, input=texts[start:start + batch]).embeddings)
    client._client.close()
    return out


def run_legacy(url: str, texts: list[str], batch: int) -> Any:
    import ollama

    client = ollama.Client(host=url)
    out = [client.embeddings(model=MODEL, prompt=text).embedding for text in texts]
    client._client.close()
    return out


def _timed(fn: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads)."""
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    del result
    return wall, cpu


def _peak(fn: Callable[[], Any]) -> tuple[int, Any]:
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak, result


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="texts (default 20000)")
    parser.add_argument("--dim", type=int, default=384, help="vector size (default 384, all-minilm)")
    parser.add_argument("--batch-size", type=int, default=128, help="texts per /api/embed request")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per contender (best kept)")
    parser.add_argument("--legacy-n", type=int, default=None,
                        help="texts for the legacy loop (default: all; fewer = extrapolated)")
    args = parser.parse_args(argv)

    import numpy as np

    ctx = mp.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=_serve, args=(args.dim, ports), daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=60)}"
        texts = _texts(args.n)
        legacy_n = min(args.legacy_n or args.n, args.n)
        # warm up: the server encodes its batch bodies, imports settle
        run_ollama_nb(url, texts[: args.batch_size * 2 + 1], args.batch_size)
        run_official(url, texts[: args.batch_size * 2 + 1], args.batch_size)
        run_official(url, texts[: args.n % args.batch_size or args.batch_size], args.batch_size)
        run_legacy(url, texts[:10], args.batch_size)

        times: dict[str, list[tuple[float, float]]] = {"ollama_nb": [], "official": [], "legacy": []}
        scale = args.n / legacy_n
        for _ in range(args.repeat):  # interleaved, so load changes hit all three alike
            times["ollama_nb"].append(_timed(lambda: run_ollama_nb(url, texts, args.batch_size)))
            times["official"].append(_timed(lambda: run_official(url, texts, args.batch_size)))
            wall, cpu_s = _timed(lambda: run_legacy(url, texts[:legacy_n], args.batch_size))
            times["legacy"].append((wall * scale, cpu_s * scale))

        peak_nb, frame = _peak(lambda: run_ollama_nb(url, texts, args.batch_size))
        matrix = args.n * args.dim * 4
        result_bytes = int(frame.memory_usage(index=True, deep=True).sum())
        values = frame.to_numpy()
        shares = values.flags["C_CONTIGUOUS"] and values.dtype == np.float32 and values.base is not None
        del frame, values
        peak_official, lists = _peak(lambda: run_official(url, texts, args.batch_size))
        del lists
        # one batch of JSON: the response bytes plus what json.loads makes of them
        body = b'{"embeddings":[' + b",".join(
            _vector_texts(args.batch_size, args.dim, seed=1, normalise=True)) + b"]}"
        batch_peak, parsed = _peak(lambda: json.loads(body))
        del parsed
        one_batch = len(body) + batch_peak
    finally:
        server.terminate()
        server.join(10)

    best = {k: min(w for w, _ in v) for k, v in times.items()}
    cpu = {k: min(c for _, c in v) for k, v in times.items()}
    limit = 2 * matrix + one_batch
    print(f"## embed: {args.n:,} texts x {args.dim} dims, batches of {args.batch_size}")
    print()
    print(f"Python {platform.python_version()}, {platform.machine()}, "
          f"numpy {np.__version__}, best of {args.repeat}"
          f"{'' if legacy_n == args.n else f' (legacy loop: {legacy_n:,} texts, extrapolated)'}; "
          f"CPU = this process, all threads (the server runs in another process)")
    print()
    print("| contender | wall | wall ratio | CPU | CPU ratio |")
    print("|---|---|---|---|---|")
    for key, label in (("ollama_nb", "ollama_nb.embed"), ("official", "(a) ollama.Client.embed, same batches"),
                       ("legacy", "(b) per-text /api/embeddings loop")):
        print(f"| {label} | {best[key]:.2f} s | {best[key] / best['ollama_nb']:.2f}x "
              f"| {cpu[key]:.2f} s | {cpu[key] / cpu['ollama_nb']:.2f}x |")
    print()
    print("| memory | value |")
    print("|---|---|")
    print(f"| bare float32 matrix | {_mb(matrix)} |")
    print(f"| one batch of JSON (bytes + parsed objects) | {_mb(one_batch)} |")
    print(f"| ollama_nb.embed peak (tracemalloc) | {_mb(peak_nb)} = {peak_nb / matrix:.2f}x matrix |")
    print(f"| limit: 2 x matrix + one batch | {_mb(limit)} |")
    print(f"| official client peak (lists of floats) | {_mb(peak_official)} = "
          f"{peak_official / matrix:.1f}x matrix |")
    print(f"| result DataFrame (memory_usage deep, with index) | {_mb(result_bytes)} = "
          f"{result_bytes / matrix:.3f}x matrix; one C-contiguous float32 block: {shares} |")
    print()
    verdict = {
        "no slower than (a), wall": best["ollama_nb"] <= best["official"],
        "no slower than (a), CPU": cpu["ollama_nb"] <= cpu["official"],
        ">= 10x faster than (b), wall": best["legacy"] >= 10 * best["ollama_nb"],
        ">= 10x faster than (b), CPU": cpu["legacy"] >= 10 * cpu["ollama_nb"],
        "peak < 2 x matrix + one batch": peak_nb < limit,
    }
    for name, ok in verdict.items():
        print(f"- {name}: {'met' if ok else 'NOT met'}")
    return 0 if all(verdict.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the sandbox's ``/api/embed`` body, float32 text as Go writes it vs float64 text.

The real server writes each float32 in its shortest form (``0.0123``); Python's ``json``
writes the float64 expansion of the same value (``0.012299999594688416``). The sandbox
now writes Go's form (``_wire.Float32Rows``). Both encodings of the same unit vectors are
timed side by side, interleaved, best of ``--repeat``; the sizes are exact.

Run: ``.venv/bin/python benchmarks/bench_sandbox_embed.py`` (``--help`` for sizes).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ollama_nb.sandbox._wire import Float32Rows, dumps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--dims", type=int, default=768)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.rows, args.dims)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    def go_form() -> bytes:
        return dumps({"model": "m", "embeddings": Float32Rows(vectors)})

    def float64_form() -> bytes:
        return dumps({"model": "m", "embeddings": vectors.tolist()})

    best = {"float64 text (json.dumps)": float("inf"), "float32 text (Go's form)": float("inf")}
    funcs = dict(zip(best, (float64_form, go_form)))
    for _ in range(args.repeat):
        for name, fn in funcs.items():
            started = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - started)
    assert np.array_equal(np.asarray(json.loads(go_form())["embeddings"], dtype=np.float32),
                          vectors)
    base_name = next(iter(best))
    base_bytes = len(float64_form())
    print(f"{args.rows} x {args.dims} unit vectors, best of {args.repeat}")
    print(f"{'encoding':<28}{'ms':>9}{'ratio':>8}{'bytes':>11}{'ratio':>8}")
    for name, fn in funcs.items():
        size = len(fn())
        print(f"{name:<28}{best[name] * 1e3:>9.1f}{best[name] / best[base_name]:>8.2f}"
              f"{size:>11}{size / base_bytes:>8.2f}")


if __name__ == "__main__":
    main()

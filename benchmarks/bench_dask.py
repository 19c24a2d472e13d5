"""Benchmark: ``ollama_nb.dask.embed(...).to_parquet(...)`` on more data than a worker may hold.

A ``dask.distributed`` LocalCluster of 2 worker processes, each with a ``memory_limit``
(the nanny pauses a worker at 80 % of it and kills it at 95 %), embeds texts made
partition by partition (``dd.from_map``: the texts never exist in one place either) over
3 sandbox processes and writes the float32 embeddings to Parquet. Two sizes run in the
same invocation, ``--n`` texts and an eighth of it (at least 8 partitions) as the baseline; the workers are
restarted before each, so each worker's peak RSS (``ru_maxrss``) belongs to that run.
What should hold: the frame is larger than a worker's limit, every row is written, no
worker is killed, and the peak per worker does not grow with the data (the peak above
the baseline RSS grows by less than 1.5x while the data grows 6x).

Run: ``.venv/bin/python benchmarks/bench_dask.py`` (about 5 minutes at the default
240,000 texts, most of it the sandboxes writing JSON; ``--n 50000`` for a quick look).
Exits non-zero when one of those does not hold.
"""

from __future__ import annotations

import argparse
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "all-minilm"  # 384 dimensions; the word-overlap engine (--no-minilm) is the fast one
PARTITION = 5000


def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _peak() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _partition(number: int) -> Any:
    import pandas as pd

    words = ["battery", "screen", "camera", "price", "delivery", "sound", "keyboard", "charger"]
    start = number * PARTITION
    return pd.DataFrame({"text": [f"review {i}: the {words[i % 8]} was {words[(i * 3) % 8]}, "
                                  f"item {i % 997}" for i in range(start, start + PARTITION)]},
                        index=pd.RangeIndex(start, start + PARTITION, name="id"))


def _warm() -> int:
    """Import on a worker what a partition needs, so its baseline RSS includes them."""
    import pyarrow.parquet  # noqa: F401

    import ollama_nb.frames._dask  # noqa: F401

    return _rss()


def _mb(n: float) -> str:
    return f"{n / 1e6:.0f} MB"


def main() -> int:
    import dask.dataframe as dd
    import distributed

    import ollama_nb as onb
    import ollama_nb.dask as onbd

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=240_000, help="texts (default 240,000)")
    parser.add_argument("--memory-limit", default="350MB",
                        help="memory_limit of each worker (default 350MB)")
    args = parser.parse_args()
    if args.n < 16 * PARTITION:
        parser.error(f"--n must be at least {16 * PARTITION} (twice the baseline's 8 partitions)")
    from dask.utils import parse_bytes

    limit = parse_bytes(args.memory_limit)
    procs = []
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-m", "ollama_nb.sandbox", "--port", "0",
                                 "--models", MODEL, "--no-minilm"], stdout=subprocess.PIPE,
                                text=True)
        proc.url = proc.stdout.readline().rsplit(" ", 1)[-1].strip()  # type: ignore[attr-defined,union-attr]
        procs.append(proc)
    out = Path(tempfile.mkdtemp(prefix="bench_dask_"))
    ok = True
    rows: list[tuple[Any, ...]] = []
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=2, memory_limit=limit,
                                      dashboard_address=None, silence_logs=40) as cluster, \
                distributed.Client(cluster) as client:
            hosts = onb.Hosts([p.url for p in procs], concurrency=2)  # type: ignore[attr-defined]
            print(f"Python {platform.python_version()}, dask {distributed.__version__}, 2 workers "
                  f"x {_mb(limit)} memory_limit, 3 sandboxes, partitions of {PARTITION} texts")
            client_before = _peak()
            # the baseline: an eighth of the texts, but at least 8 partitions (4 per worker)
            for n in (max(args.n // 8, 8 * PARTITION), args.n):
                client.restart()  # fresh processes: ru_maxrss is this run's
                client.run(_warm)
                baseline = client.run(_rss)
                lazy = onbd.embed(dd.from_map(_partition, range(n // PARTITION))["text"],
                                  model=MODEL, hosts=hosts, batch_size=128)
                width = len(lazy.columns)
                target = out / f"emb-{n}"
                started = time.perf_counter()
                lazy.to_parquet(target)
                seconds = time.perf_counter() - started
                peaks = client.run(_peak)
                alive = len(client.scheduler_info()["workers"])
                on_disk = sum(f.stat().st_size for f in target.glob("*.parquet"))
                written = dd.read_parquet(target).shape[0].compute()
                rows.append((n, n * width * 4, on_disk, seconds, baseline, peaks, alive, written))
                shutil.rmtree(target)
            client_growth = _peak() - client_before
    finally:
        for proc in procs:
            proc.terminate()
        shutil.rmtree(out, ignore_errors=True)

    print("\n| texts | float32 frame | frame / worker limit | Parquet | s | texts/s | worker "
          "baseline RSS | worker peak RSS | peak above baseline | peak / limit |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    growth = []
    for n, frame, disk, seconds, baseline, peaks, alive, written in rows:
        above = max(peaks[w] - baseline.get(w, 0) for w in peaks)
        growth.append(above)
        top = max(peaks.values())
        print(f"| {n:,} | {_mb(frame)} | {frame / limit:.2f} | {_mb(disk)} | {seconds:.0f} | "
              f"{n / seconds:.0f} | {', '.join(_mb(v) for v in baseline.values())} | "
              f"{', '.join(_mb(v) for v in peaks.values())} | {_mb(above)} | {top / limit:.0%} |")
        if written != n or alive != 2 or top >= 0.95 * limit:
            ok = False
            print(f"  MISSED: {written:,} rows written, {alive} workers alive, peak {top / limit:.0%}"
                  f" of the limit (the nanny kills a worker at 95 %)")
    ratio = growth[1] / growth[0] if growth[0] else float("inf")
    print(f"\npeak above baseline, {rows[1][0]:,} texts vs {rows[0][0]:,}: {ratio:.2f}x "
          f"(the data grew {rows[1][0] / rows[0][0]:.0f}x); the client process grew by {_mb(client_growth)}")
    if ratio > 1.5:
        ok = False
        print("  MISSED: a worker's peak grew with the data")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

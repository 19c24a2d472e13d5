"""Soak: 200 answers back to back through ``%%ollama`` while a quarter of them break.

One sandbox, one shell. A seeded random quarter of the cells get a fault (error line,
dropped connection, malformed line, no ``done``, 503 busy); each must end in a
one-line UsageError with its partial answer kept in ``_ollama`` and ``-o``, and the
others must finish normally. Open fds, threads and traced memory are measured after
a warm-up and again at the end: they may not grow beyond a small bound.
"""

from __future__ import annotations

import gc
import random
import tracemalloc

import pytest
from cases import CHAT_MODEL, Env
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from leaks import Snapshot

pytestmark = pytest.mark.slow

ANSWERS = 200
WARM_UP = 20
FAULTS = [
    ("error_after", {"n": 3, "message": "CUDA out of memory"}, True, "error mid-stream"),
    ("drop_after", {"n": 3}, True, "broke after 3 chunks"),
    ("malformed_after", {"n": 3}, True, "not a JSON object"),
    ("no_done", {"n": 3}, True, "ended without done"),
    ("error", {"status": 503, "message": "server busy, please try again."}, False, "503"),
]


def test_two_hundred_answers_with_random_faults(ip: InteractiveShell, env: Env) -> None:
    rng = random.Random(20261125)
    plan = [rng.choice(FAULTS) if rng.random() < 0.25 else None for _ in range(ANSWERS)]
    assert 30 <= sum(p is not None for p in plan) <= 70
    ip.run_line_magic("config", "OllamaMagics.update_rate = 0")  # display work is not the point
    before = None
    seen = {"ok": 0, "faulted": 0}
    for i, fault in enumerate(plan):
        if i == WARM_UP:
            gc.collect()
            before = Snapshot.take()
            tracemalloc.start()
            memory_before = tracemalloc.get_traced_memory()[0]
        if fault is not None:
            env.sandbox.inject(fault[0], model=CHAT_MODEL, times=1, **fault[1])
        cell = f"%%ollama {CHAT_MODEL} --seed {i} -O num_predict=12 -o out\nQuestion {i}: tell me more"
        with capture_output():
            result = ip.run_cell(cell)
        stored = ip.user_ns["out"]
        assert ip.user_ns["_ollama"] is stored
        if fault is None:
            assert result.error_in_exec is None, (i, result.error_in_exec)
            assert stored.done and stored.text
            seen["ok"] += 1
            continue
        error = result.error_in_exec
        assert isinstance(error, UsageError), (i, fault[0], error)
        message = str(error)
        assert "\n" not in message and fault[3] in message, (i, message)
        assert not stored.done and stored.error
        if fault[2]:
            assert stored.text, (i, fault[0], "partial answer lost")
        seen["faulted"] += 1
    assert seen["ok"] + seen["faulted"] == ANSWERS and not env.sandbox.faults.list()
    gc.collect()
    memory_after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert before is not None
    after = Snapshot.take()
    # at most the one idle keep-alive connection of the pool (both of its ends are ours)
    problems = after.grown(before, fd_slack=2, thread_slack=1, conn_slack=2)
    assert not problems, problems
    growth = memory_after - memory_before
    assert growth < 2_000_000, f"traced memory grew by {growth} bytes over {ANSWERS - WARM_UP} answers"

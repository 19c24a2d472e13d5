"""Capacity: parallel slots and the queue (OLLAMA_NUM_PARALLEL / OLLAMA_MAX_QUEUE), the real
503, simulated speed, and a stopped server that cuts its connections."""

from __future__ import annotations

import http.client
import socket
import threading
from urllib.parse import urlsplit

import pytest
from sandbox_raw import raw_request

from ollama_nb.sandbox import Sandbox

BUSY = "server busy, please try again.  maximum pending requests exceeded"
SLOW = {"num_predict": 20}  # 20 tokens: at 100 tokens/s, 0.2 s in a slot


def _generate(url: str, prompt: str, results: dict, **extra) -> None:
    try:
        results[prompt] = raw_request(url, "POST", "/api/generate",
                                      {"model": "llama3.2", "prompt": prompt, "options": SLOW,
                                       **extra})
    except (OSError, http.client.HTTPException) as exc:  # a cut connection
        results[prompt] = exc


def _fire(url: str, prompts: list[str], **extra) -> dict:
    results: dict = {}
    threads = [threading.Thread(target=_generate, args=(url, p, results), kwargs=extra)
               for p in prompts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_slots_queue_and_the_real_503() -> None:
    with Sandbox(models=["llama3.2"], num_parallel=2, max_queue=1, tokens_per_second=100) as sb:
        answers = _fire(sb.url, [f"question {i}" for i in range(4)], stream=False)
        statuses = sorted(r.status for r in answers.values())
        assert statuses == [200, 200, 200, 503]  # two run, one waits, one is turned away
        (busy,) = [r for r in answers.values() if r.status == 503]
        assert busy.json() == {"error": BUSY}
        assert busy.headers["content-type"] == "application/json; charset=utf-8"
        assert sb.scheduler.peak == 3 and sb.scheduler.rejected == 1
        assert sb.scheduler.running == sb.scheduler.queued == 0
        # a streamed request that cannot queue gets the same JSON error, not a stream
        streamed = _fire(sb.url, [f"stream {i}" for i in range(4)])
        (busy,) = [r for r in streamed.values() if r.status == 503]
        assert busy.json() == {"error": BUSY}
        assert [r.status for r in streamed.values()].count(200) == 3


def test_speed_sets_time_in_a_slot_and_errors_come_before_the_queue() -> None:
    import time

    with Sandbox(models=["llama3.2", "all-minilm"], num_parallel=1, max_queue=0,
                 tokens_per_second=100, minilm=False) as sb:
        started = time.perf_counter()
        raw_request(sb.url, "POST", "/api/generate",
                    {"model": "llama3.2", "prompt": "hi", "stream": False, "options": SLOW})
        assert time.perf_counter() - started >= 0.2
        # one slot, no queue: while it is busy, a second request is refused...
        results = _fire(sb.url, ["a", "b"], stream=False)
        assert sorted(r.status for r in results.values()) == [200, 503]
        # ...but a request for a missing model is a 404 first, as on the real server
        holder = threading.Thread(target=_generate, args=(sb.url, "hold", {}),
                                  kwargs={"stream": False})
        holder.start()
        while sb.scheduler.running == 0:
            time.sleep(0.005)
        missing = raw_request(sb.url, "POST", "/api/generate",
                              {"model": "nosuch", "prompt": "x", "stream": False})
        assert missing.status == 404
        # embedding models have their own single slot
        embedded = raw_request(sb.url, "POST", "/api/embed",
                               {"model": "all-minilm", "input": ["one two three"]})
        assert embedded.status == 200
        holder.join(10)
        assert sb.scheduler.to_json()["rejected"] == 1
        control = raw_request(sb.url, "GET", "/_sandbox/scheduler").json()
        assert control["num_parallel"] == 1 and control["max_queue"] == 0
        assert control["tokens_per_second"] == 100


def test_queued_requests_run_in_arrival_order() -> None:
    import time

    order: list[str] = []
    with Sandbox(models=["llama3.2"], num_parallel=1, tokens_per_second=200) as sb:
        def ask(prompt: str) -> None:
            raw_request(sb.url, "POST", "/api/generate",
                        {"model": "llama3.2", "prompt": prompt, "stream": False,
                         "options": SLOW})
            order.append(prompt)

        threads = []
        for i in range(4):
            threads.append(threading.Thread(target=ask, args=(f"p{i}",)))
            threads[-1].start()
            while sb.scheduler.running + sb.scheduler.queued <= i:  # each is in before the next
                time.sleep(0.002)
        for thread in threads:
            thread.join(10)
    assert order == ["p0", "p1", "p2", "p3"]


def test_stop_cuts_open_connections_and_start_again_serves() -> None:
    sb = Sandbox(models=["llama3.2"]).start()
    parts = urlsplit(sb.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("GET", "/api/version")
    assert conn.getresponse().read()
    sb.stop()
    # the kept-alive connection is gone with the server, and nothing listens any more
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/api/version")
        conn.getresponse().read()
    conn.close()
    with pytest.raises(OSError), socket.create_connection((parts.hostname, parts.port), 1):
        pass
    sb.start()  # same port: a machine coming back
    try:
        assert raw_request(sb.url, "GET", "/api/version").status == 200
    finally:
        sb.stop()


def test_stop_releases_requests_waiting_for_a_slot() -> None:
    import time

    sb = Sandbox(models=["llama3.2"], num_parallel=1, tokens_per_second=10).start()
    results = {}
    threads = [threading.Thread(target=_generate, args=(sb.url, f"w{i}", results),
                                kwargs={"stream": False}) for i in range(3)]
    for thread in threads:
        thread.start()
    while sb.scheduler.queued < 2:
        time.sleep(0.005)
    started = time.perf_counter()
    sb.stop()
    for thread in threads:
        thread.join(5)
    assert time.perf_counter() - started < 1.5  # not the 2 s x 3 the slots would take
    assert len(results) == 3 and all(isinstance(r, Exception) for r in results.values())
    assert sb.scheduler.queued == sb.scheduler.running == 0

"""The ``ollama-nb sandbox`` command as a subprocess, and bulk embedding throughput."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from sandbox_raw import raw_request


def test_cli_prints_url_serves_and_stops_on_sigint():
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ollama_nb.cli import main; raise SystemExit(main())",
         "sandbox", "--port", "0", "--models", "llama3.2,all-minilm", "--token-delay", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        banner = [proc.stdout.readline()]
        while "Ctrl-C" not in banner[-1] and banner[-1]:
            banner.append(proc.stdout.readline())
        match = re.search(r"http://127\.0\.0\.1:\d+", banner[0])
        assert match, banner
        url = match.group(0)
        assert raw_request(url, "GET", "/").body == b"Ollama is running"
        names = [m["name"] for m in raw_request(url, "GET", "/api/tags").json()["models"]]
        assert sorted(names) == ["all-minilm:latest", "llama3.2:latest"]
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert any("engine:    all-minilm:latest = " in line for line in banner)
        assert "sandbox stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_rejects_non_loopback():
    out = subprocess.run([sys.executable, "-m", "ollama_nb.sandbox", "--host", "0.0.0.0",
                          "--port", "0"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "loopback only" in out.stderr


@pytest.mark.slow
def test_embed_ten_thousand_texts():
    """Bulk throughput: 10,000 texts with the word-overlap engine (times are printed, not
    asserted); the real MiniLM engine with 1,000."""
    from ollama_nb.sandbox import Sandbox

    texts = [f"review {i}: the battery lasts {i % 17} hours and the screen is bright"
             for i in range(10_000)]
    with Sandbox(models=["nomic-embed-text", "all-minilm"], minilm=False) as sb:
        for model in ("nomic-embed-text", "all-minilm"):
            _timed_embed(sb, model, texts)
    with Sandbox(models=["all-minilm"]) as sb:
        if sb.engines()["all-minilm:latest"].startswith("minilm"):
            _timed_embed(sb, "all-minilm", texts[:1000])


def _timed_embed(sb, model: str, texts: list[str]) -> None:
    started = time.perf_counter()
    r = raw_request(sb.url, "POST", "/api/embed", {"model": model, "input": texts},
                    timeout=900)
    elapsed = time.perf_counter() - started
    assert r.status == 200
    assert len(r.json()["embeddings"]) == len(texts)
    print(f"\n{model} [{sb.engines()[model + ':latest']}]: {len(texts):,} texts "
          f"in {elapsed:.2f}s")

"""A prompt that asks for N words gets about N words, as a real model would give; num_predict cuts it."""

from __future__ import annotations

import json
from typing import Any

import requests


def _generate(url: str, prompt: str, **options: Any) -> dict[str, Any]:
    body = {"model": "llama3.2", "prompt": prompt, "stream": False, "options": options}
    return requests.post(f"{url}/api/generate", json=body, timeout=30).json()


def test_length_request_is_followed(ollama_sandbox: Any) -> None:
    long = _generate(ollama_sandbox.url, "Describe the sea in 1500 words.", seed=3)
    short = _generate(ollama_sandbox.url, "Describe the sea.", seed=3)
    assert 1500 <= len(long["response"].split()) < 1600
    assert len(short["response"].split()) < 200
    assert long["eval_count"] > 1500 and long["done_reason"] == "stop"


def test_num_predict_still_cuts_a_long_answer(ollama_sandbox: Any) -> None:
    cut = _generate(ollama_sandbox.url, "Describe the sea in 1500 words.", seed=3, num_predict=40)
    assert cut["eval_count"] == 40 and cut["done_reason"] == "length"


def test_long_stream_concatenates_to_the_answer(ollama_sandbox: Any) -> None:
    prompt = "Describe the sea in 800 words."
    body = {"model": "llama3.2", "prompt": prompt, "options": {"seed": 3}}
    with requests.post(f"{ollama_sandbox.url}/api/generate", json=body, stream=True, timeout=30) as r:
        chunks = [json.loads(line) for line in r.iter_lines() if line]
    assert "".join(c["response"] for c in chunks) == _generate(ollama_sandbox.url, prompt, seed=3)["response"]
    assert len(chunks) > 800 and chunks[-1]["done"] is True

"""Every answer says where it came from: ``_ollama.provenance``, the display metadata a saved
notebook keeps, and ``.attrs["provenance"]`` of ``embed`` and ``map_prompts``.

Expected values come from the sandbox itself (its ``/api/tags`` digests, its version), over
real sockets, in a real IPython shell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests
from IPython.utils.capture import capture_output
from magic_helpers import run

import ollama_nb as onb


def _digest(url: str, model: str) -> str:
    models = requests.get(f"{url}/api/tags", timeout=10).json()["models"]
    return next(m["digest"] for m in models if m["name"] == model)


def _version(url: str) -> str:
    return str(requests.get(f"{url}/api/version", timeout=10).json()["version"])


def test_an_answer_has_its_provenance_and_the_output_keeps_it(ip: Any, ollama_sandbox: Any,
                                                              log_dir: Path) -> None:
    with capture_output() as cap:
        run(ip, "%%ollama llama3.2 --temperature 0 --seed 7 --num-predict 12 -O top_k=3\nName a fruit.")
    result = ip.user_ns["_ollama"]
    prov = result.provenance
    assert prov["model"] == "llama3.2"
    assert prov["digest"] == _digest(ollama_sandbox.url, "llama3.2:latest")
    assert prov["options"] == {"temperature": 0, "seed": 7, "num_predict": 12, "top_k": 3}
    assert (prov["seed"], prov["temperature"]) == (7, 0)
    assert prov["endpoint"] == "/api/generate"
    assert prov["host"] == ollama_sandbox.url
    assert prov["server_version"] == _version(ollama_sandbox.url)
    assert prov["eval_count"] == result.response.raw["eval_count"]
    assert prov["prompt_eval_count"] == result.response.raw["prompt_eval_count"]
    assert prov["created_at"] == result.response.raw["created_at"]
    assert prov["think"] is None and prov["format"] is None and prov["tools"] == []
    # the final display carries it (the last message of the answer's output)
    final = cap.outputs[-1]
    assert final.metadata == {"ollama_nb": {"provenance": prov}}
    assert result.metadata == final.metadata


def test_think_format_and_chat_are_in_the_provenance(ip: Any, ollama_sandbox: Any,
                                                     log_dir: Path) -> None:
    with capture_output():
        run(ip, "%%ollama qwen3 --think --json --chat trip\nPlan a day as JSON.")
    prov = ip.user_ns["_ollama"].provenance
    assert prov["endpoint"] == "/api/chat"
    assert prov["think"] is True and prov["format"] == "json"
    assert prov["digest"] == _digest(ollama_sandbox.url, "qwen3:latest")


def test_the_digest_is_looked_up_once_per_model_and_host(ip: Any, ollama_sandbox: Any,
                                                         log_dir: Path) -> None:
    with capture_output():
        for _ in range(3):
            run(ip, "%%ollama llama3.2 --num-predict 4\nHi")
        run(ip, "%%ollama qwen3 --num-predict 4 --no-think\nHi")  # listed by the same lookup
    paths = [r.path for r in ollama_sandbox.requests]
    assert paths.count("/api/tags") == 1 and paths.count("/api/version") == 1
    assert paths.count("/api/generate") == 4


def test_a_pull_forgets_the_cached_digest(ip: Any, ollama_sandbox: Any, log_dir: Path) -> None:
    with capture_output():
        run(ip, "%%ollama llama3.2 --num-predict 4\nHi")
        run(ip, "%ollama rm llama3.2")
        run(ip, "%ollama pull llama3.2")
        run(ip, "%%ollama llama3.2 --num-predict 4\nHi")
    assert [r.path for r in ollama_sandbox.requests].count("/api/tags") == 2


def test_embed_and_map_prompts_record_their_provenance(ollama_sandbox: Any, log_dir: Path) -> None:
    frame = onb.embed(["one", "two", "three"], model="nomic-embed-text", progress=False)
    prov = frame.attrs["provenance"]
    assert prov["model"] == "nomic-embed-text"
    assert prov["digest"] == _digest(ollama_sandbox.url, "nomic-embed-text:latest")
    assert prov["endpoint"] == "/api/embed" and prov["texts"] == 3
    assert prov["hosts"] == [{"host": ollama_sandbox.url, "digest": prov["digest"],
                              "server_version": _version(ollama_sandbox.url)}]
    assert prov["prompt_eval_count"] == frame.attrs["hosts"][0]["tokens"] > 0

    answers = onb.map_prompts(["a", "b"], "Say {{value}}", model="llama3.2",
                              options={"seed": 3, "num_predict": 5}, cache_dir=log_dir / "mp",
                              progress=False)
    prov = answers.attrs["provenance"]
    assert prov["digest"] == _digest(ollama_sandbox.url, "llama3.2:latest")
    assert (prov["seed"], prov["options"]) == (3, {"seed": 3, "num_predict": 5})
    assert (prov["asked"], prov["cached"]) == (2, 0)
    again = onb.map_prompts(["a", "b"], "Say {{value}}", model="llama3.2",
                            options={"seed": 3, "num_predict": 5}, cache_dir=log_dir / "mp",
                            progress=False)
    assert (again.attrs["provenance"]["asked"], again.attrs["provenance"]["cached"]) == (0, 2)
    assert again.attrs["provenance"]["digest"] == prov["digest"]


def test_no_credentials_in_the_provenance(ip: Any, ollama_sandbox: Any, log_dir: Path,
                                          monkeypatch: Any) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "sk-secret-provenance")
    host = ollama_sandbox.url.replace("http://", "http://alice:hunter2@")
    with capture_output():
        run(ip, f"%%ollama llama3.2 --num-predict 4 --host {host}\nHi")
    text = repr(ip.user_ns["_ollama"].provenance)
    assert ip.user_ns["_ollama"].provenance["host"] == ollama_sandbox.url
    for secret in ("hunter2", "alice", "sk-secret-provenance"):
        assert secret not in text


def test_onb_ask_and_tool_answers_have_their_provenance(ip: Any, ollama_sandbox: Any,
                                                       log_dir: Path) -> None:
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    asked = onb.ask("Name a fruit.", model="llama3.2", options={"seed": 5, "num_predict": 6})
    prov = asked.provenance
    assert prov["digest"] == _digest(ollama_sandbox.url, "llama3.2:latest")
    assert (prov["endpoint"], prov["seed"]) == ("/api/generate", 5)
    assert prov["eval_count"] == asked.response.raw["eval_count"]
    with_tools = onb.ask("What is the weather in Paris?", model="qwen3", tools=[get_weather],
                         think=False)
    assert with_tools.provenance["tools"] == ["get_weather"]
    assert with_tools.provenance["endpoint"] == "/api/chat"
    ip.user_ns["get_weather"] = get_weather
    with capture_output():
        run(ip, "%%ollama qwen3 --tools get_weather --no-think\nWeather in Rome?")
    assert ip.user_ns["_ollama"].provenance["tools"] == ["get_weather"]
    sources = [row["source"] for row in reversed(onb.prompt_log().to_dict("records"))]
    assert sources == ["ask", "ask", "magic"]


def test_rows_answered_at_once_share_one_digest_lookup(ollama_sandbox: Any, log_dir: Path) -> None:
    answers = onb.map_prompts([f"w{i}" for i in range(8)], "Say {{value}}", model="llama3.2",
                              options={"num_predict": 3}, concurrency=4, cache=False,
                              progress=False)
    assert answers.attrs["provenance"]["digest"] == _digest(ollama_sandbox.url, "llama3.2:latest")
    paths = [r.path for r in ollama_sandbox.requests]
    assert paths.count("/api/generate") == 8
    assert paths.count("/api/tags") == 2  # one for the provenance, one from the test's _digest

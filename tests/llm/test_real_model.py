"""smollm2:135m served by llama.cpp: the sandbox against llama-cpp-python called directly.

Every prompt the sandbox should build is written out here by hand, so a test checks the
template rendering and the generation at once.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import jsonschema
import pytest
import requests

from ollama_nb.sandbox import Sandbox, _smollm2

MODEL = "smollm2:135m"
GREEDY = {"temperature": 0}


def post(sb: Sandbox, path: str, body: dict[str, Any], **kw: Any) -> requests.Response:
    return requests.post(sb.url + path, json=body, timeout=300, **kw)


def gen(sb: Sandbox, **body: Any) -> dict[str, Any]:
    r = post(sb, "/api/generate", {"model": MODEL, "stream": False, **body})
    assert r.status_code == 200, r.text
    return dict(r.json())


def chat(sb: Sandbox, **body: Any) -> dict[str, Any]:
    r = post(sb, "/api/chat", {"model": MODEL, "stream": False, **body})
    assert r.status_code == 200, r.text
    return dict(r.json())


def lines(r: requests.Response) -> list[dict[str, Any]]:
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/x-ndjson"
    return [json.loads(line) for line in r.iter_lines() if line]


def user_prompt(text: str, system: str | None = None) -> str:
    head = f"<|im_start|>system\n{system}\n" if system else ""
    return f"{head}<|im_start|>user\n{text}<|im_end|>\n<|im_start|>assistant\n"


# ---- what serves what ----


def test_the_sandbox_installs_and_names_the_real_model(ollama_sandbox: Sandbox) -> None:
    assert MODEL in ollama_sandbox.installed()
    engines = ollama_sandbox.engines()
    assert engines[MODEL] == "real SmolLM2-135M-Instruct, via llama.cpp"
    assert engines["llama3.2:latest"] == "deterministic text"
    served = requests.get(ollama_sandbox.url + "/_sandbox/engines", timeout=10).json()
    assert served["engines"] == engines


def test_without_the_engine_smollm2_is_a_made_up_pullable_model() -> None:
    with Sandbox(llm=False) as sb:
        assert MODEL not in sb.installed()
        assert post(sb, "/api/pull", {"model": MODEL, "stream": False}).json() == {
            "status": "success"}
        assert sb.engines()[MODEL] == "deterministic text"
        out = gen(sb, prompt="What is the capital of France?", options=GREEDY)
        assert out["response"] and sb.llm_engine is None


# ---- greedy answers equal llama.cpp's own ----


def test_generate_greedy_equals_llama_cpp(ollama_sandbox: Sandbox, direct: Any) -> None:
    out = gen(ollama_sandbox, prompt="What is the capital of France?", options={
        **GREEDY, "num_predict": 40})
    expected = direct.complete(user_prompt("What is the capital of France?"), 40)
    assert out["response"] == expected and expected
    assert out["prompt_eval_count"] == len(direct.tokens(
        user_prompt("What is the capital of France?"), bos=True))


def test_generate_with_system_equals_llama_cpp(ollama_sandbox: Sandbox, direct: Any) -> None:
    out = gen(ollama_sandbox, prompt="Name a colour.", system="Answer in one word.",
              options={**GREEDY, "num_predict": 24})
    assert out["response"] == direct.complete(
        user_prompt("Name a colour.", system="Answer in one word."), 24)


def test_raw_prompt_is_sent_as_is_with_special_tokens(ollama_sandbox: Sandbox,
                                                      direct: Any) -> None:
    prompt = ("<|im_start|>system\nYou are a poet.<|im_end|>\n<|im_start|>user\n"
              "A line about the sea.<|im_end|>\n<|im_start|>assistant\n")
    out = gen(ollama_sandbox, prompt=prompt, raw=True, options={**GREEDY, "num_predict": 32})
    assert out["response"] == direct.complete(prompt, 32)
    assert "context" not in out
    # the special tokens are parsed as tokens, not spelt out in pieces
    assert out["prompt_eval_count"] == len(direct.tokens(prompt, bos=True))
    assert direct.tokens("<|im_start|>") == [1]


def test_chat_greedy_equals_llama_cpp(ollama_sandbox: Sandbox, direct: Any) -> None:
    messages = [{"role": "system", "content": "You are brief."},
                {"role": "user", "content": "Hi!"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "What is two plus two?"}]
    out = chat(ollama_sandbox, messages=messages, options={**GREEDY, "num_predict": 32})
    prompt = ("<|im_start|>system\nYou are brief.\n<|im_start|>user\nHi!<|im_end|>\n"
              "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\n"
              "What is two plus two?<|im_end|>\n<|im_start|>assistant\n")
    assert out["message"] == {"role": "assistant", "content": direct.complete(prompt, 32)}


def test_seeded_sampling_equals_llama_cpp_with_the_same_settings(ollama_sandbox: Sandbox,
                                                                 direct: Any) -> None:
    options = {"temperature": 0.9, "top_k": 20, "top_p": 0.8, "min_p": 0.05, "seed": 7,
               "num_predict": 32}
    out = gen(ollama_sandbox, prompt="Tell me about cats.", options=options)
    expected = direct.complete(user_prompt("Tell me about cats."), 32, temperature=0.9,
                               top_k=20, top_p=0.8, min_p=0.05, seed=7, repeat_penalty=1.0)
    assert out["response"] == expected
    again = gen(ollama_sandbox, prompt="Tell me about cats.", options=options)
    assert again["response"] == out["response"]


def test_streaming_concatenates_to_the_whole_answer(ollama_sandbox: Sandbox) -> None:
    body = {"model": MODEL, "prompt": "List three fruits.", "options": {**GREEDY,
                                                                       "num_predict": 40}}
    whole = post(ollama_sandbox, "/api/generate", {**body, "stream": False}).json()
    chunks = lines(post(ollama_sandbox, "/api/generate", body, stream=True))
    assert len(chunks) > 5 and all(not c["done"] for c in chunks[:-1]) and chunks[-1]["done"]
    assert "".join(c["response"] for c in chunks) == whole["response"]
    assert chunks[-1]["eval_count"] == whole["eval_count"]
    assert chunks[-1]["context"] == whole["context"]
    chat_chunks = lines(post(ollama_sandbox, "/api/chat", {
        "model": MODEL, "messages": [{"role": "user", "content": "List three fruits."}],
        "options": {**GREEDY, "num_predict": 40}}, stream=True))
    assert "".join(c["message"]["content"] for c in chat_chunks) == whole["response"]


# ---- formats, stop, length ----


def test_a_schema_gives_json_that_validates(ollama_sandbox: Sandbox) -> None:
    schema = {"type": "object", "properties": {
        "name": {"type": "string"}, "age": {"type": "integer"}, "city": {"type": "string"}},
        "required": ["name", "age", "city"]}
    out = gen(ollama_sandbox, prompt="Describe a person called Ada.", format=schema,
              options={**GREEDY, "num_predict": 300})
    jsonschema.validate(json.loads(out["response"]), schema)
    assert out["done_reason"] == "stop"
    loose = chat(ollama_sandbox, messages=[{"role": "user", "content": "A city as JSON"}],
                 format="json", options={**GREEDY, "num_predict": 200})
    content = loose["message"]["content"]
    if loose["done_reason"] == "stop":
        assert isinstance(json.loads(content), dict)
    else:  # a small model may ramble on inside the object until num_predict cuts it
        assert content.lstrip().startswith("{") and loose["eval_count"] == 200


def test_stop_cuts_before_the_stop_string(ollama_sandbox: Sandbox, direct: Any) -> None:
    full = direct.complete(user_prompt("What is the capital of France?"), 40)
    word = "Paris"
    assert word in full
    out = gen(ollama_sandbox, prompt="What is the capital of France?",
              options={**GREEDY, "stop": [word]})
    assert out["response"] == full[: full.index(word)]
    assert out["done_reason"] == "stop"


def test_num_predict_cuts_with_done_reason_length(ollama_sandbox: Sandbox,
                                                  direct: Any) -> None:
    out = gen(ollama_sandbox, prompt="Write a story about a dragon.",
              options={**GREEDY, "num_predict": 5})
    assert out["done_reason"] == "length" and out["eval_count"] == 5
    assert out["response"] == direct.complete(user_prompt("Write a story about a dragon."), 5)


def test_an_answer_that_ends_says_stop(ollama_sandbox: Sandbox) -> None:
    out = gen(ollama_sandbox, prompt="What is the capital of France?", options=GREEDY)
    assert out["done_reason"] == "stop"
    assert 0 < out["eval_count"] < 100


# ---- context, metrics ----


def test_context_is_the_token_ids_and_continues_the_conversation(ollama_sandbox: Sandbox,
                                                                 direct: Any) -> None:
    first = gen(ollama_sandbox, prompt="My name is Ada.", options={**GREEDY,
                                                                   "num_predict": 16})
    prompt = user_prompt("My name is Ada.")
    assert first["context"] == direct.tokens(prompt + first["response"])
    second = gen(ollama_sandbox, prompt="What is my name?", context=first["context"],
                 options={**GREEDY, "num_predict": 16})
    continued = prompt + first["response"] + user_prompt("What is my name?")
    assert second["response"] == direct.complete(continued, 16)
    assert second["prompt_eval_count"] == len(direct.tokens(continued, bos=True))


def test_metrics_are_real_counts_and_durations(ollama_sandbox: Sandbox) -> None:
    out = gen(ollama_sandbox, prompt="Count to five.", options={**GREEDY, "num_predict": 12},
              keep_alive=0)
    assert out["eval_count"] == 12
    for key in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration"):
        assert isinstance(out[key], int) and out[key] > 0
    assert out["load_duration"] > 1_000_000  # a real load (keep_alive 0 unloaded the last)
    assert out["total_duration"] >= out["eval_duration"] + out["prompt_eval_duration"]


# ---- keep_alive, /api/ps, /api/show ----


def test_keep_alive_loads_and_unloads_for_real(ollama_sandbox: Sandbox) -> None:
    def ps() -> list[dict[str, Any]]:
        return list(requests.get(ollama_sandbox.url + "/api/ps", timeout=10).json()["models"])

    loaded = gen(ollama_sandbox, prompt="", keep_alive="1m")
    assert loaded["done_reason"] == "load"
    engine = ollama_sandbox.llm_engine
    assert engine.loaded
    [row] = ps()
    assert row["name"] == MODEL and row["size"] == engine.memory_size()
    assert row["size"] > engine.file_size and row["context_length"] == 4096
    assert gen(ollama_sandbox, prompt="", keep_alive=0)["done_reason"] == "unload"
    assert not engine.loaded and ps() == []
    gen(ollama_sandbox, prompt="Hi", keep_alive=1, options={**GREEDY, "num_predict": 2})
    assert engine.loaded and [r["name"] for r in ps()] == [MODEL]
    deadline = time.monotonic() + 30
    while engine.loaded and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not engine.loaded and ps() == []
    big = gen(ollama_sandbox, prompt="Hi", options={**GREEDY, "num_predict": 2,
                                                    "num_ctx": 1024})
    assert big["done"] and engine.context_length == 1024
    assert ps()[0]["context_length"] == 1024


def test_show_reads_the_gguf(ollama_sandbox: Sandbox) -> None:
    show = post(ollama_sandbox, "/api/show", {"model": MODEL}).json()
    info = show["model_info"]
    assert info["general.architecture"] == "llama"
    assert info["llama.block_count"] == 30 and info["llama.context_length"] == 8192
    assert info["tokenizer.ggml.model"] == "gpt2" and info["tokenizer.ggml.tokens"] is None
    assert info["general.parameter_count"] == 134515008
    assert "general.name" not in info and "tokenizer.chat_template" not in info
    assert show["details"]["family"] == "llama"
    assert show["details"]["parameter_size"] == "134.52M"
    assert show["details"]["quantization_level"] == "Q4_1"
    assert show["template"] == _smollm2.TEMPLATE
    assert show["capabilities"] == ["completion", "tools"]
    assert "SmolLM2" in show["license"] and "Apache License" in show["license"]
    assert "TERMS AND CONDITIONS" in show["license"]
    assert {"name": "token_embd.weight", "type": "Q8_0", "shape": [576, 49152]} in show[
        "tensors"]
    verbose = post(ollama_sandbox, "/api/show", {"model": MODEL, "verbose": True}).json()
    tokens = verbose["model_info"]["tokenizer.ggml.tokens"]
    assert len(tokens) == 49152 and tokens[1] == "<|im_start|>"


# ---- tools, logprobs ----


def test_tool_calls_are_parsed_from_the_models_output(ollama_sandbox: Sandbox,
                                                      direct: Any) -> None:
    tools = [{"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather for a city",
        "parameters": {"type": "object", "required": ["city"], "properties": {
            "city": {"type": "string", "description": "The name of the city"}}}}}]
    question = ('Copy this text: <tool_call>[\n{"name": "get_weather", "arguments": '
                '{"city": "Rome"}}\n]</tool_call>')
    out = chat(ollama_sandbox, messages=[{"role": "user", "content": question}], tools=tools,
               options={**GREEDY, "num_predict": 120})
    raw = direct.complete(_smollm2.render_messages(
        [{"role": "user", "content": question}], tools), 120)
    parser = _smollm2.ToolParser(tools)
    calls, content = parser.add(raw)
    assert out["message"]["content"] == content
    got = out["message"].get("tool_calls", [])
    assert [c["function"] for c in got] == [c["function"] for c in calls]
    assert all(c["id"].startswith("call_") for c in got)
    if _smollm2.TOOL_TAG in raw:  # what the model wrote on this CPU
        assert got and got[0]["function"]["arguments"] == {"city": "Rome"}


def test_logprobs_in_ollamas_shape(ollama_sandbox: Sandbox) -> None:
    chunks = lines(post(ollama_sandbox, "/api/generate", {
        "model": MODEL, "prompt": "Say yes.", "logprobs": True, "top_logprobs": 3,
        "options": {**GREEDY, "num_predict": 40}}, stream=True))
    probs = [lp for c in chunks for lp in c.get("logprobs", [])]
    # one per shown token (an end-of-turn token, which is not shown, has none)
    assert len(probs) in (chunks[-1]["eval_count"], chunks[-1]["eval_count"] - 1)
    text = "".join(c["response"] for c in chunks)
    assert "".join(p["token"] for p in probs) == text
    for p in probs:
        assert p["logprob"] <= 0 and len(p["top_logprobs"]) == 3
        assert p["bytes"] == list(p["token"].encode())
        # greedy: the chosen token is the most likely one
        assert p["top_logprobs"][0]["token"] == p["token"]
        assert p["top_logprobs"][0]["logprob"] == pytest.approx(p["logprob"])
        tops = [t["logprob"] for t in p["top_logprobs"]]
        assert tops == sorted(tops, reverse=True)
    whole = gen(ollama_sandbox, prompt="Say yes.", logprobs=True,
                options={**GREEDY, "num_predict": 40})
    assert [p["token"] for p in whole["logprobs"]] == [p["token"] for p in probs]
    assert "top_logprobs" not in whole["logprobs"][0]
    assert list(whole)[-7:] == ["logprobs", "total_duration", "load_duration",
                                "prompt_eval_count", "prompt_eval_duration", "eval_count",
                                "eval_duration"]


# ---- disconnects, concurrency ----


def test_a_disconnect_stops_generation_at_once(ollama_sandbox: Sandbox) -> None:
    gen(ollama_sandbox, prompt="", keep_alive="5m")  # loaded, so only generation counts
    engine = ollama_sandbox.llm_engine
    body = json.dumps({"model": MODEL, "prompt": "1, 2, 3, 4, 5, 6,", "raw": True,
                       "options": {**GREEDY, "num_predict": 3000}}).encode()
    sock = socket.create_connection(("127.0.0.1", ollama_sandbox.port), timeout=60)
    sock.sendall(b"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(body), body))
    seen = b""
    while seen.count(b'"done":false') < 5:
        seen += sock.recv(65536)
    sock.close()
    closed_at = engine.tokens_sampled
    # the engine stops before its next token; wait until it has let go of the model
    deadline = time.monotonic() + 30
    while not engine._lock.acquire(timeout=0.05):
        assert time.monotonic() < deadline
    engine._lock.release()
    stopped_at = engine.tokens_sampled
    time.sleep(0.5)
    assert engine.tokens_sampled == stopped_at
    assert stopped_at - closed_at <= 1  # at most the token being computed at the close
    record = [r for r in ollama_sandbox.requests if r.path == "/api/generate"][-1]
    assert record.disconnected or record.status == 200
    # the next request is served at once
    assert gen(ollama_sandbox, prompt="Hi", options={**GREEDY, "num_predict": 3})["done"]


def test_a_queued_request_whose_client_left_never_runs(ollama_sandbox: Sandbox) -> None:
    gen(ollama_sandbox, prompt="", keep_alive="5m")
    engine = ollama_sandbox.llm_engine
    long = {"model": MODEL, "prompt": "1, 2, 3,", "raw": True,
            "options": {**GREEDY, "num_predict": 60}}
    first = threading.Thread(target=post, args=(ollama_sandbox, "/api/generate",
                                                {**long, "stream": False}))
    before = engine.tokens_sampled
    first.start()
    deadline = time.monotonic() + 60
    while engine.tokens_sampled == before:  # the first request holds the model now
        assert time.monotonic() < deadline
        time.sleep(0.005)
    body = json.dumps({**long, "stream": False}).encode()
    sock = socket.create_connection(("127.0.0.1", ollama_sandbox.port), timeout=60)
    sock.sendall(b"POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
                 % (len(body), body))
    sock.close()  # leaves while the first request still holds the model
    first.join(timeout=120)
    time.sleep(0.3)
    assert not engine._lock.acquire(timeout=0) or engine._lock.release() is None
    assert engine.tokens_sampled <= 60 + 1 + 1


def test_ten_concurrent_chats_all_finish_correctly(ollama_sandbox: Sandbox,
                                                   direct: Any) -> None:
    questions = [f"What is {i} plus {i}?" for i in range(10)]
    results: dict[int, Any] = {}

    def ask(i: int) -> None:
        results[i] = chat(ollama_sandbox, messages=[{"role": "user", "content": questions[i]}],
                          options={**GREEDY, "num_predict": 16})

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert sorted(results) == list(range(10))
    for i, q in enumerate(questions):
        assert results[i]["message"]["content"] == direct.complete(user_prompt(q), 16), q
        assert results[i]["done"]

"""Model behaviour: determinism, options, thinking, tools, JSON, images, keep_alive,
names, embeddings meaning, blobs, create, concurrency."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time

import jsonschema
import numpy as np
import pytest
from sandbox_raw import raw_request


def _gen(url, **body):
    return raw_request(url, "POST", "/api/generate", {"stream": False, **body}).json()


def _chat(url, **body):
    return raw_request(url, "POST", "/api/chat", {"stream": False, **body})


# --- determinism and options -------------------------------------------------------------

def test_same_request_same_answer_and_seed_changes_it(ollama_sandbox):
    url = ollama_sandbox.url
    a = _gen(url, model="llama3.2", prompt="Describe the ocean", options={"seed": 1})
    b = _gen(url, model="llama3.2", prompt="Describe the ocean", options={"seed": 1})
    c = _gen(url, model="llama3.2", prompt="Describe the ocean", options={"seed": 2})
    d = _gen(url, model="llama3.2", prompt="Describe the ocean", options={"temperature": 0})
    assert a["response"] == b["response"]
    assert len({a["response"], c["response"], d["response"]}) == 3
    assert "ocean" in a["response"].lower()


def test_determinism_across_servers():
    from ollama_nb.sandbox import Sandbox

    answers = []
    for _ in range(2):
        with Sandbox(models=["llama3.2"]) as sb:
            answers.append(_gen(sb.url, model="llama3.2", prompt="Name three rivers")["response"])
    assert answers[0] == answers[1]


def test_num_predict_and_stop(ollama_sandbox):
    url = ollama_sandbox.url
    full = _gen(url, model="llama3.2", prompt="Explain volcanoes")
    short = _gen(url, model="llama3.2", prompt="Explain volcanoes", options={"num_predict": 5})
    assert short["done_reason"] == "length" and short["eval_count"] == 5
    assert full["response"].startswith(short["response"]) and short["response"]
    stop_word = full["response"].split()[3]
    stopped = _gen(url, model="llama3.2", prompt="Explain volcanoes",
                   options={"stop": [stop_word]})
    assert stopped["done_reason"] == "stop"
    assert stop_word not in stopped["response"]
    assert full["response"].startswith(stopped["response"])
    streamed = raw_request(url, "POST", "/api/generate",
                           {"model": "llama3.2", "prompt": "Explain volcanoes",
                            "options": {"num_predict": 5}}).lines()
    assert len(streamed) == 6 and streamed[-1]["done_reason"] == "length"


def test_load_and_unload_with_empty_prompt(ollama_sandbox):
    url = ollama_sandbox.url
    r = raw_request(url, "POST", "/api/generate", {"model": "llama3.2"})
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.json()["done_reason"] == "load"
    assert [m["name"] for m in raw_request(url, "GET", "/api/ps").json()["models"]] == [
        "llama3.2:latest"]
    r = raw_request(url, "POST", "/api/chat", {"model": "llama3.2", "keep_alive": 0})
    assert r.json()["done_reason"] == "unload"
    assert r.json()["message"] == {"role": "assistant", "content": ""}
    assert raw_request(url, "GET", "/api/ps").json()["models"] == []


def test_keep_alive_forms_and_expiry(ollama_sandbox):
    url = ollama_sandbox.url
    _gen(url, model="llama3.2", prompt="hi", keep_alive="1500ms")  # a Go duration
    _gen(url, model="qwen3", prompt="hi", keep_alive=-1)
    ps = raw_request(url, "GET", "/api/ps").json()["models"]
    assert [m["name"] for m in ps] == ["qwen3:latest", "llama3.2:latest"]  # longest first
    assert ps[0]["expires_at"].startswith("2") and int(ps[0]["expires_at"][:4]) > 2200
    for key in ("size", "digest", "details", "size_vram", "context_length"):
        assert key in ps[0]
    deadline = time.monotonic() + 15  # polled: a busy machine may take long to look again
    while len(names := [m["name"] for m in raw_request(url, "GET", "/api/ps").json()["models"]]) > 1:
        assert time.monotonic() < deadline, "llama3.2 outlived its keep_alive of 1.5 s"
        time.sleep(0.05)
    assert names == ["qwen3:latest"]
    _gen(url, model="llama3.2", prompt="hi", keep_alive=0)
    assert "llama3.2:latest" not in [m["name"] for m in
                                     raw_request(url, "GET", "/api/ps").json()["models"]]
    bad = raw_request(url, "POST", "/api/generate",
                      {"model": "llama3.2", "prompt": "x", "keep_alive": "300"})
    assert (bad.status, bad.json()["error"]) == (400, 'time: missing unit in duration "300"')
    bad = raw_request(url, "POST", "/api/generate",
                      {"model": "llama3.2", "prompt": "x", "keep_alive": True})
    assert bad.json()["error"] == "Unsupported type: 'bool'"


# --- thinking, tools, JSON --------------------------------------------------------------

def test_thinking_model_thinks_by_default_and_streams_thinking_first(ollama_sandbox):
    url = ollama_sandbox.url
    lines = raw_request(url, "POST", "/api/generate",
                        {"model": "qwen3", "prompt": "Why do cats purr?"}).lines()
    kinds = ["thinking" if line.get("thinking") else "response" for line in lines[:-1]]
    assert kinds[0] == "thinking" and "response" in kinds
    assert kinds == sorted(kinds, key=lambda k: k != "thinking")
    off = _gen(url, model="qwen3", prompt="Why do cats purr?", think=False)
    assert "thinking" not in off
    bad = raw_request(url, "POST", "/api/generate",
                      {"model": "qwen3", "prompt": "x", "think": "extreme"})
    assert bad.json()["error"] == ('invalid think value: "extreme" (must be "high", '
                                   '"medium", "low", "max", true, or false)')
    assert _gen(url, model="qwen3", prompt="x", think="high")["thinking"]
    assert "thinking" not in _gen(url, model="llama3.2", prompt="x", think=False)


TOOLS = [
    {"type": "function", "function": {
        "name": "get_current_weather", "description": "Get the weather for a city",
        "parameters": {"type": "object", "required": ["location", "format"], "properties": {
            "location": {"type": "string", "description": "City name"},
            "format": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}},
    {"type": "function", "function": {
        "name": "add_numbers", "description": "Add two numbers",
        "parameters": {"type": "object", "required": ["a", "b"], "properties": {
            "a": {"type": "integer"}, "b": {"type": "integer"}}}}},
]


def test_tool_calls_choose_tool_and_fill_arguments(ollama_sandbox):
    url = ollama_sandbox.url
    r = _chat(url, model="llama3.2", tools=TOOLS, messages=[
        {"role": "user", "content": "What is the weather in Paris in celsius?"}]).json()
    call = r["message"]["tool_calls"][0]
    assert r["message"]["content"] == ""
    assert call["function"]["name"] == "get_current_weather"
    assert call["function"]["arguments"] == {"location": "Paris", "format": "celsius"}
    assert call["id"].startswith("call_") and len(call["id"]) == 13
    r = _chat(url, model="llama3.2", tools=TOOLS, messages=[
        {"role": "user", "content": "Please add numbers 3 and 4"}]).json()
    assert r["message"]["tool_calls"][0]["function"]["arguments"] == {"a": 3, "b": 4}
    lines = raw_request(url, "POST", "/api/chat", {"model": "llama3.2", "tools": TOOLS,
                                                    "messages": [{"role": "user",
                                                                  "content": "Weather in Oslo?"}]
                                                    }).lines()
    assert lines[-2]["message"]["tool_calls"] and not lines[-2]["done"]
    assert lines[-1]["done"] and "tool_calls" not in lines[-1]["message"]


def test_tools_on_model_without_tools_is_400(ollama_sandbox):
    ollama_sandbox.install("gemma3:1b")
    r = _chat(ollama_sandbox.url, model="gemma3:1b", tools=TOOLS,
              messages=[{"role": "user", "content": "x"}])
    assert (r.status, r.json()["error"]) == (
        400, "registry.ollama.ai/library/gemma3:1b does not support tools")


def test_json_schema_output_validates(ollama_sandbox):
    schema = {
        "type": "object",
        "$defs": {"Address": {"type": "object", "properties": {
            "city": {"type": "string"}, "zip": {"type": "string", "minLength": 5}},
            "required": ["city", "zip"]}},
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer", "minimum": 18, "maximum": 30},
            "score": {"type": "number", "exclusiveMaximum": 1},
            "active": {"type": "boolean"},
            "role": {"enum": ["admin", "user"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2,
                     "maxItems": 4},
            "address": {"$ref": "#/$defs/Address"},
            "nickname": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "required": ["name", "age", "score", "active", "role", "tags", "address"],
    }
    for model in ("llama3.2", "qwen3"):
        r = _chat(ollama_sandbox.url, model=model, format=schema,
                  messages=[{"role": "user", "content": "John is 25 and lives in Oslo"}])
        jsonschema.validate(json.loads(r.json()["message"]["content"]), schema)
    plain = _gen(ollama_sandbox.url, model="llama3.2", prompt="a cat", format="json")
    assert isinstance(json.loads(plain["response"]), dict)
    bad = raw_request(ollama_sandbox.url, "POST", "/api/generate",
                      {"model": "llama3.2", "prompt": "x", "format": "yaml"})
    assert bad.status == 500 and bad.json()["error"].startswith("invalid format:")


# --- images --------------------------------------------------------------------------------

def test_images_decoded(ollama_sandbox):
    url = ollama_sandbox.url
    img = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(32)).decode()
    r = _gen(url, model="llama3.2", prompt="What is in this picture?", images=[img, img])
    assert "2 images" in r["response"]
    bad = raw_request(url, "POST", "/api/generate",
                      {"model": "llama3.2", "prompt": "x", "images": ["abc$"]})
    assert (bad.status, bad.json()["error"]) == (400, "illegal base64 data at input byte 3")
    bad = _chat(url, model="llama3.2",
                messages=[{"role": "user", "content": "x", "images": ["!!"]}])
    assert bad.status == 400 and bad.json()["error"].startswith("illegal base64 data")


# --- other request checks --------------------------------------------------------------------

def test_generate_request_checks(ollama_sandbox):
    url = ollama_sandbox.url

    def err(body):
        r = raw_request(url, "POST", "/api/generate", {"model": "llama3.2", **body})
        return r.status, r.json().get("error")

    assert err({"prompt": "x", "raw": True, "system": "s"}) == (
        400, "raw mode does not support template, system, or context")
    assert err({"prompt": "x", "top_logprobs": 21}) == (
        400, "top_logprobs must be between 0 and 20")
    assert err({"prompt": "x", "suffix": "y"}) == (
        400, "registry.ollama.ai/library/llama3.2:latest does not support insert")
    assert err({"model": "bad name!", "prompt": "x"}) == (400, "invalid model name")
    raw = _gen(url, model="llama3.2", prompt="x", raw=True)
    assert "context" not in raw


def test_names_are_case_insensitive_and_echoed(ollama_sandbox):
    url = ollama_sandbox.url
    r = _gen(url, model="LLAMA3.2:Latest", prompt="hello")
    assert r["model"] == "LLAMA3.2:Latest"
    full = _gen(url, model="registry.ollama.ai/library/llama3.2:latest", prompt="hello")
    assert full["done"]
    assert raw_request(url, "POST", "/api/show", {"model": "llama3.2:cloud"}).status == 404


# --- embeddings ----------------------------------------------------------------------------

def test_shared_words_are_closer(ollama_sandbox):
    texts = ["the battery life of this phone is great",
             "phone battery lasts all day",
             "the recipe needs two eggs and flour"]
    for model in ("nomic-embed-text", "all-minilm"):
        r = raw_request(ollama_sandbox.url, "POST", "/api/embed",
                        {"model": model, "input": texts}).json()
        v = np.array(r["embeddings"])
        assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.1
        assert r["prompt_eval_count"] > 0


def test_embed_options(ollama_sandbox):
    url = ollama_sandbox.url
    r = raw_request(url, "POST", "/api/embed",
                    {"model": "nomic-embed-text", "input": "hello", "dimensions": 64}).json()
    assert len(r["embeddings"][0]) == 64
    assert abs(np.linalg.norm(r["embeddings"][0]) - 1) < 1e-5
    assert raw_request(url, "POST", "/api/embed", {"model": "nomic-embed-text",
                                                    "input": []}).json() == {
        "model": "nomic-embed-text", "embeddings": []}
    bad = raw_request(url, "POST", "/api/embed", {"model": "nomic-embed-text", "input": [1]})
    assert (bad.status, bad.json()["error"]) == (400, "invalid input type")
    long_text = "word " * 5000
    bad = raw_request(url, "POST", "/api/embed", {"model": "nomic-embed-text",
                                                   "input": long_text, "truncate": False})
    assert (bad.status, bad.json()["error"]) == (400,
                                                 "the input length exceeds the context length")
    ok = raw_request(url, "POST", "/api/embed", {"model": "nomic-embed-text",
                                                  "input": long_text})
    assert ok.status == 200 and ok.headers["transfer-encoding"] == "chunked"
    assert raw_request(url, "POST", "/api/embeddings",
                       {"model": "nomic-embed-text"}).json() == {"embedding": []}
    assert raw_request(url, "POST", "/api/embeddings", {"prompt": "x"}).json() == {
        "error": "model is required"}


def test_engines_reported(ollama_sandbox):
    engines = raw_request(ollama_sandbox.url, "GET", "/_sandbox/engines").json()["engines"]
    assert engines == ollama_sandbox.engines()
    assert engines["nomic-embed-text:latest"] == "word-overlap"
    assert engines["all-minilm:latest"] in ("word-overlap", "minilm (all-MiniLM-L6-v2, numpy)")


# --- tags / show ---------------------------------------------------------------------------

def test_tags_and_show_fields(ollama_sandbox):
    url = ollama_sandbox.url
    tags = raw_request(url, "GET", "/api/tags").json()["models"]
    for entry in tags:
        assert len(entry["digest"]) == 64 and ":" not in entry["digest"]
        assert set(entry["details"]) >= {"parent_model", "format", "family", "families",
                                          "parameter_size", "quantization_level"}
        assert entry["name"] == entry["model"]
    seconds = [e["modified_at"][:19] for e in tags]  # sorted at second resolution
    assert sorted(seconds, reverse=True) == seconds
    minilm = next(e for e in tags if e["name"] == "all-minilm:latest")
    assert minilm["details"]["embedding_length"] == 384
    show = raw_request(url, "POST", "/api/show", {"model": "llama3.2"})
    body = show.json()
    assert show.headers["transfer-encoding"] == "chunked"  # > 2 KB, like the real one
    assert b"\\u003c|eot_id|\\u003e" in show.body  # Go's HTML escaping
    assert body["model_info"]["general.architecture"] == "llama"
    assert body["model_info"]["llama.context_length"] == 131072
    assert body["parameters"].splitlines()[0] == 'stop                           "<|start_header_id|>"'
    assert body["modelfile"].startswith('# Modelfile generated by "ollama show"')
    assert body["capabilities"] == ["completion", "tools"]
    verbose = raw_request(url, "POST", "/api/show", {"model": "all-minilm", "verbose": True})
    assert len(verbose.json()["model_info"]["tokenizer.ggml.tokens"]) == 30522
    assert raw_request(url, "POST", "/api/show", {}).json() == {"error": "model is required"}


# --- blobs and create -------------------------------------------------------------------------

def test_blobs(ollama_sandbox):
    url = ollama_sandbox.url
    data = b"some model bytes"
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert raw_request(url, "HEAD", f"/api/blobs/{digest}").status == 404
    assert raw_request(url, "POST", f"/api/blobs/{digest}", data=data).status == 201
    assert raw_request(url, "HEAD", f"/api/blobs/{digest}").status == 200
    assert raw_request(url, "POST", f"/api/blobs/{digest}", data=data).status == 200
    other = "sha256:" + "0" * 64
    r = raw_request(url, "POST", f"/api/blobs/{other}", data=data)
    assert (r.status, r.json()["error"]) == (
        400, f'digest mismatch, expected "{other}", got "{digest}"')
    r = raw_request(url, "HEAD", "/api/blobs/sha256:xyz")
    assert r.status == 400
    assert raw_request(url, "POST", "/api/blobs/md5:abc", data=data).json() == {
        "error": "invalid digest format"}


def test_create_forms_and_errors(ollama_sandbox):
    url = ollama_sandbox.url
    lines = raw_request(url, "POST", "/api/create", {
        "model": "pirate", "from": "llama3.2", "system": "Talk like a pirate.",
        "parameters": {"temperature": 0.2}, "license": ["MIT", "Apache"],
        "messages": [{"role": "user", "content": "ahoy"}]}).lines()
    statuses = [line["status"] for line in lines]
    assert statuses[-2:] == ["writing manifest", "success"]
    assert any(s.startswith("using existing layer sha256:") for s in statuses)
    assert any(s.startswith("creating new layer sha256:") for s in statuses)
    show = raw_request(url, "POST", "/api/show", {"model": "pirate"}).json()
    assert show["system"] == "Talk like a pirate." and show["license"] == "MIT\nApache"
    assert show["messages"] == [{"role": "user", "content": "ahoy"}]
    assert "temperature                    0.2" in show["parameters"]
    r = raw_request(url, "POST", "/api/create", {"model": "mario", "stream": False,
                                                  "modelfile": 'FROM llama3.2\nSYSTEM """You '
                                                  'are Mario."""\nPARAMETER stop "<x>"\n'
                                                  "PARAMETER stop </x>\n"})
    assert (r.status, r.json(), r.headers["content-type"]) == (200, {"status": "success"},
                                                               "application/json")
    show = raw_request(url, "POST", "/api/show", {"model": "mario"}).json()
    assert show["system"] == "You are Mario."
    assert '"<x>"' in show["parameters"] and '"</x>"' in show["parameters"]

    def err(body):
        r = raw_request(url, "POST", "/api/create", {"model": "z", **body})
        return r.status, r.json()["error"]

    assert err({}) == (400, "neither 'from' or 'files' was specified")
    assert err({"files": {"/etc/x.gguf": "sha256:" + "1" * 64}}) == (
        400, "file path must be relative")
    assert err({"files": {"x.gguf": ""}}) == (400, "invalid digest format")
    assert err({"files": {"x.gguf": "sha256:" + "1" * 64}})[0] == 400
    assert err({"model": "bad name!", "from": "llama3.2"}) == (400, "invalid model name")
    assert err({"modelfile": "FROM llama3.2\nPARAMETER bogus 1"}) == (
        400, "unknown parameter 'bogus'")
    # creating from a catalogue model that is not installed pulls it first
    lines = raw_request(url, "POST", "/api/create", {"model": "g", "from": "gemma3:1b"}).lines()
    assert lines[0] == {"status": "pulling manifest"} and lines[-1] == {"status": "success"}


def test_copy_delete_errors(ollama_sandbox):
    url = ollama_sandbox.url
    r = raw_request(url, "POST", "/api/copy", {"source": "llama3.2", "destination": "a b"})
    assert (r.status, r.json()["error"]) == (400, 'destination "a b" is invalid')
    r = raw_request(url, "POST", "/api/copy", {"source": "llama3.2", "destination": "me/l3"})
    assert (r.status, r.body, r.headers.get("content-length")) == (200, b"", "0")
    assert "me/l3:latest" in [m["name"] for m in raw_request(url, "GET", "/api/tags").json()[
        "models"]]
    r = raw_request(url, "DELETE", "/api/delete", {"model": "a b"})
    assert (r.status, r.json()["error"]) == (400, 'name "a b" is invalid')
    assert raw_request(url, "DELETE", "/api/delete", {}).json() == {"error": "model is required"}


def test_pull_stream_false_and_invalid(ollama_sandbox):
    url = ollama_sandbox.url
    r = raw_request(url, "POST", "/api/pull", {"model": "nothing-here", "stream": False})
    assert (r.status, r.json()) == (500, {"error": "pull model manifest: file does not exist"})
    assert r.headers["content-type"] == "application/json"
    lines = raw_request(url, "POST", "/api/pull", {"model": "nothing-here"}).lines()
    assert lines == [{"status": "pulling manifest"},
                     {"error": "pull model manifest: file does not exist"}]
    assert raw_request(url, "POST", "/api/pull", {}).json() == {"error": "invalid model name"}
    assert raw_request(url, "POST", "/api/push", {}).json() == {"error": "model is required"}
    lines = raw_request(url, "POST", "/api/pull", {"model": "mxbai-embed-large"}).lines()
    ticks = [line for line in lines if line["status"].startswith("pulling ")
             and line["status"] != "pulling manifest"]
    big = [t for t in ticks if t["total"] > 1_000_000]
    assert "completed" not in big[0]
    completed = [t["completed"] for t in big[1:]]
    assert completed == sorted(completed) and completed[-1] == big[0]["total"]
    lines = raw_request(url, "POST", "/api/push", {"model": "nothing-here"}).lines()
    assert lines[:2] == [{"status": "retrieving manifest"},
                         {"status": "couldn't retrieve manifest"}]
    assert "error" in lines[-1]


def test_host_header_check(ollama_sandbox):
    url = ollama_sandbox.url
    assert raw_request(url, "GET", "/api/tags", headers={"Host": "evil.example.com"}).status \
        == 403
    assert raw_request(url, "GET", "/api/tags", headers={"Host": "localhost:11434"}).status \
        == 200


# --- concurrency ---------------------------------------------------------------------------

def test_concurrent_streams(ollama_sandbox):
    ollama_sandbox.token_delay = 0.005
    url = ollama_sandbox.url
    results: dict[int, str] = {}

    def worker(i: int) -> None:
        lines = raw_request(url, "POST", "/api/generate",
                            {"model": "llama3.2", "prompt": f"Topic number {i}"}).lines()
        results[i] = "".join(line["response"] for line in lines)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 8
    for i, text in results.items():
        assert text == _gen(url, model="llama3.2", prompt=f"Topic number {i}")["response"]


@pytest.mark.parametrize("schema", [
    {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
    {"type": "integer", "exclusiveMinimum": 5},
    {"type": "number", "exclusiveMaximum": -3},
    {"type": "integer", "minimum": 3, "maximum": 3},
    {"type": "number", "minimum": 0.001, "maximum": 0.002},
    {"type": "string", "minLength": 40, "maxLength": 45},
    {"type": "array", "items": {"type": "boolean"}, "minItems": 5},
    {"type": ["string", "null"], "format": "date"},
])
def test_schema_bounds_respected(ollama_sandbox, schema):
    for seed in range(5):
        r = _gen(ollama_sandbox.url, model="llama3.2", prompt="value please", format=schema,
                 options={"seed": seed})
        jsonschema.validate(json.loads(r["response"]), schema)

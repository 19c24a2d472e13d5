"""The native API where the sandbox used to differ from a real Ollama (issue 14, section 2):
logprobs, several tool calls in one turn, JSON that follows the prompt, capabilities that
follow the template, create from a model that is not local, float32 embeddings, the
version, and 405 on the /v1 paths. Each test failed against the sandbox before."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import ollama
import pytest
from pydantic import BaseModel
from sample_tools import TIME, WEATHER
from sandbox_raw import raw_request

ADD = {"type": "function", "function": {
    "name": "add", "description": "Add two integers",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"},
                                                   "b": {"type": "integer"}},
                   "required": ["a", "b"]}}}
MULTIPLY = {"type": "function", "function": {
    "name": "multiply", "description": "Multiply two integers",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"},
                                                   "b": {"type": "integer"}},
                   "required": ["a", "b"]}}}


def _post(url, path, body):
    return raw_request(url, "POST", path, body)


# --- logprobs ------------------------------------------------------------------------------


def _check_logprobs(entries, text, top):
    assert entries, "no logprobs"
    assert "".join(e["token"] for e in entries) == text
    for e in entries:
        assert set(e) == ({"token", "logprob", "bytes", "top_logprobs"} if top
                          else {"token", "logprob", "bytes"})
        assert e["logprob"] <= 0 and e["bytes"] == list(e["token"].encode())
        if top:
            alts = e["top_logprobs"]
            assert len(alts) == top and alts[0]["token"] == e["token"]
            assert alts[0]["logprob"] == e["logprob"]
            assert [a["logprob"] for a in alts] == sorted((a["logprob"] for a in alts),
                                                         reverse=True)
            assert len({a["token"] for a in alts}) == top
            assert sum(math.exp(a["logprob"]) for a in alts) <= 1 + 1e-9


@pytest.mark.parametrize("top", [0, 3])
def test_generate_logprobs_streamed_and_whole(ollama_sandbox, top):
    body = {"model": "llama3.2", "prompt": "Why is the sky blue?", "logprobs": True,
            "top_logprobs": top, "options": {"num_predict": 12}}
    whole = _post(ollama_sandbox.url, "/api/generate", {**body, "stream": False}).json()
    _check_logprobs(whole["logprobs"], whole["response"], top)
    assert list(whole)[-1] == "logprobs"  # GenerateResponse: after the metrics
    lines = _post(ollama_sandbox.url, "/api/generate", body).lines()
    assert all(len(line["logprobs"]) == 1 for line in lines[:-1])
    assert "logprobs" not in lines[-1]
    streamed = [e for line in lines[:-1] for e in line["logprobs"]]
    assert streamed == whole["logprobs"]


def test_chat_logprobs_cover_thinking_and_content(ollama_sandbox):
    body = {"model": "qwen3", "messages": [{"role": "user", "content": "Name a colour"}],
            "logprobs": True, "top_logprobs": 2, "stream": False}
    reply = _post(ollama_sandbox.url, "/api/chat", body).json()
    msg = reply["message"]
    _check_logprobs(reply["logprobs"], msg["thinking"] + msg["content"], 2)
    keys = list(reply)
    assert keys.index("done_reason") < keys.index("logprobs") < keys.index("total_duration")


def test_no_logprobs_unless_asked(ollama_sandbox):
    reply = _post(ollama_sandbox.url, "/api/chat", {
        "model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "stream": False,
        "top_logprobs": 5}).json()
    assert "logprobs" not in reply


def test_official_client_reads_logprobs(ollama_sandbox):
    client = ollama.Client(host=ollama_sandbox.url)
    reply = client.chat("llama3.2", [{"role": "user", "content": "Say hello"}], logprobs=True,
                        top_logprobs=2)
    assert reply.logprobs and reply.logprobs[0].top_logprobs[0].token == reply.logprobs[0].token


# --- several tool calls ----------------------------------------------------------------------


def _calls(url, content, tools, stream=False):
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": content}],
            "tools": tools, "stream": stream}
    if not stream:
        return _post(url, "/api/chat", body).json()["message"]["tool_calls"]
    lines = _post(url, "/api/chat", body).lines()
    return [c for line in lines for c in line["message"].get("tool_calls", [])]


def test_every_named_tool_is_called_in_order_with_its_own_arguments(ollama_sandbox):
    calls = _calls(ollama_sandbox.url,
                   "What is the weather in Paris and what time is it in Tokyo?", [TIME, WEATHER])
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {"city": "Tokyo"})]
    assert [c["function"]["index"] for c in calls] == [0, 1]
    assert len({c["id"] for c in calls}) == 2


def test_numbers_go_to_the_tool_they_belong_to(ollama_sandbox):
    calls = _calls(ollama_sandbox.url, "Add 3 and 4, then multiply 6 by 7", [MULTIPLY, ADD],
                   stream=True)
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("add", {"a": 3, "b": 4}), ("multiply", {"a": 6, "b": 7})]


def test_one_tool_for_several_places_is_called_for_each(ollama_sandbox):
    calls = _calls(ollama_sandbox.url, "What's the weather in Paris, Rome and Oslo?", [WEATHER])
    assert [c["function"]["arguments"]["city"] for c in calls] == ["Paris", "Rome", "Oslo"]


def test_a_prompt_naming_no_tool_still_gets_the_best_one(ollama_sandbox):
    calls = _calls(ollama_sandbox.url, "Is it going to rain in Lisbon?", [TIME, WEATHER])
    assert len(calls) == 1 and calls[0]["function"]["name"] == "get_weather"
    assert calls[0]["function"]["arguments"] == {"city": "Lisbon"}


# --- format: JSON that follows the prompt ----------------------------------------------------


def _json(url, prompt, fmt="json", system=None):
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": prompt}]
    reply = _post(url, "/api/chat", {"model": "llama3.2", "messages": messages, "format": fmt,
                                     "stream": False}).json()
    return json.loads(reply["message"]["content"])


def test_json_uses_the_keys_the_prompt_names(ollama_sandbox):
    value = _json(ollama_sandbox.url,
                  "Return JSON with keys name, age and city: Ada Lovelace is 36 and lives in "
                  "London.")
    assert value == {"name": "Ada Lovelace", "age": 36, "city": "London"}


def test_json_follows_an_example_in_the_prompt(ollama_sandbox):
    value = _json(ollama_sandbox.url, 'Answer in JSON like {"country": "...", "population": 0, '
                                      '"cities": ["..."]}. Norway has 5500000 people.')
    assert set(value) == {"country", "population", "cities"}
    assert value["country"] == "Norway" and value["population"] == 5500000
    assert isinstance(value["cities"], list)


def test_json_answers_a_function_list_with_a_function_call(ollama_sandbox):
    # litellm's prompt for models it thinks cannot call tools (a system message after the
    # question, functions printed as Python dicts)
    system = ('Produce JSON OUTPUT ONLY! Adhere to this format {"name": "function_name", '
              '"arguments":{"argument_name": "argument_value"}} The following functions are '
              f"available to you:\n{WEATHER}\n{TIME}\n")
    value = _json(ollama_sandbox.url, "What time is it in Tokyo?", system=system)
    assert value == {"name": "get_time", "arguments": {"city": "Tokyo"}}
    llama_style = 'Respond in the format {"name": function name, "parameters": dictionary}.'
    value = _json(ollama_sandbox.url, f"{llama_style}\n{json.dumps(WEATHER)}\nWeather in Oslo?")
    assert value == {"name": "get_weather", "parameters": {"city": "Oslo"}}


def test_json_without_instructions_is_still_an_object(ollama_sandbox):
    value = _json(ollama_sandbox.url, "Why is the sky blue?")
    assert isinstance(value, dict) and value


class Person(BaseModel):
    name: str
    age: int


def test_schema_values_come_from_the_prompt(ollama_sandbox):
    client = ollama.Client(host=ollama_sandbox.url)
    reply = client.chat("llama3.2", [{"role": "user", "content": "Ada Lovelace is 36 years old."}],
                        format=Person.model_json_schema())
    assert Person.model_validate_json(reply.message.content) == Person(name="Ada Lovelace",
                                                                       age=36)


def test_schema_arrays_get_one_item_per_person(ollama_sandbox):
    schema = {"type": "object", "properties": {"people": {"type": "array",
                                                          "items": Person.model_json_schema()}},
              "required": ["people"]}
    value = _json(ollama_sandbox.url, "Ada Lovelace is 36 and Alan Turing is 41.", schema)
    assert value == {"people": [{"name": "Ada Lovelace", "age": 36},
                                {"name": "Alan Turing", "age": 41}]}


def test_schema_values_out_of_bounds_fall_back_to_valid_ones(ollama_sandbox):
    schema = {"type": "object", "properties": {"age": {"type": "integer", "maximum": 10}},
              "required": ["age"]}
    value = _json(ollama_sandbox.url, "Ada Lovelace is 36 years old.", schema)
    assert 0 <= value["age"] <= 10


# --- capabilities follow the template ---------------------------------------------------------


def _show(url, model):
    return _post(url, "/api/show", {"model": model}).json()


@pytest.mark.ollama_sandbox(models=["qwen3", "qwen2.5-coder:1.5b", "gpt-oss", "deepseek-r1",
                                    "llama3", "llama3.2"])
def test_templates_carry_the_capabilities(ollama_sandbox):
    url = ollama_sandbox.url
    for model, caps in [("qwen3", ["completion", "tools", "thinking"]),
                        ("qwen2.5-coder:1.5b", ["completion", "tools", "insert"]),
                        ("gpt-oss", ["completion", "tools", "thinking"]),
                        ("deepseek-r1", ["completion", "thinking"]),
                        ("llama3", ["completion"]), ("llama3.2", ["completion", "tools"])]:
        show = _show(url, model)
        assert show["capabilities"] == caps
        template = show["template"]
        # what litellm checks to decide tool support, and what the real server parses
        assert ("tools" in template.lower()) == ("tools" in caps), model
        assert (".Suffix" in template) == ("insert" in caps), model
    assert "<think>{{ .Thinking }}</think>" in _show(url, "qwen3")["template"]


def _create(url, **body):
    return _post(url, "/api/create", {"stream": False, **body})


def test_create_recomputes_capabilities_from_a_new_template(ollama_sandbox):
    url = ollama_sandbox.url
    assert _create(url, model="plain-qwen", **{"from": "qwen3"},
                   template="{{ .System }}{{ .Prompt }}").status == 200
    assert _show(url, "plain-qwen")["capabilities"] == ["completion"]
    refused = _post(url, "/api/chat", {"model": "plain-qwen", "stream": False, "tools": [WEATHER],
                                       "messages": [{"role": "user", "content": "hi"}]})
    assert refused.status == 400
    assert refused.json() == {"error": "registry.ollama.ai/library/plain-qwen:latest does not "
                                       "support tools"}
    think = _post(url, "/api/chat", {"model": "plain-qwen", "think": True, "stream": False,
                                     "messages": [{"role": "user", "content": "hi"}]})
    assert think.status == 400
    tooled = ("{{ if .Tools }}{{ range .Tools }}{{ . }}{{ end }}{{ end }}"
              "{{ range .Messages }}{{ if .Thinking }}<think>{{ .Thinking }}</think>{{ end }}"
              "{{ .Content }}{{ end }}{{ if .Suffix }}{{ .Suffix }}{{ end }}")
    assert _create(url, model="gemma-tools", **{"from": "gemma3:1b"},
                   template=tooled).status == 200
    assert _show(url, "gemma-tools")["capabilities"] == ["completion", "tools", "insert",
                                                         "thinking"]
    assert _post(url, "/api/generate", {"model": "gemma-tools", "prompt": "def f(",
                                        "suffix": "return 1", "stream": False}).status == 200


def test_tags_list_the_derived_capabilities(ollama_sandbox):
    _create(ollama_sandbox.url, model="bare", **{"from": "llama3.2"}, template="{{ .Prompt }}")
    tags = {m["name"]: m["capabilities"]
            for m in raw_request(ollama_sandbox.url, "GET", "/api/tags").json()["models"]}
    assert tags["bare:latest"] == ["completion"]
    assert tags["llama3.2:latest"] == ["completion", "tools"]


# --- create from a model that is not local ---------------------------------------------------


def test_create_from_an_unknown_model_reports_the_pull_error(ollama_sandbox):
    url = ollama_sandbox.url
    streamed = _post(url, "/api/create", {"model": "mine", "from": "no-such-model"})
    assert streamed.status == 200
    assert streamed.lines() == [{"status": "pulling manifest"},
                                {"error": "pull model manifest: file does not exist"}]
    whole = _create(url, model="mine", **{"from": "no-such-model"})
    assert (whole.status, whole.json()) == (500, {"error": "pull model manifest: file does not "
                                                           "exist"})
    assert "mine:latest" not in ollama_sandbox.installed()


def test_create_from_a_library_model_pulls_it_first(ollama_sandbox):
    lines = _post(ollama_sandbox.url, "/api/create", {"model": "mini", "from": "gemma3:1b"}
                  ).lines()
    assert lines[0] == {"status": "pulling manifest"} and lines[-1] == {"status": "success"}
    assert {"gemma3:1b", "mini:latest"} <= set(ollama_sandbox.installed())


# --- embeddings in float32's shortest form -----------------------------------------------------

_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")


@pytest.mark.ollama_sandbox(minilm=False)
def test_embed_writes_float32_shortest_digits(ollama_sandbox):
    raw = _post(ollama_sandbox.url, "/api/embed", {"model": "nomic-embed-text",
                                                   "input": ["hello world", "a b c"]})
    vectors = raw.json()["embeddings"]
    text = raw.body[raw.body.index(b"[[") + 2: raw.body.index(b"]]")]
    numbers = _NUMBER.findall(text)
    assert len(numbers) == 2 * 768
    for token in numbers:
        value = np.float32(float(token))
        assert token.decode() == np.format_float_positional(value, unique=True, trim="-") or \
            b"e" in token  # the shortest digits that give back the same float32
    float64_size = len(json.dumps(np.asarray(vectors, dtype=np.float32).tolist()))
    assert len(text) < 0.6 * float64_size  # what json.dumps makes of float32 values
    norms = np.linalg.norm(np.asarray(vectors, dtype=np.float32), axis=1)
    assert np.allclose(norms, 1, atol=1e-6)


def test_legacy_embeddings_stay_float64(ollama_sandbox):
    raw = _post(ollama_sandbox.url, "/api/embeddings", {"model": "nomic-embed-text",
                                                        "prompt": "hello"})
    digits = [len(t.split(b".")[-1]) for t in _NUMBER.findall(raw.body)]
    assert max(digits) > 9  # widened to float64, as the real server writes it


# --- version and methods --------------------------------------------------------------------


def test_version_is_the_one_the_sandbox_follows(call):
    assert call("GET", "/api/version").json() == {"version": "0.33.0"}


@pytest.mark.parametrize("method,path", [
    ("GET", "/v1/chat/completions"), ("GET", "/v1/completions"), ("PUT", "/v1/embeddings"),
    ("POST", "/v1/models"), ("DELETE", "/v1/models/llama3.2"), ("GET", "/v1/responses"),
    ("GET", "/v1/messages")])
def test_wrong_methods_on_v1_paths_are_405(call, method, path):
    reply = call(method, path)
    assert (reply.status, reply.body) == (405, b"405 method not allowed")
    assert reply.headers["content-type"] == "text/plain"


def test_unknown_v1_paths_are_404(call):
    for path in ("/v1/messages/count_tokens", "/v1/models/library/llama3.2", "/v1/foo"):
        reply = call("POST", path)
        assert (reply.status, reply.body) == (404, b"404 page not found"), path


def test_float32_text_is_gos_spelling():
    from ollama_nb.sandbox._wire import Float32Rows

    values = [0.1, 1e-7, 1.234e-5, 0.0, -0.0, 1.0, -3.0, 1e21, 123456.78, 1.2345678e6,
              9.780945e-10, 0.00012345678]
    # what Go's encoding/json writes for these float32 values (strconv 'f'/'e', bits=32)
    go = ["0.1", "1e-7", "0.00001234", "0", "-0", "1", "-3", "1e+21", "123456.78",
          "1234567.8", "9.780945e-10", "0.00012345678"]
    rows = Float32Rows(np.asarray([values], dtype=np.float32))
    assert rows.raw().text == "[[" + ",".join(go) + "]]"

"""The official ``ollama`` Python client against the sandbox: every local method."""

from __future__ import annotations

import json

import jsonschema
import pytest

ollama = pytest.importorskip("ollama")


@pytest.fixture
def client(ollama_sandbox):
    return ollama.Client(host=ollama_sandbox.url)


def test_list_show_ps(client):
    names = [m.model for m in client.list().models]
    assert "llama3.2:latest" in names and "all-minilm:latest" in names
    info = client.show("llama3.2")
    assert info.details.family == "llama" and info.modelinfo is not None
    assert "completion" in info.capabilities
    assert client.ps().models == []
    client.generate("llama3.2", "hi")
    running = client.ps().models
    assert [m.model for m in running] == ["llama3.2:latest"]
    assert running[0].expires_at is not None


def test_generate_streamed_and_not(client):
    whole = client.generate("llama3.2", "Explain rainbows", options={"seed": 3})
    parts = list(client.generate("llama3.2", "Explain rainbows", options={"seed": 3},
                                 stream=True))
    assert "".join(p.response for p in parts) == whole.response
    assert parts[-1].done and parts[-1].done_reason == "stop" and whole.eval_count > 0


def test_chat_streamed_and_not(client):
    msgs = [{"role": "user", "content": "Name a fruit"}]
    whole = client.chat("llama3.2", messages=msgs)
    parts = list(client.chat("llama3.2", messages=msgs, stream=True))
    assert "".join(p.message.content for p in parts) == whole.message.content
    assert whole.message.role == "assistant"


def test_format_json_and_schema(client):
    r = client.generate("llama3.2", "Describe a cat", format="json")
    assert isinstance(json.loads(r.response), dict)
    schema = {"type": "object",
              "properties": {"name": {"type": "string"}, "age": {"type": "integer",
                                                                 "minimum": 0},
                             "tags": {"type": "array", "items": {"type": "string"}},
                             "kind": {"enum": ["cat", "dog"]}},
              "required": ["name", "age", "tags", "kind"]}
    r = client.chat("llama3.2", messages=[{"role": "user", "content": "A pet"}], format=schema)
    jsonschema.validate(json.loads(r.message.content), schema)
    streamed = "".join(p.message.content for p in client.chat(
        "llama3.2", messages=[{"role": "user", "content": "A pet"}], format=schema,
        stream=True))
    jsonschema.validate(json.loads(streamed), schema)


def test_think(client):
    r = client.chat("qwen3", messages=[{"role": "user", "content": "Why is ice slippery?"}],
                    think=True)
    assert r.message.thinking and r.message.content
    assert r.message.thinking not in r.message.content
    r = client.generate("qwen3", "Why is ice slippery?", think=False)
    assert not r.thinking
    with pytest.raises(ollama.ResponseError) as err:
        client.chat("llama3.2", messages=[{"role": "user", "content": "x"}], think=True)
    assert err.value.status_code == 400
    assert err.value.error == '"llama3.2" does not support thinking'


def test_tools(client):
    def get_weather(city: str) -> str:
        """Get the current weather for a city.

        Args:
          city: The name of the city
        """
        return "sunny"

    r = client.chat("qwen3", messages=[{"role": "user",
                                        "content": "What is the weather in Paris?"}],
                    tools=[get_weather], think=False)
    call = r.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert call.function.arguments == {"city": "Paris"}
    follow = client.chat("qwen3", think=False, tools=[get_weather], messages=[
        {"role": "user", "content": "What is the weather in Paris?"},
        r.message,
        {"role": "tool", "content": "sunny, 21 degrees", "tool_name": "get_weather"},
    ])
    assert "sunny, 21 degrees" in follow.message.content
    with pytest.raises(ollama.ResponseError) as err:
        client.chat("llama3", messages=[{"role": "user", "content": "x"}], tools=[get_weather])
    assert err.value.status_code == 404  # llama3 is not installed
    client.pull("gemma3:1b")
    with pytest.raises(ollama.ResponseError) as err:
        client.chat("gemma3:1b", messages=[{"role": "user", "content": "x"}],
                    tools=[get_weather])
    assert (err.value.status_code, err.value.error) == (
        400, "registry.ollama.ai/library/gemma3:1b does not support tools")


def test_embed_and_embeddings(client):
    r = client.embed("all-minilm", ["the cat sat", "a cat sat down", "stock markets fell"])
    assert len(r.embeddings) == 3 and len(r.embeddings[0]) == 384
    legacy = client.embeddings("nomic-embed-text", "hello")
    assert len(legacy.embedding) == 768


def test_pull_push_streamed(client):
    statuses = [p.status for p in client.pull("gemma3:1b", stream=True)]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert any(s.startswith("pulling ") and len(s) == len("pulling ") + 12 for s in statuses)
    assert client.pull("gemma3:1b").status == "success"
    pushed = [p.status for p in client.push("llama3.2", stream=True)]
    assert pushed[0] == "retrieving manifest" and pushed[-2:] == ["pushing manifest", "success"]
    with pytest.raises(ollama.ResponseError) as err:
        client.pull("no-such-model")
    assert err.value.status_code == 500
    with pytest.raises(ollama.ResponseError) as err:
        list(client.pull("no-such-model", stream=True))
    assert err.value.error == "pull model manifest: file does not exist"


def test_create_from_and_files(client, tmp_path):
    r = client.create("mario", from_="llama3.2", system="You are Mario.")
    assert r.status == "success"
    assert "You are Mario." in client.show("mario").modelfile
    blob = tmp_path / "tiny.gguf"
    blob.write_bytes(b"GGUF" + bytes(200))
    digest = client.create_blob(blob)
    assert digest.startswith("sha256:")
    statuses = [p.status for p in client.create("tiny", files={"tiny.gguf": digest},
                                                 stream=True)]
    assert statuses[-1] == "success"
    assert "tiny:latest" in [m.model for m in client.list().models]


def test_copy_delete(client):
    client.copy("llama3.2", "llama-copy")
    assert "llama-copy:latest" in [m.model for m in client.list().models]
    client.delete("llama-copy")
    assert "llama-copy:latest" not in [m.model for m in client.list().models]
    with pytest.raises(ollama.ResponseError) as err:
        client.delete("llama-copy")
    assert err.value.status_code == 404


def test_not_found_and_bad_request_codes(client):
    for call in (lambda: client.generate("missing", "x"),
                 lambda: client.chat("missing", messages=[{"role": "user", "content": "x"}]),
                 lambda: client.show("missing"),
                 lambda: client.embed("missing", "x"),
                 lambda: client.embeddings("missing", "x")):
        with pytest.raises(ollama.ResponseError) as err:
            call()
        assert err.value.status_code == 404
    with pytest.raises(ollama.ResponseError) as err:
        client.generate("llama3.2", "x", keep_alive="300")
    assert err.value.status_code == 400
    assert err.value.error == 'time: missing unit in duration "300"'
    with pytest.raises(ollama.ResponseError) as err:
        client.generate("all-minilm", "x")
    assert (err.value.status_code, err.value.error) == (400,
                                                        '"all-minilm" does not support generate')


def test_async_client_streams_tools_and_logprobs(ollama_sandbox):
    import asyncio

    weather = {"type": "function", "function": {
        "name": "get_weather", "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}

    async def run():
        client = ollama.AsyncClient(host=ollama_sandbox.url)
        parts = [part async for part in await client.chat(
            "qwen3", [{"role": "user", "content": "Weather in Paris and in Rome?"}],
            tools=[weather], stream=True, think=False)]
        calls = [c for p in parts for c in p.message.tool_calls or []]
        reply = await client.generate("llama3.2", "Why is the sky blue?", logprobs=True,
                                      options={"num_predict": 6})
        return calls, reply

    calls, reply = asyncio.run(run())
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]
    assert "".join(lp.token for lp in reply.logprobs) == reply.response

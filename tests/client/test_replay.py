"""Every real recorded Ollama response, replayed byte for byte over a real socket.

The scripted server serves each transcript's body with its recorded status,
Content-Type and framing (chunked where it was chunked, one chunk per NDJSON line);
each client (``Client`` and ``AsyncClient``) must return the right typed result, or the
right exception.
Expected values are computed from the recorded bytes, not typed in.
"""

from __future__ import annotations

import json
import math
from datetime import datetime

import pytest
from blocking import BlockingStream
from client_scriptserver import TRANSCRIPTS, Reply, Transcript, load_transcripts

import ollama_nb
from ollama_nb.client._stream import Stream

ALL = load_transcripts()
STREAMS = (Stream, BlockingStream)  # a Client's stream, or an AsyncClient's read from a test


def _lines(t: Transcript) -> list[dict]:
    return [json.loads(line) for line in t.body.splitlines() if line.strip()]


def _call(client: ollama_nb.Client, t: Transcript):
    """Replay the recorded request through the public API."""
    req = t.request_body or {}
    streamed = bool(t.content_type and "ndjson" in t.content_type) or (
        t.status >= 400 and "stream" not in req
    )
    model = req.get("model") or req.get("name")
    if t.path == "/api/generate":
        kwargs = {k: req[k] for k in ("system", "options") if req.get(k)}
        return client.generate(model, req.get("prompt", ""), stream=streamed, **kwargs)
    if t.path == "/api/chat":
        kwargs = {}
        if req.get("format"):
            kwargs["format"] = req["format"]
        if req.get("tools"):
            kwargs["tools"] = req["tools"]
        if "truncate" in req:
            kwargs["truncate"] = req["truncate"]
        return client.chat(model, req["messages"], stream=streamed, **kwargs)
    if t.path == "/api/embed":
        return client.embed(model, req["input"])
    if t.path == "/api/embeddings":
        return client.embeddings(model, req["prompt"])
    if t.path == "/api/show":
        return client.show(model)
    if t.path == "/api/pull":
        return client.pull(model, stream=True)
    if t.path == "/api/tags":
        return client.list()
    if t.path == "/api/ps":
        return client.ps()
    raise AssertionError(f"no replay for {t.path}")


def test_all_transcripts_are_covered() -> None:
    assert len(ALL) == 26, [t.name for t in ALL]


@pytest.mark.parametrize("t", [t for t in ALL if t.status < 400], ids=lambda t: t.name)
def test_replay_success(script_server, make_client, t: Transcript) -> None:
    script_server.add(t.path, t.reply())
    with make_client(script_server.url) as client:
        result = _call(client, t)
        if isinstance(result, STREAMS):
            chunks = list(result)
            assert result.closed
        seen = script_server.requests[-1]
    assert (seen.method, seen.path) == (t.method, t.path)
    if t.method == "POST" and t.path in ("/api/generate", "/api/chat", "/api/pull"):
        assert seen.json["stream"] is isinstance(result, STREAMS)  # always sent explicitly

    if t.path in ("/api/generate", "/api/chat") and isinstance(result, STREAMS):
        lines = _lines(t)
        assert len(chunks) == len(lines)
        key = (lambda o: o.get("response", "")) if t.path.endswith("generate") else (
            lambda o: o["message"].get("content", ""))
        assert result.text == "".join(key(o) for o in lines)
        assert result.final is not None and result.final.raw == lines[-1]
        assert result.final.done is True
        assert result.final.done_reason == lines[-1].get("done_reason")
        merged = result.partial
        assert merged.done is True and merged.text == result.text
        assert merged.eval_count == lines[-1]["eval_count"]
        assert merged.total_seconds == pytest.approx(lines[-1]["total_duration"] / 1e9)
        assert merged.tokens_per_second == pytest.approx(
            lines[-1]["eval_count"] / (lines[-1]["eval_duration"] / 1e9))
        if t.path.endswith("generate") and "context" in lines[-1]:
            assert merged.context == lines[-1]["context"]
        if "format-json" in t.name:
            json.loads(result.text)  # the recorded JSON-mode answer reassembles to valid JSON
    elif t.path in ("/api/generate", "/api/chat"):
        body = json.loads(t.body)
        assert result.raw == body
        assert result.done is True
        if t.path.endswith("generate"):
            assert isinstance(result, ollama_nb.client._types.GenerateResponse)
            assert result.response == body["response"] == result.text
        else:
            assert isinstance(result, ollama_nb.client._types.ChatResponse)
            assert result.message.role == "assistant"
            assert result.message.content == body["message"]["content"] == result.text
        assert result.load_seconds == pytest.approx(body["load_duration"] / 1e9)
        assert result.tokens_per_second == pytest.approx(body["eval_count"] / (body["eval_duration"] / 1e9))
    elif t.path == "/api/embed":
        body = json.loads(t.body)
        assert result.embeddings == body["embeddings"]
        assert result.count == 1 and result.dimensions == len(body["embeddings"][0])
        assert math.isclose(math.sqrt(sum(x * x for x in result.embeddings[0])), 1.0, rel_tol=1e-5)
        assert result.total_seconds == pytest.approx(body["total_duration"] / 1e9)
    elif t.path == "/api/embeddings":
        body = json.loads(t.body)
        assert result.embedding == body["embedding"] and result.dimensions == len(body["embedding"])
    elif t.path == "/api/tags":
        body = json.loads(t.body)
        assert [m.name for m in result.models] == [m["name"] for m in body["models"]]
        assert len(result) == len(body["models"])
        for model, raw in zip(result.models, body["models"]):
            assert model.size == raw["size"] and model.digest == raw["digest"]
            assert model.details.quantization_level == raw["details"]["quantization_level"]
            assert isinstance(model.modified_at, datetime) and model.modified_at.tzinfo is not None
            assert model.modified_at.isoformat()[:19] == raw["modified_at"][:19]
    elif t.path == "/api/ps":
        body = json.loads(t.body)
        (running,) = result.models
        assert running.name == body["models"][0]["name"]
        assert running.size_vram == 0
        assert running.context_length is None  # this 2025-02 server did not send it
        assert running.expires_at.utcoffset().total_seconds() == -8 * 3600
        assert running.details.family == "llama"
    elif t.path == "/api/show":
        body = json.loads(t.body)
        assert result.raw == body
        assert result.template == body["template"] and result.license == body["license"]
        assert result.details.family == body["details"]["family"]
        assert result.model_info == body["model_info"]
        assert result.context_length == body["model_info"]["llama.context_length"]
        assert result.capabilities == body.get("capabilities")
        assert "stop" in result.parameter_map and isinstance(result.parameter_map["stop"], list)
    elif t.path == "/api/pull":
        lines = _lines(t)
        assert [c.status for c in chunks] == [o["status"] for o in lines]
        assert result.final.status == "success"
        layer = chunks[1]
        assert layer.digest.startswith("sha256:") and layer.fraction == 1.0
    else:  # pragma: no cover
        raise AssertionError(t.name)


@pytest.mark.parametrize("t", [t for t in ALL if t.status >= 400], ids=lambda t: t.name)
def test_replay_errors(script_server, make_client, t: Transcript) -> None:
    script_server.add(t.path, t.reply())
    message = json.loads(t.body)["error"]
    model = t.request_body.get("model") or t.request_body.get("name")
    with make_client(script_server.url) as client:
        if t.status == 404:
            with pytest.raises(ollama_nb.ModelNotFoundError) as info:
                _call(client, t)
            assert info.value.model == model
            assert f"ollama pull {model}" in str(info.value)
        else:
            with pytest.raises(ollama_nb.ResponseError) as info:
                _call(client, t)
            assert not isinstance(info.value, ollama_nb.ModelNotFoundError)
    err = info.value
    assert err.status_code == t.status
    assert err.error == message
    assert message in str(err) and "\n" not in str(err)


def test_secondary_tool_call_fixture(script_server) -> None:
    body = (TRANSCRIPTS / "SECONDARY-chat-nonstream-tool-calls-llama3.1-fixture-prettyprinted.json").read_bytes()
    script_server.add("/api/chat", Reply(pieces=[body]))
    with ollama_nb.Client(script_server.url) as client:
        result = client.chat("llama3.1", [{"role": "user", "content": "weather in Paris?"}],
                             tools=[{"type": "function", "function": {"name": "get_current_weather"}}])
    (call,) = result.message.tool_calls
    assert call.function.name == call.name == "get_current_weather"
    assert call.arguments == {"format": "celsius", "location": "Paris"}
    assert call.id is None and call.function.index is None  # pre-v0.12.6 shape
    assert result.message.content == ""
    assert result.load_seconds == pytest.approx(11.615333208)

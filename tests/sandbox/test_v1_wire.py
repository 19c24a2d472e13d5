"""The /v1 endpoints on the wire, byte for byte where Ollama's middleware fixes the bytes:
server-sent events and their terminator, content types, the trailing newline of Go's
json.Encoder, the middleware's own errors, and injected faults inside SSE streams."""

from __future__ import annotations

import json

import pytest
from sandbox_raw import posted_at_once, raw_request

USER = [{"role": "user", "content": "Why is the sky blue?"}]


def _events(body: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) pairs of an SSE body; every event ends with a blank line."""
    assert body.endswith(b"\n\n")
    out = []
    for block in body.decode().split("\n\n")[:-1]:
        name, data = None, None
        for line in block.split("\n"):
            key, _, value = line.partition(": ")
            if key == "event":
                name = value
            elif key == "data":
                data = value
        assert data is not None, block
        out.append((name, data))
    return out


def test_chat_stream_bytes(call):
    reply = call("POST", "/v1/chat/completions", {"model": "llama3.2", "messages": USER,
                                                  "stream": True})
    assert reply.status == 200 and reply.headers["content-type"] == "text/event-stream"
    assert reply.headers["transfer-encoding"] == "chunked"
    events = _events(reply.body)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    assert list(chunks[0]) == ["id", "object", "created", "model", "system_fingerprint",
                               "choices"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert list(chunks[0]["choices"][0]) == ["index", "delta", "finish_reason"]
    assert all("role" not in c["choices"][0]["delta"] for c in chunks[1:])
    assert chunks[-1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop"}]
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])
    assert '"delta":{}' in events[-2][1]


def test_whole_replies_end_with_a_newline(call):
    reply = call("POST", "/v1/chat/completions", {"model": "llama3.2", "messages": USER})
    assert reply.headers["content-type"] == "application/json"
    assert reply.body.endswith(b"}\n")
    body = reply.json()
    assert list(body) == ["id", "object", "created", "model", "system_fingerprint", "choices",
                          "usage"]
    assert list(body["choices"][0]) == ["index", "message", "finish_reason"]


@pytest.mark.parametrize("data,message", [
    (b"", "EOF"),
    (b"{nope", "invalid character 'n' looking for beginning of object key string"),
    (b'{"model": "llama3.2", "messages": "hi"}', "json: cannot unmarshal string into Go struct "
                                                 "field ChatCompletionRequest.messages of type "
                                                 "[]openai.Message"),
    (b'{"model": "llama3.2", "messages": [{"role": "user", "content": 3}]}',
     "invalid message content type: float64"),
])
def test_middleware_errors(call, data, message):
    reply = call("POST", "/v1/chat/completions", data=data)
    assert reply.status == 400
    assert reply.headers["content-type"] == "application/json; charset=utf-8"
    assert reply.json() == {"error": {"message": message, "type": "invalid_request_error",
                                      "param": None, "code": None}}


def test_native_errors_are_rewritten(call):
    reply = call("POST", "/v1/completions", {"model": "", "prompt": "hi"})
    assert (reply.status, reply.headers["content-type"]) == (404, "application/json")
    assert reply.body == (b'{"error":{"message":"model \'\' not found","type":"not_found_error",'
                          b'"param":null,"code":null}}\n')
    long = {"model": "llama3.2", "stream": True, "messages": [
        {"role": "user", "content": "word " * 5000}]}
    reply = call("POST", "/v1/chat/completions", long | {"max_tokens": 5})
    assert reply.status == 200  # truncate defaults to true
    reply = call("POST", "/v1/chat/completions", {**long, "model": "nope"})
    assert reply.status == 404 and reply.json()["error"]["type"] == "not_found_error"


def test_error_after_inside_a_stream(call):
    reply = call("POST", "/v1/chat/completions", {"model": "llama3.2", "messages": USER,
                                                  "stream": True},
                 headers={"X-Sandbox-Fault": "error_after; n=3; message=boom"})
    events = _events(reply.body)
    assert (None, "[DONE]") not in events
    chunks = [json.loads(data) for _, data in events]
    # Ollama's writer decodes the {"error"} line as an empty response: an empty chunk
    assert chunks[-1]["model"] == "" and chunks[-1]["choices"][0]["delta"] == {"content": ""}
    assert len(chunks) == 4


def test_no_done_and_malformed_inside_a_stream(call):
    body = {"model": "llama3.2", "messages": USER, "stream": True}
    cut = call("POST", "/v1/chat/completions", body, headers={"X-Sandbox-Fault": "no_done; n=2"})
    events = _events(cut.body)
    assert len(events) == 2 and all(json.loads(d)["choices"][0]["finish_reason"] is None
                                    for _, d in events)
    bad = call("POST", "/v1/chat/completions", body,
               headers={"X-Sandbox-Fault": "malformed_after; n=1"})
    datas = [d for _, d in _events(bad.body)]
    broken = [d for d in datas if d != "[DONE]" and not _is_json(d)]
    assert len(broken) == 1 and datas.index(broken[0]) == 1 and datas[-1] == "[DONE]"


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def test_streamed_request_answered_whole_natively(call):
    # an empty prompt only loads the model: one native object, still sent as one event
    reply = call("POST", "/v1/completions", {"model": "llama3.2", "prompt": "", "stream": True})
    events = _events(reply.body)
    assert [json.loads(d)["choices"][0]["finish_reason"] for _, d in events[:-1]] == ["load"]
    assert events[-1] == (None, "[DONE]")


def test_responses_events(call):
    reply = call("POST", "/v1/responses", {"model": "qwen3", "input": "hi", "stream": True})
    assert reply.headers["content-type"] == "text/event-stream"
    assert reply.headers["cache-control"] == "no-cache"
    events = _events(reply.body)
    datas = [json.loads(d) for _, d in events]
    assert all(name == data["type"] for (name, _), data in zip(events, datas))
    assert [d["sequence_number"] for d in datas] == list(range(len(datas)))
    assert all(list(d) == sorted(d) for d in datas)  # Go marshals these maps sorted
    final = datas[-1]["response"]
    assert final["status"] == "completed" and final["completed_at"] >= final["created_at"] - 1


def test_anthropic_events(call):
    reply = call("POST", "/v1/messages", {"model": "qwen3", "max_tokens": 100, "stream": True,
                                          "messages": USER})
    events = _events(reply.body)
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    datas = [json.loads(d) for _, d in events]
    assert all(name == data["type"] for name, data in zip(names, datas))
    start = datas[0]["message"]
    assert start["content"] == [] and start["usage"]["input_tokens"] > 0
    indices = [d["index"] for d in datas if d["type"] == "content_block_start"]
    assert indices == [0, 1]
    assert datas[-2]["delta"] == {"stop_reason": "end_turn"}


def test_models_and_retrieve_wire(ollama_sandbox, call):
    for name in ollama_sandbox.installed():
        call("DELETE", "/api/delete", {"model": name})
    empty = call("GET", "/v1/models")
    assert empty.body == b'{"object":"list","data":null}\n'
    call("POST", "/api/pull", {"model": "llama3.2", "stream": False})
    one = call("GET", "/v1/models/llama3.2").json()
    assert list(one) == ["id", "object", "created", "owned_by"]
    assert ollama_sandbox.requests[-1].model == "llama3.2"
    assert call("GET", "/v1/models/").status == 301


def test_embeddings_wire(call):
    reply = call("POST", "/v1/embeddings", {"model": "all-minilm", "input": "hello"})
    body = reply.json()
    assert list(body) == ["object", "data", "model", "usage"]
    assert body["data"][0]["object"] == "embedding" and len(body["data"][0]["embedding"]) == 384
    b64 = call("POST", "/v1/embeddings", {"model": "all-minilm", "input": "hello",
                                          "encoding_format": "BASE64"}).json()
    assert isinstance(b64["data"][0]["embedding"], str)
    assert len(b64["data"][0]["embedding"]) == 4 * ((384 * 4 + 2) // 3)


def test_v1_requests_are_logged(ollama_sandbox):
    raw_request(ollama_sandbox.url, "POST", "/v1/messages",
                {"model": "llama3.2", "max_tokens": 5, "messages": USER})
    record = ollama_sandbox.requests[-1]
    assert (record.method, record.path, record.model, record.status) == (
        "POST", "/v1/messages", "llama3.2", 200)


def test_v1_embeddings_come_from_the_models_engine(ollama_sandbox, call):
    """all-minilm through /v1 is the same vector as through /api/embed, so the real
    MiniLM serves /v1 too when its weights are installed."""
    import numpy as np

    texts = ["a cat on a mat", "stock prices fell"]
    native = call("POST", "/api/embed", {"model": "all-minilm", "input": texts}).json()
    v1 = call("POST", "/v1/embeddings", {"model": "all-minilm", "input": texts}).json()
    assert np.array_equal(np.asarray([d["embedding"] for d in v1["data"]], dtype=np.float32),
                          np.asarray(native["embeddings"], dtype=np.float32))
    engine = ollama_sandbox.engines()["all-minilm:latest"]
    assert engine.startswith(("minilm", "word-overlap"))


def test_capacity_applies_through_v1():
    """/v1 requests take the same per-model slots as /api/*; the 503 has each API's shape."""
    from ollama_nb.sandbox import Sandbox

    busy = "server busy, please try again.  maximum pending requests exceeded"
    with Sandbox(models=["llama3.2"], num_parallel=1, max_queue=0,
                 tokens_per_second=50) as sb:
        bodies = [("/v1/chat/completions", {"model": "llama3.2", "messages": USER,
                                            "max_tokens": 20}),
                  ("/v1/messages", {"model": "llama3.2", "max_tokens": 20, "messages": USER}),
                  ("/api/generate", {"model": "llama3.2", "prompt": "hi", "stream": False,
                                     "options": {"num_predict": 20}})]
        results = posted_at_once(sb.url, bodies)
        assert sorted(r.status for _, r in results) == [200, 503, 503]
        assert sb.scheduler.rejected == 2 and sb.scheduler.peak == 1
        for path, reply in results:
            if reply.status != 503:
                continue
            body = reply.json()
            if path == "/v1/chat/completions":
                assert body == {"error": {"message": busy, "type": "api_error", "param": None,
                                          "code": None}}
            elif path == "/v1/messages":
                assert body["error"] == {"type": "overloaded_error", "message": busy}
            else:
                assert body == {"error": busy}

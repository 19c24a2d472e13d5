"""Endpoints, framing and the error catalogue, seen from a raw HTTP client."""

from __future__ import annotations

import os

import pytest
from sandbox_raw import raw_request

from ollama_nb.sandbox import Sandbox, serve


def test_fixture_sets_ollama_host(ollama_sandbox):
    assert os.environ["OLLAMA_HOST"] == ollama_sandbox.url
    assert ollama_sandbox.url.startswith("http://127.0.0.1:")


def test_serve_yields_url_and_stops():
    with serve(port=0, models=["llama3.2"]) as url:
        r = raw_request(url, "GET", "/")
        assert (r.status, r.body) == (200, b"Ollama is running")
    with pytest.raises(OSError):
        raw_request(url, "GET", "/", timeout=2)


def test_loopback_only():
    with pytest.raises(ValueError, match="loopback"):
        Sandbox(host="0.0.0.0")


def test_root_and_head(call):
    r = call("GET", "/")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.body == b"Ollama is running"
    h = call("HEAD", "/")
    assert h.status == 200 and h.headers["content-length"] == "17"


def test_version(call):
    r = call("GET", "/api/version")
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert isinstance(r.json()["version"], str)


def test_unknown_path_and_wrong_method_are_plain_text(call):
    r = call("GET", "/api/nothing")
    assert (r.status, r.body, r.headers["content-type"]) == (404, b"404 page not found",
                                                            "text/plain")
    r = call("GET", "/api/generate")
    assert (r.status, r.body) == (405, b"405 method not allowed")
    r = call("POST", "/api/tags", {})
    assert r.status == 405


def test_trailing_slash_redirects(call):
    r = call("GET", "/api/tags/")
    assert r.status == 301 and r.headers["location"] == "/api/tags"
    assert call("POST", "/api/show/", {"model": "x"}).status == 307


def test_generate_stream_by_default(call):
    r = call("POST", "/api/generate", {"model": "llama3.2", "prompt": "Why is the sky blue?"})
    assert r.status == 200
    assert r.headers["content-type"] == "application/x-ndjson"
    assert r.headers["transfer-encoding"] == "chunked"
    lines = r.lines()
    assert all(not line["done"] for line in lines[:-1])
    final = lines[-1]
    assert final["done"] is True and final["done_reason"] == "stop"
    for key in ("total_duration", "load_duration", "prompt_eval_count",
                "prompt_eval_duration", "eval_count", "eval_duration"):
        assert isinstance(final[key], int) and final[key] > 0
    assert isinstance(final["context"], list)
    assert "total_duration" not in lines[0] and "done_reason" not in lines[0]
    assert final["model"] == "llama3.2"  # echoed verbatim
    assert final["created_at"].endswith("Z")


def test_stream_concatenates_to_non_stream_answer(call):
    body = {"model": "llama3.2", "prompt": "Tell me about honey bees",
            "options": {"temperature": 0}}
    streamed = "".join(line["response"] for line in call("POST", "/api/generate", body).lines())
    whole = call("POST", "/api/generate", {**body, "stream": False}).json()
    assert streamed == whole["response"] and whole["response"]
    assert "bees" in whole["response"] or "honey" in whole["response"]


def test_chat_stream_and_non_stream(call):
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "Hello there"}]}
    lines = call("POST", "/api/chat", body).lines()
    assert lines[0]["message"]["role"] == "assistant"
    assert "context" not in lines[-1]
    whole = call("POST", "/api/chat", {**body, "stream": False})
    assert whole.headers["content-type"] == "application/json; charset=utf-8"
    assert whole.json()["message"]["content"] == "".join(
        line["message"]["content"] for line in lines)


def test_missing_model_asymmetry(call):
    assert call("POST", "/api/generate", {"prompt": "x"}).json() == {
        "error": "model '' not found"}
    assert call("POST", "/api/generate", {"prompt": "x"}).status == 404
    r = call("POST", "/api/chat", {"messages": []})
    assert (r.status, r.json()) == (400, {"error": "model is required"})


def test_not_found_texts(call):
    r = call("POST", "/api/generate", {"model": "nope", "prompt": "x"})
    assert (r.status, r.json()["error"]) == (404, "model 'nope' not found")
    r = call("POST", "/api/show", {"model": "nope"})
    assert (r.status, r.json()["error"]) == (404, "model 'nope:latest' not found")
    r = call("POST", "/api/embed", {"model": "nope", "input": "x"})
    assert r.json()["error"] == 'model "nope" not found, try pulling it first'
    r = call("POST", "/api/copy", {"source": "nope", "destination": "b"})
    assert (r.status, r.json()["error"]) == (404, 'model "nope" not found')
    r = call("DELETE", "/api/delete", {"model": "nope"})
    assert (r.status, r.json()["error"]) == (404, "model 'nope' not found")


def test_bad_json(call):
    r = call("POST", "/api/generate", data=b"")
    assert (r.status, r.json()) == (400, {"error": "missing request body"})
    r = call("POST", "/api/generate", data=b'{"model":')
    assert r.json() == {"error": "unexpected EOF"}
    r = call("POST", "/api/generate", data=b"xyz")
    assert r.json() == {"error": "invalid character 'x' looking for beginning of value"}
    r = call("POST", "/api/generate", {"model": 5})
    assert r.json() == {"error": "json: cannot unmarshal number into Go struct field "
                                 "GenerateRequest.model of type string"}


def test_wrong_option_type_is_500(call):
    r = call("POST", "/api/generate",
             {"model": "llama3.2", "prompt": "x", "options": {"stop": "x"}})
    assert (r.status, r.json()) == (500, {"error": 'option "stop" must be of type array'})
    r = call("POST", "/api/generate",
             {"model": "llama3.2", "prompt": "x", "options": {"bogus": 1}, "stream": False})
    assert r.status == 200


def test_embed_normalised_and_legacy_not(call):
    import numpy as np

    r = call("POST", "/api/embed", {"model": "nomic-embed-text", "input": ["a cat", "a dog"]})
    vecs = np.array(r.json()["embeddings"])
    assert vecs.shape == (2, 768)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    legacy = np.array(call("POST", "/api/embeddings",
                           {"model": "nomic-embed-text", "prompt": "a cat"}).json()["embedding"])
    assert abs(np.linalg.norm(legacy) - 1) > 0.1
    assert np.allclose(legacy / np.linalg.norm(legacy), vecs[0], atol=1e-6)


def test_requests_are_recorded(ollama_sandbox, call):
    call("POST", "/api/show", {"model": "llama3.2"})
    rec = ollama_sandbox.requests[-1]
    assert (rec.method, rec.path, rec.status, rec.model) == ("POST", "/api/show", 200,
                                                             "llama3.2")
    assert rec.body == {"model": "llama3.2"} and rec.disconnected is False
    ollama_sandbox.clear_requests()
    assert ollama_sandbox.requests == []


def test_the_deterministic_engine_reports_a_nominal_speed(ollama_sandbox) -> None:
    """Its made-up text costs nothing: stats lines and stored notebooks must not show
    tens of thousands of tokens a second."""
    from ollama_nb import Client

    final = Client(ollama_sandbox.url).generate("llama3.2", "Why is the sky blue?")
    assert final.eval_count and 20 <= final.tokens_per_second <= 25.01
    assert final.raw["total_duration"] >= final.raw["eval_duration"]

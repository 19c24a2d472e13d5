"""Every client method against the sandbox over real sockets, streamed and not, and every error class.

The sandbox is an independent implementation of the server (no shared code), so a
misreading of the protocol on one side shows up here. Each test runs twice: with
``Client``, and with ``AsyncClient`` awaited on an event loop in another thread
(``blocking.py``), so both clients must give the same answers and the same errors.
"""

from __future__ import annotations

import hashlib
import math
import time

import pytest

import ollama_nb


@pytest.fixture
def client(ollama_sandbox, make_client):
    with make_client() as client:  # follows OLLAMA_HOST, which the fixture set
        yield client


def _poll(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_server_basics(client, ollama_sandbox) -> None:
    assert client.base_url == ollama_sandbox.url
    assert client.is_reachable()
    assert client.version().count(".") >= 1
    names = client.list().names
    assert "llama3.2:latest" in names and "all-minilm:latest" in names
    model = next(m for m in client.list().models if m.name == "llama3.2:latest")
    assert model.details.family == "llama" and model.modified_at.tzinfo is not None
    assert len(model.digest) == 64


def test_generate_streamed_and_not_agree(client) -> None:
    kwargs = {"options": {"num_predict": 25, "temperature": 0, "seed": 1}}
    whole = client.generate("llama3.2", "Why is the sky blue?", **kwargs)
    with client.generate("llama3.2", "Why is the sky blue?", stream=True, **kwargs) as stream:
        chunks = list(stream)
    assert whole.done and whole.response and whole.eval_count <= 25
    assert len(chunks) > 2 and chunks[-1].done and not any(c.done for c in chunks[:-1])
    assert stream.text == "".join(c.response for c in chunks) == whole.response
    assert stream.final.done_reason == whole.done_reason
    assert whole.total_seconds is not None and whole.total_seconds >= 0
    assert whole.tokens_per_second is None or whole.tokens_per_second > 0
    assert isinstance(whole.context, list)
    assert whole.model == "llama3.2"


def test_generate_load_and_unload(client) -> None:
    assert client.generate("llama3.2").done_reason == "load"
    assert "llama3.2:latest" in client.ps().names
    assert client.generate("llama3.2", keep_alive=0).done_reason == "unload"
    assert "llama3.2:latest" not in client.ps().names


def test_chat_streamed_and_not_with_thinking(client) -> None:
    messages = [{"role": "user", "content": "What is 2+2?"}]
    whole = client.chat("qwen3", messages, think=True, options={"seed": 3})
    with client.chat("qwen3", messages, think=True, options={"seed": 3}, stream=True) as stream:
        for _ in stream:
            pass
    assert whole.message.role == "assistant" and whole.message.content
    assert whole.message.thinking and stream.thinking == whole.message.thinking
    assert stream.text == whole.message.content
    assert stream.final.done is True and stream.partial.message.content == whole.message.content


def test_chat_tools(client, ollama_sandbox) -> None:
    def get_weather(city: str) -> str:
        """Weather for a city.

        Args:
            city: the city
        """
        return "sunny"

    result = client.chat("llama3.2", [{"role": "user", "content": "What is the weather in Paris?"}],
                         tools=[get_weather])
    sent = ollama_sandbox.requests[-1].body
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    (call,) = result.message.tool_calls
    assert call.name == "get_weather" and "city" in call.arguments
    assert call.id and call.function.index == 0
    with client.chat("llama3.2", [{"role": "user", "content": "Weather in Rome?"}],
                     tools=[get_weather], stream=True) as stream:
        stream.result()
    assert [c.name for c in stream.tool_calls] == ["get_weather"]


def test_embed_and_legacy_embeddings(client) -> None:
    texts = ["a cat sat on the mat", "stock markets fell", "a kitten on a rug"]
    result = client.embed("all-minilm", texts)
    assert result.count == 3 and result.dimensions == 384
    for vector in result.embeddings:
        assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-4)
    single = client.embed("all-minilm", texts[1])
    assert single.embeddings[0] == pytest.approx(result.embeddings[1], abs=1e-5)
    assert client.embed("all-minilm", []).embeddings == []
    short = client.embed("nomic-embed-text", "hello", dimensions=64)
    assert short.dimensions == 64
    legacy = client.embeddings("nomic-embed-text", "hello")
    assert legacy.dimensions == 768


def test_show(client) -> None:
    info = client.show("llama3.2")
    assert info.family == "llama" and "completion" in info.capabilities
    assert info.template and info.context_length == 131072
    assert "stop" in info.parameter_map
    assert client.show("llama3.2", verbose=True).model_info


def test_pull_streamed_and_not(client) -> None:
    with client.pull("gemma3:1b", stream=True) as stream:
        statuses = [p.status for p in stream]
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert any(p for p in statuses if p.startswith("pulling ") and p != "pulling manifest")
    assert client.pull("llama3.2:1b").status == "success"
    assert {"gemma3:1b", "llama3.2:1b"} <= set(client.list().names)


def test_create_copy_push_delete(client, tmp_path) -> None:
    result = client.create("mario", modelfile="FROM llama3.2\nSYSTEM You are Mario.\nPARAMETER temperature 0.1\n")
    assert result.status == "success"
    shown = client.show("mario")
    assert shown.system == "You are Mario." and shown.parameter_map.get("temperature") == 0.1
    with client.create("luigi", from_="mario", system="You are Luigi.", stream=True) as stream:
        assert [p.status for p in stream][-1] == "success"
    client.copy("luigi", "me/luigi")
    assert "me/luigi:latest" in client.list().names
    pushed = client.push("me/luigi", stream=True)
    assert [p.status for p in pushed][-1] == "success"
    assert client.push("me/luigi").status == "success"
    for name in ("mario", "luigi", "me/luigi"):
        client.delete(name)
    assert not {"mario:latest", "luigi:latest", "me/luigi:latest"} & set(client.list().names)


def test_blobs_and_create_from_local_file(client, tmp_path, ollama_sandbox) -> None:
    data = b"GGUF" + bytes(100)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert client.blob_exists(digest) is False
    assert client.create_blob(data) == digest
    assert client.blob_exists(digest) is True
    weights = tmp_path / "tiny.gguf"
    weights.write_bytes(data + b"more")
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text("FROM ./tiny.gguf\nSYSTEM local\n")
    with client.create("local-tiny", modelfile=modelfile, stream=True) as stream:
        statuses = [p.status for p in stream]
    sent = [r for r in ollama_sandbox.requests if r.path == "/api/create"][-1].body
    expected = "sha256:" + hashlib.sha256(data + b"more").hexdigest()
    assert sent["files"] == {"tiny.gguf": expected}
    assert client.blob_exists(expected)
    assert statuses[-1] == "success", statuses


# -- errors ------------------------------------------------------------------------------

def test_model_not_found_everywhere(client) -> None:
    calls = {
        "generate": lambda: client.generate("ghost", "hi"),
        "generate stream": lambda: client.generate("ghost", "hi", stream=True),
        "chat": lambda: client.chat("ghost", [{"role": "user", "content": "hi"}]),
        "show": lambda: client.show("ghost"),
        "embed": lambda: client.embed("ghost", "x"),
        "embeddings": lambda: client.embeddings("ghost", "x"),
        "copy": lambda: client.copy("ghost", "ghost2"),
        "delete": lambda: client.delete("ghost"),
    }
    for what, call in calls.items():
        with pytest.raises(ollama_nb.ModelNotFoundError) as info:
            call()
        assert info.value.model == "ghost", what
        assert "ollama pull ghost" in str(info.value), what


def test_unreachable_after_stop(make_client) -> None:
    from ollama_nb.sandbox import Sandbox

    with Sandbox(port=0) as sandbox:
        url = sandbox.url
    client = make_client(url)
    assert client.is_reachable() is False
    with pytest.raises(ollama_nb.ConnectError) as info:
        client.chat("llama3.2", [], stream=True)
    assert url in str(info.value) and "ollama serve" in str(info.value)


def test_fault_error_status(client, ollama_sandbox) -> None:
    ollama_sandbox.inject("error", status=503, message="server busy, please try again.")
    with pytest.raises(ollama_nb.ResponseError) as info:
        client.generate("llama3.2", "hi", stream=True)
    assert info.value.status_code == 503 and "server busy" in str(info.value)


def test_fault_error_after_keeps_partial(client, ollama_sandbox) -> None:
    ollama_sandbox.inject("error_after", n=3, message="model crashed")
    stream = client.generate("llama3.2", "Tell me a story", stream=True)
    with pytest.raises(ollama_nb.StreamError) as info:
        list(stream)
    assert "model crashed" in str(info.value)
    assert not isinstance(info.value, ollama_nb.IncompleteStreamError)
    assert info.value.partial.response == stream.text != ""
    assert stream.chunks == 3


def test_fault_drop_after(client, ollama_sandbox) -> None:
    ollama_sandbox.inject("drop_after", n=2)
    with pytest.raises(ollama_nb.IncompleteStreamError) as info:
        list(client.chat("llama3.2", [{"role": "user", "content": "hi"}], stream=True))
    assert info.value.partial.message.content
    ollama_sandbox.clear_faults()
    ollama_sandbox.inject("drop_after", n=2)
    with pytest.raises(ollama_nb.IncompleteStreamError):
        client.pull("gemma3:1b", stream=True).result()


def test_fault_no_done(client, ollama_sandbox) -> None:
    ollama_sandbox.inject("no_done", n=2)
    with pytest.raises(ollama_nb.IncompleteStreamError) as info:
        list(client.generate("llama3.2", "hi", stream=True))
    assert "without done" in str(info.value)


def test_fault_malformed(client, ollama_sandbox) -> None:
    ollama_sandbox.inject("malformed_after", n=1)
    with pytest.raises(ollama_nb.StreamError) as info:
        list(client.generate("llama3.2", "hi", stream=True))
    assert "not a JSON object" in str(info.value)


def test_fault_stall_times_out(ollama_sandbox, make_client) -> None:
    ollama_sandbox.inject("stall", seconds=3, n=2)
    with make_client(ollama_sandbox.url, timeout=(2, 0.3)) as client:
        stream = client.generate("llama3.2", "hi", stream=True)
        with pytest.raises(ollama_nb.OllamaTimeout) as info:
            list(stream)
    assert info.value.partial.response == stream.text


def test_fault_slow_load_times_out(ollama_sandbox, make_client) -> None:
    ollama_sandbox.inject("slow_load", seconds=2)
    with make_client(ollama_sandbox.url, timeout=(2, 0.3)) as client:
        with pytest.raises(ollama_nb.OllamaTimeout):
            client.generate("llama3.2", "hi")


def test_fault_empty_body(client, ollama_sandbox) -> None:
    ollama_sandbox.inject("empty_body")
    with pytest.raises(ollama_nb.ResponseError):
        client.show("llama3.2")
    with pytest.raises(ollama_nb.IncompleteStreamError):
        list(client.generate("llama3.2", "hi", stream=True))


def test_fault_huge_line(client, ollama_sandbox) -> None:
    ollama_sandbox.inject("huge_line", bytes=2_000_000)
    with client.generate("llama3.2", "hi", stream=True) as stream:
        result = stream.result()
    assert len(result.response) >= 2_000_000


def test_fault_html_error(client, ollama_sandbox) -> None:
    ollama_sandbox.inject("html_error", status=502)
    with pytest.raises(ollama_nb.ResponseError) as info:
        client.list()
    message = str(info.value)
    assert info.value.status_code == 502 and "<" not in message and "\n" not in message


def test_keyboard_interrupt_mid_stream_closes_connection(client, ollama_sandbox) -> None:
    ollama_sandbox.inject("latency", seconds=0.05)
    with pytest.raises(KeyboardInterrupt):
        for index, _ in enumerate(client.generate("llama3.2", "Tell me a long story",
                                                  options={"num_predict": 500}, stream=True)):
            if index == 3:
                raise KeyboardInterrupt
    assert _poll(lambda: any(r.path == "/api/generate" and r.disconnected for r in ollama_sandbox.requests))


def test_request_raw(ollama_sandbox) -> None:
    """requests' response (AsyncClient's aiohttp response: test_async.py)."""
    with ollama_nb.Client() as client:
        response = client.request_raw("GET", "/api/version")
        assert response.status_code == 200 and "version" in response.json()
        with pytest.raises(ollama_nb.ResponseError) as info:
            client.request_raw("GET", "/api/generate")  # wrong method: a plain-text 405
    assert info.value.status_code in (404, 405)


def test_bad_arguments_never_reach_the_sandbox(client, ollama_sandbox) -> None:
    ollama_sandbox.clear_requests()
    for call in (lambda: client.generate("", "hi"), lambda: client.embed("all-minilm", [1, 2]),
                 lambda: client.chat("llama3.2", [], keep_alive="soon"),
                 lambda: client.generate("llama3.2", "x", options={"num_ctx": "big"})):
        with pytest.raises(ollama_nb.InvalidArgumentError):
            call()
    assert ollama_sandbox.requests == []

"""What goes on the wire: headers, request bodies, argument normalisation, blobs and create."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from client_scriptserver import Reply

import ollama_nb

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
DONE = {"model": "m", "response": "ok", "done": True, "done_reason": "stop"}


def test_headers(script_server, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "key123")
    script_server.add("/api/version", Reply.json({"version": "0.12.0"}))
    with ollama_nb.Client(script_server.url) as client:
        assert client.version() == "0.12.0"
    with ollama_nb.Client(script_server.url, headers={"Authorization": "Bearer mine", "X-Team": "a"}) as client:
        client.version()
    first, second = script_server.requests
    assert first.headers["authorization"] == "Bearer key123"
    assert first.headers["user-agent"].startswith(f"ollama-nb/{ollama_nb.__version__} (")
    assert " Python/" in first.headers["user-agent"]
    assert first.headers["accept"] == "application/json"
    assert second.headers["authorization"] == "Bearer mine" and second.headers["x-team"] == "a"


def test_basic_auth_from_host_userinfo(script_server) -> None:
    script_server.add("/api/tags", Reply.json({"models": []}))
    url = script_server.url.replace("http://", "http://ann:p%40ss@")
    with ollama_nb.Client(url) as client:
        assert client.list().models == []
    sent = script_server.requests[0].headers["authorization"]
    assert sent == "Basic " + base64.b64encode(b"ann:p@ss").decode()


def test_base_path_for_reverse_proxies(script_server) -> None:
    script_server.add("/ollama/api/tags", Reply.json({"models": []}))
    script_server.add("/ollama/", Reply(pieces=[b"Ollama is running"], content_type="text/plain"))
    with ollama_nb.Client(script_server.url + "/ollama/") as client:
        assert client.base_url == script_server.url + "/ollama"
        assert len(client.list()) == 0
        assert client.is_reachable()
    assert [r.path for r in script_server.requests] == ["/ollama/api/tags", "/ollama/"]
    assert script_server.requests[1].method == "HEAD"


def test_generate_body_carries_every_field(script_server, tmp_path) -> None:
    image = tmp_path / "dot.png"
    image.write_bytes(PNG)
    script_server.add("/api/generate", Reply.json(DONE))
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    with ollama_nb.Client(script_server.url) as client:
        client.generate(
            "m", "hi", suffix="end", system="sys", template="{{ .Prompt }}", context=[1, 2],
            images=[PNG, image, base64.b64encode(PNG).decode()], format=schema,
            options={"temperature": 0, "num_predict": 5.0, "stop": "STOP", "custom": "x"},
            raw=False, keep_alive=timedelta(minutes=2), think="high", truncate=False, shift=True,
            logprobs=True, top_logprobs=3,
        )
    body = script_server.requests[0].json
    encoded = base64.b64encode(PNG).decode()
    assert body == {
        "model": "m", "prompt": "hi", "suffix": "end", "system": "sys", "template": "{{ .Prompt }}",
        "context": [1, 2], "images": [encoded] * 3, "format": schema,
        "options": {"temperature": 0, "num_predict": 5, "stop": ["STOP"], "custom": "x"},
        "raw": False, "keep_alive": 120, "think": "high", "truncate": False, "shift": True,
        "logprobs": True, "top_logprobs": 3, "stream": False,
    }


@pytest.mark.parametrize(
    ("given", "sent"),
    [(300, 300), (1.5, 1.5), (-1, -1), (0, 0), ("5m", "5m"), ("1h30m", "1h30m"), ("-1m", "-1m"),
     ("300", 300), ("2.5", 2.5), (timedelta(hours=1), 3600), (timedelta(milliseconds=1500), 1.5)],
)
def test_keep_alive_forms(script_server, given, sent) -> None:
    script_server.add("/api/chat", Reply.json({"message": {"role": "assistant", "content": ""}, "done": True}))
    with ollama_nb.Client(script_server.url) as client:
        client.chat("m", [], keep_alive=given)
    body = script_server.requests[0].json
    assert body["keep_alive"] == sent and type(body["keep_alive"]) is type(sent)


def test_chat_body_messages_and_tools(script_server) -> None:
    script_server.add("/api/chat", Reply.json({"message": {"role": "assistant", "content": "hi"}, "done": True}))

    def get_weather(city: str, unit: str = "celsius") -> str:
        """Get the weather.

        Args:
            city: the city name
            unit: celsius or fahrenheit
        """
        return ""

    def add(a: int, b: float, tags: list[str] | None = None, *, exact: bool = False) -> float:
        """Add two numbers."""
        return a + b

    with ollama_nb.Client(script_server.url) as client:
        client.chat("m", [], tools=add)
        (added,) = script_server.requests.pop().json["tools"]
        first = client.chat("m", [{"role": "user", "content": "hi", "images": [PNG]}])
        client.chat("m", [{"role": "user", "content": "hi"}, first.message], tools=[get_weather], format="json")
    one, two = (r.json for r in script_server.requests)
    assert added["function"]["parameters"] == {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "number"},
                       "tags": {"anyOf": [{"type": "array", "items": {"type": "string"}},
                                          {"type": "null"}], "default": None},
                       "exact": {"type": "boolean", "default": False}},
        "required": ["a", "b"],
    }
    assert added["function"]["description"] == "Add two numbers."
    assert one["messages"] == [{"role": "user", "content": "hi", "images": [base64.b64encode(PNG).decode()]}]
    assert one["stream"] is False and "tools" not in one
    assert two["messages"][1] == {"role": "assistant", "content": "hi"}
    (tool,) = two["tools"]
    assert tool["function"]["name"] == "get_weather"
    assert tool["function"]["description"] == "Get the weather."
    assert tool["function"]["parameters"]["required"] == ["city"]
    assert tool["function"]["parameters"]["properties"]["city"] == {"type": "string", "description": "the city name"}
    assert two["format"] == "json"


def test_embed_and_management_bodies(script_server) -> None:
    script_server.add("/api/embed", Reply.json({"model": "e", "embeddings": [[1.0, 0.0], [0.0, 1.0]]}))
    script_server.add("/api/copy", Reply(pieces=[b""]))
    script_server.add("/api/delete", Reply(pieces=[b""]))
    script_server.add("/api/pull", Reply.json({"status": "success"}, content_type="application/json"))
    script_server.add("/api/push", Reply.json({"status": "success"}, content_type="application/json"))
    script_server.add("/api/show", Reply.json({"model_info": {}, "details": {"family": "bert"}}))
    script_server.add("/api/ps", Reply.json({"models": []}))
    with ollama_nb.Client(script_server.url) as client:
        result = client.embed("e", ("a", "b"), truncate=False, dimensions=2, keep_alive="1m",
                               options={"num_ctx": 512})
        assert result.count == 2 and result.dimensions == 2
        assert client.copy("a", "b") is None and client.delete("b") is None
        assert client.pull("m").status == "success"
        assert client.push("me/m", insecure=True).status == "success"
        assert client.show("m", verbose=True, system="s", options={"num_ctx": 8}).family == "bert"
        assert client.ps().models == []
    sent = [(r.method, r.path, r.json) for r in script_server.requests]
    assert sent == [
        ("POST", "/api/embed", {"model": "e", "input": ["a", "b"], "truncate": False, "dimensions": 2,
                                "keep_alive": "1m", "options": {"num_ctx": 512}}),
        ("POST", "/api/copy", {"source": "a", "destination": "b"}),
        ("DELETE", "/api/delete", {"model": "b"}),
        ("POST", "/api/pull", {"model": "m", "insecure": False, "stream": False}),
        ("POST", "/api/push", {"model": "me/m", "insecure": True, "stream": False}),
        ("POST", "/api/show", {"model": "m", "system": "s", "options": {"num_ctx": 8}, "verbose": True}),
        ("GET", "/api/ps", None),
    ]


def _blob_store(script_server) -> dict[str, bytes]:
    """Script HEAD/POST /api/blobs/<digest> like Ollama: 404 then 201, digest checked."""
    store: dict[str, bytes] = {}

    def handle(seen):
        digest = seen.path.rsplit("/", 1)[1]
        if seen.method == "HEAD":
            return Reply(status=200 if digest in store else 404, pieces=[b""])
        if "sha256:" + hashlib.sha256(seen.body).hexdigest() != digest:
            return Reply.json({"error": "digest mismatch"}, status=400)
        store[digest] = seen.body
        return Reply(status=201, pieces=[b""])

    script_server.blob_handler = handle
    original = script_server.take

    def take(seen):
        return handle(seen) if seen.path.startswith("/api/blobs/") else original(seen)

    script_server.take = take
    return store


def test_blobs(script_server, tmp_path) -> None:
    store = _blob_store(script_server)
    path = tmp_path / "weights.gguf"
    path.write_bytes(b"GGUF" + bytes(range(256)) * 50)
    with ollama_nb.Client(script_server.url) as client:
        digest = client.create_blob(path)
        assert digest == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        assert client.blob_exists(digest) is True
        assert client.create_blob(path) == digest  # already there: no second upload
        assert client.create_blob(b"adapter bytes") == "sha256:" + hashlib.sha256(b"adapter bytes").hexdigest()
        assert client.blob_exists("sha256:" + "0" * 64) is False
    assert store[digest] == path.read_bytes()
    posts = [r for r in script_server.requests if r.method == "POST"]
    assert len(posts) == 2 and posts[0].headers["content-type"] == "application/octet-stream"


def test_create_from_modelfile_uploads_local_files(script_server, tmp_path) -> None:
    store = _blob_store(script_server)
    (tmp_path / "model.gguf").write_bytes(b"GGUF-base")
    (tmp_path / "lora").mkdir()
    (tmp_path / "lora" / "adapter.gguf").write_bytes(b"GGUF-adapter")
    modelfile = tmp_path / "Modelfile"
    modelfile.write_text(
        "# a comment\n"
        "FROM ./model.gguf\n"
        "adapter ./lora/adapter.gguf\n"
        'TEMPLATE """{{ if .System }}<|system|>{{ .System }}{{ end }}\n'
        '<|user|>{{ .Prompt }}"""\n'
        "SYSTEM You are terse.\n"
        "PARAMETER temperature 0.2\n"
        "PARAMETER num_ctx 4096\n"
        'PARAMETER stop "<|user|>"\n'
        "PARAMETER stop <|system|>\n"
        "MESSAGE user Hi\n"
        'MESSAGE assistant """Hello\nthere"""\n'
        "LICENSE MIT\n"
    )
    script_server.add("/api/create", Reply.ndjson([{"status": "parsing GGUF"}, {"status": "success"}]))
    with ollama_nb.Client(script_server.url) as client:
        statuses = [p.status for p in client.create("mine", modelfile=modelfile, quantize="q4_K_M", stream=True)]
    assert statuses == ["parsing GGUF", "success"]
    body = script_server.requests[-1].json
    base = "sha256:" + hashlib.sha256(b"GGUF-base").hexdigest()
    adapter = "sha256:" + hashlib.sha256(b"GGUF-adapter").hexdigest()
    assert body == {
        "model": "mine",
        "files": {"model.gguf": base},
        "adapters": {"adapter.gguf": adapter},
        "template": "{{ if .System }}<|system|>{{ .System }}{{ end }}\n<|user|>{{ .Prompt }}",
        "system": "You are terse.",
        "parameters": {"temperature": 0.2, "num_ctx": 4096, "stop": ["<|user|>", "<|system|>"]},
        "messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello\nthere"}],
        "license": "MIT",
        "quantize": "q4_K_M",
        "stream": True,
    }
    assert set(store) == {base, adapter}


def test_create_from_existing_model_fields(script_server) -> None:
    script_server.add("/api/create", Reply.json({"status": "success"}, content_type="application/json"))
    with ollama_nb.Client(script_server.url) as client:
        result = client.create("mario", modelfile="FROM llama3.2\nSYSTEM Be Mario.\n",
                               system="Be Luigi.", parameters={"temperature": 1}, license=["A", "B"])
    assert result.status == "success"
    assert script_server.requests[0].json == {
        "model": "mario", "from": "llama3.2", "system": "Be Luigi.", "parameters": {"temperature": 1},
        "license": ["A", "B"], "stream": False,
    }


def test_request_raw(script_server) -> None:
    script_server.add("/api/version", Reply.json({"version": "1"}))
    with ollama_nb.Client(script_server.url) as client:
        response = client.request_raw("get", "/api/version")
        assert response.json() == {"version": "1"}
        with pytest.raises(ollama_nb.ResponseError):
            client.request_raw("POST", "/api/nothing", json={"a": 1})
    assert json.loads(script_server.requests[1].body) == {"a": 1}


def test_non_stream_body_cut_off(script_server) -> None:
    body = json.dumps({"models": [{"name": f"m{i}:latest"} for i in range(300)]}).encode()
    pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    script_server.add("/api/tags", Reply(pieces=pieces, chunked=True, drop_after=2))
    with ollama_nb.Client(script_server.url) as client, pytest.raises(ollama_nb.IncompleteStreamError) as info:
        client.list()
    assert "cut off" in str(info.value) and "/api/tags" in str(info.value)


def test_create_passes_renderer_parser_requires(script_server) -> None:
    script_server.add("/api/create", Reply.json({"status": "success"}, content_type="application/json"))
    with ollama_nb.Client(script_server.url) as client:
        client.create("x", from_="qwen3", renderer="qwen3", parser="qwen3", requires="0.12.0")
    body = script_server.requests[0].json
    assert (body["renderer"], body["parser"], body["requires"]) == ("qwen3", "qwen3", "0.12.0")


def test_proxy_settings_do_not_capture_loopback(script_server, monkeypatch, free_port) -> None:
    """HTTP_PROXY points at a dead port: a local server is still reached directly."""
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{free_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    script_server.add("/api/version", Reply.json({"version": "9"}))
    with ollama_nb.Client(script_server.url) as client:
        assert client.version() == "9"


def test_is_reachable_behind_a_proxy_that_hides_the_root(script_server) -> None:
    script_server.add("/ollama/api/version", Reply.json({"version": "0.12.0"}))
    with ollama_nb.Client(script_server.url + "/ollama") as client:
        assert client.is_reachable()  # HEAD /ollama/ is a 404 here; the API answers
    assert [(r.method, r.path) for r in script_server.requests] == [
        ("HEAD", "/ollama/"), ("GET", "/ollama/api/version")]
    with ollama_nb.Client(script_server.url + "/elsewhere") as client:
        assert not client.is_reachable()

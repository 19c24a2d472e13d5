"""The exception tree over real sockets: every class, one useful line each, no credentials."""

from __future__ import annotations

import socket

import pytest
from client_scriptserver import Reply

import ollama_nb


def test_unreachable_server_names_url_and_how_to_start(free_port) -> None:
    client = ollama_nb.Client(f"127.0.0.1:{free_port}")
    with pytest.raises(ollama_nb.ConnectError) as info:
        client.list()
    message = str(info.value)
    assert f"http://127.0.0.1:{free_port}" in message and "ollama serve" in message
    assert "connection refused" in message and "\n" not in message
    assert isinstance(info.value, ConnectionError) and info.value.url == client.base_url
    assert client.is_reachable() is False
    with pytest.raises(ollama_nb.ConnectError):
        client.generate("m", "hi", stream=True)


def test_connect_timeout() -> None:
    """A listener whose accept queue is full never completes the handshake."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(8):  # fill the backlog; later SYNs are dropped
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        client = ollama_nb.Client(f"127.0.0.1:{port}", timeout=(0.3, 5))
        with pytest.raises(ollama_nb.OllamaTimeout) as info:
            client.version()
        assert "connecting" in str(info.value) and f"127.0.0.1:{port}" in str(info.value)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.mark.parametrize(
    ("call", "path", "status", "message", "model"),
    [
        (lambda c: c.generate("ghost", "hi"), "/api/generate", 404, "model 'ghost' not found", "ghost"),
        (lambda c: c.chat("ghost", [], stream=True), "/api/chat", 404, "model 'ghost' not found", "ghost"),
        (lambda c: c.show("ghost"), "/api/show", 404, "model 'ghost:latest' not found", "ghost"),
        (lambda c: c.embed("ghost", "x"), "/api/embed", 404,
         'model "ghost" not found, try pulling it first', "ghost"),
        (lambda c: c.embeddings("ghost", "x"), "/api/embeddings", 404,
         'model "ghost" not found, try pulling it first', "ghost"),
        (lambda c: c.copy("ghost", "copy"), "/api/copy", 404, 'model "ghost" not found', "ghost"),
        (lambda c: c.delete("ghost"), "/api/delete", 404, "model 'ghost' not found", "ghost"),
    ],
)
def test_model_not_found_variants(script_server, call, path, status, message, model) -> None:
    script_server.add(path, Reply.json({"error": message}, status=status))
    with ollama_nb.Client(script_server.url) as client, pytest.raises(ollama_nb.ModelNotFoundError) as info:
        call(client)
    err = info.value
    assert err.model == model and err.status_code == status and err.error == message
    assert f"ollama pull {model}" in str(err) and "\n" not in str(err)
    assert isinstance(err, ollama_nb.ResponseError)


def test_other_statuses_are_response_errors(script_server) -> None:
    script_server.add("/api/chat", Reply.json(
        {"error": "server busy, please try again.  maximum pending requests exceeded"}, status=503))
    script_server.add("/api/generate", Reply.json(
        {"error": "registry.ollama.ai/library/m:latest does not support insert"}, status=400))
    with ollama_nb.Client(script_server.url) as client:
        with pytest.raises(ollama_nb.ResponseError) as busy:
            client.chat("m", [{"role": "user", "content": "x"}], stream=True)
        with pytest.raises(ollama_nb.ResponseError) as insert:
            client.generate("m", "x", suffix="y")
    assert busy.value.status_code == 503 and "server busy" in str(busy.value)
    assert type(insert.value) is ollama_nb.ResponseError and "does not support insert" in str(insert.value)


def test_plain_text_error_bodies(script_server) -> None:
    script_server.add("/api/tags", Reply(status=405, content_type="text/plain", pieces=[b"405 method not allowed"]))
    with ollama_nb.Client(script_server.url) as client:
        with pytest.raises(ollama_nb.ResponseError) as wrong_method:
            client.list()
        with pytest.raises(ollama_nb.ResponseError) as unknown:
            client.version()  # nothing scripted: the server says 404 page not found
    assert wrong_method.value.status_code == 405 and wrong_method.value.error == "405 method not allowed"
    assert unknown.value.status_code == 404 and not isinstance(unknown.value, ollama_nb.ModelNotFoundError)
    assert "/api/version" in str(unknown.value)


def test_html_error_page_is_one_line_without_markup(script_server) -> None:
    page = (b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title>\n<style>body{}</style></head>"
            b"<body>\n<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n"
            b"<script>alert(1)</script></body></html>\n")
    script_server.add("/api/generate", Reply(status=502, content_type="text/html", pieces=[page]))
    with ollama_nb.Client(script_server.url) as client, pytest.raises(ollama_nb.ResponseError) as info:
        client.generate("m", "hi", stream=True)
    message = str(info.value)
    assert info.value.status_code == 502 and "502 Bad Gateway" in message
    assert "<" not in message and "script" not in message and "\n" not in message
    assert info.value.body is None  # the markup is not kept for display either


def test_model_not_found_only_for_model_messages(script_server) -> None:
    script_server.add("/api/show", Reply.json({"error": "invalid model name"}, status=400))
    with ollama_nb.Client(script_server.url) as client, pytest.raises(ollama_nb.ResponseError) as info:
        client.show("bad name!")
    assert not isinstance(info.value, ollama_nb.ModelNotFoundError)


BAD_CALLS = [
    ("empty model", lambda c: c.generate("", "hi")),
    ("blank model", lambda c: c.chat("   ", [])),
    ("model not str", lambda c: c.embed(None, "x")),
    ("format", lambda c: c.generate("m", "x", format="yaml")),
    ("format type", lambda c: c.chat("m", [], format=3)),
    ("keep_alive word", lambda c: c.generate("m", "x", keep_alive="forever")),
    ("keep_alive bool", lambda c: c.generate("m", "x", keep_alive=True)),
    ("image missing", lambda c: c.generate("m", "x", images=["/nonexistent/cat.png"])),
    ("image not image", lambda c: c.generate("m", "x", images=[b"plain text, not a picture"])),
    ("image garbage str", lambda c: c.generate("m", "x", images=["not base64 !!"])),
    ("num_predict str", lambda c: c.generate("m", "x", options={"num_predict": "10"})),
    ("temperature str", lambda c: c.generate("m", "x", options={"temperature": "hot"})),
    ("stop ints", lambda c: c.generate("m", "x", options={"stop": [1, 2]})),
    ("options not dict", lambda c: c.generate("m", "x", options=[("temperature", 0)])),
    ("think level", lambda c: c.chat("m", [], think="extreme")),
    ("top_logprobs", lambda c: c.generate("m", "x", top_logprobs=21)),
    ("messages str", lambda c: c.chat("m", "hello")),
    ("message no role", lambda c: c.chat("m", [{"content": "hi"}])),
    ("embed input ints", lambda c: c.embed("m", ["a", 2])),
    ("embed input dict", lambda c: c.embed("m", {"a": 1})),
    ("embed dims", lambda c: c.embed("m", "a", dimensions=-3)),
    ("context", lambda c: c.generate("m", "x", context="1,2,3")),
    ("raw", lambda c: c.generate("m", "x", raw="yes")),
    ("digest", lambda c: c.blob_exists("sha256:1234")),
    ("blob path", lambda c: c.create_blob("/nonexistent/file.gguf")),
    ("create no base", lambda c: c.create("new", system="hi")),
    ("modelfile syntax", lambda c: c.create("new", modelfile="FROM m\nBOGUS x\n")),
    ("copy dest", lambda c: c.copy("a", "")),
]


@pytest.mark.parametrize(("what", "call"), BAD_CALLS, ids=[w for w, _ in BAD_CALLS])
def test_bad_arguments_fail_before_any_request(script_server, what, call) -> None:
    with ollama_nb.Client(script_server.url) as client, pytest.raises(ollama_nb.InvalidArgumentError) as info:
        call(client)
    assert script_server.requests == []
    assert isinstance(info.value, ValueError) and "\n" not in str(info.value)


def test_bad_timeout() -> None:
    for bad in (0, -1, "10", (1,), (1, 0), True):
        with pytest.raises(ollama_nb.InvalidArgumentError):
            ollama_nb.Client(timeout=bad)


def test_credentials_never_in_messages_or_reprs(script_server, monkeypatch, free_port) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "sk-very-secret-key")
    host = f"http://bob:hunter2@127.0.0.1:{free_port}"
    client = ollama_nb.Client(host)
    with pytest.raises(ollama_nb.ConnectError) as info:
        client.list()
    for text in (str(info.value), repr(info.value), repr(client), client.base_url):
        assert "hunter2" not in text and "bob" not in text and "sk-very-secret-key" not in text
    # an error body that echoes an Authorization header is redacted too
    script_server.add("/api/tags", Reply.json({"error": "bad token Bearer sk-very-secret-key"}, status=401))
    with ollama_nb.Client(script_server.url) as other, pytest.raises(ollama_nb.ResponseError) as echoed:
        other.list()
    assert "sk-very-secret-key" not in str(echoed.value)


def test_empty_403_explains_the_host_check(script_server) -> None:
    script_server.add("/api/tags", Reply(status=403, content_type=None, pieces=[b""]))
    with ollama_nb.Client(script_server.url) as client, pytest.raises(ollama_nb.ResponseError) as info:
        client.list()
    assert info.value.status_code == 403 and "Host" in str(info.value)


def test_html_title_entities_are_decoded(script_server) -> None:
    page = b"<html><head><title>Bad Gateway &amp; friends</title></head><body></body></html>"
    script_server.add("/api/tags", Reply(status=502, content_type="text/html; charset=utf-8", pieces=[page]))
    with ollama_nb.Client(script_server.url) as client, pytest.raises(ollama_nb.ResponseError) as info:
        client.list()
    assert "Bad Gateway & friends" in str(info.value)


def test_error_body_cut_off_is_still_a_response_error(script_server) -> None:
    script_server.add("/api/chat", Reply(status=500, pieces=[b'{"error":"boom', b'"}'], chunked=True, drop_after=1))
    with ollama_nb.Client(script_server.url) as client, pytest.raises(ollama_nb.ResponseError) as info:
        client.chat("m", [{"role": "user", "content": "x"}])
    assert info.value.status_code == 500


def test_ok_status_with_bad_body_has_no_error_prefix(script_server) -> None:
    script_server.add("/api/tags", Reply(pieces=[b"[1, 2]"]))
    with ollama_nb.Client(script_server.url) as client, pytest.raises(ollama_nb.ResponseError) as info:
        client.list()
    assert str(info.value).startswith("invalid response from") and info.value.status_code == 200

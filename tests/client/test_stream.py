"""Streams over real sockets: prompt delivery, failures with partial results, and closing for real."""

from __future__ import annotations

import gc
import signal
import threading
import time

import pytest
from client_scriptserver import Reply

import ollama_nb

CHUNKS = [
    {"model": "m", "created_at": "2025-01-01T00:00:00Z", "response": word, "done": False}
    for word in ("The", " sky", " is", " blue")
]
FINAL = {"model": "m", "created_at": "2025-01-01T00:00:01Z", "response": "", "done": True,
         "done_reason": "stop", "eval_count": 4, "eval_duration": 2_000_000_000,
         "total_duration": 3_000_000_000, "load_duration": 500_000_000}


def _client(server, **kw) -> ollama_nb.Client:
    return ollama_nb.Client(server.url, **kw)


def _wait(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_each_line_arrives_before_the_server_sends_the_next(script_server) -> None:
    gates = [threading.Event() for _ in range(4)]
    script_server.add("/api/generate", Reply.ndjson([*CHUNKS, FINAL], gate=gates))
    seen = []
    with _client(script_server) as client, client.generate("m", "hi", stream=True) as stream:
        for index, chunk in enumerate(stream):
            seen.append(chunk.response)
            if index < len(gates):
                gates[index].set()  # only now may the server send the next line
    request = script_server.wait_done()
    assert "x-gate-timeout" not in request.headers  # no line waited for a later one
    assert seen == ["The", " sky", " is", " blue", ""]
    assert stream.text == "The sky is blue"
    assert stream.final.done_reason == "stop"
    assert stream.final.tokens_per_second == pytest.approx(2.0)
    assert request.headers["accept"] == "application/x-ndjson"


def test_lines_split_across_chunks_and_many_lines_in_one_chunk(script_server) -> None:
    import json

    body = b"".join(json.dumps(o).encode() + b"\n" for o in [*CHUNKS, FINAL])
    pieces = [body[i : i + 7] for i in range(0, 63, 7)] + [body[63:]]
    script_server.add("/api/generate", Reply(pieces=pieces, chunked=True, content_type="application/x-ndjson"))
    with _client(script_server) as client:
        stream = client.generate("m", "hi", stream=True)
        assert stream.result().response == "The sky is blue"


def test_error_line_mid_stream_keeps_partial(script_server) -> None:
    script_server.add("/api/chat", Reply.ndjson(
        [{"model": "m", "message": {"role": "assistant", "content": t}, "done": False} for t in ("Hel", "lo")]
        + [{"error": "an error was encountered while running the model"}]))
    with _client(script_server) as client:
        stream = client.chat("m", [{"role": "user", "content": "hi"}], stream=True)
        got = []
        with pytest.raises(ollama_nb.StreamError) as info:
            for chunk in stream:
                got.append(chunk.message.content)
    err = info.value
    assert not isinstance(err, ollama_nb.IncompleteStreamError)
    assert got == ["Hel", "lo"]
    assert "an error was encountered while running the model" in str(err)
    assert err.partial.message.content == "Hello" and err.partial.done is False
    assert stream.closed


def test_stream_without_done_raises_incomplete(script_server) -> None:
    script_server.add("/api/generate", Reply.ndjson(CHUNKS[:2]))
    with _client(script_server) as client:
        stream = client.generate("m", "hi", stream=True)
        with pytest.raises(ollama_nb.IncompleteStreamError) as info:
            list(stream)
    assert info.value.partial.response == "The sky"
    assert "without done" in str(info.value)


def test_dropped_connection_raises_incomplete_with_partial(script_server) -> None:
    script_server.add("/api/generate", Reply.ndjson([*CHUNKS, FINAL], drop_after=3))
    with _client(script_server) as client:
        with pytest.raises(ollama_nb.IncompleteStreamError) as info:
            with client.generate("m", "hi", stream=True) as stream:
                for _ in stream:
                    pass
    assert info.value.partial.response == "The sky is"
    assert stream.text == "The sky is"


def test_malformed_line_is_a_stream_error(script_server) -> None:
    import json

    pieces = [json.dumps(CHUNKS[0]).encode() + b"\n", b"<html>oops</html>\n"]
    script_server.add("/api/generate", Reply(pieces=pieces, chunked=True, content_type="application/x-ndjson"))
    with _client(script_server) as client, pytest.raises(ollama_nb.StreamError) as info:
        list(client.generate("m", "hi", stream=True))
    assert "not a JSON object" in str(info.value) and info.value.partial.response == "The"


def test_empty_body(script_server) -> None:
    script_server.add("/api/generate", Reply(pieces=[b""], content_type="application/x-ndjson"))
    with _client(script_server) as client:
        with pytest.raises(ollama_nb.IncompleteStreamError):
            list(client.generate("m", "hi", stream=True))
        with pytest.raises(ollama_nb.ResponseError) as info:
            client.generate("m", "hi")
    assert "empty response" in str(info.value)


def test_stall_mid_stream_times_out_with_partial(script_server) -> None:
    gate = [threading.Event()]  # never set: the server stalls after the first line
    script_server.add("/api/generate", Reply.ndjson([*CHUNKS, FINAL], gate=gate))
    with _client(script_server, timeout=(1, 0.3)) as client:
        stream = client.generate("m", "hi", stream=True)
        with pytest.raises(ollama_nb.OllamaTimeout) as info:
            list(stream)
    gate[0].set()
    assert info.value.partial.response == "The"
    assert isinstance(info.value, TimeoutError)
    assert stream.closed


def test_slow_first_byte_times_out(script_server) -> None:
    script_server.add("/api/tags", Reply.json({"models": []}, chunked=True, delay=1.0))
    with _client(script_server, timeout=(1, 0.2)) as client, pytest.raises(ollama_nb.OllamaTimeout) as info:
        client.list()
    assert script_server.url in str(info.value) and "timeout" in str(info.value)


def test_keyboard_interrupt_from_consumer_closes_the_socket(script_server) -> None:
    script_server.add("/api/generate", Reply.ndjson(CHUNKS, delay=0.02, repeat_forever=True))
    client = _client(script_server)
    with pytest.raises(KeyboardInterrupt):
        with client.generate("m", "hi", stream=True) as stream:
            for index, _ in enumerate(stream):
                if index == 3:
                    raise KeyboardInterrupt
    assert stream.closed
    request = script_server.wait_done()
    assert request.disconnected  # the server's next write failed: it saw us leave


def test_keyboard_interrupt_without_with_block_still_closes(script_server) -> None:
    script_server.add("/api/generate", Reply.ndjson(CHUNKS, delay=0.02, repeat_forever=True))
    client = _client(script_server)

    def consume() -> None:
        for index, _ in enumerate(client.generate("m", "hi", stream=True)):
            if index == 3:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        consume()
    gc.collect()
    assert script_server.wait_done().disconnected


def test_keyboard_interrupt_during_a_blocked_read(script_server, default_sigint) -> None:
    """SIGINT while the main thread waits in recv(): the socket is closed, the error passes on."""
    gate = [threading.Event()]
    script_server.add("/api/generate", Reply.ndjson([*CHUNKS, FINAL], gate=gate))
    main = threading.main_thread().ident
    assert threading.current_thread() is threading.main_thread()
    client = _client(script_server)
    stream = client.generate("m", "hi", stream=True)
    assert next(stream).response == "The"
    timer = threading.Timer(0.2, signal.pthread_kill, (main, signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            next(stream)  # blocks: the server waits on the gate
    finally:
        timer.cancel()
    assert stream.closed and stream.text == "The"
    gate[0].set()
    assert script_server.wait_done().disconnected


def test_close_from_another_thread_stops_quietly(script_server) -> None:
    gate = [threading.Event()]
    script_server.add("/api/generate", Reply.ndjson([*CHUNKS, FINAL], gate=gate))
    client = _client(script_server)
    stream = client.generate("m", "hi", stream=True)
    threading.Timer(0.2, stream.close).start()  # a Stop button
    got = [chunk.response for chunk in stream]  # ends without an exception
    assert got == ["The"] and stream.stopped and stream.partial.response == "The"
    gate[0].set()
    assert script_server.wait_done().disconnected


def test_garbage_collection_closes_the_connection(script_server) -> None:
    script_server.add("/api/generate", Reply.ndjson(CHUNKS, delay=0.02, repeat_forever=True))
    client = _client(script_server)
    stream = client.generate("m", "hi", stream=True)
    next(stream)
    del stream
    gc.collect()
    assert script_server.wait_done().disconnected


def test_progress_stream(script_server) -> None:
    lines = [{"status": "pulling manifest"},
             {"status": "pulling abc", "digest": "sha256:" + "a" * 64, "total": 10},
             {"status": "pulling abc", "digest": "sha256:" + "a" * 64, "total": 10, "completed": 5},
             {"status": "success"}]
    script_server.add("/api/pull", Reply.ndjson(lines))
    with _client(script_server) as client:
        fractions = [p.fraction for p in client.pull("m", stream=True)]
    assert fractions == [None, 0.0, 0.5, None]
    script_server.add("/api/push", Reply.ndjson(lines[:2]))
    with _client(script_server) as client, pytest.raises(ollama_nb.IncompleteStreamError):
        list(client.push("me/m", stream=True))


def test_pull_error_mid_stream(script_server) -> None:
    script_server.add("/api/pull", Reply.ndjson(
        [{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}]))
    with _client(script_server) as client, pytest.raises(ollama_nb.StreamError) as info:
        list(client.pull("nope", stream=True))
    assert "file does not exist" in str(info.value)
    assert info.value.partial.status == "pulling manifest"


def test_non_stream_answered_with_ndjson_is_merged(script_server) -> None:
    script_server.add("/api/generate", Reply.ndjson([*CHUNKS, FINAL]))
    with _client(script_server) as client:
        result = client.generate("m", "hi")
    assert result.response == "The sky is blue" and result.done and result.eval_count == 4


def test_single_json_object_on_a_stream(script_server) -> None:
    """An empty prompt loads the model: the server answers one JSON object, not NDJSON."""
    load = {"model": "m", "created_at": "2025-01-01T00:00:00Z", "response": "", "done": True,
            "done_reason": "load"}
    script_server.add("/api/generate", Reply.json(load))
    with _client(script_server) as client:
        chunks = list(client.generate("m", stream=True))
    assert [c.done_reason for c in chunks] == ["load"]


def test_thinking_and_tool_calls_accumulate(script_server) -> None:
    call = {"id": "call_abcd1234", "function": {"index": 0, "name": "add", "arguments": {"a": 1, "b": 2}}}
    lines = [
        {"model": "m", "message": {"role": "assistant", "content": "", "thinking": "Let me "}, "done": False},
        {"model": "m", "message": {"role": "assistant", "content": "", "thinking": "add."}, "done": False},
        {"model": "m", "message": {"role": "assistant", "content": "", "tool_calls": [call]}, "done": False},
        {"model": "m", "message": {"role": "assistant", "content": "3"}, "done": False},
        {"model": "m", "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"},
    ]
    script_server.add("/api/chat", Reply.ndjson(lines))
    with _client(script_server) as client:
        stream = client.chat("m", [{"role": "user", "content": "1+2"}], think=True, stream=True)
        result = stream.result()
    assert stream.thinking == "Let me add." and stream.text == "3"
    assert result.message.thinking == "Let me add." and result.message.content == "3"
    (tool,) = result.message.tool_calls
    assert (tool.id, tool.name, tool.arguments, tool.function.index) == ("call_abcd1234", "add", {"a": 1, "b": 2}, 0)
    assert stream.tool_calls[0].name == "add"
    assert script_server.requests[-1].json["think"] is True

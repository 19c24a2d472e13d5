"""``AsyncClient`` over real sockets: what only an async client has to get right.

Every endpoint and error class is checked for both clients by ``test_sandbox.py`` and
the fault matrix (``tests/faults/test_client.py``); here: ``async for`` / ``async with``,
arguments checked on ``await``, cancellation closing the connection, a Stop from
another thread, many streams at once, several event loops, and the host, header and
credential rules seen from the server's side.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import importlib.util
import inspect
import sys
import threading
import warnings
from pathlib import Path

import pytest
import pytest_asyncio
from client_scriptserver import Reply

import ollama_nb
from ollama_nb import AsyncClient, Client
from ollama_nb.client._stream import Stream

_spec = importlib.util.spec_from_file_location("_leaks", Path(__file__).parent.parent / "faults" / "leaks.py")
assert _spec is not None and _spec.loader is not None
_leaks = sys.modules.setdefault("_leaks", importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(_leaks)

STORY = "Tell me a long story about the sea and the sky"
LONG = {"num_predict": 400}


def _connections_to(port: int) -> list[tuple[str, str, str]]:
    """This process's open TCP sockets whose far end is ``port`` (the client side of each)."""
    return [c for c in _leaks.tcp_connections() if int(c[1].rsplit(":", 1)[1], 16) == port]


async def _until(predicate, timeout: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


def _left(sandbox, path: str = "/api/generate") -> bool:
    return any(r.path == path and r.disconnected for r in sandbox.requests)


@pytest_asyncio.fixture
async def aclient(ollama_sandbox):
    async with AsyncClient() as client:  # follows OLLAMA_HOST, which the fixture set
        yield client


def test_every_method_of_client_is_there_awaitable_with_the_same_signature() -> None:
    names = [n for n, v in vars(Client).items() if getattr(v, "_endpoint", False)] + ["request_raw"]
    assert len(names) == 17
    for name in names:
        sync, coro = getattr(Client, name), getattr(AsyncClient, name)
        assert inspect.iscoroutinefunction(coro), name
        assert inspect.signature(sync) == inspect.signature(coro) or name == "request_raw", name
        assert coro.__qualname__ == f"AsyncClient.{name}" and coro.__doc__, name
    assert inspect.iscoroutinefunction(AsyncClient.close) and AsyncClient.aclose is AsyncClient.close


@pytest.mark.asyncio
async def test_async_for_gives_typed_chunks_and_the_same_answer_as_client(aclient, ollama_sandbox) -> None:
    options = {"num_predict": 30, "seed": 7}
    stream = await aclient.generate("llama3.2", "Why is the sky blue?", options=options, stream=True)
    assert isinstance(stream, Stream)
    async with stream:
        chunks = [chunk async for chunk in stream]
    assert all(isinstance(c, ollama_nb.client._types.GenerateResponse) for c in chunks)
    assert chunks[-1].done and not any(c.done for c in chunks[:-1])
    assert stream.text == "".join(c.response for c in chunks) and stream.closed
    with Client() as client:
        assert client.generate("llama3.2", "Why is the sky blue?", options=options).response == stream.text
    whole = await aclient.chat("qwen3", [{"role": "user", "content": "2+2?"}], think=True)
    async with await aclient.chat("qwen3", [{"role": "user", "content": "2+2?"}], think=True,
                                  stream=True) as chat:
        answer = await chat.aresult()
    assert answer.message.content == whole.message.content and chat.thinking == whole.message.thinking
    assert not any(r.disconnected for r in ollama_sandbox.requests)  # each ran to its end


@pytest.mark.asyncio
async def test_each_line_arrives_before_the_server_sends_the_next(script_server) -> None:
    lines = [{"model": "m", "response": w, "done": False} for w in ("The", " sky", " is")]
    lines.append({"model": "m", "response": "", "done": True, "done_reason": "stop"})
    gates = [threading.Event() for _ in range(3)]
    script_server.add("/api/generate", Reply.ndjson(lines, gate=gates))
    seen = []
    async with AsyncClient(script_server.url) as client:
        async for index, chunk in _enumerate(await client.generate("m", "hi", stream=True)):
            seen.append(chunk.response)
            if index < len(gates):
                gates[index].set()  # only now may the server send the next line
    request = script_server.wait_done()
    assert "x-gate-timeout" not in request.headers and seen == ["The", " sky", " is", ""]
    assert request.headers["accept"] == "application/x-ndjson"


async def _enumerate(stream):
    index = 0
    async for item in stream:
        yield index, item
        index += 1


@pytest.mark.asyncio
async def test_lines_that_came_with_a_dropped_connection_are_kept(script_server) -> None:
    """aiohttp reports the drop before the data that arrived with it; the data still counts."""
    lines = [{"model": "m", "response": w, "done": False} for w in ("The", " sky", " is")]
    script_server.add("/api/generate", Reply.ndjson(lines, drop_after=2))
    async with AsyncClient(script_server.url) as client:
        stream = await client.generate("m", "hi", stream=True)
        script_server.wait_done()  # both lines and the drop are in our socket buffer now
        await asyncio.sleep(0.1)
        got = []
        with pytest.raises(ollama_nb.IncompleteStreamError, match="after 2 chunks") as info:
            async for chunk in stream:
                got.append(chunk.response)
    assert got == ["The", " sky"] and info.value.partial.response == "The sky"


@pytest.mark.asyncio
async def test_a_stream_is_read_the_way_its_client_reads(aclient) -> None:
    stream = await aclient.generate("llama3.2", "hi", stream=True)
    with pytest.raises(TypeError, match="async for"):
        for _ in stream:
            pass
    assert (await stream.aresult()).done
    with Client() as client, client.generate("llama3.2", "hi", stream=True) as sync_stream:
        with pytest.raises(TypeError, match="with `for`"):
            async for _ in sync_stream:
                pass


@pytest.mark.asyncio
async def test_arguments_are_checked_on_await_before_any_request(aclient, ollama_sandbox) -> None:
    ollama_sandbox.clear_requests()
    pending = aclient.generate("", "hi")  # nothing happens until it is awaited
    with pytest.raises(ollama_nb.InvalidArgumentError, match="model"):
        await pending
    results = await asyncio.gather(aclient.embed("all-minilm", [1, 2]), aclient.chat("llama3.2", [], keep_alive="soon"),
                                   return_exceptions=True)
    assert all(isinstance(r, ollama_nb.InvalidArgumentError) for r in results)
    assert ollama_sandbox.requests == []


@pytest.mark.asyncio
async def test_cancelling_a_streaming_task_closes_its_connection_at_once(aclient, ollama_sandbox) -> None:
    ollama_sandbox.inject("latency", seconds=0.05)
    got = []
    started = asyncio.Event()

    async def consume() -> None:
        stream = await aclient.generate("llama3.2", STORY, options=LONG, stream=True)
        got.append(stream)
        async for _ in stream:
            if stream.chunks == 3:
                started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 10)
    assert _connections_to(ollama_sandbox.port)  # the stream's connection is open
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    (stream,) = got
    assert stream.closed and stream.text and not _connections_to(ollama_sandbox.port)
    assert await _until(lambda: _left(ollama_sandbox))  # the server saw the client leave


@pytest.mark.asyncio
async def test_cancelling_a_task_that_waits_for_an_answer_closes_its_connection(aclient, ollama_sandbox) -> None:
    ollama_sandbox.inject("slow_load", seconds=3)
    task = asyncio.create_task(aclient.generate("llama3.2", "hi"))
    assert await _until(lambda: any(r.path == "/api/generate" for r in ollama_sandbox.requests))
    assert _connections_to(ollama_sandbox.port)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not _connections_to(ollama_sandbox.port)
    ollama_sandbox.clear_faults()
    assert (await aclient.generate("llama3.2", "hi")).done  # the client is still fine


@pytest.mark.asyncio
async def test_stop_from_another_thread_ends_the_stream_quietly(aclient, ollama_sandbox) -> None:
    ollama_sandbox.inject("latency", seconds=0.05)
    stream = await aclient.generate("llama3.2", STORY, options=LONG, stream=True)
    stopper = threading.Timer(0.4, stream.close)  # a Stop button's callback, on its own thread
    stopper.start()
    async for _ in stream:  # ends without an exception
        pass
    stopper.join()
    assert stream.stopped and stream.final is None
    assert stream.text and stream.partial.response == stream.text and not stream.partial.done
    assert await _until(lambda: _left(ollama_sandbox))


@pytest.mark.asyncio
async def test_aclose_mid_stream_tells_the_server(aclient, ollama_sandbox) -> None:
    ollama_sandbox.inject("latency", seconds=0.05)
    async with await aclient.chat("llama3.2", [{"role": "user", "content": STORY}], options=LONG,
                                  stream=True) as stream:
        async for _ in stream:
            if stream.chunks == 2:
                break
    assert stream.closed and stream.stopped and stream.partial.message.content
    assert await _until(lambda: _left(ollama_sandbox, "/api/chat"))


@pytest.mark.asyncio
async def test_ten_streams_at_once_on_one_client(aclient, ollama_sandbox) -> None:
    started: list[int] = []
    all_started = asyncio.Event()

    async def one(index: int) -> str:
        stream = await aclient.generate("llama3.2", f"Story number {index}", options={"num_predict": 30},
                                        stream=True)
        async for _ in stream:
            if stream.chunks == 1:
                started.append(index)
                if len(started) == 10:
                    all_started.set()
                await asyncio.wait_for(all_started.wait(), 10)  # only if all ten are open at once
        return stream.text

    texts = await asyncio.gather(*(one(i) for i in range(10)))
    assert sorted(started) == list(range(10))
    with Client() as client:
        for index, text in enumerate(texts):
            assert text == client.generate("llama3.2", f"Story number {index}",
                                           options={"num_predict": 30}).response


# asyncio.run() closes its loop without closing the sockets of that loop's transports;
# asyncio itself reports them when they are collected (ResourceWarning, off by default)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_one_client_in_two_event_loops(ollama_sandbox) -> None:
    client = AsyncClient()
    reported = []

    async def version(client: AsyncClient) -> str:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context))
        return await client.version()

    first = asyncio.run(version(client))
    second = asyncio.run(client.list())  # a new loop: a new session, the old one dropped
    assert first and "llama3.2:latest" in second.names
    asyncio.run(client.close())
    del client
    gc.collect()
    assert not reported  # no "Unclosed client session" / "Unclosed connector"


@pytest.mark.asyncio
async def test_an_unclosed_client_is_closed_quietly_when_collected(ollama_sandbox) -> None:
    reported = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: reported.append(context))
    client = AsyncClient()
    assert await client.version()
    assert _connections_to(ollama_sandbox.port)  # kept alive in the pool
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del client
        gc.collect()
        assert await _until(lambda: not _connections_to(ollama_sandbox.port))
    assert not reported and not [w for w in caught if issubclass(w.category, ResourceWarning)]


@pytest.mark.asyncio
async def test_headers_and_credentials_as_the_server_sees_them(ollama_sandbox, monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "key123")
    async with AsyncClient() as client:
        await client.version()
    async with AsyncClient(headers={"Authorization": "Bearer mine", "X-Team": "a"}) as client:
        await client.list()
    url = ollama_sandbox.url.replace("http://", "http://ann:p%40ss@")
    monkeypatch.delenv("OLLAMA_API_KEY")
    async with AsyncClient(url) as client:
        await client.ps()
        assert "p%40ss" not in repr(client) and "ann" not in repr(client)
    first, second, third = (r.headers for r in ollama_sandbox.requests)
    assert first["authorization"] == "Bearer key123" and first["accept"] == "application/json"
    assert first["user-agent"].startswith(f"ollama-nb/{ollama_nb.__version__} (")
    assert second["authorization"] == "Bearer mine" and second["x-team"] == "a"
    assert third["authorization"] == "Basic " + base64.b64encode(b"ann:p@ss").decode()


@pytest.mark.asyncio
async def test_host_and_timeout_rules(ollama_sandbox, monkeypatch) -> None:
    assert AsyncClient().base_url == ollama_sandbox.url  # OLLAMA_HOST
    everywhere = AsyncClient(f"0.0.0.0:{ollama_sandbox.port}")
    assert everywhere.base_url == f"http://127.0.0.1:{ollama_sandbox.port}"
    assert AsyncClient(timeout=7).timeout == (5.0, 7.0) == Client(timeout=7).timeout
    with pytest.raises(ollama_nb.InvalidArgumentError, match="timeout"):
        AsyncClient(timeout=-1)
    # a proxy in the environment must not capture a server on this machine
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    async with everywhere:
        assert await everywhere.is_reachable()
        assert (await everywhere.show("llama3.2")).family == "llama"


@pytest.mark.asyncio
async def test_request_raw(aclient) -> None:
    response = await aclient.request_raw("GET", "/api/version")
    assert response.status == 200 and "version" in await response.json()
    with pytest.raises(ollama_nb.ResponseError) as info:
        await aclient.request_raw("GET", "/api/generate")  # wrong method: a plain-text 405
    assert info.value.status_code in (404, 405)


@pytest.mark.asyncio
async def test_a_timeout_names_the_async_client(ollama_sandbox) -> None:
    ollama_sandbox.inject("stall", seconds=3, n=2)
    async with AsyncClient(timeout=(2, 0.3)) as client:
        stream = await client.generate("llama3.2", "hi", stream=True)
        with pytest.raises(ollama_nb.OllamaTimeout, match=r"AsyncClient\(timeout=") as info:
            await stream.aresult()
    assert info.value.partial.response == stream.text != ""

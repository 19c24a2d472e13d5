"""OLLAMA_HOST parsing: the official client's table, plus loopback mapping, quotes and credentials."""

from __future__ import annotations

import pytest

import ollama_nb
from ollama_nb.client._host import parse_host, resolve_host

TABLE = [
    # (value, base_url) — the first block is ollama-python's _parse_host doctest table
    (None, "http://127.0.0.1:11434"),
    ("", "http://127.0.0.1:11434"),
    ("1.2.3.4", "http://1.2.3.4:11434"),
    (":56789", "http://127.0.0.1:56789"),
    ("1.2.3.4:56789", "http://1.2.3.4:56789"),
    ("http://1.2.3.4", "http://1.2.3.4:80"),
    ("https://1.2.3.4", "https://1.2.3.4:443"),
    ("https://1.2.3.4:56789", "https://1.2.3.4:56789"),
    ("example.com", "http://example.com:11434"),
    ("example.com:56789", "http://example.com:56789"),
    ("http://example.com", "http://example.com:80"),
    ("https://example.com", "https://example.com:443"),
    ("https://example.com:56789", "https://example.com:56789"),
    ("example.com/", "http://example.com:11434"),
    ("example.com:56789/", "http://example.com:56789"),
    ("example.com/path", "http://example.com:11434/path"),
    ("example.com:56789/path", "http://example.com:56789/path"),
    ("https://example.com:56789/path", "https://example.com:56789/path"),
    ("example.com:56789/path/", "http://example.com:56789/path"),
    ("[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:11434"),
    ("[0001:002:003:0004::1]:56789", "http://[0001:002:003:0004::1]:56789"),
    ("http://[0001:002:003:0004::1]", "http://[0001:002:003:0004::1]:80"),
    ("https://[0001:002:003:0004::1]:56789/path/", "https://[0001:002:003:0004::1]:56789/path"),
    ("[::1]", "http://[::1]:11434"),
    # ours: all-interfaces addresses mean loopback for a client
    ("0.0.0.0", "http://127.0.0.1:11434"),
    ("0.0.0.0:8080", "http://127.0.0.1:8080"),
    ("http://0.0.0.0", "http://127.0.0.1:80"),
    ("::", "http://[::1]:11434"),
    ("[::]", "http://[::1]:11434"),
    ("[::]:9000", "http://[::1]:9000"),
    # ours: bare IPv6 literals (the Go server accepts them; ollama-python raises)
    ("::1", "http://[::1]:11434"),
    # ours (like the Go server): spaces and surrounding quotes stripped, scheme case-insensitive
    ('  "1.2.3.4:5"  ', "http://1.2.3.4:5"),
    ("'example.com'", "http://example.com:11434"),
    ("HTTPS://example.com", "https://example.com:443"),
    # reverse proxy base paths are kept
    ("https://gpu.example.org/ollama/v1/", "https://gpu.example.org:443/ollama/v1"),
]


@pytest.mark.parametrize(("value", "expected"), TABLE)
def test_parse_table(value, expected) -> None:
    assert parse_host(value).base_url == expected


@pytest.mark.parametrize("value", ["http://", "https:///", "host:notaport", "ftp://example.com",
                                   ":66000", "example.com:-1", "http://h/p?q=1"])
def test_malformed_values_name_the_variable(monkeypatch, value) -> None:
    monkeypatch.setenv("OLLAMA_HOST", value)
    with pytest.raises(ollama_nb.InvalidArgumentError) as info:
        ollama_nb.Client()
    message = str(info.value)
    assert message.startswith("OLLAMA_HOST:") and "expected" in message and "\n" not in message


def test_credentials_become_basic_auth_and_never_show(monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "https://alice:s3cr%40t@proxy.example.org/ollama")
    host = resolve_host()
    assert host.base_url == "https://proxy.example.org:443/ollama"
    assert host.auth == ("alice", "s3cr@t")
    assert "s3cr" not in repr(host) and "alice" not in repr(host)
    client = ollama_nb.Client()
    assert client.base_url == "https://proxy.example.org:443/ollama"
    assert "s3cr" not in repr(client)
    with pytest.raises(ollama_nb.InvalidArgumentError) as info:
        parse_host("http://alice:s3cret@host:notaport", source="OLLAMA_HOST")
    assert "s3cret" not in str(info.value) and "alice" not in str(info.value)


def test_precedence(monkeypatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", "10.0.0.1:1")
    assert ollama_nb.Client().base_url == "http://10.0.0.1:1"
    assert ollama_nb.Client("10.0.0.2").base_url == "http://10.0.0.2:11434"
    monkeypatch.setenv("OLLAMA_HOST", "  ")
    assert ollama_nb.Client().base_url == "http://127.0.0.1:11434"
    monkeypatch.delenv("OLLAMA_HOST")
    assert ollama_nb.Client().base_url == "http://127.0.0.1:11434"

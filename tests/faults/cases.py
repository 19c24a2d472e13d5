"""The fault matrix: one row per thing that goes wrong, run through every layer it applies to.

A :class:`Case` says how to produce the fault (a sandbox fault, a raw socket server,
an environment variable), which exception the client raises, and what the one line
the user reads must contain: the *cause* and, where there is one, the *next step*.
Expectations can differ by layer (``{"magic": ..., "*": ...}``) because each layer
names its own knobs (``--timeout`` in a cell, ``Client(timeout=...)`` in Python).

Layers (see the ``test_*.py`` module of the same name):

* ``client``: ``Client.generate(stream=True)`` consumed; ``client_once``: ``stream=False``
* ``async``, ``async_once``: the same through ``AsyncClient`` (``async for``, ``await``)
* ``magic``: ``%%ollama MODEL -o out`` in a real InteractiveShell
* ``show``: ``%ollama show MODEL``; ``models``: ``%ollama models``; ``pull``: ``%ollama pull``
* ``embed``: ``ollama_nb.embed``; ``map_prompts``: ``ollama_nb.map_prompts``
* ``pane``: ``StreamPane.run``; ``chatbox``: ``ChatBox.send``

Fault tests only ever target loopback addresses.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from rawserver import FullBacklog, PrefixProxy, RawServer, dead_port, http_reply

from ollama_nb.client._errors import (
    ConnectError,
    IncompleteStreamError,
    InvalidArgumentError,
    ModelNotFoundError,
    OllamaTimeout,
    ResponseError,
    StreamError,
)

CHAT_MODEL = "llama3.2"
EMBED_MODEL = "all-minilm"
PULL_MODEL = "tinydolphin"  # in the sandbox catalogue, not installed at start
PROMPT = "Tell me about the sea and the sky in some detail."
SHORT = 0.6  # seconds: the timeout used by the timeout cases
STREAM_LAYERS = ("client", "async", "magic", "pane", "chatbox")
ONCE_LAYERS = ("client_once", "async_once", "embed", "map_prompts", "show")
PRE_LAYERS = STREAM_LAYERS + ONCE_LAYERS + ("models", "pull")


@dataclass
class Env:
    """What a case may use: the test's sandbox, a place for extra servers, the environment."""

    sandbox: Any
    monkeypatch: pytest.MonkeyPatch
    stack: contextlib.ExitStack

    def start(self, server: Any) -> Any:
        self.stack.callback(server.close)
        return server


@dataclass(frozen=True)
class Target:
    """Where (and how patiently) a layer sends its request; ``host=None`` means OLLAMA_HOST."""

    host: str | None
    timeout: float | tuple[float, float] | None = None
    model: str | None = None  # overrides the layer's model (a model that does not exist)


Make = Callable[[Env, str], Target]


@dataclass(frozen=True)
class Case:
    id: str
    make: Make  # (env, the layer's model) -> target, injecting faults as needed
    error: type[BaseException] | None  # what the client raises; None: the request works
    cause: dict[str, str] = field(default_factory=dict)  # layer (or "*") -> regex
    step: dict[str, str] = field(default_factory=dict)  # layer (or "*") -> regex of the next step
    partial: bool = False  # some text arrived before the failure and must be kept
    layers: tuple[str, ...] = PRE_LAYERS
    errors: dict[str, type[BaseException]] = field(default_factory=dict)  # layer -> other class

    def expect(self, table: dict[str, str], layer: str) -> str | None:
        return table.get(layer, table.get("*"))

    def error_for(self, layer: str) -> type[BaseException] | None:
        return self.errors.get(layer, self.error)

    def __repr__(self) -> str:
        return self.id


# -- ways to make a fault -------------------------------------------------------------------
def sandbox_fault(kind: str, timeout: Any = None, **params: Any) -> Make:
    def make(env: Env, model: str) -> Target:
        env.sandbox.inject(kind, model=model or None, **params)  # "": every request
        return Target(env.sandbox.url, timeout)
    return make


def raw(reply: bytes | None = None, banner: bytes | None = None, timeout: Any = None) -> Make:
    def make(env: Env, model: str) -> Target:
        return Target(env.start(RawServer(reply, banner=banner)).url, timeout)
    return make


def nothing_listening(env: Env, model: str) -> Target:
    return Target(f"http://127.0.0.1:{dead_port()}")


def full_backlog(env: Env, model: str) -> Target:
    return Target(env.start(FullBacklog()).url, (SHORT, 5.0))


def env_host(value: str) -> Make:
    def make(env: Env, model: str) -> Target:
        env.monkeypatch.setenv("OLLAMA_HOST", value)
        return Target(None)
    return make


def all_interfaces(env: Env, model: str) -> Target:
    return Target(f"0.0.0.0:{env.sandbox.port}")


def behind_proxy(env: Env, model: str) -> Target:
    return Target(env.start(PrefixProxy(env.sandbox.url)).url)


def proxy_without_prefix(env: Env, model: str) -> Target:
    return Target(env.start(PrefixProxy(env.sandbox.url)).root)


def missing_model(env: Env, model: str) -> Target:
    return Target(env.sandbox.url, model=f"nosuch-{model or 'model'}")


def plain(env: Env, model: str) -> Target:
    return Target(env.sandbox.url)


# -- the table ------------------------------------------------------------------------------
_NOT_OLLAMA = r"host|OLLAMA_HOST|port"
_MAGIC_TIMEOUT = r"--timeout|OllamaMagics\.timeout"
_KEPT = r"partial answer.*kept|kept.*partial"

CASES: list[Case] = [
    # where the server is
    Case("server-not-running", nothing_listening, ConnectError,
         cause={"*": r"Cannot reach Ollama at http://127\.0\.0\.1:\d+ \(connection refused\)"},
         step={"*": r"ollama serve"}),
    Case("wrong-port-not-http", raw(banner=b"SSH-2.0-OpenSSH_9.6\r\n"), ConnectError,
         cause={"*": r"Cannot reach Ollama at http://127\.0\.0\.1:\d+"}, step={"*": _NOT_OLLAMA}),
    Case("wrong-port-other-web-server",
         raw(http_reply(404, "Not Found", "<!DOCTYPE HTML><html><head><title>Error response</title>"
                        "</head><body><h1>Error response</h1><p>Error code: 404</p></body></html>",
                        "text/html;charset=utf-8")),
         ResponseError, cause={"*": r"404"}, step={"*": _NOT_OLLAMA}),
    Case("ollama-host-bad-scheme", env_host("ftp://127.0.0.1:11434"), InvalidArgumentError,
         cause={"*": r"OLLAMA_HOST: unsupported scheme 'ftp'"}, step={"*": r"expected .*host"}),
    Case("ollama-host-bad-port", env_host("127.0.0.1:notaport"), InvalidArgumentError,
         cause={"*": r"OLLAMA_HOST: '127\.0\.0\.1:notaport' is not valid"},
         step={"*": r"expected .*host"}),
    Case("all-interfaces-host", all_interfaces, None),
    Case("reverse-proxy-path-prefix", behind_proxy, None),
    Case("reverse-proxy-prefix-missing", proxy_without_prefix, ResponseError,
         cause={"*": r"404.*HTML page"}, step={"*": r"path|prefix|OLLAMA_HOST"}),
    # timeouts
    Case("connect-timeout", full_backlog, OllamaTimeout,
         cause={"*": rf"Timed out after {SHORT:g}s connecting to Ollama at http://127\.0\.0\.1"},
         step={"*": r"ollama serve"}),
    Case("stall-before-first-chunk", sandbox_fault("slow_load", SHORT, seconds=3), OllamaTimeout,
         cause={"*": rf"did not answer .* within {SHORT:g}s"},
         step={"*": r"timeout", "magic": _MAGIC_TIMEOUT}),
    Case("stall-mid-stream", sandbox_fault("stall", SHORT, seconds=3, n=3), OllamaTimeout,
         cause={"*": rf"sent nothing for {SHORT:g}s in the middle of a stream \(after 3 chunks\)"},
         step={"*": r"timeout", "magic": _MAGIC_TIMEOUT}, partial=True, layers=STREAM_LAYERS),
    Case("stall-non-stream", sandbox_fault("stall", SHORT, seconds=3), OllamaTimeout,
         cause={"*": rf"did not answer .* within {SHORT:g}s"}, step={"*": r"timeout"},
         layers=ONCE_LAYERS),
    Case("slow-load-within-timeout", sandbox_fault("slow_load", 5.0, seconds=0.4), None),
    # error statuses
    Case("model-not-found", missing_model, ModelNotFoundError,
         cause={"*": r"nosuch-\S+ not found", "pull": r"file does not exist"},
         step={"*": r"pull", "pull": r"name|ollama\.com|library"},
         errors={"pull": StreamError},
         layers=PRE_LAYERS[:-2] + ("pull",)),
    Case("bad-request-400",
         sandbox_fault("error", status=400, message='invalid think value: "x" (must be "high", '
                       '"medium", "low", "max", true, or false)'),
         ResponseError, cause={"*": r"400.*invalid think value"}),
    Case("wrong-option-type-500", sandbox_fault("error", status=500,
                                                message='option "stop" must be of type array'),
         ResponseError, cause={"*": r'500.*option "stop" must be of type array'}),
    Case("busy-503", sandbox_fault("error", status=503, message="server busy, please try again.  "
                                   "maximum pending requests exceeded"),
         ResponseError, cause={"*": r"503.*server busy"}, step={"*": r"try again"}),
    Case("method-not-allowed-405", raw(http_reply(405, "Method Not Allowed", "405 method not allowed")),
         ResponseError, cause={"*": r"405.*method not allowed"}, step={"*": _NOT_OLLAMA}),
    Case("plain-text-500", raw(http_reply(500, "Internal Server Error", "Internal Server Error\n")),
         ResponseError, cause={"*": r"500.*Internal Server Error"}),
    Case("html-error-page-from-proxy", sandbox_fault("html_error", status=502), ResponseError,
         cause={"*": r"502.*Bad Gateway"}, step={"*": r"proxy"}),
    # broken streams
    Case("error-line-after-3-chunks", sandbox_fault("error_after", n=3, message="CUDA out of memory"),
         StreamError, cause={"*": r"error mid-stream after 3 chunks: CUDA out of memory"},
         step={"magic": _KEPT}, partial=True, layers=STREAM_LAYERS),
    Case("dropped-after-3-chunks", sandbox_fault("drop_after", n=3), IncompleteStreamError,
         cause={"*": r"broke after 3 chunks"}, step={"magic": _KEPT}, partial=True,
         layers=STREAM_LAYERS),
    Case("malformed-line-after-3-chunks", sandbox_fault("malformed_after", n=3), StreamError,
         cause={"*": r"not a JSON object after 3 chunks"}, step={"magic": _KEPT}, partial=True,
         layers=STREAM_LAYERS),
    Case("no-done-after-3-chunks", sandbox_fault("no_done", n=3), IncompleteStreamError,
         cause={"*": r"ended without done after 3 chunks"}, step={"magic": _KEPT}, partial=True,
         layers=STREAM_LAYERS),
    Case("empty-200-stream", sandbox_fault("empty_body"), IncompleteStreamError,
         cause={"*": r"ended without done after 0 chunks"}, layers=STREAM_LAYERS),
    Case("huge-single-line", sandbox_fault("huge_line", bytes=2_000_000), None,
         layers=STREAM_LAYERS),
    # the same faults on answers that are not streamed
    Case("error-non-stream", sandbox_fault("error_after", message="CUDA out of memory"),
         ResponseError, cause={"*": r"500.*CUDA out of memory"}, layers=ONCE_LAYERS),
    Case("dropped-non-stream", sandbox_fault("drop_after"), IncompleteStreamError,
         cause={"*": r"cut off"}, layers=ONCE_LAYERS,
         errors={"map_prompts": IncompleteStreamError}),
    Case("malformed-non-stream", sandbox_fault("malformed_after"), ResponseError,
         cause={"*": r"not a JSON object|unreadable body"}, layers=ONCE_LAYERS),
    Case("empty-200-non-stream", sandbox_fault("empty_body"), ResponseError,
         cause={"*": r"empty response|unreadable body"}, layers=ONCE_LAYERS),
]

# progress streams (pull) break the same ways
PULL_CASES: list[Case] = [
    Case("pull-error-line", sandbox_fault("error_after", n=2, message="disk full"), StreamError,
         cause={"*": r"disk full"}, layers=("pull",)),
    Case("pull-dropped", sandbox_fault("drop_after", n=2), IncompleteStreamError,
         cause={"*": r"broke after 2 chunks"}, layers=("pull",)),
    Case("pull-no-success", sandbox_fault("no_done", n=2), IncompleteStreamError,
         cause={"*": r'ended without "success"'}, layers=("pull",)),
]


def cases_for(layer: str) -> list[Any]:
    """pytest params of every case that applies to ``layer``."""
    return [pytest.param(case, id=case.id) for case in CASES + PULL_CASES if layer in case.layers]


@contextlib.contextmanager
def environment(sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    with contextlib.ExitStack() as stack:
        yield Env(sandbox, monkeypatch, stack)


def check_line(message: str, case: Case, layer: str) -> None:
    """The user's one line: no newline, names the cause and the next step."""
    import re

    assert message.strip() and "\n" not in message.strip(), message
    cause = case.expect(case.cause, layer)
    if cause:
        assert re.search(cause, message), f"cause {cause!r} not in {message!r}"
    step = case.expect(case.step, layer)
    if step:
        assert re.search(step, message), f"next step {step!r} not in {message!r}"

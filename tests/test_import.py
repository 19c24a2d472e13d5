"""`import ollama_nb` stays light: no pandas, numpy, ipywidgets (nor an HTTP stack until a client is used)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pandas", "numpy", "ipywidgets")
HTTP = ("requests", "urllib3", "aiohttp", "httpx")


def _modules(code: str) -> set[str]:
    probe = code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_import_is_light() -> None:
    loaded = _modules("import ollama_nb; ollama_nb.OllamaError; ollama_nb.client.StreamError")
    for name in (*HEAVY, *HTTP, "asyncio"):
        assert name not in loaded, name


def test_client_does_not_pull_in_pandas_or_widgets() -> None:
    loaded = _modules("import ollama_nb; ollama_nb.Client; ollama_nb.OllamaError; ollama_nb.Client()")
    assert "requests" in loaded  # the client's one transport, loaded on use
    for name in HEAVY:
        assert name not in loaded, name


def test_each_client_loads_only_its_own_transport() -> None:
    sync = _modules("import ollama_nb; ollama_nb.Client()")
    assert "requests" in sync and not {"aiohttp", "httpx"} & sync
    asynchronous = _modules("import ollama_nb; ollama_nb.AsyncClient()")
    assert "aiohttp" in asynchronous and not {"requests", "httpx", *HEAVY} & asynchronous

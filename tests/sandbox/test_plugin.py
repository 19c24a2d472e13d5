"""The pytest plugin: marker arguments, OLLAMA_HOST for child processes (kernels)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.ollama_sandbox(models=["gemma3:1b"], token_delay=0.001)
def test_marker_configures_the_sandbox(ollama_sandbox):
    assert ollama_sandbox.installed() == ["gemma3:1b"]
    assert ollama_sandbox.token_delay == 0.001


def test_child_process_reaches_sandbox_through_ollama_host(ollama_sandbox):
    code = ("import ollama; r = ollama.Client().generate('llama3.2', 'hello from a kernel'); "
            "print(r.done, r.model)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.split() == ["True", "llama3.2"]
    assert ollama_sandbox.requests[-1].path == "/api/generate"


def test_default_models_have_distinct_ages(ollama_sandbox):
    import json
    import urllib.request

    from ollama_nb.sandbox.server import _llama_ok

    with urllib.request.urlopen(ollama_sandbox.url + "/api/tags") as resp:
        tags = json.load(resp)["models"]
    # the real smollm2:135m comes first (newest) when its engine and weights are installed
    real = ["smollm2:135m"] if _llama_ok() else []
    assert [m["name"] for m in tags] == real + ["llama3.2:latest", "qwen3:latest",
                                                "all-minilm:latest", "nomic-embed-text:latest"]
    assert len({m["modified_at"][:19] for m in tags}) == len(tags)


def test_plugin_import_is_light():
    import json

    code = ("import sys, json, ollama_nb.sandbox.pytest_plugin, ollama_nb.sandbox; "
            "print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    loaded = set(json.loads(out.stdout))
    for heavy in ("numpy", "ollama_nb.sandbox.server", "http.server", "pandas"):
        assert heavy not in loaded, heavy

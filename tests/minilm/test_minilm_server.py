"""Through a real sandbox socket, `all-minilm` answers with sentence-transformers' vectors."""

from __future__ import annotations

import numpy as np
import requests

from ollama_nb.sandbox import Sandbox


def test_sandbox_serves_the_reference_vectors(reference: dict) -> None:
    texts = reference["texts"][:6]
    with Sandbox(models=["all-minilm"]) as sb:
        assert sb.engines()["all-minilm:latest"].startswith("minilm")
        reply = requests.post(f"{sb.url}/api/embed",
                              json={"model": "all-minilm", "input": texts}, timeout=60)
        reply.raise_for_status()
        body = reply.json()
        vectors = np.array(body["embeddings"], dtype=np.float64)
        assert np.abs(vectors - reference["normalised"][:6]).max() < 1e-5
        assert body["prompt_eval_count"] == int(reference["n_tokens"][:6].sum()) - 2 * 6

        legacy = requests.post(f"{sb.url}/api/embeddings",
                               json={"model": "all-minilm", "prompt": texts[0]}, timeout=60)
        legacy.raise_for_status()
        pooled = np.array(legacy.json()["embedding"])
        assert np.abs(pooled - reference["pooled"][0]).max() < 1e-5  # not normalised

        too_long = requests.post(f"{sb.url}/api/embed", timeout=60, json={
            "model": "all-minilm", "input": "word " * 255, "truncate": False})
        assert too_long.status_code == 400
        assert too_long.json() == {"error": "the input length exceeds the context length"}

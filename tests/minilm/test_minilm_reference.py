"""The numpy engine gives sentence-transformers' all-MiniLM-L6-v2 vectors and token counts."""

from __future__ import annotations

import math

import numpy as np

from ollama_nb.sandbox import _minilm


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64 * b64).sum(1) / np.linalg.norm(a64, axis=1) / np.linalg.norm(b64, axis=1)


def test_reference_covers_the_hard_cases(reference: dict) -> None:
    texts, n_tokens = reference["texts"], reference["n_tokens"]
    assert len(texts) >= 50
    assert "" in texts and any(t and not t.strip() for t in texts)
    assert any("\x00" in t or "\x07" in t for t in texts)
    assert any("\u4e00" <= c <= "\u9fff" for t in texts for c in t)  # CJK
    assert any("\u0600" <= c <= "\u06ff" for t in texts for c in t)  # Arabic
    assert any(ord(c) >= 0x1F300 for t in texts for c in t)  # emoji
    assert (n_tokens == 256).sum() >= 5  # several texts over the context


def test_every_vector_matches_sentence_transformers(embedded: tuple, reference: dict) -> None:
    vectors, _ = embedded
    assert vectors.dtype == np.float32 and vectors.shape == (len(reference["texts"]), 384)
    cos = _cosines(vectors, reference["pooled"])
    worst = int(cos.argmin())
    assert cos.min() >= 0.99999, (cos.min(), reference["texts"][worst][:60])
    # Pooled, not normalised: the lengths agree too (legacy /api/embeddings).
    ratio = np.linalg.norm(vectors, axis=1) / np.linalg.norm(reference["pooled"], axis=1)
    assert np.abs(ratio - 1).max() < 1e-5
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    assert _cosines(unit, reference["normalised"]).min() >= 0.99999
    assert np.abs(unit - reference["normalised"]).max() < 1e-5


def test_token_counts_are_word_pieces_without_specials(engine: _minilm.MiniLM, embedded: tuple,
                                                       reference: dict) -> None:
    _, counts = embedded
    # sentence-transformers' counts include [CLS] and [SEP] and are cut at 256.
    assert counts == [int(n) - 2 for n in reference["n_tokens"]]
    assert engine.embed(["Hello world", ""])[1] == [2, 0]


def test_empty_and_whitespace_are_cls_sep_only(engine: _minilm.MiniLM) -> None:
    vectors, counts = engine.embed(["", " ", "\t\n"])
    assert counts == [0, 0, 0]
    assert np.array_equal(vectors[0], vectors[1]) and np.array_equal(vectors[0], vectors[2])
    assert np.isfinite(vectors).all()


def test_gelu_is_the_exact_erf_form() -> None:
    x = np.linspace(-12, 12, 24001, dtype=np.float32)
    got = x.copy().reshape(1, -1)
    _minilm._gelu(got, np.empty_like(got), np.empty_like(got))
    want = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(float)])
    assert np.abs(got[0] - want).max() < 5e-7
    # The tanh approximation is off by far more than that: this test tells them apart.
    tanh = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    assert np.abs(tanh - want).max() > 1e-4


def test_available_and_load_are_cached(engine: _minilm.MiniLM) -> None:
    assert _minilm.available()
    assert _minilm.MiniLM.load() is engine
    assert engine.max_tokens == 256 and engine.dims == 384
    folder = _minilm.model_dir()
    assert folder is not None and (folder / "model.safetensors").is_file()

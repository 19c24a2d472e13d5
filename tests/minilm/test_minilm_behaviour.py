"""Truncation, batching, concurrency and meaning of the numpy all-MiniLM-L6-v2 engine."""

from __future__ import annotations

import re
import threading
from collections import Counter

import numpy as np
import pytest

from ollama_nb.sandbox import _minilm

_LONG = " ".join(f"Sentence {i} talks about rivers, mountains and the weather." for i in range(60))


def _first_pieces(engine: _minilm.MiniLM, text: str, n: int) -> str:
    """The prefix of ``text`` that holds exactly its first ``n`` word pieces."""
    enc = engine._tokenizer.encode(text, add_special_tokens=False)
    return text[: enc.offsets[n - 1][1]]


def test_long_text_is_cut_to_its_first_254_word_pieces(engine: _minilm.MiniLM) -> None:
    head = _first_pieces(engine, _LONG, 254)
    (long_vec, head_vec), counts = engine.embed([_LONG, head])
    assert counts == [254, 254]
    assert np.abs(long_vec - head_vec).max() < 1e-5
    shorter, _ = engine.embed([_first_pieces(engine, _LONG, 200)])
    assert np.abs(long_vec - shorter[0]).max() > 1e-3  # the cut is at 254, not earlier


def test_truncate_false_refuses_over_the_context(engine: _minilm.MiniLM) -> None:
    fits = "word " * 254  # 254 pieces + [CLS] + [SEP] = 256
    vectors, counts = engine.embed([fits], truncate=False)
    assert counts == [254] and vectors.shape == (1, 384)
    with pytest.raises(ValueError, match="^the input length exceeds the context length$"):
        engine.embed(["short text", "word " * 255], truncate=False)
    with pytest.raises(ValueError, match="exceeds the context length"):
        engine.embed([_LONG], truncate=False)


def test_batching_and_order_do_not_change_vectors(engine: _minilm.MiniLM) -> None:
    texts = ["A short one.", _LONG, "", "A medium sized sentence about rivers and lakes.",
             "中文句子", "x"] * 2  # sorted by length internally
    together, counts = engine.embed(texts)
    for i, text in enumerate(texts[:6]):
        alone, alone_count = engine.embed([text])
        assert alone_count == [counts[i]]
        np.testing.assert_allclose(together[i], alone[0], rtol=0, atol=2e-6)
        np.testing.assert_allclose(together[i], together[i + 6], rtol=0, atol=2e-6)


def test_no_input_gives_an_empty_result(engine: _minilm.MiniLM) -> None:
    vectors, counts = engine.embed([])
    assert vectors.shape == (0, 384) and counts == []


def test_concurrent_calls_give_the_same_vectors(engine: _minilm.MiniLM) -> None:
    medium = _LONG[:400]
    work = [[f"Thread {k} sentence {i} about {w}." for i, w in enumerate("abcdefghij")]
            + [medium] for k in range(3)]
    expected = [engine.embed(texts)[0] for texts in work]
    got: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            got[k] = engine.embed(work[k])[0]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and not any(t.is_alive() for t in threads)
    for k in range(3):
        np.testing.assert_allclose(got[k], expected[k], rtol=0, atol=2e-6)


def test_load_from_many_threads_gives_one_instance(engine: _minilm.MiniLM) -> None:
    seen: list[_minilm.MiniLM] = []
    threads = [threading.Thread(target=lambda: seen.append(_minilm.MiniLM.load()))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(seen) == 4 and all(m is engine for m in seen)


# (query, paraphrase sharing few words, decoy sharing many words but meaning something else)
_CASES = [
    ("How do I reset my password?",
     "I forgot my login credentials and need to change them.",
     "How do I reset my watch to summer time?"),
    ("A man is playing the guitar.",
     "Someone strums an acoustic instrument.",
     "A man is playing the lottery."),
    ("Where can I buy fresh vegetables?",
     "Which shop sells produce straight from the farm?",
     "Where can I buy fresh paint for the fence?"),
    ("The cat is sleeping on the sofa.",
     "A kitten naps on the couch.",
     "The car is parked on the street."),
    ("The flight was delayed because of the storm.",
     "Bad weather held up the plane's departure.",
     "The wedding was postponed because of the illness."),
    ("She is learning to cook Italian food.",
     "She takes lessons in making pasta and risotto.",
     "She is learning to drive a truck."),
    ("The doctor prescribed antibiotics for the infection.",
     "The physician gave her medicine to treat the bacterial illness.",
     "The teacher prescribed homework for the holidays."),
    ("My phone battery dies very quickly.",
     "The charge on my mobile runs out fast.",
     "My garden plants grow very quickly."),
    ("Is it going to rain tomorrow?",
     "What is the weather forecast for the next day?",
     "Is it going to be a long meeting tomorrow?"),
]


def _word_overlap(a: str, b: str) -> float:
    """Cosine of bag-of-words counts: what a word-overlap embedding would score."""
    ca, cb = Counter(re.findall(r"[a-z']+", a.lower())), Counter(re.findall(r"[a-z']+", b.lower()))
    dot = sum(ca[w] * cb[w] for w in ca)
    return dot / (sum(v * v for v in ca.values()) * sum(v * v for v in cb.values())) ** 0.5


def test_nearest_neighbour_is_the_paraphrase_not_the_decoy(engine: _minilm.MiniLM) -> None:
    queries = [q for q, _, _ in _CASES]
    corpus = [p for _, p, _ in _CASES] + [d for _, _, d in _CASES]
    for q, p, d in _CASES:  # the decoys really do share more words than the paraphrases
        assert _word_overlap(q, d) > _word_overlap(q, p) + 0.2, q
    qv, _ = engine.embed(queries)
    cv, _ = engine.embed(corpus)
    qv /= np.linalg.norm(qv, axis=1, keepdims=True)
    cv /= np.linalg.norm(cv, axis=1, keepdims=True)
    sims = qv @ cv.T
    nearest = sims.argmax(axis=1)
    assert [corpus[j] for j in nearest] == [p for _, p, _ in _CASES]
    n = len(_CASES)
    assert (np.diag(sims[:, :n]) - np.diag(sims[:, n:]) > 0.1).all()

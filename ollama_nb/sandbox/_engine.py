"""Deterministic stand-ins for a language model and an embedding model.

Text: readable English built from the prompt's own key words, seeded by the
whole request, so the same request always gives the same answer and a demo reads
sensibly; thinking text and log probabilities too (JSON output and tool calls are
in ``_structured``). Embeddings: signed feature hashing of words (plus a little of
their character trigrams), so texts that share words are measurably closer than
texts that share none. numpy is imported only when embeddings are computed.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import string
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

_TOKEN_RE = re.compile(r"\s*[A-Za-z0-9']+|\s*[^\sA-Za-z0-9']|\s+")
_WORD_RE = re.compile(r"[a-z0-9]+")

STOPWORDS = frozenset(
    ["a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or", "our", "please", "so", "some", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "to", "up", "us", "was", "we", "were", "what", "when", "where", "which", "who", "why", "will", "with", "would", "you", "your", "yours", "hey", "hello", "hi", "tell", "give", "show", "about", "just", "very", "more", "most", "any", "all", "one", "respond", "answer", "write", "use", "using", "make", "let", "short", "briefly", "explain", "describe"]
)

_FALLBACK_TOPICS = ["the question", "this idea", "the details", "the context", "the example"]

_SENTENCES = [
    "{K} is a good place to start.",
    "In short, {k} depends on {k2}.",
    "A useful way to think about {k} is through {k2} and {k3}.",
    "Most explanations of {k} begin with {k2}.",
    "What matters most about {k} is how it relates to {k2}.",
    "{K} and {k2} often appear together, and each helps explain the other.",
    "If you look closely at {k}, the role of {k2} becomes clear.",
    "One practical example is {k} used alongside {k3}.",
    "The main idea is simple: {k} shapes {k2}.",
    "People who study {k} usually also care about {k3}.",
    "There is more to say about {k2}, but {k} is the core of it.",
    "A common mistake is to treat {k} and {k2} as the same thing.",
]
_OPENERS = ["Sure.", "Good question.", "Here is a short answer.", "Certainly.", "Let me explain."]
_CLOSERS = [
    "I hope this helps.",
    "Let me know if you want more detail.",
    "That is the short version.",
    "Happy to go deeper on any part of it.",
]
_THOUGHTS = [
    "Okay, the user is asking about {k}.",
    "I should explain how {k} relates to {k2}.",
    "Let me keep the answer short and clear.",
    "Maybe an example with {k3} would help.",
    "I think the key point is {k}.",
]


# --- tokens -------------------------------------------------------------------------


def tokenize(text: str) -> list[str]:
    """Split text into word-piece tokens whose concatenation is the text."""
    out: list[str] = []
    for piece in _TOKEN_RE.findall(text):
        core = piece.lstrip()
        if len(core) > 7 and core.isalpha():
            cut = len(piece) - len(core) + (len(core) + 1) // 2
            out.extend((piece[:cut], piece[cut:]))
        else:
            out.append(piece)
    return out


def count_tokens(text: str) -> int:
    return len(tokenize(text))


def keywords(text: str, limit: int = 6) -> list[str]:
    """Content words of a prompt, in order of first appearance."""
    seen: list[str] = []
    for word in re.findall(r"[A-Za-z][A-Za-z0-9'-]*", text):
        low = word.lower().strip("'-")
        if len(low) < 3 or low in STOPWORDS or low in seen:
            continue
        seen.append(low)
        if len(seen) >= limit:
            break
    return seen


def seed_for(*parts: Any) -> int:
    """A stable integer seed from any JSON-able request parts."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(blob.encode()).digest()[:8], "big")


# --- text ---------------------------------------------------------------------------


def _slots(rng: random.Random, words: list[str]) -> dict[str, str]:
    pool = words or _FALLBACK_TOPICS
    k = pool[0] if rng.random() < 0.6 else rng.choice(pool)
    rest = [w for w in pool if w != k]
    k2 = rng.choice(rest or _FALLBACK_TOPICS)
    k3 = rng.choice([w for w in rest if w != k2] or [t for t in _FALLBACK_TOPICS if t != k2])
    return {"k": k, "K": k[:1].upper() + k[1:], "k2": k2, "k3": k3}


_LENGTH_ASK = re.compile(r"\b(\d{2,5})\s+(?:words|tokens)\b", re.IGNORECASE)
MAX_ASKED_WORDS = 20_000


def asked_words(prompt: str) -> int | None:
    """The length a prompt asks for ("... in 2000 words"), as a model would follow it."""
    match = _LENGTH_ASK.search(prompt)
    return min(int(match.group(1)), MAX_ASKED_WORDS) if match else None


_PROMPT_CODE = re.compile(r"^(`{3,})python[ \t]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def answer_text(seed: int, prompt: str, *, images: int = 0, length: int | None = None) -> str:
    """A readable deterministic answer that reuses the prompt's key words.

    ``length`` is a number of sentences; a prompt asking for N words gets about N words.
    A prompt holding a fenced ``python`` block (code to explain or fix) gets that code back
    in a block of its own after the first sentence, as a model quoting the cell would.
    """
    rng = random.Random(seed)
    words = keywords(prompt)
    parts = [rng.choice(_OPENERS)]
    code = _PROMPT_CODE.search(prompt)
    if code:
        parts.append(f"\n\n```python\n{code.group(2).rstrip()}\n```\n\n")
    if images:
        parts.append(f"I looked at the {images} image{'s' if images > 1 else ''} you sent.")
    target = asked_words(prompt) if length is None else None
    if target:
        count = len(parts[0].split())
        while count < target:
            sentence = rng.choice(_SENTENCES).format(**_slots(rng, words))
            parts.append(sentence)
            count += len(sentence.split())
    else:
        sentences = rng.sample(_SENTENCES, length if length is not None else rng.randint(3, 5))
        parts.extend(sentence.format(**_slots(rng, words)) for sentence in sentences)
    parts.append(rng.choice(_CLOSERS))
    return " ".join(parts)


def thinking_text(seed: int, prompt: str) -> str:
    rng = random.Random(seed ^ 0x5EED)
    words = keywords(prompt)
    picks = [_THOUGHTS[0]] + rng.sample(_THOUGHTS[1:], 2)
    return " ".join(p.format(**_slots(rng, words)) for p in picks)


def tool_result_text(seed: int, results: Sequence[tuple[str, str]], question: str) -> str:
    """The answer after the ``role: tool`` messages of a turn: it uses every result.

    ``results`` are ``(tool_name, content)`` in the order the messages came (a real
    model reads them all, not only the last one).
    """
    rng = random.Random(seed)
    words = keywords(question)
    topic = " and ".join(words[:2]) if words else "your question"
    parts = []
    for i, (tool_name, result) in enumerate(results or [("", "")]):
        who = f"the {tool_name} tool" if tool_name else "the tool"
        lead = "According to" if i == 0 else "And according to"
        parts.append(f"{lead} {who}, the result is: {result.strip()}")
    return (
        " ".join(parts)
        + f" {rng.choice(['So', 'That means', 'In other words'])}, that answers {topic}."
    )


# --- log probabilities ------------------------------------------------------------------

_ALTERNATIVES = [" the", " a", ",", ".", " and", " of", " to", " is", " it", " in", "\n",
                 " that", " this", " for"]


def token_logprobs(seed: int, tokens: Sequence[str], top: int, prompt: str = ""
                   ) -> list[dict[str, Any]]:
    """``logprobs`` entries for generated tokens, in the real server's shape.

    Each token gets a probability in [0.35, 0.99]; with ``top`` > 0 it comes first in
    ``top_logprobs``, followed by ``top - 1`` other tokens (other spellings of it, the
    prompt's words, common words) sharing the rest of the probability mass, so the
    values are a consistent distribution. Deterministic for a given request.
    """
    words = [" " + w for w in keywords(prompt, limit=12)]
    out = []
    for i, token in enumerate(tokens):
        rng = random.Random(seed ^ (i * 0x9E3779B1) ^ 0x10C)
        p = 0.35 + 0.64 * rng.random() ** 0.5
        entry: dict[str, Any] = {"token": token, "logprob": math.log(p),
                                 "bytes": list(token.encode())}
        if top > 0:
            core = token.strip()
            pool = [core, " " + core, core.capitalize(), core.lower(), *words, *_ALTERNATIVES]
            seen = {token}
            others = []
            for cand in pool:
                if cand and cand not in seen:
                    seen.add(cand)
                    others.append(cand)
            rng.shuffle(others)
            rest, tops = 1.0 - p, [{"token": token, "logprob": entry["logprob"],
                                    "bytes": entry["bytes"]}]
            for cand in others[: top - 1]:
                share = min(rest * rng.uniform(0.3, 0.7), p * 0.99)
                rest -= share
                tops.append({"token": cand, "logprob": math.log(max(share, 1e-12)),
                             "bytes": list(cand.encode())})
            tops[1:] = sorted(tops[1:], key=lambda t: -t["logprob"])
            entry["top_logprobs"] = tops
        out.append(entry)
    return out


# --- embeddings ---------------------------------------------------------------------------

_WORD_CACHE: dict[tuple[str, int], dict[str, tuple[list[int], list[float]]]] = {}


def _word_features(word: str, dims: int, key: bytes) -> tuple[list[int], list[float]]:
    """Hashed (index, signed weight) pairs for one word and its character trigrams."""
    feats = [(word, 0.15 if word in STOPWORDS else 1.0)]
    if word not in STOPWORDS and len(word) > 3:
        padded = f"#{word}#"
        feats.extend((padded[i : i + 3], 0.12) for i in range(len(padded) - 2))
    cols, vals = [], []
    for feat, weight in feats:
        h = int.from_bytes(hashlib.blake2b(feat.encode(), digest_size=8, key=key).digest(), "big")
        cols.append(h % dims)
        vals.append(weight if (h >> 40) & 1 else -weight)
    return cols, vals


def overlap_vectors(texts: Sequence[str], dims: int, salt: str) -> np.ndarray:
    """Un-normalised float32 vectors (n x dims) by signed feature hashing of words."""
    import numpy as np

    cache = _WORD_CACHE.setdefault((salt, dims), {})
    if len(cache) > 200_000:
        cache.clear()
    key = salt.encode()[:64]
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    findall = _WORD_RE.findall
    for row, text in enumerate(texts):
        words = findall(text.lower()) or ["\x00empty"]
        for word in words:
            hit = cache.get(word)
            if hit is None:
                hit = cache[word] = _word_features(word, dims, key)
            cols.extend(hit[0])
            vals.extend(hit[1])
            rows.extend([row] * len(hit[0]))
    flat = np.asarray(rows, dtype=np.int64) * dims + np.asarray(cols, dtype=np.int64)
    sums = np.bincount(flat, weights=np.asarray(vals), minlength=len(texts) * dims)
    dense = sums.astype(np.float32).reshape(len(texts), dims)
    # a fixed rotation per model makes the vectors dense (every dimension carries
    # signal, so ``dimensions`` truncation works) and keeps every cosine unchanged
    return _rotate(dense, salt, dims) * np.float32(2.5)


_ORTHO: dict[tuple[str, int], np.ndarray] = {}


def _orthogonal(salt: str, size: int) -> np.ndarray:
    import numpy as np

    key = (salt, size)
    if key not in _ORTHO:
        rng = np.random.default_rng(seed_for("rotation", salt, size))
        q, r = np.linalg.qr(rng.standard_normal((size, size)))
        _ORTHO[key] = (q * np.sign(np.diag(r))).astype(np.float32)
    return _ORTHO[key]


def _rotate(x: np.ndarray, salt: str, dims: int) -> np.ndarray:
    """Multiply by the orthogonal Kronecker product A (x) B, A and B small (fast, dense)."""
    d1 = max(k for k in range(1, math.isqrt(dims) + 1) if dims % k == 0)
    d2 = dims // d1
    a, b = _orthogonal(salt + "/a", d1), _orthogonal(salt + "/b", d2)
    y = a @ x.reshape(len(x), d1, d2) @ b.T
    return y.reshape(len(x), dims)


def random_id(seed: int) -> str:
    """``call_`` + 8 chars [a-z0-9], like the real tool-call ids."""
    rng = random.Random(seed)
    return "call_" + "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(8))

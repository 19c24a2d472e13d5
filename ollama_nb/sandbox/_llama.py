"""A real language model for the sandbox: one GGUF run by llama.cpp (llama-cpp-python).

``LlamaEngine`` owns one model and one context. It loads and unloads for real (keep_alive),
evaluates each prompt whole (so a seed gives the same answer whatever came before), samples
token by token with llama.cpp's own samplers in llama-server's order (penalties, top_k,
typical_p, top_p, min_p, temperature, then a seeded draw; a grammar first when a format is
asked for), fed with the option values Ollama sends (see ``Sampling.from_options``).
Requests take turns on the one context (a lock, as Ollama queues with NUM_PARALLEL=1);
a request whose client has gone stops before the next token, and one still waiting for
its turn leaves the queue.

llama_cpp is imported on first load only, so a sandbox without the extra never pays for it.
"""

from __future__ import annotations

import codecs
import ctypes
import importlib.util
import math
import os
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._gguf import GGUFHeader, read_header

__all__ = ["LlamaEngine", "Sampling", "Step", "available"]

DEFAULT_SEED = 0xFFFFFFFF  # llama.cpp's LLAMA_DEFAULT_SEED: a random seed
_WAIT = 0.05  # seconds between looks at the client while waiting for the model


def available() -> bool:
    """True when llama-cpp-python is installed (cheap: nothing is imported)."""
    try:
        return importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        return False


def _cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads() -> tuple[int, int]:
    """(generation, prompt) threads: llama-cpp-python's defaults, half the CPUs and all.

    Generation threads spin while they wait for each other, so one more than the free
    cores slows a token down many times over (measured: 1 thread 30 tok/s, 2 threads
    1 tok/s on a busy 2-core machine); half the CPUs leaves room for the kernel and the rest.
    """
    cpus = _cpus()
    return max(1, cpus // 2), cpus


@dataclass(frozen=True)
class Sampling:
    """llama.cpp sampler settings, as llama-server takes them from Ollama's options."""

    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.0
    typical_p: float = 1.0
    repeat_last_n: int = 64
    repeat_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    seed: int = -1

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> Sampling:
        """Ollama's defaults (api.DefaultOptions) for whatever the options leave unset."""
        d = cls()

        def get(key: str, default: Any) -> Any:
            value = options.get(key)
            return default if value is None else value

        typical = float(get("typical_p", d.typical_p))
        return cls(
            temperature=float(get("temperature", d.temperature)),
            top_k=int(get("top_k", d.top_k)),
            top_p=float(get("top_p", d.top_p)),
            min_p=float(get("min_p", d.min_p)),
            # Ollama leaves typical_p out when it is 0 (omitempty): llama-server's 1.0
            typical_p=typical if typical != 0 else 1.0,
            repeat_last_n=int(get("repeat_last_n", d.repeat_last_n)),
            repeat_penalty=float(get("repeat_penalty", d.repeat_penalty)),
            presence_penalty=float(get("presence_penalty", d.presence_penalty)),
            frequency_penalty=float(get("frequency_penalty", d.frequency_penalty)),
            seed=int(get("seed", d.seed)),
        )


@dataclass
class Step:
    """One step of a generation: text released to the client, or the end.

    ``text`` may be empty (a token held back: part of a UTF-8 character or of a possible
    stop string). ``logprobs`` are Ollama's wire objects for the tokens behind ``text``.
    The last step has ``done`` set, with ``reason`` ``"stop"`` or ``"length"`` and metrics.
    """

    text: str = ""
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    done: bool = False
    reason: str = "stop"
    prompt_tokens: int = 0
    prompt_seconds: float = 0.0
    eval_tokens: int = 0
    eval_seconds: float = 0.0
    load_seconds: float = 0.0
    generated: list[int] = field(default_factory=list)


@dataclass
class Job:
    """What one request asks of the engine."""

    tokens: list[int]
    sampling: Sampling
    num_ctx: int
    num_predict: int = -1
    stop: tuple[str, ...] = ()
    grammar: Any = None  # a llama_cpp.LlamaGrammar (made by ``grammar_for``)
    logprobs: bool = False
    top_logprobs: int = 0
    gone: Callable[[], bool] = lambda: False
    num_thread: int | None = None


def _held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters of ``text`` could begin a stop string."""
    best = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:k]):
                best = k
                break
    return best


class LlamaEngine:
    """One GGUF model served by llama.cpp, loaded on demand and unloaded on keep_alive."""

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        self.path = Path(path)
        self.threads = threads
        self._lock = threading.RLock()  # one request at a time on the context
        self._llm: Any = None
        self._n_ctx = 0
        self._n_threads: tuple[int, int] = (0, 0)
        self._timer: threading.Timer | None = None
        self._header: GGUFHeader | None = None
        self._vocab: Any = None
        self._vocab_lock = threading.Lock()
        self.tokens_sampled = 0  # every token the engine has sampled, ever (for tests)
        self.loads = 0

    # ---- the file ----
    @property
    def header(self) -> GGUFHeader:
        if self._header is None:
            self._header = read_header(self.path)
        return self._header

    @property
    def file_size(self) -> int:
        return self.path.stat().st_size

    # ---- load / unload ----
    @property
    def loaded(self) -> bool:
        return self._llm is not None

    @property
    def context_length(self) -> int:
        return self._n_ctx

    def load(self, num_ctx: int, num_thread: int | None = None) -> float:
        """Load (or reload for another context size); returns the seconds it took."""
        threads = ((num_thread, num_thread) if num_thread
                   else (self.threads, self.threads) if self.threads else default_threads())
        with self._lock:
            self._cancel_timer()
            if self._llm is not None and self._n_ctx == num_ctx and self._n_threads == threads:
                return 0.0
            started = time.perf_counter()
            self._free()
            from llama_cpp import Llama

            self._llm = Llama(str(self.path), n_ctx=num_ctx, n_batch=512, n_threads=threads[0],
                              n_threads_batch=threads[1], verbose=False)
            self._n_ctx, self._n_threads = num_ctx, threads
            self.loads += 1
            return time.perf_counter() - started

    def unload(self) -> None:
        with self._lock:
            self._cancel_timer()
            self._free()

    def keep(self, seconds: float | None) -> None:
        """Stay loaded ``seconds`` more (None: until unloaded; 0: unload now)."""
        with self._lock:
            self._cancel_timer()
            if seconds is None or self._llm is None:
                return
            if seconds <= 0:
                self._free()
                return
            timer = threading.Timer(seconds, self._expire, args=(self._llm,))
            timer.daemon = True
            self._timer = timer
            timer.start()

    def _expire(self, llm: Any) -> None:
        with self._lock:
            if self._llm is llm:
                self._free()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _free(self) -> None:
        llm, self._llm = self._llm, None
        self._n_ctx = 0
        if llm is not None:
            llm.close()

    def close(self) -> None:
        self.unload()
        with self._vocab_lock:
            vocab, self._vocab = self._vocab, None
        if vocab is not None:
            vocab.close()

    def memory_size(self, num_ctx: int | None = None) -> int:
        """Bytes while loaded: the weights plus the f16 KV cache for ``num_ctx`` tokens."""
        meta = self.header.metadata
        arch = meta.get("general.architecture", "llama")
        layers = int(meta.get(f"{arch}.block_count", 0))
        heads = int(meta.get(f"{arch}.attention.head_count", 1)) or 1
        kv_heads = int(meta.get(f"{arch}.attention.head_count_kv", heads))
        width = int(meta.get(f"{arch}.embedding_length", 0))
        kv = 2 * layers * (num_ctx or self._n_ctx) * kv_heads * (width // heads) * 2
        return self.file_size + kv

    # ---- tokens (a vocabulary-only model: no waiting for the generating context) ----
    def _model(self) -> Any:
        if self._llm is None:
            raise RuntimeError("the model is not loaded")
        return self._llm

    def _vocabulary(self) -> Any:
        with self._vocab_lock:
            if self._vocab is None:
                from llama_cpp import _internals
                from llama_cpp import llama_cpp as lib

                params = lib.llama_model_default_params()
                params.vocab_only = True
                self._vocab = _internals.LlamaModel(path_model=str(self.path), params=params,
                                                    verbose=False)
            return self._vocab

    def tokenize(self, text: str, *, bos: bool = True) -> list[int]:
        """Tokens of ``text``, special tokens parsed (BOS only if the vocabulary adds one)."""
        return list(self._vocabulary().tokenize(text.encode(), bos, True))

    def detokenize(self, tokens: list[int]) -> str:
        model = self._vocabulary()
        return b"".join(_piece(model.vocab, t, special=True) for t in tokens).decode(
            "utf-8", "replace")

    # ---- grammar ----
    @staticmethod
    def grammar_for(fmt: Any) -> Any:
        """A grammar for Ollama's ``format``: "json" (any object) or a JSON schema."""
        import json

        from llama_cpp import llama_grammar

        if fmt == "json":
            return llama_grammar.LlamaGrammar.from_string(llama_grammar.JSON_GBNF,
                                                          verbose=False)
        return llama_grammar.LlamaGrammar.from_json_schema(json.dumps(fmt), verbose=False)

    # ---- generation ----
    def _take_turn(self, gone: Callable[[], bool]) -> bool:
        while not self._lock.acquire(timeout=_WAIT):
            if gone():
                return False
        return True

    def generate(self, job: Job) -> Generator[Step, None, None]:
        """Run one request: evaluate the prompt, then yield a Step per sampled token.

        Holds the model for the whole run; stops before the next token when
        ``job.gone()`` says the client left (or the generator is closed).
        """
        if not self._take_turn(job.gone):
            return
        try:
            load = self.load(job.num_ctx, job.num_thread)
            yield from self._run(job, load)
        finally:
            self._lock.release()

    def _run(self, job: Job, load: float) -> Generator[Step, None, None]:
        import llama_cpp
        import numpy as np

        llm = self._model()
        n_vocab = llm.n_vocab()
        vocab = llm._model.vocab
        tokens = job.tokens
        # the whole prompt every time: a reused prefix (llama-server's cache_prompt) gives
        # logits that differ in the last bits from a full evaluation, and so seeded answers
        # that change with what was asked before; here the same request gives the same answer
        started = time.perf_counter()
        llm.reset()
        llm.eval(tokens)
        prompt_seconds = time.perf_counter() - started

        chain = _Chain(job.sampling, llm.n_ctx(), job.grammar, llm)
        for t in tokens:
            chain.accept_history(t)
        data = np.zeros(n_vocab, dtype=[("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
        fresh = data.copy()
        fresh["id"] = np.arange(n_vocab, dtype=np.int32)
        arr = llama_cpp.llama_token_data_array(
            data=ctypes.cast(data.ctypes.data, llama_cpp.llama_token_data_p),
            size=n_vocab, selected=-1, sorted=False)

        limit = job.num_predict if job.num_predict > 0 else 10 * job.num_ctx
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pending = ""  # text not yet released: maybe the start of a stop string
        pending_lp: list[dict[str, Any]] = []
        generated: list[int] = []
        reason = "stop"
        eval_started = time.perf_counter()
        try:
            while True:
                if job.gone():
                    return
                logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1),
                                               shape=(n_vocab,))

                def fill() -> Any:
                    np.copyto(data, fresh)  # the samplers sort the candidates in place
                    data["logit"] = logits
                    arr.size, arr.selected, arr.sorted = n_vocab, -1, False
                    return arr

                token = chain.sample(fill, logits)
                self.tokens_sampled += 1
                generated.append(token)
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    break  # never shown, so no logprob either (Ollama drops the last one's)
                if job.logprobs:
                    pending_lp.append(_logprob(llm, logits, token, job.top_logprobs))
                chain.accept(token)
                pending += decoder.decode(_piece(vocab, token, special=False))
                hit = [pending.find(s) for s in job.stop if s in pending]
                if hit:
                    pending = pending[: min(hit)]
                    break
                keep = _held_back(pending, job.stop)
                text, pending = pending[: len(pending) - keep], pending[len(pending) - keep:]
                if text:
                    yield Step(text, pending_lp)
                    pending_lp = []
                if len(generated) >= limit:
                    reason = "length"
                    break
                if llm.n_tokens >= llm.n_ctx():
                    reason = "length"  # the context is full
                    break
                if job.gone():
                    return
                llm.eval([token])
        finally:
            chain.close()
        tail = pending + decoder.decode(b"", final=True)
        if job.stop:
            hit = [tail.find(s) for s in job.stop if s in tail]
            tail = tail[: min(hit)] if hit else tail
        if tail or pending_lp:
            yield Step(tail, pending_lp)
        yield Step(done=True, reason=reason, prompt_tokens=len(tokens),
                   prompt_seconds=prompt_seconds, eval_tokens=len(generated),
                   eval_seconds=time.perf_counter() - eval_started, load_seconds=load,
                   generated=generated)


def _piece(vocab: Any, token: int, *, special: bool) -> bytes:
    """The bytes of one token (llama_token_to_piece; may be part of a UTF-8 character)."""
    from llama_cpp import llama_cpp as lib

    size = 64
    while True:
        buf = ctypes.create_string_buffer(size)
        n = lib.llama_token_to_piece(vocab, token, buf, size, 0, special)
        if n >= 0:
            return buf.raw[:n]
        size = -n


def _logprob(llm: Any, logits: Any, token: int, top: int) -> dict[str, Any]:
    """Ollama's Logprob for a sampled token: log-softmax of the raw logits, top-N too."""
    import numpy as np

    high = float(logits.max())
    lse = high + math.log(float(np.exp(logits - high, dtype=np.float64).sum()))

    def entry(tok: int) -> dict[str, Any]:
        text = _piece(llm._model.vocab, int(tok), special=True).decode("utf-8", "replace")
        out: dict[str, Any] = {"token": text, "logprob": float(logits[tok]) - lse}
        if text:
            out["bytes"] = list(text.encode())
        return out

    result = entry(token)
    if top > 0:
        best = np.argpartition(-logits, top)[:top]
        best = best[np.argsort(-logits[best], kind="stable")]
        result["top_logprobs"] = [entry(int(t)) for t in best]
    return result


class _Chain:
    """llama-server's sampler chain for one request, plus the grammar kept apart.

    Penalties see the prompt and the answer; the grammar sees only the answer (as
    llama.cpp's common sampler keeps them). Temperature <= 0 keeps only the most
    likely token, so the draw is greedy.
    """

    def __init__(self, s: Sampling, n_ctx: int, grammar: Any, llm: Any) -> None:
        import llama_cpp

        self._lc = llama_cpp
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        last_n = n_ctx if s.repeat_last_n == -1 else s.repeat_last_n
        add = llama_cpp.llama_sampler_chain_add
        add(chain, _penalties(last_n, s.repeat_penalty, s.frequency_penalty,
                              s.presence_penalty))
        add(chain, llama_cpp.llama_sampler_init_top_k(s.top_k))
        add(chain, llama_cpp.llama_sampler_init_typical(s.typical_p, 1))
        add(chain, llama_cpp.llama_sampler_init_top_p(s.top_p, 1))
        add(chain, llama_cpp.llama_sampler_init_min_p(s.min_p, 1))
        add(chain, llama_cpp.llama_sampler_init_temp_ext(s.temperature, 0.0, 1.0))
        add(chain, llama_cpp.llama_sampler_init_dist(s.seed if s.seed >= 0 else DEFAULT_SEED))
        self.chain = chain
        self.argmax = (s.temperature <= 0 and s.repeat_penalty == 1
                       and s.frequency_penalty == 0 and s.presence_penalty == 0)
        self.grammar = None
        if grammar is not None:
            self.grammar = llama_cpp.llama_sampler_init_grammar(
                llm._model.vocab, grammar._grammar.encode(), grammar._root.encode())

    def accept_history(self, token: int) -> None:
        self._lc.llama_sampler_accept(self.chain, token)

    def accept(self, token: int) -> None:
        self._lc.llama_sampler_accept(self.chain, token)
        if self.grammar is not None:
            self._lc.llama_sampler_accept(self.grammar, token)

    def sample(self, fill: Callable[[], Any], logits: Any) -> int:
        """Draw a token from the candidates ``fill()`` sets out (``logits``: the raw ones).

        With a grammar, as llama.cpp's common sampler does: draw without it, and only if
        the grammar refuses that token, mask all the candidates and draw again (masking
        49k candidates every token is what makes a grammar slow). Greedy without
        penalties is the largest logit: the chain would pick the same token, so it is
        skipped (setting out 49k candidates costs more than the rest of a step).
        """
        lc = self._lc
        if self.argmax:
            token = int(logits.argmax())
        else:
            arr = fill()
            lc.llama_sampler_apply(self.chain, ctypes.byref(arr))
            token = self._chosen(arr)
        if self.grammar is None:
            return token
        one = (lc.llama_token_data * 1)(lc.llama_token_data(token, 1.0, 0.0))
        check = lc.llama_token_data_array(data=one, size=1, selected=-1, sorted=False)
        lc.llama_sampler_apply(self.grammar, ctypes.byref(check))
        if math.isfinite(one[0].logit):
            return token
        arr = fill()
        lc.llama_sampler_apply(self.grammar, ctypes.byref(arr))
        lc.llama_sampler_apply(self.chain, ctypes.byref(arr))
        return self._chosen(arr)

    @staticmethod
    def _chosen(arr: Any) -> int:
        if arr.selected < 0:
            raise RuntimeError("the sampler chose no token")
        return int(arr.data[arr.selected].id)

    def close(self) -> None:
        self._lc.llama_sampler_free(self.chain)
        if self.grammar is not None:
            self._lc.llama_sampler_free(self.grammar)


_PENALTIES: Any = None


def _penalties(last_n: int, repeat: float, freq: float, present: float) -> Any:
    """``llama_sampler_init_penalties`` called with llama.cpp's own four arguments.

    llama-cpp-python's binding declares an extra leading ``n_vocab`` argument that the C
    function no longer takes, so the function is called through its own prototype.
    """
    global _PENALTIES
    from llama_cpp import llama_cpp as lib

    if _PENALTIES is None:
        proto = ctypes.CFUNCTYPE(lib.llama_sampler_p_ctypes, ctypes.c_int32, ctypes.c_float,
                                 ctypes.c_float, ctypes.c_float)
        address = ctypes.cast(lib._lib.llama_sampler_init_penalties, ctypes.c_void_p)
        _PENALTIES = proto(address.value or 0)
    return _PENALTIES(last_n, repeat, freq, present)

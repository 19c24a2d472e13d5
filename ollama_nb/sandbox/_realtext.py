"""/api/generate and /api/chat answered by the real model (``_llama``), as Ollama answers.

``Api`` checks a request as usual, then hands it here when the model is served by llama.cpp.
This module renders the prompt with the smollm2 template (or takes it as is for ``raw``),
fits it into ``num_ctx`` the way Ollama does (chat drops the oldest messages, keeping system
ones; a prompt still too long keeps its first ``num_keep`` tokens and the most recent ones),
maps the options onto the sampler, and turns the engine's steps into Ollama's NDJSON chunks:
one per token as it is computed, then the final object with the real counts and durations,
``context`` for generate, tool calls parsed from ``<tool_call>[...]``, and ``logprobs``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from . import _smollm2
from ._api import ApiError, Context, Reply, Stream, _ns, _StreamPathError
from ._catalogue import LocalModel, Store
from ._gguf import FILE_TYPES
from ._llama import Job, LlamaEngine, Sampling, Step
from ._wire import keep_alive_seconds, utc_now

__all__ = ["RealText"]

_DROPPED_KEYS = ("general.name", "tokenizer.chat_template")  # as Ollama's /api/show


def human_number(n: int) -> str:
    """Ollama's format.HumanNumber (parameter_size)."""
    for unit, size, digits in (("B", 1e9, 1), ("M", 1e6, 2)):
        if n >= size:
            value = n / size
            return f"{value:.0f}{unit}" if value.is_integer() else f"{value:.{digits}f}{unit}"
    return f"{n / 1e3:.0f}K" if n >= 1000 else str(n)


class RealText:
    """Generation for the models one ``LlamaEngine`` serves."""

    def __init__(self, engine: LlamaEngine, store: Store, keep_alive_default: float,
                 serves: Callable[[LocalModel], bool]) -> None:
        self.engine = engine
        self.store = store
        self.keep_alive_default = keep_alive_default
        self.serves = serves

    def tokenize(self, text: str, *, bos: bool = True) -> list[int]:
        return self.engine.tokenize(text, bos=bos)

    def detokenize(self, tokens: list[int]) -> str:
        return self.engine.detokenize(tokens)

    # ---- load state shared with /api/ps ----
    def _hold(self, model: LocalModel, seconds: float | None) -> None:
        self.store.load(model, seconds)

    def _release(self, model: LocalModel, seconds: float | None) -> None:
        if seconds == 0:
            self.engine.keep(0)
            for m, _ in self.store.loaded():
                if self.serves(m):
                    self.store.unload(m)
            return
        self.store.load(model, seconds)
        self.engine.keep(seconds)

    def load_only(self, model: LocalModel, text: str, req: dict[str, Any], num_ctx: int,
                  body: dict[str, Any]) -> Reply:
        """An empty prompt / no messages: load (or unload, keep_alive 0) for real."""
        seconds = keep_alive_seconds(req.get("keep_alive"), self.keep_alive_default)
        if seconds == 0:
            self._release(model, 0)
            reason = "unload"
        else:
            self.engine.load(num_ctx)
            self._release(model, seconds)
            reason = "load"
        return Reply(body={"model": text, "created_at": utc_now(), **body, "done": True,
                           "done_reason": reason})

    # ---- prompt ----
    def _fit(self, tokens: list[int], num_ctx: int, options: dict[str, Any],
             req: dict[str, Any], stream: bool) -> list[int]:
        """A prompt longer than the context: an error (truncate false) or cut as Ollama cuts."""
        if len(tokens) <= num_ctx - 1:
            return tokens
        if req.get("truncate") is False:
            error = _StreamPathError if stream else ApiError
            raise error(400, "the input length exceeds the context length")
        keep = int(options.get("num_keep", 4))
        keep = len(tokens) if keep < 0 else keep
        keep = min(keep, num_ctx - 1)
        limit = num_ctx - max((num_ctx - keep) // 2, 1)
        return tokens[:keep] + tokens[len(tokens) - (limit - keep):]

    def _job(self, tokens: list[int], options: dict[str, Any], num_ctx: int,
             req: dict[str, Any], ctx: Context) -> Job:
        fmt = req.get("format")
        grammar = None
        if fmt == "json" or isinstance(fmt, dict):
            try:
                grammar = self.engine.grammar_for(fmt)
            except Exception as exc:  # noqa: BLE001 - the schema converter's own errors
                raise ApiError(500, f"invalid JSON schema in format: {exc}") from None
        stop = options.get("stop")
        stops = tuple(s for s in ([stop] if isinstance(stop, str) else stop or []) if s)
        num_predict = options.get("num_predict")
        return Job(tokens=tokens, sampling=Sampling.from_options(options), num_ctx=num_ctx,
                   num_predict=-1 if num_predict is None else int(num_predict), stop=stops,
                   grammar=grammar, logprobs=bool(req.get("logprobs")),
                   top_logprobs=int(req.get("top_logprobs") or 0),
                   gone=lambda: ctx.gone() or ctx.stopping.is_set(),
                   num_thread=options.get("num_thread") or None)

    def _check_template(self, req: dict[str, Any]) -> None:
        tmpl = req.get("template")
        if tmpl and tmpl != _smollm2.TEMPLATE:
            raise ApiError(400, "the sandbox's llama.cpp engine renders only the smollm2 "
                                "template; leave template out, or send raw: true with the "
                                "prompt already rendered")

    # ---- generate ----
    def generate(self, req: dict[str, Any], model: LocalModel, text: str,
                 options: dict[str, Any], num_ctx: int, started: float,
                 ctx: Context) -> Reply | Stream:
        if not req.get("prompt"):
            return self.load_only(model, text, req, num_ctx, {"response": ""})
        self._check_template(req)
        stream = req.get("stream") is not False
        if req.get("raw"):
            prompt = req["prompt"]
        else:
            messages: list[dict[str, Any]] = []
            system = req.get("system") or model.system
            if system:
                messages.append({"role": "system", "content": system})
            if req.get("context") is None:
                messages.extend(model.messages)
            messages.append({"role": "user", "content": req["prompt"]})
            prompt = _smollm2.render_messages(messages)
            if req.get("context"):
                prompt = self.detokenize([int(t) for t in req["context"]]) + prompt
        tokens = self._fit(self.tokenize(prompt), num_ctx, options, req, stream)
        job = self._job(tokens, options, num_ctx, req, ctx)
        with_context = not req.get("raw")

        def final(step: Step, answer: str) -> dict[str, Any]:
            obj: dict[str, Any] = {"model": text, "created_at": utc_now(), "response": "",
                                   "done": True, "done_reason": step.reason}
            if with_context:
                obj["context"] = self.tokenize(prompt + answer, bos=False)
            return obj

        def chunk(step: Step) -> dict[str, Any]:
            return {"model": text, "created_at": utc_now(), "response": step.text,
                    "done": False}

        return self._reply(model, req, job, started, ctx, stream, chunk, final, "response")

    # ---- chat ----
    def chat(self, req: dict[str, Any], model: LocalModel, text: str,
             messages: list[dict[str, Any]], options: dict[str, Any], num_ctx: int,
             started: float, ctx: Context) -> Reply | Stream:
        if not messages:
            return self.load_only(model, text, req, num_ctx,
                                  {"message": {"role": "assistant", "content": ""}})
        stream = req.get("stream") is not False
        history = list(model.messages) + messages
        if model.system and messages[0]["role"] != "system":
            history.insert(0, {"role": "system", "content": model.system})
        tools = req.get("tools") or []
        tokens = self._chat_tokens(history, tools, num_ctx, req)
        tokens = self._fit(tokens, num_ctx, options, req, stream)
        job = self._job(tokens, options, num_ctx, req, ctx)
        parser = _smollm2.ToolParser(tools) if tools else None

        def message(content: str, calls: list[dict[str, Any]] | None = None
                    ) -> dict[str, Any]:
            msg: dict[str, Any] = {"role": "assistant", "content": content}
            if calls:
                msg["tool_calls"] = calls
            return {"model": text, "created_at": utc_now(), "message": msg, "done": False}

        def chunk(step: Step) -> dict[str, Any] | None:
            if parser is None:
                return message(step.text)
            calls, content = parser.add(step.text)
            if content:
                return message(content)
            if calls:
                for call in calls:
                    call["id"] = _smollm2.call_id()
                return message("", [{"id": c["id"], "function": c["function"]}
                                    for c in calls])
            return message("") if step.logprobs else None  # logprobs while buffering

        def final(step: Step, answer: str) -> dict[str, Any]:
            obj = message("")
            obj["done"] = True
            obj["done_reason"] = step.reason
            return obj

        return self._reply(model, req, job, started, ctx, stream, chunk, final, "message")

    def _chat_tokens(self, history: list[dict[str, Any]], tools: list[Any], num_ctx: int,
                     req: dict[str, Any]) -> list[int]:
        """Ollama's chatPrompt: drop the oldest messages (not system ones) until it fits."""
        truncate = req.get("truncate") is not False
        last = len(history) - 1
        for i in range(last + 1):
            kept = [m for m in history[:i] if m["role"] == "system"] + history[i:]
            tokens = self.tokenize(_smollm2.render_messages(kept, tools))
            if not truncate or len(tokens) <= num_ctx or i == last:
                return tokens
        raise AssertionError("unreachable")

    # ---- the reply, streamed or whole ----
    def _reply(self, model: LocalModel, req: dict[str, Any], job: Job, started: float,
               ctx: Context, stream: bool, chunk: Callable[[Step], dict[str, Any] | None],
               final: Callable[[Step, str], dict[str, Any]], field: str) -> Reply | Stream:
        seconds = keep_alive_seconds(req.get("keep_alive"), self.keep_alive_default)
        steps = self.engine.generate(job)
        self._hold(model, seconds)
        answer: list[str] = []

        def metrics(obj: dict[str, Any], step: Step) -> dict[str, Any]:
            obj["total_duration"] = _ns(time.perf_counter() - started)
            obj["load_duration"] = _ns(step.load_seconds)
            obj["prompt_eval_count"] = step.prompt_tokens
            obj["prompt_eval_duration"] = _ns(step.prompt_seconds)
            obj["eval_count"] = step.eval_tokens
            obj["eval_duration"] = _ns(step.eval_seconds)
            return obj

        def items() -> Iterator[dict[str, Any]]:
            for step in steps:
                if step.done:
                    obj = final(step, "".join(answer))
                    if step.logprobs:
                        obj["logprobs"] = step.logprobs
                    yield metrics(obj, step)
                    return
                answer.append(step.text)
                piece = chunk(step)
                if piece is None:
                    continue
                if step.logprobs:
                    piece["logprobs"] = step.logprobs
                yield piece

        closed = False

        def close() -> None:
            nonlocal closed
            if not closed:
                closed = True
                steps.close()
                self._release(model, seconds)

        if stream:
            return Stream(items(), tokens=True, on_close=close)
        try:
            if ctx.admit is not None:  # the scheduler's slot (the server frees it after)
                ctx.admit()
            whole: dict[str, Any] | None = None
            calls: list[dict[str, Any]] = []
            logprobs: list[dict[str, Any]] = []
            parts: list[str] = []
            for obj in items():
                logprobs.extend(obj.pop("logprobs", []))
                if field == "message":
                    parts.append(obj["message"]["content"])
                    calls.extend(obj["message"].get("tool_calls") or [])
                else:
                    parts.append(obj["response"])
                whole = obj
        finally:
            close()
        if whole is None or not whole.get("done"):  # the client left: nothing to send
            return Reply(body={"error": "client disconnected"}, status=499)
        if field == "message":
            whole["message"]["content"] = "".join(parts)
            if calls:
                whole["message"]["tool_calls"] = calls
        else:
            whole["response"] = "".join(parts)
        if logprobs:
            ordered = {k: v for k, v in whole.items() if k not in _METRICS}
            ordered["logprobs"] = logprobs
            ordered.update({k: whole[k] for k in _METRICS if k in whole})
            whole = ordered
        return Reply(body=whole)

    # ---- /api/show and /api/ps ----
    @staticmethod
    def licence(model: LocalModel) -> str:
        """The full Apache-2.0 text for the model's own licence (a created one keeps its)."""
        return _smollm2.licence_text() if model.license == model.spec.license else model.license

    def model_info(self, verbose: bool) -> dict[str, Any]:
        """The GGUF's own keys (arrays only with verbose), as Ollama's /api/show gives them."""
        header = self.engine.header
        info: dict[str, Any] = {}
        for key, value in header.metadata.items():
            if key in _DROPPED_KEYS:
                continue
            if isinstance(value, list) and not verbose:
                value = None
            elif isinstance(value, float):
                value = _float32(value)
            info[key] = value
        info["general.parameter_count"] = self.parameter_count()
        return dict(sorted(info.items()))

    def tensors(self) -> list[dict[str, Any]]:
        return [{"name": t.name, "type": t.type, "shape": list(t.shape)}
                for t in self.engine.header.tensors]

    def parameter_count(self) -> int:
        count = 0
        for t in self.engine.header.tensors:
            n = 1
            for d in t.shape:
                n *= d
            count += n
        return count

    def details(self) -> dict[str, Any]:
        meta = self.engine.header.metadata
        arch = str(meta.get("general.architecture", "llama"))
        return {"family": arch, "families": [arch],
                "parameter_size": human_number(self.parameter_count()),
                "quantization_level": FILE_TYPES.get(int(meta.get("general.file_type", -1)),
                                                     "unknown")}


_METRICS = ("total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration",
            "eval_count", "eval_duration")


def _float32(value: float) -> float | int:
    """The shortest decimal that reads back as the same float32 (as Go prints a float32)."""
    import struct

    target = struct.pack("<f", value)
    for digits in range(1, 10):
        short = float(f"{value:.{digits}g}")
        if struct.pack("<f", short) == target:
            return int(short) if short.is_integer() else short
    return value

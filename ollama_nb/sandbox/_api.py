"""The Ollama endpoints: request checking, model lookup and replies.

Each handler takes the raw body and returns a ``Reply``: one JSON object, or an
NDJSON ``Stream`` of objects. Errors before anything is sent raise
``ApiError``; a stream item ``{"error": ..., "status": ...}`` is an error from
the streaming path (a JSON error if it comes first, an ``{"error"}`` line
after). The texts and status codes follow the fact sheet §3.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from typing import Any

from . import _catalogue, _engine, _names, _structured, _templates
from ._catalogue import Layer, LocalModel, Store
from ._faults import FaultPlan
from ._wire import (
    ApiError,
    Float32Rows,
    RawJSON,
    check_options,
    check_struct,
    dumps,
    go_float,
    keep_alive_seconds,
    loads_request,
    local_time,
    utc_now,
)

JSON_CT = "application/json; charset=utf-8"
PLAIN_JSON_CT = "application/json"
VERSION = "0.33.0"  # the fact sheet follows v0.33 (ollama/ollama @ fb30760)
FOREVER = 292 * 365.25 * 86400  # Go: time.Now().Add(math.MaxInt64)
DEFAULT_NUM_CTX = 4096
NOMINAL_TOKENS_PER_SECOND = 25.0  # what the deterministic engine reports (docs/sandbox.md)


@dataclass
class Reply:
    """A whole JSON reply (``body is None`` = empty body); ``newline`` adds the
    ``\\n`` that Go's ``json.Encoder`` writes after the object."""

    status: int = 200
    body: Any = None
    content_type: str = JSON_CT
    newline: bool = False


class Framing:
    """How a stream's objects go on the wire: NDJSON lines (the native API). The
    compatibility endpoints write server-sent events instead (``_openai``,
    ``_anthropic``)."""

    content_type = "application/x-ndjson"
    headers: dict[str, str] = {}

    def item(self, obj: dict[str, Any]) -> bytes:
        return dumps(obj) + b"\n"

    def error(self, message: str) -> bytes:
        """An error after the stream has started."""
        return dumps({"error": message}) + b"\n"

    def malformed(self, obj: dict[str, Any]) -> bytes:
        """A broken line (the ``malformed_after`` fault)."""
        return b'{"model":"' + str(obj.get("model", "")).encode() + b'","created_at":<not json>\n'


NDJSON = Framing()


@dataclass
class Stream:
    """A streamed reply. ``items`` may end with ``{"error": msg, "status": code}``.

    ``framing`` turns each item into bytes; faults count ``items``, so a fault
    such as ``error_after n=2`` means the same thing on every endpoint.
    """

    items: Iterator[dict[str, Any]]
    tokens: bool = True  # token chunks (latency/token_delay apply) vs progress lines
    on_close: Callable[[], None] | None = None
    framing: Framing = NDJSON


@dataclass
class Context:
    """Per-request data the handlers need from the server."""

    plan: FaultPlan = field(default_factory=FaultPlan)
    model: str | None = None  # filled in by the handler, for the request log
    pull_delay: float = 0.0
    stopping: threading.Event = field(default_factory=threading.Event)
    gone: Callable[[], bool] = lambda: False  # the client closed its connection
    # /v1/messages: think on a model without thinking is dropped, not a 400 (routes.go)
    relax_thinking: bool = False
    # takes this request's scheduler slot now, for an answer computed inside the handler
    # (the real model's whole replies); the server frees it. None: not scheduled
    admit: Callable[[], object] | None = None


# --- helpers --------------------------------------------------------------------------


def _name_or_error(text: str) -> _names.Name:
    name = _names.parse(text)
    if name is None:
        raise ApiError(400, "invalid model name")
    return name


def _decode_images(images: Any) -> list[bytes]:
    out = []
    for item in images or []:
        if not isinstance(item, str):
            raise ApiError(400, "json: cannot unmarshal non-string into Go value of type "
                                "api.ImageData")
        try:
            out.append(base64.b64decode(item, validate=True))
        except (binascii.Error, ValueError):
            bad = next((i for i, ch in enumerate(item)
                        if not (ch.isalnum() or ch in "+/=") or ord(ch) > 127), None)
            if bad is None:
                bad = len(item) - len(item) % 4 if len(item) % 4 else max(item.find("="), 0)
            raise ApiError(400, f"illegal base64 data at input byte {bad}") from None
    return out


_THINK_LEVELS = ("high", "medium", "low", "max")


def _think_value(value: Any) -> bool | str | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value in _THINK_LEVELS:
        return value
    shown = f'"{value}"' if isinstance(value, str) else str(value)
    raise ApiError(400, f'invalid think value: {shown} (must be "high", "medium", "low", '
                        f'"max", true, or false)')


def _ns(seconds: float) -> int:
    return max(1, int(seconds * 1e9))


def _merged_options(model: LocalModel, options: dict[str, Any]) -> dict[str, Any]:
    merged = {k: v for k, v in model.parameters.items()}
    merged.update(options)
    return merged


def _stop_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [s for s in value or [] if isinstance(s, str) and s]


def _context_ids(text: str, vocab: int) -> list[int]:
    return [int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=4).digest(), "big") % vocab
            for tok in _engine.tokenize(text)]


def _format_param(value: Any) -> str:
    if isinstance(value, str):
        import json

        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- the API ----------------------------------------------------------------------------


class Api:
    """All endpoints over one ``Store``; stateless apart from the store."""

    def __init__(self, store: Store, *, keep_alive_default: float = 300.0,
                 embedder: Callable[..., Any] | None = None,
                 text_engine: Callable[[LocalModel], Any] | None = None) -> None:
        self.store = store
        self.keep_alive_default = keep_alive_default
        self.embedder = embedder
        self.text_engine = text_engine  # model -> _realtext.RealText when a real LLM serves it

    def _real(self, model: LocalModel) -> Any:
        return self.text_engine(model) if self.text_engine is not None else None

    # ---- simple GETs ----
    def version(self, ctx: Context) -> Reply:
        return Reply(body={"version": VERSION})

    def tags(self, ctx: Context) -> Reply:
        models = sorted(self.store.models(), key=lambda m: int(m.modified_at), reverse=True)
        return Reply(body={"models": [self._tag_entry(m) for m in models]})

    def _tag_entry(self, m: LocalModel) -> dict[str, Any]:
        details = m.details()
        details["context_length"] = m.spec.context_length
        details["embedding_length"] = m.spec.embedding_length
        return {
            "name": m.name.shortest,
            "model": m.name.shortest,
            "modified_at": local_time(m.modified_at),
            "size": m.size,
            "digest": m.digest,
            "details": details,
            "capabilities": list(m.capabilities),
        }

    def ps(self, ctx: Context) -> Reply:
        now = time.time()
        rows = []
        for m, expires in self.store.loaded():
            rows.append((expires if expires is not None else now + FOREVER, m))
        rows.sort(key=lambda r: r[0], reverse=True)
        return Reply(body={"models": [{
            "name": m.name.shortest,
            "model": m.name.shortest,
            "size": real.engine.memory_size() if real else m.size,
            "digest": m.digest,
            "details": m.details(),
            "expires_at": local_time(expires),
            "size_vram": 0,
            "context_length": real.engine.context_length if real else self._num_ctx(m, {}),
        } for expires, m in rows for real in [self._loaded_real(m)]]})

    def _loaded_real(self, model: LocalModel) -> Any:
        real = self._real(model)
        return real if real is not None and real.engine.loaded else None

    # ---- model lookup ----
    def _lookup(self, text: str, *, not_found: str) -> LocalModel:
        name = _name_or_error(text)
        model = None if name.is_cloud else self.store.get(name)
        if model is None:
            raise ApiError(404, not_found)
        return model

    def _num_ctx(self, model: LocalModel, options: dict[str, Any]) -> int:
        num_ctx = options.get("num_ctx") or model.parameters.get("num_ctx") or DEFAULT_NUM_CTX
        return int(min(int(num_ctx), model.spec.context_length)
                   if model.spec.context_length else num_ctx)

    def _load(self, model: LocalModel, keep_alive: Any) -> tuple[float | None, float]:
        """Mark the model loaded; returns (keep_alive seconds or None, load seconds)."""
        started = time.perf_counter()
        seconds = keep_alive_seconds(keep_alive, self.keep_alive_default)
        self.store.load(model, seconds)
        return seconds, time.perf_counter() - started

    def _after(self, model: LocalModel, seconds: float | None) -> Callable[[], None]:
        def done() -> None:
            if seconds == 0:
                self.store.unload(model)
        return done

    # ---- generate / chat ----
    def generate(self, raw: bytes, ctx: Context) -> Reply | Stream:
        started = time.perf_counter()
        req = check_struct(loads_request(raw), "GenerateRequest")
        keep_alive_seconds(req.get("keep_alive"))  # decode errors come first
        images = _decode_images(req.get("images"))
        think = _think_value(req.get("think"))
        text = req.get("model") or ""
        ctx.model = text or None
        if not text:
            raise ApiError(404, "model '' not found")
        model = self._lookup(text, not_found=f"model '{text}' not found")
        caps = model.capabilities
        if req.get("raw") and (req.get("template") or req.get("system") or req.get("context")):
            raise ApiError(400, "raw mode does not support template, system, or context")
        top = req.get("top_logprobs") or 0
        if not 0 <= top <= 20:
            raise ApiError(400, "top_logprobs must be between 0 and 20")
        if "completion" not in caps:
            raise ApiError(400, f'"{text}" does not support generate')
        if req.get("suffix") and "insert" not in caps:
            raise ApiError(400, f"{model.name.full} does not support insert")
        think = self._check_think(model, text, think)
        options = _merged_options(model, check_options(req.get("options")))
        self._check_format(req.get("format"))
        real = self._real(model)
        if real is not None:
            return real.generate(req, model, text, options, self._num_ctx(model, options),
                                 started, ctx)
        prompt = req.get("prompt") or ""
        if not prompt:
            seconds, _ = self._load(model, req.get("keep_alive"))
            reason = "load"
            if seconds == 0:
                self.store.unload(model)
                reason = "unload"
            return Reply(body={"model": text, "created_at": utc_now(), "response": "",
                               "done": True, "done_reason": reason})
        system = req.get("system") if req.get("system") is not None else model.system
        rendered = "" if req.get("raw") else (system or "")
        rendered += " " + prompt + (" " + req["suffix"] if req.get("suffix") else "")
        prompt_tokens = _engine.count_tokens(rendered) + (0 if req.get("raw") else 6)
        seed = _engine.seed_for(model.name.key, system, req.get("template"), prompt,
                                req.get("suffix"), req.get("context"), req.get("format"),
                                bool(think), [hashlib.sha256(i).hexdigest() for i in images],
                                self._sampling(options))
        thinking = _engine.thinking_text(seed, prompt) if think else ""
        content = self._content(seed, prompt, req.get("format"), len(images), ctx)
        return self._respond(
            "generate", model, text, req, options, started, prompt_tokens, thinking, content,
            None, ctx, context_source=None if req.get("raw") else rendered,
        )

    def chat(self, raw: bytes, ctx: Context) -> Reply | Stream:
        started = time.perf_counter()
        req = check_struct(loads_request(raw), "ChatRequest")
        keep_alive_seconds(req.get("keep_alive"))
        messages = [dict(m or {}) for m in req.get("messages") or []]
        images = 0
        for msg in messages:
            msg["role"] = str(msg.get("role") or "").lower()
            images += len(_decode_images(msg.get("images")))
        think = _think_value(req.get("think"))
        text = req.get("model") or ""
        ctx.model = text or None
        if not text:
            raise ApiError(400, "model is required")
        model = self._lookup(text, not_found=f"model '{text}' not found")
        caps = model.capabilities
        top = req.get("top_logprobs") or 0
        if not 0 <= top <= 20:
            raise ApiError(400, "top_logprobs must be between 0 and 20")
        if "completion" not in caps:
            raise ApiError(400, f'"{text}" does not support chat')
        tools = req.get("tools") or []
        if tools and "tools" not in caps:
            raise ApiError(400, f"{model.name.full} does not support tools")
        think = self._check_think(model, text, think, ctx.relax_thinking)
        options = _merged_options(model, check_options(req.get("options")))
        self._check_format(req.get("format"))
        real = self._real(model)
        if real is not None:
            return real.chat(req, model, text, messages, options,
                             self._num_ctx(model, options), started, ctx)
        if not messages:
            seconds, _ = self._load(model, req.get("keep_alive"))
            reason = "load"
            if seconds == 0:
                self.store.unload(model)
                reason = "unload"
            return Reply(body={"model": text, "created_at": utc_now(),
                               "message": {"role": "assistant", "content": ""},
                               "done": True, "done_reason": reason})
        history = list(model.messages) + messages
        if model.system and not (messages and messages[0]["role"] == "system"):
            history.insert(0, {"role": "system", "content": model.system})
        rendered = "\n".join(f"{m.get('role')}: {m.get('content') or ''}" for m in history)
        prompt_tokens = _engine.count_tokens(rendered) + 4 * len(history) + 4
        last_user = next((m.get("content") or "" for m in reversed(messages)
                          if m["role"] == "user"), "")
        seed = _engine.seed_for(model.name.key, history, req.get("format"), bool(think),
                                tools, self._sampling(options))
        last = messages[-1]
        tool_calls = None
        fmt = req.get("format")
        thinking = _engine.thinking_text(seed, last_user) if think else ""
        if last["role"] == "tool":
            # every result of the turn: the tool messages after the last other message
            at = len(messages)
            while at and messages[at - 1]["role"] == "tool":
                at -= 1
            # a result named only by its tool_call_id takes the name of that call
            asked = {c.get("id"): (c.get("function") or {}).get("name")
                     for c in (messages[at - 1].get("tool_calls") or [] if at else [])
                     if isinstance(c, dict)}
            turn = [(str(m.get("tool_name") or asked.get(m.get("tool_call_id")) or ""),
                     str(m.get("content") or "")) for m in messages[at:]]
            if fmt:
                content = self._content(seed, last_user, fmt, images, ctx,
                                        "\n".join(result for _, result in turn))
            else:
                content = _engine.tool_result_text(seed, turn, last_user)
        elif (tools and last["role"] == "user"
              and self._calls_with_format(model, fmt, bool(think))):
            calls = _structured.choose_tools(tools, last.get("content") or "")
            if fmt:
                calls = calls[:1]  # one JSON object, so one call
            content = ""
            tool_calls = [{"id": _engine.random_id(seed + i),
                           "function": {"index": i, "name": name, "arguments": args}}
                          for i, (name, args) in enumerate(calls)] or None
            if not calls:
                content = self._content(seed, last_user, fmt, images, ctx)
        else:
            # the rest of the conversation (system prompts) can say what shape to answer in
            others = "\n".join(str(m.get("content") or "") for m in history
                               if m.get("content") != last_user or m["role"] != "user")
            content = self._content(seed, last_user, fmt, images, ctx, others)
        return self._respond("chat", model, text, req, options, started, prompt_tokens,
                             thinking, content, tool_calls, ctx)

    @staticmethod
    def _calls_with_format(model: LocalModel, fmt: Any, think: bool) -> bool:
        """Whether a model may still call tools under ``format``, as with a real Ollama.

        Its ChatHandler (server/routes.go) runs the tool parser whatever ``format`` is,
        but ``format`` makes every token fit the JSON grammar or the schema
        (llm/llama_server.go). So calls still come where the call is a JSON object
        (``format: "json"`` and a template whose calls are bare objects, llama3.x: the
        grammar's one object is one call), or where the format waits for the thinking
        to end and the built-in parser's call is not content (gpt-oss's harmony, unless
        ``think`` is false: then the format applies at once). A
        schema, or a tag JSON cannot start with (qwen's ``<tool_call>``), gives the
        JSON answer and no calls.
        """
        if not fmt or (think and model.spec.family in ("gptoss", "gpt-oss")):
            return True
        return fmt == "json" and _templates.tool_call_tag(model.template) == "{"

    @staticmethod
    def _sampling(options: dict[str, Any]) -> dict[str, Any]:
        """Options that change the answer (num_predict and stop only cut it)."""
        return {k: v for k, v in options.items()
                if k in ("seed", "temperature", "top_k", "top_p", "min_p", "typical_p",
                         "repeat_penalty", "presence_penalty", "frequency_penalty")}

    def _check_think(self, model: LocalModel, text: str, think: Any, relax: bool = False
                     ) -> bool | str:
        thinking_model = "thinking" in model.capabilities
        if think is None:
            return thinking_model
        if think and not thinking_model:
            if relax:
                return False
            raise ApiError(400, f'"{text}" does not support thinking')
        return think

    @staticmethod
    def _check_format(fmt: Any) -> None:
        if fmt is None or fmt == "" or fmt == "json" or isinstance(fmt, dict):
            return
        import json

        raise ApiError(500, f"invalid format: {json.dumps(fmt)}; expected \"json\" or a "
                            "valid JSON Schema object")

    @staticmethod
    def _content(seed: int, prompt: str, fmt: Any, images: int, ctx: Context,
                 context: str = "") -> str:
        huge = ctx.plan.get("huge_line")
        if fmt == "json" or isinstance(fmt, dict):
            text = _structured.json_text(seed, prompt, fmt, context)
        else:
            text = _engine.answer_text(seed, prompt, images=images)
        if huge:
            text = ("lorem " * (int(huge["bytes"]) // 6 + 1))[: int(huge["bytes"])] + text
        return text

    def _respond(self, kind: str, model: LocalModel, text: str, req: dict[str, Any],
                 options: dict[str, Any], started: float, prompt_tokens: int, thinking: str,
                 content: str, tool_calls: list[dict[str, Any]] | None, ctx: Context,
                 context_source: str | None = None) -> Reply | Stream:
        num_ctx = self._num_ctx(model, options)
        stream = req.get("stream") is not False
        if prompt_tokens > num_ctx:
            if req.get("truncate") is False:
                error = _StreamPathError if stream else ApiError
                raise error(400, "the input length exceeds the context length")
            prompt_tokens = num_ctx
        seconds, load = self._load(model, req.get("keep_alive"))
        load_started = time.perf_counter()
        # token pieces: thinking first, then content; num_predict and stop cut them
        think_toks = _engine.tokenize(thinking)
        huge = ctx.plan.get("huge_line")
        if huge:
            cut = int(huge["bytes"])
            content_toks = [content[:cut]] + _engine.tokenize(content[cut:])
        else:
            content_toks = _engine.tokenize(content)
        reason = "stop"
        stops = _stop_list(options.get("stop"))
        if stops and content:
            positions = [content.find(s) for s in stops if s in content]
            if positions:
                content = content[: min(positions)]
                content_toks = _engine.tokenize(content)
        limit = options.get("num_predict")
        if isinstance(limit, int) and limit >= 0:
            total = len(think_toks) + len(content_toks) + (1 if tool_calls else 0)
            if total > limit:
                reason = "length"
                think_toks = think_toks[:limit]
                content_toks = content_toks[: max(0, limit - len(think_toks))]
                if tool_calls and limit <= len(think_toks) + len(content_toks):
                    tool_calls = None
        eval_count = max(1, len(think_toks) + len(content_toks) + (8 if tool_calls else 0))
        all_content = "".join(content_toks)
        all_thinking = "".join(think_toks)
        call_toks = _engine.tokenize(dumps(tool_calls).decode()) if tool_calls else []
        lps: list[dict[str, Any]] = []
        if req.get("logprobs"):
            lps = _engine.token_logprobs(
                _engine.seed_for("logprobs", model.name.key, all_thinking, all_content),
                think_toks + content_toks + call_toks, int(req.get("top_logprobs") or 0),
                all_content)

        def base() -> dict[str, Any]:
            return {"model": text, "created_at": utc_now()}

        def chunk(content_piece: str = "", thinking_piece: str = "",
                  calls: list[dict[str, Any]] | None = None,
                  logprobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
            obj = base()
            if kind == "generate":
                obj["response"] = content_piece
                if thinking_piece:
                    obj["thinking"] = thinking_piece
            else:
                msg: dict[str, Any] = {"role": "assistant", "content": content_piece}
                if thinking_piece:
                    msg["thinking"] = thinking_piece
                if calls:
                    msg["tool_calls"] = calls
                obj["message"] = msg
            obj["done"] = False
            if logprobs:
                obj["logprobs"] = logprobs
            return obj

        def final(full_content: str = "", full_thinking: str = "",
                  calls: list[dict[str, Any]] | None = None,
                  logprobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
            obj = chunk(full_content, full_thinking, calls)
            obj["done"] = True
            obj["done_reason"] = reason
            if kind == "chat" and logprobs:  # ChatResponse: logprobs before the metrics
                obj["logprobs"] = logprobs
            if kind == "generate" and context_source is not None:
                obj["context"] = _context_ids(context_source + all_content,
                                              model.spec.vocab_size)
            now = time.perf_counter()
            # the made-up text costs nothing to make: report a nominal laptop speed instead
            # of tens of thousands of tokens a second (a token_delay that is slower wins)
            evaluating = max(now - load_started, eval_count / NOMINAL_TOKENS_PER_SECOND)
            prompting = max(load_started - started - load, 1e-6)
            obj["total_duration"] = _ns(max(now - started, load + prompting + evaluating))
            obj["load_duration"] = _ns(load)
            obj["prompt_eval_count"] = prompt_tokens
            obj["prompt_eval_duration"] = _ns(prompting)
            obj["eval_count"] = eval_count
            obj["eval_duration"] = _ns(evaluating)
            if kind == "generate" and logprobs:  # GenerateResponse: logprobs last
                obj["logprobs"] = logprobs
            return obj

        on_close = self._after(model, seconds)
        if not stream:
            on_close()
            return Reply(body=final(all_content, all_thinking, tool_calls, lps))

        def items() -> Iterator[dict[str, Any]]:
            at = 0
            for piece in think_toks:
                yield chunk("", piece, logprobs=lps[at:at + 1])
                at += 1
            for piece in content_toks:
                yield chunk(piece, logprobs=lps[at:at + 1])
                at += 1
            if tool_calls:
                yield chunk("", "", tool_calls, logprobs=lps[at:])
            yield final()

        return Stream(items(), tokens=True, on_close=on_close)

    # ---- embeddings ----
    def _embedding_request(self, raw: bytes, ctx: Context, struct: str, missing: ApiError
                           ) -> tuple[dict[str, Any], str, LocalModel, dict[str, Any]]:
        """The checks /api/embed and /api/embeddings share; only a missing model differs."""
        req = check_struct(loads_request(raw), struct)
        keep_alive_seconds(req.get("keep_alive"))
        text = req.get("model") or ""
        ctx.model = text or None
        if not text:
            raise missing
        model = self._lookup(text, not_found=f'model "{text}" not found, try pulling it first')
        return req, text, model, check_options(req.get("options"))

    def embed(self, raw: bytes, ctx: Context) -> Reply:
        started = time.perf_counter()
        req, text, model, options = self._embedding_request(
            raw, ctx, "EmbedRequest", ApiError(404, "model '' not found"))
        raw_input = req.get("input")
        if raw_input is None or raw_input == "" or raw_input == []:
            self._load(model, req.get("keep_alive"))
            return Reply(body={"model": text, "embeddings": []})
        if isinstance(raw_input, str):
            texts = [raw_input]
        elif isinstance(raw_input, list) and all(isinstance(t, str) for t in raw_input):
            texts = list(raw_input)
        else:
            raise ApiError(400, "invalid input type")
        seconds, load = self._load(model, req.get("keep_alive"))
        vectors, counts = self._vectors(model, texts, options,
                                        truncate=req.get("truncate") is not False)
        import numpy as np

        def unit(rows: Any) -> Any:
            norms = np.linalg.norm(rows, axis=1, keepdims=True)
            return rows / np.where(norms == 0, 1, norms)

        vectors = unit(vectors)
        dims = req.get("dimensions") or 0
        if 0 < dims < vectors.shape[1]:  # cut, then normalise again (as the real server does)
            vectors = unit(vectors[:, : int(dims)])
        vectors = vectors.astype(np.float32)
        self._after(model, seconds)()
        return Reply(body={
            "model": text,
            "embeddings": Float32Rows(vectors),
            "total_duration": _ns(time.perf_counter() - started),
            "load_duration": _ns(load),
            "prompt_eval_count": int(sum(counts)),
        })

    def embeddings(self, raw: bytes, ctx: Context) -> Reply:
        req, _text, model, options = self._embedding_request(
            raw, ctx, "EmbeddingRequest", ApiError(400, "model is required"))
        seconds, _ = self._load(model, req.get("keep_alive"))
        prompt = req.get("prompt") or ""
        if not prompt:
            return Reply(body={"embedding": []})
        vectors, _ = self._vectors(model, [prompt], options, truncate=True)
        self._after(model, seconds)()
        return Reply(body={"embedding": [float(x) for x in vectors[0].tolist()]})

    def _vectors(self, model: LocalModel, texts: list[str], options: dict[str, Any], *,
                 truncate: bool) -> tuple[Any, list[int]]:
        """Un-normalised vectors (n x dims) and token counts, via the model's engine."""
        if self.embedder is not None:
            result = self.embedder(model, texts, truncate)
            if result is not None:
                return result
        limit = self._num_ctx(model, options)
        counts = []
        cut_texts = []
        for t in texts:
            toks = _engine.tokenize(t)
            if len(toks) > limit:
                if not truncate:
                    raise ApiError(400, "the input length exceeds the context length")
                t = "".join(toks[:limit])
                toks = toks[:limit]
            counts.append(len(toks))  # special tokens are not counted (real: "Hello world" -> 2)
            cut_texts.append(t)
        vectors = _engine.overlap_vectors(cut_texts, model.spec.embedding_length,
                                          model.spec.name)
        return vectors, counts

    # ---- show ----
    def show(self, raw: bytes, ctx: Context) -> Reply:
        req = check_struct(loads_request(raw), "ShowRequest")
        text = req.get("model") or req.get("name") or ""
        ctx.model = text or None
        if not text:
            raise ApiError(400, "model is required")
        name = _name_or_error(text)
        model = None if name.is_cloud else self.store.get(name)
        if model is None:
            raise ApiError(404, f"model '{name.shortest}' not found")
        options = check_options(req.get("options"))
        params = {**model.parameters, **options}
        body: dict[str, Any] = {}
        real = self._real(model)
        if model.license:
            body["license"] = real.licence(model) if real is not None else model.license
        body["modelfile"] = self._modelfile(model, params)
        if params:
            body["parameters"] = self._parameters(params)
        if model.template:
            body["template"] = model.template
        system = req.get("system") or model.system
        if system:
            body["system"] = system
        body["details"] = model.details()
        if model.messages:
            body["messages"] = list(model.messages)
        if real is not None:  # the GGUF's own metadata and tensor table
            body["details"] = {**body["details"], **real.details()}
            body["model_info"] = real.model_info(bool(req.get("verbose")))
            body["tensors"] = real.tensors()
        else:
            body["model_info"] = self._model_info(model, bool(req.get("verbose")))
            body["tensors"] = self._tensors(model)
        body["capabilities"] = list(model.capabilities)
        body["modified_at"] = local_time(model.modified_at)
        return Reply(body=body)

    @staticmethod
    def _parameters(params: dict[str, Any]) -> str:
        lines = []
        for key, value in params.items():
            for item in value if isinstance(value, list) else [value]:
                lines.append(f"{key:<30} {_format_param(item)}")
        return "\n".join(lines)

    @staticmethod
    def _modelfile(model: LocalModel, params: dict[str, Any]) -> str:
        weights = model.layers()[0].digest.replace(":", "-")
        out = [
            '# Modelfile generated by "ollama show"',
            "# To build a new Modelfile based on this, replace FROM with:",
            f"# FROM {model.name.shortest}",
            "",
            f"FROM /root/.ollama/models/blobs/{weights}",
        ]
        if model.template:
            out.append(f'TEMPLATE """{model.template}"""')
        if model.system:
            out.append(f'SYSTEM """{model.system}"""')
        for key, value in params.items():
            for item in value if isinstance(value, list) else [value]:
                shown = item if isinstance(item, str) else _format_param(item)
                out.append(f"PARAMETER {key} {shown}")
        for msg in model.messages:
            out.append(f"MESSAGE {msg.get('role')} {msg.get('content', '')}")
        if model.license:
            import json

            out.append(f"LICENSE {json.dumps(model.license, ensure_ascii=False)}")
        return "\n".join(out) + "\n"

    @staticmethod
    def _model_info(model: LocalModel, verbose: bool) -> dict[str, Any]:
        """GGUF key/values as the real server lists them for the same architecture
        (compare the shared show-llama3.2-3b transcript); big arrays are null unless
        ``verbose``."""
        spec = model.spec
        arch = spec.architecture
        vocab = spec.vocab_size
        extra = dict(spec.gguf)
        heads = int(extra.pop("head_count", spec.head_count))
        head_kv = int(extra.pop("head_count_kv", max(1, heads // 3)))
        ffn = int(extra.pop("feed_forward_length", spec.embedding_length * 4))
        rope_base = extra.pop("rope.freq_base", None)
        rms = extra.pop("rms_epsilon", 1e-05)
        arrays = {key: extra.pop(key, default) for key, default in
                  (("general.languages", ["en"]), ("general.tags", ["text-generation"]))}
        info: dict[str, Any] = {
            "general.architecture": arch,
            "general.basename": spec.name.split(":")[0],
            "general.file_type": spec.file_type,
            "general.parameter_count": spec.parameter_count,
            "general.quantization_version": 2,
            "general.size_label": spec.parameter_size,
            "general.type": "model",
            "general.languages": None,
            "general.tags": None,
            f"{arch}.attention.head_count": heads,
            f"{arch}.block_count": spec.block_count,
            f"{arch}.context_length": spec.context_length,
            f"{arch}.embedding_length": spec.embedding_length,
            f"{arch}.feed_forward_length": ffn,
            "tokenizer.ggml.merges": None,
            "tokenizer.ggml.token_type": None,
            "tokenizer.ggml.tokens": None,
        }
        if "embedding" in spec.capabilities:
            info.update({
                f"{arch}.attention.causal": False,
                f"{arch}.attention.layer_norm_epsilon": RawJSON("1e-12"),
                f"{arch}.pooling_type": 1,
                "tokenizer.ggml.bos_token_id": 101,
                "tokenizer.ggml.cls_token_id": 101,
                "tokenizer.ggml.eos_token_id": 102,
                "tokenizer.ggml.mask_token_id": 103,
                "tokenizer.ggml.model": "bert",
                "tokenizer.ggml.padding_token_id": 0,
                "tokenizer.ggml.seperator_token_id": 102,
                "tokenizer.ggml.token_type_count": 2,
                "tokenizer.ggml.unknown_token_id": 100,
            })
            del info["tokenizer.ggml.merges"]
            if rope_base is not None:
                info[f"{arch}.rope.freq_base"] = rope_base
        else:
            head_dim = spec.embedding_length // max(1, heads)
            info.update({
                "general.finetune": "Instruct",
                f"{arch}.attention.head_count_kv": head_kv,
                f"{arch}.attention.key_length": head_dim,
                f"{arch}.attention.value_length": head_dim,
                f"{arch}.attention.layer_norm_rms_epsilon": RawJSON(go_float(rms)),
                f"{arch}.rope.dimension_count": head_dim,
                f"{arch}.rope.freq_base": rope_base if rope_base is not None else 10000,
                f"{arch}.vocab_size": vocab,
                "tokenizer.ggml.bos_token_id": 1,
                "tokenizer.ggml.eos_token_id": 2,
                "tokenizer.ggml.model": "gpt2",
                "tokenizer.ggml.pre": "default",
            })
        info.update(extra)
        if not info.get("general.finetune", True):
            del info["general.finetune"]
        if verbose:
            info.update(arrays)
            info["tokenizer.ggml.tokens"] = [f"tok{i}" for i in range(vocab)]
            info["tokenizer.ggml.token_type"] = [1] * vocab
            if "tokenizer.ggml.merges" in info:
                info["tokenizer.ggml.merges"] = [f"t ok{i}" for i in range(min(vocab, 50000))]
        return dict(sorted(info.items()))

    @staticmethod
    def _tensors(model: LocalModel) -> list[dict[str, Any]]:
        spec = model.spec
        d = spec.embedding_length
        q = "Q4_K" if spec.quantization_level.startswith("Q4") else spec.quantization_level
        out = [{"name": "token_embd.weight", "type": "Q6_K" if q == "Q4_K" else q,
                "shape": [d, spec.vocab_size]}]
        for i in range(spec.block_count):
            for part, shape in (("attn_k", [d, d // 3]), ("attn_norm", [d]),
                                ("attn_output", [d, d]), ("attn_q", [d, d]),
                                ("attn_v", [d, d // 3]), ("ffn_down", [4 * d, d]),
                                ("ffn_gate", [d, 4 * d]), ("ffn_norm", [d]),
                                ("ffn_up", [d, 4 * d])):
                kind = "F32" if len(shape) == 1 else q
                out.append({"name": f"blk.{i}.{part}.weight", "type": kind, "shape": shape})
        out.append({"name": "output_norm.weight", "type": "F32", "shape": [d]})
        return out

    # ---- copy / delete ----
    def copy(self, raw: bytes, ctx: Context) -> Reply:
        req = check_struct(loads_request(raw), "CopyRequest")
        source = req.get("source") or ""
        dest = req.get("destination") or ""
        ctx.model = source or None
        src_name = _names.parse(source)
        if src_name is None:
            raise ApiError(400, f'source "{source}" is invalid')
        dst_name = _names.parse(dest)
        if dst_name is None:
            raise ApiError(400, f'destination "{dest}" is invalid')
        model = self.store.get(src_name)
        if model is None:
            raise ApiError(404, f'model "{source}" not found')
        self.store.put(dc_replace(model, name=dst_name, modified_at=time.time()))
        return Reply(body=None)

    def delete(self, raw: bytes, ctx: Context) -> Reply:
        req = check_struct(loads_request(raw), "DeleteRequest")
        text = req.get("model") or req.get("name") or ""
        ctx.model = text or None
        if not text:
            raise ApiError(400, "model is required")
        name = _names.parse(text)
        if name is None:
            raise ApiError(400, f'name "{text}" is invalid')
        if self.store.remove(name) is None:
            raise ApiError(404, f"model '{text}' not found")
        return Reply(body=None)

    # ---- progress streams: pull / push / create ----
    def _progress(self, req: dict[str, Any], items: Iterator[dict[str, Any]]) -> Reply | Stream:
        if req.get("stream") is not False:
            return Stream(items, tokens=False)
        last: dict[str, Any] = {}
        for item in items:
            if "error" in item:
                return Reply(item.get("status") or 500, {"error": item["error"]}, PLAIN_JSON_CT)
            last = item
        return Reply(body=last, content_type=PLAIN_JSON_CT)

    def pull(self, raw: bytes, ctx: Context) -> Reply | Stream:
        req = check_struct(loads_request(raw), "PullRequest")
        text = req.get("model") or req.get("name") or ""
        ctx.model = text or None
        name = _names.parse(text)
        if name is None:
            raise ApiError(400, "invalid model name")
        return self._progress(req, self._pull_items(name, ctx))

    def _ticks(self, verb: str, layer: Layer, ctx: Context, present: bool
               ) -> Iterator[dict[str, Any]]:
        status = f"{verb} {layer.short}"
        if present or layer.size < 1_000_000:
            yield {"status": status, "digest": layer.digest, "total": layer.size,
                   "completed": layer.size}
            return
        yield {"status": status, "digest": layer.digest, "total": layer.size}
        for fraction in (0.1, 0.35, 0.6, 0.85, 1.0):
            if ctx.pull_delay and ctx.stopping.wait(ctx.pull_delay):
                return
            yield {"status": status, "digest": layer.digest, "total": layer.size,
                   "completed": int(layer.size * fraction)}

    def _pull_items(self, name: _names.Name, ctx: Context) -> Iterator[dict[str, Any]]:
        yield {"status": "pulling manifest"}
        spec = _catalogue.find_spec(name)
        if spec is None or name.is_cloud:
            yield {"error": "pull model manifest: file does not exist", "status": 500}
            return
        existing = self.store.get(name)
        model = _catalogue.local_from_spec(name, spec)
        for layer in model.layers():
            yield from self._ticks("pulling", layer, ctx, present=existing is not None)
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        self.store.put(model if existing is None else dc_replace(existing,
                                                                 modified_at=time.time()))
        yield {"status": "success"}

    def push(self, raw: bytes, ctx: Context) -> Reply | Stream:
        req = check_struct(loads_request(raw), "PushRequest")
        text = req.get("model") or req.get("name") or ""
        ctx.model = text or None
        if not text:
            raise ApiError(400, "model is required")
        name = _name_or_error(text)
        return self._progress(req, self._push_items(name, ctx))

    def _push_items(self, name: _names.Name, ctx: Context) -> Iterator[dict[str, Any]]:
        yield {"status": "retrieving manifest"}
        model = self.store.get(name)
        if model is None:
            yield {"status": "couldn't retrieve manifest"}
            yield {"error": "open /root/.ollama/models/manifests/"
                            f"{name.host}/{name.namespace}/{name.model}/{name.tag}: "
                            "no such file or directory", "status": 500}
            return
        for layer in model.layers():
            yield from self._ticks("pushing", layer, ctx, present=False)
        yield {"status": "pushing manifest"}
        yield {"status": "success"}

    # ---- blobs ----
    _DIGEST_RE = re.compile(r"^sha256[:-][0-9a-fA-F]{64}$")

    def blob_head(self, digest: str, ctx: Context) -> Reply:
        if not self._DIGEST_RE.match(digest):
            raise ApiError(400, "invalid digest format")
        if self.store.blob_size(digest) is None:
            return Reply(404, {"error": "blob not found"})
        return Reply(body=None)

    def blob_post(self, digest: str, raw: bytes, ctx: Context) -> Reply:
        if not self._DIGEST_RE.match(digest):
            raise ApiError(400, "invalid digest format")
        if self.store.blob_size(digest) is not None:
            return Reply(200, None)
        actual = "sha256:" + hashlib.sha256(raw).hexdigest()
        expected = digest.replace("-", ":", 1)
        if actual != expected.lower():
            raise ApiError(400, f'digest mismatch, expected "{expected}", got "{actual}"')
        self.store.add_blob(expected, len(raw))
        return Reply(201, None)

    # ---- create ----
    def create(self, raw: bytes, ctx: Context) -> Reply | Stream:
        from ._create import plan_create

        req = check_struct(loads_request(raw), "CreateRequest")
        text = req.get("model") or req.get("name") or ""
        ctx.model = text or None
        name = _names.parse(text)
        if name is None:
            raise ApiError(400, "invalid model name")
        items = plan_create(self.store, name, req)
        return self._progress(req, items)


class _StreamPathError(ApiError):
    """An error raised where the real server is already on its streaming path:
    ``Content-Type: application/json`` without charset, chunked."""

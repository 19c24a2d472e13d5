"""The OpenAI-compatible endpoints under ``/v1``, as a layer over the native API.

Each handler decodes the request the way Ollama's middleware does
(openai/openai.go, openai/responses.go, middleware/openai.go), turns it into the
native request, lets the native handler answer it (so every engine, error and
injected fault applies unchanged), and turns the answer back: JSON objects in the
OpenAI shapes, streams as server-sent events (``data: {...}`` ending with
``data: [DONE]``, or the Responses API's named events), errors as
``{"error": {"message", "type", "param", "code"}}`` with the native status.
"""

from __future__ import annotations

import base64
import binascii
import random
import re
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import _names
from ._api import JSON_CT, Api, Context, Framing, Reply, Stream
from ._wire import ApiError, Float32Rows, RawJSON, check_struct, dumps, json_kind, loads_request

SSE = "text/event-stream"
PLAIN_JSON = "application/json"


class BadRequest(Exception):
    """A request the middleware rejects before the native handler sees it (400)."""


# --- errors --------------------------------------------------------------------------


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def error_reply(status: int, message: str, content_type: str = PLAIN_JSON) -> Reply:
    """A native error as the middleware rewrites it (``writeError``: always
    ``application/json``, written by ``json.Encoder``)."""
    return Reply(status, error_body(status, message), PLAIN_JSON, newline=True)


def _abort(status: int, message: str) -> Reply:
    """An error from the middleware itself (gin ``AbortWithStatusJSON``)."""
    return Reply(status, error_body(status, message), JSON_CT)


# --- shared helpers -------------------------------------------------------------------


def decode(raw: bytes, struct: str) -> dict[str, Any]:
    """gin ``ShouldBindJSON`` into one of the middleware's request structs."""
    if not raw.strip():
        raise BadRequest("EOF")
    try:
        return check_struct(loads_request(raw), struct)
    except ApiError as exc:
        raise BadRequest(exc.message) from None


_STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?$")


def unix(stamp: Any) -> int:
    """Seconds of an RFC 3339 time as the server wrote it (now when there is none, as Go
    stamps a zero time)."""
    match = _STAMP.match(stamp) if isinstance(stamp, str) else None
    if match is None:
        return int(time.time())
    zone = match.group(2) or "Z"
    return int(datetime.fromisoformat(match.group(1) + ("+00:00" if zone == "Z" else zone))
               .timestamp())


def namespace(name: str) -> str:
    parsed = _names.parse(name)
    return parsed.namespace if parsed else ""


def sse(obj: Any, event: str | None = None, *, sort_keys: bool = False) -> bytes:
    head = f"event: {event}\n".encode() if event else b""
    return head + b"data: " + dumps(obj, sort_keys=sort_keys) + b"\n\n"


def tool_calls_out(calls: Any) -> list[dict[str, Any]]:
    """Native tool calls as OpenAI's (``arguments`` as a JSON string)."""
    out = []
    for call in calls or []:
        fn = call.get("function") or {}
        out.append({"id": call.get("id") or "", "index": fn.get("index") or 0,
                    "type": "function",
                    "function": {"name": fn.get("name") or "",
                                 "arguments": dumps(fn.get("arguments") or {}).decode()}})
    return out


def native_call(api: Api, method: str, request: dict[str, Any], ctx: Context) -> Reply | Stream:
    return getattr(api, method)(dumps(request), ctx)


def answer(reply: Reply | Stream, stream: bool, framing: Framing,
           whole: Callable[[dict[str, Any]], Any],
           errors: Callable[..., Reply] | None = None) -> Reply | Stream:
    """The native answer in this API's form: a stream, or one translated object."""
    if isinstance(reply, Stream):
        return Stream(reply.items, reply.tokens, reply.on_close, framing)
    if reply.status >= 400:
        message = reply.body.get("error", "") if isinstance(reply.body, dict) else ""
        return (errors or error_reply)(reply.status, str(message))
    if stream:  # a whole native answer (e.g. load) on a streamed request: one event
        return Stream(iter([reply.body]), tokens=False, framing=framing)
    return Reply(reply.status, whole(reply.body), PLAIN_JSON, newline=True)


def _usage(body: dict[str, Any]) -> dict[str, int]:
    prompt = int(body.get("prompt_eval_count") or 0)
    completion = int(body.get("eval_count") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}


def _finish(reason: Any, calls: bool) -> str | None:
    if reason == "stop" and calls:
        return "tool_calls"
    return reason or None


def _options(req: dict[str, Any], *, stop_strict: bool) -> dict[str, Any]:
    options: dict[str, Any] = {}
    stop = req.get("stop")
    if isinstance(stop, str):
        options["stop"] = [stop]
    elif isinstance(stop, list):
        wrong = [s for s in stop if not isinstance(s, str)]
        if stop_strict and wrong:  # /v1/completions refuses them, chat drops them
            raise BadRequest(f"invalid type for 'stop' field: {_go_type(wrong[0])}")
        options["stop"] = [s for s in stop if isinstance(s, str)]
    if req.get("max_tokens") is not None:
        options["num_predict"] = req["max_tokens"]
    options["temperature"] = req["temperature"] if req.get("temperature") is not None else 1.0
    if req.get("seed") is not None:
        options["seed"] = req["seed"]
    return options


def _go_type(value: Any) -> str:
    """Go's ``%T`` of a decoded JSON value."""
    if value is None:
        return "<nil>"
    return {"string": "string", "bool": "bool", "number": "float64",
            "array": "[]interface {}", "object": "map[string]interface {}"}[json_kind(value)]


_EFFORTS = {"none": False, "minimal": "low", "low": "low", "medium": "medium", "high": "high",
            "max": "max", "xhigh": "max", "ultra": "max"}


def think_from_effort(effort: Any) -> Any:
    """OpenAI's reasoning effort as a native ``think`` (None: the model's default)."""
    if not effort:
        return None
    if effort not in _EFFORTS:
        raise BadRequest(f'invalid reasoning value: "{effort}" (must be "minimal", "low", '
                         '"medium", "high", "xhigh", "ultra", "max", or "none")')
    return _EFFORTS[effort]


_IMAGE_PREFIXES = tuple(f"data:image/{kind};base64," for kind in ("jpeg", "jpg", "png", "webp"))


def image_from_url(url: str) -> str:
    """A data URL's image as the native API's base64 (web URLs are refused, as in Ollama)."""
    if url.startswith(("http://", "https://")):
        raise BadRequest("image URLs are not currently supported, please use base64 encoded "
                         "data instead")
    if url.startswith("data:;base64,"):
        data = url[len("data:;base64,"):]
    else:
        prefix = next((p for p in _IMAGE_PREFIXES if url.startswith(p)), None)
        if prefix is None:
            raise BadRequest("invalid image input")
        data = url[len(prefix):]
    try:
        return base64.b64encode(base64.b64decode(data, validate=True)).decode()
    except (binascii.Error, ValueError):
        raise BadRequest("invalid image input") from None


class SSEFraming(Framing):
    """Server-sent events. A native ``{"error"}`` line after the start reaches the
    middleware's writer as an empty response, so it becomes whatever an empty response
    becomes (an empty chunk; nothing for the event APIs), as with a real Ollama."""

    content_type = SSE
    broken = b'data: {"id":<not json>\n\n'
    include_usage = False

    def error(self, message: str) -> bytes:
        return self.item({})

    def _close(self, last: dict[str, Any], body: dict[str, Any]) -> bytes:
        """How chat and completion streams end: the usage chunk if asked for, ``[DONE]``."""
        usage = sse({**last, "choices": [], "usage": _usage(body)}) if self.include_usage else b""
        return usage + b"data: [DONE]\n\n"

    def malformed(self, obj: dict[str, Any]) -> bytes:
        return self.broken


# --- /v1/chat/completions -------------------------------------------------------------


def _calls_in(calls: Any) -> list[dict[str, Any]]:
    out = []
    for call in calls or []:
        fn = (call or {}).get("function") or {}
        try:
            args = loads_request(str(fn.get("arguments") or "").encode())
        except ApiError:
            raise BadRequest("invalid tool call arguments") from None
        out.append({"id": call.get("id") or "",
                    "function": {"name": fn.get("name") or "", "arguments": args}})
    return out


def _message_fields(msg: dict[str, Any], tool_name: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if msg.get("reasoning"):
        fields["thinking"] = msg["reasoning"]
    calls = _calls_in(msg.get("tool_calls"))
    if calls:
        fields["tool_calls"] = calls
    if tool_name:
        fields["tool_name"] = tool_name
    if msg.get("tool_call_id"):
        fields["tool_call_id"] = msg["tool_call_id"]
    return fields


def chat_messages(items: list[Any]) -> list[dict[str, Any]]:
    """OpenAI messages as native ones (``FromChatRequest``): each content part is its
    own message, images decoded from data URLs, tool results named after their call."""
    messages: list[dict[str, Any]] = []
    for msg in items:
        if not isinstance(msg, dict):
            raise BadRequest(f"json: cannot unmarshal {json_kind(msg)} into Go struct field "
                             "ChatCompletionRequest.messages of type openai.Message")
        role = msg.get("role") or ""
        tool_name = ""
        if str(role).lower() == "tool":
            tool_name = msg.get("name") or ""
            if not tool_name and msg.get("tool_call_id"):
                tool_name = _name_of_call(items, msg["tool_call_id"])
        content = msg.get("content")
        if isinstance(content, str):
            messages.append({"role": role, "content": content,
                             **_message_fields(msg, tool_name)})
        elif isinstance(content, list):
            for part in content:
                messages.append({"role": role, **_content_part(part)})
            if messages and msg.get("tool_calls"):
                messages[-1].update(_message_fields(msg, tool_name))
        else:
            if msg.get("tool_calls") is None:
                raise BadRequest(f"invalid message content type: {_go_type(content)}")
            messages.append({"role": role, "content": "", **_message_fields(msg, "")})
    return messages


def _content_part(part: Any) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise BadRequest("invalid message format")
    kind = part.get("type")
    if kind == "text":
        if not isinstance(part.get("text"), str):
            raise BadRequest("invalid message format")
        return {"content": part["text"]}
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        if not isinstance(url, str):
            raise BadRequest("invalid message format")
        return {"content": "", "images": [image_from_url(url)]}
    if kind == "input_audio":
        audio = part.get("input_audio")
        if not isinstance(audio, dict):
            raise BadRequest("invalid input_audio format")
        if not isinstance(audio.get("data"), str):
            raise BadRequest("invalid input_audio format: missing data")
        try:
            data = base64.b64decode(audio["data"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadRequest(f"invalid input_audio base64 data: {exc}") from None
        return {"content": "", "images": [base64.b64encode(data).decode()]}
    raise BadRequest("invalid message format")


def _name_of_call(items: list[Any], call_id: str) -> str:
    """The name of the tool call a result answers (the last call with that id wins)."""
    for msg in reversed(items):
        calls = msg.get("tool_calls") if isinstance(msg, dict) else None
        for call in calls or []:
            if isinstance(call, dict) and call.get("id") == call_id:
                return str((call.get("function") or {}).get("name") or "")
    return ""


def chat_request(req: dict[str, Any]) -> dict[str, Any]:
    """A decoded /v1/chat/completions request as a native /api/chat request."""
    options = _options(req, stop_strict=False)
    for key in ("frequency_penalty", "presence_penalty"):
        if req.get(key) is not None:
            options[key] = req[key]
    options["top_p"] = req["top_p"] if req.get("top_p") is not None else 1.0
    native: dict[str, Any] = {"model": req.get("model") or "",
                              "messages": chat_messages(req.get("messages") or []),
                              "options": options, "stream": bool(req.get("stream"))}
    fmt = req.get("response_format")
    if isinstance(fmt, dict):
        kind = str(fmt.get("type") or "").strip().lower()
        if kind == "json_object":
            native["format"] = "json"
        elif kind == "json_schema" and isinstance(fmt.get("json_schema"), dict) and \
                fmt["json_schema"].get("schema") is not None:
            native["format"] = fmt["json_schema"]["schema"]
    if req.get("tools"):
        native["tools"] = req["tools"]
    reasoning = req.get("reasoning")
    effort = (reasoning or {}).get("effort") if reasoning is not None else \
        req.get("reasoning_effort")
    think = think_from_effort(effort)
    if think is not None:
        native["think"] = think
    if req.get("logprobs"):
        native["logprobs"] = True
    if req.get("top_logprobs"):
        native["top_logprobs"] = req["top_logprobs"]
    return native


def chat_completions(api: Api, raw: bytes, ctx: Context, _arg: str) -> Reply | Stream:
    try:
        req = decode(raw, "openai.ChatCompletionRequest")
        if not req.get("messages"):
            raise BadRequest("[] is too short - 'messages'")
        native = chat_request(req)
    except BadRequest as exc:
        return _abort(400, str(exc))
    cid = f"chatcmpl-{random.randrange(999)}"
    stream = bool(req.get("stream"))
    include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
    return answer(native_call(api, "chat", native, ctx), stream,
                  ChatFraming(cid, include_usage), lambda body: chat_completion(cid, body))


def chat_completion(cid: str, body: dict[str, Any]) -> dict[str, Any]:
    msg = body.get("message") or {}
    calls = tool_calls_out(msg.get("tool_calls"))
    message: dict[str, Any] = {"role": msg.get("role") or "", "content": msg.get("content") or ""}
    if msg.get("thinking"):
        message["reasoning"] = msg["thinking"]
    if calls:
        message["tool_calls"] = calls
    choice: dict[str, Any] = {"index": 0, "message": message,
                              "finish_reason": _finish(body.get("done_reason"), bool(calls))}
    if body.get("logprobs"):
        choice["logprobs"] = {"content": body["logprobs"]}
    return {"id": cid, "object": "chat.completion", "created": unix(body.get("created_at")),
            "model": body.get("model") or "", "system_fingerprint": "fp_ollama",
            "choices": [choice], "usage": _usage(body)}


class ChatFraming(SSEFraming):
    """Native chat chunks as ``chat.completion.chunk`` events (middleware ChatWriter):
    the role on the first chunk only, reasoning and content in separate chunks, a
    finish chunk with an empty delta, the usage chunk if asked for, ``[DONE]``."""

    def __init__(self, cid: str, include_usage: bool) -> None:
        self.cid = cid
        self.include_usage = include_usage
        self.created: int | None = None
        self.first_sent = False
        self.tool_sent = False

    def _chunk(self, body: dict[str, Any], delta: dict[str, Any],
               logprobs: Any = None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": None}
        if logprobs:
            choice["logprobs"] = {"content": logprobs}
        return {"id": self.cid, "object": "chat.completion.chunk", "created": self.created,
                "model": body.get("model") or "", "system_fingerprint": "fp_ollama",
                "choices": [choice]}

    def item(self, body: dict[str, Any]) -> bytes:
        if self.created is None:
            self.created = unix(body.get("created_at"))
        msg = body.get("message") or {}
        content = msg.get("content") or ""
        thinking = msg.get("thinking") or ""
        calls = tool_calls_out(msg.get("tool_calls"))
        logprobs = body.get("logprobs")
        done = bool(body.get("done"))
        out = b""
        if not (done and self.first_sent and not content and not thinking and not calls
                and not logprobs):
            role = {} if self.first_sent else {"role": "assistant"}
            if thinking and (content or calls):
                chunks = [self._chunk(body, {**role, "reasoning": thinking}, logprobs),
                          self._chunk(body, {"content": content,
                                             **({"tool_calls": calls} if calls else {})})]
            else:
                delta: dict[str, Any] = {**role, "content": content}
                if thinking:
                    delta["reasoning"] = thinking
                if calls:
                    delta["tool_calls"] = calls
                chunks = [self._chunk(body, delta, logprobs)]
            for chunk in chunks:
                self.tool_sent = self.tool_sent or "tool_calls" in chunk["choices"][0]["delta"]
                out += sse(chunk)
            self.first_sent = True
        if done:
            reason = body.get("done_reason") or "stop"
            if reason == "stop" and self.tool_sent:
                reason = "tool_calls"
            finish: dict[str, Any] = {"id": self.cid, "object": "chat.completion.chunk",
                      "created": self.created, "model": body.get("model") or "",
                      "system_fingerprint": "fp_ollama",
                      "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
            out += sse(finish) + self._close(finish, body)
        return out


# --- /v1/completions -------------------------------------------------------------------


def completions(api: Api, raw: bytes, ctx: Context, _arg: str) -> Reply | Stream:
    try:
        req = decode(raw, "openai.CompletionRequest")
        options = _options(req, stop_strict=True)
    except BadRequest as exc:
        return _abort(400, str(exc))
    options["frequency_penalty"] = req.get("frequency_penalty") or 0
    options["presence_penalty"] = req.get("presence_penalty") or 0
    options["top_p"] = req.get("top_p") or 1.0
    native: dict[str, Any] = {"model": req.get("model") or "", "prompt": req.get("prompt") or "",
                              "options": options, "stream": bool(req.get("stream"))}
    if req.get("suffix"):
        native["suffix"] = req["suffix"]
    if isinstance(req.get("logprobs"), int) and req["logprobs"] > 0:
        native["logprobs"] = True
        native["top_logprobs"] = req["logprobs"]
    cid = f"cmpl-{random.randrange(999)}"
    include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
    return answer(native_call(api, "generate", native, ctx), bool(req.get("stream")),
                  CompletionFraming(cid, include_usage), lambda body: completion(cid, body))


def completion(cid: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": cid, "object": "text_completion", "created": unix(body.get("created_at")),
            "model": body.get("model") or "", "system_fingerprint": "fp_ollama",
            "choices": [{"text": body.get("response") or "", "index": 0,
                         "finish_reason": body.get("done_reason") or None}],
            "usage": _usage(body)}


class CompletionFraming(SSEFraming):
    """Native generate chunks as ``text_completion`` events (middleware CompleteWriter)."""

    def __init__(self, cid: str, include_usage: bool) -> None:
        self.cid = cid
        self.include_usage = include_usage

    def item(self, body: dict[str, Any]) -> bytes:
        chunk: dict[str, Any] = {
            "id": self.cid, "object": "text_completion", "created": int(time.time()),
            "choices": [{"text": body.get("response") or "", "index": 0,
                         "finish_reason": body.get("done_reason") or None}],
            "model": body.get("model") or "", "system_fingerprint": "fp_ollama"}
        if self.include_usage:
            chunk["usage"] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        return sse(chunk) + (self._close(chunk, body) if body.get("done") else b"")


# --- /v1/embeddings ---------------------------------------------------------------------


def embeddings(api: Api, raw: bytes, ctx: Context, _arg: str) -> Reply | Stream:
    try:
        req = decode(raw, "openai.EmbedRequest")
    except BadRequest as exc:
        return _abort(400, str(exc))
    encoding = req.get("encoding_format") or ""
    if encoding and encoding.lower() not in ("float", "base64"):
        return _abort(400, f"Invalid value for 'encoding_format' = {encoding}. Supported "
                           "values: ['float', 'base64'].")
    value = req.get("input")
    if value == "":
        value = [""]
    if value is None or value == []:
        return _abort(400, "invalid input")
    native: dict[str, Any] = {"model": req.get("model") or "", "input": value}
    if req.get("dimensions"):
        native["dimensions"] = req["dimensions"]
    model = req.get("model") or ""
    as_base64 = encoding.lower() == "base64"
    return answer(native_call(api, "embed", native, ctx), False, Framing(),
                  lambda body: embedding_list(model, body, as_base64))


def embedding_list(model: str, body: dict[str, Any], as_base64: bool) -> dict[str, Any]:
    rows = body.get("embeddings")
    if rows is None:
        return {"object": "", "data": None, "model": "",
                "usage": {"prompt_tokens": 0, "total_tokens": 0}}
    if isinstance(rows, Float32Rows):
        vectors: list[Any] = ([base64.b64encode(row.astype("<f4").tobytes()).decode()
                               for row in rows.matrix] if as_base64 else rows.rows())
    else:
        vectors = list(rows)
    data = [{"object": "embedding", "embedding": vector, "index": i}
            for i, vector in enumerate(vectors)]
    tokens = int(body.get("prompt_eval_count") or 0)
    return {"object": "list", "data": data or None, "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


# --- /v1/models --------------------------------------------------------------------------


def list_models(api: Api, raw: bytes, ctx: Context, _arg: str) -> Reply | Stream:
    def listing(body: dict[str, Any]) -> dict[str, Any]:
        data = [{"id": m.get("model") or m.get("name"), "object": "model",
                 "created": unix(m.get("modified_at")),
                 "owned_by": namespace(m.get("model") or m.get("name") or "")}
                for m in body.get("models") or []]
        return {"object": "list", "data": data or None}

    return answer(api.tags(ctx), False, Framing(), listing)


def retrieve_model(api: Api, raw: bytes, ctx: Context, name: str) -> Reply | Stream:
    def model(body: dict[str, Any]) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": unix(body.get("modified_at")),
                "owned_by": namespace(name)}

    request = {"model": "", "system": "", "template": "", "verbose": False, "options": None,
               "name": name}
    return answer(native_call(api, "show", request, ctx), False, Framing(), model)


# --- /v1/responses -----------------------------------------------------------------------

WEB_SEARCH = ("the ollama_nb sandbox does not serve web search (the web_search tool); a real "
              "Ollama runs it on ollama.com after you sign in")


def responses(api: Api, raw: bytes, ctx: Context, _arg: str) -> Reply | Stream:
    try:
        req = decode(raw, "openai.ResponsesRequest")
        native = responses_request(req)
    except BadRequest as exc:
        return _abort(400, str(exc))
    stream = req.get("stream") is True
    native["stream"] = stream
    rid = f"resp_{random.randrange(999999)}"
    item_id = f"msg_{random.randrange(999999)}"
    reply = native_call(api, "chat", native, ctx)
    framing = ResponsesFraming(rid, item_id, req)

    def whole(body: dict[str, Any]) -> dict[str, Any]:
        out = responses_object(rid, item_id, body, req)
        out["completed_at"] = int(time.time())
        return out

    return answer(reply, stream, framing, whole)


def _response_items(value: Any) -> list[dict[str, Any]]:
    """``input``: a string, or a list of typed items (decoded as Ollama decodes them)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": value}]}] if value else []
    if not isinstance(value, list):
        raise BadRequest(f"input must be a string or array: json: cannot unmarshal "
                         f"{json_kind(value)} into Go value of type []json.RawMessage")
    items = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise BadRequest(f"input[{i}]: json: cannot unmarshal {json_kind(item)} into Go "
                             "value of type struct { Type string \"json:\\\"type\\\"\"; Role "
                             "string \"json:\\\"role\\\"\" }")
        kind = item.get("type") or ("message" if item.get("role") else "")
        if kind not in ("message", "function_call", "function_call_output", "reasoning",
                        "web_search_call"):
            if not kind:
                raise BadRequest(f"input[{i}]: input item missing required 'type' field")
            raise BadRequest(f'input[{i}]: unknown input item type: "{kind}"')
        if kind == "message":
            try:
                item = {**item, "content": _content_items(item.get("content"))}
            except BadRequest as exc:
                raise BadRequest(f"input[{i}]: {exc}") from None
        if kind == "function_call_output" and isinstance(item.get("output"), list):
            try:
                parts = _content_items(item["output"])
            except BadRequest as exc:
                raise BadRequest(f"input[{i}]: {str(exc).replace('content', 'output', 1)}"
                                 ) from None
            item = {**item, "output_items": parts}
        items.append({**item, "type": kind})
    return items


def _content_items(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    if not isinstance(content, list):
        raise BadRequest("content must be a string or array")
    out = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in ("input_text", "input_image", "output_text", "input_file"):
            raise BadRequest(f"content[{i}]: unknown content type: {kind or ''}")
        out.append(part)
    return out


def _content_text(parts: list[dict[str, Any]]) -> tuple[str, list[str]]:
    text = ""
    images: list[str] = []
    for part in parts:
        if part["type"] in ("input_text", "output_text"):
            text += str(part.get("text") or "")
        elif part["type"] == "input_image":
            if part.get("image_url"):
                images.append(image_from_url(str(part["image_url"])))
        else:
            raise BadRequest("file inputs are not currently supported")
    return text, images


def responses_request(req: dict[str, Any]) -> dict[str, Any]:
    """A decoded /v1/responses request as a native /api/chat request
    (``FromResponsesRequest``: stateless; a function call and its output become an
    assistant tool call and a tool message)."""
    messages: list[dict[str, Any]] = []
    if req.get("instructions"):
        messages.append({"role": "system", "content": req["instructions"]})
    items = _response_items(req.get("input"))
    pending = ""
    for i, item in enumerate(items):
        kind = item["type"]
        if kind == "reasoning":
            pending = str(item.get("encrypted_content") or "")
        elif kind == "message":
            text, images = _content_text(item["content"])
            msg: dict[str, Any] = {"role": item.get("role") or "", "content": text}
            if images:
                msg["images"] = images
            if msg["role"] == "assistant" and pending:
                msg["thinking"], pending = pending, ""
            following = items[i + 1] if i + 1 < len(items) else {}
            answered = following.get("call_id") if following.get(
                "type") == "function_call_output" else None
            last = messages[-1] if messages else {}
            if msg["role"] == "assistant" and answered and last.get("role") == "assistant" \
                    and any(c["id"] == answered for c in last.get("tool_calls") or []):
                if last.get("content") and msg["content"]:
                    last["content"] += "\n"
                last["content"] = (last.get("content") or "") + msg["content"]
                if images:
                    last.setdefault("images", []).extend(images)
                if msg.get("thinking"):
                    last["thinking"] = msg["thinking"]
                continue
            messages.append(msg)
        elif kind == "function_call":
            try:
                args = loads_request(item["arguments"].encode()) if item.get("arguments") else {}
            except ApiError as exc:
                raise BadRequest(f"failed to parse function call arguments: {exc.message}"
                                 ) from None
            call = {"id": item.get("call_id") or "",
                    "function": {"name": item.get("name") or "", "arguments": args}}
            if messages and messages[-1].get("role") == "assistant":
                messages[-1].setdefault("tool_calls", []).append(call)
                if pending:
                    messages[-1]["thinking"], pending = pending, ""
            else:
                msg = {"role": "assistant", "content": "", "tool_calls": [call]}
                if pending:
                    msg["thinking"], pending = pending, ""
                messages.append(msg)
        elif kind == "function_call_output":
            content, images = str(item.get("output") or ""), []
            if item.get("output_items"):
                content, images = _content_text(item["output_items"])
            msg = {"role": "tool", "content": content, "tool_call_id": item.get("call_id") or ""}
            if images:
                msg["images"] = images
            messages.append(msg)
    if pending:
        messages.append({"role": "assistant", "content": "", "thinking": pending})
    options: dict[str, Any] = {"temperature": req["temperature"]
                               if req.get("temperature") is not None else 1.0}
    if req.get("top_p") is not None:
        options["top_p"] = req["top_p"]
    if req.get("max_output_tokens") is not None:
        options["num_predict"] = req["max_output_tokens"]
    native: dict[str, Any] = {"model": req.get("model") or "", "messages": messages,
                              "options": options}
    tools = [tool for t in req.get("tools") or [] for tool in _response_tools(t)]
    if tools:
        native["tools"] = tools
    fmt = (req.get("text") or {}).get("format") or {}
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and \
            fmt.get("schema") is not None:
        native["format"] = fmt["schema"]
    think = think_from_effort((req.get("reasoning") or {}).get("effort"))
    if think is not None:
        native["think"] = think
    return native


def _response_tools(tool: Any) -> list[dict[str, Any]]:
    if not isinstance(tool, dict):
        return []
    if tool.get("type") == "web_search":
        raise BadRequest(WEB_SEARCH)
    if tool.get("type") == "namespace":
        prefix = f"{tool.get('name')}." if tool.get("name") else ""
        out = []
        for member in tool.get("tools") or []:
            for inner in _response_tools(member):
                name = inner["function"]["name"]
                if prefix and not name.startswith(prefix):
                    inner["function"]["name"] = prefix + name
                out.append(inner)
        return out
    return [{"type": tool.get("type") or "",
             "function": {"name": tool.get("name") or "",
                          "description": tool.get("description") or "",
                          "parameters": tool.get("parameters") or {}}}]


def _echo_tools(req: dict[str, Any]) -> list[dict[str, Any]]:
    """The request's tools as the response repeats them (``ResponsesTool`` fields)."""
    out = []
    for tool in req.get("tools") or []:
        if isinstance(tool, dict):
            echo = {"type": tool.get("type") or "", "name": tool.get("name") or "",
                    "description": tool.get("description"), "strict": tool.get("strict"),
                    "parameters": tool.get("parameters")}
            if tool.get("tools"):
                echo["tools"] = tool["tools"]
            out.append(echo)
    return out


def _echo_format(req: dict[str, Any], *, raw_schema: bool = False) -> dict[str, Any]:
    fmt = (req.get("text") or {}).get("format")
    if not isinstance(fmt, dict):
        return {"type": "text"}
    out: dict[str, Any] = {"type": fmt.get("type") or ""}
    for key in ("name", "schema", "strict"):
        if fmt.get(key) is not None and fmt.get(key) != "":
            value = fmt[key]
            out[key] = RawJSON(dumps(value).decode()) if key == "schema" and raw_schema else value
    return out


def _message_item(item_id: str, text: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": [],
                         "logprobs": []}]}


def responses_object(rid: str, item_id: str, body: dict[str, Any], req: dict[str, Any]
                     ) -> dict[str, Any]:
    """The whole ``response`` object (``ToResponse``), in its field order."""
    msg = body.get("message") or {}
    output: list[dict[str, Any]] = []
    if msg.get("thinking"):
        output.append({"id": f"rs_{rid}", "type": "reasoning",
                       "summary": [{"type": "summary_text", "text": msg["thinking"]}],
                       "encrypted_content": msg["thinking"]})
    calls = tool_calls_out(msg.get("tool_calls"))
    for i, call in enumerate(calls):
        output.append({"id": f"fc_{rid}_{i}", "type": "function_call", "status": "completed",
                       "call_id": call["id"], "name": call["function"]["name"],
                       "arguments": call["function"]["arguments"]})
    if not calls:
        output.append(_message_item(item_id, msg.get("content") or ""))
    reasoning = req.get("reasoning") or {}
    reasoning_out = {k: reasoning[k] for k in ("effort", "summary") if reasoning.get(k)} or None
    prompt, done = int(body.get("prompt_eval_count") or 0), int(body.get("eval_count") or 0)
    return {
        "id": rid, "object": "response", "created_at": unix(body.get("created_at")),
        "completed_at": None, "status": "completed", "incomplete_details": None,
        "model": req.get("model") or "", "previous_response_id": None,
        "instructions": req.get("instructions") or None, "output": output, "error": None,
        "tools": _echo_tools(req), "tool_choice": "auto",
        "truncation": req.get("truncation") or "disabled", "parallel_tool_calls": True,
        "text": {"format": _echo_format(req)},
        "top_p": req["top_p"] if req.get("top_p") is not None else 1.0,
        "presence_penalty": 0, "frequency_penalty": 0, "top_logprobs": 0,
        "temperature": req["temperature"] if req.get("temperature") is not None else 1.0,
        "reasoning": reasoning_out,
        "usage": {"input_tokens": prompt, "output_tokens": done, "total_tokens": prompt + done,
                  "input_tokens_details": {"cached_tokens": 0},
                  "output_tokens_details": {"reasoning_tokens": 0}},
        "max_output_tokens": req.get("max_output_tokens"), "max_tool_calls": None,
        "store": False, "background": bool(req.get("background")), "service_tier": "default",
        "metadata": {}, "safety_identifier": None, "prompt_cache_key": None,
    }


class ResponsesFraming(SSEFraming):
    """Native chat chunks as Responses API events (``ResponsesStreamConverter``):
    ``response.created``, ``response.in_progress``, reasoning summary deltas, output
    items and text deltas, ``response.completed``; each with a ``sequence_number``."""

    headers = {"Cache-Control": "no-cache", "Connection": "keep-alive"}
    broken = b'event: response.output_text.delta\ndata: {"type":<not json>\n\n'

    def __init__(self, rid: str, item_id: str, req: dict[str, Any]) -> None:
        self.rid, self.item_id, self.req = rid, item_id, req
        self.first = True
        self.seq = 0
        self.output_index = 0
        self.text_started = False
        self.calls_sent = False
        self.text = ""
        self.thinking = ""
        self.reasoning_id = ""
        self.completed: list[dict[str, Any]] = []

    def _event(self, kind: str, data: dict[str, Any]) -> bytes:
        data = {**data, "type": kind, "sequence_number": self.seq}
        self.seq += 1
        return sse(data, kind, sort_keys=True)  # Go builds these as map[string]any

    def _response(self, status: str, output: list[Any], usage: Any) -> dict[str, Any]:
        req = self.req
        tools = [{k: v for k, v in t.items() if k != "tools"} for t in _echo_tools(req)]
        text_format = _echo_format(req, raw_schema=True)
        reasoning = req.get("reasoning") or {}
        reasoning_out = None
        if reasoning.get("effort") or reasoning.get("summary"):
            reasoning_out = {"effort": reasoning.get("effort") or None,
                             "summary": reasoning.get("summary") or None}
        return {
            "id": self.rid, "object": "response", "created_at": int(time.time()),
            "completed_at": None, "status": status, "incomplete_details": None,
            "model": req.get("model") or "", "previous_response_id": None,
            "instructions": req.get("instructions") or None, "output": output, "error": None,
            "tools": tools, "tool_choice": "auto",
            "truncation": req.get("truncation") or "disabled", "parallel_tool_calls": True,
            "text": {"format": text_format},
            "top_p": req["top_p"] if req.get("top_p") is not None else 1.0,
            "presence_penalty": 0, "frequency_penalty": 0, "top_logprobs": 0,
            "temperature": req["temperature"] if req.get("temperature") is not None else 1.0,
            "reasoning": reasoning_out, "usage": usage,
            "max_output_tokens": req.get("max_output_tokens"), "max_tool_calls": None,
            "store": False, "background": bool(req.get("background")),
            "service_tier": "default", "metadata": {}, "safety_identifier": None,
            "prompt_cache_key": None,
        }

    def _finish_reasoning(self) -> bytes:
        if not self.reasoning_id:
            return b""
        item = {"id": self.reasoning_id, "type": "reasoning",
                "summary": [{"type": "summary_text", "text": self.thinking}],
                "encrypted_content": self.thinking}
        self.completed.append(item)
        out = self._event("response.reasoning_summary_text.done", {
            "item_id": self.reasoning_id, "output_index": self.output_index,
            "summary_index": 0, "text": self.thinking})
        out += self._event("response.output_item.done",
                           {"output_index": self.output_index, "item": item})
        self.thinking, self.reasoning_id = "", ""
        self.output_index += 1
        return out

    def item(self, body: dict[str, Any]) -> bytes:
        out = b""
        msg = body.get("message") or {}
        if self.first:
            self.first = False
            for kind in ("response.created", "response.in_progress"):
                out += self._event(kind, {"response": self._response("in_progress", [], None)})
        if msg.get("thinking"):
            if not self.reasoning_id:
                self.reasoning_id = f"rs_{random.randrange(999999)}"
                out += self._event("response.output_item.added", {
                    "output_index": self.output_index,
                    "item": {"id": self.reasoning_id, "type": "reasoning", "summary": []}})
            self.thinking += msg["thinking"]
            out += self._event("response.reasoning_summary_text.delta", {
                "item_id": self.reasoning_id, "output_index": self.output_index,
                "summary_index": 0, "delta": msg["thinking"]})
        calls = tool_calls_out(msg.get("tool_calls"))
        if calls:
            out += self._finish_reasoning()
            for i, call in enumerate(calls):
                index = self.output_index + i
                fc_id = f"fc_{random.randrange(999999)}_{i}"
                args = call["function"]["arguments"]
                item = {"id": fc_id, "type": "function_call", "status": "completed",
                        "call_id": call["id"], "name": call["function"]["name"],
                        "arguments": args}
                self.completed.append(item)
                out += self._event("response.output_item.added", {
                    "output_index": index, "item": {**item, "status": "in_progress",
                                                    "arguments": ""}})
                out += self._event("response.function_call_arguments.delta",
                                   {"item_id": fc_id, "output_index": index, "delta": args})
                out += self._event("response.function_call_arguments.done",
                                   {"item_id": fc_id, "output_index": index, "arguments": args})
                out += self._event("response.output_item.done",
                                   {"output_index": index, "item": item})
            self.output_index += len(calls)
            self.calls_sent = True
        elif not self.calls_sent and msg.get("content"):
            out += self._finish_reasoning()
            if not self.text_started:
                self.text_started = True
                out += self._event("response.output_item.added", {
                    "output_index": self.output_index,
                    "item": {"id": self.item_id, "type": "message", "status": "in_progress",
                             "role": "assistant", "content": []}})
                out += self._event("response.content_part.added", {
                    "item_id": self.item_id, "output_index": self.output_index,
                    "content_index": 0, "part": {"type": "output_text", "text": "",
                                                 "annotations": [], "logprobs": []}})
            self.text += msg["content"]
            out += self._event("response.output_text.delta", {
                "item_id": self.item_id, "output_index": self.output_index,
                "content_index": 0, "delta": msg["content"], "logprobs": []})
        if body.get("done"):
            out += self._finish_reasoning()
            output = list(self.completed)
            if self.text_started and not self.calls_sent:
                item = _message_item(self.item_id, self.text)
                part = item["content"][0]
                out += self._event("response.output_text.done", {
                    "item_id": self.item_id, "output_index": self.output_index,
                    "content_index": 0, "text": self.text, "logprobs": []})
                out += self._event("response.content_part.done", {
                    "item_id": self.item_id, "output_index": self.output_index,
                    "content_index": 0, "part": part})
                out += self._event("response.output_item.done",
                                   {"output_index": self.output_index, "item": item})
            if self.text_started:
                output.append(_message_item(self.item_id, self.text))
            prompt, done = int(body.get("prompt_eval_count") or 0), int(body.get("eval_count") or 0)
            usage = {"input_tokens": prompt, "output_tokens": done, "total_tokens": prompt + done,
                     "input_tokens_details": {"cached_tokens": 0},
                     "output_tokens_details": {"reasoning_tokens": 0}}
            response = self._response("completed", output, usage)
            response["completed_at"] = int(time.time())
            out += self._event("response.completed", {"response": response})
        return out

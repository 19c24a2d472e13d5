"""The Anthropic-compatible ``POST /v1/messages``, as a layer over ``/api/chat``.

Follows Ollama's anthropic/anthropic.go and middleware/anthropic.go: the Messages
request (system prompt, content blocks, images, ``tool_use``/``tool_result``,
``thinking``) becomes a native chat request, the native handler answers it, and
the answer comes back as a ``message`` object or as the Messages streaming events
(``message_start``, ``content_block_start``/``delta``/``stop``, ``message_delta``,
``message_stop``). Errors have Anthropic's ``{"type": "error", "error": {...}}``
shape. As in Ollama, ``thinking`` on a model that cannot think is dropped, not
refused.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import Any

from ._api import JSON_CT, Api, Context, Reply, Stream
from ._openai import PLAIN_JSON, BadRequest, SSEFraming, answer, decode, native_call, sse
from ._wire import dumps, json_kind

WEB_SEARCH = ("the ollama_nb sandbox does not serve web search (the web_search tool); a real "
              "Ollama runs it on ollama.com after you sign in")

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 429: "rate_limit_error",
                503: "overloaded_error", 529: "overloaded_error"}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"type": "error",
            "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
            "request_id": f"req_{secrets.token_hex(12)}"}


def error_reply(status: int, message: str, content_type: str = PLAIN_JSON) -> Reply:
    return Reply(status, error_body(status, message), PLAIN_JSON, newline=True)


def messages(api: Api, raw: bytes, ctx: Context, _arg: str) -> Reply | Stream:
    try:
        req = decode(raw, "anthropic.MessagesRequest")
        if not req.get("model"):
            raise BadRequest("model is required")
        if not isinstance(req.get("max_tokens"), int) or req["max_tokens"] <= 0:
            raise BadRequest("max_tokens is required and must be positive")
        if not req.get("messages"):
            raise BadRequest("messages is required")
        native = messages_request(req)
    except BadRequest as exc:
        return Reply(400, error_body(400, str(exc)), JSON_CT)
    ctx.relax_thinking = True
    mid = f"msg_{secrets.token_hex(12)}"
    framing = MessagesFraming(mid, str(req["model"]), estimate_tokens(req))
    return answer(native_call(api, "chat", native, ctx), bool(req.get("stream")), framing,
                  lambda body: message_object(mid, body), error_reply)


# --- the request ------------------------------------------------------------------------


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if content is None:
        return []
    if not isinstance(content, list):
        raise BadRequest(f"json: cannot unmarshal {json_kind(content)} into Go value of type "
                         "[]anthropic.ContentBlock")
    return [b for b in content if isinstance(b, dict)]


def _image(source: Any) -> str:
    if not isinstance(source, dict):
        raise BadRequest("invalid image source")
    if source.get("type") != "base64":
        raise BadRequest(f"invalid image source type: {source.get('type') or ''}. Only base64 "
                         "images are supported.")
    data = str(source.get("data") or "")
    try:
        return base64.b64encode(base64.b64decode(data, validate=True)).decode()
    except (binascii.Error, ValueError):
        bad = next((i for i, ch in enumerate(data) if not (ch.isalnum() or ch in "+/=")),
                   len(data) - len(data) % 4)
        raise BadRequest(f"invalid base64 image data: illegal base64 data at input byte {bad}"
                         ) from None


def _tool_result(content: Any) -> tuple[str, list[str]]:
    if isinstance(content, str):
        return content, []
    text, images = "", []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            text += block["text"]
        elif block.get("type") == "image":
            if not isinstance(block.get("source"), dict):
                raise BadRequest("invalid tool_result image source")
            images.append(_image(block["source"]))
    return text, images


def _search_result(content: Any) -> str:
    """A ``web_search_tool_result`` block replayed in history, as text for the model."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        if content.get("type") == "web_search_tool_result_error":
            code = content.get("error_code") or ""
            return "web_search_tool_result_error" + (f": {code}" if code else "")
        return dumps(content).decode()
    lines = []
    for item in content if isinstance(content, list) else []:
        if isinstance(item, dict) and item.get("type") == "web_search_result":
            lines.append(f"- {item.get('title') or ''}: {item.get('url') or ''}\n")
    return "".join(lines)


def convert_message(msg: Any) -> list[dict[str, Any]]:
    """One Messages turn as native messages: text and images in one message, each
    ``tool_result`` a ``role: tool`` message (before the text, for a user turn)."""
    if not isinstance(msg, dict):
        raise BadRequest(f"json: cannot unmarshal {json_kind(msg)} into Go struct field "
                         "MessagesRequest.messages of type anthropic.MessageParam")
    role = str(msg.get("role") or "").lower()
    text, images, calls, thinking = "", [], [], ""
    results: list[dict[str, Any]] = []
    for block in _blocks(msg.get("content")):
        kind = block.get("type")
        if kind == "text":
            text += str(block.get("text") or "")
        elif kind == "image":
            if block.get("source") is None:
                raise BadRequest("invalid image source")
            images.append(_image(block["source"]))
        elif kind in ("tool_use", "server_tool_use"):
            if kind == "tool_use" and not block.get("id"):
                raise BadRequest("tool_use block missing required 'id' field")
            if kind == "tool_use" and not block.get("name"):
                raise BadRequest("tool_use block missing required 'name' field")
            calls.append({"id": block.get("id") or "",
                          "function": {"name": block.get("name") or "",
                                       "arguments": block.get("input") or {}}})
        elif kind == "tool_result":
            content, result_images = _tool_result(block.get("content"))
            result = {"role": "tool", "content": content,
                      "tool_call_id": block.get("tool_use_id") or ""}
            if result_images:
                result["images"] = result_images
            results.append(result)
        elif kind == "thinking":
            thinking = str(block.get("thinking") or "")
        elif kind == "web_search_tool_result":
            results.append({"role": "tool", "content": _search_result(block.get("content")),
                            "tool_call_id": block.get("tool_use_id") or ""})
    out: list[dict[str, Any]] = results if role == "user" and results else []
    if text or images or calls or thinking:
        turn: dict[str, Any] = {"role": role, "content": text}
        if images:
            turn["images"] = images
        if calls:
            turn["tool_calls"] = calls
        if thinking:
            turn["thinking"] = thinking
        out = out + [turn]
    if role != "user" or not results:
        out = out + results
    return out


def messages_request(req: dict[str, Any]) -> dict[str, Any]:
    """A decoded Messages request as a native /api/chat request (``FromMessagesRequest``)."""
    native_messages: list[dict[str, Any]] = []
    system = req.get("system")
    if isinstance(system, list):
        system = "".join(str(b.get("text")) for b in system if isinstance(b, dict)
                         and b.get("type") == "text" and isinstance(b.get("text"), str))
    if isinstance(system, str) and system:
        native_messages.append({"role": "system", "content": system})
    for msg in req.get("messages") or []:
        native_messages.extend(convert_message(msg))
    options: dict[str, Any] = {"num_predict": req["max_tokens"]}
    for key in ("temperature", "top_p", "top_k"):
        if req.get(key) is not None:
            options[key] = req[key]
    if req.get("stop_sequences"):
        options["stop"] = req["stop_sequences"]
    tools = []
    for tool in req.get("tools") or []:
        if not isinstance(tool, dict):
            continue
        if str(tool.get("type") or "").startswith("web_search"):
            raise BadRequest(WEB_SEARCH)
        schema = tool.get("input_schema")
        if schema is not None and not isinstance(schema, dict):
            raise BadRequest(f'invalid input_schema for tool "{tool.get("name") or ""}": json: '
                             f"cannot unmarshal {json_kind(schema)} into Go value of type "
                             "api.ToolFunctionParameters")
        tools.append({"type": "function",
                      "function": {"name": tool.get("name") or "",
                                   "description": tool.get("description") or "",
                                   "parameters": schema or {}}})
    native: dict[str, Any] = {"model": req["model"], "messages": native_messages,
                              "options": options, "stream": bool(req.get("stream"))}
    if tools:
        native["tools"] = tools
    effort = str((req.get("output_config") or {}).get("effort") or "").strip().lower()
    effort = "high" if effort == "xhigh" else effort
    thinking = (req.get("thinking") or {}).get("type")
    if thinking == "enabled":
        native["think"] = True
    elif thinking == "disabled":
        native["think"] = False
    elif effort in ("high", "medium", "low", "max"):
        native["think"] = effort
    return native


def estimate_tokens(req: dict[str, Any]) -> int:
    """Ollama's rough input-token estimate for ``message_start`` (characters / 4)."""
    def count(block: dict[str, Any]) -> int:
        total = len(str(block.get("text") or "")) + len(str(block.get("thinking") or ""))
        if block.get("type") in ("tool_use", "tool_result"):
            total += len(dumps(block))
        return total

    system = req.get("system")
    total = len(system) if isinstance(system, str) else sum(
        count(b) for b in system or [] if isinstance(b, dict))
    for msg in req.get("messages") or []:
        if isinstance(msg, dict):
            total += len(str(msg.get("role") or ""))
            total += sum(count(b) for b in _blocks(msg.get("content")))
    for tool in req.get("tools") or []:
        if isinstance(tool, dict):
            total += len(str(tool.get("name") or "")) + len(str(tool.get("description") or ""))
            total += len(dumps(tool["input_schema"])) if tool.get("input_schema") else 0
    return max(total // 4, 1 if req.get("messages") or req.get("system") is not None else 0)


# --- the answer -------------------------------------------------------------------------


def stop_reason(reason: Any, calls: bool) -> str:
    if calls:
        return "tool_use"
    return {"stop": "end_turn", "length": "max_tokens"}.get(reason or "",
                                                          "stop_sequence" if reason else "")


def message_object(mid: str, body: dict[str, Any]) -> dict[str, Any]:
    """A whole native chat answer as a Messages ``message`` (``ToMessagesResponse``)."""
    msg = body.get("message") or {}
    content: list[dict[str, Any]] = []
    if msg.get("thinking"):
        content.append({"type": "thinking", "thinking": msg["thinking"]})
    if msg.get("content"):
        content.append({"type": "text", "text": msg["content"]})
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        content.append({"type": "tool_use", "id": call.get("id") or "",
                        "name": fn.get("name") or "", "input": fn.get("arguments") or {}})
    out: dict[str, Any] = {"id": mid, "type": "message", "role": "assistant",
                           "model": body.get("model") or "", "content": content or None}
    reason = stop_reason(body.get("done_reason"), bool(msg.get("tool_calls")))
    if reason:
        out["stop_reason"] = reason
    out["usage"] = {"input_tokens": int(body.get("prompt_eval_count") or 0),
                    "output_tokens": int(body.get("eval_count") or 0)}
    return out


class MessagesFraming(SSEFraming):
    """Native chat chunks as Messages streaming events (anthropic ``StreamConverter``)."""

    headers = {"Cache-Control": "no-cache", "Connection": "keep-alive"}
    broken = b'event: content_block_delta\ndata: {"type":<not json>\n\n'

    def __init__(self, mid: str, model: str, estimated_tokens: int) -> None:
        self.mid, self.model, self.estimated = mid, model, estimated_tokens
        self.first = True
        self.index = 0
        self.thinking_started = self.thinking_done = self.text_started = False
        self.calls_sent: set[str] = set()

    def _stop(self) -> bytes:
        return sse({"type": "content_block_stop", "index": self.index}, "content_block_stop")

    def _start(self, block: dict[str, Any]) -> bytes:
        return sse({"type": "content_block_start", "index": self.index, "content_block": block},
                   "content_block_start")

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return sse({"type": "content_block_delta", "index": self.index, "delta": delta},
                   "content_block_delta")

    def item(self, body: dict[str, Any]) -> bytes:
        out = b""
        msg = body.get("message") or {}
        thinking, text = msg.get("thinking") or "", msg.get("content") or ""
        if self.first:
            self.first = False
            tokens = int(body.get("prompt_eval_count") or 0) or self.estimated
            out += sse({"type": "message_start",
                        "message": {"id": self.mid, "type": "message", "role": "assistant",
                                    "model": self.model, "content": [],
                                    "usage": {"input_tokens": tokens, "output_tokens": 0}}},
                       "message_start")
        if thinking and not self.thinking_done:
            if self.text_started:
                out += self._stop()
                self.index += 1
                self.text_started = False
            if not self.thinking_started:
                self.thinking_started = True
                out += self._start({"type": "thinking", "thinking": ""})
            out += self._delta({"type": "thinking_delta", "thinking": thinking})
        if text:
            if self.thinking_started and not self.thinking_done:
                self.thinking_done = True
                out += self._stop()
                self.index += 1
            if not self.text_started:
                self.text_started = True
                out += self._start({"type": "text", "text": ""})
            out += self._delta({"type": "text_delta", "text": text})
        for call in msg.get("tool_calls") or []:
            call_id = str(call.get("id") or "")
            if call_id in self.calls_sent:
                continue
            if self.thinking_started and not self.thinking_done:
                self.thinking_done = True
                out += self._stop()
                self.index += 1
            if self.text_started:
                out += self._stop()
                self.index += 1
                self.text_started = False
            fn = call.get("function") or {}
            out += self._start({"type": "tool_use", "id": call_id, "name": fn.get("name") or "",
                                "input": {}})
            out += self._delta({"type": "input_json_delta",
                                "partial_json": dumps(fn.get("arguments") or {}).decode()})
            out += self._stop()
            self.calls_sent.add(call_id)
            self.index += 1
        if body.get("done"):
            if self.text_started or (self.thinking_started and not self.thinking_done):
                out += self._stop()
            delta = {}
            reason = stop_reason(body.get("done_reason"), bool(self.calls_sent))
            if reason:
                delta["stop_reason"] = reason
            out += sse({"type": "message_delta", "delta": delta,
                        "usage": {"input_tokens": int(body.get("prompt_eval_count") or 0),
                                  "output_tokens": int(body.get("eval_count") or 0)}},
                       "message_delta")
            out += sse({"type": "message_stop"}, "message_stop")
        return out

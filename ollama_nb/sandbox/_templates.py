"""The catalogue's chat templates and what a server reads from them.

A real Ollama derives part of a model's capabilities from its Go template
(server/images.go): ``tools`` when the template uses ``.Tools``, ``insert`` when
it uses ``.Suffix``, ``thinking`` when ``.Thinking`` sits between two text tags
inside the loop over ``.Messages`` (thinking/template.go ``InferTags``). Clients do
the same from the template text (litellm looks for the word "tools"), so the
templates here are written in the style of the library's real ones and the
capabilities are computed from them, also after ``create`` replaces a template.
The sandbox never executes a template.
"""

from __future__ import annotations

import functools
import re
from typing import Any

# The real llama3.2 template, as /api/show sends it (shared transcript
# show-llama3.2-3b-2025-10).
LLAMA32 = (
    "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n\n"
    "{{ if .System }}{{ .System }}\n{{- end }}\n{{- if .Tools }}When you receive a tool call "
    "response, use the output to format an answer to the orginal user question.\n\nYou are a "
    "helpful assistant with tool calling capabilities.\n{{- end }}<|eot_id|>\n"
    "{{- range $i, $_ := .Messages }}\n{{- $last := eq (len (slice $.Messages $i)) 1 }}\n"
    '{{- if eq .Role "user" }}<|start_header_id|>user<|end_header_id|>\n'
    "{{- if and $.Tools $last }}\n\nGiven the following functions, please respond with a JSON "
    "for a function call with its proper arguments that best answers the given prompt.\n\n"
    'Respond in the format {"name": function name, "parameters": dictionary of argument name '
    "and its value}. Do not use variables.\n\n{{ range $.Tools }}\n{{- . }}\n{{ end }}\n"
    "{{ .Content }}<|eot_id|>\n{{- else }}\n\n{{ .Content }}<|eot_id|>\n{{- end }}"
    "{{ if $last }}<|start_header_id|>assistant<|end_header_id|>\n\n{{ end }}\n"
    '{{- else if eq .Role "assistant" }}<|start_header_id|>assistant<|end_header_id|>\n'
    '{{- if .ToolCalls }}\n{{ range .ToolCalls }}\n{"name": "{{ .Function.Name }}", '
    '"parameters": {{ .Function.Arguments }}}{{ end }}\n{{- else }}\n\n{{ .Content }}\n'
    "{{- end }}{{ if not $last }}<|eot_id|>{{ end }}\n"
    '{{- else if eq .Role "tool" }}<|start_header_id|>ipython<|end_header_id|>\n\n'
    "{{ .Content }}<|eot_id|>{{ if $last }}<|start_header_id|>assistant<|end_header_id|>\n\n"
    "{{ end }}\n{{- end }}\n{{- end }}"
)

# llama3: the older prompt/response template, no tools
LLAMA3 = (
    "{{ if .System }}<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>"
    "{{ end }}{{ if .Prompt }}<|start_header_id|>user<|end_header_id|>\n\n{{ .Prompt }}"
    "<|eot_id|>{{ end }}<|start_header_id|>assistant<|end_header_id|>\n\n"
    "{{ .Response }}<|eot_id|>"
)

_QWEN_TOOLS = (
    "{{- if .Tools }}\n\n# Tools\n\nYou may call one or more functions to assist with the "
    "user query.\n\nYou are provided with function signatures within <tools></tools> XML "
    "tags:\n<tools>\n{{- range .Tools }}\n{\"type\": \"function\", \"function\": "
    "{{ .Function }}}\n{{- end }}\n</tools>\n\nFor each function call, return a json object "
    "with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>\n"
    "{{- end }}"
)
_QWEN_TOOL_TURNS = (
    "{{ if .Content }}{{ .Content }}\n{{- else if .ToolCalls }}<tool_call>\n"
    "{{- range .ToolCalls }}\n{\"name\": \"{{ .Function.Name }}\", \"arguments\": "
    "{{ .Function.Arguments }}}\n{{- end }}\n</tool_call>\n{{- end }}"
    "{{ if not $last }}<|im_end|>\n{{ end }}\n"
    "{{- else if eq .Role \"tool\" }}<|im_start|>user\n<tool_response>\n{{ .Content }}\n"
    "</tool_response><|im_end|>\n{{ end }}\n"
)

QWEN3 = (
    "{{- $lastUserIdx := -1 -}}\n{{- range $idx, $msg := .Messages -}}\n"
    "{{- if eq $msg.Role \"user\" }}{{ $lastUserIdx = $idx }}{{ end -}}\n{{- end }}\n"
    "{{- if or .System .Tools }}<|im_start|>system\n{{ if .System }}{{ .System }}\n{{- end }}\n"
    + _QWEN_TOOLS +
    "<|im_end|>\n{{ end }}\n"
    "{{- range $i, $_ := .Messages }}\n{{- $last := eq (len (slice $.Messages $i)) 1 -}}\n"
    "{{- if eq .Role \"user\" }}<|im_start|>user\n{{ .Content }}\n"
    "{{- if and $.IsThinkSet (eq $i $lastUserIdx) }}\n"
    "{{- if $.Think -}}{{- \" \"}}/think{{- else -}}{{- \" \"}}/no_think{{- end -}}\n"
    "{{- end }}<|im_end|>\n"
    "{{ else if eq .Role \"assistant\" }}<|im_start|>assistant\n"
    "{{ if (and $.IsThinkSet (and .Thinking (or $last (gt $i $lastUserIdx)))) -}}\n"
    "<think>{{ .Thinking }}</think>\n{{ end -}}\n"
    + _QWEN_TOOL_TURNS +
    "{{- if and (ne .Role \"assistant\") $last }}<|im_start|>assistant\n"
    "{{ if and $.IsThinkSet (not $.Think) -}}\n<think>\n\n</think>\n\n{{ end -}}\n"
    "{{ end }}\n{{- end }}"
)

QWEN25_CODER = (
    "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>\n"
    "{{- else if .Messages }}\n"
    "{{- if or .System .Tools }}<|im_start|>system\n{{- if .System }}\n{{ .System }}\n"
    "{{- end }}\n" + _QWEN_TOOLS + "<|im_end|>\n{{ end }}\n"
    "{{- range $i, $_ := .Messages }}\n{{- $last := eq (len (slice $.Messages $i)) 1 -}}\n"
    "{{- if eq .Role \"user\" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n"
    "{{ else if eq .Role \"assistant\" }}<|im_start|>assistant\n"
    + _QWEN_TOOL_TURNS +
    "{{- if and (ne .Role \"assistant\") $last }}<|im_start|>assistant\n{{ end }}\n"
    "{{- end }}\n"
    "{{- else }}\n{{- if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"
)

DEEPSEEK_R1 = (
    "{{- if .System }}{{ .System }}{{ end }}\n"
    "{{- range $i, $_ := .Messages }}\n{{- $last := eq (len (slice $.Messages $i)) 1}}\n"
    "{{- if eq .Role \"user\" }}<｜User｜>{{ .Content }}\n"
    "{{- else if eq .Role \"assistant\" }}<｜Assistant｜>\n"
    "{{- if and $.IsThinkSet (and $last .Thinking) -}}\n<think>\n{{ .Thinking }}\n</think>\n"
    "{{- end }}{{ .Content }}{{- if not $last }}<｜end▁of▁sentence｜>{{- end }}\n"
    "{{- end }}\n"
    "{{- if and $last (ne .Role \"assistant\") }}<｜Assistant｜>\n"
    "{{- if and $.IsThinkSet (not $.Think) -}}\n<think>\n\n</think>\n\n{{ end }}\n"
    "{{- end -}}\n{{- end }}"
)

# gpt-oss: the harmony format; its thinking comes from the model family, as in Ollama
GPT_OSS = (
    "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\n"
    "Knowledge cutoff: 2024-06\nCurrent date: {{ currentDate }}\n\n"
    "Reasoning: {{ if $.ThinkLevel }}{{ $.ThinkLevel }}{{ else }}medium{{ end }}\n\n"
    "# Valid channels: analysis, commentary, final. Channel must be included for every "
    "message.\n{{- if .Tools }}\nCalls to these tools must go to the commentary channel: "
    "'functions'.{{ end }}<|end|>\n"
    "{{- if or .System .Tools }}<|start|>developer<|message|>\n"
    "{{- if .System }}# Instructions\n\n{{ .System }}\n\n{{ end }}\n"
    "{{- if .Tools }}# Tools\n\n## functions\n\nnamespace functions {\n"
    "{{- range .Tools }}\n// {{ .Function.Description }}\n"
    "type {{ .Function.Name }} = (_: {{ .Function.Parameters }}) => any;\n{{ end }}\n"
    "} // namespace functions\n{{- end }}<|end|>\n{{- end }}\n"
    "{{- range $i, $msg := .Messages }}\n"
    "{{- if eq $msg.Role \"user\" }}<|start|>user<|message|>{{ $msg.Content }}<|end|>\n"
    "{{- else if eq $msg.Role \"assistant\" }}\n"
    "{{- if $msg.Thinking }}<|start|>assistant<|channel|>analysis<|message|>"
    "{{ $msg.Thinking }}<|end|>{{ end }}\n"
    "{{- if $msg.ToolCalls }}{{ range $msg.ToolCalls }}<|start|>assistant to=functions."
    "{{ .Function.Name }}<|channel|>commentary json<|message|>{{ .Function.Arguments }}"
    "<|call|>{{ end }}\n"
    "{{- else }}<|start|>assistant<|channel|>final<|message|>{{ $msg.Content }}<|end|>"
    "{{ end }}\n"
    "{{- else if eq $msg.Role \"tool\" }}<|start|>functions.{{ $msg.ToolName }} to=assistant"
    "<|channel|>commentary<|message|>{{ $msg.Content }}<|end|>\n{{- end }}\n"
    "{{- end }}<|start|>assistant"
)

GEMMA3 = (
    "{{- range $i, $_ := .Messages }}\n{{- $last := eq (len (slice $.Messages $i)) 1 }}\n"
    "{{- if or (eq .Role \"user\") (eq .Role \"system\") }}<start_of_turn>user\n"
    "{{ .Content }}<end_of_turn>\n{{ if $last }}<start_of_turn>model\n{{ end }}\n"
    "{{- else if eq .Role \"assistant\" }}<start_of_turn>model\n{{ .Content }}"
    "{{ if not $last }}<end_of_turn>\n{{ end }}\n{{- end }}\n{{- end }}"
)

CHATML = (
    "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
    "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}"
    "<|im_start|>assistant\n{{ .Response }}<|im_end|>\n"
)

LLAVA = "[INST] {{ if .System }}{{ .System }} {{ end }}{{ .Prompt }} [/INST]"

LLAMA2 = (
    "[INST] <<SYS>>{{ .System }}<</SYS>>\n\n{{ .Prompt }} [/INST]"
)

PLAIN = "{{ .Prompt }}"


# --- reading a template ---------------------------------------------------------------

_ACTION_RE = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.DOTALL)
_STRING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|\'(?:[^\'\\]|\\.)*\'')
_CHAIN_RE = re.compile(r"(?:\$\w*|(?<![\w)\]]))((?:\.[A-Za-z_]\w*)+)")
_BLOCKS = ("if", "range", "with", "define", "block")


@functools.lru_cache(maxsize=256)
def capabilities(template: str) -> tuple[str, ...]:
    """What a Go template gives a model: ``tools``, ``insert``, ``thinking`` (in order)."""
    found = _identifiers(template)
    caps = []
    if "tools" in found:
        caps.append("tools")
    if "suffix" in found:
        caps.append("insert")
    opening, closing = thinking_tags(template)
    if opening and closing:
        caps.append("thinking")
    return tuple(caps)


def _identifiers(template: str) -> set[str]:
    """Field and variable names the actions use, lower-cased (Go ``Template.Vars``)."""
    names: set[str] = set()
    for match in _ACTION_RE.finditer(template):
        code = _STRING_RE.sub('""', match.group(2))
        if code.lstrip().startswith("/*"):
            continue
        for chain in _CHAIN_RE.finditer(code):
            names.update(part.lower() for part in chain.group(1).split(".") if part)
    return names


def _parse(template: str) -> list[Any]:
    """Text/action/block nodes, with whitespace trimming as Go's lexer applies it."""
    root: list[Any] = []
    stack: list[tuple[dict[str, Any], list[Any]]] = []
    current = root
    pos = 0
    trim_next = False
    for match in _ACTION_RE.finditer(template):
        text = template[pos:match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        if text:
            current.append(("text", text))
        pos = match.end()
        trim_next = bool(match.group(3))
        code = _STRING_RE.sub('""', match.group(2)).strip()
        word = code.split(None, 1)[0] if code else ""
        rest = code[len(word):]
        if word in _BLOCKS:
            block: dict[str, Any] = {"kind": word, "pipe": rest, "lists": [[]]}
            current.append(("block", block))
            stack.append((block, current))
            current = block["lists"][-1]
        elif word == "else" and stack:
            block = stack[-1][0]
            block["lists"].append([])
            current = block["lists"][-1]
        elif word == "end" and stack:
            _, current = stack.pop()
        elif code and not code.startswith("/*"):
            current.append(("action", code))
    tail = template[pos:].lstrip() if trim_next else template[pos:]
    if tail:
        current.append(("text", tail))
    return root


_THINKING_FIELD = re.compile(r"(?<![\w$)\]])\.Thinking\b")
_MESSAGES_FIELD = re.compile(r"(?<![\w$)\]])\.Messages\b")


def thinking_tags(template: str) -> tuple[str, str]:
    """The tags around ``.Thinking`` inside ``range .Messages`` (``InferTags``)."""
    tags = ["", ""]

    def visit(nodes: list[Any], in_messages: bool) -> None:
        for node in nodes:
            if node[0] == "action" or node[0] == "block":
                code = node[1] if node[0] == "action" else node[1]["pipe"]
                if in_messages and _THINKING_FIELD.search(code):
                    if nodes[0][0] == "text":
                        tags[0] = nodes[0][1].strip()
                    if nodes[-1][0] == "text":
                        tags[1] = nodes[-1][1].strip()
            if node[0] == "block":
                block = node[1]
                inner = in_messages
                if block["kind"] == "range":
                    inner = bool(_MESSAGES_FIELD.search(block["pipe"]))
                for branch in block["lists"]:
                    visit(branch, inner)

    visit(_parse(template), False)
    return tags[0], tags[1]


_TOOL_CALLS_IF = re.compile(r"\{\{-?\s*(?:else\s+)?if\s[^}]*\.ToolCalls\b[^}]*?-?\}\}")


@functools.lru_cache(maxsize=256)
def tool_call_tag(template: str) -> str:
    """The text a model's tool calls start with, read from its template as Ollama's
    generic tool parser reads it (tools/template.go ``parseTag``): the first non-blank
    text inside the ``if .ToolCalls`` block, cut before any ``{``; ``"{"`` (every JSON
    object may be a call, as in llama3.x) when there is none."""
    found = _TOOL_CALLS_IF.search(template)
    if found is None:
        return "{"
    depth = 0
    pos = found.end()
    for match in _ACTION_RE.finditer(template, pos):
        text = template[pos:match.start()].strip()
        if text:
            return text.split("{", 1)[0].strip() or "{"
        pos = match.end()
        word = (match.group(2).strip().split(None, 1) or [""])[0]
        if word in ("if", "range", "with"):
            depth += 1
        elif word == "end" and depth:
            depth -= 1
        elif word != "else" or not depth:
            return "{"  # the block ends, or a value is printed, before any text
    return "{"

"""The smollm2 template and tool-call parser, as Ollama's Go code renders and parses them.

Pure text: no weights needed. The expected prompts are written out by hand from the
template's text and Go's text/template trimming rules (``{{-`` eats the whitespace
before, ``-}}`` the whitespace after).
"""

from __future__ import annotations

import json

from ollama_nb.sandbox import _smollm2
from ollama_nb.sandbox._smollm2 import ToolParser, render_messages, tools_json

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather <now> & later",
    "parameters": {"type": "object", "required": ["city"], "properties": {
        "unit": {"type": "string", "enum": ["c", "f"], "default": "c"},
        "city": {"type": ["string", "null"], "description": "the city"}}}}}


def test_user_only():
    assert render_messages([{"role": "user", "content": "Hi"}]) == \
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_system_block_has_no_end_token_as_in_the_template():
    # the library template writes "<|im_start|>system\n{{ .System }}\n" without <|im_end|>
    out = render_messages([{"role": "system", "content": "Be brief."},
                           {"role": "user", "content": "Hi"}])
    assert out == ("<|im_start|>system\nBe brief.\n<|im_start|>user\nHi<|im_end|>\n"
                   "<|im_start|>assistant\n")


def test_history_and_last_assistant_is_continued():
    out = render_messages([{"role": "user", "content": "a"},
                           {"role": "assistant", "content": "b"},
                           {"role": "user", "content": "c"},
                           {"role": "assistant", "content": "d"}])
    assert out == ("<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n"
                   "<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\nd")


def test_consecutive_same_roles_merge_and_systems_join():
    out = render_messages([{"role": "system", "content": "s1"},
                           {"role": "system", "content": "s2"},
                           {"role": "user", "content": "u1"},
                           {"role": "user", "content": "u2"}])
    assert out == ("<|im_start|>system\ns1\n\ns2\n<|im_start|>user\nu1\n\nu2<|im_end|>\n"
                   "<|im_start|>assistant\n")


def test_tools_replace_the_system_prompt_and_calls_and_results_render():
    out = render_messages([
        {"role": "system", "content": "ignored when tools are given"},
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "get_weather", "arguments": {"unit": "c", "city": "Oslo"}}}]},
        {"role": "tool", "content": "cold"},
    ], [WEATHER])
    assert out.startswith("<|im_start|>system\nYou are an expert in composing functions.")
    assert "ignored when tools" not in out
    assert "<tools>" + tools_json([WEATHER]) + "</tools>" in out
    assert out.endswith(
        "<|im_start|>user\nWeather?<|im_end|>\n<|im_start|>assistant\n<tool_call>[\n"
        '{"name": "get_weather", "arguments": {"city":"Oslo","unit":"c"}}\n]</tool_call>'
        "<|im_end|>\n<|im_start|>user\n<tool_response>\ncold\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n")


def test_tools_json_is_go_marshalled():
    text = tools_json([WEATHER])
    # HTML characters escaped, properties sorted, unknown fields ("default") dropped,
    # a one-element type list... stays a list only when it has several types
    assert "\\u003cnow\\u003e \\u0026 later" in text
    assert text.index('"city"') < text.index('"unit"')
    assert "default" not in text
    parsed = json.loads(text)
    assert parsed[0]["function"]["parameters"]["properties"]["city"]["type"] == ["string",
                                                                                "null"]
    assert list(parsed[0]) == ["type", "function"]
    assert list(parsed[0]["function"]["parameters"]) == ["type", "required", "properties"]


def test_parser_passes_text_and_holds_a_partial_tag():
    p = ToolParser([WEATHER])
    assert p.add("Hello <tool") == ([], "Hello ")
    assert p.add(" friend") == ([], "<tool friend")


def test_parser_reads_calls_after_the_tag_and_hides_the_rest():
    p = ToolParser([WEATHER])
    calls, content = p.add('Sure. <tool_call>[\n{"name": "get_weather", "arguments": ')
    assert (calls, content) == ([], "Sure. ")
    calls, content = p.add('{"city": "Rome"}}\n]</tool_call> trailing text')
    assert content == ""
    assert calls == [{"function": {"index": 0, "name": "get_weather",
                                   "arguments": {"city": "Rome"}}}]
    assert p.add(" more") == ([], "")


def test_parser_waits_for_a_longer_tool_name():
    tools = [{"function": {"name": "get"}}, {"function": {"name": "get_weather"}}]
    p = ToolParser(tools)
    assert p.add('<tool_call>[{"name": "get') == ([], "")
    calls, _ = p.add('_weather", "arguments": {"city": "X"}}]')
    assert [c["function"]["name"] for c in calls] == ["get_weather"]


def test_parser_arguments_as_a_string_and_parameters_key():
    p = ToolParser([WEATHER])
    calls, _ = p.add('<tool_call>[{"name": "get_weather", "parameters": "{\\"city\\": \\"A\\"}"}]')
    assert calls[0]["function"]["arguments"] == {"city": "A"}


def test_call_ids_look_like_ollamas():
    ident = _smollm2.call_id()
    assert ident.startswith("call_") and len(ident) == 13 and ident[5:].isalnum()

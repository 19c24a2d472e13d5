"""A tool turn end to end on the native API: the answer after several tool calls uses every
result (not only the last message's), and ``tools`` with ``format`` call tools where a real
Ollama can (its tool parser runs under ``format``; the grammar decides what can come out).
Also the official ``ollama`` client through a two-call turn, as a real client parses it."""

from __future__ import annotations

import json

import jsonschema
import ollama
import pytest
from sample_tools import TIME, WEATHER
from sandbox_raw import raw_request

QUESTION = "What is the weather in Paris and what time is it in Tokyo?"


def _chat(url, model, messages, **body):
    reply = raw_request(url, "POST", "/api/chat", {"model": model, "messages": messages,
                                                   "stream": False, **body})
    assert reply.status == 200, reply.body
    return reply.json()["message"]


def _turn(url, model="llama3.2", **body):
    """A user question, the model's calls, and one tool message per call (in order)."""
    calls = _chat(url, model, [{"role": "user", "content": QUESTION}], tools=[WEATHER, TIME],
                  **body)["tool_calls"]
    results = {"get_weather": "rain, 11 °C in Paris", "get_time": "09:30 in Tokyo"}
    return [{"role": "user", "content": QUESTION},
            {"role": "assistant", "content": "", "tool_calls": calls},
            *({"role": "tool", "tool_name": c["function"]["name"],
               "content": results[c["function"]["name"]]} for c in calls)]


@pytest.mark.parametrize("stream", [False, True])
def test_the_answer_after_two_tool_calls_uses_both_results_in_order(ollama_sandbox, stream):
    messages = _turn(ollama_sandbox.url)
    assert [m["tool_name"] for m in messages[2:]] == ["get_weather", "get_time"]
    body = {"model": "llama3.2", "messages": messages, "tools": [WEATHER, TIME], "stream": stream}
    reply = raw_request(ollama_sandbox.url, "POST", "/api/chat", body)
    if stream:
        lines = reply.lines()
        assert lines[-1]["done"] and not any(line["message"].get("tool_calls") for line in lines)
        text = "".join(line["message"]["content"] for line in lines)
    else:
        assert "tool_calls" not in reply.json()["message"]
        text = reply.json()["message"]["content"]
    weather, time = text.index("rain, 11 °C in Paris"), text.index("09:30 in Tokyo")
    assert text.index("get_weather") < weather < text.index("get_time") < time


def test_one_tool_result_answers_as_before(ollama_sandbox):
    messages = _turn(ollama_sandbox.url)[:3]
    text = _chat(ollama_sandbox.url, "llama3.2", messages, tools=[WEATHER, TIME])["content"]
    assert text.startswith("According to the get_weather tool, the result is: rain, 11 °C in Paris")
    assert "get_time" not in text


def test_results_of_an_earlier_turn_are_not_answered_again(ollama_sandbox):
    first = _turn(ollama_sandbox.url)
    later = [*first, {"role": "assistant", "content": "It rains in Paris."},
             {"role": "user", "content": "And the time in Lima?"},
             {"role": "assistant", "content": "", "tool_calls": [
                 {"id": "call_lima0001", "function": {"index": 0, "name": "get_time",
                                                      "arguments": {"city": "Lima"}}}]},
             # named by its call's id only (the OpenAI way): the name comes from the call
             {"role": "tool", "tool_call_id": "call_lima0001", "content": "20:30 in Lima"}]
    text = _chat(ollama_sandbox.url, "llama3.2", later, tools=[TIME])["content"]
    assert "the get_time tool, the result is: 20:30 in Lima" in text
    assert "Paris" not in text and "Tokyo" not in text


def test_a_prompt_that_has_nothing_to_do_with_the_tools_gets_an_answer_and_no_call(
        ollama_sandbox):
    msg = _chat(ollama_sandbox.url, "llama3.2",
                [{"role": "user", "content": "Write a haiku about autumn leaves"}],
                tools=[WEATHER, TIME])
    assert "tool_calls" not in msg and msg["content"]
    # a word of a tool's topic is enough for a call ("umbrella" is about the weather)
    msg = _chat(ollama_sandbox.url, "llama3.2",
                [{"role": "user", "content": "Do I need an umbrella in Oslo?"}],
                tools=[WEATHER, TIME])
    assert [c["function"]["name"] for c in msg["tool_calls"]] == ["get_weather"]


# --- tools with format -----------------------------------------------------------------------

CITY = {"type": "object", "properties": {"city": {"type": "string"},
                                         "temperature": {"type": "number"}},
        "required": ["city", "temperature"]}


def _ask(url, model, fmt, **body):
    return _chat(url, model, [{"role": "user", "content": QUESTION}], tools=[WEATHER, TIME],
                 format=fmt, **body)


def test_format_json_on_a_json_call_template_still_calls_one_tool(ollama_sandbox):
    # llama3.2's calls are bare JSON objects: the one object format json allows is a call
    msg = _ask(ollama_sandbox.url, "llama3.2", "json")
    assert msg["content"] == ""
    assert [(c["function"]["name"], c["function"]["arguments"]) for c in msg["tool_calls"]] == [
        ("get_weather", {"city": "Paris"})]


@pytest.mark.parametrize(("model", "fmt"), [("llama3.2", CITY), ("qwen3", "json"),
                                            ("qwen3", CITY)])
def test_a_schema_or_a_tag_json_cannot_start_with_gives_json_and_no_calls(ollama_sandbox,
                                                                          model, fmt):
    msg = _ask(ollama_sandbox.url, model, fmt)
    assert "tool_calls" not in msg
    value = json.loads(msg["content"])
    assert isinstance(value, dict)
    if fmt is CITY:
        jsonschema.validate(value, CITY)


def test_gpt_oss_calls_tools_under_format_unless_thinking_is_off(ollama_sandbox):
    client = ollama.Client(host=ollama_sandbox.url)
    client.pull("gpt-oss")
    assert _ask(ollama_sandbox.url, "gpt-oss", CITY)["tool_calls"]
    msg = _ask(ollama_sandbox.url, "gpt-oss", CITY, think=False)
    assert "tool_calls" not in msg
    jsonschema.validate(json.loads(msg["content"]), CITY)


def test_the_answer_after_tool_results_follows_the_format_and_uses_them(ollama_sandbox):
    messages = _turn(ollama_sandbox.url)
    msg = _chat(ollama_sandbox.url, "llama3.2", messages, tools=[WEATHER, TIME], format=CITY)
    value = json.loads(msg["content"])
    jsonschema.validate(value, CITY)
    assert value["temperature"] == 11  # from the weather tool's result, not invented


# --- the official client ---------------------------------------------------------------------


def get_weather(city: str) -> str:
    """Get the current weather for a city.

    Args:
      city: The name of the city
    """
    return f"rain, 11 °C in {city}"


def get_time(city: str) -> str:
    """Get the local time in a city.

    Args:
      city: The name of the city
    """
    return f"09:30 in {city}"


@pytest.mark.parametrize("stream", [False, True])
def test_the_official_client_parses_a_two_call_turn_and_sends_the_results_back(
        ollama_sandbox, stream):
    client = ollama.Client(host=ollama_sandbox.url)
    messages: list = [{"role": "user", "content": QUESTION}]
    functions = {"get_weather": get_weather, "get_time": get_time}
    reply = client.chat("llama3.2", messages=messages, tools=[get_weather, get_time],
                        stream=stream)
    parts = list(reply) if stream else [reply]
    calls = [c for p in parts for c in p.message.tool_calls or []]
    assert [(c.function.name, c.function.arguments) for c in calls] == [
        ("get_weather", {"city": "Paris"}), ("get_time", {"city": "Tokyo"})]
    assert all(isinstance(c, ollama.Message.ToolCall) for c in calls)
    messages.append(ollama.Message(role="assistant", content="", tool_calls=calls))
    for c in calls:
        messages.append({"role": "tool", "tool_name": c.function.name,
                         "content": functions[c.function.name](**c.function.arguments)})
    follow = client.chat("llama3.2", messages=messages, tools=[get_weather, get_time],
                         stream=stream)
    text = "".join(p.message.content for p in follow) if stream else follow.message.content
    assert "rain, 11 °C in Paris" in text and "09:30 in Tokyo" in text
    sent = ollama_sandbox.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool"]
    assert [c["function"]["name"] for c in sent[1]["tool_calls"]] == ["get_weather", "get_time"]

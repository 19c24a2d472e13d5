"""The client's tool loop (``converse``) against the real sandbox: two tool calls in one turn
run in order with the model's arguments, both results go back as tool messages, and the
final answer uses both; with ``format`` set too, the loop ends in JSON built from them."""

from __future__ import annotations

import json
from typing import Any

import pytest

import ollama_nb
from ollama_nb.client._loop import converse
from ollama_nb.client._tools import Toolbox

QUESTION = "What is the weather in Paris and what time is it in Tokyo?"


class Recorder:
    """Two tools that record their calls, and a sink that records what it was fed."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fed: list[str] = []

    def get_weather(self, city: str) -> str:
        """Get the current weather in a city."""
        self.calls.append(("get_weather", city))
        return f"rain, 11 °C in {city}"

    def get_time(self, city: str) -> str:
        """Get the local time in a city."""
        self.calls.append(("get_time", city))
        return f"09:30 in {city}"

    def feed(self, text: str, thinking: str) -> None:
        self.fed.append(text)


def _tool_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in body["messages"] if m["role"] == "tool"]


@pytest.mark.parametrize("stream", [False, True])
def test_two_calls_in_one_turn_run_in_order_and_the_answer_uses_both(ollama_sandbox: Any,
                                                                     stream: bool) -> None:
    rec = Recorder()
    tools = Toolbox([rec.get_weather, rec.get_time])
    with ollama_nb.Client(host=ollama_sandbox.url) as client:
        out = converse(client, "chat", {"model": "llama3.2", "messages": [
            {"role": "user", "content": QUESTION}]}, stream=stream, tools=tools, sink=rec)
    assert out.failure is None and not out.limit_reached and out.rounds == 2
    assert rec.calls == [("get_weather", "Paris"), ("get_time", "Tokyo")]
    assert [(c.name, c.arguments, c.result, c.round) for c in out.calls] == [
        ("get_weather", {"city": "Paris"}, "rain, 11 °C in Paris", 1),
        ("get_time", {"city": "Tokyo"}, "09:30 in Tokyo", 1)]
    first, second = (r.body for r in ollama_sandbox.requests if r.path == "/api/chat")
    assert [t["function"]["name"] for t in first["tools"]] == ["get_weather", "get_time"]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool", "tool"]
    calls = second["messages"][1]["tool_calls"]
    assert [m["tool_name"] for m in _tool_messages(second)] == ["get_weather", "get_time"]
    assert [m["content"] for m in _tool_messages(second)] == ["rain, 11 °C in Paris",
                                                              "09:30 in Tokyo"]
    assert [m["tool_call_id"] for m in _tool_messages(second)] == [c["id"] for c in calls]
    text = out.text
    assert text.index("rain, 11 °C in Paris") < text.index("09:30 in Tokyo")
    assert "".join(rec.fed).endswith(text)  # the sink saw the final answer as it came
    assert [m["role"] for m in out.messages] == ["assistant", "tool", "tool", "assistant"]


def test_with_format_json_the_loop_calls_a_tool_and_ends_in_json_from_its_result(
        ollama_sandbox: Any) -> None:
    rec = Recorder()
    schema = {"type": "object", "properties": {"city": {"type": "string"},
                                               "temperature": {"type": "number"}},
              "required": ["city", "temperature"]}
    with ollama_nb.Client(host=ollama_sandbox.url) as client:
        # format json: llama3.2's call is the one JSON object, so one call a turn
        out = converse(client, "chat", {"model": "llama3.2", "format": "json", "messages": [
            {"role": "user", "content": QUESTION}]}, tools=Toolbox([rec.get_weather, rec.get_time]))
        assert rec.calls == [("get_weather", "Paris")] and out.rounds == 2
        assert isinstance(json.loads(out.text), dict)
        # a schema: the grammar gives the schema's object, never a call
        out = converse(client, "chat", {"model": "llama3.2", "format": schema, "messages": [
            {"role": "user", "content": QUESTION}]}, tools=Toolbox([rec.get_weather]))
    assert out.rounds == 1 and out.calls == [] and rec.calls == [("get_weather", "Paris")]
    assert set(json.loads(out.text)) >= {"city", "temperature"}

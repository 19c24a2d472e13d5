"""The client's tool loop (``converse``) against the real sandbox: two tool calls in one turn
run in order with the model's arguments, both results go back as tool messages, and the
final answer uses both. With ``format`` set too (a schema or "json"), the tool rounds go
without it, and one more request with it and no tools turns the model's free answer into
the structured one, built from the tool results."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
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
        self.events: list[tuple[str, Any]] = []  # ("text", piece) and ("steps", items)

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
        self.events.append(("text", text))

    def steps(self, items: list[Any]) -> None:
        self.events.append(("steps", list(items)))

    def after_steps(self, n: int) -> str:
        """The text fed after the n-th steps() call (counting from 1; -1 is the last)."""
        at = [i for i, (kind, _) in enumerate(self.events) if kind == "steps"][n if n < 0 else n - 1]
        later = [i for i, (kind, _) in enumerate(self.events) if kind == "steps" and i > at]
        end = later[0] if later else len(self.events)
        return "".join(piece for kind, piece in self.events[at + 1:end] if kind == "text")


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


CITY = {"type": "object", "properties": {"city": {"type": "string"},
                                         "temperature": {"type": "number"}},
        "required": ["city", "temperature"]}


def _chats(sandbox: Any) -> list[dict[str, Any]]:
    return [r.body for r in sandbox.requests if r.path == "/api/chat"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["llama3.2", "qwen3"])  # calls as bare JSON / <tool_call>
def test_tools_with_a_schema_run_then_one_request_gives_the_structured_answer(
        ollama_sandbox: Any, model: str, stream: bool) -> None:
    rec = Recorder()
    with ollama_nb.Client(host=ollama_sandbox.url) as client:
        out = converse(client, "chat", {"model": model, "format": CITY, "messages": [
            {"role": "user", "content": QUESTION}]}, stream=stream,
            tools=Toolbox([rec.get_weather, rec.get_time]), sink=rec)
    assert out.failure is None and not out.limit_reached and not out.interrupted
    assert rec.calls == [("get_weather", "Paris"), ("get_time", "Tokyo")]  # the tools were live
    assert out.rounds == 3  # the calls, the free answer, the structured answer
    first, second, third = _chats(ollama_sandbox)
    for body in (first, second):  # no grammar while the model may call tools
        assert "format" not in body and [t["function"]["name"] for t in body["tools"]] == [
            "get_weather", "get_time"]
    assert third["format"] == CITY and "tools" not in third
    # the conversation as the free answer found it: the question, the calls, the results
    assert third["messages"] == second["messages"]
    assert [m["role"] for m in third["messages"]] == ["user", "assistant", "tool", "tool"]
    value = json.loads(out.text)
    jsonschema.validate(value, CITY)
    assert value["temperature"] == 11  # from the weather tool's result
    free = out.steps[-1]
    assert isinstance(free, dict) and "tool_calls" not in free
    assert "rain, 11 °C in Paris" in free["content"] and "09:30 in Tokyo" in free["content"]
    assert [m["role"] for m in out.messages] == ["assistant", "tool", "tool", "assistant"]
    assert out.messages[-1]["content"] == out.text and free not in out.messages
    # the sink saw the free answer become a step, then the JSON stream as the answer
    assert rec.events[-1][0] == "text" and rec.after_steps(-1) == out.text
    assert rec.events[[i for i, e in enumerate(rec.events) if e[0] == "steps"][-1]][1][-1] is free
    assert free["content"] in "".join(rec.fed)


def test_format_json_with_tools_no_longer_limits_a_turn_to_one_call(ollama_sandbox: Any) -> None:
    rec = Recorder()
    with ollama_nb.Client(host=ollama_sandbox.url) as client:
        out = converse(client, "chat", {"model": "llama3.2", "format": "json", "messages": [
            {"role": "user", "content": QUESTION}]}, tools=Toolbox([rec.get_weather, rec.get_time]))
    assert rec.calls == [("get_weather", "Paris"), ("get_time", "Tokyo")] and out.rounds == 3
    assert isinstance(json.loads(out.text), dict)
    assert [b.get("format") for b in _chats(ollama_sandbox)] == [None, None, "json"]


@pytest.mark.parametrize("stream", [False, True])
def test_a_model_that_calls_no_tool_still_gives_the_structured_answer(ollama_sandbox: Any,
                                                                     stream: bool) -> None:
    rec = Recorder()
    question = [{"role": "user", "content": "Write a haiku about autumn leaves"}]
    with ollama_nb.Client(host=ollama_sandbox.url) as client:
        out = converse(client, "chat", {"model": "llama3.2", "format": CITY,
                                        "messages": question}, stream=stream,
                       tools=Toolbox([rec.get_weather]), sink=rec)
    assert out.calls == [] and rec.calls == [] and out.rounds == 2 and out.failure is None
    first, second = _chats(ollama_sandbox)
    assert "format" not in first and first["tools"]
    assert second["format"] == CITY and "tools" not in second and second["messages"] == question
    jsonschema.validate(json.loads(out.text), CITY)
    (free,) = out.steps
    assert free["role"] == "assistant" and free["content"] and free["content"] != out.text
    assert [m["content"] for m in out.messages] == [out.text]
    assert rec.after_steps(1) == out.text


def test_without_tools_format_goes_in_the_one_request(ollama_sandbox: Any) -> None:
    with ollama_nb.Client(host=ollama_sandbox.url) as client:
        out = converse(client, "chat", {"model": "llama3.2", "format": CITY, "messages": [
            {"role": "user", "content": QUESTION}]})
    (body,) = _chats(ollama_sandbox)
    assert body["format"] == CITY and out.rounds == 1 and out.steps == []
    jsonschema.validate(json.loads(out.text), CITY)


def test_the_structured_request_does_not_count_against_max_rounds(ollama_sandbox: Any) -> None:
    rec = Recorder()
    ask = {"model": "llama3.2", "format": CITY, "messages": [{"role": "user", "content": QUESTION}]}
    with ollama_nb.Client(host=ollama_sandbox.url) as client:
        # two rounds may call tools: the calls, the free answer; then the structured request
        out = converse(client, "chat", ask, tools=Toolbox([rec.get_weather, rec.get_time]),
                       max_rounds=2)
        assert out.rounds == 3 and not out.limit_reached and out.note == ""
        assert json.loads(out.text)["temperature"] == 11
        before = len(_chats(ollama_sandbox))
        # the limit reached while the model still asks for tools: as without format
        out = converse(client, "chat", ask, tools=Toolbox([rec.get_weather, rec.get_time]),
                       max_rounds=1)
    assert out.limit_reached and out.rounds == 1 and len(_chats(ollama_sandbox)) == before + 1
    assert [c.error for c in out.calls] == ["not run: the round limit (1) was reached"] * 2
    assert "stopped after 1 rounds (the limit)" in out.note and out.text == ""
    assert rec.calls == [("get_weather", "Paris"), ("get_time", "Tokyo")]  # the first call only


def test_a_failed_structured_request_keeps_the_free_answer(ollama_sandbox: Any) -> None:
    rec = Recorder()

    class Failing(Recorder):
        def steps(self, items: list[Any]) -> None:  # the free answer is a step: fail what follows
            if isinstance(items[-1], dict) and "tool_calls" not in items[-1]:
                ollama_sandbox.inject("error", times=1)

    sink = Failing()
    with ollama_nb.Client(host=ollama_sandbox.url) as client:
        out = converse(client, "chat", {"model": "llama3.2", "format": CITY, "messages": [
            {"role": "user", "content": QUESTION}]}, tools=Toolbox([rec.get_weather]), sink=sink)
    assert isinstance(out.failure, ollama_nb.ResponseError) and out.rounds == 3
    assert out.text == "" and out.final is None
    free = out.steps[-1]
    assert "rain, 11 °C in Paris" in free["content"]
    # the messages end with the free answer, so a chat history keeps it
    assert [m["role"] for m in out.messages] == ["assistant", "tool", "assistant"]
    assert out.messages[-1] is free

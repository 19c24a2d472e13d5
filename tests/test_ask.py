"""onb.ask: the magic as one call (same result object, tools, schemas, chats) against the sandbox."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

import ollama_nb as onb
from ollama_nb.client._chat import chats
from ollama_nb.magics._result import OllamaResult


class City(pydantic.BaseModel):
    name: str
    population: int


class Big(pydantic.BaseModel):
    population: int

    @pydantic.field_validator("population")
    @classmethod
    def huge(cls, value: int) -> int:
        if value < 10**12:
            raise ValueError("too small")
        return value


def test_ask_runs_tools_and_returns_the_magics_result(ollama_sandbox: Any) -> None:
    seen: list[str] = []

    def get_weather(city: str) -> str:
        """Get the weather in a city."""
        seen.append(city)
        return f"foggy in {city}"

    for stream in (False, True):
        result = onb.ask("What is the weather in London?", model="llama3.2", tools=[get_weather],
                         host=ollama_sandbox.url, stream=stream)
        assert isinstance(result, OllamaResult) and result.done
        assert "foggy in London" in result.text and result.tool_calls[0].result == "foggy in London"
        assert result.request["endpoint"] == "/api/chat" and result.request["tools"][0]["function"][
            "name"] == "get_weather"
    assert seen == ["London", "London"]
    assert "🔧 get_weather(city='London')" in result._repr_mimebundle_()["text/plain"]


def test_ask_with_a_schema_and_a_chat(ollama_sandbox: Any) -> None:
    chats.clear()
    result = onb.ask("Invent a city", model="llama3.2", schema=City, chat="cities",
                     host=ollama_sandbox.url)
    assert isinstance(result.parsed, City) and result.parsed.name
    assert [m["role"] for m in chats.get("cities").messages] == ["user", "assistant"]
    with pytest.raises(onb.SchemaError) as info:
        onb.ask("Invent a city", model="llama3.2", schema=Big, host=ollama_sandbox.url)
    assert info.value.field == "population" and "too small" in info.value.message
    assert info.value.partial.text == info.value.text and info.value.text.startswith("{")
    plain = onb.ask("Why is the sky blue?", model="llama3.2", host=ollama_sandbox.url)
    assert plain.request["endpoint"] == "/api/generate" and plain.text and plain.parsed is None
    with pytest.raises(onb.ModelNotFoundError):
        onb.ask("hi", model="no-such-model", host=ollama_sandbox.url)
    with pytest.raises(onb.InvalidArgumentError, match="schema= or format="):
        onb.ask("hi", model="llama3.2", schema=City, format="json", host=ollama_sandbox.url)
    chats.clear()


def test_ask_with_two_tools_runs_both_calls_of_one_turn(ollama_sandbox: Any) -> None:
    ran: list[tuple[str, str]] = []

    def get_weather(city: str) -> str:
        """Get the weather in a city."""
        ran.append(("get_weather", city))
        return f"rain, 11 °C in {city}"

    def get_time(city: str) -> str:
        """Get the local time in a city."""
        ran.append(("get_time", city))
        return f"09:30 in {city}"

    before = len(ollama_sandbox.requests)
    result = onb.ask("What is the weather in Paris and what time is it in Tokyo?",
                     model="llama3.2", tools=[get_weather, get_time], host=ollama_sandbox.url)
    assert result.done and result.rounds == 2
    assert ran == [("get_weather", "Paris"), ("get_time", "Tokyo")]
    assert [(c.name, c.arguments, c.round) for c in result.tool_calls] == [
        ("get_weather", {"city": "Paris"}, 1), ("get_time", {"city": "Tokyo"}, 1)]
    last = ollama_sandbox.requests[-1].body["messages"]
    chats = [r for r in ollama_sandbox.requests[before:] if r.path == "/api/chat"]
    assert len(chats) == 2  # (the others: the provenance's one digest and version lookup)
    assert [(m["role"], m.get("tool_name"), m["content"]) for m in last[2:]] == [
        ("tool", "get_weather", "rain, 11 °C in Paris"), ("tool", "get_time", "09:30 in Tokyo")]
    assert result.text.index("rain, 11 °C in Paris") < result.text.index("09:30 in Tokyo")


class Weather(pydantic.BaseModel):
    city: str
    temperature: float


@pytest.mark.parametrize("stream", [False, True])
def test_ask_with_tools_and_a_schema_parses_an_answer_built_from_the_tool(
        ollama_sandbox: Any, stream: bool) -> None:
    ran: list[str] = []

    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        ran.append(city)
        return f"rain, 14 °C in {city}"

    result = onb.ask("What is the weather in Paris?", model="qwen3", tools=[get_weather],
                     schema=Weather, stream=stream, host=ollama_sandbox.url)
    assert ran == ["Paris"] and [c.result for c in result.tool_calls] == ["rain, 14 °C in Paris"]
    assert isinstance(result.parsed, Weather)
    assert result.parsed == Weather(city="Paris", temperature=14)  # the tool's value
    assert result.rounds == 3 and result.done and result.error is None
    assert set(result.request["format"]["properties"]) == {"city", "temperature"}
    last = ollama_sandbox.requests[-1].body
    assert last["format"] == result.request["format"] and "tools" not in last
    free = result.steps[-1]
    assert "rain, 14 °C in Paris" in free["content"]
    plain = result._repr_mimebundle_()["text/plain"]
    assert plain.index("🔧 get_weather(city='Paris')") < plain.index(free["content"]) \
        < plain.index('"temperature"')
    assert [m["role"] for m in result.messages] == ["assistant", "tool", "assistant"]


def test_ask_with_tools_and_a_schema_in_a_chat_keeps_the_structured_answer(
        ollama_sandbox: Any) -> None:
    chats.clear()

    def get_weather(city: str) -> str:
        """Get the current weather in a city."""
        return f"rain, 9 °C in {city}"

    onb.ask("What is the weather in Oslo?", model="llama3.2", tools=[get_weather],
            schema=Weather, chat="trip", host=ollama_sandbox.url)
    history = chats.get("trip").messages
    assert [m["role"] for m in history] == ["user", "assistant", "tool", "assistant"]
    assert Weather.model_validate_json(history[-1]["content"]) == Weather(city="Oslo",
                                                                          temperature=9)
    chats.clear()

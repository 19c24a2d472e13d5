"""%%ollama --tools and --schema through a real InteractiveShell against the sandbox (and a
scripted server for the calls a real model may hallucinate: unknown names, bad arguments)."""

from __future__ import annotations

import builtins
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from magic_helpers import ScriptedServer, run

TOOLS = '''
from typing import Literal
calls = []
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Get the current weather in a city.

    Args:
        city: the city's name
        unit: celsius or fahrenheit
    """
    calls.append(("get_weather", city, unit))
    return f"sunny and 21 degrees {unit} in {city}"

def get_time(city: str) -> str:
    """Get the local time in a city."""
    calls.append(("get_time", city))
    return f"14:05 in {city}"

def broken_weather(city: str) -> str:
    """Get the weather in a city."""
    raise RuntimeError("the weather service is down")

def hostile_weather(city: str) -> str:
    """Get the weather in a city."""
    return "<img src=x onerror=\\"window.pwned=1\\"><script>window.pwned=2</script> rain"
'''


@pytest.fixture
def shell(ip: InteractiveShell, ollama_sandbox: Any) -> InteractiveShell:
    run(ip, f"%ollama host {ollama_sandbox.url}")
    run(ip, TOOLS)
    return ip


def chat_bodies(sandbox: Any) -> list[dict[str, Any]]:
    return [r.body for r in sandbox.requests if r.path == "/api/chat"]


def test_a_tool_is_called_with_the_models_arguments_and_its_result_reaches_the_answer(
        shell: InteractiveShell, ollama_sandbox: Any) -> None:
    with capture_output() as cap:
        assert run(shell, "%%ollama llama3.2 --tools get_weather\nWhat is the weather in Lisbon?") is None
    result = shell.user_ns["_ollama"]
    assert shell.user_ns["calls"] == [("get_weather", "Lisbon", "celsius")]
    (call,) = result.tool_calls
    assert call.name == "get_weather" and call.arguments == {"city": "Lisbon"}
    assert call.result == "sunny and 21 degrees celsius in Lisbon" and call.error is None
    assert call.seconds is not None and call.seconds >= 0 and call.round == 1
    assert "sunny and 21 degrees celsius in Lisbon" in result.text and result.done
    assert result.rounds == 2
    first, second = chat_bodies(ollama_sandbox)
    tool = first["tools"][0]["function"]
    assert tool["name"] == "get_weather" and tool["description"] == "Get the current weather in a city."
    assert tool["parameters"]["properties"]["unit"] == {
        "type": "string", "enum": ["celsius", "fahrenheit"], "description": "celsius or fahrenheit",
        "default": "celsius"}
    assert tool["parameters"]["required"] == ["city"]
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool"]
    assert second["messages"][2]["content"] == call.result
    assert second["messages"][2]["tool_name"] == "get_weather"
    # streamed: the call arrived in a chunk; the display shows it collapsed, then the answer
    assert first["stream"] is True
    final = cap.outputs[-1].data
    assert '<details class="ollama-nb-tool">' in final["text/html"]
    assert final["text/html"].index("ollama-nb-tool") < final["text/html"].index("According to")
    assert "🔧 get_weather(city='Lisbon') → sunny" in final["text/plain"]


def test_a_raising_tool_ends_in_an_answer_and_a_visible_error(shell: InteractiveShell,
                                                              ollama_sandbox: Any) -> None:
    with capture_output() as cap:
        run(shell, "%%ollama llama3.2 --tools broken_weather\nWhat is the weather in Oslo?")
    result = shell.user_ns["_ollama"]
    (call,) = result.tool_calls
    assert call.error == "RuntimeError: the weather service is down" and call.result is None
    assert result.done and result.error is None and result.text  # the model answered anyway
    sent = chat_bodies(ollama_sandbox)[-1]["messages"][-1]
    assert sent == {"role": "tool", "content": "Error: RuntimeError: the weather service is down",
                    "tool_name": "broken_weather", "tool_call_id": call.id}
    final = cap.outputs[-1].data
    assert "✖ RuntimeError: the weather service is down" in final["text/html"]
    assert "Traceback" not in final["text/plain"]


def test_unknown_tools_and_bad_arguments_go_back_to_the_model(ip: InteractiveShell,
                                                              scripted: ScriptedServer) -> None:
    run(ip, TOOLS)
    scripted.tool_calls = [[
        {"function": {"name": "get_stock_price", "arguments": {"symbol": "ACME"}}},
        {"function": {"name": "get_weather", "arguments": {"city": "Rome", "unit": "kelvin"}}},
        {"function": {"name": "get_weather", "arguments": {"town": "Rome"}}},
        {"function": {"name": "get_weather", "arguments": {"city": "Rome"}}},
    ]]
    scripted.tokens = ["It is sunny in Rome."]
    with capture_output() as cap:
        run(ip, f"%%ollama m --host {scripted.url} --tools get_weather,get_time\nWeather in Rome?")
    result = ip.user_ns["_ollama"]
    unknown, bad_value, bad_name, good = result.tool_calls
    assert unknown.error == ("there is no tool called 'get_stock_price'; the tools are: "
                             "get_weather, get_time")
    assert bad_value.error == "argument 'unit': 'kelvin' is not one of 'celsius', 'fahrenheit'"
    assert bad_name.error == "get_weather() has no parameter 'town' (its parameters: city, unit)"
    assert good.ok and ip.user_ns["calls"] == [("get_weather", "Rome", "celsius")]  # only that one ran
    assert result.text == "It is sunny in Rome." and result.done
    tool_messages = [m for m in scripted.bodies[-1]["messages"] if m["role"] == "tool"]
    assert [m["content"][:6] for m in tool_messages] == ["Error:", "Error:", "Error:", "sunny "]
    plain = cap.outputs[-1].data["text/plain"]
    assert plain.count("✖") == 3 and "It is sunny in Rome." in plain


def test_two_tools_in_one_turn_run_in_order(ip: InteractiveShell, scripted: ScriptedServer) -> None:
    run(ip, TOOLS)
    scripted.tool_calls = [[
        {"id": "call_a", "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}}},
        {"id": "call_b", "function": {"index": 1, "name": "get_time", "arguments": {"city": "Paris"}}},
    ]]
    with capture_output():
        run(ip, f"%%ollama m --host {scripted.url} --tools get_weather,get_time\nWeather and time in Paris?")
    assert ip.user_ns["calls"] == [("get_weather", "Paris", "celsius"), ("get_time", "Paris")]
    messages = scripted.bodies[-1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [m["tool_call_id"] for m in messages[2:]] == ["call_a", "call_b"]
    assert len(messages[1]["tool_calls"]) == 2


def test_two_tools_in_one_turn_against_the_sandbox(shell: InteractiveShell,
                                                  ollama_sandbox: Any) -> None:
    with capture_output() as cap:
        run(shell, "%%ollama llama3.2 --tools get_weather,get_time\n"
                   "What is the weather in Paris and what time is it in Tokyo?")
    result = shell.user_ns["_ollama"]
    assert shell.user_ns["calls"] == [("get_weather", "Paris", "celsius"), ("get_time", "Tokyo")]
    assert [(c.name, c.arguments, c.round) for c in result.tool_calls] == [
        ("get_weather", {"city": "Paris"}, 1), ("get_time", {"city": "Tokyo"}, 1)]
    first, second = chat_bodies(ollama_sandbox)
    assert [m["role"] for m in second["messages"]] == ["user", "assistant", "tool", "tool"]
    assert [(m["tool_name"], m["content"]) for m in second["messages"][2:]] == [
        ("get_weather", "sunny and 21 degrees celsius in Paris"), ("get_time", "14:05 in Tokyo")]
    assert result.done and result.rounds == 2
    text = result.text
    assert text.index("sunny and 21 degrees celsius in Paris") < text.index("14:05 in Tokyo")
    plain = cap.outputs[-1].data["text/plain"]
    assert plain.index("🔧 get_weather(city='Paris')") < plain.index("🔧 get_time(city='Tokyo')")
    assert plain.index("🔧 get_time") < plain.index("14:05 in Tokyo", plain.index("According to"))


def test_the_round_limit_keeps_the_work_and_says_so(shell: InteractiveShell,
                                                   ollama_sandbox: Any) -> None:
    with capture_output() as cap:
        run(shell, "%%ollama llama3.2 --tools get_weather --max-rounds 1\nWeather in Lima?")
    result = shell.user_ns["_ollama"]
    assert len(chat_bodies(ollama_sandbox)) == 1 and shell.user_ns["calls"] == []
    (call,) = result.tool_calls
    assert call.error == "not run: the round limit (1) was reached" and not call.ok
    assert "stopped after 1 rounds (the limit)" in result.note and "--max-rounds" in result.note
    assert "⚠ stopped after 1 rounds" in cap.outputs[-1].data["text/plain"]


def test_chat_history_holds_the_tool_messages(shell: InteractiveShell, ollama_sandbox: Any) -> None:
    with capture_output():
        run(shell, "%%ollama llama3.2 --chat trip --tools get_weather\nWhat is the weather in Porto?")
        run(shell, "%%ollama llama3.2 --chat trip\nThanks! And tomorrow?")
    from ollama_nb.client._chat import chats

    roles = [m["role"] for m in chats.get("trip").messages]
    assert roles == ["user", "assistant", "tool", "assistant", "user", "assistant"]
    tool = chats.get("trip").messages[2]
    assert tool["tool_name"] == "get_weather" and "Porto" in tool["content"]
    last = chat_bodies(ollama_sandbox)[-1]["messages"]
    assert [m["role"] for m in last] == ["user", "assistant", "tool", "assistant", "user"]
    history = run(shell, "%ollama chat trip --history")
    assert history["tool_name"].tolist()[2] == "get_weather"


def test_a_hostile_tool_result_renders_inert(shell: InteractiveShell) -> None:
    with capture_output() as cap:
        run(shell, "%%ollama llama3.2 --tools hostile_weather\nWeather in Bern?")
    html = cap.outputs[-1].data["text/html"]
    assert "<img" not in html and "<script" not in html
    assert "&lt;img src=x onerror=" in html


def test_confirm_asks_before_each_call(shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    monkeypatch.setattr(builtins, "input", lambda text: asked.append(text) or "n")
    with capture_output():
        run(shell, "%%ollama llama3.2 --tools get_weather --confirm\nWhat is the weather in Lisbon?")
    assert asked == ["The model wants to run get_weather(city='Lisbon'). Run it? [y/N] "]
    assert shell.user_ns["calls"] == []
    assert shell.user_ns["_ollama"].tool_calls[0].error == "the user declined to run this call"
    monkeypatch.setattr(builtins, "input", lambda text: "y")
    with capture_output():
        run(shell, "%%ollama llama3.2 --tools get_weather --confirm\nWhat is the weather in Lisbon?")
    assert shell.user_ns["calls"] == [("get_weather", "Lisbon", "celsius")]


@pytest.mark.parametrize(("line", "message"), [
    ("--tools nothing", "--tools nothing: no function named 'nothing'"),
    ("--tools calls", "--tools calls: 'calls' is a list, not a function"),
    ("--max-rounds 3", "--max-rounds goes with --tools"),
    ("--confirm", "--confirm goes with --tools"),
    ("--tools get_weather --max-rounds 0", "--max-rounds must be at least 1"),
    ("--tools get_weather --raw", "--raw works only without --tools"),
])
def test_tool_options_are_checked(shell: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        run(shell, f"%%ollama llama3.2 {line}\nhi")


SCHEMAS = '''
import dataclasses
from typing import Literal, TypedDict
import pydantic

class Person(pydantic.BaseModel):
    name: str
    age: int

class Adult(pydantic.BaseModel):
    name: str
    age: int

    @pydantic.field_validator("age")
    @classmethod
    def grown_up(cls, value):
        if value < 200:
            raise ValueError("must be at least 200")
        return value

@dataclasses.dataclass
class City:
    name: str
    population: int
    size: Literal["small", "big"] = "small"

class Pet(TypedDict):
    name: str
    legs: int
'''


def test_schema_forms_give_parsed_objects(shell: InteractiveShell, ollama_sandbox: Any) -> None:
    run(shell, SCHEMAS)
    for var, check in (("Person", lambda p: type(p).__name__ == "Person" and isinstance(p.age, int)),
                       ("City", lambda c: type(c).__name__ == "City" and c.size in ("small", "big")),
                       ("Pet", lambda d: isinstance(d, dict) and isinstance(d["legs"], int))):
        with capture_output():
            run(shell, f"%%ollama llama3.2 --schema {var}\nInvent one")
        result = shell.user_ns["_ollama"]
        assert check(result.parsed), (var, result.parsed)
        assert ollama_sandbox.requests[-1].body["format"]["properties"]


def test_an_answer_that_does_not_validate_names_the_field_and_keeps_the_text(
        shell: InteractiveShell) -> None:
    run(shell, SCHEMAS)
    with capture_output() as cap, pytest.raises(UsageError) as info:
        run(shell, "%%ollama llama3.2 --schema Adult\nInvent an adult")
    message = str(info.value)
    assert message.startswith("the answer does not fit Adult: field 'age': Value error, must be at least 200")
    assert "\n" not in message and "kept in _ollama.text" in message
    result = shell.user_ns["_ollama"]
    assert result.parsed is None and result.json["age"] < 200 and result.text
    assert result.text in cap.outputs[-1].data["text/plain"].replace("\n", "").replace(" ", "") or \
        cap.outputs[-1].data["text/plain"].startswith("{")


FORECAST = '''
import pydantic
class Forecast(pydantic.BaseModel):
    city: str
    temperature: float
'''


@pytest.mark.parametrize("stream", ["", " --no-stream"])
def test_tools_with_a_schema_call_the_tool_and_parse_an_answer_built_from_it(
        shell: InteractiveShell, ollama_sandbox: Any, stream: str) -> None:
    run(shell, FORECAST)
    with capture_output() as cap:
        run(shell, f"%%ollama qwen3 --tools get_weather --schema Forecast{stream}\n"
                   "What is the weather in Lisbon?")
    result = shell.user_ns["_ollama"]
    assert shell.user_ns["calls"] == [("get_weather", "Lisbon", "celsius")]
    assert type(result.parsed).__name__ == "Forecast"
    assert (result.parsed.city, result.parsed.temperature) == ("Lisbon", 21)  # from the tool
    assert result.rounds == 3 and result.done and result.error is None and result.note == ""
    first, second, third = chat_bodies(ollama_sandbox)
    assert "format" not in first and "format" not in second and first["tools"]
    assert third["format"]["properties"] and "tools" not in third
    assert third["stream"] is (stream == "")
    # the display: the call, the model's free answer as a step, then the JSON answer
    free = result.steps[-1]["content"]
    assert "sunny and 21 degrees celsius in Lisbon" in free
    final = cap.outputs[-1].data
    plain, html = final["text/plain"], final["text/html"]
    assert plain.index("🔧 get_weather(city='Lisbon')") < plain.index(free) < plain.index('"city"')
    assert html.index("ollama-nb-tool") < html.index(free) < html.index("&quot;temperature&quot;")


def test_tools_with_a_schema_and_the_round_limit_say_so_and_parse_nothing(
        shell: InteractiveShell, ollama_sandbox: Any) -> None:
    run(shell, FORECAST)
    with capture_output() as cap:
        run(shell, "%%ollama llama3.2 --tools get_weather --schema Forecast --max-rounds 1\n"
                   "What is the weather in Lisbon?")
    result = shell.user_ns["_ollama"]
    assert len(chat_bodies(ollama_sandbox)) == 1 and shell.user_ns["calls"] == []
    assert result.parsed is None and "stopped after 1 rounds (the limit)" in result.note
    assert "⚠ stopped after 1 rounds" in cap.outputs[-1].data["text/plain"]
    with capture_output():  # one round more than the calls: the free answer, then the JSON
        run(shell, "%%ollama llama3.2 --tools get_weather --schema Forecast --max-rounds 2\n"
                   "What is the weather in Lisbon?")
    result = shell.user_ns["_ollama"]
    assert result.rounds == 3 and result.parsed.temperature == 21 and result.note == ""


def test_in_a_plain_terminal_the_free_answer_and_the_json_are_separate_lines(
        shell: InteractiveShell, ollama_sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run(shell, FORECAST)
    capsys.readouterr()
    # no capture_output: the shell's own publisher, as terminal IPython streams to stdout
    run(shell, "%%ollama llama3.2 --tools get_weather --schema Forecast\n"
               "What is the weather in Lisbon?")
    out = capsys.readouterr().out
    result = shell.user_ns["_ollama"]
    free = result.steps[-1]["content"]
    lines = out.splitlines()
    assert lines[0].startswith("🔧 get_weather(city='Lisbon') → sunny and 21 degrees")
    assert lines[1] == free and lines[2] == result.text and result.parsed.temperature == 21

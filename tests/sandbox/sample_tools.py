"""Tool definitions the sandbox tests share (the OpenAI/Ollama ``tools`` form)."""

from __future__ import annotations

from typing import Any


def city_tool(name: str, description: str) -> dict[str, Any]:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}


WEATHER = city_tool("get_weather", "Get the current weather for a city")
TIME = city_tool("get_time", "Get the local time in a city")

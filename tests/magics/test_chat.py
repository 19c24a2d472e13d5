"""ChatSession: messages with images and tool calls, history window, DataFrame, save/load."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ollama_nb.client._chat import ChatRegistry, ChatSession, encode_image


def test_messages_images_tool_calls(tmp_path: Path) -> None:
    picture = tmp_path / "p.png"
    picture.write_bytes(b"\x89PNG fake")
    chat = ChatSession("c", system="be brief")
    chat.add("user", "what is this?", images=[picture, b"raw", base64.b64encode(b"x").decode()])
    chat.add("assistant", "", tool_calls=[{"function": {"name": "f", "arguments": {"a": 1}}}],
             thinking="hmm")
    chat.add("tool", "42", tool_name="f")
    user = chat.messages[1]
    assert user["images"] == [base64.b64encode(b"\x89PNG fake").decode(),
                              base64.b64encode(b"raw").decode(), "eA=="]
    assert chat.messages[2]["tool_calls"][0]["function"]["arguments"] == {"a": 1}
    assert chat.messages[3] == {"role": "tool", "content": "42", "tool_name": "f"}
    with pytest.raises(ValueError, match="neither an existing file nor base64"):
        encode_image("no such file.png")
    with pytest.raises(TypeError):
        encode_image(3)


def test_window_keeps_system_and_starts_at_a_user_turn() -> None:
    chat = ChatSession("w", history_limit=2, system="sys")
    for i in range(4):
        chat.add("user", f"q{i}")
        chat.add("assistant", f"a{i}")
    window = chat.window([{"role": "user", "content": "q4"}])
    # the last 2 of 9 non-system messages start at assistant a3: moved on to q4
    assert [m["content"] for m in window] == ["sys", "q4"]
    chat.history_limit = 3
    assert [m["content"] for m in chat.window([{"role": "user", "content": "q4"}])] == ["sys", "q3", "a3", "q4"]
    chat.history_limit = 4
    assert [m["content"] for m in chat.window()] == ["sys", "q2", "a2", "q3", "a3"]
    chat.history_limit = 0
    assert len(chat.window()) == 9
    chat.set_system("new")
    assert chat.window()[0] == {"role": "system", "content": "new"}
    chat.reset(keep_system=True)
    assert chat.messages == [{"role": "system", "content": "new"}]
    chat.reset()
    assert len(chat) == 0


def test_dataframe_and_save_roundtrip(tmp_path: Path) -> None:
    chat = ChatSession("s", model="llama3.2")
    chat.add("user", "hi", images=[b"img"])
    chat.add("assistant", "hello", thinking="t")
    frame = chat.to_dataframe()
    assert list(frame.columns) == ["role", "content", "thinking", "images", "tool_calls", "tool_name",
                                   "incomplete"]
    assert frame["content"].tolist() == ["hi", "hello"] and frame["images"].tolist() == [1, 0]
    assert frame.attrs["chat"] == "s"
    doc = json.loads(chat.save(tmp_path / "c.json").read_text())
    assert doc["name"] == "s" and doc["model"] == "llama3.2" and len(doc["messages"]) == 2
    lines = (chat.save(tmp_path / "c.jsonl")).read_text().splitlines()
    assert [json.loads(x)["role"] for x in lines] == ["user", "assistant"]
    for name in ("c.json", "c.jsonl"):
        back = ChatSession.load(tmp_path / name)
        assert back.messages == chat.messages


def test_registry() -> None:
    reg = ChatRegistry()
    reg.set_history_limit(5)
    a = reg.get("a")
    assert reg.get("a") is a and "a" in reg and list(reg) == ["a"] and a.history_limit == 5
    reg.set_history_limit(2)
    assert a.history_limit == 2
    with pytest.raises(KeyError):
        reg.get("b", create=False)
    reg.clear()
    assert len(reg) == 0

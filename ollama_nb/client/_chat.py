"""Named chat conversations shared by ``%%ollama --chat NAME`` and the ChatBox widget.

A :class:`ChatSession` keeps every message (role, content, thinking, images as
base64, tool calls, tool names); :meth:`ChatSession.window` is what is sent to
the model: the system message (if any) plus the last ``history_limit``
messages, cut so the window never starts in the middle of a turn. The
module-level :data:`chats` registry hands out sessions by name.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["ChatRegistry", "ChatSession", "chats", "encode_image"]

_MESSAGE_FIELDS = ("role", "content", "thinking", "images", "tool_calls", "tool_name", "tool_call_id")
#: kept with a message (and saved) but never sent: ``incomplete`` marks a reply cut short
_LOCAL_FIELDS = ("incomplete",)


def encode_image(value: Any) -> str:
    """Base64 text for an image given as bytes, a path, or base64 text already."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, os.PathLike) or (isinstance(value, str) and os.path.isfile(value)):
        return base64.b64encode(Path(value).read_bytes()).decode("ascii")
    if isinstance(value, str):
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            raise ValueError(f"image {value[:60]!r} is neither an existing file nor base64 data") from None
        return value
    raise TypeError(f"an image must be bytes, a path or base64 text, not {type(value).__name__}")


def _plain(value: Any) -> Any:
    """Typed client objects (``.raw``) to plain JSON data."""
    raw = getattr(value, "raw", None)
    if isinstance(raw, Mapping):
        return {k: _plain(v) for k, v in raw.items()}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _wire(message: Mapping[str, Any]) -> dict[str, Any]:
    """A message as sent to the server (without our own marks)."""
    return {k: v for k, v in message.items() if k not in _LOCAL_FIELDS}


class ChatSession:
    """One conversation: an ordered list of message dicts in Ollama's chat format."""

    def __init__(self, name: str = "default", *, history_limit: int = 0,
                 system: str | None = None, model: str | None = None) -> None:
        self.name = name
        self.history_limit = history_limit  # 0: send everything
        self.model = model  # the model last used in this conversation
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        if system:
            self.add("system", system)

    def add(self, role: str, content: str = "", *, images: Iterable[Any] | None = None,
            thinking: str | None = None, tool_calls: Iterable[Any] | None = None,
            tool_name: str | None = None, tool_call_id: str | None = None,
            incomplete: bool = False) -> dict[str, Any]:
        """Append a message and return it; images are stored as base64 text.

        ``incomplete=True`` marks a reply that was cut short (error, Stop, interrupt):
        it stays in the history (and is sent as context), the mark is only ours.
        """
        message: dict[str, Any] = {"role": role, "content": content}
        if images:
            message["images"] = [encode_image(i) for i in images]
        if thinking:
            message["thinking"] = thinking
        if tool_calls:
            message["tool_calls"] = _plain(list(tool_calls))
        if tool_name:
            message["tool_name"] = tool_name
        if tool_call_id:
            message["tool_call_id"] = tool_call_id
        if incomplete:
            message["incomplete"] = True
        with self._lock:
            self.messages.append(message)
        return message

    def add_exchange(self, question: Mapping[str, Any], added: Iterable[Mapping[str, Any]]) -> None:
        """Append a question and every message its answer added (assistant turns with their
        tool calls, tool results; a partial reply keeps its ``incomplete`` mark). Nothing is
        kept when nothing came back, so a failed request can simply be sent again."""
        added = list(added)
        if not added:
            return
        self.add("user", str(question.get("content") or ""), images=question.get("images"))
        for m in added:
            self.add(str(m["role"]), str(m.get("content") or ""), thinking=m.get("thinking"),
                     tool_calls=m.get("tool_calls"), tool_name=m.get("tool_name"),
                     tool_call_id=m.get("tool_call_id"), incomplete=bool(m.get("incomplete")))

    def set_system(self, system: str) -> None:
        """Replace (or add) the leading system message."""
        with self._lock:
            if self.messages and self.messages[0]["role"] == "system":
                self.messages[0]["content"] = system
            else:
                self.messages.insert(0, {"role": "system", "content": system})

    def pop(self) -> dict[str, Any]:
        """Remove and return the last message (to retry a turn)."""
        with self._lock:
            return self.messages.pop()

    def reset(self, *, keep_system: bool = False) -> None:
        """Forget the conversation (optionally keeping the system message)."""
        with self._lock:
            head = self.messages[:1] if keep_system and self.messages[:1] and \
                self.messages[0]["role"] == "system" else []
            self.messages = head

    def window(self, extra: Iterable[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
        """The messages to send: system message + the last ``history_limit`` others (+ ``extra``).

        The cut moves forward to the next user message, so a window never starts
        with an assistant reply or a tool result whose question was dropped.
        """
        with self._lock:
            messages = [_wire(m) for m in self.messages] + [_wire(m) for m in extra]
        system = [m for m in messages[:1] if m["role"] == "system"]
        rest = messages[len(system):]
        if self.history_limit and len(rest) > self.history_limit:
            start = len(rest) - self.history_limit
            while start < len(rest) - 1 and rest[start]["role"] != "user":
                start += 1
            rest = rest[start:]
        return system + rest

    def __len__(self) -> int:
        return len(self.messages)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self.messages))

    def __repr__(self) -> str:
        return f"ChatSession({self.name!r}, {len(self.messages)} messages, model={self.model!r})"

    def to_dataframe(self) -> Any:
        """The messages as a DataFrame: role, content, thinking, images (count), tool_calls,
        tool_name, incomplete (a reply cut short)."""
        import pandas as pd

        rows = [{
            "role": m["role"],
            "content": m.get("content", ""),
            "thinking": m.get("thinking", ""),
            "images": len(m.get("images", [])),
            "tool_calls": m.get("tool_calls") or None,
            "tool_name": m.get("tool_name"),
            "incomplete": bool(m.get("incomplete", False)),
        } for m in self.messages]
        frame = pd.DataFrame(rows, columns=["role", "content", "thinking", "images", "tool_calls",
                                            "tool_name", "incomplete"])
        frame.index.name = "turn"
        frame.attrs["chat"] = self.name
        return frame

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the conversation: ``.jsonl`` one message per line, otherwise one JSON document."""
        target = Path(path).expanduser()
        messages = [{k: m[k] for k in _MESSAGE_FIELDS + _LOCAL_FIELDS if k in m} for m in self.messages]
        if target.suffix.lower() == ".jsonl":
            text = "".join(json.dumps(m, ensure_ascii=False) + "\n" for m in messages)
        else:
            text = json.dumps({"name": self.name, "model": self.model, "messages": messages},
                              ensure_ascii=False, indent=1) + "\n"
        target.write_text(text, encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str], name: str | None = None) -> ChatSession:
        """Read a file written by :meth:`save` (JSON or JSONL)."""
        source = Path(path).expanduser()
        text = source.read_text(encoding="utf-8")
        if source.suffix.lower() == ".jsonl":
            doc: dict[str, Any] = {"messages": [json.loads(x) for x in text.splitlines() if x.strip()]}
        else:
            doc = json.loads(text)
        chat = cls(name or doc.get("name") or source.stem, model=doc.get("model"))
        chat.messages = [dict(m) for m in doc.get("messages", [])]
        return chat


class ChatRegistry:
    """Named :class:`ChatSession` objects for this process (``chats["default"]``)."""

    def __init__(self) -> None:
        self._sessions: dict[str, ChatSession] = {}
        self._lock = threading.Lock()
        self.history_limit = 0  # applied to sessions created from now on

    def get(self, name: str = "default", *, create: bool = True) -> ChatSession:
        """The session called ``name`` (created empty if missing and ``create``)."""
        with self._lock:
            chat = self._sessions.get(name)
            if chat is None:
                if not create:
                    raise KeyError(name)
                chat = self._sessions[name] = ChatSession(name, history_limit=self.history_limit)
            return chat

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return name in self._sessions

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._sessions))

    def __len__(self) -> int:
        return len(self._sessions)

    def remove(self, name: str) -> None:
        with self._lock:
            self._sessions.pop(name, None)

    def set_history_limit(self, limit: int) -> None:
        """Apply ``limit`` to every session, existing and future."""
        with self._lock:
            self.history_limit = limit
            for chat in self._sessions.values():
                chat.history_limit = limit

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()


chats = ChatRegistry()

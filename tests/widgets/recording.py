"""The frontend's side of the wire, for headless widget tests.

:class:`RecordingComm` replaces the kernel comm: every message a widget would send
to the browser (``comm_open`` with the full state, ``comm_msg`` updates) is kept
in a :class:`Wire`. The ``frontend_*`` helpers send what a browser sends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from comm.base_comm import BaseComm


@dataclass
class Sent:
    comm_id: str
    msg_type: str  # comm_open, comm_msg, comm_close
    data: dict[str, Any]
    at: float


class Wire:
    """Everything the kernel side would have sent to the frontend, in order."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self._lock = threading.Lock()

    def record(self, comm_id: str, msg_type: str, data: Any) -> None:
        with self._lock:
            self.sent.append(Sent(comm_id, msg_type, dict(data or {}), time.monotonic()))

    def messages(self, widget: Any = None) -> list[Sent]:
        with self._lock:
            sent = list(self.sent)
        if widget is None:
            return sent
        return [s for s in sent if s.comm_id == widget.comm.comm_id]

    def updates(self, widget: Any) -> list[dict[str, Any]]:
        """The ``state`` of every ``update`` message sent for ``widget``."""
        return [
            s.data["state"]
            for s in self.messages(widget)
            if s.msg_type == "comm_msg" and s.data.get("method") == "update"
        ]

    def strings(self, *, skip: tuple[str, ...] = ("_options_labels",)) -> list[str]:
        """Every string in every state the frontend received (open and updates).

        ``_options_labels`` is skipped by default: the frontend puts Dropdown labels in
        ``<option>`` elements with ``textContent``, so they are text, never markup (the
        browser tests check this with a hostile model name).
        """
        found: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, dict):
                for key, item in value.items():
                    if key not in skip:
                        walk(item)
            elif isinstance(value, (list, tuple)):
                for item in value:
                    walk(item)

        for sent in self.messages():
            walk(sent.data.get("state", {}))
        return found

    def clear(self) -> None:
        with self._lock:
            self.sent.clear()


class RecordingComm(BaseComm):
    wire: Wire

    def publish_msg(
        self,
        msg_type: str,
        data: Any = None,
        metadata: Any = None,
        buffers: Any = None,
        **keys: Any,
    ) -> None:
        self.wire.record(self.comm_id, msg_type, data)


def frontend_update(widget: Any, **state: Any) -> None:
    """What the browser sends when the user changes a widget's value."""
    widget._handle_msg(
        {
            "content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
            "buffers": [],
        }
    )


def frontend_event(widget: Any, event: str) -> None:
    """A custom event from the browser (``click`` on a Button, ``submit`` on a Text)."""
    widget._handle_msg(
        {"content": {"data": {"method": "custom", "content": {"event": event}}}, "buffers": []}
    )


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll until ``condition()`` is truthy (the widgets work in threads)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)

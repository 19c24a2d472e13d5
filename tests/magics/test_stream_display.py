"""LiveAnswer throttling with a fake clock, inside a real InteractiveShell (display ids)."""

from __future__ import annotations

import threading
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from ollama_nb.magics._stream_display import AnswerView, LiveAnswer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class View:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.stop_requested = threading.Event()

    def start(self, model: str) -> None:
        self.calls.append(("start", model))

    def update(self, text: str, thinking: str) -> None:
        self.calls.append(("update", text))

    def finish(self, result: Any) -> None:
        self.calls.append(("finish", result))


def test_throttle_merges_tokens(ip: InteractiveShell) -> None:
    clock, view = Clock(), View()
    assert isinstance(view, AnswerView)
    live = LiveAnswer(header="m …", rate=10, view=view, clock=clock)
    with capture_output() as cap:
        live.start("m")
        for i in range(100):  # 100 tokens over 1 s: at most 10 updates
            clock.now += 0.01
            live.feed(f"t{i} ")
        live.finish({"text/plain": "final", "text/html": "<p>final</p>"}, result="R")
    outs = cap.outputs
    assert not outs[0].update and outs[0].data["text/plain"] == "m …"
    ids = {o.transient["display_id"] for o in outs}
    assert len(ids) == 1
    middle = [o for o in outs[1:-1]]
    assert all(o.update for o in outs[1:]) and 8 <= len(middle) <= 10
    # every intermediate update carries the whole text so far, escaped in <pre>
    assert middle[0].data["text/plain"].startswith("t0 t1 ")
    assert outs[-1].data == {"text/plain": "final", "text/html": "<p>final</p>"}
    assert live.updates == len(outs) - 1
    assert view.calls[0] == ("start", "m") and view.calls[-1] == ("finish", "R")
    assert len([c for c in view.calls if c[0] == "update"]) == len(middle)


def test_rate_zero_and_final_mode(ip: InteractiveShell) -> None:
    clock = Clock()
    with capture_output() as cap:
        live = LiveAnswer(rate=0, clock=clock)
        live.start()
        for _ in range(50):
            clock.now += 1
            live.feed("x", "y")
        live.finish({"text/plain": "done"})
        live.finish({"text/plain": "again"})  # only once
    assert [o.update for o in cap.outputs] == [False, True]
    assert live.text == "x" * 50 and live.thinking == "y" * 50
    with capture_output() as cap:
        live = LiveAnswer(live=False, rate=10, clock=clock)
        live.start()
        for _ in range(50):
            clock.now += 1
            live.feed("x")
        live.finish({"text/plain": "done"})
    assert len(cap.outputs) == 1 and not cap.outputs[0].update
    assert cap.outputs[0].data == {"text/plain": "done"} and not cap.outputs[0].transient


def test_stop_requested_by_a_view(ip: InteractiveShell) -> None:
    view = View()
    live = LiveAnswer(live=False, view=view)
    assert not live.stop_requested
    view.stop_requested.set()
    assert live.stop_requested


def test_an_empty_final_bundle_removes_the_output(ip: InteractiveShell) -> None:
    """An error raised right after says it all: the placeholder goes instead of repeating it."""
    with capture_output() as cap:
        live = LiveAnswer(header="m …")
        live.start("m")
        live.finish({})
    assert [o.update for o in cap.outputs] == [False, True] and cap.outputs[-1].data == {}
    with capture_output() as cap:
        live = LiveAnswer(live=False)
        live.start("m")
        live.finish({})
    assert cap.outputs == []


class WidgetView(View):
    """A view that can be displayed (as every widget): it stands in for the output."""

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return {"text/plain": "WidgetView()", "application/x-view": {}}


def test_a_displayable_view_is_the_output_until_the_final_bundle(ip: InteractiveShell) -> None:
    clock, view = Clock(), WidgetView()
    with capture_output() as cap:
        live = LiveAnswer(header="m …", rate=10, view=view, clock=clock)
        live.start("m")
        for i in range(100):
            clock.now += 0.01
            live.feed(f"t{i} ")
        live.finish({"text/plain": "final"}, result="R")
    first, last = cap.outputs[0], cap.outputs[-1]
    assert "application/x-view" in first.data and not first.update
    assert len(cap.outputs) == 2 and last.update and last.data == {"text/plain": "final"}
    assert first.transient["display_id"] == last.transient["display_id"]
    assert 8 <= len([c for c in view.calls if c[0] == "update"]) <= 10  # the view streamed

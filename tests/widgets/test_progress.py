"""PullProgress without a browser: bars per layer, throttling, final states, the text fallback."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hostile_server import live_markup
from recording import Wire

from ollama_nb.client._client import Client
from ollama_nb.widgets import PullProgress


class FakeClock:
    """A clock the test moves by hand, so throttling is checked without wall-clock asserts."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _layer(digest: str, completed: int, total: int = 1000) -> dict[str, Any]:
    return {
        "status": f"pulling {digest[:12]}",
        "digest": f"sha256:{digest}",
        "total": total,
        "completed": completed,
    }


def test_pull_from_the_sandbox_shows_a_bar_per_layer(ollama_sandbox: Any, wire: Wire) -> None:
    progress = PullProgress("gemma3:1b", text_mode=False)
    result = progress.run(Client(ollama_sandbox.url), "pull", show=False)
    assert result.status == "success" and progress.state == "success"
    rows = progress._bars.children
    assert len(rows) == len(progress._layers) >= 2
    for row in rows:
        _name, bar, label = row.children
        assert bar.value == 1.0 and bar.bar_style == "success"
        assert " / " in label.value
    assert "success" in progress._status.value
    assert repr(progress) == f"PullProgress(pull 'gemma3:1b', {len(rows)} layers, success)"


def test_updates_are_throttled_and_the_last_state_always_lands(wire: Wire) -> None:
    clock = FakeClock()
    progress = PullProgress("m", text_mode=False, clock=clock, interval=0.5)
    progress.feed({"status": "pulling manifest"})
    for step in range(1, 100):  # 99 lines over 2 s of fake time
        clock.now = step * 0.02
        progress.feed(_layer("a" * 64, step * 10))
    (row,) = progress._bars.children
    bar = row.children[1]
    bar_updates = [u for u in wire.updates(bar) if "value" in u]
    assert len(bar_updates) <= 2 / 0.5 + 2  # one per interval, not one per line
    progress.feed({"status": "success"})
    assert bar.value == 1.0 and wire.updates(bar)[-1] == {"value": 1.0, "bar_style": "success"}


def test_speed_is_measured_per_layer(wire: Wire) -> None:
    clock = FakeClock()
    progress = PullProgress("m", text_mode=False, clock=clock, interval=0.0)
    for step in range(5):
        clock.now = step * 1.0
        progress.feed(_layer("b" * 64, step * 2_000_000, total=100_000_000))
    (layer,) = progress._layers.values()
    assert layer.speed == pytest.approx(2_000_000)
    assert "2.0 MB/s" in layer.label.value and "8.0 MB / 100.0 MB" in layer.label.value


def test_error_turns_the_bars_red(ollama_sandbox: Any, wire: Wire) -> None:
    progress = PullProgress(text_mode=False)
    with pytest.raises(Exception, match="file does not exist|not found|manifest"):
        progress.run(Client(ollama_sandbox.url), "pull", "no-such-model-xyz", show=False)
    assert progress.state == "error" and progress.error
    assert "✖" in progress._status.value


def test_error_text_from_the_server_is_escaped(wire: Wire) -> None:
    progress = PullProgress("m", text_mode=False)
    progress.feed(_layer("c" * 64, 10))
    progress.feed({"error": "<img src=x onerror=alert(1)>bad"})
    assert progress.state == "error" and "&lt;img" in progress._status.value
    assert progress._bars.children[0].children[1].bar_style == "danger"
    for value in wire.strings():
        assert live_markup(value) == [], value


def test_text_fallback_without_a_widget_frontend(ollama_sandbox: Any) -> None:
    out = io.StringIO()
    progress = PullProgress("gemma3:1b", file=out)  # plain pytest: no kernel, so text mode
    assert progress.text_mode
    progress.run(Client(ollama_sandbox.url), "pull")
    lines = out.getvalue().splitlines()
    assert lines[0] == "pulling manifest"
    assert lines[-1].startswith("✔ pull gemma3:1b: success (")
    assert any("100%" in line for line in lines)
    assert "writing manifest" in lines


def test_create_and_push_use_the_same_bars(ollama_sandbox: Any, wire: Wire) -> None:
    client = Client(ollama_sandbox.url)
    progress = PullProgress("mine", "create", text_mode=False)
    progress.run(client, model="mine", from_="llama3.2", system="Be brief.", show=False)
    assert progress.state == "success" and progress.action == "create"
    with pytest.raises(ValueError, match="action must be one of"):
        PullProgress("x", "fetch")


def test_the_magics_progress_view_seam(ollama_sandbox: Any, wire: Wire) -> None:
    """%ollama pull builds PullProgress(title=...), calls update(chunk) and finish(...)."""
    progress = PullProgress(title="pull gemma3:1b", text_mode=False)
    assert (progress.action, progress.model) == ("pull", "gemma3:1b")
    with Client(ollama_sandbox.url).pull("gemma3:1b", stream=True) as stream:
        for chunk in stream:
            progress.update(chunk)
    progress.close()  # the end of the operation: the bars stay open on screen
    assert progress.state == "success" and progress.widget.comm is not None
    bundle = progress._repr_mimebundle_()
    # the text saved with the widget is true before and after: no state, no layer count
    assert bundle["text/plain"].startswith("PullProgress(pull 'gemma3:1b')")
    assert repr(progress) == f"PullProgress(pull 'gemma3:1b', {len(progress._layers)} layers, success)"
    assert (
        bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == progress.widget.model_id
    )
    other = PullProgress(title="push me/model", text_mode=False)
    other.update({"status": "retrieving manifest"})
    other.close(interrupted=True)
    assert other.state == "error" and other.error == "interrupted"


def test_ollama_pull_magic_drives_the_widget(
    ollama_sandbox: Any, wire: Wire, shell: Any, monkeypatch: Any
) -> None:
    """%ollama pull in a kernel: the magics build a PullProgress and end it with close()."""
    from IPython.utils.capture import capture_output

    from ollama_nb.magics._magics import OllamaMagics
    from ollama_nb.widgets import _progress

    made: list[PullProgress] = []
    original = PullProgress.__init__

    def remember(self: PullProgress, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(PullProgress, "__init__", remember)
    monkeypatch.setattr(OllamaMagics, "widgets_wanted", property(lambda self: True))
    monkeypatch.setattr(_progress, "has_widget_frontend", lambda: True)
    shell.run_line_magic("load_ext", "ollama_nb")
    try:
        with capture_output() as captured:
            shell.run_line_magic("ollama", f"pull gemma3:1b --host {ollama_sandbox.url}")
    finally:
        shell.run_line_magic("unload_ext", "ollama_nb")
    (progress,) = made
    assert progress.state == "success" and progress.model == "gemma3:1b"
    # the bars while pulling; then the outcome replaces them in the same output, once
    bars, *rest = captured.outputs
    assert sorted(bars.data) == ["application/vnd.jupyter.widget-view+json", "text/plain"]
    (outcome,) = rest
    assert outcome.update and outcome.transient == bars.transient
    text = outcome.data["text/plain"]
    assert text.splitlines()[-1].startswith("✔ pull gemma3:1b: success (")
    assert text.count("success") == 1 and len(text.splitlines()) == len(progress._layers) + 1
    assert progress.widget.comm is None  # replaced, so closed


def test_server_text_never_reaches_a_label(wire: Wire) -> None:
    """Label text is typeset by MathJax in the frontend; server strings go in escaped HTML."""
    import ipywidgets as w

    progress = PullProgress("m", text_mode=False)
    progress.feed({"status": "pulling $x$", "digest": "sha256:<b>$\\href{javascript:x}{y}$",
                   "total": 10, "completed": 5})
    progress.finish()
    row = progress._bars.children[0]
    assert not any(isinstance(child, w.Label) for child in row.children)
    assert "&lt;b&gt;" in row.children[0].value

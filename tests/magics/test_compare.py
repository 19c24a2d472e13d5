"""``%%ollama --compare`` through a real InteractiveShell against the sandbox (its fault
injection fails one model mid-stream) and a scripted server (hostile text)."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from magic_helpers import ScriptedServer, run, run_interrupted

from ollama_nb import Client
from ollama_nb.magics._compare import CompareResult

PROMPT = "Why is the sky blue?"


def grid_outputs(cap: Any) -> tuple[list[Any], Any]:
    """The grid's display and updates (one display id), and the stats table shown after it."""
    grid = [o for o in cap.outputs if "ollama-nb-compare" in o.data.get("text/html", "")]
    ids = {o.transient.get("display_id") for o in grid}
    assert len(ids) == 1 and None not in ids and not grid[0].update and all(o.update for o in grid[1:])
    return grid, cap.outputs[-1]


def test_two_models_side_by_side_one_failing_mid_stream(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    ollama_sandbox.token_delay = 0.01
    ollama_sandbox.inject("error_after", model="qwen3", n=6, times=1)
    with capture_output() as cap:
        assert run(ip, f"%%ollama --compare llama3.2,qwen3 --no-think --seed 2 -o both\n{PROMPT}") is None
    result = ip.user_ns["_ollama"]
    assert isinstance(result, CompareResult) and ip.user_ns["both"] is result
    assert list(result) == ["llama3.2", "qwen3"]
    good, bad = result["llama3.2"], result["qwen3"]
    expected = Client(ollama_sandbox.url).generate("llama3.2", PROMPT, options={"seed": 2}).response
    assert good.done and good.text == expected and good.model == "llama3.2"
    assert not bad.done and "error mid-stream after 6 chunks" in (bad.error or "")
    whole = Client(ollama_sandbox.url).generate("qwen3", PROMPT, think=False, options={"seed": 2}).response
    assert bad.text and whole.startswith(bad.text) and bad.text != whole  # the partial answer is kept
    assert ollama_sandbox.scheduler.peak >= 2  # both requests ran at once
    grid, table = grid_outputs(cap)
    # while streaming, an update showed both answers growing side by side
    assert any(o.data["text/plain"].count("── ") == 2 and good.text[:12] in o.data["text/plain"]
               and bad.text[:12] in o.data["text/plain"] and good.text not in o.data["text/plain"]
               for o in grid[1:-1])
    final = grid[-1].data
    assert final["text/html"].count('class="ollama-nb-compare-cell"') == 2
    assert "grid-template-columns:repeat(2,minmax(0,1fr))" in final["text/html"]
    assert final["text/plain"].startswith(f"── llama3.2 ──\n{expected}")
    assert "── qwen3 ──\n" + bad.text in final["text/plain"] and "✖ Ollama reported an error" in final["text/plain"]
    stats = result.stats
    assert isinstance(stats, pd.DataFrame) and list(stats["model"]) == ["llama3.2", "qwen3"]
    assert list(stats.columns) == ["model", "tokens", "tokens/s", "load s", "total s", "done reason",
                                   "error"]
    assert stats.loc[0, "tokens"] == good.stats.eval_count and pd.isna(stats.loc[0, "error"])
    assert pd.isna(stats.loc[1, "tokens"]) and "mid-stream" in stats.loc[1, "error"]
    assert stats.loc[0, "done reason"] == "stop"
    assert "<th>tokens/s</th>" in table.data["text/html"]  # the table, shown after the grid
    assert "mid-stream" in table.data["text/html"]


def test_sequential_aliases_and_per_model_options(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    run(ip, "%ollama alias cold llama3.2 --temperature 0 --num-predict 8")
    with capture_output() as cap:
        run(ip, "%%ollama --compare cold,qwen3 --sequential --seed 4\nhello")
    table = cap.outputs[-1].data["text/html"]  # nothing failed: no error column, no <NA>
    assert "<th>error</th>" not in table and "&lt;NA&gt;" not in table and "<th>done reason</th>" in table
    bodies = [r.body for r in ollama_sandbox.requests if r.path == "/api/generate"]
    assert [b["model"] for b in bodies] == ["llama3.2", "qwen3"]
    assert bodies[0]["options"] == {"temperature": 0, "num_predict": 8, "seed": 4}
    assert bodies[1]["options"] == {"seed": 4}
    final = [o for o in cap.outputs if "ollama-nb-compare" in o.data.get("text/html", "")][-1].data
    cold = final["text/plain"].split("── qwen3 ──")[0]  # 8 tokens: cut short, and it says so
    assert cold.rstrip().endswith("… stopped at num_predict") and "stopped at num_predict" in final["text/html"]
    assert ollama_sandbox.scheduler.peak == 1  # one after another
    result = ip.user_ns["_ollama"]
    assert list(result) == ["cold", "qwen3"] and result["cold"].model == "llama3.2"
    assert all(r.done for r in result.results.values())


def test_final_mode_shows_one_grid(ip: InteractiveShell, ollama_sandbox: Any,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_NB_DISPLAY", "final")  # nbconvert / nbval
    with capture_output() as cap:
        run(ip, "%%ollama --compare llama3.2,qwen3\nhi")
    grid = [o for o in cap.outputs if "ollama-nb-compare" in o.data.get("text/html", "")]
    assert len(grid) == 1 and not grid[0].update
    assert "── llama3.2 ──" in grid[0].data["text/plain"] and "── qwen3 ──" in grid[0].data["text/plain"]


def test_model_output_cannot_run_script_in_the_grid(ip: InteractiveShell, scripted: ScriptedServer) -> None:
    scripted.tokens = ["<img src=x onerror=alert(1)>", " <script>alert(2)</script>"]
    with capture_output() as cap:
        run(ip, f"%%ollama --compare a,b --host {scripted.url}\nhi")
    for out in cap.outputs:
        page = out.data.get("text/html", "")
        assert "<img src=x" not in page and "<script>" not in page
    assert "&lt;script&gt;" in cap.outputs[-2].data["text/html"]


def test_every_model_failing_is_one_line(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    with capture_output() as cap, pytest.raises(UsageError) as info:
        run(ip, "%%ollama --compare nope1,nope2\nhi")
    message = str(info.value)
    assert message.startswith("every model failed: nope1: ") and "nope2: " in message and "\n" not in message
    result = ip.user_ns["_ollama"]
    assert list(result) == ["nope1", "nope2"] and all(r.error for r in result.results.values())
    assert "── nope1 ──\n✖" in [o for o in cap.outputs if "ollama-nb-compare" in
                                o.data.get("text/html", "")][-1].data["text/plain"]


def test_an_interrupt_stops_every_stream_and_keeps_the_partials(ip: InteractiveShell, ollama_sandbox: Any,
                                                                default_sigint: None) -> None:
    ollama_sandbox.token_delay = 0.05
    cap = run_interrupted(ip, "%%ollama --compare llama3.2,qwen3 --no-think\nTell me a long story about rivers",
                          lambda outs: any("waiting …" not in o.data["text/plain"] for o in outs[1:]),
                          "the partial answers are kept in _ollama")  # both columns have text
    stored = ip.user_ns["_ollama"]
    assert all(r.interrupted and r.text for r in stored.results.values())
    final = [o for o in cap.outputs if "ollama-nb-compare" in o.data.get("text/html", "")][-1]
    assert final.data["text/plain"].count("⏹ interrupted") == 2
    deadline = time.monotonic() + 20
    generate = [r for r in ollama_sandbox.requests if r.path == "/api/generate"]
    while not all(r.disconnected for r in generate) and time.monotonic() < deadline:
        time.sleep(0.02)
        generate = [r for r in ollama_sandbox.requests if r.path == "/api/generate"]
    assert len(generate) == 2 and all(r.disconnected for r in generate)

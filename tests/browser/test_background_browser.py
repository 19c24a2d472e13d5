"""Stop in a real page (Chromium), in JupyterLab and Notebook 7: a ``%%ollama --bg`` cell
streams while other cells run and its Stop control ends it; the Stop button of a
``%%ollama --pane`` cell (an awaited cell) ends it too. Both keep the partial answer.

The sandbox streams ``llama3.2`` at a visible per-token delay (conftest.TOKEN_DELAY); the
prompt asks for a long answer (over 700 tokens, half a minute), so a Stop that did not
work would show as an answer that runs on. How fast Stop works is counted in tokens the
server wrote after the click, not in seconds of wall clock.
"""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import expect

from .conftest import TOKEN_DELAY

LONG = 30_000  # ms: generous, the CI machine has 2 busy cores
STORY = "Tell me about rivers, mountains and forests in 600 words."
# tokens the server may still write after the click: one second's worth, doubled for a
# CI machine whose two cores are busy (the whole answer is over 700)
AFTER_STOP = int(2 / TOKEN_DELAY)


def _request(lab: Any, marker: str) -> Any:
    """The newest generate request whose prompt holds ``marker`` (one sandbox serves both
    frontends, so each test marks its prompt with the frontend)."""
    found = [r for r in lab.sandbox.requests
             if isinstance(r.body, dict) and marker in str(r.body.get("prompt", ""))]
    assert found, f"no request for {marker!r}"
    return found[-1]


def _stopped_soon(lab: Any, marker: str, at_click: int) -> Any:
    """Wait until the server has seen the client leave; the request then."""
    deadline = time.monotonic() + 10
    while not (request := _request(lab, marker)).disconnected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert request.disconnected, "the server should have seen the client leave"
    assert request.chunks - at_click <= AFTER_STOP, (request.chunks, at_click)
    return request


def test_stop_a_bg_cell_while_other_cells_run(open_notebook: Any, lab: Any) -> None:
    prompt = f"{STORY} (bg, {lab.frontend})"
    nb = open_notebook([
        "%load_ext ollama_nb",
        f"%%ollama llama3.2 --bg -o story\n{prompt}",
        "print(6 * 7, story.pending)",
        "print(story.interrupted, _ollama is story, len(story.text))",
    ])
    for index in (0, 1):
        nb.run_cell(index)
    nb.wait_idle(cells=[0, 1])  # the --bg cell has returned ...
    cell = nb.cell(1)
    answer = cell.locator(".ollama-nb-answer").first
    expect(answer).to_contain_text("rivers", timeout=LONG)  # ... and its answer streams
    nb.run_cell(2)  # another cell runs meanwhile, and ends while the answer still streams
    nb.wait_idle(cells=[2])
    assert nb.text(2).strip() == "42 True"
    shown = len(answer.inner_text())
    expect(answer).not_to_have_text(answer.inner_text(), timeout=LONG)  # still arriving
    assert len(answer.inner_text()) > shown

    control = cell.locator(".ollama-nb-bg")
    at_click = _request(lab, prompt).chunks
    control.get_by_role("button", name="Stop").click()
    expect(cell.get_by_text("⏹ interrupted").first).to_be_visible(timeout=LONG)
    request = _stopped_soon(lab, prompt, at_click)
    expect(control).to_have_count(0)  # the control is gone once the answer has ended
    nb.run_cell(3)
    nb.wait_idle(cells=[3])
    interrupted, same, kept = nb.text(3).split()
    assert (interrupted, same) == ("True", "True") and 0 < int(kept)
    assert request.chunks < 700  # the answer did not run on to its end
    # the partial answer stays in the cell, and in the saved notebook
    saved = nb.save()
    texts = ["".join(o.get("data", {}).get("text/plain", "")) for o in saved["cells"][1]["outputs"]]
    assert any("⏹ interrupted" in t and len(t) > 20 for t in texts)


def test_stop_a_pane_cell(open_notebook: Any, lab: Any) -> None:
    prompt = f"{STORY} (pane, {lab.frontend})"
    nb = open_notebook([
        "%load_ext ollama_nb",
        f"%%ollama llama3.2 --pane -o partial\n{prompt}",
        "print(partial.interrupted, _ollama is partial, len(partial.text))",
    ])
    nb.run_all()
    pane = nb.cell(1).locator(".ollama-nb-pane")
    expect(pane.locator(".ollama-nb-flow")).to_contain_text("rivers", timeout=LONG)
    at_click = _request(lab, prompt).chunks
    pane.get_by_role("button", name="Stop").click()
    request = _stopped_soon(lab, prompt, at_click)
    nb.wait_idle(timeout=LONG / 1000)
    interrupted, same, kept = nb.text(2).split()
    assert (interrupted, same) == ("True", "True") and 0 < int(kept)
    assert request.chunks < 700
    # the cell ended without an error, showing the partial answer as interrupted
    outputs = nb.outputs(1)
    assert not [o for o in outputs if o.get("output_type") == "error"]
    expect(nb.cell(1).get_by_text("⏹ interrupted").first).to_be_visible(timeout=LONG)

"""The assistant in a real frontend: ``%ollama fix`` creates the next cell, and
``--compare`` streams two answers side by side (JupyterLab and Notebook 7).

The deterministic sandbox models answer (a 0.05 s delay per token, answers capped with
``--num-predict``): these tests check the plumbing, not a model's advice.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

LONG = 30_000  # ms: generous, the CI machine has 2 busy cores
BROKEN = "items = [1, 2]\nitems[5]"


def test_fix_creates_the_next_cell(open_notebook: Any) -> None:
    nb = open_notebook(["%load_ext ollama_nb", BROKEN, "%ollama fix llama3.2 --num-predict 30"])
    for index in range(3):  # one by one: Run All stops at the cell that raises
        nb.run_cell(index)
        nb.wait_idle(cells=list(range(index + 1)))
    cells = nb.page.evaluate(
        "() => { const m = window.jupyterapp.shell.currentWidget.content.model.cells;"
        " return Array.from({length: m.length}, (_, i) => m.get(i).toJSON()); }")
    assert len(cells) == 4, [c["source"] for c in cells]
    proposed = cells[3]
    source = "".join(proposed["source"]) if isinstance(proposed["source"], list) else proposed["source"]
    assert proposed["cell_type"] == "code" and source == BROKEN  # the sandbox quotes the cell back
    assert proposed["execution_count"] is None  # offered, not run
    expect(nb.cell(3)).to_be_visible()
    assert "the fixed cell is in the next cell" in nb.text(2)
    assert "IndexError" in nb.text(1)


def test_compare_streams_two_answers_side_by_side(open_notebook: Any, shoot: Any) -> None:
    nb = open_notebook([
        "%load_ext ollama_nb",
        "%%ollama --compare llama3.2,qwen3 --no-think --num-predict 60\nWhy is the sky blue?",
    ])
    nb.run_all()
    # while both stream: two columns, each with some text, next to each other
    nb.page.wait_for_function(
        "() => { const f = document.querySelectorAll('.ollama-nb-compare-cell .ollama-nb-flow');"
        " return f.length === 2 && [...f].every((e) => e.innerText.length > 20); }", timeout=LONG)
    left, right = nb.page.evaluate(
        "() => [...document.querySelectorAll('.ollama-nb-compare-cell')].map((c) => {"
        " const r = c.getBoundingClientRect(); return [r.left, r.top, r.width]; })")
    assert abs(left[1] - right[1]) < 2 and right[0] > left[0] + left[2] * 0.9  # same row, apart
    assert left[2] > 300 and abs(left[2] - right[2]) < 2  # two even columns
    nb.wait_idle()
    grid = nb.cell(1).locator(".ollama-nb-compare")
    expect(grid.locator(".ollama-nb-compare-cell .ollama-nb-answer p")).to_have_count(2, timeout=LONG)
    expect(nb.cell(1).locator("table.dataframe tbody tr")).to_have_count(2, timeout=LONG)
    seen = nb.measure(1, ["llama3.2", "qwen3"])
    assert seen["overflow"] == [], seen["overflow"]
    shoot(nb.cell(1).locator(".jp-OutputArea"), "compare.png")

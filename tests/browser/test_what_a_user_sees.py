"""What a person sees, measured in the page, in JupyterLab and in Notebook 7.

Each test runs once per frontend (the ``jupyter`` fixture). The model ``echo`` of the
look-alike server answers with the prompt, so the answers hold exactly what is being
checked: a long URL, a table, a long line of code, a quote, math, prices. Measured:
nothing wider than the cell, one visible copy of each answer and each error, line
heights in a normal range, math typeset by the frontend's MathJax (and prices not),
readable colours in the dark theme, and what a saved notebook shows when reopened.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

LONG = 30_000  # ms: generous, the CI machine has 2 busy cores
URL = "https://example.com/a/very/long/path/" + "segment" * 40
CODE = "x = '" + "a very long line of code " * 8 + "'"
ANSWER = f"""Here is a long URL: {URL} and then an ordinary sentence that must wrap.

| name | value |
|------|-------|
| alpha | 1 |

```python
{CODE}
```

> a quoted line

Inline math $x^2$ and $\\int_0^1 x\\,dx = \\tfrac12$ and $10\\%$; prices: it costs $5 and then $10.

$$
\\begin{{pmatrix}} a & b \\\\ c & d \\end{{pmatrix}}
$$
"""
MATH = 4  # three inline formulas and one display


def _set_well(seen: dict[str, Any]) -> None:
    """Nothing past the cell's edge; lines neither cramped nor double-spaced."""
    assert seen["overflow"] == [], seen["overflow"]
    assert seen["lines"] and all(1.2 <= ratio <= 1.8 for ratio in seen["lines"]), seen["lines"]


def test_a_streamed_answer_is_set_as_markdown(open_notebook: Any, hostile: Any) -> None:
    nb = open_notebook(["%load_ext ollama_nb", f"%%ollama echo --host {hostile.url}\n{ANSWER}"])
    nb.run_all()
    # while it streams: the text is there, in the typeface the finished answer will use
    nb.page.wait_for_function(
        "() => { const f = document.querySelector('.ollama-nb-flow');"
        " return !!(f && f.innerText.length > 40); }", timeout=LONG)
    streaming_font = nb.page.evaluate(
        "() => getComputedStyle(document.querySelector('.ollama-nb-flow')).fontFamily")
    expect(nb.cell(1).locator(".ollama-nb-stats")).to_be_visible(timeout=LONG)
    nb.wait_idle()
    nb.page.wait_for_function(
        f"() => document.querySelectorAll('.ollama-nb-answer mjx-container').length >= {MATH}",
        timeout=LONG)
    seen = nb.measure(1, ["ordinary sentence", "it costs $5 and then $10"])
    _set_well(seen)
    assert seen["copies"] == [1, 1] and seen["answers"] == 1
    assert seen["math"] == MATH  # $…$, \(…\) typeset; the prices are plain text
    final_font = nb.page.evaluate(
        "() => getComputedStyle(document.querySelector('.ollama-nb-answer p')).fontFamily")
    assert final_font == streaming_font and "mono" not in final_font.lower()
    # the code line keeps its words whole and scrolls; the link takes the link colour
    code = nb.cell(1).locator(".ollama-nb-answer pre")
    assert code.evaluate("e => e.scrollWidth > e.clientWidth + 50")
    assert code.evaluate("e => getComputedStyle(e).whiteSpace") == "pre"
    assert nb.page.evaluate(
        "() => { const a = document.querySelector('.ollama-nb-answer'); const l = a.querySelector('a');"
        " return !l || getComputedStyle(l).color !== getComputedStyle(a).color; }")
    quote = nb.cell(1).locator(".ollama-nb-answer blockquote")
    assert quote.evaluate("e => parseFloat(getComputedStyle(e).borderLeftWidth)") >= 2


def test_the_pane_with_stop_shows_one_answer(open_notebook: Any, hostile: Any) -> None:
    nb = open_notebook([
        "%load_ext ollama_nb\nfrom ollama_nb.widgets import StreamPane",
        f"%%ollama echo --host {hostile.url} --pane\n{ANSWER}",
        f"pane = StreamPane()\ndisplay(pane)\nfuture = pane.start('echo', {ANSWER * 6!r}, "
        f"host={hostile.url!r})",
    ])
    nb.run_all()
    # --pane: the pane streams, then the final answer takes its place (one copy, no widget)
    live = nb.cell(1).locator(".ollama-nb-pane")
    expect(live).to_be_visible(timeout=LONG)
    expect(live).to_have_count(0, timeout=LONG)
    expect(nb.cell(1).locator(".ollama-nb-stats")).to_be_visible(timeout=LONG)
    seen = nb.measure(1, ["ordinary sentence"])
    _set_well(seen)
    assert seen["copies"] == [1] and seen["answers"] == 1 and seen["math"] == MATH
    # a pane of one's own: Stop ends the stream; the record below it stays hidden
    pane = nb.cell(2).locator(".ollama-nb-pane")
    expect(pane.locator(".ollama-nb-flow")).to_contain_text("ordinary", timeout=LONG)
    pane.get_by_role("button", name="Stop").click()
    expect(pane.get_by_text("stopped (partial answer)")).to_be_visible(timeout=LONG)
    nb.wait_idle()
    expect(nb.cell(2).locator(".ollama-nb-record")).to_have_count(1, timeout=LONG)
    seen = nb.measure(2, ["Here is a long URL"])
    _set_well(seen)
    assert seen["copies"] == [1], "the pane and its record must not both show the answer"


def test_the_chatbox_in_light_and_dark(open_notebook: Any, hostile: Any) -> None:
    nb = open_notebook([
        "%load_ext ollama_nb\nfrom ollama_nb.widgets import ChatBox\n"
        f"ChatBox('lab', model='echo', host={hostile.url!r})",
    ])
    nb.run_cell(0)
    box = nb.page.locator(".ollama-nb-chatbox")
    entry = box.get_by_placeholder("Message (Enter to send)")
    expect(entry).to_be_visible(timeout=LONG)
    entry.fill(ANSWER * 3)  # long enough (about 5 s) to send another message meanwhile
    entry.press("Enter")
    expect(box.locator(".ollama-nb-assistant")).to_have_count(1, timeout=LONG)
    entry.fill("And a second question, sent while the first reply streams.")
    entry.press("Enter")  # queued, not lost
    expect(box.get_by_text("1 message queued")).to_be_visible(timeout=LONG)
    expect(box.locator(".ollama-nb-assistant")).to_have_count(2, timeout=LONG)
    expect(box.get_by_role("button", name="Send")).to_be_enabled(timeout=LONG)
    expect(box.get_by_text("queued")).to_have_count(0, timeout=LONG)
    nb.page.wait_for_function(
        f"() => document.querySelectorAll('.ollama-nb-chatbox mjx-container').length >= {2 * MATH}",
        timeout=LONG)
    seen = nb.measure(0, ["ordinary sentence", "sent while the first reply streams"])
    _set_well(seen)
    # each message twice (the user's bubble and the echo's), never more: the transcript
    # record is in the output area, but hidden while the box is alive
    assert seen["copies"] == [1, 1]
    assert box.locator(".ollama-nb-msg").count() == 4
    # the label sits close to its message, and the system prompt box stays inside the box
    gap = box.locator(".ollama-nb-assistant").first.evaluate(
        "b => b.querySelector('.ollama-nb-answer').getBoundingClientRect().top"
        " - b.querySelector('.ollama-nb-role').getBoundingClientRect().bottom")
    assert gap < 8, gap
    system, edge = box.evaluate(
        "b => [b.querySelector('textarea').getBoundingClientRect().right,"
        " b.getBoundingClientRect().right]")
    assert system <= edge + 0.5, (system, edge)
    assert min(seen["contrast"]) >= 4.5, seen["contrast"]
    nb.set_theme("JupyterLab Dark")
    dark = nb.measure(0, ["ordinary sentence"])
    _set_well(dark)
    assert min(dark["contrast"]) >= 4.5, dark["contrast"]  # light text on dark bubbles
    assert nb.page.evaluate(
        "() => { const a = document.querySelector('.ollama-nb-chatbox .ollama-nb-answer');"
        " const m = (getComputedStyle(a).color.match(/\\d+/g) || []).map(Number);"
        " return m[0] + m[1] + m[2] > 3 * 150; }"), "the dark theme's text colour is light"
    nb.set_theme("JupyterLab Light")


def test_a_pull_shows_bars_then_its_outcome_once(open_notebook: Any, lab: Any,
                                                 shoot: Any) -> None:
    model = {"lab": "gemma3:1b", "notebook": "qwen3:0.6b"}[lab.frontend]  # one sandbox for both
    assert model not in lab.sandbox.installed(), "a pull of a model already there takes no time"
    lab.sandbox.pull_delay = 0.5  # a few seconds of bars, to be seen on a busy machine
    try:
        nb = open_notebook([f"%load_ext ollama_nb\n%ollama pull {model}"])
        nb.run_all()
        bars = nb.cell(0).locator(".ollama-nb-progress")
        expect(bars.locator(".widget-hprogress").first).to_be_visible(timeout=LONG)
        expect(bars).to_contain_text(" MB / ", timeout=LONG)  # a layer's bar has moved
        shoot(bars, "progress.png")
        expect(bars).to_have_count(0, timeout=LONG)  # replaced by the outcome
        nb.wait_idle()
    finally:
        lab.sandbox.pull_delay = 0.0
    seen = nb.measure(0, ["success"])
    assert seen["copies"] == [1] and seen["errors"] == 0 and seen["overflow"] == []
    assert f"✔ pull {model}: success" in seen["text"]


def test_an_error_is_said_once_and_an_interrupt_in_one_line(open_notebook: Any, lab: Any) -> None:
    lab.sandbox.token_delay = 0.2  # slow enough to interrupt in the middle
    try:
        nb = open_notebook([
            "%load_ext ollama_nb",
            "%%ollama nosuchmodel\nhi",
            "%%ollama all-minilm\nhi",
        ])
        for index in range(3):  # one at a time: after an error the kernel drops the queue
            nb.run_cell(index)
            nb.wait_idle(cells=list(range(index + 1)))
        seen = nb.measure(1, ["not found on the server"])
        assert seen["copies"] == [1] and "%ollama pull nosuchmodel" in seen["text"]
        assert "✖" not in seen["text"], "no grey copy of the error above the red one"
        seen = nb.measure(2, ["does not support generate"])
        assert seen["copies"] == [1] and "%%ollama embed all-minilm" in seen["text"]

        nb = open_notebook([
            "%load_ext ollama_nb",
            "%%ollama llama3.2\nTell me a long story about rivers and mountains.",
            "print('after')",
        ])
        nb.run_all()
        expect(nb.cell(1).locator(".ollama-nb-flow")).to_contain_text(" ", timeout=LONG)
        nb.command("notebook:interrupt-kernel")
        expect(nb.cell(1).get_by_text("interrupted (partial answer)")).to_be_visible(timeout=LONG)
        nb.wait_idle(cells=[0, 1])
    finally:
        lab.sandbox.token_delay = 0.05
    (error,) = [o for o in nb.outputs(1) if o["output_type"] == "error"]
    assert error["traceback"] == ["KeyboardInterrupt: the partial answer is kept in _ollama"]
    assert nb.page.evaluate(  # "Run All" stopped at the interrupted cell
        "() => window.jupyterapp.shell.currentWidget.content.model.cells.get(2).executionCount"
    ) is None


def test_a_saved_notebook_shows_every_answer_when_reopened(open_notebook: Any, hostile: Any,
                                                           lab: Any) -> None:
    nb = open_notebook([
        "%load_ext ollama_nb\nfrom ollama_nb.widgets import StreamPane, ChatBox",
        f"%%ollama echo --host {hostile.url} --pane\nThe pane's answer, kept.",
        f"pane = StreamPane()\ndisplay(pane)\n_ = pane.run('echo', 'A pane of my own.', "
        f"host={hostile.url!r})",
        f"box = ChatBox('saved', model='echo', host={hostile.url!r})\ndisplay(box)\n"
        "_ = box.send('Hello from the chat.').result()",
        f"%ollama pull {'tinydolphin' if lab.frontend == 'lab' else 'llama3.2:1b'}",
    ])
    nb.run_all()
    nb.wait_idle(timeout=90)
    expect(nb.cell(3).locator(".ollama-nb-assistant:visible")).to_have_count(1, timeout=LONG)
    saved = nb.save()
    cells = saved["cells"]
    widget = "application/vnd.jupyter.widget-view+json"
    for index in (1, 4):  # --pane and the pull: the widget was replaced, only the outcome saved
        assert not [o for o in cells[index]["outputs"] if widget in o.get("data", {})]
    lab.shutdown_kernels()  # reopen as a new session would: no widget state anywhere
    again = open_notebook(name=nb.name)
    again.page.wait_for_timeout(1500)  # widget outputs settle on their "not found" state
    expected = {1: "The pane's answer, kept.", 2: "A pane of my own.", 3: "Hello from the chat.",
                4: "success"}
    for index, text in expected.items():
        seen = again.measure(index, [text])
        assert seen["copies"] == [1], (index, seen)  # one output shows it
        assert seen["overflow"] == []
    transcript = again.measure(3)["text"]
    assert transcript.count("Hello from the chat.") == 2  # the transcript: you, then the echo
    # what stays a widget cannot be drawn without its state; the replaced ones are gone
    assert again.measure(1)["errors"] == 0 and again.measure(4)["errors"] == 0

"""The widgets in a real page (Chromium), in JupyterLab and Notebook 7, against the sandbox
with a visible token delay.

With ``OLLAMA_NB_SCREENSHOTS=docs/img`` these tests also (re)write the widget
screenshots shown in the README and docs/widgets.md (in JupyterLab), answered by the
sandbox's real small model when it serves one (``smollm2:135m``), else by ``llama3.2``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

PROMPT = "Why is the sky blue? Explain light, air, colour and scattering."
LONG = 30_000  # ms: generous, the CI machine has 2 busy cores
DONE = 120_000  # ms: a whole real-model answer on that machine
REAL_MODEL = "smollm2:135m"  # a real language model, when the sandbox serves one


@pytest.fixture
def chat_model(lab: Any) -> str:
    """The model whose answers the screenshots show: a real one if the sandbox has it."""
    installed = lab.sandbox.installed()
    return REAL_MODEL if any(REAL_MODEL in name for name in installed) else "llama3.2"


@pytest.fixture
def options(shots: Path | None) -> dict[str, int]:
    """Cap the answer's length: the real model makes ~3 tokens/s on a busy 2-core CI
    machine, so a full answer outlasts any wait; screenshots get a paragraph each (two
    turns of the chat box still fit in the page)."""
    return {"num_predict": 80 if shots else 48}


def _requests_for(lab: Any, text: str) -> list[Any]:
    return [
        r
        for r in lab.sandbox.requests
        if isinstance(r.body, dict) and text in str(r.body.get("prompt", ""))
    ]


def test_pane_shows_text_while_the_answer_streams(open_notebook: Any, shoot: Any,
                                                  chat_model: str, options: Any) -> None:
    nb = open_notebook(
        [
            "from ollama_nb.widgets import StreamPane\n"
            "pane = StreamPane()\n"
            "display(pane)\n"
            f"result = pane.run({chat_model!r}, {PROMPT!r}, options={options!r})",
            "print(pane.status, len(pane.text) > 50, result.done)",
        ]
    )
    nb.run_all()
    # some answer text is on screen while the pane still says it is streaming
    nb.page.wait_for_function(
        """() => {
            const pane = document.querySelector('.ollama-nb-pane');
            const text = pane && pane.querySelector('.ollama-nb-flow');
            const streaming = pane && pane.innerText.includes('streaming');
            return !!(text && text.innerText.trim().length > 10 && streaming);
        }""",
        timeout=LONG,
    )
    pane = nb.cell(0).locator(".ollama-nb-pane")
    expect(pane.get_by_text("✔ done")).to_be_visible(timeout=DONE)
    nb.wait_idle()
    assert nb.text(1).strip() == "done True True"
    # the record: an ordinary display output after the widget, kept when the notebook is saved
    kinds = [o.get("output_type") for o in nb.outputs(0)]
    assert kinds.count("display_data") == 2
    saved = nb.save()
    record = saved["cells"][0]["outputs"][-1]["data"]
    answer = "".join(record["text/plain"])
    assert "tokens" in answer and len(answer) > 50
    assert "ollama-nb-answer" in "".join(record["text/html"])
    shoot(pane, "pane.png")


def test_stop_ends_background_and_async_streams(open_notebook: Any, lab: Any) -> None:
    nb = open_notebook(
        [
            "from ollama_nb.widgets import StreamPane\n"
            "bg = StreamPane()\n"
            "display(bg)\n"
            "future = bg.start('llama3.2', 'Background: tell me about mountains and rivers')",
            "aw = StreamPane()\n"
            "display(aw)\n"
            "result = await aw.arun('llama3.2', 'Awaited: tell me about forests and glaciers')",
            "print(bg.status, aw.status, future.result().done, result.done)",
        ]
    )
    nb.run_all()
    panes = nb.page.locator(".ollama-nb-pane")
    for index in (0, 1):
        pane = panes.nth(index)
        expect(pane.locator(".ollama-nb-flow")).to_contain_text(" ", timeout=LONG)  # arriving
        pane.get_by_role("button", name="Stop").click()
        expect(pane.get_by_text("stopped (partial answer)").first).to_be_visible(timeout=LONG)
    nb.wait_idle()
    assert nb.text(2).strip() == "stopped stopped False False"
    for marker in ("Background:", "Awaited:"):  # the server notices at its next write
        deadline = time.monotonic() + 10
        while not _requests_for(lab, marker)[-1].disconnected and time.monotonic() < deadline:
            time.sleep(0.05)
        request = _requests_for(lab, marker)[-1]  # this frontend's (one sandbox serves both)
        assert request.disconnected, f"the server should have seen the {marker} client leave"


def test_picker_lists_the_sandbox_chat_models_and_sets_the_default(
    open_notebook: Any, shoot: Any, lab: Any
) -> None:
    nb = open_notebook(
        [
            "%load_ext ollama_nb\n%ollama picker",
            "from ollama_nb.client._session import session\nprint('default:', session.model)",
            "%ollama model llama3.2",
        ]
    )
    nb.run_cell(0)
    select = nb.page.locator(".jp-OutputArea select").first
    chat = sorted(m for m in lab.sandbox.installed()
                  if not m.startswith(("all-minilm", "nomic-embed-text")))
    expect(select.locator("option")).to_have_count(len(chat), timeout=LONG)
    values = select.locator("option").evaluate_all("os => os.map(o => o.value)")
    assert [v.split()[0] for v in values] == chat  # embedding-only models: not for chat
    assert select.evaluate("s => s.value").startswith("llama3.2:latest")
    shoot(nb.cell(0).locator(".jp-OutputArea-output").last, "picker.png")

    select.select_option(value=next(v for v in values if v.startswith("qwen3:latest")))
    # the choice travels as a widget message, maybe on a subshell: ask until it has landed
    for _attempt in range(20):
        nb.run_cell(1)
        nb.wait_idle(cells=[0, 1])
        if nb.text(1).strip() == "default: qwen3:latest":
            break
        nb.page.wait_for_timeout(250)
    assert nb.text(1).strip() == "default: qwen3:latest"

    nb.run_cell(2)  # %ollama model moves the picker
    llama = next(v for v in values if v.startswith("llama3.2:latest"))
    expect(select).to_have_value(llama, timeout=LONG)


def test_chatbox_round_trip(open_notebook: Any, shoot: Any, chat_model: str,
                            options: Any) -> None:
    nb = open_notebook(
        [
            "%load_ext ollama_nb\nfrom ollama_nb.widgets import ChatBox\n"
            f"ChatBox('lab', model={chat_model!r}, options={options!r})",
            "from ollama_nb.client._chat import chats\n"
            "print([m['role'] for m in chats.get('lab').messages])",
        ]
    )
    nb.run_cell(0)
    box = nb.page.locator(".ollama-nb-chatbox")
    entry = box.get_by_placeholder("Message (Enter to send)")
    expect(entry).to_be_visible(timeout=LONG)
    entry.fill("Why do leaves change colour in autumn?")
    entry.press("Enter")
    reply = box.locator(".ollama-nb-assistant:visible").first
    expect(reply).to_be_visible(timeout=LONG)
    expect(box.get_by_text("✔", exact=False).last).to_be_visible(timeout=DONE)
    expect(box.locator(".ollama-nb-user")).to_contain_text("leaves change colour")
    expect(entry).to_have_value("")
    # a second turn through the Send button
    entry.fill("And why are they green in summer?")
    box.get_by_role("button", name="Send").click()
    expect(box.locator(".ollama-nb-assistant:visible")).to_have_count(2, timeout=LONG)
    expect(box.get_by_role("button", name="Send")).to_be_enabled(timeout=DONE)
    nb.run_cell(1)
    nb.wait_idle(cells=[0, 1])
    assert nb.text(1).strip() == "['user', 'assistant', 'user', 'assistant']"
    shoot(box, "chatbox.png")


def test_hostile_answers_run_no_script(open_notebook: Any, hostile: Any, page: Any) -> None:
    page.add_init_script("window.__xss = false; window.__control = false;")
    url = hostile.url
    nb = open_notebook(
        [
            f"%load_ext ollama_nb\nHOST = {url!r}",
            "from ollama_nb.widgets import StreamPane, ChatBox, ModelPicker\n"
            "pane = StreamPane()\ndisplay(pane)\n"
            "pane.run('evil', 'anything', host=HOST, think=True)",
            f"%%ollama evil --host {url} --think\nanything",
            "box = ChatBox('xss', model='evil', host=HOST)\ndisplay(box)\n"
            "box.send('hi').result(timeout=30)",
            "ModelPicker(host=HOST, bind=False)",
            # control: unescaped markup in an HTML widget does run, so the flag would catch a leak
            "import ipywidgets\nipywidgets.HTML('<img src=x onerror=\"window.__control=true\">')",
        ]
    )
    nb.run_all()
    nb.wait_idle(timeout=60)
    page.wait_for_function("() => window.__control === true", timeout=LONG)
    assert page.evaluate("() => window.__xss") is False
    # the hostile markup is on the page as text, in the pane, the magic's output and the chat
    shown = page.get_by_text("<script>window.__xss=true</script>", exact=False)
    expect(shown).not_to_have_count(0)
    for index in (1, 2, 3):  # in the chat: the reply (the first answer is the user's bubble)
        answer = nb.cell(index).locator(":not(.ollama-nb-user) > .ollama-nb-answer").first
        expect(answer).to_contain_text("<script>window.__xss=true</script>")
        expect(answer).to_contain_text('<img src=x onerror="window.__xss=true">')
    assert "onerror" in page.locator(".jp-OutputArea select option").last.inner_text()
    assert page.evaluate("() => window.__xss") is False

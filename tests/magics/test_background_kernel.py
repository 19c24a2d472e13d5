"""Background answers in a real kernel (jupyter_client): a ``--bg`` cell returns, another cell
runs while the first still streams into its own output, and ``_ollama`` holds the final
answer; ``%ollama stop``; an awaited ``--pane`` cell and a kernel interrupt; nbclient (no
cell ids) runs ``--bg`` in the foreground so the saved notebook keeps the answer.

Execute requests carry ``metadata.cellId`` as JupyterLab and Notebook 7 send it: that is
how the magic knows that a frontend will show output that arrives after the cell.
"""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from ollama_nb import Client

pytestmark = pytest.mark.slow

PROMPT = "Why is the sky blue?"
LONG = "Tell me about rivers, mountains and forests in 600 words."


class Kernel:
    """A real IPython kernel and a client that records every iopub message by parent."""

    def __init__(self, km: Any, kc: Any) -> None:
        self.km, self.kc = km, kc
        self.seen: list[dict[str, Any]] = []

    def execute(self, code: str, cell_id: str | None = "auto") -> str:
        """Send an execute request as a notebook frontend does (with a cell id)."""
        metadata = {} if cell_id is None else {"cellId": uuid.uuid4().hex if cell_id == "auto"
                                                 else cell_id}
        msg = self.kc.session.msg("execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True}, metadata=metadata)
        self.kc.shell_channel.send(msg)
        return str(msg["header"]["msg_id"])

    def pump(self, until: Any, timeout: float = 60) -> None:
        """Read iopub into :attr:`seen` until ``until()`` is true."""
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; seen: {[m['msg_type'] for m in self.seen][-20:]}")
            try:
                self.seen.append(self.kc.get_iopub_msg(timeout=0.2))
            except queue.Empty:
                pass

    def of(self, msg_id: str, *types: str) -> list[dict[str, Any]]:
        return [m for m in self.seen if m["parent_header"].get("msg_id") == msg_id
                and (not types or m["msg_type"] in types)]

    def idle(self, msg_id: str) -> bool:
        return any(m["content"].get("execution_state") == "idle" for m in self.of(msg_id, "status"))

    def run(self, code: str, timeout: float = 60) -> str:
        """Execute ``code``, wait for its idle, return its stdout (errors raise)."""
        mid = self.execute(code)
        self.pump(lambda: self.idle(mid), timeout)
        errors = self.of(mid, "error")
        if errors:
            raise AssertionError(f"{errors[0]['content']['ename']}: {errors[0]['content']['evalue']}")
        return "".join(m["content"]["text"] for m in self.of(mid, "stream"))

    def displays(self, msg_id: str) -> list[dict[str, Any]]:
        return self.of(msg_id, "display_data", "update_display_data")


@pytest.fixture
def kernel(ollama_sandbox: Any) -> Iterator[Kernel]:
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")  # OLLAMA_HOST: the sandbox
    k = Kernel(km, kc)
    try:
        k.run("%load_ext ollama_nb\nimport ollama_nb as onb")
        yield k
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _outputs(kernel: Kernel, msg_id: str) -> list[list[dict[str, Any]]]:
    """The display messages of cell ``msg_id``, one list per output (display id), in order."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for m in kernel.displays(msg_id):
        groups.setdefault(m["content"]["transient"]["display_id"], []).append(m)
    return list(groups.values())


def _final(kernel: Kernel, msg_id: str) -> str:
    """The text of the answer's output (the cell's last) as it ended."""
    return str(_outputs(kernel, msg_id)[-1][-1]["content"]["data"]["text/plain"])


def test_a_bg_cell_streams_while_another_cell_runs(kernel: Kernel, ollama_sandbox: Any) -> None:
    expected = Client(ollama_sandbox.url).generate("llama3.2", LONG).response
    ollama_sandbox.token_delay = 0.02  # a few seconds of streaming
    first = kernel.execute(f"%%ollama llama3.2 --bg -o story\n{LONG}")
    kernel.pump(lambda: kernel.idle(first))  # the cell has returned ...
    assert not kernel.of(first, "error")
    kernel.pump(lambda: any(m["msg_type"] == "update_display_data"
                            for m in kernel.of(first)))  # ... and its answer streams
    second = kernel.execute("x = 6 * 7\nprint(x, story.pending, '_ollama' in dir())")
    kernel.pump(lambda: kernel.idle(second))
    out = "".join(m["content"]["text"] for m in kernel.of(second, "stream"))
    assert out.strip() == "42 True False"  # the other cell ran while the first still streamed
    updates_at_second = len(kernel.displays(first))
    printed = kernel.run("r = await onb.wait()\n"
                         "print(r == [story], _ollama is story, story.done, len(story.text))")
    assert printed.strip() == f"True True True {len(expected)}"
    # the first cell's outputs kept updating after the second cell ended: its Stop control
    # (emptied when the answer ends) and the answer, which ends final
    assert len(kernel.displays(first)) > updates_at_second
    control, answer = _outputs(kernel, first)
    assert "application/vnd.jupyter.widget-view+json" in control[0]["content"]["data"]
    assert control[-1]["content"]["data"] == {}
    final = answer[-1]["content"]["data"]["text/plain"]
    assert final.startswith(expected) and "llama3.2 · " in final
    assert not kernel.displays(second)  # nothing of the answer landed in the other cell


def test_stop_a_background_answer_from_another_cell(kernel: Kernel, ollama_sandbox: Any) -> None:
    ollama_sandbox.token_delay = 0.02
    first = kernel.execute(f"%%ollama llama3.2 --bg -o story\n{LONG}")
    kernel.pump(lambda: len(kernel.of(first, "update_display_data")) >= 2)
    printed = kernel.run("%ollama stop all")
    assert printed.startswith("⏹ stopped #1 (llama3.2): ") and "characters kept" in printed
    printed = kernel.run("print(story.interrupted, _ollama is story, len(story.text) > 0)\n"
                         "print(story.text)")
    assert printed.startswith("True True True\n")
    final = _final(kernel, first)
    assert final.startswith(printed.split("\n", 1)[1].rstrip("\n")) and "⏹ interrupted" in final
    generate = [r for r in ollama_sandbox.requests if r.path == "/api/generate"]
    deadline = time.monotonic() + 20
    while not generate[-1].disconnected and time.monotonic() < deadline:
        time.sleep(0.05)
        generate = [r for r in ollama_sandbox.requests if r.path == "/api/generate"]
    assert generate[-1].disconnected  # the sandbox saw the client leave


def test_ten_background_answers_each_in_its_own_cell(kernel: Kernel, ollama_sandbox: Any) -> None:
    ollama_sandbox.token_delay = 0.01
    kernel.run("%config OllamaMagics.background_limit = 10")
    prompts = [f"Question {i}: why is the sky blue?" for i in range(10)]
    cells = [kernel.execute(f"%%ollama llama3.2 --bg -o a{i}\n{p}") for i, p in enumerate(prompts)]
    kernel.pump(lambda: all(kernel.idle(c) for c in cells))
    printed = kernel.run("r = await onb.wait()\nprint(sum(x.done for x in r))")
    assert printed.strip() == "10"
    client = Client(ollama_sandbox.url)
    for cell, prompt in zip(cells, prompts):
        assert _final(kernel, cell).startswith(client.generate("llama3.2", prompt).response)


def test_interrupt_an_awaited_pane_cell(kernel: Kernel, ollama_sandbox: Any) -> None:
    """``%%ollama --pane`` is awaited (so Stop clicks are handled); an interrupt still ends it
    in one line with the partial answer kept."""
    ollama_sandbox.token_delay = 0.05
    cell = kernel.execute(f"%%ollama llama3.2 --pane -o partial\n{LONG}")
    kernel.pump(lambda: _sent(ollama_sandbox) >= 10)  # the answer is arriving
    kernel.km.interrupt_kernel()
    kernel.pump(lambda: kernel.idle(cell))
    errors = kernel.of(cell, "error")
    assert [e["content"]["traceback"] for e in errors] == [
        ["KeyboardInterrupt: the partial answer is kept in _ollama"]]
    printed = kernel.run("print(partial.interrupted, partial is _ollama, len(partial.text) > 0)")
    assert printed.strip() == "True True True"
    assert "⏹ interrupted" in _final(kernel, cell)


def test_nbclient_runs_bg_cells_in_the_foreground(ollama_sandbox: Any, tmp_path: Path) -> None:
    """nbclient sends no cell ids and keeps only what arrives while a cell runs."""
    expected = Client(ollama_sandbox.url).generate("llama3.2", PROMPT).response
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (
        "%load_ext ollama_nb", f"%%ollama llama3.2 --bg -o answer\n{PROMPT}",
        "print(answer.text == _ollama.text, answer.pending)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[1].outputs
    assert [o.output_type for o in outputs] == ["display_data"]
    assert outputs[0].data["text/plain"].startswith(expected)
    assert nb.cells[2].outputs[0].text.strip() == "True False"


def _sent(sandbox: Any) -> int:
    """Lines the sandbox has written of its newest generate answer."""
    generate = [r for r in sandbox.requests if r.path == "/api/generate"]
    return generate[-1].chunks if generate else 0


def _click_stop(kernel: Kernel, msg_id: str) -> None:
    """Click the Stop button that cell ``msg_id`` shows, with the message a browser sends."""
    buttons = [m["content"]["comm_id"] for m in kernel.of(msg_id, "comm_open")
               if m["content"]["data"]["state"].get("_model_name") == "ButtonModel"
               and m["content"]["data"]["state"].get("description") == "Stop"]
    assert buttons, "the cell shows no Stop button"
    msg = kernel.kc.session.msg("comm_msg", {"comm_id": buttons[0], "data": {
        "method": "custom", "content": {"event": "click"}}})
    kernel.kc.shell_channel.send(msg)


@pytest.mark.parametrize("pane", [False, True], ids=["control", "pane"])
def test_click_stop_of_a_bg_answer(kernel: Kernel, ollama_sandbox: Any, pane: bool) -> None:
    ollama_sandbox.token_delay = 0.02
    flag = " --pane" if pane else ""
    cell = kernel.execute(f"%%ollama llama3.2 --bg{flag} -o story\n{LONG}")
    kernel.pump(lambda: kernel.idle(cell))
    kernel.pump(lambda: _sent(ollama_sandbox) >= 10)  # the answer is arriving
    _click_stop(kernel, cell)
    printed = kernel.run("r = await onb.wait()\nprint(story.interrupted, _ollama is story, "
                         "len(story.text) > 0, r == [story])")
    assert printed.strip() == "True True True True"
    assert "⏹ interrupted" in _final(kernel, cell)


def test_click_stop_of_a_queued_answer(kernel: Kernel, ollama_sandbox: Any) -> None:
    ollama_sandbox.token_delay = 0.02
    kernel.run("%config OllamaMagics.background_limit = 1")
    first = kernel.execute(f"%%ollama llama3.2 --bg -o a\n{LONG}")
    second = kernel.execute(f"%%ollama llama3.2 --bg -o b\n{PROMPT} (queued)")
    kernel.pump(lambda: kernel.idle(first) and kernel.idle(second))
    _click_stop(kernel, second)  # it waits in the queue behind the first
    printed = kernel.run("print(b.pending, b.interrupted, repr(b.text), a.pending)\n"
                         "%ollama stop all")
    assert printed.startswith("False True '' True\n")
    assert "stopped before it started" in _final(kernel, second)
    prompts = [r.body.get("prompt") for r in ollama_sandbox.requests if r.path == "/api/generate"]
    assert f"{PROMPT} (queued)" not in prompts  # it never sent its request

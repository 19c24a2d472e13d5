"""%%ollama --bg in a real InteractiveShell against the sandbox: the cell returns at once, the
answer streams into its own display handle from a worker thread, ``%ollama stop`` and
``onb.wait()``, the bound and its queue, errors shown in the output, and where ``--bg`` waits.

The shell has no kernel, so no frontend would show output that arrives after a cell; the
``frontend`` fixture says there is one (the one decision a kernel would make from the
execute request). tests/magics/test_background_kernel.py runs the same in a real kernel.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from magic_helpers import run
from traitlets import TraitError

import ollama_nb as onb
from ollama_nb import Client
from ollama_nb.display._interrupt import INTERRUPTED
from ollama_nb.magics import _background
from ollama_nb.magics._result import OllamaResult

PROMPT = "Why is the sky blue?"
LONG = "Tell me about rivers, mountains and forests in 600 words."


@pytest.fixture
def frontend(ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A frontend that shows what arrives after a cell (as JupyterLab's cell ids say)."""
    monkeypatch.setattr(_background, "frontend_shows_later", lambda shell: True)
    ip.user_ns["onb"] = onb
    try:
        yield
    finally:
        for job in _background.answers.pending():
            job.stop()
        onb.wait().result(timeout=30)
        _background.answers.set_limit(4)


def by_display(cap: Any) -> dict[str, list[Any]]:
    """Captured outputs grouped by display id, in order."""
    groups: dict[str, list[Any]] = {}
    for out in cap.outputs:
        groups.setdefault(out.transient.get("display_id"), []).append(out)
    return groups


def streaming(sandbox: Any, chunks: int = 5) -> int:
    """The index of the newest generate request in ``sandbox.requests``, once it has sent
    ``chunks`` (``sandbox.requests`` holds snapshots: read it again for news)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        records = [(i, r) for i, r in enumerate(sandbox.requests) if r.path == "/api/generate"]
        if records and records[-1][1].chunks >= chunks:
            return records[-1][0]
        time.sleep(0.02)
    raise AssertionError("the answer did not start streaming")


def expected(sandbox: Any, prompt: str) -> str:
    return Client(sandbox.url).generate("llama3.2", prompt).response


def test_the_cell_returns_at_once_and_the_answer_lands_in_its_own_output(
        ip: InteractiveShell, ollama_sandbox: Any, frontend: None) -> None:
    ollama_sandbox.token_delay = 0.02  # about 60 tokens: over a second of streaming
    with capture_output() as cap:
        assert run(ip, f"%%ollama llama3.2 --bg -o answer\n{PROMPT}") is None
        answer = ip.user_ns["answer"]
        assert isinstance(answer, OllamaResult) and answer.pending  # the cell has returned
        assert "_ollama" not in ip.user_ns  # set when the answer ends
        assert "pending" in repr(answer) and "#" in repr(answer)
        run(ip, "x = 6 * 7")  # the kernel is free: other cells run meanwhile
        assert answer.pending and ip.user_ns["x"] == 42
        run(ip, "results = await onb.wait()")
    assert ip.user_ns["results"] == [answer] and not answer.pending
    assert ip.user_ns["_ollama"] is answer and answer.done
    text = expected(ollama_sandbox, PROMPT)
    assert answer.text == text
    groups = by_display(cap)
    assert len(groups) == 1  # one output: the answer (no widget frontend: no Stop control)
    (outs,) = groups.values()
    assert not outs[0].update and all(o.update for o in outs[1:]) and len(outs) > 2
    final = outs[-1].data["text/plain"]
    assert final.startswith(text) and "llama3.2 · " in final


def test_await_the_result_itself(ip: InteractiveShell, ollama_sandbox: Any, frontend: None) -> None:
    ollama_sandbox.token_delay = 0.01
    with capture_output():
        run(ip, f"%%ollama llama3.2 --bg -o a\n{PROMPT}")
        run(ip, "r = await a\ndone, same = r.done, r is a")
    assert ip.user_ns["done"] and ip.user_ns["same"]
    assert ip.user_ns["_ollama"] is ip.user_ns["a"]


def test_stop_keeps_the_partial_answer_and_closes_the_connection(
        ip: InteractiveShell, ollama_sandbox: Any, frontend: None) -> None:
    ollama_sandbox.token_delay = 0.02
    with capture_output() as cap:
        run(ip, f"%%ollama llama3.2 --bg -o story\n{LONG}")
        story = ip.user_ns["story"]
        index = streaming(ollama_sandbox)
        run(ip, "%ollama stop")
    sent = ollama_sandbox.requests[index].chunks
    assert not story.pending and story.interrupted and not story.done
    assert ip.user_ns["_ollama"] is story and 0 < len(story.text)
    assert "⏹ stopped #" in cap.stdout and "characters kept" in cap.stdout
    final = by_display(cap)[cap.outputs[0].transient["display_id"]][-1].data["text/plain"]
    assert final.startswith(story.text) and INTERRUPTED in final
    deadline = time.monotonic() + 20
    while not (record := ollama_sandbox.requests[index]).disconnected \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    assert record.disconnected
    assert record.chunks <= sent + 2 and record.chunks < 300  # it stopped, the server noticed


def test_stop_all_numbers_and_usage(ip: InteractiveShell, ollama_sandbox: Any,
                                    frontend: None) -> None:
    ollama_sandbox.token_delay = 0.02
    with capture_output() as cap:
        run(ip, "%ollama stop")
        assert cap.stdout.strip() == "no background answer is streaming"
        for i in range(3):
            run(ip, f"%%ollama llama3.2 --bg -o r{i}\n{LONG} ({i})")
        first = ip.user_ns["r0"].background.number
        run(ip, f"%ollama stop {first + 1}")
        assert ip.user_ns["r1"].interrupted and ip.user_ns["r0"].pending
        with pytest.raises(UsageError, match=r"no background answer #999 is streaming"):
            run(ip, "%ollama stop 999")
        with pytest.raises(UsageError, match=r"expected `all` or the number"):
            run(ip, "%ollama stop soon")
        run(ip, "%ollama stop all")
    assert all(ip.user_ns[f"r{i}"].interrupted for i in range(3))
    assert not _background.answers.pending()


def test_the_bound_queues_the_rest_in_order(ip: InteractiveShell, ollama_sandbox: Any,
                                            frontend: None) -> None:
    ollama_sandbox.token_delay = 0.01
    with capture_output() as cap:
        run(ip, "%config OllamaMagics.background_limit = 2")
        for i in range(5):
            run(ip, f"%%ollama llama3.2 --bg -o q{i}\nQuestion {i}: {PROMPT}")
        states = [job.state for job in _background.answers.pending()]
        assert states == ["running", "running", "queued", "queued", "queued"]
        run(ip, f"%ollama stop {ip.user_ns['q3'].background.number}")  # a queued one
        assert ip.user_ns["q3"].interrupted and ip.user_ns["q3"].text == ""
        run(ip, "results = await onb.wait()")
    assert [r.done for r in ip.user_ns["results"]] == [True, True, True, True]
    for i in (0, 1, 2, 4):
        assert ip.user_ns[f"q{i}"].text == expected(ollama_sandbox, f"Question {i}: {PROMPT}")
    # the one stopped in the queue sent no request and says so in its own output
    prompts = [r.body.get("prompt") for r in ollama_sandbox.requests if r.path == "/api/generate"]
    assert f"Question 3: {PROMPT}" not in prompts
    finals = [outs[-1].data["text/plain"] for outs in by_display(cap).values()]
    assert "⏹ stopped before it started" in finals
    with pytest.raises(TraitError, match="background_limit must be >= 1"):
        ip.magics_manager.registry["OllamaMagics"].background_limit = 0


def test_ten_background_answers_at_once(ip: InteractiveShell, ollama_sandbox: Any,
                                        frontend: None) -> None:
    ollama_sandbox.token_delay = 0.01
    prompts = [f"Question {i}: why are {topic} the way they are?" for i, topic in
               enumerate(["rivers", "mountains", "forests", "glaciers", "deserts", "oceans",
                          "clouds", "volcanoes", "caves", "islands"])]
    with capture_output() as cap:
        run(ip, "%config OllamaMagics.background_limit = 10")
        for i, prompt in enumerate(prompts):
            run(ip, f"%%ollama llama3.2 --bg -o a{i}\n{prompt}")
        assert [job.state for job in _background.answers.pending()] == ["running"] * 10
        run(ip, "results = await onb.wait()")
    results = ip.user_ns["results"]
    assert [r.text for r in results] == [expected(ollama_sandbox, p) for p in prompts]
    groups = list(by_display(cap).values())
    assert len(groups) == 10  # each answer in its own output ...
    finals = [outs[-1].data["text/plain"] for outs in groups]
    for result, final in zip(results, finals):  # ... holding its own answer
        assert final.startswith(result.text) and result.done


def test_errors_end_in_the_output_in_one_line(ip: InteractiveShell, ollama_sandbox: Any,
                                              frontend: None) -> None:
    ollama_sandbox.token_delay = 0.005
    ollama_sandbox.inject("error_after", n=5, message="model runner has unexpectedly stopped")
    with capture_output() as cap:
        run(ip, f"%%ollama llama3.2 --bg -o broken\n{PROMPT}")  # nothing is raised in the cell
        run(ip, "results = await onb.wait()")
        run(ip, "%%ollama llama3.2 --bg --host http://127.0.0.1:9 -o gone\nhello")
        run(ip, "await onb.wait()")
    broken, gone = ip.user_ns["broken"], ip.user_ns["gone"]
    assert "model runner has unexpectedly stopped" in broken.error and broken.text
    assert "partial answer is kept" in broken.error and not broken.done
    assert gone.error and "127.0.0.1:9" in gone.error and gone.text == ""
    assert ip.user_ns["_ollama"] is gone
    finals = [outs[-1].data for outs in by_display(cap).values()]
    assert finals[0]["text/plain"].startswith(broken.text)
    assert finals[0]["text/plain"].rstrip().endswith(f"✖ {broken.error}")
    assert finals[1]["text/plain"] == f"✖ {gone.error}"  # one line, nothing else
    assert "\n" not in gone.error


def test_a_chat_answering_in_the_background_takes_no_second_turn(
        ip: InteractiveShell, ollama_sandbox: Any, frontend: None) -> None:
    ollama_sandbox.token_delay = 0.02
    with capture_output():
        run(ip, f"%%ollama llama3.2 --chat trip --bg\n{LONG}")
        with pytest.raises(UsageError, match=r"chat 'trip' is still answering in the background"):
            run(ip, "%%ollama llama3.2 --chat trip\nAnd then?")
        run(ip, "await onb.wait()")
        run(ip, "%%ollama llama3.2 --chat trip\nAnd then?")
    from ollama_nb.client._chat import chats

    assert [m["role"] for m in chats.get("trip").messages] == ["user", "assistant"] * 2


def test_an_answer_gives_its_chat_back_before_it_wakes_a_waiter(
        ip: InteractiveShell, ollama_sandbox: Any, frontend: None) -> None:
    # What a waiter sees when the answer's future resolves (a done-callback runs right
    # there, in the answering thread): the chat free, the answer no longer pending.
    ollama_sandbox.token_delay = 0.02
    seen: list[tuple[object, list[Any]]] = []
    with capture_output():
        run(ip, f"%%ollama llama3.2 --chat talk --bg -o reply\n{LONG}")
        job = ip.user_ns["reply"].background
        assert not job.done  # so the callback runs when the answer ends, not now
        job.future.add_done_callback(
            lambda _: seen.append((_background.answers.chat_busy("talk"),
                                   _background.answers.pending())))
        run(ip, "await onb.wait()")
    assert seen == [(None, [])]


def test_background_setting_and_no_bg(ip: InteractiveShell, ollama_sandbox: Any,
                                      frontend: None) -> None:
    ollama_sandbox.token_delay = 0.01
    with capture_output():
        run(ip, "%config OllamaMagics.background = True")
        run(ip, f"%%ollama llama3.2 -o a\n{PROMPT}")
        assert ip.user_ns["a"].pending
        run(ip, f"%%ollama llama3.2 --no-bg -o b\n{PROMPT}")
        assert ip.user_ns["b"].done and ip.user_ns["b"].background is None
        run(ip, "await onb.wait()")
    with pytest.raises(UsageError, match="not allowed with argument"):
        run(ip, f"%%ollama llama3.2 --bg --no-bg\n{PROMPT}")


def test_without_a_frontend_bg_waits_for_its_answer(ip: InteractiveShell,
                                                    ollama_sandbox: Any) -> None:
    """Terminal IPython, nbclient, nbval: output after the cell would be lost, so it waits."""
    with capture_output() as cap:
        run(ip, f"%%ollama llama3.2 --bg -o a\n{PROMPT}")
    answer = ip.user_ns["a"]
    assert answer.done and answer.background is None and ip.user_ns["_ollama"] is answer
    assert cap.outputs[-1].data["text/plain"].startswith(answer.text)
    assert not _background.answers.pending()


def test_final_display_mode_waits_too(ip: InteractiveShell, ollama_sandbox: Any,
                                      frontend: None) -> None:
    with capture_output() as cap:
        run(ip, "%config OllamaMagics.display_mode = 'final'")
        run(ip, f"%%ollama llama3.2 --bg -o a\n{PROMPT}")
    assert ip.user_ns["a"].done and len(cap.outputs) == 1 and not cap.outputs[0].update


def test_wait_arguments_timeout_and_repr(ip: InteractiveShell, ollama_sandbox: Any,
                                         frontend: None) -> None:
    ollama_sandbox.token_delay = 0.05
    with capture_output():
        run(ip, f"%%ollama llama3.2 --bg -o slow\n{LONG}")
        run(ip, f"%%ollama llama3.2 --no-bg -o quick\n{PROMPT}")
    slow, quick = ip.user_ns["slow"], ip.user_ns["quick"]
    waiting = onb.wait(slow, quick)
    assert repr(waiting) == f"<onb.wait() for background answers {slow.background.label}: `await` it>"
    with pytest.raises(TimeoutError, match=r"still streaming after 0.2s"):
        waiting.result(timeout=0.2)
    with pytest.raises(TypeError, match="takes results of %%ollama --bg"):
        onb.wait("not a result")  # type: ignore[arg-type]
    assert "still streaming in the background" in slow._repr_mimebundle_()["text/plain"]
    slow.background.stop()
    assert onb.wait(slow).result(timeout=10) == [slow] and slow.interrupted

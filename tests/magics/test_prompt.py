"""%%ollama prompts through a real InteractiveShell against the sandbox (and a scripted server).

Assertions are on the display message sequence captured by ``capture_output``:
first display, throttled ``update_display_data``, final bundle.
"""

from __future__ import annotations

import base64
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from magic_helpers import ScriptedServer, run, run_interrupted
from test_render import live_markup

from ollama_nb import Client
from ollama_nb.magics._result import OllamaResult


def outputs(cap: Any) -> list[Any]:
    return list(cap.outputs)


def check_sequence(outs: list[Any]) -> dict[str, str]:
    """One display id, first a display, then only updates; returns the final bundle."""
    assert outs, "nothing displayed"
    assert not outs[0].update
    ids = {o.transient.get("display_id") for o in outs}
    assert len(ids) == 1 and None not in ids
    assert all(o.update for o in outs[1:])
    final = outs[-1].data
    assert set(final) == {"text/plain", "text/html"}
    return final


def test_answer_streams_and_ends_rendered(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    ollama_sandbox.token_delay = 0.002
    with capture_output() as cap:
        assert run(ip, "%%ollama llama3.2 --seed 1 -o answer\nWhy is the sky blue?") is None
    final = check_sequence(outputs(cap))
    body = ollama_sandbox.requests[-1].body
    assert body["model"] == "llama3.2" and body.get("stream", True) is True
    result = ip.user_ns["_ollama"]
    assert isinstance(result, OllamaResult) and ip.user_ns["answer"] is result
    expected = Client(ollama_sandbox.url).generate("llama3.2", "Why is the sky blue?",
                                                   options={"seed": 1}).response
    assert result.text == expected and result.done and not result.interrupted
    assert final["text/plain"].startswith(expected)
    assert "llama3.2 · " in final["text/plain"] and " tokens · " in final["text/plain"]
    assert f"<p>{expected.split('.')[0]}" in final["text/html"]
    assert result.stats.eval_count and result.stats.model == "llama3.2"
    assert result.request["prompt"] == "Why is the sky blue?" and result.request["options"] == {"seed": 1}


def test_every_option_reaches_the_request(ip: InteractiveShell, ollama_sandbox: Any, tmp_path: Path) -> None:
    ip.user_ns["pic"] = b"\x89PNG\r\n\x1a\n..."  # image bytes are checked like the client does
    picture = tmp_path / "p.png"
    picture.write_bytes(b"\xff\xd8\xff png2")
    line = (f"-m qwen3 -s 'You are terse.' --temperature 0.2 --seed 7 --num-predict 30 --num-ctx 2048 "
            f"--stop END --stop '###' -O top_k=5 -O numa=false --no-think --images pic "
            f"--images {picture} --keep-alive 10m --host {ollama_sandbox.url} --timeout 20 "
            f"--format text -o out")
    with capture_output():
        run(ip, f"%%ollama {line}\nhello {{{{1 + 1}}}} {{json}}")
    body = ollama_sandbox.requests[-1].body
    assert body["prompt"] == "hello 2 {json}" and body["system"] == "You are terse."
    assert body["options"] == {"temperature": 0.2, "seed": 7, "num_predict": 30, "num_ctx": 2048,
                               "stop": ["END", "###"], "top_k": 5, "numa": False}
    assert body["think"] is False and body["keep_alive"] == "10m"
    assert body["images"] == [base64.b64encode(b"\x89PNG\r\n\x1a\n...").decode(),
                              base64.b64encode(b"\xff\xd8\xff png2").decode()]
    out = ip.user_ns["out"]
    assert out.fmt == "text" and out.request["images"][0].endswith("base64 chars>")
    # --raw, --no-stream and --no-interpolate
    with capture_output() as cap:
        run(ip, "%%ollama llama3.2 --raw --no-stream --no-interpolate\nkeep {{this}}")
    body = ollama_sandbox.requests[-1].body
    assert body["raw"] is True and body["stream"] is False and body["prompt"] == "keep {{this}}"
    assert len(cap.outputs) == 1 and not cap.outputs[0].update  # no stream: one display
    assert ip.user_ns["_ollama"].text


def test_default_options_and_model_from_config(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    run(ip, "%config OllamaMagics.options = {'temperature': 0, 'num_ctx': 1024}")
    run(ip, "%ollama model qwen3")
    with capture_output():
        run(ip, "%%ollama --temperature 0.5\nhi")
    body = ollama_sandbox.requests[-1].body
    assert body["model"] == "qwen3" and body["options"] == {"temperature": 0.5, "num_ctx": 1024}


def test_thinking_is_collapsed_and_apart(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    with capture_output() as cap:
        run(ip, "%%ollama qwen3 --think\nExplain tides")
    result = ip.user_ns["_ollama"]
    assert result.thinking and result.text and result.thinking not in result.text
    final = check_sequence(outputs(cap))
    assert result.thinking not in final["text/plain"]
    html = final["text/html"]
    assert html.startswith('<div class="ollama-nb-answer ')
    assert html.index('<details class="ollama-nb-thinking">') < html.index("</details>") \
        < html.index(result.text[:20])


def test_json_and_schema(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    ip.user_ns["Person"] = {"type": "object", "properties": {"name": {"type": "string"},
                                                             "age": {"type": "integer"}},
                            "required": ["name", "age"]}
    with capture_output() as cap:
        run(ip, "%%ollama llama3.2 --schema Person\nInvent a person")
    result = ip.user_ns["_ollama"]
    assert set(result.json) == {"name", "age"} and isinstance(result.json["age"], int)
    assert ollama_sandbox.requests[-1].body["format"] == ip.user_ns["Person"]
    assert result.fmt == "json" and cap.outputs[-1].data["text/plain"].startswith("{\n  ")
    with capture_output():
        run(ip, "%%ollama llama3.2 --json\nlist three colours as JSON")
    assert ollama_sandbox.requests[-1].body["format"] == "json" and ip.user_ns["_ollama"].json is not None


def test_format_code(ip: InteractiveShell, scripted: ScriptedServer) -> None:
    scripted.tokens = ["Here:\n", "```python\n", "print(1)\n", "```\n", "Done."]
    with capture_output() as cap:
        run(ip, f"%%ollama m --host {scripted.url} --format code\nwrite code")
    assert cap.outputs[-1].data["text/plain"].startswith("print(1)\n\nm · 5 tokens")


def test_throttled_updates_for_a_fast_2000_token_stream(ip: InteractiveShell, scripted: ScriptedServer) -> None:
    scripted.tokens = [f"w{i} " for i in range(2000)]
    rate = 10.0
    started = time.monotonic()
    with capture_output() as cap:
        run(ip, f"%%ollama m --host {scripted.url}\ngo")
    elapsed = time.monotonic() - started
    outs = outputs(cap)
    final = check_sequence(outs)
    intermediate = len(outs) - 2
    assert intermediate <= elapsed * rate + 2, (intermediate, elapsed)
    assert final["text/plain"].startswith("w0 w1 ") and "w1999" in final["text/plain"]
    assert ip.user_ns["_ollama"].text == "".join(scripted.tokens)
    # intermediate updates are cheap: escaped text, no Markdown
    for o in outs[1:-1]:
        assert '<div class="ollama-nb-answer">' not in o.data["text/html"]


def test_throttled_updates_for_a_2000_token_sandbox_answer(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    """The same bound against the sandbox, which follows a prompt's request for 2,000 words."""
    rate = 10.0
    started = time.monotonic()
    with capture_output() as cap:
        run(ip, "%%ollama llama3.2 --seed 7\nExplain rivers in 2000 words.")
    elapsed = time.monotonic() - started
    outs = outputs(cap)
    final = check_sequence(outs)
    result = ip.user_ns["_ollama"]
    assert result.stats.eval_count >= 2000
    assert len(outs) - 2 <= elapsed * rate + 2, (len(outs), elapsed)
    assert result.text.split()[0] in final["text/plain"] and "ollama-nb-answer" in final["text/html"]


def test_update_rate_zero_and_final_mode(ip: InteractiveShell, scripted: ScriptedServer,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    scripted.tokens = ["a "] * 50
    run(ip, "%config OllamaMagics.update_rate = 0")
    with capture_output() as cap:
        run(ip, f"%%ollama m --host {scripted.url}\ngo")
    assert [o.update for o in cap.outputs] == [False, True]
    monkeypatch.setenv("OLLAMA_NB_DISPLAY", "final")
    run(ip, "%config OllamaMagics.update_rate = 10")
    with capture_output() as cap:
        run(ip, f"%%ollama m --host {scripted.url}\ngo")
    assert len(cap.outputs) == 1 and not cap.outputs[0].update and not cap.outputs[0].transient
    assert cap.outputs[0].data["text/plain"].startswith("a a a")
    monkeypatch.delenv("OLLAMA_NB_DISPLAY")
    run(ip, "%config OllamaMagics.display_mode = 'final'")
    run(ip, "%config OllamaMagics.show_stats = False")
    with capture_output() as cap:
        run(ip, f"%%ollama m --host {scripted.url}\ngo")
    assert len(cap.outputs) == 1 and cap.outputs[0].data["text/plain"] == "a " * 50


def test_hostile_model_output_is_inert_end_to_end(ip: InteractiveShell, scripted: ScriptedServer) -> None:
    scripted.tokens = ["Look: ", "<script>alert(1)</script>", " <img src=x ", "onerror=alert(2)>",
                       " [x](javascript:alert(3))", " ![p](https://evil.example/leak.png)"]
    scripted.thinking = ["<svg onload=alert(4)>"]
    run(ip, "%config OllamaMagics.update_rate = 1000")
    with capture_output() as cap:
        run(ip, f"%%ollama m --host {scripted.url}\nhi")
    for o in cap.outputs:
        assert live_markup(o.data["text/html"]) == [], o.data["text/html"]
    final = cap.outputs[-1].data["text/html"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in final and "javascript:alert(3)" in final
    assert live_markup(ip.user_ns["_ollama"]._repr_mimebundle_()["text/html"]) == []


def test_chat_sessions_keep_history(ip: InteractiveShell, ollama_sandbox: Any, tmp_path: Path) -> None:
    ip.user_ns["img"] = b"GIF89a fake image"
    with capture_output():
        run(ip, "%%ollama llama3.2 --chat trip -s 'You plan trips.'\nPlan a day in Lisbon")
        first = ip.user_ns["_ollama"].text
        run(ip, "%%ollama llama3.2 --chat trip --images img\nAnd the evening?")
    body = ollama_sandbox.requests[-1].body
    assert ollama_sandbox.requests[-1].path == "/api/chat"
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
    assert body["messages"][2]["content"] == first
    assert body["messages"][3]["images"] == [base64.b64encode(b"GIF89a fake image").decode()]
    assert ip.user_ns["_ollama"].chat == "trip"
    frame = run(ip, "%ollama chat trip --history")
    assert frame["role"].tolist() == ["system", "user", "assistant", "user", "assistant"]
    assert frame["images"].tolist() == [0, 0, 0, 1, 0]
    assert run(ip, "%ollama chat trip").equals(frame)
    saved = tmp_path / "trip.jsonl"
    run(ip, f"%ollama chat trip --save {saved}")
    assert len(saved.read_text().splitlines()) == 5
    # the history limit trims what is sent, never what is kept
    run(ip, "%config OllamaMagics.history_limit = 2")
    with capture_output():
        run(ip, "%%ollama llama3.2 --chat trip\nAnd tomorrow?")
    sent = ollama_sandbox.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user"] and sent[1]["content"] == "And tomorrow?"
    assert len(run(ip, "%ollama chat trip --history")) == 7
    run(ip, "%ollama chat trip --reset")
    assert len(run(ip, "%ollama chat trip --history")) == 0
    with capture_output():
        run(ip, "%%ollama llama3.2 --chat\nhello")  # default chat name
    assert ip.user_ns["_ollama"].chat == "default"
    with pytest.raises(UsageError, match="--raw works only without --chat"):
        run(ip, "%%ollama llama3.2 --chat --raw\nhello")


def test_chat_keeps_tool_calls(ip: InteractiveShell, scripted: ScriptedServer) -> None:
    from ollama_nb.client._chat import chats

    chat = chats.get("tools")
    chat.add("user", "weather?")
    chat.add("assistant", "", tool_calls=[{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}])
    chat.add("tool", "-3 C", tool_name="get_weather")
    with capture_output():
        run(ip, f"%%ollama m --host {scripted.url} --chat tools\nand tomorrow?")
    sent = scripted.bodies[-1]["messages"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[2] == {"role": "tool", "content": "-3 C", "tool_name": "get_weather"}
    assert [m["role"] for m in chat.messages] == ["user", "assistant", "tool", "user", "assistant"]


def test_unreachable_host(ip: InteractiveShell) -> None:
    unreachable = r"Cannot reach Ollama at http://127\.0\.0\.1:9.*ollama serve"
    with capture_output() as cap, pytest.raises(UsageError, match=unreachable) as info:
        run(ip, "%%ollama llama3.2 --host http://127.0.0.1:9\nhi")
    assert "\n" not in str(info.value)
    # said once: the placeholder is removed, no grey copy of the error, no bare model-name line
    assert cap.outputs[-1].update and cap.outputs[-1].data == {}
    assert ip.user_ns["_ollama"].error and not ip.user_ns["_ollama"].text


def test_missing_model_suggests_pull(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    with capture_output(), pytest.raises(UsageError, match=r"%ollama pull nosuchmodel"):
        run(ip, "%%ollama nosuchmodel\nhi")


def test_server_error_before_stream(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    ollama_sandbox.inject("error", status=500, message="model runner crashed")
    with capture_output(), pytest.raises(UsageError, match="model runner crashed"):
        run(ip, "%%ollama llama3.2\nhi")


def test_server_error_mid_stream_keeps_partial(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    ollama_sandbox.inject("error_after", n=5, message="CUDA out of memory")
    with capture_output() as cap, pytest.raises(UsageError, match="CUDA out of memory"):
        run(ip, "%%ollama llama3.2 -o partial\nTell me about rivers")
    result = ip.user_ns["_ollama"]
    assert ip.user_ns["partial"] is result
    assert result.text and result.error and "CUDA out of memory" in result.error and not result.done
    final = cap.outputs[-1].data["text/plain"]
    # the partial answer stays, marked; the error's text is the UsageError's alone
    assert final.startswith(result.text) and "✖ incomplete" in final
    assert "CUDA out of memory" not in final and "tokens" not in final  # no stats: never done


def test_dropped_connection_keeps_partial(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    ollama_sandbox.inject("drop_after", n=4)
    with capture_output(), pytest.raises(UsageError):
        run(ip, "%%ollama llama3.2\nTell me about rivers")
    result = ip.user_ns["_ollama"]
    assert result.text and result.error


def test_keyboard_interrupt_mid_stream(ip: InteractiveShell, ollama_sandbox: Any,
                                       default_sigint: None) -> None:
    """A real SIGINT while the magic reads the stream: partial kept, marked, stored, re-raised."""
    ollama_sandbox.token_delay = 0.05
    cap = run_interrupted(ip, "%%ollama llama3.2 -o stopped\nTell me a long story about rivers",
                          lambda outs: len(outs) >= 2,  # first update: tokens arrived
                          "the partial answer is kept in _ollama")
    stored = ip.user_ns["_ollama"]
    assert ip.user_ns["stopped"] is stored and stored.interrupted and stored.text
    final = cap.outputs[-1].data
    assert final["text/plain"].startswith(stored.text) and "⏹ interrupted" in final["text/plain"]
    deadline = time.monotonic() + 20
    while not ollama_sandbox.requests[-1].disconnected and time.monotonic() < deadline:
        time.sleep(0.02)
    assert ollama_sandbox.requests[-1].disconnected


def test_stop_from_a_view(ip: InteractiveShell, scripted: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The --pane seam: a view whose stop_requested is set ends the stream, partial kept."""
    from ollama_nb.magics import _magics

    class Pane:
        def __init__(self) -> None:
            self.stop_requested = threading.Event()
            self.texts: list[str] = []
            self.result: Any = None

        def start(self, model: str) -> None:
            pass

        def update(self, text: str, thinking: str) -> None:
            self.texts.append(text)
            if len(self.texts) == 1:
                self.stop_requested.set()

        def finish(self, result: Any) -> None:
            self.result = result

    pane = Pane()
    monkeypatch.setattr(_magics.OllamaMagics, "_pane", lambda self: pane)
    scripted.tokens = [f"t{i} " for i in range(3000)]
    scripted.token_delay = 0.005  # 15 s in all: the stop must end it long before
    run(ip, "%config OllamaMagics.update_rate = 1000")
    with capture_output() as cap:
        run(ip, f"%%ollama m --host {scripted.url} --pane\ngo")
    result = ip.user_ns["_ollama"]
    assert result.interrupted and pane.result is result and 0 < len(result.text) < len("".join(scripted.tokens))
    assert "⏹ interrupted" in cap.outputs[-1].data["text/plain"]
    assert scripted.disconnected.wait(20)


def test_pane_with_the_real_stream_pane(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    """--pane: the pane *is* the output while the answer streams; the final answer replaces it.

    One answer on screen (no plain copy streaming below the pane), one in the saved file
    (an ordinary display_data, not a widget that needs its state).
    """
    pytest.importorskip("ipywidgets")
    from ollama_nb.widgets import StreamPane

    created: list[Any] = []
    original = StreamPane.__init__

    def spy(self: Any, **kwargs: Any) -> None:
        original(self, **kwargs)
        created.append(self)

    ollama_sandbox.token_delay = 0.01
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(StreamPane, "__init__", spy)
        with capture_output() as cap:
            run(ip, "%%ollama llama3.2 --pane\nWhy is the sky blue?")
    (pane,) = created
    outs = outputs(cap)
    widget, final_out = outs[0], outs[-1]
    assert "application/vnd.jupyter.widget-view+json" in widget.data and not widget.update
    assert len(outs) == 2, "no streaming copy beside the pane: the pane alone shows it live"
    assert final_out.update and final_out.transient == widget.transient  # the same output
    final = final_out.data
    assert set(final) == {"text/plain", "text/html"}
    result = ip.user_ns["_ollama"]
    assert pane.result is result and final["text/plain"].startswith(result.text)
    assert pane.updates >= 2 and pane.text == result.text  # it streamed into the pane
    assert pane.comm is None, "replaced, so closed (its comm is gone)"


def test_pane_is_left_out_in_final_mode(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    """nbval/nbconvert (final display mode): no widget at all, so no stale repr is saved."""
    run(ip, "%config OllamaMagics.display_mode = 'final'")
    try:
        with capture_output() as cap:
            run(ip, "%%ollama llama3.2 --pane\nWhy is the sky blue?")
    finally:
        run(ip, "%config OllamaMagics.display_mode = 'auto'")
    (only,) = cap.outputs
    assert set(only.data) == {"text/plain", "text/html"} and "StreamPane" not in str(only.data)


def test_read_timeout_mid_stream_keeps_partial(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    ollama_sandbox.inject("stall", seconds=3, n=3)
    with capture_output() as cap, pytest.raises(UsageError) as info:
        run(ip, "%%ollama llama3.2 --timeout 0.5\nTell me about rivers")
    assert "\n" not in str(info.value) and "tim" in str(info.value).lower()
    result = ip.user_ns["_ollama"]
    assert result.text and result.error and "✖" in cap.outputs[-1].data["text/plain"]


def test_view_closing_the_stream_ends_a_stalled_read(ip: InteractiveShell, ollama_sandbox: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A view given the stream (attach) can close it from another thread while the read blocks."""
    from ollama_nb.magics import _magics

    class Pane:
        stop_requested = threading.Event()

        def start(self, model: str) -> None:
            pass

        def attach(self, stream: Any) -> None:
            self.timer = threading.Timer(0.3, stream.close)  # a Stop click during the stall
            self.timer.start()

        def update(self, text: str, thinking: str) -> None:
            pass

        def finish(self, result: Any) -> None:
            self.result = result

    pane = Pane()
    monkeypatch.setattr(_magics.OllamaMagics, "_pane", lambda self: pane)
    ollama_sandbox.inject("stall", seconds=5, n=3)
    with capture_output() as cap:
        run(ip, "%%ollama llama3.2 --pane\nTell me about rivers")  # no exception: a stop, not an error
    pane.timer.join()
    result = ip.user_ns["_ollama"]
    assert result.interrupted and not result.error and pane.result is result
    ollama_sandbox.clear_faults()
    full = Client(ollama_sandbox.url).generate("llama3.2", "Tell me about rivers").response
    assert result.text and full.startswith(result.text) and len(result.text) < len(full)
    assert "⏹ interrupted" in cap.outputs[-1].data["text/plain"]


def test_plain_terminal_streams_to_stdout(ip: InteractiveShell, scripted: ScriptedServer,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Without a rich frontend (terminal IPython) tokens are printed once, as they arrive."""
    scripted.tokens = [f"w{i} " for i in range(300)]
    run(ip, "%config OllamaMagics.update_rate = 1000")
    capsys.readouterr()
    run(ip, f"%%ollama m --host {scripted.url}\ngo")  # no capture_output: the shell's own publisher
    out = capsys.readouterr().out
    answer = "".join(scripted.tokens)
    assert out.count("w299") == 1 and out.startswith(answer)
    assert out.rstrip().endswith("m · 300 tokens · 300.0 tok/s · load 0.10 s")
    assert ip.user_ns["_ollama"].text == answer


def test_an_embedding_model_asked_to_answer_says_what_to_do(ip: InteractiveShell,
                                                            ollama_sandbox: Any) -> None:
    with capture_output(), pytest.raises(UsageError) as info:
        run(ip, "%%ollama all-minilm\nhi")
    message = str(info.value)
    assert '"all-minilm" does not support generate' in message  # the server's own words
    assert "all-minilm is an embedding model" in message and "%%ollama embed all-minilm" in message
    assert "%ollama models" in message and "\n" not in message

"""Every %ollama subcommand through a real InteractiveShell against the sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from magic_helpers import run

from ollama_nb.magics._magics import OllamaMagics


def test_models_and_ps(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    frame = run(ip, "%ollama models")
    assert {"name", "family", "parameter_size", "quantization", "size", "modified", "digest"} <= set(frame.columns)
    assert "llama3.2:latest" in set(frame["name"])
    with capture_output():
        run(ip, "%%ollama llama3.2\nhi")  # loads the model
    loaded = run(ip, "%ollama ps")
    assert "llama3.2:latest" in set(loaded["name"])
    assert {"size", "context_length"} <= set(loaded.columns)
    explicit = run(ip, f"%ollama models --host {ollama_sandbox.url}")
    assert len(explicit) == len(frame)


def test_show(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    card = run(ip, "%ollama show llama3.2")
    text, html = repr(card), card._repr_html_()
    assert text.startswith("llama3.2") and "capabilities: completion, tools" in text
    assert "family: llama" in text and "template" in text and "license" in text
    assert "<table>" in html and "<script" not in html
    assert card.details["family"] == "llama"
    with pytest.raises(UsageError, match=r"%ollama pull nosuch"):
        run(ip, "%ollama show nosuch")


def test_pull_shows_text_progress_and_installs(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    with capture_output() as cap:
        run(ip, "%ollama pull gemma3:1b")
    outs = cap.outputs
    assert not outs[0].update and all(o.update for o in outs[1:])
    final = outs[-1].data["text/plain"]
    assert final.startswith("pull gemma3:1b") and final.rstrip().endswith("success")
    assert "%" in final and "GB" in final or "MB" in final  # one line per layer with bytes
    assert "gemma3:1b" in set(run(ip, "%ollama models")["name"])


def test_pull_unknown_model_is_one_line(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    """One error, once: the UsageError says it (no "mid-stream after 1 chunks"); the progress
    output, which had nothing to show, is removed."""
    with capture_output() as cap, pytest.raises(UsageError) as info:
        run(ip, "%ollama pull no-such-model-xyz")
    message = str(info.value)
    assert "\n" not in message and "mid-stream" not in message and "chunks" not in message
    assert message.startswith("the registry has no model 'no-such-model-xyz'")
    assert "ollama.com/library" in message
    assert cap.outputs[-1].data == {}
    shown = "".join(o.data.get("text/plain", "") for o in cap.outputs)
    assert "file does not exist" not in shown and "✖" not in shown


def test_push(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    with capture_output() as cap:
        try:
            run(ip, "%ollama push llama3.2")
        except UsageError as exc:  # the sandbox may refuse to push a library model
            assert "\n" not in str(exc)
            assert "✖" in cap.outputs[-1].data["text/plain"]
            return
    assert cap.outputs[-1].data["text/plain"].startswith("push llama3.2")


def test_create_from_modelfile_cell(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    with capture_output() as cap:
        run(ip, "%%ollama create pirate\nFROM llama3.2\nSYSTEM You talk like a pirate.\nPARAMETER temperature 0.3\n")
    assert cap.outputs[-1].data["text/plain"].rstrip().endswith("success")
    create = [r for r in ollama_sandbox.requests if r.path == "/api/create"][-1]
    assert create.body["from"] == "llama3.2" and create.body["system"] == "You talk like a pirate."
    assert create.body["parameters"] == {"temperature": 0.3}
    card = run(ip, "%ollama show pirate")
    assert "pirate" in repr(card).lower()
    with capture_output(), pytest.raises(UsageError):
        run(ip, "%%ollama create broken\nNOTAKEYWORD x\n")


def test_cp_and_rm(ip: InteractiveShell, ollama_sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run(ip, "%ollama cp llama3.2 mycopy")
    assert "copied llama3.2 → mycopy" in capsys.readouterr().out
    assert "mycopy:latest" in set(run(ip, "%ollama models")["name"])
    run(ip, "%ollama rm mycopy")
    assert "deleted mycopy" in capsys.readouterr().out
    assert "mycopy:latest" not in set(run(ip, "%ollama models")["name"])
    with pytest.raises(UsageError, match="mycopy"):
        run(ip, "%ollama rm mycopy")
    with pytest.raises(UsageError, match="required: destination"):
        run(ip, "%ollama cp llama3.2")


def test_embed_cell_and_from(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    # nomic-embed-text is the sandbox's fast hashing embedder (all-minilm runs a real network)
    run(ip, "%config OllamaMagics.embed_model = 'nomic-embed-text'")
    ip.user_ns["w"] = "a bird flew"
    frame = run(ip, "%%ollama embed -o emb\nthe cat sat\n\n   \nthe dog ran\n{{w}}\n")
    assert ip.user_ns["emb"] is frame and len(frame) == 3
    assert frame.attrs.get("model", "").startswith("nomic-embed-text")
    body = [r for r in ollama_sandbox.requests if r.path == "/api/embed"][-1].body
    assert body["input"] == ["the cat sat", "the dog ran", "a bird flew"]
    assert body["model"] == "nomic-embed-text"
    ip.user_ns["texts"] = ["alpha", "beta"]
    other = run(ip, "%ollama embed nomic-embed-text:latest --from texts -o e2")
    assert ip.user_ns["e2"] is other and len(other) == 2 and other.shape[1] == frame.shape[1]
    assert [r for r in ollama_sandbox.requests if r.path == "/api/embed"][-1].body["model"] == "nomic-embed-text:latest"
    assert len(run(ip, "%ollama embed --from texts")) == 2
    with pytest.raises(UsageError, match="no variable named 'missing'"):
        run(ip, "%ollama embed --from missing")
    ip.user_ns["s"] = "one string"
    with pytest.raises(UsageError, match="expected a list or Series of texts, got str"):
        run(ip, "%ollama embed --from s")
    with pytest.raises(UsageError, match="either the cell's lines or --from"):
        run(ip, "%%ollama embed --from texts\nx\n")
    with pytest.raises(UsageError, match="%ollama pull nosuch"):
        run(ip, "%ollama embed nosuch --from texts")


def test_model_and_host(ip: InteractiveShell, ollama_sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from ollama_nb.client._session import session

    run(ip, "%ollama host")
    assert f"host: {ollama_sandbox.url}" in capsys.readouterr().out
    run(ip, f"%ollama host {ollama_sandbox.url}/")
    assert session.host == f"{ollama_sandbox.url}/"
    magics = next(c for c in ip.configurables if isinstance(c, OllamaMagics))
    assert magics.host == session.host
    run(ip, "%ollama model qwen3")
    assert session.model == "qwen3" and magics.model == "qwen3"
    with capture_output():
        run(ip, "%%ollama\nhi")
    assert ollama_sandbox.requests[-1].body["model"] == "qwen3"


def test_status(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    status = run(ip, "%ollama status")
    assert status.reachable and status.version and status.models == len(ollama_sandbox.installed())
    assert repr(status).splitlines()[0] == f"host       {ollama_sandbox.url}"
    down = run(ip, "%ollama status --host http://127.0.0.1:9")
    assert not down.reachable and "Cannot reach Ollama" in down.error and ">no</td>" in down._repr_html_()


def test_status_names_the_sandbox_and_its_engines(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    status = run(ip, "%ollama status")
    assert status.engines == ollama_sandbox.engines() and status.engines
    text = repr(status)
    assert "ollama_nb sandbox" in text
    engines = sorted(ollama_sandbox.engines().items())
    lines = text.splitlines()
    first = lines.index(f"engines    {engines[0][0]}: {engines[0][1]}")  # one label, once
    for offset, (model, engine) in enumerate(engines[1:], 1):
        assert lines[first + offset] == f"           {model}: {engine}"
    assert "embeddings" not in text
    page = status._repr_html_()
    assert page.count("<th") == len(lines) - len(engines) + 1


def test_status_of_a_real_ollama_names_no_engines(ip: InteractiveShell) -> None:
    """A server that answers like Ollama (recorded /api/tags, 404 elsewhere) is not called a sandbox."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from shared_data import TRANSCRIPTS

    tags = TRANSCRIPTS / "tags-single-model-2025-02.json"
    bodies = {"/api/version": b'{"version":"0.9.0"}', "/api/tags": tags.read_bytes()}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = bodies.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json; charset=utf-8" if body else "text/plain")
            body = body or b"404 page not found"
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        status = run(ip, f"%ollama status --host http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert status.reachable and status.version == "0.9.0" and status.models == 1
    assert status.engines is None and "sandbox" not in repr(status)


def test_chat_listing(ip: InteractiveShell, ollama_sandbox: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run(ip, "%ollama chat")
    assert "no chats yet" in capsys.readouterr().out
    with capture_output():
        run(ip, "%%ollama llama3.2 --chat notes\nhi")
    run(ip, "%ollama chat")
    assert "notes: 2 messages, model llama3.2" in capsys.readouterr().out
    with pytest.raises(UsageError, match="cannot save chat 'notes'"):
        run(ip, "%ollama chat notes --save /no/such/dir/x.json")


def _widgets_available() -> bool:
    try:
        import ipywidgets  # noqa: F401

        from ollama_nb.widgets import ChatBox, ModelPicker  # noqa: F401
    except ImportError:
        return False
    return True


def test_picker_and_chatbox(ip: InteractiveShell, ollama_sandbox: Any) -> None:
    if not _widgets_available():
        with pytest.raises(UsageError, match="ipywidgets"):
            run(ip, "%ollama picker")
        return
    from ollama_nb.widgets import ChatBox, ModelPicker

    picker = run(ip, "%ollama picker")
    box = run(ip, "%ollama chatbox notes -m qwen3")
    try:
        assert isinstance(picker, ModelPicker) and isinstance(box, ChatBox)
        assert box.chat == "notes"
    finally:
        picker.close()
        box.close()


def test_pull_with_the_progress_widget(ip: InteractiveShell, ollama_sandbox: Any,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """In a kernel with widgets the PullProgress widget is fed through the ProgressView seam."""
    pytest.importorskip("ipywidgets")
    from ollama_nb.widgets import PullProgress

    monkeypatch.setattr(OllamaMagics, "widgets_wanted", property(lambda self: True))
    created: list[Any] = []
    original = PullProgress.__init__

    def spy(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, text_mode=False, **kwargs)
        created.append(self)

    monkeypatch.setattr(PullProgress, "__init__", spy)
    with capture_output() as cap:
        run(ip, "%ollama pull gemma3:1b")
    widget = created[0]
    try:
        assert "application/vnd.jupyter.widget-view+json" in cap.outputs[0].data
        assert widget.state == "success" and widget.model == "gemma3:1b" and widget.action == "pull"
        with capture_output(), pytest.raises(UsageError):
            run(ip, "%ollama pull no-such-model-xyz")
        assert created[1].state == "error"
    finally:
        for w in created:
            getattr(w, "widget", w).close()

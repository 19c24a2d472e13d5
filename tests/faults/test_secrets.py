"""Secrets never leak: an ``OLLAMA_API_KEY`` and a ``user:pass@`` host stay out of errors,
reprs, logs, printed output and saved notebooks, while still reaching the server."""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

import pytest
from cases import CHAT_MODEL, Env
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from magic_helpers import run
from rawserver import dead_port

import ollama_nb as onb
from ollama_nb import Client
from ollama_nb.client._errors import OllamaError
from ollama_nb.client._session import session

KEY = "sk-faults-SECRET-KEY-0123456789"
PASSWORD = "pa55-SECRET-word"
USER = "alice"


def _secret_free(*texts: Any) -> None:
    for text in texts:
        text = str(text)
        assert KEY not in text and PASSWORD not in text, text
        assert base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode() not in text, text


@pytest.fixture
def secrets(env: Env, monkeypatch: pytest.MonkeyPatch) -> str:
    """OLLAMA_API_KEY set and a host with credentials pointing at the sandbox."""
    monkeypatch.setenv("OLLAMA_API_KEY", KEY)
    return f"http://{USER}:{PASSWORD}@127.0.0.1:{env.sandbox.port}"


def test_credentials_reach_the_server_but_no_message(secrets: str, env: Env,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = Client(secrets)
    try:
        assert client.generate(CHAT_MODEL, "hi").response
        sent = env.sandbox.requests[-1].headers
        assert sent.get("authorization", sent.get("Authorization", "")).startswith(("Basic", "Bearer"))
        _secret_free(repr(client), client.base_url, repr(session))
        env.sandbox.inject("error", status=500, message="boom")
        with pytest.raises(OllamaError) as info:
            client.generate(CHAT_MODEL, "hi")
        _secret_free(info.value, repr(info.value), info.value.args)
        env.sandbox.clear_faults()
        env.sandbox.inject("drop_after", n=2)
        with pytest.raises(OllamaError) as info, client.generate(CHAT_MODEL, "hi", stream=True) as stream:
            for _ in stream:
                pass
        _secret_free(info.value, repr(info.value), repr(stream))
    finally:
        client.close()
    dead = f"http://{USER}:{PASSWORD}@127.0.0.1:{dead_port()}"
    with pytest.raises(OllamaError) as info, Client(dead) as other:
        other.version()
    _secret_free(info.value, repr(info.value), repr(other))
    with pytest.raises(OllamaError) as info:
        Client(f"ftp://{USER}:{PASSWORD}@127.0.0.1:1")
    _secret_free(info.value)
    _secret_free(*(record.getMessage() for record in caplog.records))


def test_magics_widgets_and_frames(secrets: str, env: Env, ip: InteractiveShell, wire: Any,
                                   caplog: pytest.LogCaptureFixture) -> None:
    from ollama_nb.widgets import ChatBox, ModelPicker

    caplog.set_level(logging.DEBUG)
    shown: list[Any] = []
    with capture_output() as cap:
        run(ip, f"%ollama host {secrets}")
        run(ip, f"%%ollama {CHAT_MODEL} -o out\nhi")
        shown += [run(ip, "%ollama status"), run(ip, "%ollama models"), run(ip, "%ollama host")]
        env.sandbox.inject("error_after", n=2, message="boom")
        with pytest.raises(UsageError) as info:
            run(ip, f"%%ollama {CHAT_MODEL}\nhi")
        shown.append(info.value)
    env.sandbox.clear_faults()
    result = ip.user_ns["out"]
    _secret_free(cap.stdout, cap.stderr, *(o.data for o in cap.outputs), repr(result),
                 result.request, *(repr(s) for s in shown), *(getattr(s, "_repr_html_", str)()
                                                              for s in shown))
    frame = onb.embed(["a", "b"])
    answers = onb.map_prompts(["a"], "{{text}}", model=CHAT_MODEL, cache=False, progress=False)
    _secret_free(frame.attrs, answers.attrs, repr(session))
    picker = ModelPicker(bind=False)
    box = ChatBox("s", model=CHAT_MODEL)
    try:
        future = box.send("hi")
        assert future is not None
        future.result(timeout=10)
        _secret_free(*wire.strings(), repr(box), repr(picker))
    finally:
        box.close()
        picker.close()
    _secret_free(*(record.getMessage() for record in caplog.records))


@pytest.mark.slow
@pytest.mark.fd_slack(12)
def test_saved_notebook(secrets: str, env: Env, tmp_path: Path) -> None:
    """A notebook run by nbclient with the secrets in its environment keeps none of them."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = ["%load_ext ollama_nb", f"%%ollama {CHAT_MODEL} -o a\nhi", "%ollama status",
             "%ollama host", "import ollama_nb as onb; onb.Client()", "_ollama.request",
             "%%ollama nosuch-model\nhi", "%ollama pull nosuch-model"]
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    env.monkeypatch.setenv("OLLAMA_HOST", secrets)
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    path = tmp_path / "saved.ipynb"
    nbformat.write(nb, path)
    text = path.read_text()
    assert "Model 'nosuch-model' not found" in text and "127.0.0.1" in text
    _secret_free(text)


def test_config_listing_and_session_repr(secrets: str, env: Env, ip: InteractiveShell) -> None:
    """``%config OllamaMagics`` prints the current host; it must not print the password."""
    with capture_output() as cap:
        run(ip, f"%ollama host {secrets}")
        run(ip, "%config OllamaMagics")
        run(ip, "%config OllamaMagics.host")
    _secret_free(cap.stdout, repr(session), repr(ip.magics_manager.registry["OllamaMagics"].host))
    assert session.client().base_url == f"http://127.0.0.1:{env.sandbox.port}"
    run(ip, f"%%ollama {CHAT_MODEL}\nhi")  # and the credentials still work

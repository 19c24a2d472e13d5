"""%load_ext is light and %unload_ext removes everything; settings are traitlets synced with the session."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from magic_helpers import run
from traitlets import TraitError

from ollama_nb.client._chat import chats
from ollama_nb.client._session import session
from ollama_nb.magics._magics import OllamaMagics


def test_load_ext_imports_nothing_heavy() -> None:
    code = textwrap.dedent("""
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        ip = InteractiveShell.instance()
        before = set(sys.modules)
        ip.run_line_magic("load_ext", "ollama_nb")
        assert "ollama" in ip.magics_manager.magics["cell"]
        heavy = [m for m in ("pandas", "numpy", "ipywidgets", "requests", "aiohttp", "markdown_it",
                                  "ollama_nb.client._client", "ollama_nb.client._async_client")
                 if m in sys.modules and m not in before]
        print(heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_unload_removes_what_load_added(ip: InteractiveShell) -> None:
    manager = ip.magics_manager
    assert "ollama" in manager.magics["line"] and "ollama" in manager.magics["cell"]
    observers = len(session._observers)
    ip.run_line_magic("unload_ext", "ollama_nb")
    assert "ollama" not in manager.magics["line"] and "ollama" not in manager.magics["cell"]
    assert not any(isinstance(c, OllamaMagics) for c in ip.configurables)
    assert "OllamaMagics" not in manager.registry
    assert len(session._observers) == observers - 1
    ip.run_line_magic("load_ext", "ollama_nb")  # and back, once
    assert sum(isinstance(c, OllamaMagics) for c in ip.configurables) == 1


def _magics(ip: InteractiveShell) -> OllamaMagics:
    return next(c for c in ip.configurables if isinstance(c, OllamaMagics))


def test_config_traitlets_sync_with_session(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    m = _magics(ip)
    run(ip, "%config OllamaMagics.model = 'qwen3'")
    assert session.model == "qwen3"
    session.set("model", "gemma3")
    assert m.model == "gemma3"
    run(ip, "%ollama model phi4")
    assert m.model == "phi4" and session.model == "phi4"
    run(ip, "%config OllamaMagics.embed_model = 'nomic-embed-text'")
    run(ip, "%config OllamaMagics.timeout = 12.5")
    run(ip, "%config OllamaMagics.host = 'http://127.0.0.1:9'")
    assert (session.embed_model, session.timeout, session.host) == ("nomic-embed-text", 12.5, "http://127.0.0.1:9")
    run(ip, "%config OllamaMagics.history_limit = 4")
    assert chats.get("x").history_limit == 4
    run(ip, "%config OllamaMagics.display_mode = 'final'")
    assert m.live is False
    for name, bad in (("update_rate", -1), ("display_mode", "fast"), ("history_limit", -2)):
        with pytest.raises(TraitError):
            setattr(m, name, bad)
    run(ip, "%config OllamaMagics.update_rate = -1")  # %config logs the error and keeps the value
    assert m.update_rate == 10.0
    run(ip, "%ollama model")
    assert "model: phi4" in capsys.readouterr().out


def test_config_file_values_win(monkeypatch: pytest.MonkeyPatch) -> None:
    from traitlets.config import Config

    session.reset()
    cfg = Config()
    cfg.HistoryAccessor.enabled = False
    cfg.OllamaMagics.model = "from-config"
    cfg.OllamaMagics.update_rate = 3.0
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance(config=cfg)
    try:
        shell.run_line_magic("load_ext", "ollama_nb")
        m = _magics(shell)
        assert m.model == "from-config" and session.model == "from-config" and m.update_rate == 3.0
    finally:
        shell.run_line_magic("unload_ext", "ollama_nb")
        InteractiveShell.clear_instance()
        session.reset()


def test_display_mode_env(ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch) -> None:
    m = _magics(ip)
    assert m.live
    monkeypatch.setenv("OLLAMA_NB_DISPLAY", "final")
    assert not m.live
    m.display_mode = "live"  # explicit setting beats the environment
    assert m.live


@pytest.mark.parametrize("cell,message", [
    ("%ollama frobnicate", "unknown subcommand 'frobnicate'. Subcommands: models, ps"),
    ("%ollama create mine", "create needs a Modelfile"),
    ("%ollama embed", "embed needs texts"),
    ("%ollama pull", "required: model"),
    ("%%ollama llama3.2 --frob\nhi", "unrecognized arguments: --frob. Usage: %%ollama"),
    ("%%ollama llama3.2\n   \n", "the cell is empty"),
    ("%%ollama llama3.2\nhi {{nope}}", r"cannot interpolate \{\{nope\}\} \(NameError"),
    ("%%ollama llama3.2 --schema nothing\nhi", "--schema nothing: no variable"),
    ("%%ollama llama3.2 --images /no/such.png\nhi", "--images /no/such.png: no variable or file"),
    ("%%ollama embed\n\n  \n", "the cell is empty"),
    ("%%ollama create x\n  \n", "the cell is empty: write a Modelfile"),
    ("%ollama chat nobody --history", "no chat named 'nobody'"),
    ("%%ollama m --host 'http://[bad'\nhi", "host: 'http://\\[bad' is not valid"),
    ("%ollama status --host ftp://x", "unsupported scheme 'ftp'"),
    ("%ollama host ftp://x", "unsupported scheme 'ftp'"),
    ("%%ollama m -O mirostat=maybe\nhi", "mirostat"),
])
def test_user_errors_are_one_line(ip: InteractiveShell, cell: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        run(ip, cell)
    assert "\n" not in str(info.value)


def test_schema_must_be_a_dict(ip: InteractiveShell) -> None:
    ip.user_ns["schema"] = "not a dict"
    with pytest.raises(UsageError, match="--schema schema: expected a pydantic model class, a dataclass, a TypedDict or a JSON schema dict, got str"):
        run(ip, "%%ollama llama3.2 --schema schema\nhi")


def test_help(ip: InteractiveShell, capsys: pytest.CaptureFixture[str]) -> None:
    run(ip, "%ollama help")
    out = capsys.readouterr().out
    for word in ("--chat", "%ollama pull", "%%ollama create", "%ollama embed", "update_rate"):
        assert word in out
    run(ip, "%ollama")
    assert "--no-interpolate" in capsys.readouterr().out

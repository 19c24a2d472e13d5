"""``%ollama hosts``, ``%config OllamaMagics.hosts`` and ``%ollama status`` over several hosts."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from magic_helpers import run

import ollama_nb as onb
from ollama_nb.client._session import session
from ollama_nb.magics._magics import OllamaMagics
from ollama_nb.sandbox import Sandbox


@pytest.fixture
def pair() -> Any:
    with Sandbox(models=["llama3.2", "all-minilm"], minilm=False) as a, \
            Sandbox(models=["all-minilm"], minilm=False) as b:
        yield a, b


def _magics(ip: InteractiveShell) -> OllamaMagics:
    return next(c for c in ip.configurables if isinstance(c, OllamaMagics))


def test_hosts_command_sets_shows_and_clears(ip: InteractiveShell, pair: Any,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    a, b = pair
    run(ip, "%ollama hosts")
    assert "hosts: none" in capsys.readouterr().out
    run(ip, f"%ollama hosts {a.url}=3 {b.url} --concurrency 2")
    out = capsys.readouterr().out
    assert f"{a.url} (3 at a time), {b.url} (2 at a time)" in out
    assert session.hosts == onb.Hosts({a.url: 3, b.url: None}, concurrency=2)
    assert _magics(ip).hosts == session.hosts  # the traitlet follows the session
    run(ip, "%ollama hosts --clear")
    assert session.hosts is None and _magics(ip).hosts is None
    with pytest.raises(UsageError, match="unsupported scheme"):
        run(ip, "%ollama hosts ftp://x:1")
    with pytest.raises(UsageError, match="not both"):
        run(ip, f"%ollama hosts {a.url} --clear")


def test_config_hosts_reaches_embed_and_map_prompts(ip: InteractiveShell, pair: Any,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    a, b = pair
    run(ip, f"%config OllamaMagics.hosts = [{a.url!r}, {b.url!r}]")
    assert session.hosts == onb.Hosts([a.url, b.url])
    emb = onb.embed(["one", "two", "three", "four"], model="all-minilm", batch_size=1,
                    progress=False)
    assert [h["host"] for h in emb.attrs["hosts"]] == [a.url, b.url]
    assert sum(h["rows"] for h in emb.attrs["hosts"]) == 4
    run(ip, f"%config OllamaMagics.hosts = {{{a.url!r}: 2}}")
    assert session.hosts.limits(9) == [2]  # type: ignore[union-attr]
    before = session.hosts
    ip.run_cell("%config OllamaMagics.hosts = ['ftp://nope']")  # %config logs a bad value
    assert "hosts: unsupported scheme 'ftp'" in caplog.text
    assert session.hosts == before


def test_status_has_one_row_per_host(ip: InteractiveShell, pair: Any) -> None:
    a, b = pair
    run(ip, f"%ollama hosts {a.url} {b.url} http://127.0.0.1:9")
    status = run(ip, "%ollama status")
    assert list(status["host"]) == [a.url, b.url, "http://127.0.0.1:9"]
    assert list(status["reachable"]) == [True, True, False]
    assert list(status["models"])[:2] == [2, 1]
    assert status["version"].iloc[0] and status["lacks"].iloc[1] == "llama3.2"
    assert status["lacks"].iloc[0] == "" and list(status["in flight"]) == [0, 0, 0]
    assert "Cannot reach Ollama" in status["error"].iloc[2]
    # --host still asks just that one host
    single = run(ip, f"%ollama status --host {a.url}")
    assert single.reachable and single.host == a.url

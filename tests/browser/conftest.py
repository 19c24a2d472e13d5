"""Real-browser harness: one JupyterLab per session, Python Playwright, Debian's Chromium.

JupyterLab is started by the tests (token-less, loopback only, galata's server config
from the ``jupyterlab`` package), its kernels see ``OLLAMA_HOST`` pointing at a sandbox
with a visible per-token delay, and each test opens its notebook in a fresh workspace
so tests never see each other's tabs.

Every test here is marked ``browser``; they are skipped (with the reason) only when
``/usr/bin/chromium`` is absent. ``.ci/run`` installs it, so CI runs them.

Set ``OLLAMA_NB_SCREENSHOTS=docs/img`` to (re)write the widget screenshots.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
TOKEN_DELAY = 0.05  # seconds per streamed token in the sandbox Lab's kernels talk to
REPO = Path(__file__).resolve().parents[2]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} not found (apt-get install chromium); .ci/run installs it"
    )
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(skip)


# -- the browser ------------------------------------------------------------------------------
# Playwright's sync API keeps an event loop for as long as it runs. pytest-playwright's
# fixtures are session-wide, which would leave that loop behind for every later test
# (``asyncio.run`` then refuses to start), so the browser lives only as long as this package.


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless; Playwright's own browser download is never used."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context and page per test."""
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


# -- the sandbox and JupyterLab ----------------------------------------------------------------


@pytest.fixture(scope="package")
def lab_sandbox() -> Iterator[Any]:
    """An Ollama stand-in whose tokens arrive slowly enough to watch them arrive."""
    from ollama_nb.sandbox import Sandbox

    with Sandbox(port=0, token_delay=TOKEN_DELAY) as sandbox:
        yield sandbox


def _load_hostile() -> Any:
    """tests/widgets/hostile_server.py (the tests folders are not packages)."""
    path = Path(__file__).resolve().parents[1] / "widgets" / "hostile_server.py"
    spec = importlib.util.spec_from_file_location("ollama_nb_tests_hostile_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hostile_server = _load_hostile()


@pytest.fixture(scope="package")
def hostile() -> Iterator[Any]:
    """An Ollama look-alike whose model answers with script-laden HTML."""
    with hostile_server.HostileServer() as server:
        yield server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_LAB_CONFIG = """\
from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)
# galata's own throw-away folders land in TMPDIR, which the tests point into their tmp_path
c.LabApp.workspaces_dir = {workspaces!r}
c.ServerApp.root_dir = {root!r}
c.ServerApp.terminals_enabled = False
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
"""


@dataclass
class Lab:
    """A running JupyterLab: its URL, the folder it serves and the sandbox its kernels use."""

    url: str
    root: Path
    sandbox: Any


@pytest.fixture(scope="package")
def lab(tmp_path_factory: pytest.TempPathFactory, lab_sandbox: Any) -> Iterator[Lab]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found")
    base = tmp_path_factory.mktemp("lab")
    root, home = base / "root", base / "home"
    for folder in (
        root,
        home / "workspaces",
        home / "settings",
        home / "config",
        home / "data",
        home / "runtime",
        home / "tmp",
    ):
        folder.mkdir(parents=True)
    # no "get notified about Jupyter news?" toast over the notebook
    notification = home / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    config = base / "lab_config.py"
    config.write_text(_LAB_CONFIG.format(workspaces=str(home / "workspaces"), root=str(root)))
    port = _free_port()
    env = {
        **os.environ,
        "OLLAMA_HOST": lab_sandbox.url,
        "JUPYTERLAB_GALATA_ROOT_DIR": str(root),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "PYTHONUNBUFFERED": "1",
        "TMPDIR": str(home / "tmp"),
    }
    env.pop("OLLAMA_API_KEY", None)
    log = open(base / "lab.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            f"--config={config}",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            "--allow-root",
            "--no-browser",
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_status(url, proc, base / "lab.log")
        yield Lab(url=url, root=root, sandbox=lab_sandbox)
    finally:
        _stop(proc)
        log.close()


def _wait_for_status(
    url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(
        f"JupyterLab did not answer {url}/api/status in {timeout}s:\n{log.read_text()[-3000:]}"
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)  # jupyter_server asks for confirmation on the first one
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:  # kernels live in the server's process group
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


# -- notebooks in the page -----------------------------------------------------------------------


def write_notebook(path: Path, cells: Sequence[str]) -> None:
    """A minimal nbformat-4 notebook with one code cell per source string."""
    notebook = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{i}",
                "metadata": {},
                "outputs": [],
                "source": source,
            }
            for i, source in enumerate(cells)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(notebook, indent=1))


class NotebookPage:
    """A notebook opened in JupyterLab with its kernel ready; read outputs from the live model."""

    def __init__(self, page: Any, lab: Lab, name: str) -> None:
        self.page, self.lab, self.name = page, lab, name

    def run_all(self) -> None:
        """Start "Run All" without awaiting it: its promise settles only when every cell is done."""
        self.page.evaluate(
            "() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
        )

    def run_cell(self, index: int) -> None:
        """Run one cell (not awaited), leaving the others alone."""
        self.page.evaluate(
            """(i) => {
                const panel = window.jupyterapp.shell.currentWidget;
                panel.content.activeCellIndex = i;
                panel.content.deselectAll();
                void window.jupyterapp.commands.execute('notebook:run-cell');
            }""",
            index,
        )

    def outputs(self, index: int) -> list[dict[str, Any]]:
        """The nbformat outputs of cell ``index`` as the page holds them right now."""
        return self.page.evaluate(
            "(i) => window.jupyterapp.shell.currentWidget.content.model.cells.get(i)"
            ".toJSON().outputs || []",
            index,
        )

    def text(self, index: int) -> str:
        """All text/plain and stream text of cell ``index``, joined."""
        parts: list[str] = []
        for output in self.outputs(index):
            if "text" in output:
                parts.append(_joined(output["text"]))
            data = output.get("data", {})
            if "text/plain" in data:
                parts.append(_joined(data["text/plain"]))
            if output.get("output_type") == "error":
                parts.append(f"{output.get('ename')}: {output.get('evalue')}")
        return "\n".join(parts)

    def cell(self, index: int) -> Any:
        """The Playwright locator of cell ``index``."""
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def wait_idle(self, timeout: float = 60.0, cells: Sequence[int] | None = None) -> None:
        """Wait for an idle kernel, no running cell, and ``cells`` (default: all) having run."""
        self.page.wait_for_function(
            """(wanted) => {
                const panel = window.jupyterapp.shell.currentWidget;
                const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
                if (!kernel || kernel.status !== 'idle') return false;
                const cells = panel.content.model.cells;
                for (let i = 0; i < cells.length; i++) {
                    const cell = cells.get(i);
                    if (cell.type !== 'code') continue;
                    if (cell.executionState === 'running') return false;
                    const want = wanted === null || wanted.includes(i);
                    if (want && cell.executionCount === null) return false;
                }
                return true;
            }""",
            arg=None if cells is None else list(cells),
            timeout=timeout * 1000,
        )


def _joined(text: Any) -> str:
    return "".join(text) if isinstance(text, list) else str(text)


@pytest.fixture
def open_notebook(page: Any, lab: Lab) -> Any:
    """``open_notebook(cells) -> NotebookPage``: write, open in a new workspace, wait."""
    opened: list[Path] = []

    def _open(cells: Sequence[str], name: str | None = None, timeout: float = 60.0) -> NotebookPage:
        stem = name or f"nb-{uuid.uuid4().hex[:8]}"
        path = lab.root / f"{stem}.ipynb"
        write_notebook(path, cells)
        opened.append(path)
        page.goto(f"{lab.url}/lab/workspaces/{stem}/tree/{path.name}?reset")
        page.wait_for_function(
            """() => {
                const app = window.jupyterapp;
                const panel = app && app.shell && app.shell.currentWidget;
                return !!(panel && panel.sessionContext && panel.content && panel.content.model);
            }""",
            timeout=timeout * 1000,
        )
        page.evaluate(
            """async () => {
                const ctx = window.jupyterapp.shell.currentWidget.sessionContext;
                await ctx.ready;
                const kernel = ctx.session.kernel;
                await kernel.info;
            }"""
        )
        return NotebookPage(page, lab, stem)

    yield _open
    page.close()
    _shutdown_kernels(lab.url)
    for path in opened:
        path.unlink(missing_ok=True)


def _shutdown_kernels(url: str) -> None:
    """End the test's kernels now rather than when JupyterLab stops (CI has 2 cores)."""
    with urllib.request.urlopen(f"{url}/api/sessions", timeout=10) as response:
        sessions = json.load(response)
    for session in sessions:
        request = urllib.request.Request(f"{url}/api/sessions/{session['id']}", method="DELETE")
        with urllib.request.urlopen(request, timeout=30):
            pass


@pytest.fixture(scope="session")
def screenshot_dir() -> Path | None:
    """Where widget screenshots go (``OLLAMA_NB_SCREENSHOTS``), or None to take none."""
    target = os.environ.get("OLLAMA_NB_SCREENSHOTS")
    if not target:
        return None
    folder = Path(target)
    if not folder.is_absolute():
        folder = REPO / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder

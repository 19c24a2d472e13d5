"""Real-browser harness: JupyterLab and Notebook 7, Python Playwright, Debian's Chromium.

The ``jupyter`` fixture is parametrized by frontend: every test that opens a notebook
runs once in JupyterLab and once in Notebook 7. Each frontend gets its own server,
started by the tests (``jupyter lab`` or ``jupyter notebook``: token-less, loopback
only, galata's server config from the ``jupyterlab`` package); one server could serve
both, but then the other app's fonts (MathJax's among them) answer 403. The kernels
see ``OLLAMA_HOST`` pointing at a sandbox with a visible per-token delay, and each test
opens its notebook in a fresh page (a fresh workspace in JupyterLab), so tests never
see each other's tabs.

:func:`measure` reads in the page what a person sees: what sticks out of its cell,
how many visible copies of a text there are, line heights, typeset math, colours.

Every test here is marked ``browser``; they are skipped (with the reason) only when
``/usr/bin/chromium`` is absent. ``.ci/run`` installs it, so CI runs them.

Set ``OLLAMA_NB_SCREENSHOTS=docs/img`` to (re)write the widget screenshots (taken in
JupyterLab).
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
TOKEN_DELAY = 0.05  # seconds per streamed token in the sandbox Lab's kernels talk to
REPO = Path(__file__).resolve().parents[2]
FRONTENDS = ("lab", "notebook")  # JupyterLab 4, Notebook 7

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
    """A fresh browser context and page per test, 1280 px wide like a laptop screen."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
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
    """An Ollama look-alike whose model answers with script-laden HTML, and whose model
    ``echo`` answers with the prompt itself (slowly enough to watch it stream)."""
    with hostile_server.HostileServer(token_delay=0.02) as server:
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
c.JupyterNotebookApp.expose_app_in_browser = True
"""


@dataclass
class Lab:
    """A running Jupyter server: its frontend, URL, the folder it serves and the sandbox
    its kernels use."""

    url: str
    root: Path
    sandbox: Any
    frontend: str = "lab"

    def shutdown_kernels(self) -> None:
        """End every kernel of this server (as closing the notebooks would)."""
        _shutdown_kernels(self.url)

    def page_url(self, path: Path, stem: str) -> str:
        """Where the frontend opens ``path`` (JupyterLab: in a fresh workspace)."""
        if self.frontend == "lab":
            return f"{self.url}/lab/workspaces/{stem}/tree/{path.name}?reset"
        return f"{self.url}/notebooks/{path.name}"


@pytest.fixture(scope="package", params=FRONTENDS)
def jupyter(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, lab_sandbox: Any
) -> Iterator[Lab]:
    """A Jupyter server for one frontend (tests using it run once per frontend)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found")
    frontend = request.param
    base = tmp_path_factory.mktemp(frontend)
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
            frontend,
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
        yield Lab(url=url, root=root, sandbox=lab_sandbox, frontend=frontend)
    finally:
        _stop(proc)
        log.close()


@pytest.fixture(scope="package")
def lab(jupyter: Lab) -> Lab:
    """The server of the frontend under test (the name the first browser tests used)."""
    return jupyter


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
        # SIGTERM: jupyter_server shuts its kernels down and exits (SIGINT would ask for a
        # confirmation, and does nothing at all when this run inherited SIGINT ignored)
        proc.send_signal(signal.SIGTERM)
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
    """A notebook opened in a frontend with its kernel ready; read outputs from the live model."""

    def __init__(self, page: Any, lab: Lab, name: str) -> None:
        self.page, self.lab, self.name = page, lab, name

    @property
    def path(self) -> Path:
        return self.lab.root / f"{self.name}.ipynb"

    def command(self, name: str, args: dict[str, Any] | None = None) -> None:
        """Run a frontend command (not awaited)."""
        self.page.evaluate(
            "([name, args]) => { void window.jupyterapp.commands.execute(name, args || {}); }",
            [name, args],
        )

    def save(self) -> dict[str, Any]:
        """Save (as Ctrl-S does) and return the notebook as written to disk."""
        self.page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        self.page.wait_for_function(
            "() => !window.jupyterapp.shell.currentWidget.context.model.dirty"
        )
        return json.loads(self.path.read_text())

    def set_theme(self, theme: str) -> None:
        """Switch the theme (e.g. 'JupyterLab Dark') and wait until its CSS applies."""
        self.page.evaluate(
            "(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", theme
        )
        self.page.wait_for_function(
            "(t) => document.body.dataset.jpThemeName === t", arg=theme, timeout=30_000
        )
        self.page.wait_for_timeout(500)  # the new stylesheet's variables settle

    def measure(self, index: int, texts: Sequence[str] = ()) -> dict[str, Any]:
        """What a person sees in cell ``index`` (see :data:`MEASURE_JS`)."""
        return self.page.evaluate(MEASURE_JS, [index, list(texts)])

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


# Measured in the page, for the outputs of one cell:
#   overflow  - elements whose right edge passes the output area's (outside a scroller)
#   copies    - for each given text, how many *visible* outputs and widgets show it
#   lines     - line height / font size of visible answer paragraphs
#   math      - typeset formulas (MathJax containers) in visible answers
#   errors    - visible "Error displaying widget" messages
#   contrast  - contrast ratio of answer text against what is behind it
MEASURE_JS = """([index, texts]) => {
  const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
  const area = cell && cell.querySelector('.jp-OutputArea');
  if (!area) return null;
  const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length)
      && getComputedStyle(el).visibility !== 'hidden';
  const edge = area.getBoundingClientRect().right;
  const scrolls = (el) => { for (let p = el.parentElement; p && p !== area; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== 'visible') return true; } return false; };
  const overflow = [];
  for (const el of area.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > edge + 1 && !scrolls(el) && visible(el))
      overflow.push(`${el.tagName.toLowerCase()}.${String(el.className).split(' ')[0]} +${Math.round(r.right - edge)}px`);
  }
  const leaves = [...area.querySelectorAll('.jp-OutputArea-output')].filter(visible);
  const copies = texts.map((t) => leaves.filter((o) => o.innerText.includes(t)).length);
  const shown = [...area.querySelectorAll('.ollama-nb-answer')].filter(visible);
  const lines = [...area.querySelectorAll('.ollama-nb-answer p')].filter(visible).map((p) => {
    const s = getComputedStyle(p); return parseFloat(s.lineHeight) / parseFloat(s.fontSize); });
  const math = shown.reduce((n, a) => n + a.querySelectorAll('mjx-container').length, 0);
  const errors = leaves.filter((o) => /Error displaying widget/.test(o.innerText)).length;
  const rgb = (c) => (c.match(/[0-9.]+/g) || []).slice(0, 4).map(Number);
  const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92
      : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const back = (el) => { for (let p = el; p; p = p.parentElement) { const c = rgb(getComputedStyle(p).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c; } return [255, 255, 255]; };
  const contrast = shown.slice(0, 3).map((a) => { const f = lum(rgb(getComputedStyle(a).color)), b = lum(back(a));
      return (Math.max(f, b) + 0.05) / (Math.min(f, b) + 0.05); });
  return {width: area.getBoundingClientRect().width, overflow: overflow.slice(0, 8), copies,
          answers: shown.length, lines, math, errors, contrast, text: area.innerText};
}"""


@pytest.fixture
def open_notebook(page: Any, lab: Lab) -> Any:
    """``open_notebook(cells) -> NotebookPage``: write, open in a fresh page, wait for the kernel.

    ``open_notebook(name=...)`` with no cells opens a notebook already on disk (a reopen).
    """
    opened: list[Path] = []

    def _open(cells: Sequence[str] = (), name: str | None = None, timeout: float = 60.0,
              on: Any = None) -> NotebookPage:
        stem = name or f"nb-{uuid.uuid4().hex[:8]}"
        path = lab.root / f"{stem}.ipynb"
        if cells or not path.exists():
            write_notebook(path, cells)
        if path not in opened:
            opened.append(path)
        tab = on or page
        tab.goto(lab.page_url(path, f"{stem}-{uuid.uuid4().hex[:4]}"))
        tab.wait_for_function(
            """() => {
                const app = window.jupyterapp;
                const panel = app && app.shell && app.shell.currentWidget;
                return !!(panel && panel.sessionContext && panel.content && panel.content.model);
            }""",
            timeout=timeout * 1000,
        )
        tab.evaluate(
            """async () => {
                const ctx = window.jupyterapp.shell.currentWidget.sessionContext;
                await ctx.ready;
                const kernel = ctx.session.kernel;
                await kernel.info;
            }"""
        )
        return NotebookPage(tab, lab, stem)

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


@pytest.fixture
def shots(lab: Lab, screenshot_dir: Path | None) -> Path | None:
    """Where this test's screenshots go: the README's are taken in JupyterLab only."""
    return screenshot_dir if lab.frontend == "lab" else None


@pytest.fixture
def shoot(shots: Path | None) -> Callable[[Any, str], None]:
    """``shoot(locator, "name.png")`` writes that screenshot when screenshots are wanted."""
    def _shoot(locator: Any, name: str) -> None:
        if shots is not None:
            locator.scroll_into_view_if_needed()
            locator.screenshot(path=str(shots / name), animations="disabled")
    return _shoot

"""`ollama-nb demo`: run the quickstart notebook headless and keep what it shows.

It runs against the user's Ollama when one answers at the resolved host, or else
against a sandbox started here. Then it writes the executed notebook and an HTML
export, reports each cell as it runs, and exits non-zero if any cell failed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

NOTEBOOK = "01-quickstart.ipynb"


def find_notebook(name: str = NOTEBOOK) -> Path:
    """The packaged copy of an example notebook, or the checkout's ``notebooks/`` copy."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_notebooks" / name, here.parent / "notebooks" / name):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"example notebook {name} is not installed with this package")


@contextlib.contextmanager
def _server(host: str | None, log: Any) -> Iterator[str]:
    """Yield the URL of a server to use: the user's Ollama if it answers, else a sandbox."""
    from .client._client import Client

    with Client(host) as client:
        url = client.base_url
        if client.is_reachable():
            log(f"Using the Ollama server at {url}")
            yield url
            return
    from .sandbox import Sandbox

    with Sandbox() as sandbox:
        log(f"No Ollama answered at {url}; using a sandbox at {sandbox.url}")
        yield sandbox.url


def _cell_label(cell: Any) -> str:
    first = next((line for line in cell.source.splitlines() if line.strip()), "")
    return (first[:60] + "…") if len(first) > 60 else first


def run_demo(out_dir: Path, host: str | None = None, notebook: Path | None = None,
             timeout: int = 600, log: Any = print) -> int:
    """Execute the notebook; write ``.ipynb`` and ``.html`` to ``out_dir``; return the exit code."""
    try:
        import nbformat
        from nbclient import NotebookClient
        from nbclient.exceptions import CellTimeoutError, DeadKernelError
        from nbconvert import HTMLExporter
    except ImportError as exc:
        log(f"ollama-nb demo needs nbclient and nbconvert ({exc.name} is missing): "
            f"pip install \"ollama-nb[demo]\"")
        return 2

    try:
        source = notebook or find_notebook()
        nb = nbformat.read(source, as_version=4)
    except (OSError, ValueError) as exc:  # missing file, not JSON, not a notebook
        log(f"ollama-nb demo: cannot read the notebook ({exc})")
        return 2
    # position among the code cells, by notebook index (identical cells stay distinct)
    positions = {i: n for n, i in enumerate(
        (i for i, c in enumerate(nb.cells) if c.cell_type == "code"), start=1)}
    total = len(positions)
    failures: list[str] = []
    started: dict[int, float] = {}

    def report(cell_index: int, status: str, detail: str = "") -> None:
        position = positions.get(cell_index, cell_index + 1)
        seconds = time.perf_counter() - started.get(cell_index, time.perf_counter())
        if status != "ok":
            failures.append(f"cell {position}: {detail}")
        log(f"[{position}/{total}] {status:6} {seconds:5.1f}s  {_cell_label(nb.cells[cell_index])}")

    def on_start(cell: Any, cell_index: int, **_: Any) -> None:
        started[cell_index] = time.perf_counter()

    def on_done(cell: Any, cell_index: int, execute_reply: Any = None, **_: Any) -> None:
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        content = (execute_reply or {}).get("content", {})
        if errors or content.get("status") == "error":
            first = errors[0] if errors else content
            report(cell_index, "FAILED", f"{first.get('ename')}: {first.get('evalue')}")
        else:
            report(cell_index, "ok")

    out_dir.mkdir(parents=True, exist_ok=True)
    with _server(host, log) as url:
        env = dict(os.environ, OLLAMA_HOST=url)
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", allow_errors=True,
            resources={"metadata": {"path": str(out_dir)}},
            # the kernel's own start-up warnings (e.g. "running over TCP") are noise here;
            # errors still show, and cell output is reported per cell
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
            on_cell_start=on_start, on_cell_executed=on_done,
        )
        log(f"Running {source.name} ({total} code cells)…")
        with _kernel_env(env):
            try:
                client.execute()
            except (CellTimeoutError, DeadKernelError) as exc:
                # the cell that was running never reported: name it, keep what ran
                running = max(started, key=started.__getitem__) if started else 0
                reason = (f"no answer within {timeout}s (--timeout)"
                          if isinstance(exc, CellTimeoutError) else "the kernel died")
                report(running, "FAILED", reason)

    ipynb = out_dir / source.name
    nbformat.write(nb, ipynb)
    html_body, _ = HTMLExporter().from_notebook_node(nb)
    html = ipynb.with_suffix(".html")
    html.write_text(html_body, encoding="utf-8")
    log(f"Wrote {ipynb} and {html}")
    if failures:
        log(f"{len(failures)} cell(s) failed: " + "; ".join(failures))
        return 1
    log("All cells ran.")
    return 0


@contextlib.contextmanager
def _kernel_env(env: dict[str, str]) -> Iterator[None]:
    """Kernels inherit this process's environment; set it for the run and restore it."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def add_demo_parser(subparsers: Any) -> None:
    """Register ``ollama-nb demo``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "demo", help="run the quickstart notebook headless (against Ollama, or a sandbox)",
        description="Execute 01-quickstart.ipynb against the Ollama at the resolved host, or a "
                    "sandbox if none answers; write the executed notebook and an HTML export.")
    p.add_argument("--out", type=Path, default=Path("ollama-nb-demo"),
                   help="folder for the executed notebook and HTML (default: ./ollama-nb-demo)")
    p.add_argument("--host", default=None, help="Ollama URL (default: OLLAMA_HOST, then 127.0.0.1:11434)")
    p.add_argument("--notebook", type=Path, default=None, help="run this notebook instead")
    p.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    p.set_defaults(func=lambda a: run_demo(a.out, a.host, a.notebook, a.timeout,
                                           log=lambda m: print(m, flush=True)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run_demo(Path("ollama-nb-demo")))

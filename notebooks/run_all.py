"""Re-execute the example notebooks against fresh sandboxes and save their outputs.

    python notebooks/run_all.py                 # all of them
    python notebooks/run_all.py 02-chat.ipynb   # some of them

Each notebook runs in a new kernel against its own sandbox (``OLLAMA_HOST`` points at
it), in the final-only display mode (``OLLAMA_NB_DISPLAY=final``): every answer is
saved as the one ``display_data`` that nbval and GitHub see. The saved outputs are
exactly what the run produced. A cell that fails stops the script with exit code 1
and leaves the notebook file untouched.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent


def notebooks() -> list[Path]:
    """The example notebooks, in order."""
    return sorted(HERE.glob("[0-9][0-9]-*.ipynb"))


def execute(path: Path, host: str, timeout: int = 300) -> nbformat.NotebookNode:
    """Run ``path`` in a fresh kernel against ``host``; return the executed notebook."""
    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.get(k) for k in ("OLLAMA_HOST", "OLLAMA_NB_DISPLAY")}
    os.environ.update(OLLAMA_HOST=host, OLLAMA_NB_DISPLAY="final")  # the kernel inherits these
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       store_widget_state=False,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    nb.metadata.pop("widgets", None)
    return nb


def main(argv: list[str]) -> int:
    from ollama_nb.sandbox import Sandbox

    chosen = [HERE / name for name in argv] if argv else notebooks()
    for path in chosen:
        with Sandbox() as sandbox:
            print(f"{path.name}: running against the sandbox at {sandbox.url} …", flush=True)
            try:
                nb = execute(path, sandbox.url)
            except CellExecutionError as exc:
                print(f"{path.name}: a cell failed; the file is unchanged.\n{exc}", file=sys.stderr)
                return 1
        nbformat.write(nb, path)
        print(f"{path.name}: saved", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

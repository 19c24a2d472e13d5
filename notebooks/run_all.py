"""Re-execute the example notebooks against fresh sandboxes, record them, save their outputs.

    python notebooks/run_all.py                 # all of them
    python notebooks/run_all.py 02-chat.ipynb   # some of them

Each notebook runs in a new kernel against its own sandbox, through a recording proxy
(``OLLAMA_HOST`` points at the proxy), in the final-only display mode
(``OLLAMA_NB_DISPLAY=final``): every answer is saved as the one ``display_data`` that
nbval and GitHub see. The saved outputs are exactly what the run produced, and every
exchange with the sandbox is written to ``cassettes/<notebook>.jsonl``, from which
tests/test_notebooks.py replays the notebook under strict nbval (the real model's text
included). A cell that fails stops the script with exit code 1 and leaves the notebook
and its cassette untouched.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

HERE = Path(__file__).resolve().parent
CASSETTES = HERE / "cassettes"


def notebooks() -> list[Path]:
    """The example notebooks, in order."""
    return sorted(HERE.glob("[0-9][0-9]-*.ipynb"))


def execute(path: Path, host: str, cache_dir: str, timeout: int = 300) -> nbformat.NotebookNode:
    """Run ``path`` in a fresh kernel against ``host`` with an empty ``cache_dir`` (so that
    ``map_prompts`` asks the server for every row); return the executed notebook."""
    nb = nbformat.read(path, as_version=4)
    names = ("OLLAMA_HOST", "OLLAMA_NB_DISPLAY", "OLLAMA_NB_CACHE_DIR")
    saved = {k: os.environ.get(k) for k in names}
    # the kernel inherits these
    os.environ.update(OLLAMA_HOST=host, OLLAMA_NB_DISPLAY="final", OLLAMA_NB_CACHE_DIR=cache_dir)
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


def cassette(path: Path) -> Path:
    """Where the exchanges of the notebook ``path`` are recorded."""
    return CASSETTES / f"{path.stem}.jsonl"


def main(argv: list[str]) -> int:
    from ollama_nb.sandbox import RecordingProxy, Sandbox

    chosen = [HERE / name for name in argv] if argv else notebooks()
    CASSETTES.mkdir(exist_ok=True)
    for path in chosen:
        with tempfile.TemporaryDirectory() as scratch:
            recording = Path(scratch) / "cassette.jsonl"
            with Sandbox() as sandbox, RecordingProxy(sandbox.url, recording) as proxy:
                print(f"{path.name}: running against the sandbox at {sandbox.url}, recorded "
                      f"by the proxy at {proxy.url} …", flush=True)
                try:
                    nb = execute(path, proxy.url, str(Path(scratch) / "cache"))
                except CellExecutionError as exc:
                    print(f"{path.name}: a cell failed; the files are unchanged.\n{exc}",
                          file=sys.stderr)
                    return 1
                count = proxy.count
            shutil.copyfile(recording, cassette(path))
        nbformat.write(nb, path)
        print(f"{path.name}: saved, {count} exchanges in {cassette(path).relative_to(HERE)}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

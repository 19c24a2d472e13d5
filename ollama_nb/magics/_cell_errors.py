"""The errors of the notebook's cells, kept by a ``post_run_cell`` hook: ``Err[n]`` in prompts.

``%load_ext ollama_nb`` installs :class:`CellErrors` as a ``post_run_cell`` callback and
puts it in the user namespace as ``Err`` (next to IPython's ``In`` and ``Out``), so
``{{Err[3]}}`` in a prompt is cell 3's formatted exception; ``%unload_ext`` removes both.
``%ollama explain`` / ``fix`` read the same records. The traceback is trimmed: IPython's
own frames go, cell files are named ``Cell In[n]`` as IPython names them, at most
:data:`MAX_FRAMES` frames (the innermost) are kept, and the text is capped.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import IPython

__all__ = ["CellError", "CellErrors", "install", "uninstall"]

MAX_FRAMES = 8
MAX_CHARS = 6000
# frames inside IPython itself (run_code's exec) say nothing about the user's code
_IPYTHON = str(Path(IPython.__file__).parent) + os.sep


@dataclass(frozen=True)
class CellError:
    """One cell's failure: its number and source, the exception's type and message, the traceback."""

    cell: int
    source: str
    type: str
    message: str
    traceback: str

    def __str__(self) -> str:
        return self.traceback


def _format(exc: BaseException, shell: Any) -> str:
    """The exception as Python prints it, without IPython's frames, cells named ``Cell In[n]``."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_IPYTHON)]
    if len(frames) > MAX_FRAMES:
        frames = frames[-MAX_FRAMES:]
    compile_ = getattr(shell, "compile", None)
    for frame in frames:
        named = compile_.format_code_name(frame.filename) if compile_ is not None else None
        if named:
            frame.filename = named[1].replace("In[", "Cell In[")
    lines = ["Traceback (most recent call last):\n", *traceback.format_list(frames)] if frames else []
    lines += traceback.format_exception_only(type(exc), exc)
    text = "".join(lines).rstrip("\n")
    if len(text) > MAX_CHARS:
        text = "…" + text[-MAX_CHARS:]
    return text


class CellErrors(Mapping[int, CellError]):
    """``Err``: cell number → :class:`CellError` of every cell that raised since the extension loaded."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self._errors: dict[int, CellError] = {}

    def __call__(self, result: Any) -> None:
        """The ``post_run_cell`` callback: keep the error of the cell that just ran, if any."""
        exc = result.error_in_exec or result.error_before_exec
        count = result.execution_count
        if exc is None or count is None:
            return
        source = getattr(result.info, "raw_cell", "") or ""
        message = str(exc)
        self._errors[count] = CellError(count, source, type(exc).__name__, message, _format(exc, self.shell))

    def __getitem__(self, cell: int) -> CellError:
        if cell in self._errors:
            return self._errors[cell]
        if isinstance(cell, int) and cell < 0 and -cell <= len(self._errors):  # Err[-1]: the last
            return self._errors[sorted(self._errors)[cell]]
        raise KeyError(f"cell {cell} raised no error (cells with errors: "
                       f"{', '.join(map(str, sorted(self._errors))) or 'none yet'})")

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._errors))

    def __len__(self) -> int:
        return len(self._errors)

    @property
    def last(self) -> CellError | None:
        """The most recent error, or None."""
        return self._errors[max(self._errors)] if self._errors else None

    def __repr__(self) -> str:
        return f"Err({', '.join(f'{n}: {e.type}' for n, e in sorted(self._errors.items())) or 'no errors yet'})"


def install(shell: Any) -> CellErrors:
    """Start keeping cell errors (``Err`` in the user namespace, unless the user has their own)."""
    errors = CellErrors(shell)
    shell.events.register("post_run_cell", errors)
    if isinstance(shell.user_ns.get("Err", errors), CellErrors):  # a user's own Err stays theirs
        shell.user_ns["Err"] = errors
    return errors


def uninstall(shell: Any, errors: CellErrors) -> None:
    """Stop keeping cell errors and take ``Err`` out of the namespace (if it is still ours)."""
    try:
        shell.events.unregister("post_run_cell", errors)
    except ValueError:
        pass
    if shell.user_ns.get("Err") is errors:
        del shell.user_ns["Err"]

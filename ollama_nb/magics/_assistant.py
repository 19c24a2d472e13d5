"""The notebook's own assistant: ``%ollama explain [N]``, ``%ollama fix [N]`` and code as the next cell.

Both read cell N's record in ``Err`` (:mod:`._cell_errors`; default: the last cell that
raised) and send only that cell: its source, the exception's type and message and the
trimmed traceback, never other cells. The answer streams like ``%%ollama`` (same
options, aliases, ``_ollama``). ``fix`` then offers the answer's first code block as the
next cell, as ``%%ollama --new-cell`` does.

The next cell goes through ``shell.set_next_input``: in a kernel that writes the
``set_next_input`` payload of the execute reply, which JupyterLab and Notebook 7 turn
into a new cell below; terminal IPython puts it at the next prompt. VS Code
(microsoft/vscode-jupyter#4566), Colab (jupyterlab/jupyter-ai#411), nbconvert and a
shell with no frontend ignore it, so there the code is shown as a code block with a
one-line note instead.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from typing import Any

from IPython.core.error import UsageError

from ..display._render import escape_pre, first_code_block
from ._parse import SUBCOMMANDS, parse_cell_line

__all__ = ["assist", "offer_cell"]

SYSTEM = ("You are a Python expert helping someone in a Jupyter notebook. Be brief and concrete; "
          "put code in fenced ```python blocks.")

_ASK = {
    "explain": "Explain the error this Jupyter notebook cell raised: what it means, the likely "
               "cause in this code, and how to fix it.",
    "fix": "Fix this Jupyter notebook cell so that it no longer raises the error below. Answer "
           "with the whole corrected cell as one ```python code block, then one sentence on what "
           "you changed.",
}


def build_prompt(action: str, error: Any) -> str:
    """The prompt for ``explain``/``fix``: the question, cell N's source, its error.

    Cells are named without their execution counts (``this cell``, ``another cell``): the
    same cell and error make the same prompt whenever they ran, so a recorded notebook
    replays (nbval, for one, executes without counting) and the model is told nothing that
    does not help it."""
    fence = "````" if "```" in error.source else "```"
    traceback = re.sub(r"Cell In\[(\d+)\]", lambda m: "this cell" if int(m[1]) == error.cell
                       else "another cell", error.traceback)
    return (f"{_ASK[action]}\n\nThe cell:\n{fence}python\n{error.source.rstrip()}\n{fence}\n\n"
            f"Error ({error.type}):\n```\n{traceback}\n```")


def _pick(errors: Any, words: list[str], action: str) -> tuple[Any, list[str]]:
    """Cell N's record (N the first word, if it is a number) and the remaining words."""
    usage = SUBCOMMANDS[action]
    if errors is None:
        raise UsageError(f"%ollama {action} needs IPython's shell (it reads the cells' errors)")
    cell: int | None = None
    if words and words[0].lstrip("-").isdigit():
        cell = int(words[0])
        words = words[1:]
    if cell is None:
        if errors.last is None:
            raise UsageError(f"no error to {action} yet: run a cell that raises, then %ollama "
                             f"{action} (errors are kept from %load_ext ollama_nb on). Usage: {usage}")
        return errors.last, words
    try:
        return errors[cell], words
    except KeyError as exc:
        raise UsageError(f"{exc.args[0]}; %ollama {action} N takes one of those cells") from None


def assist(magics: Any, action: str, words: list[str], local_ns: Any) -> None:
    """Run ``%ollama explain`` or ``%ollama fix`` with the usual ``%%ollama`` options."""
    error, words = _pick(magics.errors, words, action)
    args = parse_cell_line(shlex.join(words), aliases=magics.aliases, default=magics.model)
    if args.compare or args.chat:
        raise UsageError(f"%ollama {action} asks one model about one cell: leave out "
                         f"{'--compare' if args.compare else '--chat'}")
    if args.system is None:
        args.system = SYSTEM
    result = magics.answer(args, build_prompt(action, error), local_ns)
    if action == "fix" or args.new_cell:
        offer_cell(magics, result, what="the fixed cell" if action == "fix" else "the code")


def _takes_cells(shell: Any, live: bool) -> str:
    """How ``set_next_input`` lands: ``'cell'`` (a Jupyter frontend), ``'prompt'`` (terminal), ``''``."""
    if not live:  # nbconvert / nbval / final display mode: payloads are not applied
        return ""
    if getattr(shell, "kernel", None) is not None:
        if "VSCODE_PID" in os.environ or "google.colab" in sys.modules:
            return ""
        return "cell"
    terminal = sys.modules.get("IPython.terminal.interactiveshell")
    if terminal is not None and isinstance(shell, terminal.TerminalInteractiveShell):
        return "prompt"
    return ""


def offer_cell(magics: Any, result: Any, *, what: str = "the code") -> None:
    """Put the answer's first code block in the next cell, or show it with a note where that cannot be."""
    from IPython.display import display

    if result.fmt == "code" or (result.fmt == "text" and "```" not in result.text):
        code = first_code_block(result.text) or result.text.strip() or None
    else:
        code = first_code_block(result.text)
    if not code:
        print("(the answer has no code block: no new cell; ask again, e.g. with --format code)")
        return
    where = _takes_cells(magics.shell, magics.live)
    if where:
        magics.shell.set_next_input(code, replace=False)
        print(f"↓ {what} is in the next cell: review it, then run it" if where == "cell"
              else f"{what} is at the next prompt: review it, then press Enter")
        return
    display({"text/plain": code, "text/html": escape_pre(code)}, raw=True)
    print(f"↑ {what}: this frontend cannot add cells from the kernel; copy it into a new cell "
          f"(it is also _ollama.code)")

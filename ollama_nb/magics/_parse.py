"""Argument parsing for ``%%ollama`` and ``%ollama``: shlex + argparse, errors as UsageError.

Every parser here raises :class:`IPython.core.error.UsageError` with one line
(what was wrong, then the usage line) instead of printing and exiting.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from collections.abc import Mapping
from typing import Any, NoReturn

from IPython.core.error import UsageError

from ..display._render import FORMATS

__all__ = [
    "CELL_USAGE",
    "HELP",
    "check_alias",
    "SUBCOMMANDS",
    "MagicParser",
    "parse_cell_line",
    "parse_keep_alive",
    "parse_option",
    "split",
    "subcommand_parser",
]

CELL_USAGE = "%%ollama [MODEL] [-m MODEL] [options]   (see `%ollama help`)"
THINK_LEVELS = ("low", "medium", "high", "max")


class MagicParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one-line UsageErrors (never SystemExit)."""

    def __init__(self, *args: Any, short_usage: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("add_help", False)
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
        self.short_usage = short_usage

    def error(self, message: str) -> NoReturn:
        usage = self.short_usage or " ".join(self.format_usage().split())
        raise UsageError(f"{message}. Usage: {usage.removeprefix('usage: ')}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message.strip() if message else self.short_usage)


def split(line: str) -> list[str]:
    """shlex-split a magic line; unbalanced quotes are a UsageError."""
    try:
        return shlex.split(line, posix=True)
    except ValueError as exc:
        raise UsageError(f"cannot parse options ({exc}): check the quotes in {line.strip()!r}") from None


def _coerce(text: str) -> Any:
    """``-O`` value typing: int, float, true/false, JSON (lists, objects, null), else the string."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text[:1] in "[{\"" or lowered == "null":
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


def parse_option(item: str) -> tuple[str, Any]:
    """``key=value`` from ``-O`` into a typed pair."""
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"-O expects key=value (e.g. -O top_k=20), got {item!r}")
    return key, _coerce(value.strip())


def parse_keep_alive(text: str) -> float | str:
    """``--keep-alive``: a number means seconds, anything else is a duration like ``5m``."""
    try:
        return float(text) if "." in text else int(text)
    except ValueError:
        return text


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _cell_parser() -> MagicParser:
    p = MagicParser(prog="%%ollama", short_usage=CELL_USAGE)
    p.add_argument("model_pos", nargs="?", default=None, metavar="MODEL")
    p.add_argument("-m", "--model", default=None)
    p.add_argument("-s", "--system", default=None)
    p.add_argument("--temperature", type=_float, default=None)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--num-predict", type=int, default=None)
    p.add_argument("--num-ctx", type=int, default=None)
    p.add_argument("--stop", action="append", default=[])
    p.add_argument("-O", "--option", action="append", default=[], dest="options")
    p.add_argument("--json", action="store_true")
    p.add_argument("--schema", default=None, metavar="VAR")
    p.add_argument("--tools", action="append", default=[], metavar="NAME[,NAME...]")
    p.add_argument("--max-rounds", type=int, default=None, metavar="N")
    p.add_argument("--confirm", action="store_true")
    think = p.add_mutually_exclusive_group()
    think.add_argument("--think", action="store_const", const=True, default=None)
    think.add_argument("--no-think", dest="think", action="store_const", const=False)
    think.add_argument("--think-level", dest="think", choices=THINK_LEVELS, help=argparse.SUPPRESS)
    p.add_argument("--images", action="append", default=[], metavar="VAR_OR_PATH")
    p.add_argument("--raw", action="store_true")
    p.add_argument("--keep-alive", type=parse_keep_alive, default=None)
    p.add_argument("--host", default=None)
    p.add_argument("--timeout", type=_float, default=None)
    p.add_argument("--no-stream", dest="stream", action="store_false")
    p.add_argument("--format", choices=FORMATS, default=None, dest="fmt")
    p.add_argument("--pane", action="store_true")
    background = p.add_mutually_exclusive_group()
    background.add_argument("--bg", dest="background", action="store_const", const=True,
                            default=None)
    background.add_argument("--no-bg", dest="background", action="store_const", const=False)
    p.add_argument("--chat", nargs="?", const="default", default=None, metavar="NAME")
    p.add_argument("-o", "--output", default=None, metavar="VAR")
    p.add_argument("--no-interpolate", dest="interpolate", action="store_false")
    p.add_argument("--new-cell", action="store_true")
    p.add_argument("--compare", default=None, metavar="M1,M2")
    p.add_argument("--sequential", action="store_true")
    return p


_CELL_PARSER: MagicParser | None = None


def _tokens(line: str) -> list[str]:
    tokens = []
    for token in split(line):
        # --think=high selects a thinking level; bare --think is a switch
        if token.startswith("--think="):
            tokens += ["--think-level", token.partition("=")[2]]
        else:
            tokens.append(token)
    return tokens


def _parse(tokens: list[str], namespace: argparse.Namespace | None = None) -> argparse.Namespace:
    global _CELL_PARSER
    if _CELL_PARSER is None:
        _CELL_PARSER = _cell_parser()
    args = _CELL_PARSER.parse_args(tokens, namespace=namespace)
    if args.model_pos and args.model:
        raise UsageError(f"two models given ({args.model_pos!r} and -m {args.model!r}); "
                         f"use one. Usage: {CELL_USAGE}")
    if args.model_pos and args.model_pos.startswith("-"):
        raise UsageError(f"unknown option {args.model_pos!r}. Usage: {CELL_USAGE}")
    args.model = args.model or args.model_pos
    del args.model_pos
    return args


def parse_cell_line(line: str, *, aliases: Mapping[str, str] | None = None,
                    default: str | None = None) -> argparse.Namespace:
    """Parse the ``%%ollama`` line (prompt form) into a namespace with ``model`` resolved.

    When the model (given, or ``default``) is one of ``aliases``, the alias's options come
    first and the line's own options override them; ``args.alias`` names the alias.
    """
    tokens = _tokens(line)
    args = _parse(tokens)
    given = args.model
    name = given or default
    args.alias = None
    if aliases and name and name in aliases:
        base = _parse(_tokens(aliases[name]))
        model = base.model
        del base.model
        args = _parse(tokens, namespace=base)
        args.model, args.alias = model, name
    if args.output is not None and not args.output.isidentifier():
        raise UsageError(f"-o needs a Python variable name, got {args.output!r}")
    if args.timeout is not None and args.timeout <= 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    if args.json and args.schema:
        raise UsageError("use either --json or --schema VAR, not both")
    args.tools = [name.strip() for item in args.tools for name in item.split(",") if name.strip()]
    if not args.tools and (args.max_rounds is not None or args.confirm):
        flag = "--max-rounds" if args.max_rounds is not None else "--confirm"
        raise UsageError(f"{flag} goes with --tools NAME[,NAME...] (the functions the model may call)")
    if args.max_rounds is not None and args.max_rounds < 1:
        raise UsageError(f"--max-rounds must be at least 1, got {args.max_rounds}")
    if args.tools and args.raw:
        raise UsageError("--raw works only without --tools (tools need the chat template)")
    if args.compare is not None:
        args.compare = [m.strip() for m in args.compare.split(",") if m.strip()]
        if len(args.compare) < 2 or given:
            raise UsageError("--compare takes two or more models, separated by commas, instead "
                             "of MODEL: %%ollama --compare llama3.2,qwen3")
        flags = {"--chat": args.chat, "--pane": args.pane, "--new-cell": args.new_cell,
                 "--bg": args.background}
        clash = next((name for name, on in flags.items() if on), None)
        if clash:
            raise UsageError(f"--compare shows every answer side by side: it cannot go with {clash}")
    elif args.sequential:
        raise UsageError("--sequential goes with --compare M1,M2 (one model after another)")
    return args


_ALIAS_NAME = re.compile(r"[A-Za-z0-9_][\w.:/-]*")


def check_alias(name: str, spec: str, aliases: Mapping[str, str]) -> str:
    """Validate ``%ollama alias NAME MODEL [options]``; the normalised spec, or a UsageError."""
    if not _ALIAS_NAME.fullmatch(name) or "," in name:
        raise UsageError(f"alias name {name!r}: use letters, digits and _ . : / - "
                         f"(no commas, not starting with -)")
    args = _parse(_tokens(spec))
    if not args.model:
        raise UsageError(f"alias {name}: name the model first, e.g. %ollama alias {name} llama3.2 "
                         f"--temperature 0")
    if args.model in aliases and args.model != name:
        raise UsageError(f"alias {name}: {args.model!r} is itself an alias; name a model")
    if args.compare is not None:
        raise UsageError(f"alias {name}: an alias names one model; --compare takes aliases instead")
    return " ".join(shlex.quote(token) for token in split(spec))


# --------------------------------------------------------------------------- subcommands

SUBCOMMANDS: dict[str, str] = {
    "models": "%ollama models",
    "ps": "%ollama ps",
    "show": "%ollama show MODEL [--verbose]",
    "pull": "%ollama pull MODEL [--insecure]",
    "push": "%ollama push MODEL [--insecure]",
    "create": "%%ollama create NAME [-q QUANTIZE]  + Modelfile in the cell",
    "cp": "%ollama cp SRC DST",
    "rm": "%ollama rm MODEL",
    "embed": "%%ollama embed [MODEL] [-o VAR]  |  %ollama embed [MODEL] --from VAR [-o VAR]",
    "model": "%ollama model [NAME]",
    "host": "%ollama host [URL]",
    "hosts": "%ollama hosts [URL[=N] ...] [--concurrency N] [--clear]",
    "status": "%ollama status",
    "chat": "%ollama chat [NAME] [--reset | --history | --save PATH]",
    "log": "%ollama log [-n N] [--search TEXT] [--model M] [--on | --off]",
    "record": "%ollama record FILE [--append] | %ollama record --stop",
    "picker": "%ollama picker",
    "chatbox": "%ollama chatbox [NAME] [-m MODEL]",
    "stop": "%ollama stop [all | N]",
    "explain": "%ollama explain [N] [MODEL] [options]   the last error (or cell N's), explained",
    "fix": "%ollama fix [N] [MODEL] [options]   a corrected cell, as the next cell",
    "alias": "%ollama alias [NAME [MODEL [options]]]  |  %ollama alias --rm NAME",
    "help": "%ollama help",
}


HELP = """\
%%ollama [MODEL] [options]      prompt a model with the cell; the answer streams, then renders
    -m MODEL  -s/--system TEXT  --temperature T  --seed N  --num-predict N  --num-ctx N
    --stop TEXT (repeatable)  -O key=value (any Ollama option)  --json  --schema VAR
    --think / --no-think / --think=LEVEL  --images VAR_OR_PATH  --raw  --keep-alive 5m
    --host URL  --timeout S  --no-stream  --format markdown|text|code|json  --pane
    --chat [NAME]  -o VAR  --no-interpolate         ({{expr}} is replaced from your namespace)
    --bg / --no-bg    the cell returns at once; the answer streams into its output, with Stop
    --tools f,g [--max-rounds N] [--confirm]   the model may call your functions f and g
    --schema VAR: a pydantic model, dataclass, TypedDict or JSON-schema dict (-> _ollama.parsed);
        with --tools, the tools run first, then one more request gives the structured answer
    --new-cell: the answer's first code block becomes the next cell (JupyterLab, Notebook 7)
    --compare M1,M2[,...] [--sequential]: one prompt, the answers side by side, then stats
    Put MODEL first (%%ollama MODEL --chat NAME); --images takes bytes, paths, PIL images or lists.
    {{In[3]}} {{Out[3]}} {{Err[3]}}: cell 3's source, its value, its error (type, message,
    traceback). MODEL can be an alias (%ollama alias fast llama3.2 --temperature 0).
    The last result is _ollama (.text .thinking .json .parsed .tool_calls .stats .request).
    With --bg, -o VAR holds the pending result at once and _ollama is set when the answer ends;
    `await onb.wait()` (or `await VAR`) waits; `%ollama stop [all | N]` stops the newest
    background answer, all of them or #N. Without a notebook frontend (nbconvert, nbval,
    terminal) a --bg cell waits for its answer.
""" + "\n".join(f"{usage}" for usage in SUBCOMMANDS.values()) + """
Settings: %config OllamaMagics  (host, hosts, model, embed_model, timeout, update_rate,
display_mode, history_limit, options, show_stats, use_widgets, background, background_limit,
aliases)"""


def subcommand_parser(name: str) -> MagicParser:
    """The parser for one subcommand's arguments (after the subcommand word)."""
    p = MagicParser(prog=f"%ollama {name}", short_usage=SUBCOMMANDS[name])
    host_option = name not in ("model", "host", "hosts", "help", "chat", "picker", "chatbox",
                               "stop", "log", "record")
    if host_option:
        p.add_argument("--host", default=None)
    if name in ("show", "pull", "push", "rm"):
        p.add_argument("model")
    if name == "show":
        p.add_argument("--verbose", "-v", action="store_true")
    if name in ("pull", "push"):
        p.add_argument("--insecure", action="store_true")
    if name == "create":
        p.add_argument("model", metavar="NAME")
        p.add_argument("-q", "--quantize", default=None)
    if name == "cp":
        p.add_argument("source")
        p.add_argument("destination")
    if name == "embed":
        p.add_argument("model", nargs="?", default=None)
        p.add_argument("--from", dest="source", default=None, metavar="VAR")
        p.add_argument("-o", "--output", default=None, metavar="VAR")
        p.add_argument("--no-interpolate", dest="interpolate", action="store_false")
    if name in ("model", "host"):
        p.add_argument("value", nargs="?", default=None)
    if name == "hosts":
        p.add_argument("urls", nargs="*", metavar="URL[=N]")
        p.add_argument("-c", "--concurrency", type=int, default=None, metavar="N")
        p.add_argument("--clear", action="store_true")
    if name == "chat":
        p.add_argument("chat_name", nargs="?", default=None, metavar="NAME")
        action = p.add_mutually_exclusive_group()
        action.add_argument("--reset", action="store_true")
        action.add_argument("--history", action="store_true")
        action.add_argument("--save", default=None, metavar="PATH")
    if name == "log":
        p.add_argument("-n", type=int, default=20, metavar="N")
        p.add_argument("--search", default=None, metavar="TEXT")
        p.add_argument("--model", "-m", default=None)
        switch = p.add_mutually_exclusive_group()
        switch.add_argument("--on", dest="switch", action="store_const", const=True)
        switch.add_argument("--off", dest="switch", action="store_const", const=False)
    if name == "record":
        p.add_argument("file", nargs="?", default=None, metavar="FILE")
        p.add_argument("--append", action="store_true")
        p.add_argument("--stop", action="store_true")
    if name == "chatbox":
        p.add_argument("chat_name", nargs="?", default="default", metavar="NAME")
        p.add_argument("-m", "--model", default=None)
    if name == "stop":
        p.add_argument("which", nargs="?", default=None, metavar="all|N")
    return p

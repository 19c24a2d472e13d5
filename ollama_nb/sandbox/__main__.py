"""``python -m ollama_nb.sandbox``: same as ``ollama-nb sandbox``."""

from __future__ import annotations

import argparse
import sys

from .cli import add_sandbox_parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ollama_nb.sandbox")
    sub = parser.add_subparsers(dest="command")
    add_sandbox_parser(sub)
    args = parser.parse_args(["sandbox", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

"""The ``ollama-nb`` command: ``sandbox``, ``proxy`` and ``demo`` subcommands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ollama-nb", description="Ollama in Jupyter: tools around the ollama_nb package."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    from ._demo import add_demo_parser
    from .sandbox.cli import add_proxy_parser, add_sandbox_parser

    add_sandbox_parser(sub)
    add_proxy_parser(sub)
    add_demo_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

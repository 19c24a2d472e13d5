"""``{{expr}}`` interpolation of prompts from the user namespace.

Only double braces are touched: prompts are full of code and JSON, so ``{x}``
and ``{"a": 1}`` pass through unchanged. ``{{{{`` is not special either; use
``--no-interpolate`` to send double braces literally.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from IPython.core.error import UsageError

__all__ = ["interpolate"]

_EXPR = re.compile(r"\{\{(.+?)\}\}", re.DOTALL)


def interpolate(text: str, user_ns: dict[str, Any], local_ns: Mapping[str, Any] | None = None) -> str:
    """Replace each ``{{expr}}`` with ``str(eval(expr))``; a failure is a one-line UsageError."""
    if "{{" not in text:
        return text

    def value(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if not expr:
            return match.group(0)
        try:
            result = eval(expr, user_ns, local_ns)
        except Exception as exc:  # noqa: BLE001 - any error in the user's expression
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())
            raise UsageError(f"cannot interpolate {{{{{expr}}}}} ({detail}); "
                             f"fix the expression or use --no-interpolate") from None
        return str(result)

    return _EXPR.sub(value, text)

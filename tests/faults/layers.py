"""Small helpers the layer modules share: building magic lines, reading outputs."""

from __future__ import annotations

from typing import Any

from cases import Target


def magic_options(target: Target) -> str:
    """``--host`` / ``--timeout`` for a target (a (connect, read) pair uses its first number)."""
    parts = []
    if target.host is not None:
        parts.append(f"--host {target.host}")
    timeout = target.timeout
    if isinstance(timeout, tuple):
        timeout = timeout[0]
    if timeout is not None:
        parts.append(f"--timeout {timeout:g}")
    return " ".join(parts)


def html_outputs(cap: Any) -> list[str]:
    """Every text/html payload a captured cell displayed (display and updates)."""
    return [o.data.get("text/html", "") for o in cap.outputs]

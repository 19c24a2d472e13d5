"""Fault injection: what can go wrong between a client and an Ollama server.

Faults are switched on three ways, all ending up as ``Fault`` objects:
``Sandbox.inject(kind, model=..., times=..., **params)``, ``POST /_sandbox/faults``
with the same fields as JSON, or per request with the header
``X-Sandbox-Fault: kind; key=value; ...`` (several faults separated by ``,``).
A request collects every matching fault into one ``FaultPlan``.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from . import _names

KINDS: dict[str, dict[str, Any]] = {
    # kind: default parameters
    "latency": {"seconds": 0.05},
    "slow_load": {"seconds": 0.5},
    "error": {"status": 500, "message": "an error was encountered while running the model"},
    "error_after": {"n": 1, "message": "an error was encountered while running the model"},
    "drop_after": {"n": 1},
    "stall": {"seconds": 1.0, "n": 0},
    "malformed_after": {"n": 1},
    "no_done": {"n": 1},
    "empty_body": {},
    "huge_line": {"bytes": 1_000_000},
    "html_error": {"status": 502},
}

_ids = itertools.count(1)


@dataclass
class Fault:
    """One injected fault. ``times=None`` means every matching request."""

    kind: str
    model: str | None = None
    times: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    id: int = field(default_factory=lambda: next(_ids))
    hits: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "model": self.model, "times": self.times,
                "hits": self.hits, **self.params}


def make_fault(kind: str, *, model: str | None = None, times: int | None = None,
               **params: Any) -> Fault:
    """Validate and build a fault; ValueError with a one-line reason when wrong."""
    if kind not in KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; choose one of {', '.join(KINDS)}")
    unknown = set(params) - set(KINDS[kind])
    if unknown:
        raise ValueError(f"fault {kind!r} takes {sorted(KINDS[kind]) or 'no parameters'}, "
                         f"not {sorted(unknown)}")
    merged = {**KINDS[kind], **params}
    for key, value in merged.items():
        default = KINDS[kind][key]
        if isinstance(default, (int, float)) and not isinstance(value, (int, float)):
            try:
                merged[key] = type(default)(value)
            except (TypeError, ValueError):
                raise ValueError(f"fault {kind!r}: {key} must be a number, not {value!r}") from None
    if times is not None and int(times) < 1:
        raise ValueError("times must be a positive integer (or None for always)")
    return Fault(kind, model, None if times is None else int(times), merged)


def parse_header(value: str) -> list[Fault]:
    """``"error_after; n=2; message=boom, latency; seconds=0.1"`` -> faults."""
    faults = []
    for item in value.split(","):
        parts = [p.strip() for p in item.split(";") if p.strip()]
        if not parts:
            continue
        params: dict[str, Any] = {}
        for part in parts[1:]:
            key, sep, raw = part.partition("=")
            if not sep:
                raise ValueError(f"bad X-Sandbox-Fault parameter {part!r}; use key=value")
            params[key.strip()] = raw.strip()
        faults.append(make_fault(parts[0], **params))
    return faults


@dataclass
class FaultPlan:
    """Everything that should go wrong with one request."""

    faults: list[Fault] = field(default_factory=list)

    def get(self, kind: str) -> dict[str, Any] | None:
        for fault in self.faults:
            if fault.kind == kind:
                return fault.params
        return None

    def __bool__(self) -> bool:
        return bool(self.faults)


class FaultSet:
    """The faults injected into one sandbox (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, model: str | None, header: str | None) -> FaultPlan:
        """Faults for a request to ``model``; uses up one of each fault's ``times``."""
        plan = FaultPlan(parse_header(header) if header else [])
        wanted = _names.parse(model) if model else None
        with self._lock:
            for fault in list(self._faults):
                if fault.model is not None:
                    target = _names.parse(fault.model)
                    if wanted is None or target is None or target.key != wanted.key:
                        continue
                fault.hits += 1
                plan.faults.append(fault)
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
        return plan

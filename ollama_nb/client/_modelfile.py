"""Modelfile text -> the fields of the current ``/api/create`` request.

The server dropped its ``modelfile`` field (v0.5.5); clients parse the Modelfile
and send ``from`` / ``files`` / ``adapters`` / ``system`` / ``template`` /
``parameters`` / ``messages`` / ``license``. Syntax handled: commands in any case,
``#`` comments, values plain, ``"quoted"`` or ``\"\"\"triple-quoted\"\"\"`` over
several lines, repeated ``PARAMETER`` keys (``stop`` always a list), ``MESSAGE role
text``, several ``LICENSE`` blocks. Local ``FROM`` / ``ADAPTER`` paths are returned as
``{"files": {name: path}}`` / ``{"adapters": ...}`` for the client to upload.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ._args import _BOOL_OPTIONS, _FLOAT_OPTIONS, _INT_OPTIONS
from ._errors import InvalidArgumentError

__all__ = ["parse_modelfile", "COMMANDS"]

COMMANDS = ("from", "adapter", "template", "system", "parameter", "message", "license",
            "renderer", "parser", "requires")
_ROLES = ("system", "user", "assistant", "tool")


def _error(lineno: int, what: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"Modelfile line {lineno}: {what}")


def _unquote(text: str) -> str:
    """``"a \\"b\\""`` -> ``a "b"`` (JSON-like escapes), anything else unchanged."""
    try:
        value = json.loads(text)
        if isinstance(value, str):
            return value
    except ValueError:
        pass
    return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def _value(lines: list[str], index: int, rest: str, lineno: int) -> tuple[str, int]:
    """Read a value starting at ``rest`` on line ``index``; returns (value, next line index)."""
    rest = rest.strip()
    if rest.startswith('"""'):
        body = rest[3:]
        if '"""' in body:
            value, _, tail = body.partition('"""')
            if tail.strip():
                raise _error(lineno, f"unexpected text after closing \"\"\": {tail.strip()!r}")
            return value, index + 1
        parts = [body]
        for j in range(index + 1, len(lines)):
            line = lines[j]
            if '"""' in line:
                head, _, tail = line.partition('"""')
                if tail.strip():
                    raise _error(j + 1, f"unexpected text after closing \"\"\": {tail.strip()!r}")
                parts.append(head)
                return "\n".join(parts), j + 1
            parts.append(line)
        raise _error(lineno, 'unterminated """ (no closing """ before the end)')
    if len(rest) >= 2 and rest[0] == rest[-1] == '"':
        return _unquote(rest), index + 1
    if rest.startswith('"'):
        raise _error(lineno, 'unterminated " quote')
    return rest, index + 1


def _parameter_value(name: str, text: str, lineno: int) -> Any:
    key = name.lower()
    try:
        if key in _INT_OPTIONS:
            return int(text)
        if key in _FLOAT_OPTIONS:
            return float(text)
    except ValueError:
        kind = "an integer" if key in _INT_OPTIONS else "a number"
        raise _error(lineno, f"PARAMETER {name} must be {kind}, got {text!r}") from None
    if key in _BOOL_OPTIONS:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise _error(lineno, f"PARAMETER {name} must be true or false, got {text!r}")
    if key == "stop":
        return text
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return text


def _is_path(value: str, base_dir: Path) -> bool:
    if value.startswith(("/", "./", "../", "~", ".\\")) or (len(value) > 2 and value[1:3] in (":\\", ":/")):
        return True
    if value.lower().endswith((".gguf", ".bin", ".safetensors")):
        return True
    candidate = Path(value).expanduser()
    candidate = candidate if candidate.is_absolute() else base_dir / candidate
    return ("/" in value or "\\" in value) and candidate.exists()


def parse_modelfile(text: str, *, base_dir: Path | None = None) -> dict[str, Any]:
    """Parse a Modelfile into create fields; a syntax error names the line."""
    if not isinstance(text, str):
        raise InvalidArgumentError("modelfile must be text")
    base = base_dir or Path.cwd()
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    spec: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    messages: list[dict[str, str]] = []
    licenses: list[str] = []
    adapters: dict[str, str] = {}
    index = 0
    while index < len(lines):
        lineno = index + 1
        line = lines[index].strip()
        if not line or line.startswith("#"):
            index += 1
            continue
        command, _, rest = line.partition(" ")
        if "\t" in command:
            command, _, more = command.partition("\t")
            rest = f"{more} {rest}"
        word = command.lower()
        if word not in COMMANDS:
            raise _error(lineno, f"unknown command {command!r}; expected one of "
                         + ", ".join(c.upper() for c in COMMANDS))
        if word == "parameter":
            name, _, value_text = rest.strip().partition(" ")
            if not name or not value_text.strip():
                raise _error(lineno, "PARAMETER needs a name and a value, e.g. PARAMETER temperature 0.7")
            value, index = _value(lines, index, value_text, lineno)
            converted = _parameter_value(name, value, lineno)
            key = name.lower()
            if key == "stop":
                parameters.setdefault("stop", []).append(converted)
            elif key in parameters:
                previous = parameters[key]
                parameters[key] = (previous if isinstance(previous, list) else [previous]) + [converted]
            else:
                parameters[key] = converted
            continue
        if word == "message":
            role, _, value_text = rest.strip().partition(" ")
            if role.lower() not in _ROLES:
                raise _error(lineno, f"MESSAGE role must be one of {', '.join(_ROLES)}, got {role!r}")
            value, index = _value(lines, index, value_text, lineno)
            messages.append({"role": role.lower(), "content": value})
            continue
        if not rest.strip():
            raise _error(lineno, f"{command.upper()} needs a value")
        value, index = _value(lines, index, rest, lineno)
        if word == "from":
            if "from" in spec or "files" in spec:
                raise _error(lineno, "more than one FROM")
            if _is_path(value, base):
                path = Path(value).expanduser()
                spec["files"] = {path.name: str(path if path.is_absolute() else base / path)}
            else:
                spec["from"] = value.strip()
        elif word == "adapter":
            path = Path(value).expanduser()
            if not _is_path(value, base):
                raise _error(lineno, f"ADAPTER must be a local file or folder, got {value!r}")
            adapters[path.name] = str(path if path.is_absolute() else base / path)
        elif word == "license":
            licenses.append(value)
        elif word == "requires":
            spec["requires"] = value.strip()
        else:  # template, system, renderer, parser
            spec[word] = value
    if "from" not in spec and "files" not in spec:
        raise InvalidArgumentError("Modelfile has no FROM line (e.g. FROM llama3.2)")
    if parameters:
        spec["parameters"] = parameters
    if messages:
        spec["messages"] = messages
    if adapters:
        spec["adapters"] = adapters
    if licenses:
        spec["license"] = licenses[0] if len(licenses) == 1 else licenses
    return spec

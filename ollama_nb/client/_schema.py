"""JSON schemas from Python types, and answers checked against them.

* :func:`type_schema` turns an annotation (``int``, ``Literal["a", "b"]``, ``Optional[X]``,
  ``list[X]``, an ``Enum``, a dataclass, a ``TypedDict``, a pydantic model) into the JSON
  schema Ollama's ``format`` and ``tools`` take; tools (:mod:`._tools`) build their
  parameters with it.
* :class:`Schema` is what ``schema=`` / ``--schema`` accept (a pydantic model class, a
  dataclass, a ``TypedDict`` or a JSON-schema dict): ``.json`` is sent as ``format``,
  ``.parse(text)`` gives a validated object (the model instance, the dataclass, or the
  plain data) or raises :class:`~ollama_nb.client._errors.SchemaError` naming the first
  field that does not fit.

pydantic is optional: its models are validated by pydantic itself when it is installed.
The other forms are checked by :func:`first_problem`, a small validator of the keywords
Ollama's constrained decoding honours (type, enum, const, properties, required,
additionalProperties, items, anyOf/oneOf/allOf, ``$ref`` to ``$defs``, and the numeric
and length bounds), so the client does not need ``jsonschema`` to check an answer.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import json
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from ._errors import InvalidArgumentError, SchemaError

__all__ = ["Schema", "build", "first_problem", "is_typed_dict", "parse_docstring", "type_ok",
           "type_schema"]

_SIMPLE: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean",
                           type(None): "null"}
_FORMATS: dict[Any, str] = {_dt.datetime: "date-time", _dt.date: "date", _dt.time: "time"}


def is_pydantic_model(tp: Any) -> bool:
    return isinstance(tp, type) and hasattr(tp, "model_json_schema") and hasattr(tp, "model_validate")


def is_typed_dict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _hints(tp: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(tp, include_extras=True)
    except Exception:  # noqa: BLE001 - an annotation that cannot be resolved: take it as written
        return dict(getattr(tp, "__annotations__", {}))


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is typing.Union or (hasattr(types, "UnionType") and isinstance(tp, types.UnionType)):
        return typing.get_args(tp)
    return None


def type_schema(tp: Any, defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON schema of annotation ``tp``; named types (models, dataclasses, TypedDicts,
    enums) are written inline, except pydantic's own ``$defs``, which go into ``defs``."""
    defs = {} if defs is None else defs
    if tp is Any or tp is object or tp is typing.Any:
        return {}
    if typing.get_origin(tp) is typing.Annotated:
        base, *extra = typing.get_args(tp)
        schema = type_schema(base, defs)
        text = next((x for x in extra if isinstance(x, str)), None)
        return {**schema, "description": text} if text else schema
    if tp in _SIMPLE:
        return {"type": _SIMPLE[tp]}
    if tp in _FORMATS:
        return {"type": "string", "format": _FORMATS[tp]}
    union = _union_args(tp)
    if union is not None:
        parts = [type_schema(a, defs) for a in union]
        kinds = [p.get("type") for p in parts]
        if all(isinstance(k, str) and set(p) == {"type"} for k, p in zip(kinds, parts)):
            return {"type": kinds}  # Optional[int] -> {"type": ["integer", "null"]}
        return {"anyOf": parts}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return _enum([v.value if isinstance(v, enum.Enum) else v for v in args])
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum([m.value for m in tp])
    if origin in (list, tuple, set, frozenset) or origin in (Sequence, typing.Sequence):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return {"type": "array", "prefixItems": [type_schema(a, defs) for a in args],
                    "minItems": len(args), "maxItems": len(args)}
        return {"type": "array", "items": type_schema(args[0], defs) if args else {}}
    if tp in (list, tuple, set, frozenset):
        return {"type": "array"}
    if origin in (dict, Mapping, typing.Mapping) or tp is dict:
        value = type_schema(args[1], defs) if len(args) == 2 else {}
        return {"type": "object", "additionalProperties": value} if value else {"type": "object"}
    if is_pydantic_model(tp):
        schema = dict(tp.model_json_schema())
        defs.update(schema.pop("$defs", {}))
        return schema
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        hints = _hints(tp)
        props, required = {}, []
        for f in dataclasses.fields(tp):
            props[f.name] = type_schema(hints.get(f.name, Any), defs)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                required.append(f.name)
        return _object(tp, props, required)
    if is_typed_dict(tp):
        hints = _hints(tp)
        props = {name: type_schema(_strip_required(hint), defs) for name, hint in hints.items()}
        return _object(tp, props, [n for n in hints if n in tp.__required_keys__])
    raise InvalidArgumentError(f"cannot describe {getattr(tp, '__name__', tp)!r} as a JSON schema: "
                               f"use str, int, float, bool, Literal, list, dict, an Enum, a dataclass, "
                               f"a TypedDict or a pydantic model")


def _enum(values: list[Any]) -> dict[str, Any]:
    """``{"type": ..., "enum": values}`` (the type only when every value has the same one)."""
    names = {_SIMPLE.get(type(v)) for v in values}
    kind = names.pop() if len(names) == 1 else None
    return {"type": kind, "enum": values} if kind else {"enum": values}


def _strip_required(hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin is not None and getattr(origin, "_name", "") in ("Required", "NotRequired"):
        return typing.get_args(hint)[0]
    return hint


def _object(tp: type, props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "title": tp.__name__, "properties": props}
    if required:
        schema["required"] = required
    description, params = parse_docstring(tp.__doc__)
    if description and not description.startswith(f"{tp.__name__}("):  # not the dataclass default
        schema["description"] = description
    for name, text in params.items():
        if name in props:
            props[name].setdefault("description", text)
    return schema


# -------------------------------------------------------------------- docstrings

_HEADER = re.compile(r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments|Returns?|"
                     r"Raises|Yields|Examples?|Notes?|See Also|Attributes|References)\s*:?\s*$")
_PARAM_SECTIONS = {"args", "arguments", "parameters", "params", "keyword args", "keyword arguments",
                   "attributes"}
_GOOGLE_ARG = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_NUMPY_ARG = re.compile(r"^\*{0,2}(\w+)\s*(?::.*)?$")
_SPHINX_ARG = re.compile(r"^:param\s+(?:[^:]*\s)?\*{0,2}(\w+)\s*:\s*(.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(description, {parameter: text}) from a Google, NumPy or Sphinx style docstring.

    The description is the first paragraph; parameter texts are joined into one line.
    """
    import inspect

    lines = inspect.cleandoc(doc or "").splitlines()
    description: list[str] = []
    params: dict[str, str] = {}
    section = ""  # "" before any section, else the section's name (or "sphinx")
    entry_indent: int | None = None
    numpy = False  # the section header was underlined (NumPy style: "name : type" entries)
    current = ""
    i = 0
    while i < len(lines):
        line, stripped = lines[i], lines[i].strip()
        numpy_header = i + 1 < len(lines) and lines[i + 1].strip() and set(lines[i + 1].strip()) == {"-"}
        header = _HEADER.match(stripped)
        if header and (stripped.endswith(":") or numpy_header):
            section, entry_indent, current = header.group(1).lower(), None, ""
            numpy = bool(numpy_header)
            i += 2 if numpy_header else 1
            continue
        sphinx = _SPHINX_ARG.match(stripped)
        if sphinx:
            section, current = "sphinx", sphinx.group(1)
            params[current] = sphinx.group(2).strip()
        elif stripped.startswith(":"):
            section, current = "sphinx", ""  # :returns:, :raises: ...
        elif section == "":
            description.append(line)
        elif section in _PARAM_SECTIONS and stripped:
            if entry_indent is None:
                entry_indent = _indent(line)
            if _indent(line) <= entry_indent:
                match = (_NUMPY_ARG if numpy else _GOOGLE_ARG).match(stripped)
                current = match.group(1) if match else ""
                if match and current:
                    params[current] = "" if numpy else match.group(2).strip()
            elif current:
                params[current] = f"{params[current]} {stripped}".strip()
        elif section == "sphinx" and current and stripped:
            params[current] = f"{params[current]} {stripped}".strip()
        i += 1
    first = "\n".join(description).strip().split("\n\n")[0]
    return " ".join(first.split()), params


# -------------------------------------------------------------------- validation

def _resolve(schema: Any, root: Mapping[str, Any]) -> Any:
    ref = schema.get("$ref") if isinstance(schema, Mapping) else None
    seen = 0
    while isinstance(ref, str) and ref.startswith("#/") and seen < 32:
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, Mapping) else {}
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
        ref = target.get("$ref") if isinstance(target, Mapping) else None
        seen += 1
    return schema


def type_ok(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "array":
        return isinstance(value, list)
    if kind == "object":
        return isinstance(value, dict)
    return True


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def first_problem(value: Any, schema: Any, root: Mapping[str, Any] | None = None,
                  path: str = "") -> tuple[str, str] | None:
    """``(field path, what is wrong)`` for the first part of ``value`` that does not fit
    ``schema``, or None when it fits. The path is dotted (``address.city``, ``tags[2]``)."""
    if not isinstance(schema, Mapping):
        return None
    root = schema if root is None else root
    schema = _resolve(schema, root)
    where = path or "the answer"
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            problems = [first_problem(value, s, root, path) for s in options]
            if all(p is not None for p in problems):
                return problems[0] if len(options) == 1 else (path, f"{_shown(value)} fits none of "
                                                                     f"the allowed forms")
    for part in schema.get("allOf") or []:
        problem = first_problem(value, part, root, path)
        if problem:
            return problem
    if "const" in schema and value != schema["const"]:
        return path, f"expected {_shown(schema['const'])}, got {_shown(value)}"
    enum_values = schema.get("enum")
    if isinstance(enum_values, list) and value not in enum_values:
        allowed = ", ".join(_shown(v) for v in enum_values[:8])
        return path, f"{_shown(value)} is not one of {allowed}"
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else []
    if kinds and not any(type_ok(value, k) for k in kinds):
        return path, f"expected {' or '.join(kinds)}, got {_shown(value)}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for key, ok, word in (("minimum", lambda b: value >= b, "at least"),
                              ("maximum", lambda b: value <= b, "at most"),
                              ("exclusiveMinimum", lambda b: value > b, "more than"),
                              ("exclusiveMaximum", lambda b: value < b, "less than")):
            bound = schema.get(key)
            if isinstance(bound, (int, float)) and not isinstance(bound, bool) and not ok(bound):
                return path, f"{_shown(value)} is not {word} {bound}"
    if isinstance(value, str):
        if isinstance(schema.get("minLength"), int) and len(value) < schema["minLength"]:
            return path, f"shorter than {schema['minLength']} characters"
        if isinstance(schema.get("maxLength"), int) and len(value) > schema["maxLength"]:
            return path, f"longer than {schema['maxLength']} characters"
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            try:
                if not re.search(pattern, value):
                    return path, f"{_shown(value)} does not match {pattern!r}"
            except re.error:
                pass
    if isinstance(value, dict):
        props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
        for name in schema.get("required") or []:
            if name not in value:
                return _join(path, name), f"missing (required in {where})"
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            if name in props:
                problem = first_problem(item, props[name], root, _join(path, name))
            elif extra is False:
                problem = _join(path, name), "not an allowed field"
            elif isinstance(extra, Mapping):
                problem = first_problem(item, extra, root, _join(path, name))
            else:
                problem = None
            if problem:
                return problem
    if isinstance(value, list):
        for key, ok, word in (("minItems", lambda n: len(value) >= n, "at least"),
                              ("maxItems", lambda n: len(value) <= n, "at most")):
            bound = schema.get(key)
            if isinstance(bound, int) and not ok(bound):
                return path, f"{len(value)} items, expected {word} {bound}"
        prefix = schema.get("prefixItems") if isinstance(schema.get("prefixItems"), list) else []
        items = schema.get("items")
        for i, item in enumerate(value):
            spec = prefix[i] if i < len(prefix) else items
            problem = first_problem(item, spec, root, f"{path}[{i}]")
            if problem:
                return problem
    return None


def _join(path: str, name: Any) -> str:
    return f"{path}.{name}" if path else str(name)


def build(tp: Any, value: Any) -> Any:
    """``value`` (checked JSON data) as an instance of annotation ``tp``: pydantic models,
    dataclasses and enums are built (nested ones too); everything else is kept as it is."""
    if value is None:
        return None
    if typing.get_origin(tp) is typing.Annotated:
        return build(typing.get_args(tp)[0], value)
    union = _union_args(tp)
    if union is not None:
        for option in union:
            if option is type(None):
                continue
            schema = type_schema(option)
            if first_problem(value, schema) is None:
                return build(option, value)
        return value
    if is_pydantic_model(tp):
        return tp.model_validate(value)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if tp is float and isinstance(value, int):
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type) and isinstance(value, dict):
        hints = _hints(tp)
        return tp(**{k: build(hints.get(k, Any), v) for k, v in value.items()})
    if is_typed_dict(tp) and isinstance(value, dict):
        hints = _hints(tp)
        return {k: build(_strip_required(hints.get(k, Any)), v) for k, v in value.items()}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (list, set, frozenset, Sequence) and args and isinstance(value, list):
        items = [build(args[0], v) for v in value]
        return origin(items) if origin in (set, frozenset) else items
    if origin is tuple and isinstance(value, list):
        if args and args[-1] is not Ellipsis:
            return tuple(build(a, v) for a, v in zip(args, value))
        return tuple(build(args[0], v) for v in value) if args else tuple(value)
    if origin in (dict, Mapping) and len(args) == 2 and isinstance(value, dict):
        return {k: build(args[1], v) for k, v in value.items()}
    return value


class Schema:
    """What ``schema=`` / ``--schema`` accept, with the JSON schema to send and a parser.

    ``Schema(spec)``: ``spec`` is a pydantic model class, a dataclass, a ``TypedDict``, or a
    JSON-schema dict. ``.json`` goes out as ``format``; ``.parse(text)`` returns the
    validated answer (a model / dataclass instance, or plain data for a dict or a
    TypedDict) and raises :class:`SchemaError` for an answer that does not fit.
    """

    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.target: Any = None
        self.json: dict[str, Any] = {}
        if isinstance(spec, Schema):
            self.spec, self.target, self.json = spec.spec, spec.target, spec.json
            return
        if isinstance(spec, Mapping):
            try:
                json.dumps(spec)
            except (TypeError, ValueError) as exc:
                raise InvalidArgumentError(f"schema is not JSON-serialisable: {exc}") from None
            self.json = dict(spec)
            return
        if is_pydantic_model(spec) or is_typed_dict(spec) or (
                dataclasses.is_dataclass(spec) and isinstance(spec, type)):
            defs: dict[str, Any] = {}
            schema = type_schema(spec, defs)
            if defs:
                schema["$defs"] = {**defs, **schema.get("$defs", {})}
            self.json, self.target = schema, spec
            return
        raise InvalidArgumentError(
            f"schema must be a pydantic model class, a dataclass, a TypedDict or a JSON schema "
            f"dict, got {type(spec).__name__}")

    @property
    def name(self) -> str:
        title = getattr(self.target, "__name__", None) or self.json.get("title")
        return str(title) if title else "the schema"

    def __repr__(self) -> str:
        return f"Schema({self.name})"

    def problem(self, text: str) -> tuple[str, str] | None:
        """``(field, what is wrong)`` for ``text``, or None when it fits."""
        try:
            value = json.loads(text)
        except ValueError as exc:
            return "", f"the answer is not valid JSON ({exc})"
        if is_pydantic_model(self.target):
            from pydantic import ValidationError

            try:
                self.target.model_validate(value)
            except ValidationError as exc:
                error = exc.errors()[0]
                field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in error["loc"])
                return field.replace(".[", "["), str(error["msg"])
            return None
        return first_problem(value, self.json)

    def parse(self, text: str, *, partial: Any = None) -> Any:
        """The validated answer; :class:`SchemaError` (one line, naming the field, the raw text
        kept in ``.text``) when it does not fit."""
        problem = self.problem(text)
        if problem is not None:
            field, why = problem
            where = f"field {field!r}: " if field else ""
            raise SchemaError(f"the answer does not fit {self.name}: {where}{why}",
                              field=field, text=text, partial=partial)
        value = json.loads(text)
        if self.target is None:
            return value
        return build(self.target, value)

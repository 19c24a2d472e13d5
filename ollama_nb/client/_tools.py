"""Python functions as tools a model can call, and one call run safely.

:class:`Tool` describes a function for ``tools=``: its name, the first paragraph of its
docstring, and a JSON schema of its parameters from the signature (type hints,
``Literal``, ``Optional``, defaults, dataclasses, TypedDicts and pydantic models, with
each parameter's text from a Google, NumPy or Sphinx docstring).
:class:`Toolbox` holds the tools of one request and runs a call the model made:
the arguments are checked against the signature and built into the annotated types
first, and whatever goes wrong (an unknown tool, arguments that do not fit, a tool
that raises, a call the user declined) becomes the call's ``error``, which is sent back
to the model as the tool's result so it can recover. Only the functions given can run.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from ._errors import InvalidArgumentError
from ._schema import _hints, build, first_problem, parse_docstring, type_schema

__all__ = ["Tool", "ToolRun", "Toolbox", "Confirm", "confirm_on_stdin"]

#: ``confirm(name, arguments) -> bool``: asked before each call; False skips it
Confirm = Callable[[str, dict[str, Any]], bool]


def confirm_on_stdin(name: str, arguments: dict[str, Any]) -> bool:
    """``--confirm`` / ``confirm=True``: ask on stdin (a notebook's input box) before a call."""
    call = ", ".join(f"{k}={v!r}" for k, v in arguments.items())
    return input(f"The model wants to run {name}({call}). Run it? [y/N] ").strip().lower() in ("y", "yes")


@dataclasses.dataclass
class ToolRun:
    """One tool call the model asked for, and what came of it (``_ollama.tool_calls``)."""

    name: str
    arguments: dict[str, Any]
    result: Any = None  # what the function returned
    content: str = ""  # the text sent back to the model (the result, or the error)
    error: str | None = None  # why the call failed or did not run
    seconds: float | None = None  # how long the function ran
    started: datetime | None = None
    round: int = 1  # the request (1, 2, ...) whose answer asked for it
    id: str | None = None  # the server's tool-call id, if it sent one
    done: bool = False  # finished (or refused); False while it runs

    @property
    def ok(self) -> bool:
        return self.done and self.error is None

    def signature(self) -> str:
        """``name(arg=value, ...)`` as the call reads in Python."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.arguments.items())
        return f"{self.name}({args})"

    def message(self) -> dict[str, Any]:
        """The ``role: tool`` message that carries the outcome back to the model."""
        message: dict[str, Any] = {"role": "tool", "content": self.content, "tool_name": self.name}
        if self.id:
            message["tool_call_id"] = self.id
        return message

    def __repr__(self) -> str:
        outcome = f"error={self.error!r}" if self.error else f"result={self.result!r}"
        return f"ToolRun({self.signature()}, {outcome})"


def _text(value: Any) -> str:
    """A tool's return value as the text the model reads (JSON for data)."""
    if isinstance(value, str):
        return value
    if hasattr(value, "model_dump_json"):
        return str(value.model_dump_json())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


def _lax(value: Any, schema: Mapping[str, Any]) -> Any:
    """A number or boolean that a small model sent as text ("3", "true"), as its type."""
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else []
    if not isinstance(value, str) or "string" in kinds:
        return value
    text = value.strip()
    if "boolean" in kinds and text.lower() in ("true", "false"):
        return text.lower() == "true"
    for name, convert in (("integer", int), ("number", float)):
        if name in kinds:
            try:
                return convert(text)
            except ValueError:
                pass
    return value


class Tool:
    """A Python function as a tool: ``.schema`` is what ``tools=`` sends for it."""

    def __init__(self, function: Callable[..., Any], name: str | None = None) -> None:
        if not callable(function):
            raise InvalidArgumentError(f"a tool must be a function, got {type(function).__name__}")
        self.function = function
        self.name = name or getattr(function, "__name__", "") or type(function).__name__
        if not self.name.isidentifier():
            raise InvalidArgumentError(f"tool name {self.name!r} is not an identifier; pass a "
                                       f"named function (def ...), not a lambda")
        try:
            self.signature = inspect.signature(function)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"cannot read the signature of tool {self.name!r}") from None
        self.description, texts = parse_docstring(inspect.getdoc(function))
        hints = _hints(function)
        self.hints: dict[str, Any] = {}
        defs: dict[str, Any] = {}
        props: dict[str, Any] = {}
        required: list[str] = []
        self.var_keyword = False
        for param in self.signature.parameters.values():
            if param.kind is param.VAR_KEYWORD:
                self.var_keyword = True
                continue
            if param.kind in (param.VAR_POSITIONAL, param.POSITIONAL_ONLY):
                continue  # a model calls with names only
            hint = hints.get(param.name, Any)
            self.hints[param.name] = hint
            try:
                spec = type_schema(hint, defs)
            except InvalidArgumentError as exc:
                raise InvalidArgumentError(f"tool {self.name!r}, parameter {param.name!r}: "
                                           f"{exc.message}") from None
            spec = {k: v for k, v in spec.items() if k != "title"}
            if texts.get(param.name):
                spec.setdefault("description", texts[param.name])
            if param.default is param.empty:
                required.append(param.name)
            else:
                try:
                    json.dumps(param.default)
                    spec["default"] = param.default
                except (TypeError, ValueError):
                    pass
            props[param.name] = spec
        self.parameters: dict[str, Any] = {"type": "object", "properties": props}
        if required:
            self.parameters["required"] = required
        if defs:
            self.parameters["$defs"] = defs

    @property
    def schema(self) -> dict[str, Any]:
        """``{"type": "function", "function": {name, description, parameters}}``."""
        function: dict[str, Any] = {"name": self.name, "description": self.description,
                                    "parameters": self.parameters}
        return {"type": "function", "function": function}

    def arguments(self, given: Any) -> dict[str, Any]:
        """The model's arguments checked and built into the annotated types; a one-line
        ``ValueError`` says what does not fit the signature."""
        if not isinstance(given, Mapping):
            raise ValueError(f"the arguments must be an object of named values, got {given!r}")
        props = self.parameters["properties"]
        unknown = [k for k in given if k not in props]
        if unknown and not self.var_keyword:
            raise ValueError(f"{self.name}() has no parameter {unknown[0]!r} "
                             f"(its parameters: {', '.join(props) or 'none'})")
        missing = [k for k in self.parameters.get("required", []) if k not in given]
        if missing:
            raise ValueError(f"{self.name}() is missing the required argument {missing[0]!r}")
        out: dict[str, Any] = {}
        for key, value in given.items():
            if key not in props:
                out[key] = value
                continue
            value = _lax(value, props[key])
            problem = first_problem(value, props[key], self.parameters, key)
            if problem is not None:
                raise ValueError(f"argument {problem[0]!r}: {problem[1]}")
            try:
                out[key] = build(self.hints[key], value)
            except Exception as exc:  # noqa: BLE001 - e.g. a pydantic validator's own rule
                raise ValueError(f"argument {key!r}: {' '.join(str(exc).split())[:200]}") from None
        return out

    def __repr__(self) -> str:
        return f"Tool({self.name}{self.signature})"


class Toolbox:
    """The tools of one request, by name; :meth:`run` performs one call the model made."""

    def __init__(self, tools: Iterable[Any] | Mapping[str, Any]) -> None:
        items: Iterable[tuple[str | None, Any]] = (
            tools.items() if isinstance(tools, Mapping) else ((None, t) for t in tools))
        self.tools: dict[str, Tool] = {}
        for name, tool in items:
            tool = tool if isinstance(tool, Tool) else Tool(tool, name)
            if tool.name in self.tools:
                raise InvalidArgumentError(f"two tools are called {tool.name!r}")
            self.tools[tool.name] = tool
        if not self.tools:
            raise InvalidArgumentError("tools: give at least one function")

    @classmethod
    def coerce(cls, tools: Any) -> Toolbox | None:
        """``tools=`` as given by a caller: None, a Toolbox, a function, or several."""
        if tools is None or isinstance(tools, Toolbox):
            return tools
        if callable(tools) and not isinstance(tools, (type, Mapping)):
            return cls([tools])
        if isinstance(tools, (str, bytes)) or not isinstance(tools, (Iterable, Mapping)):
            raise InvalidArgumentError(f"tools must be a list of functions, got {type(tools).__name__}")
        return cls(tools)

    @property
    def schemas(self) -> list[dict[str, Any]]:
        return [t.schema for t in self.tools.values()]

    @property
    def names(self) -> list[str]:
        return list(self.tools)

    def start(self, call: Any, round: int = 1) -> ToolRun:
        """A :class:`ToolRun` for a tool call as the server sent it (not run yet)."""
        raw = getattr(call, "raw", call)
        function = raw.get("function") if isinstance(raw, Mapping) else None
        function = function if isinstance(function, Mapping) else {}
        arguments = function.get("arguments")
        if isinstance(arguments, str):  # some servers send the JSON text
            try:
                arguments = json.loads(arguments)
            except ValueError:
                pass
        return ToolRun(name=str(function.get("name") or ""),
                       arguments=arguments if isinstance(arguments, dict) else {"": arguments},
                       round=round, id=raw.get("id") if isinstance(raw, Mapping) else None)

    def run(self, run: ToolRun, confirm: Confirm | None = None) -> ToolRun:
        """Perform ``run`` (in place): check, ask ``confirm``, call; every failure is kept as
        ``run.error`` and becomes the text sent back. KeyboardInterrupt is not caught."""
        run.started = datetime.now(timezone.utc)
        try:
            tool = self.tools.get(run.name)
            if tool is None:
                known = ", ".join(self.tools)
                raise LookupError(f"there is no tool called {run.name!r}; the tools are: {known}")
            kwargs = tool.arguments(run.arguments)
            if confirm is not None and not confirm(run.name, dict(run.arguments)):
                raise PermissionError("the user declined to run this call")
            began = time.perf_counter()
            try:
                run.result = tool.function(**kwargs)
            finally:
                run.seconds = time.perf_counter() - began
            run.content = _text(run.result)
        except (LookupError, ValueError, PermissionError) as exc:
            if run.seconds is not None:  # the function itself raised it
                run.error = f"{type(exc).__name__}: {exc}"
            else:
                run.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - a tool's failure goes back to the model
            run.error = f"{type(exc).__name__}: {exc}"
        if run.error is not None:
            run.error = " ".join(run.error.split())
            run.content = f"Error: {run.error}"
        run.done = True
        return run

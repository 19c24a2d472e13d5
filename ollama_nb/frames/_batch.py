"""`map_prompts`: one prompt per row of a DataFrame, Series or list, answered in parallel.

Template: ``{{name}}`` is replaced by the row's value of column ``name`` (the whole
text between the braces, spaces trimmed, is the column name); ``{{index}}`` is the
row label (unless there is a column called ``index``); a Series or list gives
``{{text}}`` (alias ``{{value}}``, and the Series' own name). Single braces are left
alone. Missing values render as the empty string. An unknown name is an error
before anything is sent.

Each distinct rendered prompt is sent once to ``/api/generate`` (``stream=False``),
``concurrency`` at a time. Answers are written to an on-disk cache as they arrive
(see :mod:`ollama_nb.frames._cache`); a rerun of the same call takes them from there, so
an interrupted run resumes where it stopped. Ctrl-C (kernel interrupt) cancels
what has not started, lets requests already in flight finish into the cache, and
re-raises ``KeyboardInterrupt``; the exception's ``.partial`` holds the rows that
had finished. A failing row does not stop the run: its cell holds
``"[error] <message>"`` (or, with a schema, NA values and the message in the
``error`` column) and a :class:`MapPromptsWarning` says how many failed. Failed
rows are not cached, so a rerun retries them (so is an answer that does not fit the
schema: its ``error`` names the field and keeps the answer's text).

With ``schema=`` (a pydantic model class, a dataclass, a TypedDict or a JSON-schema dict)
each property is a column typed from the schema: integer -> ``Int64``, number ->
``Float64``, boolean -> ``boolean``, an enum -> ``category`` with the enum's categories,
string -> ``string``, nested objects and arrays -> Python objects. An unreachable server or an unknown model stops the run at
once, since every row would fail the same way (so does an argument the client
rejects). The cache key is the host, model,
prompt, system, options, schema and think setting (not ``keep_alive`` or
``concurrency``, which do not change answers); a cache folder that cannot be used
gives a warning and an uncached run.

Over several hosts (``hosts=``, or the session's ``%ollama hosts``) each host answers the
next prompt when it has a free slot (see :mod:`ollama_nb.frames._spread`): a host that
fails hands its prompts to the others and is retried with backoff, and only when every
host is down does the run stop, with :class:`~ollama_nb.HostsDownError` (its ``.partial``
and the cache keep the finished rows). An answer is cached under the host that gave it,
and a run looks in the cache of every host it was given.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..client._errors import HostsDownError, InvalidArgumentError
from ..client._promptlog import log_answer
from ..client._provenance import provenance
from ..client._schema import Schema, type_ok
from ..client._session import session
from ._spread import AllDown, Done, Progress, Spread, pull_missing, targets

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..client._client import Client

__all__ = ["ERROR_PREFIX", "MapPromptsWarning", "map_prompts"]

ERROR_PREFIX = "[error] "
_FIELD = re.compile(r"\{\{\s*(.*?)\s*\}\}")
# JSON-schema type -> pandas dtype of the column
_DTYPES = {"integer": "Int64", "number": "Float64", "boolean": "boolean", "string": "string"}


class MapPromptsWarning(UserWarning):
    """Some rows of a `map_prompts` run failed; the summary says how many."""


# -- rendering ---------------------------------------------------------------------------
def _fields(data: Any) -> tuple[Any, dict[str, list[Any]]]:
    """(index, {field name: column values}) for a DataFrame, Series or list."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        if not data.columns.is_unique:
            dup = data.columns[data.columns.duplicated()][0]
            raise InvalidArgumentError(f"data has duplicate column {dup!r}; rename it first")
        fields = {str(col): data[col].tolist() for col in data.columns}
        index = data.index
    elif isinstance(data, pd.Series):
        values = data.tolist()
        fields = {"text": values, "value": values}
        if data.name is not None:
            fields.setdefault(str(data.name), values)
        index = data.index
    elif isinstance(data, (str, bytes, Mapping)) or not hasattr(data, "__iter__"):
        raise InvalidArgumentError(
            f"data: expected a DataFrame, Series or list, got {type(data).__name__}")
    else:
        values = list(data)
        fields = {"text": values, "value": values}
        index = pd.RangeIndex(len(values))
    fields.setdefault("index", index.tolist())
    return index, fields


def _cell(value: Any) -> str:
    """A template value as text; missing values (None, NaN, NaT, pd.NA) are empty."""
    import pandas as pd

    try:
        missing = bool(pd.isna(value))
    except (TypeError, ValueError):  # list-like values: not missing
        missing = False
    return "" if missing else str(value)


def render(template: str, data: Any) -> tuple[Any, list[str]]:
    """(index, one prompt per row); unknown ``{{names}}`` raise InvalidArgumentError."""
    if not isinstance(template, str):
        raise InvalidArgumentError(f"template must be a string, got {type(template).__name__}")
    index, fields = _fields(data)
    names = list(dict.fromkeys(_FIELD.findall(template)))
    unknown = [name for name in names if name not in fields]
    if unknown:
        known = ", ".join(f"{{{{{k}}}}}" for k in fields)
        raise InvalidArgumentError(
            f"template refers to {{{{{unknown[0]}}}}}, which is not a column; available: {known}")
    columns = {name: [_cell(v) for v in fields[name]] for name in names}
    pieces = _FIELD.split(template)  # literal, name, literal, name, ..., literal
    prompts = [
        "".join(piece if i % 2 == 0 else columns[piece][row] for i, piece in enumerate(pieces))
        for row in range(len(index))
    ]
    return index, prompts


# -- schema ------------------------------------------------------------------------------
def _resolved(spec: Any, root: Mapping[str, Any]) -> Any:
    """A property's schema with ``$ref`` followed and ``Optional`` (``anyOf`` with null) unwrapped."""
    for _ in range(8):
        if not isinstance(spec, Mapping):
            return {}
        ref = spec.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, Mapping) else {}
            spec = {**target, **{k: v for k, v in spec.items() if k != "$ref"}}
            continue
        options = [o for o in spec.get("anyOf") or [] if not (isinstance(o, Mapping)
                                                              and o.get("type") == "null")]
        if spec.get("anyOf") and len(options) == 1:
            spec = {**options[0], **{k: v for k, v in spec.items() if k != "anyOf"}}
            continue
        return spec
    return {}


def column_dtypes(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """{property: pandas dtype} for an object schema with properties, else None: integer ->
    Int64, number -> Float64, boolean -> boolean, enum -> category (its categories), string ->
    string, anything else (objects, arrays, unions) -> object."""
    import pandas as pd

    props = schema.get("properties")
    if schema.get("type", "object") != "object" or not isinstance(props, Mapping) or not props:
        return None
    types: dict[str, Any] = {}
    for name, raw in props.items():
        spec = _resolved(raw, schema)
        enum = spec.get("enum")
        kind = spec.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            kind = kinds[0] if len(kinds) == 1 else None
        if isinstance(enum, list) and enum and all(isinstance(v, (str, int, float)) and
                                                   not isinstance(v, bool) for v in enum):
            types[str(name)] = pd.CategoricalDtype(list(dict.fromkeys(enum)))
        else:
            types[str(name)] = _DTYPES.get(kind, "object") if isinstance(kind, str) else "object"
    return types


def _typed(values: list[Any], dtype: Any) -> Any:
    """A column of ``dtype``; values that do not fit become NA instead of failing the row."""
    import pandas as pd

    if isinstance(dtype, pd.CategoricalDtype):
        allowed = set(dtype.categories)
        return pd.Categorical([v if v in allowed else None for v in values], dtype=dtype)

    kind = next((k for k, d in _DTYPES.items() if d == dtype), None)
    cleaned = [v if v is not None and (kind is None or type_ok(v, kind)) else None for v in values]
    if dtype == "Int64":
        cleaned = [None if v is None else int(v) for v in cleaned]
    if dtype == "Float64":
        cleaned = [None if v is None else float(v) for v in cleaned]
    return pd.array(cleaned, dtype=dtype) if dtype != "object" else cleaned


# -- running -----------------------------------------------------------------------------
def map_prompts(
    data: Any,
    template: str,
    model: str | None = None,
    *,
    schema: Any = None,
    system: str | None = None,
    options: Mapping[str, Any] | None = None,
    think: bool | str | None = None,
    keep_alive: Any = None,
    concurrency: int = 4,
    cache: bool = True,
    cache_dir: str | None = None,
    progress: bool | Callable[[int, int], None] | None = None,
    host: str | None = None,
    client: Client | None = None,
    hosts: Any = None,
    pull: bool = False,
) -> pd.Series | pd.DataFrame:
    """Answer ``template`` rendered for every row of ``data``; results align with its index.

    Returns a string Series (name ``"answer"``), or with ``schema`` (a JSON schema
    object with ``properties``) a DataFrame with one typed column per property plus
    ``error``. ``.attrs`` summarises the run (``rows``, ``asked``, ``cached``,
    ``failed``, and ``hosts``: what each host did). ``progress``: None shows a bar when
    more than one request is needed, True/False force it, a callable gets
    ``(done, total)`` after each answer. ``cache=False`` neither reads nor writes the
    answer cache. ``hosts`` (a list of URLs or a :class:`~ollama_nb.Hosts`) spreads the
    rows over several servers, ``concurrency`` at a time on each unless the ``Hosts``
    says otherwise; ``pull=True`` first pulls the model where it is missing. See the
    module docstring for templates, failures and interrupts.
    """

    if not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 1:
        raise InvalidArgumentError(f"concurrency must be a positive integer, got {concurrency!r}")
    model = model or session.model
    if not isinstance(model, str) or not model.strip():
        raise InvalidArgumentError("map_prompts needs a model: pass model='llama3.2' or set a "
                                   "default with %ollama model NAME")
    typed = Schema(schema) if schema is not None else None
    schema_dict = typed.json if typed is not None else None
    if options is not None and not isinstance(options, Mapping):
        raise InvalidArgumentError(f"options must be a dict, got {type(options).__name__}")
    index, prompts = render(template, data)
    target = targets("map_prompts", host=host, client=client, hosts=hosts, concurrency=concurrency)
    distinct = list(dict.fromkeys(prompts))
    request: dict[str, Any] = {"system": system, "format": schema_dict, "think": think,
                               "options": dict(options) if options else None}

    store = None
    answers: dict[str, str] = {}
    if cache and distinct:
        from ._cache import AnswerCache

        try:
            store = AnswerCache(cache_dir)
            answers = _cached(store, [c.base_url for c in target.clients], model, distinct, request)
        except (OSError, sqlite3.Error) as problem:  # e.g. a read-only home: run, uncached
            warnings.warn(f"map_prompts: no answer cache ({problem}); running without one - pass "
                          f"cache_dir= or set OLLAMA_NB_CACHE_DIR to a writable folder",
                          MapPromptsWarning, stacklevel=2)
            store, answers = None, {}
    cached = len(answers)
    todo = [p for p in distinct if p not in answers]
    errors: dict[str, str] = {}
    if pull and todo:
        pull_missing("map_prompts", target, model)

    sent = {"model": model, **{k: v for k, v in (*request.items(), ("keep_alive", keep_alive))
                               if v is not None}}

    def ask(http: Client, prompt: str) -> tuple[str, int]:
        reply = http.generate(model, prompt, system=system, format=schema_dict, options=request["options"],
                              think=think, keep_alive=keep_alive, stream=False)
        text = reply.response
        if store is not None and (typed is None or typed.problem(text) is None):
            store.put(_key(http.base_url, model, prompt, request), {"response": text})
        # cached first: a run killed now resumes with this row; the log can wait
        body = {**sent, "prompt": prompt}
        log_answer("map_prompts", body, provenance(http, "/api/generate", body, reply.raw),
                   answer=text, thinking=reply.raw.get("thinking") or "")
        return text, int(reply.raw.get("eval_count") or 0)

    bar = Progress(progress, len(distinct), cached, f"map_prompts {model}", "row",
                   show=bool(progress) or (progress is None and len(todo) > 1))
    spread = Spread("map_prompts", target, model, row_errors=True, thread_name="ollama_nb.map_prompts")
    finished = False
    try:
        # requests in flight when the run ends early finish (and reach the cache) in the background
        with contextlib.closing(spread.run(todo, ask)) as events:
            for event in events:
                prompt = todo[event.index]
                if isinstance(event, Done):
                    answers[prompt], tokens = event.value
                    event.host.rows += 1
                    event.host.tokens += tokens
                else:
                    errors[prompt] = event.message
                bar.step(1, spread)
        finished = True
    except KeyboardInterrupt as stop:
        partial, _ = _assemble(index, prompts, answers, errors, typed)
        print(f"map_prompts interrupted: {len(answers) - cached} new answers"
              f"{' saved to the cache' if store is not None else ''}; "
              f"{len(distinct) - len(answers) - len(errors)} prompts not answered. "
              f"{'Rerun the same call to resume.' if store is not None else ''}",
              file=sys.stderr)
        stop.partial = partial  # type: ignore[attr-defined]
        raise
    except AllDown as down:
        partial, _ = _assemble(index, prompts, answers, errors, typed)
        raise HostsDownError("map_prompts", down.errors, done=sum(p in answers for p in prompts),
                             total=len(prompts), partial=partial,
                             resume=" and in the cache (rerun the same call to resume)"
                             if store is not None else "") from None
    finally:
        bar.close()
        if store is not None and finished:  # else threads in flight may still write to it
            store.close()

    result, problems = _assemble(index, prompts, answers, errors, typed)
    failed = sum(p in problems for p in prompts)
    result.attrs.update({"model": model, "rows": len(prompts), "asked": len(todo),
                         "cached": cached, "failed": failed, "hosts": spread.summary(),
                         "provenance": spread.provenance("/api/generate", sent, asked=len(todo),
                                                         cached=cached)})
    if failed:
        first = next(problems[p] for p in prompts if p in problems)
        warnings.warn(f"map_prompts: {failed} of {len(prompts)} rows failed (first: {first}); "
                      f"their cells hold the error and a rerun retries them",
                      MapPromptsWarning, stacklevel=2)
    return result


def _key(host: str, model: str, prompt: str, request: Mapping[str, Any]) -> str:
    from ._cache import cache_key

    return cache_key(v=1, endpoint="generate", host=host, model=model, prompt=prompt,
                     **{k: v for k, v in request.items() if v is not None})


def _cached(store: Any, urls: list[str], model: str, prompts: list[str],
            request: Mapping[str, Any]) -> dict[str, str]:
    """Answers already in the cache from any of ``urls`` (an answer is keyed by the host that
    gave it, so a run over several hosts reuses what each of them answered before)."""
    found: dict[str, str] = {}
    for start in range(0, len(prompts), 2000):  # bounded key lists, whatever the row count
        chunk = prompts[start:start + 2000]
        keys = [[_key(url, model, p, request) for p in chunk] for url in urls]
        hits = store.get_many(k for per_host in keys for k in per_host)
        for per_host in keys:
            for prompt, key in zip(chunk, per_host):
                if key in hits and prompt not in found:
                    found[prompt] = hits[key]["response"]
    return found


def _assemble(index: Any, prompts: list[str], answers: Mapping[str, str],
              errors: Mapping[str, str], schema: Schema | None,
              ) -> tuple[pd.Series | pd.DataFrame, dict[str, str]]:
    """(rows in input order, {prompt: problem}); unfinished rows are NA."""
    import pandas as pd

    def plain(prompt: str) -> str | None:
        if prompt in answers:
            return answers[prompt]
        if prompt in errors:
            return ERROR_PREFIX + errors[prompt]
        return None

    if schema is None:
        series = pd.Series([plain(p) for p in prompts], index=index, dtype="string", name="answer")
        return series, dict(errors)

    parsed: dict[str, Any] = {}
    problems: dict[str, str] = dict(errors)
    for prompt, text in answers.items():
        try:
            parsed[prompt] = json.loads(text)
        except ValueError:
            pass
        problem = schema.problem(text)
        if problem is not None:  # the values that fit still fill their columns
            field, why = problem
            problems[prompt] = f"{f'field {field!r}: ' if field else ''}{why}; the answer: {text}"
    types = column_dtypes(schema.json)
    error_col = [problems.get(p) for p in prompts]
    if types is None:  # not an object schema: one column of parsed values
        values = [parsed.get(p) for p in prompts]
        return pd.DataFrame({"value": pd.Series(values, index=index, dtype=object),
                             "error": pd.Series(error_col, index=index, dtype="string")}), problems
    columns: dict[str, Any] = {}
    for name, dtype in types.items():
        values = [parsed[p].get(name) if isinstance(parsed.get(p), Mapping) else None
                  for p in prompts]
        columns[name] = pd.Series(_typed(values, dtype), index=index)
    error_name = "error" if "error" not in columns else "_error"
    columns[error_name] = pd.Series([problems.get(p) for p in prompts], index=index, dtype="string")
    return pd.DataFrame(columns, index=index), problems

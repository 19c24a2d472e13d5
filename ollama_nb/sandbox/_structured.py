"""Answers with a shape: ``format`` JSON, JSON-schema values and tool calls.

A real model follows the prompt, so the deterministic engine does too, as far as
a prompt says it plainly:

- ``format: "json"`` answers with the keys the prompt names ("with keys name and
  age"), or in the shape of a JSON example it gives, or, when the prompt lists
  functions (litellm and others do this for models without tool support), with a
  function call ``{"name": ..., "arguments": {...}}``; only a prompt that asks for
  nothing in particular gets the generic ``answer``/``keywords``/``confidence``.
- values come from the prompt: numbers in order, proper names for name- and
  place-like keys, the prompt's key words for other text; the random choice is
  only the fallback (always within the schema's rules).
- tool calls: every tool the prompt names is called, in the order the prompt
  names them, each with arguments taken from its own part of the prompt.
"""

from __future__ import annotations

import ast
import json
import math
import random
import re
from collections.abc import Sequence
from typing import Any

from ._engine import STOPWORDS, answer_text, keywords

_WORD_RE = re.compile(r"[a-z0-9]+")
_NUMBER_RE = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")
_PROPER_RE = re.compile(r"[A-Z][a-zA-Z]+(?:[ \t]+[A-Z][a-zA-Z]+)*")
_QUESTION_WORDS = {"what", "which", "who", "how", "when", "where", "why", "is", "can", "could",
                   "please", "tell", "the", "i", "do", "does", "get", "find", "show"}
# capitalised only because they start a sentence
_SENTENCE_WORDS = STOPWORDS | _QUESTION_WORDS | {
    "extract", "return", "list", "respond", "reply", "output", "generate", "create", "parse",
    "format", "provide", "produce", "convert", "summarize", "summarise", "classify",
    "translate", "compute", "calculate", "add", "multiply", "look", "search", "book", "send",
    "set", "schedule", "check", "call", "name", "json", "here", "now", "today", "also",
    "then", "first", "next", "finally", "yes", "sure", "ok", "okay", "whats", "what's",
}
_NAME_KEYS = ("name", "title", "person", "author", "user", "location", "city", "place",
              "country", "where", "town", "capital", "company", "who")


class PromptValues:
    """What a prompt offers for filling values: its numbers, proper names and key
    words, handed out in order, so a second name field gets the second name."""

    def __init__(self, text: str, fallback: str = "", exclude: set[str] | None = None) -> None:
        self.text = text
        self.numbers = _numbers(text) + [n for n in _numbers(fallback) if n not in
                                         _numbers(text)]
        names = proper_names(text) + [n for n in proper_names(fallback)
                                      if n not in proper_names(text)]
        # "Weather in Oslo?": a word of the tool's own name is not a name
        skip = exclude or set()
        self.names = [n for n in names if not set(n.lower().split()) <= skip]
        self.words = keywords(text) or keywords(fallback) or ["value"]
        self._name_at = 0

    def number(self, low: float | None = None, high: float | None = None) -> float | None:
        for i, value in enumerate(self.numbers):
            if (low is None or value >= low) and (high is None or value <= high):
                del self.numbers[i]
                return value
        return None

    def name(self) -> str | None:
        if self._name_at < len(self.names):
            self._name_at += 1
            return self.names[self._name_at - 1]
        return None

    @property
    def names_left(self) -> int:
        return len(self.names) - self._name_at


def _numbers(text: str) -> list[float]:
    return [float(n) for n in _NUMBER_RE.findall(text)]


def proper_names(text: str) -> list[str]:
    """Runs of capitalised words that are names, not sentence openings or acronyms."""
    out: list[str] = []
    for match in _PROPER_RE.finditer(text):
        words = [w for w in match.group().split() if not (w.isupper() and len(w) > 1)]
        before = text[: match.start()].rstrip()
        if words and (not before or before[-1] in ".!?:\n\"'`(") and \
                words[0].lower() in _SENTENCE_WORDS:
            words = words[1:]
        while words and words[0].lower() in _QUESTION_WORDS:
            words = words[1:]
        if words:
            run = " ".join(words)
            if run not in out:
                out.append(run)
    return out


def _is_name_key(key: str) -> bool:
    low = key.lower()
    return any(part in low for part in _NAME_KEYS)


# --- JSON output ----------------------------------------------------------------------


def json_text(seed: int, prompt: str, schema: Any, context: str = "") -> str:
    """JSON text for ``format``: ``"json"`` (what the prompt asks for) or a JSON schema.

    ``context`` is the rest of the conversation (system prompts), where clients put
    function lists and output instructions; values come from ``prompt`` first.
    """
    rng = random.Random(seed)
    # values come from the prose, not from the examples and definitions written in it
    values = PromptValues(_without_objects(prompt), _without_objects(context))
    if isinstance(schema, dict):
        value = _from_schema(schema, schema, rng, values, "value", 0)
        return json.dumps(value, ensure_ascii=False)
    everything = f"{context}\n{prompt}" if context else prompt
    objects = [value for value, _ in _json_objects(everything)]
    functions = [fn for obj in objects for fn in _as_functions(obj)]
    if functions:
        calls = choose_tools([{"function": fn} for fn in functions],
                             _without_objects(prompt) or _without_objects(everything))
        name, args = calls[0] if calls else (functions[0]["name"], {})
        return json.dumps({"name": name, _argument_key(everything): args}, ensure_ascii=False)
    example = next((obj for obj in objects if isinstance(obj, dict) and obj), None)
    shape: dict[str, Any] | None
    if example is not None:
        shape = _schema_of(example)
    else:
        keys = asked_keys(everything)
        shape = {"type": "object", "properties": {k: _key_schema(k) for k in keys},
                 "required": keys} if keys else None
    if shape is None:
        words = values.words
        generic = {
            "answer": answer_text(seed, prompt, length=1),
            "keywords": words[:3],
            "confidence": round(0.5 + rng.random() / 2, 2),
        }
        return json.dumps(generic, ensure_ascii=False)
    return json.dumps(_from_schema(shape, shape, rng, values, "value", 0), ensure_ascii=False)


_SCAN_LIMIT = 50_000  # prompts are read this far for examples and function lists


def _without_objects(text: str) -> str:
    for _, (start, end) in reversed(_json_objects(text)):
        text = text[:start] + " " + text[end:]
    return text


def _json_objects(text: str) -> list[tuple[Any, tuple[int, int]]]:
    """The JSON (or Python-literal) objects and arrays written in a text (outermost
    only), with where they are."""
    text = text[:_SCAN_LIMIT]
    out: list[tuple[Any, tuple[int, int]]] = []
    pos = 0
    for _attempt in range(200):
        starts = [i for i in (text.find("{", pos), text.find("[", pos)) if i >= 0]
        if not starts:
            break
        start = min(starts)
        end = _balanced_end(text, start)
        if end is None:
            pos = start + 1
            continue
        chunk = text[start:end]
        value = _literal(chunk)
        if value is None or value == [] or value == {}:
            pos = start + 1
            continue
        out.append((value, (start, end)))
        pos = end
    return out


def _balanced_end(text: str, start: int, limit: int = 10_000) -> int | None:
    pairs = {"{": "}", "[": "]"}
    stack = []
    quote = ""
    i = start
    stop = min(len(text), start + limit)
    while i < stop:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in pairs:
            stack.append(pairs[ch])
        elif ch in "}]":
            if not stack or stack.pop() != ch:
                return None
            if not stack:
                return i + 1
        i += 1
    return None


def _literal(chunk: str) -> Any:
    try:
        return json.loads(chunk)
    except ValueError:
        pass
    try:
        value = ast.literal_eval(chunk)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, (dict, list)) else None


def _as_functions(obj: Any) -> list[dict[str, Any]]:
    """Function definitions in a parsed object: OpenAI tool form or a bare function."""
    if isinstance(obj, list):
        return [fn for item in obj for fn in _as_functions(item)]
    if not isinstance(obj, dict):
        return []
    if obj.get("type") == "function" and isinstance(obj.get("function"), dict):
        obj = obj["function"]
    if isinstance(obj.get("name"), str) and isinstance(obj.get("parameters"), dict) and \
            isinstance(obj["parameters"].get("properties", {}), dict) and \
            ("properties" in obj["parameters"] or "description" in obj):
        return [obj]
    return []


_ARGUMENT_KEY_RE = re.compile(r"[\"']name[\"']\s*:\s*[^,{}]*,\s*[\"'](arguments|parameters)[\"']")


def _argument_key(text: str) -> str:
    """``arguments`` (litellm, OpenAI) unless the prompt's format says ``parameters``."""
    match = _ARGUMENT_KEY_RE.search(text)
    return match.group(1) if match else "arguments"


_KEYS_RE = re.compile(
    r"\b(?:keys?|fields?|properties|attributes|entries|columns)\b\s*(?:named|called|like)?"
    r"\s*:?\s*(.+?)(?:[.;:!?\n]|$)", re.IGNORECASE)
_QUOTED_RE = re.compile(r"[\"'`]([A-Za-z_][\w-]{0,40})[\"'`]")
_IDENT_RE = re.compile(r"^[A-Za-z_][\w-]{0,40}$")


def asked_keys(text: str) -> list[str]:
    """The keys a prompt asks for: "with keys name and age", "fields `title`, `year`"."""
    keys: list[str] = []
    for match in _KEYS_RE.finditer(text):
        clause = match.group(1)
        quoted = _QUOTED_RE.findall(clause)
        parts = quoted or [p.strip() for p in re.split(r",|\band\b|\bor\b|&", clause)]
        for part in parts:
            word = part.split()[0].strip("\"'`(),:") if part.split() else ""
            if _IDENT_RE.match(word) and word.lower() not in STOPWORDS and word not in keys:
                keys.append(word)
        if keys:
            return keys[:12]
    if "json" in text.lower():
        keys = [k for k in dict.fromkeys(_QUOTED_RE.findall(text)) if k.lower() != "json"]
    return keys[:12]


_INT_WORDS = ("age", "year", "count", "number", "num", "population", "quantity", "total",
              "size", "length", "width", "height", "rank", "id", "day", "month", "minutes",
              "hours", "seconds", "page", "level")
_FLOAT_WORDS = ("price", "score", "confidence", "rating", "temperature", "probability", "cost",
                "amount", "ratio", "percent", "weight", "latitude", "longitude", "lat", "lon")
_LIST_WORDS = ("tags", "keywords", "items", "ingredients", "steps", "list", "names", "topics",
               "languages", "skills", "authors", "genres", "examples", "words", "points")


def _key_schema(key: str) -> dict[str, Any]:
    """A JSON type for a key the prompt names, guessed from the key's own words."""
    low = key.lower()
    parts = set(re.split(r"[_\-\s]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", key).lower()))
    if low.startswith(("is_", "has_", "can_")) or low.startswith(("is", "has")) and \
            key[2:3].isupper():
        return {"type": "boolean"}
    if parts & set(_FLOAT_WORDS):
        return {"type": "number"}
    if parts & set(_INT_WORDS):
        return {"type": "integer"}
    if low in _LIST_WORDS or (low.endswith("s") and not low.endswith("ss") and len(low) > 3
                              and low not in ("status", "address", "analysis", "class")):
        return {"type": "array", "items": {"type": "string"}}
    return {"type": "string"}


def _schema_of(example: Any) -> dict[str, Any]:
    """A schema with the example's keys and value types (the values are not copied)."""
    if isinstance(example, dict):
        props = {str(k): _schema_of(v) for k, v in example.items()}
        return {"type": "object", "properties": props, "required": list(props)}
    if isinstance(example, list):
        return {"type": "array", "items": _schema_of(example[0]) if example else {}}
    if isinstance(example, bool):
        return {"type": "boolean"}
    if isinstance(example, int):
        return {"type": "integer"}
    if isinstance(example, float):
        return {"type": "number"}
    return {"type": "string"}


def _resolve(root: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    while isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        merged = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
        schema, ref = merged, node.get("$ref")
    return schema


def _from_schema(root: dict[str, Any], schema: Any, rng: random.Random, values: PromptValues,
                 key: str, depth: int) -> Any:
    if not isinstance(schema, dict):
        return None
    schema = _resolve(root, schema)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        named = [e for e in schema["enum"] if str(e).lower() in values.text.lower()]
        return named[0] if named else rng.choice(schema["enum"])
    for combo in ("anyOf", "oneOf"):
        options = schema.get(combo)
        if isinstance(options, list) and options:
            non_null = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return _from_schema(root, (non_null or options)[0], rng, values, key, depth)
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(_resolve(root, part) if isinstance(part, dict) else {})
        return _from_schema(root, merged, rng, values, key, depth)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        if depth > 6:
            return {}
        preset = _names_for(root, props, values)
        return {name: preset[name] if name in preset else
                _from_schema(root, sub, rng, values, name, depth + 1)
                for name, sub in props.items()}
    if kind == "array":
        low = int(schema.get("minItems", 1))
        high = int(schema.get("maxItems", max(low, 3)))
        items = _resolve(root, schema.get("items") or {}) if isinstance(
            schema.get("items"), dict) else {}
        props = items["properties"] if isinstance(items.get("properties"), dict) else {}
        if any(_is_name_key(p) for p in props) and values.names_left:
            count = max(low, min(high, values.names_left))  # one item per person or place
        else:
            count = rng.randint(low, max(low, min(high, low + 2)))
        return [_from_schema(root, items, rng, values, key, depth + 1) for _ in range(count)]
    if kind == "integer":
        lo, hi = _bounds(schema, 0, 100, step=1)
        found = values.number(*_given_bounds(schema, lo, hi))
        if found is not None and float(found).is_integer():
            return int(found)
        return rng.randint(math.ceil(lo), max(math.ceil(lo), math.floor(hi)))
    if kind == "number":
        lo, hi = _bounds(schema, 0.0, 100.0, step=1e-6)
        found = values.number(*_given_bounds(schema, lo, hi))
        if found is not None:
            return found
        value = rng.uniform(lo, hi)
        rounded = round(value, 2)
        return rounded if lo <= rounded <= hi else value
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _string_value(schema, rng, values, key)


def _names_for(root: dict[str, Any], props: dict[str, Any], values: PromptValues
               ) -> dict[str, str]:
    """The prompt's names for an object's name-like string fields. A field the question
    asks about ("the largest *city* in Portugal") is what the model must answer, so the
    names go first to the fields the prompt does not mention ("country")."""
    fields = []
    for i, (key, sub) in enumerate(props.items()):
        sub = _resolve(root, sub) if isinstance(sub, dict) else {}
        plain = sub.get("type", "string") == "string" and not (
            {"enum", "const", "format", "anyOf", "oneOf", "allOf"} & set(sub))
        if plain and _is_name_key(key):
            asked = re.search(rf"\b{re.escape(key.lower())}s?\b", values.text.lower())
            fields.append((bool(asked), i, key, sub))
    preset: dict[str, str] = {}
    for _, _, key, sub in sorted(fields):
        if not values.names_left:
            break
        name = values.name() or ""
        high = sub.get("maxLength")
        if len(name) >= int(sub.get("minLength", 0)) and (not isinstance(high, int)
                                                          or len(name) <= high):
            preset[key] = name
    return preset


def _bounds(schema: dict[str, Any], low: float, high: float, *, step: float
            ) -> tuple[float, float]:
    """Inclusive bounds from minimum/maximum and their exclusive forms."""
    has_low = has_high = False
    if isinstance(schema.get("minimum"), (int, float)):
        low, has_low = schema["minimum"], True
    if isinstance(schema.get("exclusiveMinimum"), (int, float)) and \
            not isinstance(schema["exclusiveMinimum"], bool):
        low, has_low = schema["exclusiveMinimum"] + step, True
    if isinstance(schema.get("maximum"), (int, float)):
        high, has_high = schema["maximum"], True
    if isinstance(schema.get("exclusiveMaximum"), (int, float)) and \
            not isinstance(schema["exclusiveMaximum"], bool):
        high, has_high = schema["exclusiveMaximum"] - step, True
    if high < low:  # only one side given: keep the other side near it
        if has_low and not has_high:
            high = low + 100
        elif has_high and not has_low:
            low = high - 100
        else:
            high = low
    return float(low), float(high)


def _given_bounds(schema: dict[str, Any], low: float, high: float
                  ) -> tuple[float | None, float | None]:
    """The bounds a schema states (a number from the prompt needs only to meet those)."""
    has_low = any(isinstance(schema.get(k), (int, float)) for k in ("minimum", "exclusiveMinimum"))
    has_high = any(isinstance(schema.get(k), (int, float)) for k in ("maximum", "exclusiveMaximum"))
    return (low if has_low else None), (high if has_high else None)


def _string_value(schema: dict[str, Any], rng: random.Random, values: PromptValues,
                  key: str) -> str:
    words = values.words
    fmt = schema.get("format")
    if fmt == "date":
        return f"20{rng.randint(10, 29)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if fmt == "date-time":
        return f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T12:00:00Z"
    if fmt == "email":
        return f"{rng.choice(words)}@example.com"
    if fmt in ("uri", "url"):
        return f"https://example.com/{rng.choice(words)}"
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    name = values.name() if _is_name_key(key) else None
    if name is not None and len(name) >= low and (not isinstance(high, int) or len(name) <= high):
        return name
    text = " ".join(rng.sample(words, min(len(words), rng.randint(1, 3))))
    if _is_name_key(key):
        text = text.title()
    while len(text) < low:
        text += " " + rng.choice(words)
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    return text


# --- tools ------------------------------------------------------------------------------

# words in tool names that say nothing about which tool a prompt asks for
_GENERIC = {"get", "set", "fetch", "retrieve", "find", "lookup", "look", "up", "query", "call",
            "run", "do", "make", "tool", "function", "func", "api", "the", "a", "of", "to",
            "for", "by", "and", "current", "data", "info", "information", "details", "value"}


def _split_name(name: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+", name)]


def _functions(tools: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and fn.get("name"):
            out.append(fn)
    return out


def _mention(fn: dict[str, Any], text: str) -> int | None:
    """Where the text first names the tool (its name, or a telling word of it)."""
    low = text.lower()
    name = str(fn["name"])
    spaced = " ".join(_split_name(name))
    hits = [i for i in (low.find(name.lower()), low.find(spaced) if spaced else -1) if i >= 0]
    parts = [p for p in _split_name(name) if p not in _GENERIC and len(p) > 2]
    for match in re.finditer(r"[a-z0-9]+", low):
        word = match.group()
        for part in parts:
            if word == part or (len(part) >= 4 and len(word) >= 4 and
                                (word.startswith(part[:-1]) or part.startswith(word))):
                hits.append(match.start())
    return min(hits) if hits else None


def choose_tools(tools: Sequence[Any], text: str) -> list[tuple[str, dict[str, Any]]]:
    """The calls a model makes for a prompt: every tool it names, in the prompt's order,
    each filled from its own part of the prompt; one tool asked about several places or
    people ("weather in Paris and Rome") is called once for each. A prompt that names
    no tool gets one call to the tool that matches it best, and a prompt that shares no
    word with any tool (its name, its description, the words of its topic) gets none: the
    model answers it."""
    fns = _functions(tools)
    if not fns:
        return []
    named = sorted(((pos, i, fn) for i, fn in enumerate(fns)
                    if (pos := _mention(fn, text)) is not None), key=lambda t: (t[0], t[1]))
    if not named and _best_match(fns, text) is None:
        return []
    if len(named) >= 2:
        calls = []
        for k, (pos, _, fn) in enumerate(named):
            start = 0 if k == 0 else pos
            end = named[k + 1][0] if k + 1 < len(named) else len(text)
            calls.append((str(fn["name"]), fill_args(_params(fn), text[start:end], text,
                                                     _vocabulary(fn))))
        return calls
    fn = named[0][2] if named else _best_match(fns, text) or fns[0]
    params = _params(fn)
    each = _one_call_per_name(params, text, _vocabulary(fn))
    if each:
        return [(str(fn["name"]), fill_args(params, name, text)) for name in each]
    return [(str(fn["name"]), fill_args(params, text, exclude=_vocabulary(fn)))]


def _params(fn: dict[str, Any]) -> dict[str, Any]:
    params = fn.get("parameters") or {}
    return params if isinstance(params, dict) else {}


# words that point at a tool without naming it ("will it rain" asks for the weather)
_RELATED = {
    "weather": {"rain", "raining", "snow", "sunny", "forecast", "temperature", "cold", "hot",
                "warm", "wind", "windy", "umbrella", "cloudy", "storm"},
    "time": {"clock", "hour", "hours", "late", "early", "timezone", "oclock"},
    "search": {"look", "find", "google", "web", "latest", "news"},
    "price": {"cost", "costs", "stock", "worth", "expensive", "cheap"},
}


def _best_match(fns: list[dict[str, Any]], text: str) -> dict[str, Any] | None:
    """The tool whose words the prompt shares most (the first on a tie); None if none."""
    words = set(_WORD_RE.findall(text.lower()))
    best: tuple[int, int] = (0, 0)
    chosen = None
    for i, fn in enumerate(fns):
        vocab = _vocabulary(fn)
        vocab |= {w for topic, related in _RELATED.items() if topic in vocab for w in related}
        score = (len(vocab & words), -i)
        if score[0] and (chosen is None or score > best):
            best, chosen = score, fn
    return chosen


def _one_call_per_name(params: dict[str, Any], text: str, exclude: set[str]) -> list[str]:
    """"Paris and Rome" for a tool whose one required argument is a place or person."""
    props = params.get("properties") or {}
    required = params["required"] if isinstance(params.get("required"), list) else list(props)
    if len(required) != 1 or not _is_name_key(str(required[0])):
        return []
    names = PromptValues(text, exclude=exclude).names
    if len(names) < 2:
        return []
    listed = r"\s*(?:,\s*(?:and\s+)?|\s+and\s+|\s*&\s*)(?:(?:in|for|at|of|to|from)\s+)?"
    pattern = listed.join(re.escape(n) for n in names)
    return names if re.search(pattern, text) else []


def _vocabulary(fn: dict[str, Any]) -> set[str]:
    words = set(_split_name(str(fn["name"])))
    return words | set(_WORD_RE.findall(str(fn.get("description") or "").lower())) - STOPWORDS


def fill_args(params: dict[str, Any], text: str, fallback: str = "",
              exclude: set[str] | None = None) -> dict[str, Any]:
    """Values for a tool's required parameters (all of them when none is required)."""
    props = params.get("properties") or {}
    required = params.get("required")
    names = [n for n in props if n in required] if isinstance(required, list) else list(props)
    values = PromptValues(text, fallback, exclude)
    return {name: _arg_value(name, _resolve(params, props.get(name) or {}), values)
            for name in names}


def _arg_value(name: str, spec: dict[str, Any], values: PromptValues) -> Any:
    enum = spec.get("enum")
    if isinstance(enum, list) and enum:
        return next((e for e in enum if str(e).lower() in values.text.lower()), enum[0])
    kind = spec.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind in ("integer", "number"):
        found = values.number()
        value = found if found is not None else 1
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    if kind == "array":
        return [_arg_value(name, spec.get("items") or {}, values)]
    if kind == "object":
        return fill_args(spec, values.text)
    if _is_name_key(name):
        found_name = values.name()
        if found_name is not None:
            return found_name
    return " ".join(values.words[:2])

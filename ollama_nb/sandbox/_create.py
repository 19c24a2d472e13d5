"""``/api/create``: the current form (``from``, ``files``, ``system`` …) and the
old ``modelfile`` form of the project's spec, with the progress lines of §5.3.

Validation happens before the first line is sent (so bad requests are plain
JSON errors); the returned iterator yields the progress objects.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from . import _catalogue, _names
from ._catalogue import Layer, LocalModel, ModelSpec, Store
from ._wire import ApiError

_QUANTS = {"q4_k_m": "Q4_K_M", "q4_k_s": "Q4_K_S", "q8_0": "Q8_0", "q4_0": "Q4_0"}
_INT_PARAMS = {"num_keep", "seed", "num_predict", "top_k", "repeat_last_n", "num_ctx",
               "num_batch", "num_gpu", "main_gpu", "num_thread", "draft_num_predict"}
_FLOAT_PARAMS = {"top_p", "min_p", "typical_p", "temperature", "repeat_penalty",
                 "presence_penalty", "frequency_penalty"}
_BOOL_PARAMS = {"use_mmap"}
_LIST_PARAMS = {"stop"}
_COMMAND_RE = re.compile(r"^\s*([A-Za-z]+)\s+(.*)$", re.DOTALL)


def parse_modelfile(text: str) -> dict[str, Any]:
    """A Modelfile -> the current create fields (``from``, ``system``, ``parameters`` …)."""
    out: dict[str, Any] = {}
    params: dict[str, Any] = {}
    messages: list[dict[str, str]] = []
    licenses: list[str] = []
    pos = 0
    lines = text.splitlines(keepends=True)
    while pos < len(lines):
        line = lines[pos]
        pos += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _COMMAND_RE.match(line)
        if not m:
            raise ApiError(400, "command must be one of \"from\", \"license\", \"template\", "
                                "\"system\", \"adapter\", \"parameter\", or \"message\"")
        command, rest = m.group(1).lower(), m.group(2)
        if '"""' in rest:
            start = rest.index('"""') + 3
            body = rest[start:]
            while '"""' not in body and pos < len(lines):
                body += lines[pos]
                pos += 1
            if '"""' not in body:
                raise ApiError(400, "unexpected EOF")
            value = rest[: start - 3] + body[: body.index('"""')]
        else:
            value = rest.rstrip("\r\n").strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
        if command == "from":
            out["from"] = value.strip()
        elif command in ("system", "template"):
            out[command] = value
        elif command == "license":
            licenses.append(value)
        elif command == "adapter":
            out.setdefault("adapters", {})[value.strip()] = value.strip()
        elif command == "parameter":
            key, _, raw = value.partition(" ")
            key = key.strip().lower()
            raw = raw.strip()
            if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                raw = raw[1:-1]
            params.setdefault(key, []).append(raw)
        elif command == "message":
            role, _, content = value.partition(" ")
            if role.lower() not in ("system", "user", "assistant", "tool"):
                raise ApiError(400, "role must be one of \"system\", \"user\", or \"assistant\"")
            messages.append({"role": role.lower(), "content": content})
        elif command == "requires":
            out["requires"] = value.strip()
        else:
            raise ApiError(400, "command must be one of \"from\", \"license\", \"template\", "
                                "\"system\", \"adapter\", \"parameter\", or \"message\"")
    if params:
        out["parameters"] = _format_params(params)
    if messages:
        out["messages"] = messages
    if licenses:
        out["license"] = licenses
    return out


def _format_params(raw: dict[str, list[str]]) -> dict[str, Any]:
    """Like Go's FormatParams: strings -> typed values; unknown keys are errors."""
    out: dict[str, Any] = {}
    for key, values in raw.items():
        try:
            if key in _LIST_PARAMS:
                out[key] = values
            elif key in _INT_PARAMS:
                out[key] = int(values[0])
            elif key in _FLOAT_PARAMS:
                out[key] = float(values[0])
            elif key in _BOOL_PARAMS:
                out[key] = values[0].lower() in ("1", "t", "true")
            else:
                raise ApiError(400, f"unknown parameter '{key}'")
        except ValueError:
            kind = "int" if key in _INT_PARAMS else "float"
            raise ApiError(400, f"invalid {kind} value {values}") from None
    return out


def _blob_layer(digest: str, media_type: str, size: int) -> Layer:
    return Layer(digest, media_type, size)


def plan_create(store: Store, name: _names.Name, req: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Validate a create request; return the iterator of its progress lines."""
    if req.get("modelfile") and not req.get("from") and not req.get("files"):
        parsed = parse_modelfile(str(req["modelfile"]))
        req = {**parsed, **{k: v for k, v in req.items() if k != "modelfile" and v is not None}}
    source = req.get("from")
    files = req.get("files") or {}
    if not source and not files:
        raise ApiError(400, "neither 'from' or 'files' was specified")
    for path, digest in files.items():
        if path.startswith("/") or ".." in path.split("/") or re.match(r"^[A-Za-z]:", path):
            raise ApiError(400, "file path must be relative")
        if not isinstance(digest, str) or not digest:
            raise ApiError(400, "invalid digest format")
        if store.blob_size(digest) is None:
            raise ApiError(400, f"open /root/.ollama/models/blobs/{digest.replace(':', '-')}: "
                                "no such file or directory")
    quantize = req.get("quantize") or req.get("quantization")
    if quantize and quantize.lower() not in _QUANTS:
        raise ApiError(400, f"unsupported quantization type {quantize}")
    license_value = req.get("license")
    if isinstance(license_value, list):
        license_value = "\n".join(str(x) for x in license_value)
    parent: LocalModel | None = None
    pull_spec: ModelSpec | None = None
    if source:
        src_name = _names.parse(str(source))
        if src_name is None:
            raise ApiError(400, "invalid model name")
        parent = store.get(src_name)
        if parent is None:
            # a name that is not local is pulled first (server/model.go parseFromModel),
            # so an unknown one fails the way its pull does
            pull_spec = None if src_name.is_cloud else _catalogue.find_spec(src_name)
            if pull_spec is None:
                return iter([{"status": "pulling manifest"},
                             {"error": "pull model manifest: file does not exist"}])
            parent = _catalogue.local_from_spec(src_name, pull_spec)
    return _create_items(store, name, req, parent, pull_spec is not None, files, quantize,
                         license_value)


def _create_items(store: Store, name: _names.Name, req: dict[str, Any],
                  parent: LocalModel | None, pull_parent: bool, files: dict[str, str],
                  quantize: str | None, license_value: Any) -> Iterator[dict[str, Any]]:
    if parent is not None and pull_parent:
        yield {"status": "pulling manifest"}
        for layer in parent.layers():
            yield {"status": f"pulling {layer.short}", "digest": layer.digest,
                   "total": layer.size, "completed": layer.size}
        yield {"status": "verifying sha256 digest"}
        yield {"status": "writing manifest"}
        store.put(parent)
    if parent is None:
        base = _file_model(name, files, store)
        gguf = any(p.endswith(".gguf") for p in files) or not files
        yield {"status": "parsing GGUF" if gguf else "converting model"}
        extra = tuple(_blob_layer(d.replace("-", ":", 1), "application/vnd.ollama.image.model",
                                  store.blob_size(d) or 0) for d in files.values())
        for layer in extra:
            yield {"status": f"using existing layer {layer.digest}"}
        model = base
    else:
        model = replace(parent, name=name)
        for layer in parent.layers():
            yield {"status": f"using existing layer {layer.digest}"}
    if quantize:
        level = _QUANTS[quantize.lower()]
        if model.quant not in ("F16", "F32"):
            yield {"error": "quantization is only supported for F16 and F32 models",
                   "status": 400}
            return
        total = model.layers()[0].size
        yield {"status": f"quantizing {model.quant} model to {level}",
               "digest": "0000000000000000000", "total": total, "completed": 0}
        yield {"status": f"quantizing {model.quant} model to {level}",
               "digest": "0000000000000000000", "total": total, "completed": total}
        yield {"status": "verifying conversion"}
        model = replace(model, quantization_level=level)
    changes: dict[str, Any] = {}
    if req.get("template") is not None:
        changes["template"] = str(req["template"])
    if req.get("system") is not None:
        changes["system"] = str(req["system"])
    if req.get("parameters"):
        changes["parameters"] = {**model.parameters, **req["parameters"]}
    if req.get("messages"):
        changes["messages"] = tuple(dict(m) for m in req["messages"])
    if license_value is not None:
        changes["license"] = str(license_value)
    old = {layer.digest for layer in model.layers()}
    model = replace(model, modified_at=time.time(), **changes)
    for layer in model.layers():
        if layer.digest not in old:
            yield {"status": f"creating new layer {layer.digest}"}
    yield {"status": "writing manifest"}
    store.put(model)
    yield {"status": "success"}


def _file_model(name: _names.Name, files: dict[str, str], store: Store) -> LocalModel:
    """A model made from uploaded files: a generic small completion model."""
    size = sum(store.blob_size(d) or 0 for d in files.values())
    spec = ModelSpec(
        name=f"{name.model}:{name.tag}", family="llama", parameter_size="1.2B",
        parameter_count=1_235_814_432, quantization_level="F16", size=max(size, 1000),
        capabilities=("completion",), context_length=4096, embedding_length=2048,
        template="{{ .Prompt }}", vocab_size=32000, block_count=4,
    )
    return LocalModel(name=name, spec=spec,
                      modified_at=time.time(), system="", template=spec.template,
                      parameters={})

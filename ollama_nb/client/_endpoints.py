"""Every endpoint of the Ollama API, written once for ``Client`` and ``AsyncClient``.

Each function is an *operation* (see :mod:`._protocol`): it checks its arguments
(:mod:`._args`), builds the body, yields the :class:`Request` it needs sent (or the
:class:`Digest` of a file it needs) and returns the typed result made of the answer.
The clients turn each one into a method with :func:`sync_method` /
:func:`async_method`, so the signature and docstring here are the methods' own.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, overload

from . import _args as A
from ._errors import InvalidArgumentError, OllamaError, ResponseError
from ._protocol import Digest, Op, Request
from ._stream import Kind, Stream
from ._types import (
    ChatResponse,
    EmbeddingsResponse,
    EmbedResponse,
    GenerateResponse,
    ListResponse,
    ProcessResponse,
    ProgressResponse,
    ShowResponse,
)

_DIGEST = re.compile(r"^sha256[:-][0-9a-fA-F]{64}$")


def _answer(path: str, body: dict[str, Any], kind: Kind, parse: Any, stream: bool,
            model: str | None) -> Request:
    """POST ``body``; the answer is a stream of ``kind`` or one result made by ``parse``."""
    body["stream"] = bool(stream)
    return Request("POST", path, json=body, model=model, parse=parse, stream=kind if stream else None)


# -- generation --------------------------------------------------------------------------
@overload
def generate(
    model: str,
    prompt: str = ...,
    *,
    suffix: str | None = ...,
    system: str | None = ...,
    template: str | None = ...,
    context: Iterable[int] | None = ...,
    images: Any = ...,
    format: Any = ...,
    options: Mapping[str, Any] | None = ...,
    raw: bool | None = ...,
    keep_alive: Any = ...,
    think: bool | str | None = ...,
    truncate: bool | None = ...,
    shift: bool | None = ...,
    logprobs: bool | None = ...,
    top_logprobs: int | None = ...,
    stream: Literal[False] = ...,
) -> Op[GenerateResponse]: ...


@overload
def generate(
    model: str,
    prompt: str = ...,
    *,
    suffix: str | None = ...,
    system: str | None = ...,
    template: str | None = ...,
    context: Iterable[int] | None = ...,
    images: Any = ...,
    format: Any = ...,
    options: Mapping[str, Any] | None = ...,
    raw: bool | None = ...,
    keep_alive: Any = ...,
    think: bool | str | None = ...,
    truncate: bool | None = ...,
    shift: bool | None = ...,
    logprobs: bool | None = ...,
    top_logprobs: int | None = ...,
    stream: Literal[True],
) -> Op[Stream[GenerateResponse]]: ...


def generate(
    model: str,
    prompt: str = "",
    *,
    suffix: str | None = None,
    system: str | None = None,
    template: str | None = None,
    context: Iterable[int] | None = None,
    images: Any = None,
    format: Any = None,
    options: Mapping[str, Any] | None = None,
    raw: bool | None = None,
    keep_alive: Any = None,
    think: bool | str | None = None,
    truncate: bool | None = None,
    shift: bool | None = None,
    logprobs: bool | None = None,
    top_logprobs: int | None = None,
    stream: bool = False,
) -> Op[GenerateResponse | Stream[GenerateResponse]]:
    """Complete ``prompt`` (``/api/generate``); ``stream=True`` gives a :class:`Stream`."""
    model = A.check_model(model)
    if prompt is None:
        prompt = ""
    A.check_str(prompt, "prompt")
    body = {
        "model": model,
        "prompt": prompt,
        **A.drop_none(
            suffix=A.check_str(suffix, "suffix"),
            system=A.check_str(system, "system"),
            template=A.check_str(template, "template"),
            context=A.check_context(context),
            images=A.check_images(images),
            format=A.check_format(format),
            options=A.check_options(options),
            raw=A.check_bool(raw, "raw"),
            keep_alive=A.check_keep_alive(keep_alive),
            think=A.check_think(think),
            truncate=A.check_bool(truncate, "truncate"),
            shift=A.check_bool(shift, "shift"),
            logprobs=A.check_bool(logprobs, "logprobs"),
            top_logprobs=A.check_top_logprobs(top_logprobs),
        ),
    }
    return (yield _answer("/api/generate", body, "generate", GenerateResponse, stream, model))


@overload
def chat(
    model: str,
    messages: Iterable[Any] = ...,
    *,
    tools: Any = ...,
    format: Any = ...,
    options: Mapping[str, Any] | None = ...,
    keep_alive: Any = ...,
    think: bool | str | None = ...,
    truncate: bool | None = ...,
    shift: bool | None = ...,
    logprobs: bool | None = ...,
    top_logprobs: int | None = ...,
    stream: Literal[False] = ...,
) -> Op[ChatResponse]: ...


@overload
def chat(
    model: str,
    messages: Iterable[Any] = ...,
    *,
    tools: Any = ...,
    format: Any = ...,
    options: Mapping[str, Any] | None = ...,
    keep_alive: Any = ...,
    think: bool | str | None = ...,
    truncate: bool | None = ...,
    shift: bool | None = ...,
    logprobs: bool | None = ...,
    top_logprobs: int | None = ...,
    stream: Literal[True],
) -> Op[Stream[ChatResponse]]: ...


def chat(
    model: str,
    messages: Iterable[Any] = (),
    *,
    tools: Any = None,
    format: Any = None,
    options: Mapping[str, Any] | None = None,
    keep_alive: Any = None,
    think: bool | str | None = None,
    truncate: bool | None = None,
    shift: bool | None = None,
    logprobs: bool | None = None,
    top_logprobs: int | None = None,
    stream: bool = False,
) -> Op[ChatResponse | Stream[ChatResponse]]:
    """Continue a conversation (``/api/chat``); ``stream=True`` gives a :class:`Stream`."""
    model = A.check_model(model)
    body = {
        "model": model,
        "messages": A.check_messages(messages),
        **A.drop_none(
            tools=A.check_tools(tools),
            format=A.check_format(format),
            options=A.check_options(options),
            keep_alive=A.check_keep_alive(keep_alive),
            think=A.check_think(think),
            truncate=A.check_bool(truncate, "truncate"),
            shift=A.check_bool(shift, "shift"),
            logprobs=A.check_bool(logprobs, "logprobs"),
            top_logprobs=A.check_top_logprobs(top_logprobs),
        ),
    }
    return (yield _answer("/api/chat", body, "chat", ChatResponse, stream, model))


# -- embeddings --------------------------------------------------------------------------
def embed(
    model: str,
    input: str | Iterable[str],
    *,
    truncate: bool | None = None,
    dimensions: int | None = None,
    keep_alive: Any = None,
    options: Mapping[str, Any] | None = None,
) -> Op[EmbedResponse]:
    """Unit-norm embeddings of one text or a batch (``/api/embed``), in input order."""
    model = A.check_model(model)
    if dimensions is not None and (isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 0):
        raise InvalidArgumentError(f"dimensions must be a positive integer, got {dimensions!r}")
    body = {
        "model": model,
        "input": A.check_embed_input(input),
        **A.drop_none(
            truncate=A.check_bool(truncate, "truncate"),
            dimensions=dimensions or None,
            keep_alive=A.check_keep_alive(keep_alive),
            options=A.check_options(options),
        ),
    }
    return (yield Request("POST", "/api/embed", json=body, model=model, parse=EmbedResponse))


def embeddings(
    model: str,
    prompt: str,
    *,
    options: Mapping[str, Any] | None = None,
    keep_alive: Any = None,
) -> Op[EmbeddingsResponse]:
    """One un-normalised vector (legacy ``/api/embeddings``)."""
    model = A.check_model(model)
    if not isinstance(prompt, str):
        raise InvalidArgumentError(f"prompt must be a string, got {type(prompt).__name__}")
    body = {
        "model": model,
        "prompt": prompt,
        **A.drop_none(options=A.check_options(options), keep_alive=A.check_keep_alive(keep_alive)),
    }
    return (yield Request("POST", "/api/embeddings", json=body, model=model, parse=EmbeddingsResponse))


# -- models ------------------------------------------------------------------------------
def list() -> Op[ListResponse]:  # noqa: A001 - the endpoint's name, as in the official client
    """Local models (``/api/tags``)."""
    return (yield Request("GET", "/api/tags", parse=ListResponse))


def ps() -> Op[ProcessResponse]:
    """Models loaded in memory (``/api/ps``)."""
    return (yield Request("GET", "/api/ps", parse=ProcessResponse))


def show(
    model: str,
    *,
    verbose: bool = False,
    system: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> Op[ShowResponse]:
    """Details of a model (``/api/show``); ``verbose`` adds the large tokenizer arrays.

    ``system`` / ``options`` ask the server to show the model as if they were set.
    """
    model = A.check_model(model)
    body: dict[str, Any] = {
        "model": model,
        **A.drop_none(system=A.check_str(system, "system"), options=A.check_options(options)),
    }
    if A.check_bool(verbose, "verbose"):
        body["verbose"] = True
    return (yield Request("POST", "/api/show", json=body, model=model, parse=ShowResponse))


def copy(source: str, destination: str) -> Op[None]:
    """Copy ``source`` to a new name (``/api/copy``)."""
    source = A.check_model(source, "source")
    destination = A.check_model(destination, "destination")
    yield Request("POST", "/api/copy", json={"source": source, "destination": destination}, model=source)


def delete(model: str) -> Op[None]:
    """Delete a local model (``DELETE /api/delete``)."""
    model = A.check_model(model)
    yield Request("DELETE", "/api/delete", json={"model": model}, model=model)


def pull(model: str, *, insecure: bool = False, stream: bool = False) -> Op[ProgressResponse | Stream[ProgressResponse]]:
    """Download a model (``/api/pull``); ``stream=True`` gives progress lines."""
    model = A.check_model(model)
    body: dict[str, Any] = {"model": model, "insecure": bool(A.check_bool(insecure, "insecure"))}
    return (yield _answer("/api/pull", body, "progress", ProgressResponse, stream, None))


def push(model: str, *, insecure: bool = False, stream: bool = False) -> Op[ProgressResponse | Stream[ProgressResponse]]:
    """Upload a model to a registry (``/api/push``); ``stream=True`` gives progress lines."""
    model = A.check_model(model)
    body: dict[str, Any] = {"model": model, "insecure": bool(A.check_bool(insecure, "insecure"))}
    return (yield _answer("/api/push", body, "progress", ProgressResponse, stream, model))


def create(
    model: str,
    *,
    from_: str | None = None,
    files: Mapping[str, str] | None = None,
    adapters: Mapping[str, str] | None = None,
    template: str | None = None,
    system: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    messages: Iterable[Any] | None = None,
    license: str | Iterable[str] | None = None,
    quantize: str | None = None,
    modelfile: str | os.PathLike[str] | None = None,
    stream: bool = False,
    renderer: str | None = None,
    parser: str | None = None,
    requires: str | None = None,
) -> Op[ProgressResponse | Stream[ProgressResponse]]:
    """Create a model (``/api/create``) from fields, a Modelfile text, or both.

    A Modelfile is parsed here; local ``FROM`` / ``ADAPTER`` files (and local
    paths given in ``files`` / ``adapters`` / ``from_``) are uploaded as blobs
    first. Explicit arguments override what the Modelfile says.
    """
    from ._modelfile import parse_modelfile

    model = A.check_model(model)
    spec: dict[str, Any] = {}
    base_dir = Path.cwd()
    if modelfile is not None:
        text, base_dir = _modelfile_text(modelfile)
        spec = parse_modelfile(text, base_dir=base_dir)
    explicit = A.drop_none(
        template=A.check_str(template, "template"),
        system=A.check_str(system, "system"),
        quantize=A.check_str(quantize, "quantize"),
        renderer=A.check_str(renderer, "renderer"),
        parser=A.check_str(parser, "parser"),
        requires=A.check_str(requires, "requires"),
    )
    spec.update(explicit)
    if from_ is not None:
        spec.pop("from", None)
        spec.pop("files", None)
        spec["from"] = A.check_str(from_, "from_")
    if parameters is not None:
        if not isinstance(parameters, Mapping):
            raise InvalidArgumentError("parameters must be a dict such as {'temperature': 0.2}")
        spec["parameters"] = {**spec.get("parameters", {}), **A.check_options(parameters)}  # type: ignore[dict-item]
    if messages is not None:
        spec["messages"] = A.check_messages(messages)
    if license is not None:
        spec["license"] = license if isinstance(license, str) else [str(item) for item in license]
    if files is not None:
        spec["files"] = {**spec.get("files", {}), **dict(files)}
    if adapters is not None:
        spec["adapters"] = {**spec.get("adapters", {}), **dict(adapters)}

    # local paths become uploaded blobs
    source = spec.get("from")
    if isinstance(source, str) and _is_local_path(source, base_dir):
        spec.pop("from")
        spec["files"] = {**(yield from _upload_path(source, base_dir)), **spec.get("files", {})}
    for key in ("files", "adapters"):
        if key in spec:
            spec[key] = yield from _upload_mapping(spec[key], base_dir, key)
    if "from" not in spec and not spec.get("files"):
        raise InvalidArgumentError(
            "create needs a base: from_='llama3.2', a Modelfile with FROM, or files={...}"
        )
    body: dict[str, Any] = {"model": model, **spec}
    return (yield _answer("/api/create", body, "progress", ProgressResponse, stream, None))


def _upload_path(source: str, base_dir: Path) -> Op[dict[str, str]]:
    path = _resolve(source, base_dir)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not found:
            raise InvalidArgumentError(f"FROM directory {source!r} has no files")
        uploaded = {}
        for p in found:
            uploaded[p.relative_to(path).as_posix()] = yield from create_blob(p)
        return uploaded
    return {path.name: (yield from create_blob(path))}


def _upload_mapping(mapping: Any, base_dir: Path, key: str) -> Op[dict[str, str]]:
    if not isinstance(mapping, Mapping):
        raise InvalidArgumentError(f"{key} must be a dict of file name -> digest or path")
    result: dict[str, str] = {}
    for name, value in mapping.items():
        if not isinstance(value, str):
            value = os.fspath(value)
        if _DIGEST.match(value):
            result[str(name)] = value.replace("sha256-", "sha256:")
        elif _is_local_path(value, base_dir):
            path = _resolve(value, base_dir)
            if path.is_dir():
                result.update((yield from _upload_path(value, base_dir)))
            else:
                result[str(name)] = yield from create_blob(path)
        else:
            raise InvalidArgumentError(f"{key}[{name!r}]: {value!r} is neither a sha256 digest nor an existing file")
    return result


# -- blobs -------------------------------------------------------------------------------
def blob_exists(digest: str) -> Op[bool]:
    """Whether the server has the blob ``sha256:<hex>``."""
    if not isinstance(digest, str) or not _DIGEST.match(digest):
        raise InvalidArgumentError(f"digest must look like 'sha256:<64 hex>', got {digest!r}")
    try:
        yield Request("HEAD", f"/api/blobs/{digest}")
    except ResponseError as exc:
        if exc.status_code == 404:
            return False
        raise
    return True


def create_blob(path_or_bytes: str | os.PathLike[str] | bytes) -> Op[str]:
    """Upload a file (streamed from disk) or bytes as a blob; returns ``"sha256:<hex>"``."""
    content: bytes | Path
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        content = bytes(path_or_bytes)
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
    elif isinstance(path_or_bytes, (str, os.PathLike)):
        content = Path(path_or_bytes).expanduser()
        if not content.is_file():
            raise InvalidArgumentError(f"create_blob: {os.fspath(path_or_bytes)!r} is not a file")
        digest = yield Digest(content)
    else:
        raise InvalidArgumentError(f"create_blob takes a path or bytes, got {type(path_or_bytes).__name__}")
    if not (yield from blob_exists(digest)):
        yield Request("POST", f"/api/blobs/{digest}", content=content)
    return digest


# -- server ------------------------------------------------------------------------------
def version() -> Op[str]:
    """The server's version string."""
    data = yield Request("GET", "/api/version", parse=dict)
    return str(data.get("version", ""))


def is_reachable(timeout: float = 2.0) -> Op[bool]:
    """True if the server answers ``HEAD /`` (or, behind a proxy that hides ``/``,
    ``GET /api/version``) within ``timeout`` seconds; never raises."""
    for method, path in (("HEAD", "/"), ("GET", "/api/version")):
        try:
            yield Request(method, path, timeout=timeout)
        except ResponseError:
            continue
        except OllamaError:
            return False
        return True
    return False


# -- helpers of create -------------------------------------------------------------------
def _modelfile_text(modelfile: Any) -> tuple[str, Path]:
    """A Modelfile given as text or as a path; relative FROM paths resolve from its folder."""
    if isinstance(modelfile, os.PathLike):
        path = Path(modelfile).expanduser()
        try:
            return path.read_text(encoding="utf-8"), path.resolve().parent
        except OSError as exc:
            raise InvalidArgumentError(f"modelfile: cannot read {os.fspath(modelfile)!r} ({exc.strerror})") from None
    if not isinstance(modelfile, str):
        raise InvalidArgumentError("modelfile must be the Modelfile text or a pathlib.Path to one")
    return modelfile, Path.cwd()


def _resolve(value: str, base_dir: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def _is_local_path(value: str, base_dir: Path) -> bool:
    """A FROM value that names a file or folder on this machine (not a model name)."""
    if value.startswith(("/", "./", "../", "~", ".\\")) or re.match(r"^[A-Za-z]:[\\/]", value):
        return True
    if value.lower().endswith((".gguf", ".bin", ".safetensors")):
        return True
    return _resolve(value, base_dir).exists() and ("/" in value or "\\" in value or os.sep in value)

"""Request arguments checked and normalised before anything is sent.

Every check raises :class:`InvalidArgumentError` with a one-line message that
says which argument was wrong and what is expected, so mistakes surface before a
request (and before a slow model load) instead of as a server 400/500.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from ._errors import InvalidArgumentError

__all__ = [
    "with_tag",
    "check_model",
    "check_format",
    "check_keep_alive",
    "check_images",
    "check_options",
    "check_think",
    "check_messages",
    "check_tools",
    "check_embed_input",
    "check_top_logprobs",
    "check_context",
    "drop_none",
]

_INT_OPTIONS = {
    "num_keep", "seed", "num_predict", "top_k", "repeat_last_n", "num_ctx", "num_batch",
    "num_gpu", "main_gpu", "num_thread", "draft_num_predict", "mirostat",
}
_FLOAT_OPTIONS = {
    "top_p", "min_p", "typical_p", "temperature", "repeat_penalty", "presence_penalty",
    "frequency_penalty", "tfs_z", "mirostat_tau", "mirostat_eta", "rope_frequency_base",
    "rope_frequency_scale",
}
_BOOL_OPTIONS = {
    "use_mmap", "numa", "penalize_newline", "low_vram", "f16_kv", "logits_all",
    "vocab_only", "use_mlock", "embedding_only",
}
_DURATION = re.compile(r"^[-+]?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$")
_THINK_LEVELS = ("low", "medium", "high", "max")
_IMAGE_MAGIC = (
    b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*",
)
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def drop_none(**fields: Any) -> dict[str, Any]:
    """The fields that were given (None means "not given": the server default applies)."""
    return {key: value for key, value in fields.items() if value is not None}


def with_tag(name: str) -> str:
    """``llama3.2`` -> ``llama3.2:latest``: the name with its tag, as the server lists it
    (a ``:`` before the last ``/`` is a registry's port, not a tag)."""
    return name if ":" in name.rpartition("/")[2] else f"{name}:latest"


def check_model(model: Any, name: str = "model") -> str:
    if not isinstance(model, str) or not model.strip():
        raise InvalidArgumentError(
            f"{name} must be a non-empty model name such as 'llama3.2', got {model!r}"
        )
    return model.strip()


def check_str(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidArgumentError(f"{name} must be a string, got {type(value).__name__}")
    return value


def check_bool(value: Any, name: str) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise InvalidArgumentError(f"{name} must be True or False, got {value!r}")
    return value


def check_format(value: Any) -> str | dict[str, Any] | None:
    """``"json"``, a JSON-schema dict (or a pydantic model class), or None / ""."""
    if value is None or value == "":
        return None
    if value == "json":
        return "json"
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, type):  # a pydantic model, a dataclass or a TypedDict
        from ._schema import Schema

        return Schema(value).json
    raise InvalidArgumentError(
        f"format must be \"json\" or a JSON schema dict, got {value!r}"
    )


def check_keep_alive(value: Any) -> float | int | str | None:
    """Seconds (number), a Go duration string ("5m", "1h30m", "-1") or a timedelta."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidArgumentError(f"keep_alive must be seconds, a duration like '5m' or a timedelta, got {value!r}")
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        return int(seconds) if seconds == int(seconds) else seconds
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            number = None
        if number is not None:  # "300" would be a server error (no unit); it means seconds
            return int(number) if number == int(number) else number
        if _DURATION.match(text):
            return text.replace("μs", "us").replace("µs", "us")
    raise InvalidArgumentError(
        f"keep_alive must be seconds, a duration like '5m' / '1h30m' / '-1', or a timedelta; got {value!r}"
    )


def _looks_like_image(data: bytes) -> bool:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return True
    return any(data.startswith(magic) for magic in _IMAGE_MAGIC)


def _image_from_path(path: Path, shown: str) -> str:
    try:
        data = path.expanduser().read_bytes()
    except OSError as exc:
        raise InvalidArgumentError(f"images: cannot read {shown!r} ({exc.strerror or exc})") from None
    if not _looks_like_image(data):
        raise InvalidArgumentError(f"images: {shown!r} is not a PNG, JPEG, WebP, GIF, BMP or TIFF image")
    return base64.b64encode(data).decode("ascii")


def _one_image(item: Any) -> str:
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
        if not _looks_like_image(data):
            raise InvalidArgumentError(
                "images: bytes given are not a PNG, JPEG, WebP, GIF, BMP or TIFF image"
            )
        return base64.b64encode(data).decode("ascii")
    if isinstance(item, os.PathLike):
        return _image_from_path(Path(item), os.fspath(item))
    if isinstance(item, str):
        text = item.strip()
        if text.startswith("data:") and ";base64," in text:
            text = text.split(";base64,", 1)[1]
        candidate = Path(text).expanduser()
        if len(text) < 4096 and candidate.is_file():
            return _image_from_path(candidate, text)
        if text.lower().endswith(_IMAGE_SUFFIXES) or os.sep in text and not _is_base64(text):
            raise InvalidArgumentError(f"images: file {text!r} does not exist")
        if not _is_base64(text):
            raise InvalidArgumentError(
                "images: a string must be a path to an image file or base64 image data"
            )
        return text
    raise InvalidArgumentError(
        f"images: each image must be bytes, a path or a base64 string, got {type(item).__name__}"
    )


def _is_base64(text: str) -> bool:
    if not text or len(text) % 4:
        return False
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def check_images(images: Any) -> list[str] | None:
    """A list of images (bytes, paths, base64 strings) -> base64 strings; one image is fine too."""
    if images is None:
        return None
    if isinstance(images, (str, bytes, bytearray, memoryview, os.PathLike)):
        images = [images]
    if not isinstance(images, Iterable):
        raise InvalidArgumentError(f"images must be a list of bytes, paths or base64 strings, got {type(images).__name__}")
    return [_one_image(item) for item in images]


def check_options(options: Any) -> dict[str, Any] | None:
    """A dict of model options; known keys are type-checked (``stop`` may be one string)."""
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise InvalidArgumentError(f"options must be a dict such as {{'temperature': 0}}, got {type(options).__name__}")
    result: dict[str, Any] = {}
    for key, value in options.items():
        if not isinstance(key, str):
            raise InvalidArgumentError(f"options keys must be strings, got {key!r}")
        if value is None:
            continue
        if key in _INT_OPTIONS:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidArgumentError(f"option {key} must be an integer, got {value!r}")
        elif key in _FLOAT_OPTIONS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidArgumentError(f"option {key} must be a number, got {value!r}")
        elif key in _BOOL_OPTIONS:
            if not isinstance(value, bool):
                raise InvalidArgumentError(f"option {key} must be True or False, got {value!r}")
        elif key == "stop":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, (list, tuple)) or not all(isinstance(s, str) for s in value):
                raise InvalidArgumentError(f"option stop must be a list of strings, got {value!r}")
            value = list(value)
        result[key] = value
    return result


def check_think(value: Any) -> bool | str | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _THINK_LEVELS:
        return value.lower()
    raise InvalidArgumentError(f"think must be True, False, 'low', 'medium', 'high' or 'max'; got {value!r}")


def check_top_logprobs(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 20:
        raise InvalidArgumentError(f"top_logprobs must be an integer from 0 to 20, got {value!r}")
    return value


def check_context(value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidArgumentError("context must be the list of ints returned by a previous generate")
    items = list(value)
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in items):
        raise InvalidArgumentError("context must be the list of ints returned by a previous generate")
    return items


def check_messages(messages: Any) -> list[dict[str, Any]]:
    """Dicts or :class:`Message` results -> plain dicts; images normalised."""
    if messages is None:
        return []
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, Iterable):
        raise InvalidArgumentError(
            "messages must be a list of {'role': ..., 'content': ...} dicts"
        )
    result = []
    for index, message in enumerate(messages):
        raw = getattr(message, "raw", message)
        if not isinstance(raw, Mapping):
            raise InvalidArgumentError(
                f"messages[{index}] must be a dict with 'role' and 'content', got {type(message).__name__}"
            )
        item = {key: value for key, value in raw.items() if value is not None}
        role = item.get("role")
        if not isinstance(role, str) or not role:
            raise InvalidArgumentError(f"messages[{index}] needs a 'role' such as 'user'")
        if "content" in item and not isinstance(item["content"], str):
            raise InvalidArgumentError(f"messages[{index}]['content'] must be a string")
        if item.get("images") is not None:
            item["images"] = check_images(item["images"])
        result.append(item)
    return result


def check_tools(tools: Any) -> list[dict[str, Any]] | None:
    """Tool dicts, or plain Python functions turned into tool definitions."""
    if tools is None:
        return None
    if isinstance(tools, (str, Mapping)) or not isinstance(tools, Iterable):
        tools = [tools]
    result = []
    for index, tool in enumerate(tools):
        raw = getattr(tool, "raw", tool)
        if isinstance(raw, Mapping):
            result.append(dict(raw))
        elif callable(tool):
            from ._tools import Tool  # the same schema as %%ollama --tools

            result.append(Tool(tool).schema)
        else:
            raise InvalidArgumentError(f"tools[{index}] must be a tool dict or a function, got {type(tool).__name__}")
    return result


def check_embed_input(value: Any) -> str | list[str]:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
        raise InvalidArgumentError(f"input must be a string or a list of strings, got {type(value).__name__}")
    items = list(value)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidArgumentError(
                f"input[{index}] must be a string, got {type(item).__name__} {item!r:.40}"
            )
    return items

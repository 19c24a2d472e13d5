"""The header of a GGUF file: its metadata key/values and tensor table.

``/api/show`` reports a model's ``model_info`` from the GGUF's own keys, typed as the
file types them (numbers as numbers, arrays as lists). llama-cpp-python's ``metadata``
turns every value into a string and leaves arrays out, so this reads the header itself;
the format is small and fixed (magic, version, counts, key/values, tensor infos).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

__all__ = ["GGUFHeader", "TensorInfo", "read_header"]

# value type ids of the GGUF format -> struct codes of the scalar types
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
# ggml tensor type ids -> names, as Ollama's /api/show writes them
GGML_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0",
              9: "Q8_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K",
              15: "Q8_K", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 30: "BF16"}
# general.file_type ids -> quantization level names (llama.cpp's llama_ftype)
FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
              10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S",
              15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    type: str


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    metadata: dict[str, Any]
    tensors: tuple[TensorInfo, ...]


def _read(f: BinaryIO, code: str) -> Any:
    size = struct.calcsize(code)
    data = f.read(size)
    if len(data) != size:
        raise ValueError("truncated GGUF header")
    return struct.unpack(code, data)[0]


def _string(f: BinaryIO) -> str:
    n = _read(f, "<Q")
    return f.read(n).decode("utf-8", "replace")


def _value(f: BinaryIO, kind: int) -> Any:
    if kind == _STRING:
        return _string(f)
    if kind == _ARRAY:
        item_kind = _read(f, "<I")
        count = _read(f, "<Q")
        if item_kind in _SCALARS:  # read the whole run at once
            code = _SCALARS[item_kind]
            size = struct.calcsize(code)
            data = f.read(size * count)
            return list(struct.unpack(f"<{count}{code[1]}", data))
        return [_value(f, item_kind) for _ in range(count)]
    if kind in _SCALARS:
        return _read(f, _SCALARS[kind])
    raise ValueError(f"unknown GGUF value type {kind}")


def read_header(path: str | Path) -> GGUFHeader:
    """Read the metadata and tensor table of a GGUF file (not the tensor data)."""
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        version = _read(f, "<I")
        n_tensors = _read(f, "<Q")
        n_kv = _read(f, "<Q")
        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = _string(f)
            metadata[key] = _value(f, _read(f, "<I"))
        tensors = []
        for _ in range(n_tensors):
            name = _string(f)
            dims = tuple(_read(f, "<Q") for _ in range(_read(f, "<I")))
            kind = _read(f, "<I")
            _read(f, "<Q")  # offset into the data section
            tensors.append(TensorInfo(name, dims, GGML_TYPES.get(kind, str(kind))))
    return GGUFHeader(version, metadata, tuple(tensors))

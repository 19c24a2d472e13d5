"""The Modelfile parser and the typed results, on their own."""

from __future__ import annotations

import pickle
from datetime import datetime, timedelta, timezone

import pytest

import ollama_nb
from ollama_nb.client._modelfile import parse_modelfile
from ollama_nb.client._types import (
    ChatResponse,
    GenerateResponse,
    ListResponse,
    ShowResponse,
    parse_timestamp,
)


def test_modelfile_full_syntax(tmp_path) -> None:
    text = (
        "  # leading comment\n"
        "from llama3.2:3b\n"
        "\n"
        "Parameter top_k 20\n"
        "PARAMETER top_p 0.9\n"
        "PARAMETER use_mmap false\n"
        "PARAMETER stop <END>\n"
        "SYSTEM \"\"\"line one\n"
        "  # not a comment inside quotes\n"
        "line three\"\"\"\n"
        'TEMPLATE "{{ .Prompt }} \\"quoted\\""\n'
        'MESSAGE system """Be brief."""\n'
        "LICENSE \"\"\"\nMIT\n\"\"\"\n"
        "LICENSE Apache-2.0\n"
    )
    assert parse_modelfile(text, base_dir=tmp_path) == {
        "from": "llama3.2:3b",
        "parameters": {"top_k": 20, "top_p": 0.9, "use_mmap": False, "stop": ["<END>"]},
        "system": "line one\n  # not a comment inside quotes\nline three",
        "template": '{{ .Prompt }} "quoted"',
        "messages": [{"role": "system", "content": "Be brief."}],
        "license": ["\nMIT\n", "Apache-2.0"],
    }


def test_modelfile_local_from_paths(tmp_path) -> None:
    (tmp_path / "w.gguf").write_bytes(b"GGUF")
    spec = parse_modelfile("FROM ./w.gguf\n", base_dir=tmp_path)
    assert spec == {"files": {"w.gguf": str(tmp_path / "w.gguf")}}
    spec = parse_modelfile(f"FROM {tmp_path / 'w.gguf'}\n", base_dir=tmp_path)
    assert spec == {"files": {"w.gguf": str(tmp_path / "w.gguf")}}
    assert parse_modelfile("FROM user/model:tag\n") == {"from": "user/model:tag"}


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("FROM m\nFOO bar\n", 2, "unknown command 'FOO'"),
        ("FROM m\nPARAMETER num_ctx lots\n", 2, "must be an integer"),
        ("FROM m\nPARAMETER temperature\n", 2, "needs a name and a value"),
        ("FROM m\n\nSYSTEM \"\"\"never closed\nstill open\n", 3, 'unterminated """'),
        ('FROM m\nSYSTEM "half\n', 2, 'unterminated " quote'),
        ("FROM m\nMESSAGE robot hi\n", 2, "MESSAGE role"),
        ("FROM a\nFROM b\n", 2, "more than one FROM"),
        ("FROM m\nSYSTEM\n", 2, "needs a value"),
        ("FROM m\nPARAMETER use_mmap maybe\n", 2, "true or false"),
    ],
)
def test_modelfile_errors_name_the_line(text, line, fragment) -> None:
    with pytest.raises(ollama_nb.InvalidArgumentError) as info:
        parse_modelfile(text)
    assert f"line {line}:" in str(info.value) and fragment in str(info.value)


def test_modelfile_needs_from() -> None:
    with pytest.raises(ollama_nb.InvalidArgumentError, match="no FROM"):
        parse_modelfile("SYSTEM hi\n")


def test_timestamps() -> None:
    local = parse_timestamp("2025-06-28T01:12:36.619720716-04:00")
    assert local == datetime(2025, 6, 28, 1, 12, 36, 619720, tzinfo=timezone(timedelta(hours=-4)))
    assert parse_timestamp("2025-08-20T13:48:22.16461Z") == datetime(2025, 8, 20, 13, 48, 22, 164610, tzinfo=timezone.utc)
    assert parse_timestamp("2025-08-20T13:48:22Z").tzinfo is timezone.utc
    assert parse_timestamp("yesterday") is None and parse_timestamp(None) is None


def test_results_keep_unknown_fields_and_raw() -> None:
    raw = {"model": "m", "response": "hi", "done": True, "brand_new_field": {"x": 1}}
    result = GenerateResponse(raw)
    assert result.raw == raw and result.brand_new_field == {"x": 1} and result["response"] == "hi"
    assert result.thinking is None and result.eval_count is None and result.tokens_per_second is None
    assert "brand_new_field" in dir(result)
    with pytest.raises(AttributeError):
        result.not_a_field
    with pytest.raises(AttributeError):
        result.response = "changed"
    assert pickle.loads(pickle.dumps(result)) == result
    assert repr(result).startswith("GenerateResponse(model='m', response='hi'")


def test_zero_durations_do_not_divide_by_zero() -> None:
    result = ChatResponse({"message": {"role": "assistant", "content": ""}, "done": True,
                           "eval_count": 0, "eval_duration": 0, "total_duration": 0})
    assert result.tokens_per_second is None and result.total_seconds == 0.0
    assert result.message.tool_calls == [] and result.text == ""


def test_list_and_show_helpers() -> None:
    listing = ListResponse({"models": [{"name": "a:latest", "details": {"family": "llama"}}]})
    assert listing.names == ["a:latest"] and listing.models[0].details.family == "llama"
    assert listing.models[0].modified_at is None  # absent: None, not an error
    show = ShowResponse({"parameters": 'num_ctx                        4096\nstop                           "<|eot_id|>"\n'
                                       'stop                           "<|start_header_id|>"\ntemperature                    0.7',
                         "model_info": {"general.architecture": "llama", "llama.context_length": 131072}})
    assert show.parameter_map == {"num_ctx": 4096, "stop": ["<|eot_id|>", "<|start_header_id|>"], "temperature": 0.7}
    assert show.context_length == 131072

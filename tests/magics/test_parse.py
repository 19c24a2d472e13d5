"""Parsing of the %%ollama line and subcommands: every option, typed -O, one-line UsageErrors."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from ollama_nb.magics._interpolate import interpolate
from ollama_nb.magics._parse import SUBCOMMANDS, parse_cell_line, parse_option, subcommand_parser


def test_every_cell_option() -> None:
    args = parse_cell_line(
        "llama3.2 -s 'be brief' --temperature 0.5 --seed 1 --num-predict 20 --num-ctx 4096 "
        "--stop '###' --stop END -O top_k=20 -O mirostat=true --json --think --images pic "
        "--raw --keep-alive 5m --host http://h:1 --timeout 30 --no-stream --format code "
        "--pane --chat work -o out --no-interpolate")
    assert args.model == "llama3.2" and args.system == "be brief"
    assert (args.temperature, args.seed, args.num_predict, args.num_ctx) == (0.5, 1, 20, 4096)
    assert args.stop == ["###", "END"] and args.options == ["top_k=20", "mirostat=true"]
    assert args.json and args.think is True and args.images == ["pic"] and args.raw
    assert args.keep_alive == "5m" and args.host == "http://h:1" and args.timeout == 30
    assert args.stream is False and args.fmt == "code" and args.pane and args.chat == "work"
    assert args.output == "out" and args.interpolate is False


def test_defaults_and_model_forms() -> None:
    args = parse_cell_line("")
    assert args.model is None and args.stream and args.interpolate and args.think is None
    assert args.chat is None and args.fmt is None and args.keep_alive is None
    assert parse_cell_line("-m qwen3").model == "qwen3"
    assert parse_cell_line("--chat").chat == "default"
    assert parse_cell_line("m --no-think").think is False
    assert parse_cell_line("m --think=high").think == "high"
    assert parse_cell_line("m --keep-alive 300").keep_alive == 300
    assert parse_cell_line("m --keep-alive -1").keep_alive == -1
    assert parse_cell_line("m --schema Person").schema == "Person"


@pytest.mark.parametrize("line,message", [
    ("--bogus", "unrecognized arguments: --bogus"),
    ("m --temperature hot", "--temperature"),
    ("m --format pdf", "invalid choice"),
    ("a -m b", "two models"),
    ("m -o 1x", "-o needs a Python variable name"),
    ("m --json --schema S", "either --json or --schema"),
    ("m --think --no-think", "not allowed with"),
    ("m --think=huge", "invalid choice"),
    ("m -s 'unclosed", "check the quotes"),
    ("m --timeout 0", "--timeout must be a positive"),
])
def test_bad_lines_are_one_line_usage_errors(line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        parse_cell_line(line)
    assert "\n" not in str(info.value)
    if "unrecognized" in message or "invalid choice" in message:
        assert "Usage: %%ollama" in str(info.value)


@pytest.mark.parametrize("item,expected", [
    ("top_k=20", ("top_k", 20)), ("top_p=0.9", ("top_p", 0.9)), ("numa=true", ("numa", True)),
    ("use_mmap=False", ("use_mmap", False)), ("stop=[\"a\", \"b\"]", ("stop", ["a", "b"])),
    ("x={\"a\": 1}", ("x", {"a": 1})), ("name=hello world", ("name", "hello world")),
    ("v=null", ("v", None)), ("k=", ("k", "")),
])
def test_typed_options(item: str, expected: tuple[str, object]) -> None:
    assert parse_option(item) == expected


@pytest.mark.parametrize("item", ["novalue", "=3"])
def test_bad_option(item: str) -> None:
    with pytest.raises(UsageError, match="-O expects key=value"):
        parse_option(item)


def test_subcommand_parsers() -> None:
    assert set(SUBCOMMANDS) == {"models", "ps", "show", "pull", "push", "create", "cp", "rm", "embed",
                                "model", "host", "hosts", "status", "chat", "log", "record", "picker",
                                "chatbox", "stop", "explain", "fix", "alias", "help"}
    assert subcommand_parser("stop").parse_args(["all"]).which == "all"
    assert subcommand_parser("stop").parse_args([]).which is None
    assert subcommand_parser("cp").parse_args(["a", "b"]).destination == "b"
    args = subcommand_parser("embed").parse_args(["all-minilm", "--from", "texts", "-o", "emb"])
    assert (args.model, args.source, args.output) == ("all-minilm", "texts", "emb")
    assert subcommand_parser("chat").parse_args(["c", "--save", "x.json"]).save == "x.json"
    with pytest.raises(UsageError, match=r"the following arguments are required: model\. Usage: %ollama pull"):
        subcommand_parser("pull").parse_args([])
    with pytest.raises(UsageError, match="not allowed with"):
        subcommand_parser("chat").parse_args(["c", "--reset", "--history"])


def test_interpolation() -> None:
    ns = {"name": "Ada", "rows": [1, 2, 3]}
    text = 'Hi {{name}}, {{ len(rows) }} rows; keep {x} and {"a": 1} and {{ }}.'
    assert interpolate(text, ns) == 'Hi Ada, 3 rows; keep {x} and {"a": 1} and {{ }}.'
    assert interpolate("{{n}}", ns, {"n": 7}) == "7"  # local scope first
    with pytest.raises(UsageError, match=r"cannot interpolate \{\{missing \+ 1\}\} \(NameError"):
        interpolate("a {{missing + 1}} b", ns)
    with pytest.raises(UsageError, match="ZeroDivisionError"):
        interpolate("{{1/0}}", ns)

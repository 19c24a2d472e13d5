"""Bad user input: a one-line error before anything is sent, naming what was wrong and what to do.

Each case runs in the layers where the user can make that mistake; the sandbox's
request log proves nothing reached the server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cases import Env
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from magic_helpers import run

import ollama_nb as onb
from ollama_nb import Client
from ollama_nb.client._errors import InvalidArgumentError

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
       b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")


def _usage(ip: InteractiveShell, cell: str, *needles: str) -> str:
    with capture_output(), pytest.raises(UsageError) as info:
        run(ip, cell)
    message = str(info.value)
    assert message and "\n" not in message.strip(), message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    return message


def _nothing_sent(env: Env, path: str = "/api/") -> None:
    assert not [r for r in env.sandbox.requests if r.path.startswith(path) and r.method == "POST"]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    text = tmp_path / "notes.txt"
    text.write_text("not an image at all\n")
    png = tmp_path / "dot.png"
    png.write_bytes(PNG)
    return {"text": text, "png": png, "missing": tmp_path / "missing.png"}


def test_unknown_option(ip: InteractiveShell, env: Env) -> None:
    _usage(ip, "%%ollama llama3.2 --bogus 3\nhi", "--bogus", "Usage")
    _usage(ip, "%ollama models --bogus", "--bogus", "Usage")
    _usage(ip, "%ollama frobnicate", "unknown subcommand 'frobnicate'", "models")
    _nothing_sent(env)


def test_missing_model(ip: InteractiveShell, env: Env) -> None:
    ip.run_line_magic("config", "OllamaMagics.model = ''")
    _usage(ip, "%%ollama\nhi", "no model", "%ollama model NAME")
    _usage(ip, "%ollama show", "model", "Usage")
    _usage(ip, "%ollama pull", "model", "Usage")
    with pytest.raises(InvalidArgumentError, match="model"):
        Client(env.sandbox.url).generate("", "hi")
    with pytest.raises(InvalidArgumentError, match="model"):
        onb.map_prompts(["a"], "{{text}}", model="", cache=False)
    _nothing_sent(env)


def test_empty_cell(ip: InteractiveShell, env: Env) -> None:
    _usage(ip, "%%ollama llama3.2\n   \n", "the cell is empty")
    _usage(ip, "%%ollama embed\n\n", "the cell is empty")
    _usage(ip, "%%ollama create mine\n\n", "the cell is empty", "FROM")
    _nothing_sent(env)


def test_interpolated_expression_that_raises(ip: InteractiveShell, env: Env) -> None:
    message = _usage(ip, "%%ollama llama3.2\nSummarise {{1/0}} please", "1/0", "ZeroDivisionError")
    assert "--no-interpolate" in message or "{{" in message
    _usage(ip, "%%ollama llama3.2\nHi {{undefined_name}}", "undefined_name")
    _usage(ip, "%%ollama embed\n{{undefined_name}}", "undefined_name")
    _nothing_sent(env)


def test_schema_that_is_not_a_dict(ip: InteractiveShell, env: Env) -> None:
    ip.user_ns["bad_schema"] = ["name", "age"]
    _usage(ip, "%%ollama llama3.2 --schema bad_schema\nhi", "--schema bad_schema", "dict", "list")
    _usage(ip, "%%ollama llama3.2 --schema nowhere\nhi", "--schema nowhere", "no variable")
    with pytest.raises(InvalidArgumentError, match="schema"):
        onb.map_prompts(["a"], "{{text}}", model="llama3.2", schema=["x"], cache=False)
    with pytest.raises(InvalidArgumentError, match="format"):
        Client(env.sandbox.url).generate("llama3.2", "hi", format=["x"])
    _nothing_sent(env)


def test_image_path_that_does_not_exist(ip: InteractiveShell, env: Env, files: dict[str, Path]) -> None:
    _usage(ip, f"%%ollama llama3.2 --images {files['missing']}\nWhat is this?", str(files["missing"]))
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        Client(env.sandbox.url).generate("llama3.2", "hi", images=[str(files["missing"])])
    _nothing_sent(env)


def test_image_that_is_not_an_image(ip: InteractiveShell, env: Env, files: dict[str, Path]) -> None:
    _usage(ip, f"%%ollama llama3.2 --images {files['text']}\nWhat is this?", "notes.txt", "image")
    ip.user_ns["picture"] = files["text"]
    _usage(ip, "%%ollama llama3.2 --images picture\nWhat is this?", "notes.txt", "image")
    with pytest.raises(InvalidArgumentError, match="image"):
        Client(env.sandbox.url).generate("llama3.2", "hi", images=[files["text"]])
    _nothing_sent(env)
    # a real picture goes through
    with capture_output():
        run(ip, f"%%ollama llama3.2 --images {files['png']}\nWhat is this?")


def test_modelfile_with_a_syntax_error(ip: InteractiveShell, env: Env) -> None:
    _usage(ip, "%%ollama create mine\nFROM llama3.2\nPARAMETER temperature\n", "line 2", "PARAMETER")
    _usage(ip, "%%ollama create mine\nFROM llama3.2\nFROBNICATE yes\n", "line 2", "FROBNICATE")
    _usage(ip, "%%ollama create mine\nSYSTEM hello\n", "FROM")
    with pytest.raises(InvalidArgumentError, match="line 2"):
        Client(env.sandbox.url).create("mine", modelfile="FROM llama3.2\nPARAMETER temperature\n")
    _nothing_sent(env)


def test_negative_num_predict(ip: InteractiveShell, env: Env) -> None:
    _usage(ip, "%%ollama llama3.2 --num-predict -5x\nhi", "--num-predict")
    _usage(ip, "%%ollama llama3.2 --num-predict=five\nhi", "--num-predict", "five")
    _usage(ip, "%%ollama llama3.2 -O 'num_predict=\"-5\"'\nhi", "num_predict", "integer")
    with pytest.raises(InvalidArgumentError, match="num_predict must be an integer"):
        Client(env.sandbox.url).generate("llama3.2", "hi", options={"num_predict": "-5"})
    _nothing_sent(env)
    # -1 (no limit) is a real setting and is sent as a number
    with capture_output():
        run(ip, "%%ollama llama3.2 --num-predict -1 --seed 1\nhi")
    assert env.sandbox.requests[-1].body["options"]["num_predict"] == -1


def test_non_string_texts_in_embed(ip: InteractiveShell, env: Env) -> None:
    import math

    with pytest.raises(InvalidArgumentError, match=r"position 1 .*not a string.*fillna"):
        onb.embed(["fine", 3, "also fine"])
    with pytest.raises(InvalidArgumentError, match="missing value"):
        onb.embed(["fine", math.nan])
    ip.user_ns["texts"] = ["fine", None]
    _usage(ip, "%ollama embed --from texts", "position 1", "missing value")
    ip.user_ns["number"] = 42
    _usage(ip, "%ollama embed --from number", "--from number", "int")
    with pytest.raises(InvalidArgumentError):
        Client(env.sandbox.url).embed("all-minilm", ["a", 3])  # type: ignore[list-item]
    _nothing_sent(env)


def test_bad_timeout_and_host_options(ip: InteractiveShell, env: Env) -> None:
    _usage(ip, "%%ollama llama3.2 --timeout -1\nhi", "--timeout")
    _usage(ip, "%%ollama llama3.2 --host ftp://127.0.0.1:1\nhi", "unsupported scheme", "expected")
    _usage(ip, "%ollama models --host ftp://127.0.0.1:1", "unsupported scheme")
    _usage(ip, "%ollama host ftp://127.0.0.1:1", "unsupported scheme")
    _nothing_sent(env)


def test_bad_arguments_to_the_python_functions(env: Env) -> None:
    with pytest.raises(InvalidArgumentError, match="batch_size"):
        onb.embed(["a"], batch_size=0)
    with pytest.raises(InvalidArgumentError, match="concurrency"):
        onb.map_prompts(["a"], "{{text}}", concurrency=0, cache=False)
    with pytest.raises(InvalidArgumentError, match=r"\{\{nope\}\}"):
        onb.map_prompts(["a"], "{{nope}}", cache=False)
    with pytest.raises(InvalidArgumentError, match="timeout"):
        Client(env.sandbox.url, timeout=-3)
    _nothing_sent(env)


def _unused(_: Any) -> None:  # keep imports honest for type checkers
    pass

"""map_prompts(): rendering, alignment, schema columns, failures, cache, interrupt and resume."""

from __future__ import annotations

import _thread
import threading
import time

import numpy as np
import pandas as pd
import pytest

import ollama_nb as onb
from ollama_nb.client._errors import ConnectError, InvalidArgumentError, ModelNotFoundError
from ollama_nb.frames._batch import ERROR_PREFIX, MapPromptsWarning, render
from ollama_nb.frames._cache import AnswerCache, default_cache_dir

MODEL = "llama3.2"
SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["positive", "negative"]},
        "stars": {"type": "integer"},
        "confidence": {"type": "number"},
        "sarcastic": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["label", "stars", "confidence", "sarcastic", "tags"],
}


@pytest.fixture
def client(ollama_sandbox):
    with onb.Client(ollama_sandbox.url) as c:
        yield c


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


def generated(sandbox) -> list[str]:
    """Prompts the sandbox answered at /api/generate, in order."""
    return [r.body["prompt"] for r in sandbox.requests if r.path == "/api/generate"]


def wait_for_workers(timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while any(t.name.startswith("ollama_nb.map_prompts") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "map_prompts workers still running"
        time.sleep(0.02)


def direct(client, prompts: list[str], **kw) -> list[str]:
    """What the plain client answers for each prompt (the sandbox is deterministic)."""
    return [client.generate(MODEL, p, stream=False, **kw).response for p in prompts]


# -- rendering -----------------------------------------------------------------------------
def test_render_fields_index_and_braces() -> None:
    df = pd.DataFrame({"name": ["Ann", None], "age": [31, np.nan], "city name": ["Oslo", "Rome"]},
                      index=["a", "b"])
    _, prompts = render('{{ name }} ({{age}}) from {{city name}} row {{index}} {"json": 1}', df)
    assert prompts == ['Ann (31.0) from Oslo row a {"json": 1}', ' () from Rome row b {"json": 1}']
    index, prompts = render("Say {{text}} / {{value}} / {{word}}",
                            pd.Series(["hi", "yo"], index=[4, 2], name="word"))
    assert list(index) == [4, 2] and prompts == ["Say hi / hi / hi", "Say yo / yo / yo"]
    _, prompts = render("{{text}}!", ["x", "y"])
    assert prompts == ["x!", "y!"]
    with pytest.raises(InvalidArgumentError, match=r"\{\{nme\}\}.*available: \{\{name\}\}"):
        render("{{nme}}", df)


def test_unknown_column_fails_before_any_request(ollama_sandbox, client, cache_dir) -> None:
    with pytest.raises(InvalidArgumentError, match="colour"):
        onb.map_prompts(pd.DataFrame({"color": ["red"]}), "Is {{colour}} warm?", model=MODEL,
                        client=client, cache_dir=cache_dir)
    assert generated(ollama_sandbox) == []


# -- plain answers -------------------------------------------------------------------------
def test_dataframe_answers_align_with_index(ollama_sandbox, client, cache_dir) -> None:
    df = pd.DataFrame({"text": ["great battery", "awful screen", "fine sound"]},
                      index=pd.Index([30, 10, 20], name="id"))
    out = onb.map_prompts(df, "Classify: {{text}}", model=MODEL, concurrency=3, client=client,
                          cache_dir=cache_dir, progress=False)
    assert isinstance(out, pd.Series) and out.name == "answer"
    assert out.index.equals(df.index) and pd.api.types.is_string_dtype(out)
    prompts = [f"Classify: {t}" for t in df["text"]]
    assert out.tolist() == direct(client, prompts)
    assert sorted(generated(ollama_sandbox)[:3]) == sorted(prompts)
    assert out.attrs["rows"] == 3 and out.attrs["asked"] == 3 and out.attrs["failed"] == 0
    df["label"] = out  # the documented use: a new column
    assert df.loc[10, "label"] == out.loc[10]


def test_series_list_empty_and_duplicates(ollama_sandbox, client, cache_dir) -> None:
    s = pd.Series(["cats", "dogs", "cats", "cats"], index=list("wxyz"))
    out = onb.map_prompts(s, "About {{text}}", model=MODEL, client=client, cache_dir=cache_dir,
                          progress=False)
    assert list(out.index) == list("wxyz")
    assert out["w"] == out["y"] == out["z"] != out["x"]
    assert sorted(generated(ollama_sandbox)) == ["About cats", "About dogs"]  # each once
    listed = onb.map_prompts(["dogs"], "About {{text}}", model=MODEL, client=client,
                             cache_dir=cache_dir, progress=False)
    assert listed.tolist() == [out["x"]] and len(generated(ollama_sandbox)) == 2  # from cache
    empty = onb.map_prompts(pd.DataFrame({"text": []}), "{{text}}", model=MODEL, client=client,
                            cache_dir=cache_dir)
    assert len(empty) == 0 and empty.name == "answer"
    empty_schema = onb.map_prompts([], "{{text}}", model=MODEL, schema=SCHEMA, client=client,
                                   cache_dir=cache_dir)
    assert list(empty_schema.columns) == ["label", "stars", "confidence", "sarcastic", "tags", "error"]


def test_request_fields_reach_the_server(ollama_sandbox, client, cache_dir) -> None:
    onb.map_prompts(["a"], "{{text}}", model=MODEL, system="Be terse.", think=False,
                    options={"temperature": 0, "seed": 1}, keep_alive="2m", client=client,
                    cache_dir=cache_dir)
    (req,) = [r.body for r in ollama_sandbox.requests if r.path == "/api/generate"]
    assert req["system"] == "Be terse." and req["think"] is False and req["stream"] is False
    assert req["options"] == {"temperature": 0, "seed": 1} and req["keep_alive"] == "2m"


# -- schema ------------------------------------------------------------------------------
def test_schema_gives_typed_columns(ollama_sandbox, client, cache_dir) -> None:
    df = pd.DataFrame({"review": ["loved it", "broke in a day", "meh"]}, index=["p", "q", "r"])
    out = onb.map_prompts(df, "Review: {{review}}", model=MODEL, schema=SCHEMA, client=client,
                          cache_dir=cache_dir, progress=False)
    assert list(out.columns) == ["label", "stars", "confidence", "sarcastic", "tags", "error"]
    assert out.index.equals(df.index)
    assert str(out["stars"].dtype) == "Int64" and str(out["confidence"].dtype) == "Float64"
    assert str(out["sarcastic"].dtype) == "boolean" and pd.api.types.is_string_dtype(out["label"])
    assert out["tags"].dtype == object and all(isinstance(t, list) for t in out["tags"])
    assert out["error"].isna().all()
    assert set(out["label"]) <= {"positive", "negative"}
    # the same values the server sent
    import json
    raw = [json.loads(a) for a in direct(client, [f"Review: {t}" for t in df["review"]],
                                          format=SCHEMA)]
    assert out["stars"].tolist() == [r["stars"] for r in raw]
    assert out["label"].tolist() == [r["label"] for r in raw]
    assert all(r.body["format"] == SCHEMA for r in ollama_sandbox.requests
               if r.path == "/api/generate")


def test_schema_failed_row_keeps_its_error(ollama_sandbox, client, cache_dir) -> None:
    ollama_sandbox.inject("error", model=MODEL, times=1, status=500, message="out of memory")
    with pytest.warns(MapPromptsWarning, match="1 of 3 rows failed.*out of memory"):
        out = onb.map_prompts(["a", "b", "c"], "Rate {{text}}", model=MODEL, schema=SCHEMA,
                              concurrency=1, client=client, cache_dir=cache_dir)
    assert out["error"].notna().tolist() == [True, False, False]  # concurrency 1: "a" went first
    assert "out of memory" in out.loc[0, "error"]
    assert out.loc[0, ["label", "stars", "confidence", "sarcastic"]].isna().all()
    assert out.loc[1:, "stars"].notna().all()
    assert out.attrs["failed"] == 1


# -- failures ------------------------------------------------------------------------------
def test_failing_row_keeps_error_and_run_goes_on(ollama_sandbox, client, cache_dir) -> None:
    ollama_sandbox.inject("error", model=MODEL, times=2, status=500, message="runner crashed")
    texts = [f"item {i}" for i in range(6)]
    with pytest.warns(MapPromptsWarning, match="2 of 6 rows failed") as caught:
        out = onb.map_prompts(texts, "Describe {{text}}", model=MODEL, concurrency=1,
                              client=client, cache_dir=cache_dir)
    assert len(caught) == 1
    assert out.iloc[:2].str.startswith(ERROR_PREFIX).all()
    assert "runner crashed" in out.iloc[0]
    assert out.iloc[2:].tolist() == direct(client, [f"Describe {t}" for t in texts[2:]])
    assert out.attrs["failed"] == 2
    # failed rows are not cached: a rerun asks only for them
    ollama_sandbox.clear_requests()
    again = onb.map_prompts(texts, "Describe {{text}}", model=MODEL, concurrency=1, client=client,
                            cache_dir=cache_dir)
    assert sorted(generated(ollama_sandbox)) == ["Describe item 0", "Describe item 1"]
    assert not again.str.startswith(ERROR_PREFIX).any() and again.attrs["failed"] == 0


def test_unknown_model_and_unreachable_server_stop_the_run(ollama_sandbox, client, cache_dir) -> None:
    with pytest.raises(ModelNotFoundError, match="no-such-model"):
        onb.map_prompts(["a", "b", "c"], "{{text}}", model="no-such-model", client=client,
                        cache_dir=cache_dir)
    wait_for_workers()
    with onb.Client("http://127.0.0.1:9", timeout=(0.5, 1)) as dead, pytest.raises(ConnectError):
        onb.map_prompts(["a"], "{{text}}", model=MODEL, client=dead, cache=False)
    with pytest.raises(InvalidArgumentError, match="concurrency"):
        onb.map_prompts(["a"], "{{text}}", model=MODEL, concurrency=0, client=client)


# -- cache ---------------------------------------------------------------------------------
def test_cache_is_keyed_by_request_and_can_be_off(ollama_sandbox, client, cache_dir) -> None:
    run = {"model": MODEL, "client": client, "cache_dir": cache_dir, "progress": False}
    onb.map_prompts(["x", "y"], "Q {{text}}", **run)
    assert len(generated(ollama_sandbox)) == 2
    onb.map_prompts(["x", "y"], "Q {{text}}", **run)
    assert len(generated(ollama_sandbox)) == 2  # all from the cache
    onb.map_prompts(["x"], "Q {{text}}", options={"temperature": 0}, **run)
    onb.map_prompts(["x"], "Q {{text}}", system="other", **run)
    onb.map_prompts(["x"], "Q {{text}}", schema=SCHEMA, **run)
    onb.map_prompts(["x"], "Q {{text}}", model="qwen3", client=client, cache_dir=cache_dir,
                    think=False)
    assert len(generated(ollama_sandbox)) == 6  # each differs in what decides the answer
    onb.map_prompts(["x", "y"], "Q {{text}}", model=MODEL, client=client, cache=False)
    assert len(generated(ollama_sandbox)) == 8
    with AnswerCache(cache_dir) as store:
        assert len(store) == 6


def test_cache_location(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("OLLAMA_NB_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "ollama_nb"
    monkeypatch.setenv("OLLAMA_NB_CACHE_DIR", str(tmp_path / "env"))
    assert default_cache_dir() == tmp_path / "env"
    assert default_cache_dir(tmp_path / "arg") == tmp_path / "arg"


def test_default_cache_dir_from_environment(ollama_sandbox, client, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OLLAMA_NB_CACHE_DIR", str(tmp_path / "envcache"))
    onb.map_prompts(["x"], "{{text}}", model=MODEL, client=client)
    assert (tmp_path / "envcache" / "map_prompts.sqlite3").exists()


# -- interrupt and resume ------------------------------------------------------------------
def _interrupted_then_resumed(sandbox, client, cache_dir, interrupt) -> None:
    texts = [f"question {i}" for i in range(12)]
    call = {"model": MODEL, "concurrency": 2, "client": client, "cache_dir": cache_dir}
    with pytest.raises(KeyboardInterrupt) as info:
        interrupt(lambda progress: onb.map_prompts(texts, "Answer {{text}}", progress=progress, **call))
    wait_for_workers()  # requests in flight at the interrupt finish into the cache
    partial = getattr(info.value, "partial")  # noqa: B009 - set by map_prompts
    first = [r for r in sandbox.requests if r.path == "/api/generate"]
    finished = {r.body["prompt"] for r in first if r.status == 200 and not r.disconnected}
    assert 0 < len(finished) < 12
    assert partial.notna().sum() >= 1 and partial.isna().sum() >= 1
    sandbox.clear_requests()
    out = onb.map_prompts(texts, "Answer {{text}}", progress=False, **call)
    second = generated(sandbox)
    assert not finished & set(second), "a finished row was asked again"
    assert len(second) == len(set(second)) == 12 - len(finished)
    assert out.attrs["cached"] == len(finished)
    assert out.tolist() == direct(client, [f"Answer {t}" for t in texts])


def test_interrupt_keeps_finished_rows_and_rerun_resumes(ollama_sandbox, client, cache_dir) -> None:
    def stop_after_four(run):
        def progress(done: int, total: int) -> None:
            if done == 4:
                raise KeyboardInterrupt

        run(progress)

    _interrupted_then_resumed(ollama_sandbox, client, cache_dir, stop_after_four)


def test_real_sigint_while_waiting(ollama_sandbox, client, cache_dir) -> None:
    ollama_sandbox.inject("slow_load", model=MODEL, seconds=0.25)  # every request

    def interrupt_main_soon(run):
        timer = threading.Timer(0.5, _thread.interrupt_main)
        timer.start()
        try:
            run(False)
        finally:
            timer.cancel()

    _interrupted_then_resumed(ollama_sandbox, client, cache_dir, interrupt_main_soon)


def test_progress_bar_and_callback(client, cache_dir, capsys) -> None:
    seen = []
    onb.map_prompts(["a", "b", "c"], "{{text}}", model=MODEL, client=client, cache_dir=cache_dir,
                    progress=lambda done, total: seen.append((done, total)))
    assert sorted(seen) == [(1, 3), (2, 3), (3, 3)]
    onb.map_prompts(["a", "b", "c", "d"], "{{text}}", model=MODEL, client=client,
                    cache_dir=cache_dir, progress=True)
    err = capsys.readouterr().err
    assert f"map_prompts {MODEL}" in err and "4/4" in err


def test_unusable_cache_dir_warns_and_runs(ollama_sandbox, client, tmp_path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(MapPromptsWarning, match="no answer cache"):
        out = onb.map_prompts(["a"], "{{text}}", model=MODEL, client=client, cache_dir=blocker)
    assert out.notna().all() and len(generated(ollama_sandbox)) == 1


def test_no_model_is_an_error_before_any_request(ollama_sandbox, client, monkeypatch) -> None:
    from ollama_nb.client._session import session

    monkeypatch.setattr(session, "model", "")
    monkeypatch.setattr(session, "embed_model", "")
    with pytest.raises(InvalidArgumentError, match="needs a model"):
        onb.map_prompts(["a"], "{{text}}", client=client, cache=False)
    with pytest.raises(InvalidArgumentError, match="needs a model"):
        onb.embed(["a"], client=client)
    assert ollama_sandbox.requests == []


# -- schema forms and dtypes -----------------------------------------------------------------
def test_schema_dtypes_for_every_json_type(ollama_sandbox, client, cache_dir) -> None:
    import pydantic

    from ollama_nb.frames._batch import column_dtypes

    class Review(pydantic.BaseModel):
        label: str = pydantic.Field(json_schema_extra={"enum": ["good", "bad"]})
        stars: int
        score: float
        sarcastic: bool
        summary: str
        tags: list[str]
        meta: dict[str, int]
        maybe: int | None = None

    types = column_dtypes(onb.client._schema.Schema(Review).json)
    assert types["label"] == pd.CategoricalDtype(["good", "bad"])
    assert [types[k] for k in ("stars", "score", "sarcastic", "summary", "tags", "meta", "maybe")] == [
        "Int64", "Float64", "boolean", "string", "object", "object", "Int64"]
    out = onb.map_prompts(["nice", "awful"], "Review: {{text}}", model=MODEL, schema=Review,
                          client=client, cache_dir=cache_dir, progress=False)
    assert str(out["stars"].dtype) == "Int64" and str(out["score"].dtype) == "Float64"
    assert isinstance(out["label"].dtype, pd.CategoricalDtype)
    assert list(out["label"].cat.categories) == ["good", "bad"]
    assert str(out["summary"].dtype).startswith("string") and out["tags"].dtype == object
    assert out["error"].isna().all()


def test_a_row_that_does_not_validate_keeps_its_text_and_says_why(ollama_sandbox, client,
                                                                  cache_dir) -> None:
    import dataclasses

    @dataclasses.dataclass
    class Rating:
        stars: int
        label: str

    import pydantic

    class Strict(pydantic.BaseModel):  # a rule the JSON schema cannot carry to the model
        stars: int
        label: str

        @pydantic.field_validator("stars")
        @classmethod
        def many(cls, value: int) -> int:
            if value < 10**12:
                raise ValueError("not enough stars")
            return value

    strict = Strict
    with pytest.warns(MapPromptsWarning, match="2 of 2 rows failed"):
        out = onb.map_prompts(["a", "b"], "Rate {{text}}", model=MODEL, schema=strict,
                              client=client, cache_dir=cache_dir, progress=False)
    answer = direct(client, ["Rate a"], format=Strict.model_json_schema())[0]
    assert out.loc[0, "error"].startswith("field 'stars': Value error, not enough stars")
    assert out.loc[0, "error"].endswith(f"; the answer: {answer}")  # the raw text is kept
    assert out["label"].notna().all()  # the values that fit still fill their columns
    ok = onb.map_prompts(["a"], "Rate {{text}}", model=MODEL, schema=Rating, client=client,
                         cache_dir=cache_dir, progress=False)
    assert list(ok.columns) == ["stars", "label", "error"] and ok["error"].isna().all()

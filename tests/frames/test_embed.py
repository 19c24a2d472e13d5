"""embed(): inputs, order, index, batching, duplicates, empties, memory layout, errors."""

from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest

import ollama_nb as onb
from ollama_nb.client._errors import InvalidArgumentError, ModelNotFoundError, ResponseError
from ollama_nb.client._session import session

MODEL = "nomic-embed-text"  # the sandbox's word-overlap model (768 dims)


def embed_requests(sandbox) -> list:
    return [r for r in sandbox.requests if r.path == "/api/embed"]


def sent_inputs(sandbox) -> list[str]:
    return [text for r in embed_requests(sandbox) for text in r.body["input"]]


@pytest.fixture
def client(ollama_sandbox):
    with onb.Client(ollama_sandbox.url) as c:
        yield c


def reference(client, texts: list[str]) -> np.ndarray:
    """The same texts through the plain client, one request."""
    return np.asarray(client.embed(MODEL, texts).embeddings, dtype=np.float32)


def test_list_gives_float32_frame_in_input_order(ollama_sandbox, client) -> None:
    texts = ["the cat sat", "a dog barked", "stocks fell sharply", "the cat slept"]
    emb = onb.embed(texts, model=MODEL, client=client)
    assert emb.shape == (4, 768)
    assert (emb.dtypes == np.float32).all()
    assert isinstance(emb.index, pd.RangeIndex) and list(emb.columns) == list(range(768))
    assert emb.attrs["model"] == MODEL and emb.attrs["dimensions"] == 768
    assert list(emb.attrs["texts"]) == texts
    np.testing.assert_allclose(emb.to_numpy(), reference(client, texts), rtol=0, atol=1e-7)
    np.testing.assert_allclose(np.linalg.norm(emb.to_numpy(), axis=1), 1.0, atol=1e-5)


def test_result_is_one_contiguous_block_without_copy(client) -> None:
    emb = onb.embed([f"text number {i}" for i in range(300)], model=MODEL, batch_size=64,
                    client=client)
    values = emb.to_numpy()
    assert values.flags["C_CONTIGUOUS"] and values.dtype == np.float32
    assert emb._mgr.nblocks == 1  # one float32 block, not one array per column
    # the frame holds exactly the matrix: nothing duplicated
    assert emb.memory_usage(index=False).sum() == values.nbytes == 300 * 768 * 4
    assert np.shares_memory(values, emb[0].to_numpy())


def test_series_keeps_its_index_and_order(ollama_sandbox, client) -> None:
    texts = pd.Series(["red apples", "green pears", "ripe bananas"], index=["x", "k", "a"],
                      name="fruit")
    emb = onb.embed(texts, model=MODEL, client=client)
    assert list(emb.index) == ["x", "k", "a"]
    np.testing.assert_allclose(emb.loc["k"].to_numpy(), reference(client, ["green pears"])[0],
                               atol=1e-7)
    shuffled = pd.Series(["one fish", "two fish", "red fish"], index=[30, 10, 20])
    emb = onb.embed(shuffled, model=MODEL, client=client)
    assert list(emb.index) == [30, 10, 20]
    np.testing.assert_allclose(emb.loc[20].to_numpy(), reference(client, ["red fish"])[0],
                               atol=1e-7)


def test_dataframe_column_and_one_column_frame(client) -> None:
    df = pd.DataFrame({"review": ["great battery", "poor screen"], "stars": [5, 1]},
                      index=pd.Index([101, 102], name="id"))
    by_column = onb.embed(df["review"], model=MODEL, client=client)
    by_frame = onb.embed(df[["review"]], model=MODEL, client=client)
    assert by_column.index.equals(df.index) and by_column.index.name == "id"
    np.testing.assert_array_equal(by_column.to_numpy(), by_frame.to_numpy())
    with pytest.raises(InvalidArgumentError, match="2 columns"):
        onb.embed(df, model=MODEL, client=client)


def test_empty_input_sends_nothing(ollama_sandbox, client) -> None:
    empties: list[object] = [[], pd.Series([], dtype=object), pd.Series([], dtype="string")]
    for empty in empties:
        emb = onb.embed(empty, model=MODEL, client=client)
        assert emb.shape == (0, 0) and emb.attrs["model"] == MODEL
    assert embed_requests(ollama_sandbox) == []


def test_duplicates_are_asked_once_and_repeated(ollama_sandbox, client) -> None:
    texts = ["alpha beta", "gamma", "alpha beta", "delta", "gamma", "alpha beta"]
    emb = onb.embed(texts, model=MODEL, batch_size=2, client=client)
    assert sorted(sent_inputs(ollama_sandbox)) == ["alpha beta", "delta", "gamma"]
    assert len(embed_requests(ollama_sandbox)) == 2  # 3 distinct texts in batches of 2
    values = emb.to_numpy()
    np.testing.assert_array_equal(values[0], values[2])
    np.testing.assert_array_equal(values[0], values[5])
    np.testing.assert_array_equal(values[1], values[4])
    assert not np.array_equal(values[0], values[1])
    np.testing.assert_allclose(values[3], reference(client, ["delta"])[0], atol=1e-7)


def test_empty_strings_give_nan_rows_and_are_not_sent(ollama_sandbox, client) -> None:
    emb = onb.embed(pd.Series(["", "hello world", ""], index=[5, 6, 7]), model=MODEL, client=client)
    assert sent_inputs(ollama_sandbox) == ["hello world"]
    assert emb.loc[[5, 7]].isna().all().all()
    assert emb.loc[6].notna().all()
    only_empty = onb.embed(["", ""], model=MODEL, client=client)
    assert only_empty.shape == (2, 0)


@pytest.mark.parametrize("bad, where", [
    (["ok", None], "position 1"),
    (["ok", 3.5, "x"], "position 1"),
    (pd.Series(["a", np.nan], index=["first", "second"]), "'second'"),
    (pd.Series(["a", pd.NA], dtype="string", index=[10, 11]), "index 11"),
])
def test_non_strings_are_rejected_before_any_request(ollama_sandbox, client, bad, where) -> None:
    with pytest.raises(InvalidArgumentError, match=where) as info:
        onb.embed(bad, model=MODEL, client=client)
    assert "\n" not in str(info.value) and "fillna" in str(info.value)
    assert embed_requests(ollama_sandbox) == []


def test_batches_and_options_reach_the_server(ollama_sandbox, client) -> None:
    texts = [f"sentence {i} about things" for i in range(10)]
    emb = onb.embed(texts, model=MODEL, batch_size=3, dimensions=64, truncate=False,
                    keep_alive="1m", client=client)
    requests = embed_requests(ollama_sandbox)
    assert [len(r.body["input"]) for r in requests] == [3, 3, 3, 1]
    assert sent_inputs(ollama_sandbox) == texts
    assert all(r.body["dimensions"] == 64 and r.body["truncate"] is False
               and r.body["keep_alive"] == "1m" for r in requests)
    assert emb.shape == (10, 64) and emb.attrs["dimensions"] == 64
    np.testing.assert_allclose(np.linalg.norm(emb.to_numpy(), axis=1), 1.0, atol=1e-5)


def test_one_connection_for_all_batches(replay_server, client_for) -> None:
    def answer(body: dict) -> dict:
        return {"model": body["model"],
                "embeddings": [[float(len(t)), 1.0, float(i)] for i, t in enumerate(body["input"])]}

    server = replay_server({"/api/embed": answer})
    texts = [f"t{i}" * (1 + i % 3) for i in range(95)]
    emb = onb.embed(texts, model="m", batch_size=10, client=client_for(server.url))
    embeds = [r for r in server.requests if r[1] == "/api/embed"]  # (and the provenance lookups)
    assert len(embeds) == 10 and server.connections == 1
    assert emb.shape == (95, 3)
    assert emb[0].tolist() == [float(len(t)) for t in texts]  # rows land in input order
    assert emb[2].tolist() == [float(i % 10) for i in range(95)]


def test_progress_bar_for_long_inputs(client, capsys) -> None:
    onb.embed(["short one", "short two"], model=MODEL, client=client)
    assert "embed" not in capsys.readouterr().err
    onb.embed([f"row {i}" for i in range(20)], model=MODEL, batch_size=2, progress=True,
              client=client)
    err = capsys.readouterr().err
    assert f"embed {MODEL}" in err and "20/20" in err


def test_session_default_model_and_host(ollama_sandbox, monkeypatch) -> None:
    monkeypatch.setattr(session, "embed_model", MODEL)
    emb = onb.embed(["uses the session"], host=ollama_sandbox.url)
    assert emb.attrs["model"] == MODEL
    assert embed_requests(ollama_sandbox)[0].body["model"] == MODEL


def test_unknown_model_and_server_error(ollama_sandbox, client) -> None:
    with pytest.raises(ModelNotFoundError, match="no-such-model"):
        onb.embed(["x"], model="no-such-model", client=client)
    ollama_sandbox.inject("error", model=MODEL, times=1, status=500, message="runner crashed")
    texts = [f"text {i}" for i in range(6)]
    with pytest.raises(ResponseError, match="runner crashed"):
        onb.embed(texts, model=MODEL, batch_size=2, client=client)
    assert not [t for t in threading.enumerate() if t.name == "ollama_nb.embed-fetch"]
    # the fault was used up: the same call now works
    assert onb.embed(texts, model=MODEL, batch_size=2, client=client).shape == (6, 768)


def test_attrs_survive_slicing_pickle_and_json(client, tmp_path) -> None:
    emb = onb.embed(pd.Series(["a b", "c d", "e f"], index=[7, 8, 9]), model=MODEL, client=client)
    part = emb.loc[[9, 7]]
    assert part.attrs["texts"] is emb.attrs["texts"]  # shared, not deep-copied per operation
    json.dumps(part.attrs)  # what to_parquet stores
    back = pd.read_pickle(emb.to_pickle(tmp_path / "e.pkl") or tmp_path / "e.pkl")
    assert list(back.attrs["texts"]) == ["a b", "c d", "e f"]
    assert list(back.attrs["texts"].labels) == [7, 8, 9]


def test_bad_body_stops_the_fetch_thread_at_once(replay_server, client_for) -> None:
    calls = {"n": 0}

    def answer(body: dict) -> dict:
        calls["n"] += 1
        if calls["n"] == 2:
            return {"model": "m", "embeddings": [[1.0, 2.0]]}  # one vector for two texts
        return {"model": "m", "embeddings": [[1.0, 0.0]] * len(body["input"])}

    server = replay_server({"/api/embed": answer})
    with pytest.raises(ResponseError, match="1 vectors for 2 texts") as info:
        onb.embed([f"t{i}" for i in range(20)], model="m", batch_size=2,
                  client=client_for(server.url))
    assert info.value is not None  # the traceback (and embed's frame) is still alive here
    assert not [t for t in threading.enumerate() if t.name == "ollama_nb.embed-fetch"]
    assert calls["n"] <= 4  # stopped, not run to the end


def test_interrupt_stops_fetching(ollama_sandbox, client) -> None:
    import _thread
    import time

    ollama_sandbox.inject("slow_load", model=MODEL, seconds=0.2)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            onb.embed([f"text {i}" for i in range(40)], model=MODEL, batch_size=2, client=client)
    finally:
        timer.cancel()
    asked = len(embed_requests(ollama_sandbox))
    deadline = time.monotonic() + 20
    while [t for t in threading.enumerate() if t.name == "ollama_nb.embed-fetch"]:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.5)
    assert asked < 20 and len(embed_requests(ollama_sandbox)) <= asked + 1  # no more requests

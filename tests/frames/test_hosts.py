"""embed and map_prompts over several hosts: sandboxes of different speeds on loopback, some
stopped mid-run, restarted, busy, broken or without the model. Whatever happens, the result is
the one a single host gives, row for row, in input order with the input's index."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pandas as pd
import pytest

import ollama_nb as onb
from ollama_nb.client._errors import HostsDownError, InvalidArgumentError, ModelNotFoundError
from ollama_nb.client._hosts import Hosts
from ollama_nb.frames import HostsWarning

MODEL, EMBED = "llama3.2", "all-minilm"
FAST = {"backoff": 0.05}  # retry a host after 50 ms (then 100, 200 ...)


def reviews(n: int) -> pd.DataFrame:
    """n rows with a shuffled string index and some repeated texts."""
    rng = np.random.default_rng(7)
    words = ["battery", "screen", "sound", "price", "camera", "case", "charger", "keys"]
    texts = [f"The {words[i % 8]} is {('great', 'poor', 'fine')[i % 3]}, item {i % max(n - 3, 1)}"
             for i in range(n)]
    index = pd.Index([f"r{i}" for i in rng.permutation(n)], name="review")
    return pd.DataFrame({"text": texts, "stars": [1 + i % 5 for i in range(n)]}, index=index)


def _options(kw: dict) -> dict | None:
    limit = kw.pop("num_predict", 10)  # 10 tokens: every row is the same unit of work
    return None if limit is None else {"num_predict": limit}


def one_host(sandbox, data, **kw):
    """The reference: the same call on one host, no cache."""
    return onb.map_prompts(data, "Rate {{stars}} stars: {{text}}", model=MODEL,
                           options=_options(kw), host=sandbox.url, cache=False, progress=False,
                           **kw)


def over(hosts, data, **kw):
    kw.setdefault("cache", False)
    return onb.map_prompts(data, "Rate {{stars}} stars: {{text}}", model=MODEL,
                           options=_options(kw), hosts=hosts, progress=kw.pop("progress", False),
                           **kw)


def shares(result) -> list[float]:
    rows = [h["rows"] for h in result.attrs["hosts"]]
    return [r / sum(rows) for r in rows]


# -- the same answers, spread by speed ------------------------------------------------------
def test_map_prompts_four_speeds_same_answers_shared_by_speed(fleet) -> None:
    boxes = fleet([4, 2, 1, 1])
    reference_box = fleet([0])[0]
    data = reviews(80)
    expected = one_host(reference_box, data)
    result = over(Hosts(boxes.urls, concurrency=2), data)  # two in flight: each box always busy
    pd.testing.assert_series_equal(result, expected)
    assert result.attrs["failed"] == 0
    # work-pulling: each box did a share of the rows close to its share of the speed
    assert shares(result) == pytest.approx([0.5, 0.25, 0.125, 0.125], abs=0.07), shares(result)
    stats = result.attrs["hosts"]
    assert [h["host"] for h in stats] == boxes.urls
    assert all(h["state"] == "up" and h["errors"] == 0 and h["tokens"] == 10 * h["rows"]
               for h in stats)
    assert stats[0]["tokens_per_s"] > stats[3]["tokens_per_s"]
    assert sum(boxes.asked()) == data["text"].nunique()  # each distinct prompt asked once


def test_embed_four_speeds_same_vectors_shared_by_speed(fleet) -> None:
    boxes = fleet([4, 2, 1, 1], base=200)
    texts = reviews(200)["text"]
    expected = onb.embed(texts, model=EMBED, host=fleet([0])[0].url, batch_size=4)
    result = onb.embed(texts, model=EMBED, hosts=Hosts(boxes.urls, concurrency=2), batch_size=4)
    pd.testing.assert_frame_equal(result, expected)
    assert result.index.equals(texts.index) and (result.dtypes == np.float32).all()
    assert shares(result) == pytest.approx([0.5, 0.25, 0.125, 0.125], abs=0.08), shares(result)
    assert sum(h["rows"] for h in result.attrs["hosts"]) == texts.nunique()


def test_schema_answers_over_hosts_equal_one_host(fleet) -> None:
    schema = {"type": "object", "properties": {"label": {"type": "string"},
                                               "score": {"type": "integer"}},
              "required": ["label", "score"]}
    boxes = fleet([1, 1, 1])
    data = reviews(12)
    expected = one_host(fleet([0])[0], data, schema=schema, num_predict=None)
    result = over(boxes.urls, data, schema=schema, num_predict=None)
    pd.testing.assert_frame_equal(result, expected)
    assert result["error"].isna().all() and str(result["score"].dtype) == "Int64"


# -- hosts that die, come back, or never had the model --------------------------------------
def test_a_host_stopped_mid_run_changes_nothing(fleet) -> None:
    boxes = fleet([2, 2, 1, 1])
    data = reviews(60)
    expected = one_host(fleet([0])[0], data)

    def stop_the_fastest(done: int, total: int) -> None:
        if done == 15:
            boxes[0].stop()

    result = over(Hosts(boxes.urls, concurrency=2, **FAST), data, progress=stop_the_fastest)
    pd.testing.assert_series_equal(result, expected)
    first = result.attrs["hosts"][0]
    assert first["state"] == "down" and first["errors"] >= 1 and first["last_error"]
    assert 0 < first["rows"] < 25


def test_embed_with_a_host_stopped_mid_run(fleet) -> None:
    boxes = fleet([1, 1, 1], base=300)
    texts = reviews(60)["text"]
    expected = onb.embed(texts, model=EMBED, host=fleet([0])[0].url, batch_size=3)

    def stop_one(done: int, total: int) -> None:
        if done >= 15 and boxes[1]._server is not None:
            boxes[1].stop()

    result = onb.embed(texts, model=EMBED, hosts=Hosts(boxes.urls, concurrency=2, **FAST),
                       batch_size=3, progress=stop_one)
    pd.testing.assert_frame_equal(result, expected)
    assert result.attrs["hosts"][1]["state"] == "down"


def test_a_stopped_host_rejoins_when_it_answers_again(fleet) -> None:
    boxes = fleet([1, 1], base=300)
    data = reviews(50)
    marks: dict[str, int] = {}

    def stop_then_restart(done: int, total: int) -> None:
        if done == 8:
            boxes[0].stop()
        if done == 14:
            marks["before"] = len(boxes[0].requests)
            boxes[0].start()  # same port: the machine is back

    result = over(Hosts(boxes.urls, **FAST), data, progress=stop_then_restart)
    pd.testing.assert_series_equal(result, one_host(fleet([0])[0], data))
    assert len(boxes[0].requests) > marks["before"] + 3  # it took work again after the restart
    assert result.attrs["hosts"][0]["state"] == "up"


def test_every_host_stopped_is_a_clear_error_that_keeps_the_finished_rows(fleet, tmp_path) -> None:
    boxes = fleet([1, 1])
    data = reviews(40)

    def stop_all(done: int, total: int) -> None:
        if done == 12:
            for sandbox in boxes:
                sandbox.stop()

    hosts = Hosts(boxes.urls, **FAST)
    with pytest.raises(HostsDownError) as info:
        over(hosts, data, progress=stop_all, cache=True, cache_dir=tmp_path)
    error = info.value
    assert isinstance(error, onb.ConnectError)  # `except ConnectError` still catches it
    assert "every host is down" in error.message and "\n" not in error.message
    assert "rerun the same call to resume" in error.message
    assert set(error.errors) == set(boxes.urls)
    assert all("connection" in reason or "refused" in reason for reason in error.errors.values())
    partial = error.partial
    assert partial.index.equals(data.index)
    finished = partial.notna()
    assert 12 <= finished.sum() < len(data)
    expected = one_host(fleet([0])[0], data)
    pd.testing.assert_series_equal(partial[finished], expected[finished])
    # the hosts come back: a rerun asks only for what had not finished
    for sandbox in boxes:
        sandbox.clear_requests()
        sandbox.start()
    again = over(hosts, data, cache=True, cache_dir=tmp_path)
    pd.testing.assert_series_equal(again, expected)
    assert again.attrs["cached"] >= 12
    assert sum(boxes.asked()) == data["text"].nunique() - again.attrs["cached"]


def test_embed_with_every_host_down_keeps_the_finished_batches(fleet) -> None:
    boxes = fleet([1, 1], base=300)
    texts = reviews(40)["text"]

    def stop_all(done: int, total: int) -> None:
        if done >= 10:
            for sandbox in boxes:
                sandbox.stop()

    with pytest.raises(HostsDownError) as info:
        onb.embed(texts, model=EMBED, hosts=Hosts(boxes.urls, **FAST), batch_size=2,
                  progress=stop_all)
    partial = info.value.partial
    expected = onb.embed(texts, model=EMBED, host=fleet([0])[0].url)
    done = partial.notna().all(axis=1)
    assert 10 <= done.sum() < len(texts) and partial[~done].isna().all().all()
    pd.testing.assert_frame_equal(partial[done], expected[done], check_like=True)


def test_a_host_without_the_model_is_left_out_with_one_line(fleet) -> None:
    with_model = fleet([1, 1])
    without = fleet([1], models=["all-minilm"])[0]
    data = reviews(20)
    with pytest.warns(HostsWarning) as caught:
        result = over([without.url, *with_model.urls], data)
    (line,) = [str(w.message) for w in caught]
    assert without.url in line and "does not have 'llama3.2'" in line and "pull=True" in line
    pd.testing.assert_series_equal(result, one_host(fleet([0])[0], data))
    assert result.attrs["hosts"][0]["state"] == "left out" and result.attrs["hosts"][0]["rows"] == 0
    # no host has it: the model error, as on one host
    with pytest.raises(ModelNotFoundError, match="nosuch"):
        onb.map_prompts(data, "{{text}}", model="nosuch", hosts=with_model.urls, cache=False)


def test_pull_true_pulls_the_model_where_it_is_missing(fleet, capsys) -> None:
    with_model = fleet([1])[0]
    without = fleet([1], models=["all-minilm"])[0]
    data = reviews(16)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HostsWarning)  # nobody is left out
        result = over([with_model.url, without.url], data, pull=True)
    assert "llama3.2:latest" in without.installed()
    assert any(r.path == "/api/pull" for r in without.requests)
    assert f"pull {MODEL} @ {without.url.split('://')[1]}" in capsys.readouterr().err
    assert result.attrs["hosts"][1]["rows"] > 0
    pd.testing.assert_series_equal(result, one_host(fleet([0])[0], data))


def test_busy_hosts_answering_503_are_retried(fleet) -> None:
    boxes = fleet([1, 1], max_queue=0)  # one slot, no queue: a second request gets the 503
    data = reviews(30)
    result = over(Hosts(boxes.urls, concurrency=3, **FAST), data)
    pd.testing.assert_series_equal(result, one_host(fleet([0])[0], data))
    assert sum(sb.scheduler.rejected for sb in boxes) > 0  # they did say "server busy"
    assert result.attrs["failed"] == 0


def test_a_500_is_tried_on_another_host_and_a_row_error_when_it_fails_there_too(fleet) -> None:
    boxes = fleet([1, 1])
    data = reviews(10)
    boxes[0].inject("error", model=MODEL, times=2, status=500, message="runner crashed")
    result = over(boxes.urls, data)
    pd.testing.assert_series_equal(result, one_host(fleet([0])[0], data))
    assert result.attrs["hosts"][0]["errors"] == 2
    # a failure that follows the row everywhere is the row's own error, as on one host
    for sandbox in boxes:
        sandbox.clear_requests()
        sandbox.inject("error", model=MODEL, status=500, message="bad row")
    with pytest.warns(onb.frames.MapPromptsWarning, match="3 of 3 rows failed"):
        failed = over(boxes.urls, reviews(3))
    assert failed.str.contains("bad row").all()
    assert sum(len(sb.requests) for sb in boxes) == 6  # each row once on each host, no more


def test_a_host_that_times_out_hands_its_rows_to_the_others(fleet) -> None:
    boxes = fleet([1, 1, 1])
    boxes[2].inject("slow_load", seconds=60)  # answers nothing in time (stop() wakes it)
    data = reviews(18)
    # a read timeout well above what a loaded 2-core machine can stall a healthy host for
    result = over(Hosts(boxes.urls, timeout=(5, 3), **FAST), data)
    pd.testing.assert_series_equal(result, one_host(fleet([0])[0], data))
    stats = result.attrs["hosts"]
    assert stats[2]["rows"] == 0 and stats[2]["last_error"] == "timed out"


def test_interrupt_over_several_hosts_keeps_the_finished_rows(fleet, tmp_path) -> None:
    boxes = fleet([1, 1])
    data = reviews(30)

    def interrupt(done: int, total: int) -> None:
        if done == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        over(boxes.urls, data, progress=interrupt, cache=True, cache_dir=tmp_path)
    partial = info.value.partial  # type: ignore[attr-defined]
    assert partial.notna().sum() >= 6 and partial.isna().sum() > 0


# -- where the hosts come from ---------------------------------------------------------------
def test_session_hosts_are_the_default(fleet, monkeypatch) -> None:
    from ollama_nb.client._session import session

    boxes = fleet([0, 0])  # no compute time
    monkeypatch.setattr(session, "hosts", Hosts(boxes.urls))
    result = onb.map_prompts(["one", "two", "three", "four"], "{{text}}", model=MODEL,
                             cache=False, progress=False)
    assert [h["host"] for h in result.attrs["hosts"]] == boxes.urls
    assert sum(boxes.asked()) == 4
    emb = onb.embed(["a b", "c d", "e f"], model=EMBED, batch_size=1)
    assert sum(h["rows"] for h in emb.attrs["hosts"]) == 3
    # an explicit host= still means that one host
    single = onb.map_prompts(["five"], "{{text}}", model=MODEL, host=boxes[0].url, cache=False)
    assert [h["host"] for h in single.attrs["hosts"]] == [boxes[0].url]


def test_hosts_forms_and_their_errors() -> None:
    hosts = Hosts({"http://gpu1:11434": 4, "gpu2:11434": None}, concurrency=2)
    assert hosts.urls == ["http://gpu1:11434", "http://gpu2:11434"] and hosts.limits(9) == [4, 2]
    assert Hosts("http://a:1=3, http://b:2").limits(5) == [3, 5]
    assert Hosts(["http://a:1", "http://b:2"]) == Hosts("http://a:1 http://b:2")
    assert Hosts(hosts) == hosts and Hosts.coerce([]) is None and Hosts.coerce(hosts) is hosts
    secret = Hosts(["http://user:pw@gpu1:11434"])
    assert "pw" not in repr(secret) and "***@gpu1:11434" in repr(secret)
    import pickle

    assert pickle.loads(pickle.dumps(hosts)) == hosts
    for bad, match in (([], "no URL"), (["ftp://x"], "unsupported scheme"),
                       (["http://a:1", "a:1"], "listed twice"), ({"http://a:1": 0}, "positive"),
                       (42, "list of URLs")):
        with pytest.raises(InvalidArgumentError, match=match):
            Hosts(bad)
    with pytest.raises(InvalidArgumentError, match="either hosts= or host="):
        onb.map_prompts(["x"], "{{text}}", model=MODEL, hosts=["http://a:1"], host="http://b:2")
    with pytest.raises(InvalidArgumentError, match="either hosts= or host="):
        onb.embed(["x"], model=EMBED, hosts=["http://a:1"], client=onb.Client("http://b:2"))


def test_in_flight_counts_requests_while_they_run(fleet) -> None:
    from ollama_nb.client._hosts import in_flight

    box = fleet([0.5])[0]  # slow: 10 tokens take 0.2 s
    seen: list[int] = []
    worker = threading.Thread(target=over, args=([box.url], reviews(2)))
    worker.start()
    while worker.is_alive():
        seen.append(in_flight(box.url))
        worker.join(0.02)
    assert max(seen) >= 1 and in_flight(box.url) == 0

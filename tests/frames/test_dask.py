"""ollama_nb.dask on a real dask.distributed LocalCluster (2 worker processes) over 3 sandboxes.

The sandboxes run in this process; the workers reach them over loopback. Each sandbox has two
slots and no queue, so a third request at once would get a 503: the tests assert none did, which
is the per-host bound holding across both workers. One test kills a worker mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

import ollama_nb as onb  # noqa: E402
import ollama_nb.dask as onbd  # noqa: E402
from ollama_nb.client._errors import InvalidArgumentError  # noqa: E402

pytestmark = pytest.mark.slow

MODEL, EMBED = "llama3.2", "all-minilm"
LIMIT = 2  # per host, across the cluster = each sandbox's slots


@pytest.fixture(scope="module")
def cluster():
    import dask

    # a killed worker's leases come back after 2 s instead of 30 s
    with dask.config.set({"distributed.scheduler.locks.lease-timeout": "2s",
                          "distributed.scheduler.locks.lease-validation-interval": "200ms"}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                                     dashboard_address=None, silence_logs=40) as local, \
            distributed.Client(local) as client:
        yield client


@pytest.fixture
def boxes(fleet):
    # two slots each and no queue: the cluster must never send a host a third request at once
    return fleet([1, 1, 2], base=200, num_parallel=LIMIT, max_queue=0)


@pytest.fixture
def reference(fleet):
    """A host of its own for the pandas runs (no compute time: same answers, sooner)."""
    return fleet([0], num_parallel=None)[0].url


def frame(n: int) -> pd.DataFrame:
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"]
    texts = [f"{words[i % 6]} review {i % (n - 5)} of {words[(i * 7) % 6]}" for i in range(n)]
    texts[3] = ""  # an empty text: NaN row for embed, an answer for map_prompts
    return pd.DataFrame({"text": texts, "n": range(n)},
                        index=pd.Index([f"row{(i * 37) % n:04d}" for i in range(n)], name="id"))


def check_bounded(boxes, limit: int = LIMIT) -> None:
    for sandbox in boxes:
        assert sandbox.scheduler.rejected == 0, "a host got more than its limit at once"
        assert sandbox.scheduler.peak <= limit
    assert max(sandbox.scheduler.peak for sandbox in boxes) == limit  # the limit was used


def test_embed_on_the_cluster_equals_the_pandas_path(cluster, boxes, reference, tmp_path) -> None:
    data = frame(120)
    ddf = dd.from_pandas(data, npartitions=6)  # (sorted by the index)
    hosts = onb.Hosts(boxes.urls, concurrency=1)  # an embedding model has one slot (as in Ollama)
    lazy = onbd.embed(ddf["text"], model=EMBED, hosts=hosts, batch_size=5)
    assert isinstance(lazy, dd.DataFrame) and lazy.npartitions == 6
    assert (lazy._meta.dtypes == np.float32).all() and list(lazy.columns[:2]) == ["0", "1"]
    result = lazy.compute()
    expected = onb.embed(ddf["text"].compute(), model=EMBED, host=reference, batch_size=5,
                         progress=False)
    pd.testing.assert_frame_equal(result, expected.rename(columns=str))
    assert result.loc[data.index[3]].isna().all()  # the empty text
    check_bounded(boxes, limit=1)
    assert all(sum(r.path == "/api/embed" for r in sb.requests) > 1 for sb in boxes)
    # partition by partition to Parquet, and back
    lazy.to_parquet(tmp_path / "emb")
    back = dd.read_parquet(tmp_path / "emb").compute()
    pd.testing.assert_frame_equal(back, result, check_index_type=False)


def test_map_prompts_on_the_cluster_equals_the_pandas_path(cluster, boxes, reference,
                                                            tmp_path) -> None:
    ddf = dd.from_pandas(frame(90), npartitions=5)
    hosts = onb.Hosts(boxes.urls, concurrency=LIMIT)
    template = "Sum up {{text}} (number {{n}})"
    options = {"num_predict": 8}
    lazy = onbd.map_prompts(ddf, template, model=MODEL, hosts=hosts, options=options,
                            cache_dir=tmp_path)
    assert isinstance(lazy, dd.Series) and lazy.name == "answer"
    result = lazy.compute()
    expected = onb.map_prompts(ddf.compute(), template, model=MODEL, host=reference,
                               options=options, cache=False, progress=False, concurrency=LIMIT)
    pd.testing.assert_series_equal(result, expected)
    check_bounded(boxes)
    schema = {"type": "object", "properties": {"label": {"type": "string"},
                                               "stars": {"type": "integer"}}}
    typed = onbd.map_prompts(ddf, template, model=MODEL, hosts=hosts, schema=schema, cache=False)
    assert typed._meta.dtypes.astype(str).to_dict() == {"label": "string", "stars": "Int64",
                                                        "error": "string"}
    pd.testing.assert_frame_equal(
        typed.compute(), onb.map_prompts(ddf.compute(), template, model=MODEL, schema=schema,
                                         host=reference, cache=False, progress=False,
                                         concurrency=LIMIT))


def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(cluster, boxes, reference,
                                                              tmp_path) -> None:
    data = frame(240)
    ddf = dd.from_pandas(data, npartitions=8)
    hosts = onb.Hosts(boxes.urls, concurrency=LIMIT)
    options = {"num_predict": 10}
    lazy = onbd.map_prompts(ddf, "Answer {{text}}", model=MODEL, hosts=hosts, options=options,
                            cache_dir=tmp_path)
    future = cluster.compute(lazy)
    deadline = time.monotonic() + 60
    while sum(boxes.asked()) < 60:  # a quarter of the rows answered
        assert time.monotonic() < deadline and not future.done()
        time.sleep(0.02)
    victim, pid = next(iter(cluster.run(os.getpid).items()))
    os.kill(pid, signal.SIGKILL)
    result = future.result(timeout=120)
    asked = sum(boxes.asked())
    assert result.index.is_unique and len(result) == len(data)
    expected = onb.map_prompts(ddf.compute(), "Answer {{text}}", model=MODEL, options=options,
                               host=reference, cache=False, progress=False,
                               concurrency=LIMIT)
    pd.testing.assert_series_equal(result, expected)
    # the dead worker's finished rows came from the cache: only what was in flight is asked twice
    distinct = data["text"].nunique()
    assert distinct <= asked <= distinct + LIMIT * len(boxes)
    check_bounded(boxes)
    assert len(cluster.scheduler_info()["workers"]) == 2 or cluster.wait_for_workers(2) is None


def test_wrong_input_is_one_line_before_anything_runs(boxes) -> None:
    ddf = dd.from_pandas(frame(12), npartitions=2)
    with pytest.raises(InvalidArgumentError, match=r"Dask Series or DataFrame.*dd\.from_pandas"):
        onbd.embed(frame(12)["text"], model=EMBED, hosts=boxes.urls)
    with pytest.raises(InvalidArgumentError, match="2 columns; pass one column"):
        onbd.embed(ddf, model=EMBED, hosts=boxes.urls)
    with pytest.raises(InvalidArgumentError, match=r"\{\{txt\}\}, which is not a column"):
        onbd.map_prompts(ddf, "{{txt}}", model=MODEL, hosts=boxes.urls)
    assert sum(len(sb.requests) for sb in boxes) == 0


def test_importing_ollama_nb_dask_loads_no_dask() -> None:
    code = ("import sys, ollama_nb.dask; "
            "print(sorted(m for m in ('dask', 'distributed', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    missing = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['dask'] = None; "
                               "import ollama_nb.dask as d; d.embed"],
        capture_output=True, text=True)
    assert missing.returncode != 0
    assert missing.stderr.strip().splitlines()[-1] == (
        "ImportError: ollama_nb.dask needs Dask: pip install 'ollama-nb[dask]' "
        "(dask[dataframe] and distributed)")

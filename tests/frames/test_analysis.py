"""similarity(), nearest(), project(), plot_projection() on sandbox embeddings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ollama_nb as onb
from ollama_nb.client._errors import InvalidArgumentError

MODEL = "nomic-embed-text"  # word-overlap vectors: texts sharing words are close

REVIEWS = pd.Series(
    [
        "the battery life is excellent and lasts all day",
        "screen is bright and sharp",
        "delivery was late and the box was damaged",
        "battery drains fast, poor battery life",
        "sound quality from the speakers is great",
        "the keyboard feels cheap",
        "delivery was quick",
    ],
    index=pd.Index([f"r{i}" for i in range(7)], name="review_id"),
    name="review",
)


@pytest.fixture
def client(ollama_sandbox):
    with onb.Client(ollama_sandbox.url) as c:
        yield c


@pytest.fixture
def emb(client):
    return onb.embed(REVIEWS, model=MODEL, client=client)


def test_similarity_matrix_labelled_by_index(emb) -> None:
    sim = onb.similarity(emb)
    assert sim.shape == (7, 7) and sim.index.equals(emb.index) and sim.columns.equals(emb.index)
    assert (sim.dtypes == np.float32).all()
    np.testing.assert_allclose(np.diag(sim.to_numpy()), 1.0, atol=1e-5)
    np.testing.assert_allclose(sim.to_numpy(), sim.to_numpy().T, atol=1e-6)
    # shared words score higher than none
    assert sim.loc["r0", "r3"] > sim.loc["r0", "r5"]
    assert sim.loc["r2", "r6"] > sim.loc["r2", "r1"]


def test_similarity_between_two_sets_and_arrays(emb) -> None:
    sub = emb.loc[["r6", "r1"]]
    sim = onb.similarity(emb, sub)
    assert sim.shape == (7, 2) and list(sim.columns) == ["r6", "r1"]
    expected = emb.to_numpy() @ sub.to_numpy().T  # vectors are unit length
    np.testing.assert_allclose(sim.to_numpy(), expected, atol=1e-5)
    plain = onb.similarity(emb.to_numpy()[:3])
    assert list(plain.index) == [0, 1, 2]
    with pytest.raises(InvalidArgumentError, match="dimensions"):
        onb.similarity(emb, emb.iloc[:, :10])
    other = emb.copy()
    other.attrs = {"model": "all-minilm"}
    with pytest.raises(InvalidArgumentError, match="different models"):
        onb.similarity(emb, other)


def test_similarity_nan_rows_stay_nan(client) -> None:
    emb = onb.embed(["cats and dogs", "", "dogs and cats"], model=MODEL, client=client)
    sim = onb.similarity(emb)
    assert sim.iloc[1].isna().all() and sim.iloc[:, 1].isna().all()
    assert sim.iloc[0, 2] == pytest.approx(1.0, abs=1e-5)  # same words, same vector


def test_nearest_finds_the_expected_neighbour(ollama_sandbox, emb, client) -> None:
    ollama_sandbox.clear_requests()
    hits = onb.nearest(emb, "battery life", k=3, client=client)
    # the two battery reviews share both words; everything else shares none
    assert list(hits.index[:2]) == ["r3", "r0"] or list(hits.index[:2]) == ["r0", "r3"]
    assert hits.index.name == "review_id"
    assert list(hits.columns) == ["rank", "score", "text"]
    assert hits["rank"].tolist() == [1, 2, 3]
    assert hits["score"].is_monotonic_decreasing
    assert hits.loc["r0", "text"] == REVIEWS["r0"]
    # the query was embedded with the frame's model and width
    (request,) = [r for r in ollama_sandbox.requests if r.path == "/api/embed"]
    assert request.body["model"] == MODEL and request.body["input"] == ["battery life"]
    delivery = onb.nearest(emb, "late delivery", k=1, client=client)
    assert list(delivery.index) == ["r2"]


def test_nearest_after_filtering_and_with_texts_argument(emb, client) -> None:
    subset = emb.loc[["r6", "r5", "r2"]]  # filtered and reordered: texts follow the labels
    hits = onb.nearest(subset, "delivery was late", k=2, client=client)
    assert list(hits.index) == ["r2", "r6"]
    assert hits["text"].tolist() == [REVIEWS["r2"], REVIEWS["r6"]]
    bare = emb.copy()
    bare.attrs = {"model": MODEL}
    assert "text" not in onb.nearest(bare, "keyboard", k=1, client=client).columns
    named = onb.nearest(bare, "keyboard", k=1, texts=REVIEWS.str.upper(), client=client)
    assert named["text"].tolist() == [REVIEWS["r5"].upper()]


def test_nearest_several_queries_vectors_and_bad_input(emb, client) -> None:
    hits = onb.nearest(emb, ["battery", "keyboard"], k=2, client=client)
    assert list(hits.columns) == ["query", "rank", "score", "text"]
    assert hits["query"].tolist() == ["battery", "battery", "keyboard", "keyboard"]
    assert hits[hits["query"] == "keyboard"].index[0] == "r5"
    by_vector = onb.nearest(emb, emb.loc["r4"], k=1)  # a vector: no request needed
    assert list(by_vector.index) == ["r4"] and by_vector["score"].iloc[0] == pytest.approx(1.0)
    assert len(onb.nearest(emb, emb.loc["r4"], k=50)) == 7
    with pytest.raises(InvalidArgumentError, match="k must be"):
        onb.nearest(emb, "x", k=0)
    with pytest.raises(InvalidArgumentError, match="empty"):
        onb.nearest(emb, " ", client=client)
    nomodel = emb.copy()
    nomodel.attrs = {}
    with pytest.raises(InvalidArgumentError, match="model"):
        onb.nearest(nomodel, "x", client=client)


def test_project_is_pca(emb) -> None:
    proj = onb.project(emb, labels=pd.Series(list("abababa"), index=emb.index))
    assert list(proj.columns) == ["x", "y", "text", "label"]
    assert proj.index.equals(emb.index)
    assert proj["text"].tolist() == REVIEWS.tolist()
    # compare with the SVD of the centred data (up to sign)
    x = emb.to_numpy().astype(np.float64)
    centred = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T
    for col, i in (("x", 0), ("y", 1)):
        got = proj[col].to_numpy()
        sign = np.sign(got @ expected[:, i])
        np.testing.assert_allclose(got, sign * expected[:, i], atol=1e-4)
    ratio = proj.attrs["explained_variance_ratio"]
    np.testing.assert_allclose(ratio, (s**2 / (s**2).sum())[:2], atol=1e-4)
    again = onb.project(emb)
    np.testing.assert_array_equal(again[["x", "y"]].to_numpy(), proj[["x", "y"]].to_numpy())


def test_project_edge_cases(client) -> None:
    emb = onb.embed(["one two", "", "three four", "five"], model=MODEL, client=client)
    proj = onb.project(emb)
    assert proj.iloc[1][["x", "y"]].isna().all() and proj.drop(index=1)[["x", "y"]].notna().all().all()
    single = onb.project(emb.iloc[[0]])
    assert single[["x", "y"]].to_numpy().tolist() == [[0.0, 0.0]]


def test_plot_projection(emb) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    proj = onb.project(emb, labels=["battery $5$ deal", "screen", "delivery", "battery",
                                    "sound", "keyboard", "delivery"])
    ax = onb.plot_projection(proj, color="label", annotate=True)
    try:
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "battery \\$5\\$ deal" in legend  # dollars escaped: no mathtext from data
        notes = [t for t in ax.texts]
        assert len(notes) == 7 and notes[0].get_text().startswith("the battery life")
        assert "PC1" in ax.get_xlabel() and MODEL in ax.get_title()
        ax.figure.canvas.draw()  # renders without mathtext errors
    finally:
        plt.close(ax.figure)
    ax = onb.plot_projection(emb, color=np.arange(7.0))  # embeddings are projected first
    try:
        assert len(ax.collections) == 1 and len(ax.figure.axes) == 2  # points + colour bar
    finally:
        plt.close(ax.figure)


def test_project_randomised_path_matches_exact(monkeypatch) -> None:
    from ollama_nb.frames import _analysis

    rng = np.random.default_rng(3)
    # 600 points with two strong directions and noise
    base = rng.standard_normal((600, 2)) * [5.0, 2.0]
    data = base @ rng.standard_normal((2, 50)) + 0.05 * rng.standard_normal((600, 50))
    frame = pd.DataFrame(data.astype(np.float32))
    exact = onb.project(frame)
    monkeypatch.setattr(_analysis, "EXACT_PCA_LIMIT", 0)
    fast = onb.project(frame)
    np.testing.assert_allclose(fast[["x", "y"]].to_numpy(), exact[["x", "y"]].to_numpy(),
                               atol=1e-3 * np.abs(exact["x"]).max())
    np.testing.assert_allclose(fast.attrs["explained_variance_ratio"],
                               exact.attrs["explained_variance_ratio"], atol=1e-4)


def test_empty_and_plain_list_inputs(ollama_sandbox, client) -> None:
    empty = onb.embed([], model=MODEL, client=client)
    ollama_sandbox.clear_requests()
    assert onb.similarity(empty).shape == (0, 0)
    hits = onb.nearest(empty, "anything", client=client)
    assert len(hits) == 0 and list(hits.columns) == ["rank", "score", "text"]
    assert ollama_sandbox.requests == []  # nothing to rank, nothing asked
    proj = onb.project(empty)
    assert proj.shape == (0, 3) and list(proj.columns) == ["x", "y", "text"]
    sim = onb.similarity([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    np.testing.assert_allclose(sim.to_numpy()[2], [2 ** -0.5, 2 ** -0.5, 1.0], atol=1e-6)
    proj = onb.project([[0.0, 0.0, 1.0], [2.0, 0.0, 1.0], [4.0, 1.0, 1.0]], texts=["a", "b", "c"])
    assert proj["text"].tolist() == ["a", "b", "c"] and proj["x"].is_monotonic_increasing


def test_duplicate_texts_rank_together(client) -> None:
    emb = onb.embed(pd.Series(["solar panels", "wind farms", "solar panels"], index=[3, 1, 2]),
                    model=MODEL, client=client)
    hits = onb.nearest(emb, "solar panels", k=2, client=client)
    assert sorted(hits.index) == [2, 3] and hits["score"].tolist() == pytest.approx([1.0, 1.0])


def test_texts_from_attrs_never_misalign(client) -> None:
    emb = onb.embed(pd.Series(["apple pie", "cherry tart", "apple crumble"], index=[1, 1, 2]),
                    model=MODEL, client=client)
    hits = onb.nearest(emb, "apple", k=2, client=client)  # unchanged rows: texts by position
    assert set(hits["text"]) == {"apple pie", "apple crumble"}
    filtered = emb.iloc[[2, 0]]  # duplicate labels and a new order: no safe mapping
    assert "text" not in onb.nearest(filtered, "apple", k=1, client=client).columns
    restored = emb.copy()
    restored.attrs = {"model": MODEL, "texts": list(emb.attrs["texts"])}  # as from a file
    assert onb.nearest(restored, "cherry", k=1, client=client)["text"].tolist() == ["cherry tart"]


def test_plot_without_matplotlib_is_a_clear_error(emb, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        onb.plot_projection(emb)

"""Working with embedding frames: cosine similarity, nearest neighbours, a 2-D PCA map.

All of these take what :func:`ollama_nb.embed` returns (or any numeric DataFrame or
2-D array) and label their results with its index, so they join back onto the
data the texts came from. Rows of NaN (empty texts) score NaN and never rank.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..client._errors import InvalidArgumentError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

    from ..client._client import Client

__all__ = ["nearest", "plot_projection", "project", "similarity"]


def _matrix(x: Any, what: str) -> tuple[np.ndarray, Any]:
    """(2-D float32 array, row labels) from a DataFrame, Series (one vector) or array."""
    import numpy as np
    import pandas as pd

    if isinstance(x, pd.DataFrame):
        labels = x.index
        try:
            values = x.to_numpy(dtype=np.float32)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"{what} must hold numbers only (an embedding frame)") from None
    elif isinstance(x, pd.Series):
        labels = pd.Index([x.name if x.name is not None else 0])
        values = x.to_numpy(dtype=np.float32)[None, :]
    else:
        try:
            values = np.asarray(x, dtype=np.float32)
        except (TypeError, ValueError):
            raise InvalidArgumentError(
                f"{what} must be an embedding DataFrame or a numeric array, got {type(x).__name__}"
            ) from None
        if values.ndim == 1:
            values = values[None, :]
        labels = pd.RangeIndex(len(values))
    if values.ndim != 2:
        raise InvalidArgumentError(f"{what} must be 2-D (rows x dimensions), got {values.ndim}-D")
    return values, labels


def _unit_rows(values: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1; zero or NaN rows become NaN."""
    import numpy as np

    norms = np.linalg.norm(values, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = values / norms
    unit[~np.isfinite(norms[:, 0]) | (norms[:, 0] == 0)] = np.nan
    return unit


def _same_model(a: Any, b: Any) -> None:
    ma, mb = getattr(a, "attrs", {}).get("model"), getattr(b, "attrs", {}).get("model")
    if ma and mb and ma != mb:
        raise InvalidArgumentError(
            f"embeddings come from different models ({ma!r} and {mb!r}); their vectors "
            f"are not comparable")


def similarity(a: Any, b: Any = None) -> pd.DataFrame:
    """Cosine similarity of every row of ``a`` with every row of ``b`` (default: ``a``).

    A float32 DataFrame, rows labelled by ``a``'s index and columns by ``b``'s.
    """
    import numpy as np
    import pandas as pd

    left, left_labels = _matrix(a, "a")
    if b is None:
        right, right_labels = left, left_labels
    else:
        _same_model(a, b)
        right, right_labels = _matrix(b, "b")
    if left.shape[1] != right.shape[1]:
        raise InvalidArgumentError(
            f"a has {left.shape[1]} dimensions and b has {right.shape[1]}; embed both with "
            f"the same model (and dimensions)")
    ul = _unit_rows(left)
    ur = ul if b is None else _unit_rows(right)
    scores = np.clip(ul @ ur.T, -1.0, 1.0).astype(np.float32, copy=False)
    return pd.DataFrame(scores, index=left_labels, columns=right_labels, copy=False)


def _texts_series(emb: Any, texts: Any) -> pd.Series | None:
    """Texts for the rows of ``emb``, by label where possible, else by position."""
    import pandas as pd

    if texts is None:  # the texts embed() kept; never an error if they no longer fit
        held = getattr(emb, "attrs", {}).get("texts")
        if held is None:
            return None
        labels = getattr(held, "labels", None)  # SharedTexts from embed()
        if labels is not None and len(labels) == len(held):
            if labels.equals(emb.index):
                return pd.Series(list(held), index=emb.index, dtype=object)
            if labels.is_unique:
                return pd.Series(list(held), index=labels, dtype=object).reindex(emb.index)
            return None
        # attrs read back from a file keep the texts but not their labels: by position
        return pd.Series(list(held), index=emb.index, dtype=object) if len(held) == len(emb) else None
    if isinstance(texts, pd.Series):
        if texts.index.equals(emb.index):
            return texts
        if texts.index.is_unique:
            return texts.reindex(emb.index)
        if len(texts) == len(emb):
            return pd.Series(texts.to_numpy(), index=emb.index)
        raise InvalidArgumentError("texts: its index does not match the embeddings' rows")
    texts = list(texts)
    if len(texts) != len(emb):
        raise InvalidArgumentError(
            f"texts has {len(texts)} items but the embeddings have {len(emb)} rows")
    return pd.Series(texts, index=emb.index, dtype=object)


def nearest(
    emb: pd.DataFrame,
    query: Any,
    k: int = 5,
    texts: Any = None,
    *,
    model: str | None = None,
    host: str | None = None,
    client: Client | None = None,
) -> pd.DataFrame:
    """The ``k`` rows of ``emb`` most similar to ``query``, best first.

    ``query`` is a text (embedded with ``emb.attrs["model"]`` and the same number of
    dimensions), a list of texts, or a vector. The result's index holds the matching
    rows' labels (``df.loc[result.index]`` fetches them); columns ``rank``, ``score``
    (cosine) and ``text`` when the texts are known (``texts=`` or ``emb.attrs``);
    with several queries, a leading ``query`` column.
    """
    import numpy as np
    import pandas as pd

    from ._embeddings import embed

    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidArgumentError(f"k must be a positive integer, got {k!r}")
    if not isinstance(emb, pd.DataFrame):
        raise InvalidArgumentError(f"emb must be the DataFrame embed() returned, got {type(emb).__name__}")
    values, labels = _matrix(emb, "emb")
    dim = values.shape[1]
    text_series = _texts_series(emb, texts)
    if not len(values):  # nothing to rank: no need to embed the query
        empty = pd.DataFrame({"rank": pd.Series([], dtype=np.int64),
                              "score": pd.Series([], dtype=np.float64)}, index=labels[:0])
        if text_series is not None:
            empty["text"] = pd.Series([], dtype="string")
        return empty
    if isinstance(query, str) or (isinstance(query, (list, tuple, pd.Series))
                                  and len(query) and all(isinstance(q, str) for q in query)):
        use = model or emb.attrs.get("model")
        if not use:
            raise InvalidArgumentError("emb has no model in .attrs; pass model= to embed the query")
        queries = [query] if isinstance(query, str) else list(query)
        if not all(q.strip() for q in queries):
            raise InvalidArgumentError("query is an empty string; there is nothing to search for")
        qemb = embed(queries, model=use, dimensions=emb.attrs.get("dimensions") or dim,
                     progress=False, host=host, client=client)
        qvec = qemb.to_numpy()
        if qvec.shape[1] != dim:
            raise InvalidArgumentError(
                f"the query embedding from {use!r} has {qvec.shape[1]} dimensions, emb has {dim}; "
                f"was emb made with another model?")
    else:
        qvec, _ = _matrix(query, "query")
        queries = [None] * len(qvec)
        if qvec.shape[1] != dim:
            raise InvalidArgumentError(f"query vector has {qvec.shape[1]} dimensions, emb has {dim}")
    scores = _unit_rows(qvec) @ _unit_rows(values).T           # (queries, rows)
    top = min(k, len(values))
    parts = []
    for qi, row in enumerate(scores):
        ranked = np.where(np.isnan(row), -np.inf, row)
        order = np.argsort(-ranked, kind="stable")[:top]
        order = order[np.isfinite(ranked[order])]
        part = pd.DataFrame({"rank": np.arange(1, len(order) + 1, dtype=np.int64),
                             "score": row[order].astype(np.float64)},
                            index=labels[order])
        if text_series is not None:
            part["text"] = pd.array(text_series.iloc[order].tolist(), dtype="string")
        if len(scores) > 1 or not isinstance(query, str) and queries[0] is not None:
            part.insert(0, "query", queries[qi] if queries[qi] is not None else qi)
        parts.append(part)
    result = pd.concat(parts) if len(parts) > 1 else parts[0]
    result.attrs = {"model": emb.attrs.get("model")} if emb.attrs.get("model") else {}
    return result


def project(emb: Any, *, texts: Any = None, labels: Any = None) -> pd.DataFrame:
    """A 2-D PCA projection of ``emb`` for plotting: columns ``x``, ``y`` (+ ``text``, ``label``).

    Plain numpy (eigenvectors of the covariance), no scikit-learn. Signs are fixed so
    the same data always gives the same picture. ``.attrs["explained_variance_ratio"]``
    says how much of the spread each axis shows.
    """
    import numpy as np
    import pandas as pd

    values, row_labels = _matrix(emb, "emb")
    ok = np.isfinite(values).all(axis=1)
    fit = values[ok]
    coords = np.full((len(values), 2), np.nan)
    ratio = [0.0, 0.0]
    if len(fit):
        centred = fit - fit.mean(axis=0, dtype=np.float64).astype(np.float32)
        axes, variances = _top_axes(centred, 2)
        # deterministic sign: the largest loading of each axis is positive
        signs = np.sign(axes[np.abs(axes).argmax(axis=0), np.arange(axes.shape[1])])
        axes = axes * np.where(signs == 0, 1, signs)
        projected = (centred @ axes.astype(np.float32)).astype(np.float64)
        coords[ok, : projected.shape[1]] = projected
        coords[ok, projected.shape[1]:] = 0.0
        total = float(np.einsum("ij,ij->", centred, centred, dtype=np.float64))
        if total > 0:
            ratio = [float(v / total) for v in variances] + [0.0] * (2 - len(variances))
    frame = pd.DataFrame(coords, index=row_labels, columns=["x", "y"])
    if isinstance(emb, pd.DataFrame):
        text_series = _texts_series(emb, texts)
        if text_series is not None:
            frame["text"] = pd.array(text_series.tolist(), dtype="string")
    elif texts is not None:
        frame["text"] = pd.array(list(texts), dtype="string")
    if labels is not None:
        if isinstance(labels, pd.Series) and not labels.index.equals(frame.index):
            labels = labels.reindex(frame.index)
        label_values = labels.tolist() if hasattr(labels, "tolist") else list(labels)
        if len(label_values) != len(frame):
            raise InvalidArgumentError(f"labels has {len(label_values)} items for {len(frame)} rows")
        frame["label"] = label_values
    frame.attrs = {"explained_variance_ratio": ratio}
    if isinstance(emb, pd.DataFrame) and emb.attrs.get("model"):
        frame.attrs["model"] = emb.attrs["model"]
    return frame


#: above this many multiply-adds (rows x dims x min(rows, dims)) project() switches from
#: an exact SVD to a randomised one (Halko et al. 2011), which needs only a few passes
EXACT_PCA_LIMIT = 2e9


def _top_axes(centred: np.ndarray, k: int) -> tuple[np.ndarray, list[float]]:
    """(d x k principal axes, the variance (sum of squares) along each) of centred data."""
    import numpy as np

    n, d = centred.shape
    k = min(k, n, d)
    if n * d * min(n, d) <= EXACT_PCA_LIMIT:
        _, s, vt = np.linalg.svd(centred.astype(np.float64), full_matrices=False)
        return vt[:k].T, [float(v) ** 2 for v in s[:k]]
    # randomised range finder with power iterations; the seed keeps plots stable
    rng = np.random.default_rng(0)
    basis = centred @ rng.standard_normal((d, k + 10)).astype(np.float32)
    for _ in range(4):
        basis, _ = np.linalg.qr(basis)
        basis, _ = np.linalg.qr(centred.T @ basis)
        basis = centred @ basis
    basis, _ = np.linalg.qr(basis)
    _, s, vt = np.linalg.svd((basis.T @ centred).astype(np.float64), full_matrices=False)
    return vt[:k].T, [float(v) ** 2 for v in s[:k]]


def _plain(text: Any, limit: int = 40, *, escape: bool = True) -> str:
    """Label text for matplotlib, shortened; ``$`` escaped so no text turns into mathtext."""
    text = " ".join(str(text).split())
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("$", r"\$") if escape else text


def plot_projection(
    data: Any,
    *,
    color: Any = None,
    annotate: bool | str = False,
    labels: Any = None,
    ax: Any = None,
    title: str | None = None,
    **scatter: Any,
) -> Any:
    """Scatter plot of :func:`project` output (or of embeddings, projected first).

    ``color``: a column name (e.g. ``"label"``) or values per row - categories get a
    legend, numbers a colour bar. ``annotate``: True writes each point's ``text``
    (or ``label``), a column name writes that column. Returns the matplotlib Axes.
    Needs matplotlib (``pip install matplotlib``).
    """
    import numpy as np
    import pandas as pd

    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot_projection needs matplotlib: pip install matplotlib") from None

    proj = data if isinstance(data, pd.DataFrame) and {"x", "y"} <= set(data.columns) and not (
        len(data.columns) and all(isinstance(c, (int, np.integer)) for c in data.columns)
    ) else project(data, labels=labels)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 6))
    if isinstance(color, str) and color in proj.columns:
        colours = proj[color]
    elif color is not None:
        colours = pd.Series(list(color), index=proj.index)
        if len(colours) != len(proj):
            raise InvalidArgumentError(f"color has {len(colours)} values for {len(proj)} points")
    else:
        colours = None
    scatter.setdefault("s", 18)
    if colours is None:
        ax.scatter(proj["x"], proj["y"], **scatter)
    elif pd.api.types.is_numeric_dtype(colours) and not pd.api.types.is_bool_dtype(colours):
        points = ax.scatter(proj["x"], proj["y"], c=colours.to_numpy(dtype=float), **scatter)
        bar = ax.figure.colorbar(points, ax=ax)
        bar.set_label(_plain(color) if isinstance(color, str) else "")
    else:
        keys = colours.astype(object).where(colours.notna(), "(none)")
        for value in pd.unique(keys):
            mask = (keys == value).to_numpy()
            ax.scatter(proj["x"][mask], proj["y"][mask], label=_plain(value), **scatter)
        ax.legend(loc="best", fontsize="small")
    column = None
    if annotate is True:
        column = "text" if "text" in proj.columns else "label" if "label" in proj.columns else None
    elif isinstance(annotate, str):
        if annotate not in proj.columns:
            raise InvalidArgumentError(f"annotate={annotate!r} is not a column of the projection")
        column = annotate
    if column is not None:
        for x, y, text in zip(proj["x"], proj["y"], proj[column]):
            if np.isfinite(x) and np.isfinite(y) and not pd.isna(text):
                ax.annotate(_plain(text, escape=False), (x, y), xytext=(3, 3), textcoords="offset points",
                            fontsize="x-small", parse_math=False)
    ratio = proj.attrs.get("explained_variance_ratio")
    if ratio:
        ax.set_xlabel(f"PC1 ({ratio[0]:.0%} of variance)")
        ax.set_ylabel(f"PC2 ({ratio[1]:.0%} of variance)")
    ax.set_title(_plain(title, 80) if title else _plain(
        f"Embeddings of {proj.attrs['model']}" if proj.attrs.get("model") else "Embeddings", 80))
    return ax

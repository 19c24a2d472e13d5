"""``embed`` and ``map_prompts`` on Dask collections: data larger than memory, on any cluster.

>>> import dask.dataframe as dd, ollama_nb.dask as onbd           # doctest: +SKIP
>>> reviews = dd.read_parquet("reviews/")                          # doctest: +SKIP
>>> onbd.embed(reviews["text"], hosts=[...]).to_parquet("emb/")    # doctest: +SKIP

Both return lazy Dask collections built with ``map_partitions`` (see
``ollama_nb.frames._dask``). Needs the ``dask`` extra (``pip install 'ollama-nb[dask]'``);
importing this module loads nothing, Dask is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["embed", "map_prompts"]

if TYPE_CHECKING:  # pragma: no cover
    from .frames._dask import embed, map_prompts


def __getattr__(name: str) -> Any:
    if name in __all__:
        from .frames import _dask

        value = getattr(_dask, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ollama_nb.dask' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__

"""The DataFrame layer: Ollama results as pandas objects to join, filter, plot and save.

* :func:`models`, :func:`running` - the server's model lists (``/api/tags``, ``/api/ps``);
* :func:`embed` - texts to a float32 embedding frame (``/api/embed``, batched);
* :func:`similarity`, :func:`nearest` - cosine similarity and ranked neighbours;
* :func:`project`, :func:`plot_projection` - a 2-D PCA map of embeddings and its plot;
* :func:`prompt_log` - the logged prompts and answers with their provenance;
* :func:`map_prompts` - one prompt per row, answered in parallel, resumable (``_batch``,
  with its on-disk cache in ``_cache``);
* ``embed`` and ``map_prompts`` over several servers (``hosts=``): ``_spread`` hands out
  the work; ``_dask`` runs both on Dask collections (public face: ``ollama_nb.dask``).

Every function takes ``host=``/``client=`` and otherwise uses the session defaults
(:mod:`ollama_nb.client._session`).
"""

from __future__ import annotations

from ._analysis import nearest, plot_projection, project, similarity
from ._batch import MapPromptsWarning, map_prompts
from ._embeddings import embed
from ._inventory import models, running
from ._log import prompt_log
from ._spread import HostsWarning

__all__ = ["HostsWarning", "MapPromptsWarning", "embed", "map_prompts", "models", "nearest",
           "plot_projection", "project", "prompt_log", "running", "similarity"]

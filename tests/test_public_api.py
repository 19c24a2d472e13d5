"""The public surface: every name in ``__all__`` resolves, and the names PRODUCT.md promises exist."""

from __future__ import annotations

import inspect

import ollama_nb
import ollama_nb.widgets

PRODUCT_NAMES = {
    "Client", "AsyncClient", "Hosts", "OllamaError", "models", "running", "embed", "similarity",
    "nearest", "map_prompts",
    "load_ipython_extension", "unload_ipython_extension",
}


def test_all_names_resolve() -> None:
    for name in ollama_nb.__all__:
        assert getattr(ollama_nb, name) is not None, name


def test_product_names_are_exported() -> None:
    assert PRODUCT_NAMES <= set(ollama_nb.__all__)


def test_errors_form_one_tree() -> None:
    errors = [getattr(ollama_nb, n) for n in ollama_nb.__all__ if n.endswith(("Error", "Timeout"))]
    assert errors and all(issubclass(e, ollama_nb.OllamaError) for e in errors)


def test_widgets_are_exported() -> None:
    assert {"ModelPicker", "StreamPane", "ChatBox", "PullProgress"} <= set(ollama_nb.widgets.__all__)
    for name in ollama_nb.widgets.__all__:
        assert inspect.isclass(getattr(ollama_nb.widgets, name)), name


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        ollama_nb.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")

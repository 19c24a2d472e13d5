"""``ModelPicker``: a dropdown of the server's local chat models, bound to the session default.

Choosing a model sets ``session.model`` (what ``%%ollama`` uses when no model is
named); ``%ollama model NAME`` (or anything calling ``session.set("model", ...)``)
moves the picker. Embedding-only models are left out (they cannot answer a prompt;
``%ollama models`` still lists them): a model counts as one when ``/api/tags`` says
its capabilities lack ``completion`` (Ollama >= 0.30), or, from older servers, when
its family is a BERT encoder. When the server cannot be reached the dropdown is
hidden and a clear one-line message says why, instead of an empty list.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ipywidgets as w
from traitlets import Bool, Int, Unicode

from ..client._errors import OllamaError
from ..client._session import session
from ._base import error_html, format_bytes, muted

__all__ = ["ModelPicker"]


_ENCODER_FAMILIES = ("bert", "nomic-bert", "jina-bert", "xlm-roberta", "roberta")


def embedding_only(entry: Any) -> bool:
    """True for a model that only embeds (no ``completion``): not a choice for chat."""
    raw = getattr(entry, "raw", entry) or {}
    caps = raw.get("capabilities")
    if isinstance(caps, list):
        return "completion" not in caps
    details = raw.get("details") or {}
    families = [details.get("family"), *(details.get("families") or [])]
    return any(str(f).lower() in _ENCODER_FAMILIES for f in families if f)


def _match(name: str, names: list[str]) -> str | None:
    """The listed name that ``name`` refers to (``llama3.2`` means ``llama3.2:latest``)."""
    if name in names:
        return name
    if ":" not in name.rsplit("/", 1)[-1] and f"{name}:latest" in names:
        return f"{name}:latest"
    if name.endswith(":latest") and name[: -len(":latest")] in names:
        return name[: -len(":latest")]
    return None


class ModelPicker(w.VBox):
    """Dropdown of local models (name and size) with a Refresh button and a status line.

    Parameters
    ----------
    client, host:
        Where to list models; by default the session's client (``OLLAMA_HOST``).
    bind:
        Keep ``value`` and ``session.model`` in step (both directions).
    description:
        The dropdown's label.
    """

    value = Unicode("", help="The selected model name ('' when nothing is selected).")
    bind = Bool(True, help="Keep value and the session's default model (session.model) in step.")
    error = Unicode("", help="Why the last refresh failed ('' when it worked).")
    count = Int(0, help="How many local models the last refresh found.")

    def __init__(
        self,
        *,
        client: Any = None,
        host: str | None = None,
        bind: bool = True,
        description: str = "Model",
        refresh: bool = True,
        **kwargs: Any,
    ) -> None:
        self._client, self._host = client, host
        self._syncing = False
        self._names: list[str] = []
        self._embedders: set[str] = set()
        self.dropdown = w.Dropdown(
            options=[], description=description, layout=w.Layout(width="auto", min_width="18em")
        )
        self.refresh_button = w.Button(
            description="Refresh",
            icon="refresh",
            tooltip="Reload the list of local models",
            layout=w.Layout(width="auto"),
        )
        self.status = w.HTML("")
        super().__init__(
            children=[w.HBox([self.dropdown, self.refresh_button]), self.status],
            bind=bind,
            **kwargs,
        )
        self.dropdown.observe(self._on_dropdown, "value")
        self.observe(self._on_value, "value")
        self.refresh_button.on_click(lambda _button: self.refresh())
        self._unobserve_session = session.observe(self._on_session)
        if bind:
            self.value = session.model or ""
        if refresh:
            self.refresh()

    # -- the model list ------------------------------------------------------------------
    def refresh(self) -> None:
        """Ask the server for its local models and rebuild the list (keeps the selection)."""
        from ..client._session import get_client

        self.refresh_button.disabled = True
        try:
            client = get_client(self._host, self._client)
            models = client.list().models
        except OllamaError as exc:
            self._show_error(exc.message)
            return
        except Exception as exc:  # anything else still gets a message, never an empty list
            self._show_error(f"{type(exc).__name__}: {exc}")
            return
        finally:
            self.refresh_button.disabled = False
        self.error = ""
        chat = [m for m in models if not embedding_only(m)]
        self._embedders = {m.name or m.model or "" for m in models if embedding_only(m)}
        entries = sorted(((m.name or m.model or "", m.size) for m in chat), key=lambda e: e[0])
        self._names = [name for name, _ in entries if name]
        self.count = len(self._names)
        self._options = [
            (f"{name}  ({format_bytes(size)})", name) for name, size in entries if name
        ]
        self.dropdown.layout.display = None
        self.dropdown.disabled = False
        if self._names:
            self.status.value = muted(
                f"{self.count} local chat model{'s' if self.count != 1 else ''}"
                + (f" ({len(self._embedders)} embedding-only not listed)" if self._embedders else "")
            )
        elif self._embedders:
            self.status.value = muted("Only embedding models here: pull a chat model with "
                                      "`%ollama pull NAME`.")
        else:
            self.status.value = muted("No local models yet: pull one with `%ollama pull NAME`.")
        self._select(self.value)

    def _show_error(self, message: str) -> None:
        self.error = message
        self.count = 0
        self._names = []
        self._options = []
        with self._quiet():
            self.dropdown.options = []
        self.dropdown.disabled = True
        self.dropdown.layout.display = "none"
        self.status.value = error_html(f"No model list: {message}")

    # -- keeping value, dropdown and session in step -------------------------------------
    def _select(self, name: str) -> None:
        """Show ``name`` in the dropdown, adding it as "not installed" if the server lacks it."""
        options = list(getattr(self, "_options", []))
        chosen = _match(name, self._names) if name else None
        if name and chosen is None and not self.error:
            embedder = _match(name, sorted(getattr(self, "_embedders", ())))
            note = "embedding model, cannot chat" if embedder else "not installed"
            options.append((f"{name}  ({note})", name))
            chosen = name
        with self._quiet():
            if list(self.dropdown.options) != options:
                self.dropdown.options = options
            self.dropdown.value = chosen
        if chosen and chosen != self.value:  # "llama3.2" becomes the listed "llama3.2:latest"
            self.value = chosen

    def _on_dropdown(self, change: dict[str, Any]) -> None:
        if self._syncing or change["new"] is None:
            return
        self.value = change["new"]

    def _on_value(self, change: dict[str, Any]) -> None:
        name = change["new"]
        if self.dropdown.value != name:
            self._select(name)
        if self.bind and name and _match(session.model or "", [name]) is None:
            session.set("model", name)

    def _on_session(self, name: str, value: Any) -> None:
        if name == "model" and self.bind and value and _match(str(value), [self.value]) is None:
            self.value = str(value)

    @contextmanager
    def _quiet(self) -> Iterator[None]:
        """Dropdown changes made here are the picker's own, not the user's."""
        self._syncing = True
        try:
            yield
        finally:
            self._syncing = False

    # -- lifecycle and text ----------------------------------------------------------------
    def close(self) -> None:
        """Stop following the session and close the widgets."""
        self._unobserve_session()
        for child in (self.dropdown, self.refresh_button, self.status, *self.children):
            child.close()
        super().close()

    def __repr__(self) -> str:
        if self.error:
            return f"ModelPicker(value={self.value!r}, server unreachable)"
        return f"ModelPicker(value={self.value!r}, {self.count} local chat models)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

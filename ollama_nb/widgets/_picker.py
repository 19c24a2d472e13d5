"""``ModelPicker``: a dropdown of the server's local models, bound to the session default.

Choosing a model sets ``session.model`` (what ``%%ollama`` uses when no model is
named); ``%ollama model NAME`` (or anything calling ``session.set("model", ...)``)
moves the picker. When the server cannot be reached the dropdown is hidden and a
clear one-line message says why, instead of an empty list.
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
        entries = sorted(((m.name or m.model or "", m.size) for m in models), key=lambda e: e[0])
        self._names = [name for name, _ in entries if name]
        self.count = len(self._names)
        self._options = [
            (f"{name}  ({format_bytes(size)})", name) for name, size in entries if name
        ]
        self.dropdown.layout.display = None
        self.dropdown.disabled = False
        if self._names:
            self.status.value = muted(f"{self.count} local model{'s' if self.count != 1 else ''}")
        else:
            self.status.value = muted("No local models yet: pull one with %ollama pull NAME.")
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
            options.append((f"{name}  (not installed)", name))
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
        return f"ModelPicker(value={self.value!r}, {self.count} local models)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

"""The ordinary output that keeps what a live widget shows, for the saved notebook.

Widget state is not saved in a notebook by default, so a reopened notebook, nbconvert
and GitHub cannot draw a widget: whatever it showed must also live in an ordinary
``display_data`` (safe ``text/html`` + ``text/plain``), the record. While the widget is
alive the two would show the same answer twice, so the widget carries a stylesheet
that hides its record; where the widget cannot be drawn, neither is its stylesheet,
and the record shows. One copy on screen, one in the file.
"""

from __future__ import annotations

import itertools
from typing import Any

__all__ = ["Record"]

_keys = itertools.count(1)


class Record:
    """One widget's record output(s) and the ``<style>`` that hides them while it is alive."""

    def __init__(self) -> None:
        self.key = f"ollama-nb-record-{next(_keys)}"
        self.handle: Any = None
        import ipywidgets as w

        #: add this to the widget's children: it draws nothing, its rules hide the record
        self.style = w.HTML(self._css(), layout=w.Layout(display="none"))

    def _css(self) -> str:
        key = self.key
        return (f"<style>.{key}{{display:none}}"
                f".jp-OutputArea-child:has(.{key}){{display:none}}</style>")

    def bundle(self, bundle: dict[str, str]) -> dict[str, str]:
        """``bundle`` with its HTML marked as this widget's record."""
        return {**bundle, "text/html": f'<div class="ollama-nb-record {self.key}">'
                                       f'{bundle.get("text/html", "")}</div>'}

    def show(self, bundle: dict[str, str], *, new: bool = False,
             metadata: dict[str, Any] | None = None) -> None:
        """Display the record (``new``: as another output), or update the one shown;
        ``metadata`` goes with it (the answers' provenance, kept in the saved notebook)."""
        from IPython.display import display

        marked = self.bundle(bundle)
        if new or self.handle is None:
            if new:  # another record: the style hides this one, earlier ones show again
                self.key = f"ollama-nb-record-{next(_keys)}"
                self.style.value = self._css()
                marked = self.bundle(bundle)
            self.handle = display(marked, raw=True, display_id=True, metadata=metadata)
        else:
            self.handle.update(marked, raw=True, metadata=metadata)

    def close(self) -> None:
        self.style.close()

"""The widgets package: its public names, its lazy import, and help on every traitlet."""

from __future__ import annotations

import subprocess
import sys

import ollama_nb.widgets as widgets


def test_all_names_are_exported() -> None:
    assert sorted(widgets.__all__) == ["ChatBox", "ModelPicker", "PullProgress", "StreamPane"]
    for name in widgets.__all__:
        assert getattr(widgets, name).__name__ == name


def test_importing_the_package_does_not_import_ipywidgets() -> None:
    code = "import sys, ollama_nb.widgets; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_traitlet_we_add_has_help() -> None:
    import ipywidgets

    for name in widgets.__all__:
        cls = getattr(widgets, name)
        base = ipywidgets.VBox if issubclass(cls, ipywidgets.VBox) else object
        inherited = set(base.class_traits()) if base is not object else set()
        ours = {k: t for k, t in cls.class_traits().items() if k not in inherited}
        assert ours, name
        for trait_name, trait in ours.items():
            assert trait.help, f"{name}.{trait_name} has no help="

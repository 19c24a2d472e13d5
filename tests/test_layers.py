"""The package's layers import one way: magics, widgets -> frames, display -> client; sandbox apart.

Every import in every module counts, including imports inside functions and under
``TYPE_CHECKING``: a lazy import still ties the layers together.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ollama_nb"

#: each layer and the layers it may import (besides itself)
ALLOWED: dict[str, set[str]] = {
    "client": set(),
    "display": {"client"},
    "frames": {"client", "display"},
    "widgets": {"client", "display", "frames"},
    "magics": {"client", "display", "frames", "widgets"},
    "sandbox": set(),
    # the top-level modules (the package's re-exports, the CLI, the demo) may use any layer
    "app": {"client", "display", "frames", "widgets", "magics", "sandbox"},
}


def _module(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else "app"


def _imports(path: Path, root: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, absolute module) for every ``ollama_nb`` import in ``path``."""
    module = _module(path, root)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("ollama_nb")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("ollama_nb"):
                continue
            if node.module is None or target == "ollama_nb":  # from . import x: x may be a module
                found += [(node.lineno, f"{target}.{a.name}") for a in node.names]
            else:
                found.append((node.lineno, target))
    return found


def _violations(root: Path = PACKAGE) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        source = _layer(_module(path, root))
        for line, target in _imports(path, root):
            layer = _layer(target)
            if layer == source or layer == "app" and target in ("ollama_nb", "ollama_nb.__version__"):
                continue
            if layer not in ALLOWED[source]:
                bad.append(f"{path.relative_to(root.parent)}:{line} ({source}) imports {target} ({layer})")
    return bad


def test_every_layer_imports_only_the_layers_below_it() -> None:
    assert _violations() == []


def test_the_sandbox_and_the_client_share_no_code() -> None:
    for path in PACKAGE.rglob("*.py"):
        layer = _layer(_module(path))
        targets = {_layer(t) for _, t in _imports(path)}
        if layer == "sandbox":
            assert targets <= {"sandbox"}, path
        if layer != "app":
            assert "sandbox" not in targets or layer == "sandbox", path


def test_the_check_sees_a_violation(tmp_path: Path) -> None:
    """The checker itself: an upward import (client -> magics) inside a function is caught."""
    fake = tmp_path / "ollama_nb"
    (fake / "client").mkdir(parents=True)
    (fake / "magics").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "client" / "__init__.py").write_text("")
    (fake / "magics" / "__init__.py").write_text("")
    (fake / "client" / "_x.py").write_text("def f():\n    from ..magics import _magics\n")
    (fake / "magics" / "_y.py").write_text("from ..client import _x\n")  # downward: allowed
    assert _violations(fake) == [
        "ollama_nb/client/_x.py:2 (client) imports ollama_nb.magics (magics)"]


def test_the_magics_import_circle_is_gone() -> None:
    """``_commands`` sees ``OllamaMagics`` only through ``_context.MagicSettings``."""
    path = PACKAGE / "magics" / "_commands.py"
    assert not any(t.endswith("._magics") for _, t in _imports(path))

"""The layer rule of docs/CONTRIBUTING.md, derived from the code: every import of an
eotrend module (at module level, inside functions, under TYPE_CHECKING alike) points to
the same package or to a lower layer, and the module graph has no circle.

The oracle is the source text itself (``ast``), read independently of any import system:
a lazy import inside a function counts, because it hides a circle rather than removing it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[2] / "scripts" / "eotrend"

# Lower numbers are lower layers; a module may import its own package and any lower layer.
LAYERS = {
    "core": 0,
    "engine": 1,
    "geo": 2,
    "sentinel3": 3,
    "stats": 3,
    "synthetic": 4,
    "sources": 5,
    "stages": 6,
    "cli": 7,
    "__main__": 8,
}


def module_name(path: Path) -> str:
    """``scripts/eotrend/geo/raster.py`` -> ``eotrend.geo.raster`` (packages by their
    ``__init__``)."""
    parts = ["eotrend", *path.relative_to(LIBRARY).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(LIBRARY.rglob("*.py"))}


def imported_modules(path: Path) -> set[str]:
    """The eotrend modules ``path`` imports, resolved to module names (``from eotrend.geo
    import raster`` names the module ``eotrend.geo.raster``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("eotrend")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("eotrend"):
            assert node.level == 0, f"{path}: use absolute imports"
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in MODULES else node.module)
    return found


GRAPH = {name: imported_modules(path) for name, path in MODULES.items()}


def layer(module: str) -> str | None:
    """The layer of ``eotrend.<layer>...``; None for the root package."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_module_belongs_to_a_layer():
    orphans = [m for m in MODULES if layer(m) is not None and layer(m) not in LAYERS]
    assert not orphans, f"modules outside the layers {sorted(LAYERS)}: {orphans}"


def test_the_root_package_imports_nothing_of_eotrend():
    assert GRAPH["eotrend"] == set()


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer(m)))
def test_imports_point_down_or_within_the_package(module):
    own = layer(module)
    upward = [
        target
        for target in sorted(GRAPH[module])
        if layer(target) not in (own, None) and LAYERS[layer(target)] >= LAYERS[own]
    ]
    assert not upward, f"{module} ({own}) imports from its own layer or above: {upward}"


def test_no_import_circles():
    """Depth-first search for a back edge; the circle is named in full."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(GRAPH.get(module, ())):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (circle := visit(target)):
                return circle
        state[module] = "done"
        stack.pop()
        return None

    for module in sorted(GRAPH):
        if module not in state and (circle := visit(module)):
            pytest.fail("import circle: " + " -> ".join(circle))


def test_the_graph_sees_known_edges():
    """The parser is not blind: edges that must exist are found (a test that cannot fail
    is a defect)."""
    assert "eotrend.core.errors" in GRAPH["eotrend.geo.raster"]
    assert "eotrend.engine.pool" in GRAPH["eotrend.stages.stack"]

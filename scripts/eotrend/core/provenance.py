"""What made an output: provenance tags of rasters, and the digests that say whether an
output is current (the settings it was made with, the code on its path)."""

from __future__ import annotations

import ast
import functools
import hashlib
import json
from pathlib import Path

from eotrend import __version__

PACKAGE = Path(__file__).resolve().parents[1]


def tags(config_digest: str | None = None, **extra: str) -> dict[str, str]:
    """GeoTIFF metadata items naming what made a file (values are strings)."""
    items = {"EOTREND_VERSION": __version__}
    if config_digest:
        items["EOTREND_CONFIG_DIGEST"] = config_digest
    items.update({key.upper(): str(value) for key, value in extra.items()})
    return items


def settings_digest(settings: dict) -> str:
    """SHA-256 (16 hex digits) of the settings an output depends on (JSON, keys sorted):
    the same for the same values however they were written in the config."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def code_digest(module: str) -> str:
    """SHA-256 (16 hex digits) of the source of ``module`` (e.g. ``eotrend.stages.scenes``)
    and of every eotrend module it imports, directly or not, lazy imports included: an
    edit elsewhere in the package (a figure, another stage) leaves it unchanged."""
    digest = hashlib.sha256()
    for name in sorted(_closure(module)):
        path = _source(name)
        digest.update(path.relative_to(PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _source(module: str) -> Path:
    """The file of an eotrend module (a package by its ``__init__.py``)."""
    parts = module.split(".")[1:]
    path = PACKAGE.joinpath(*parts)
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


@functools.cache
def _closure(module: str) -> frozenset[str]:
    """``module`` and the eotrend modules it reaches through imports (with the packages
    on the way, whose ``__init__`` runs on import)."""
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parents = [".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)]
        todo += [*parents, *_imports(name)]
    return frozenset(seen)


def _imports(module: str) -> set[str]:
    """The eotrend modules ``module``'s source imports (``from eotrend.geo import raster``
    names the module ``eotrend.geo.raster``)."""
    found = set()
    for node in ast.walk(ast.parse(_source(module).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("eotrend")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("eotrend"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if _exists(child) else node.module)
    return found


def _exists(module: str) -> bool:
    path = PACKAGE.joinpath(*module.split(".")[1:])
    return path.is_dir() or path.with_suffix(".py").is_file()

"""The base configs of the tests, in ``tests/configs/<name>.yaml``: each file is a config
of one dataset (``datasets: {<name>: ...}``), as a user would write it. A test takes a
fresh copy, changes what it is about, and writes it where its commands read it::

    config = base_config("sentinel3_synthetic", "geotiff_synthetic", river={"quicklooks": 1})
    lake = base_dataset("sentinel3_cdse", aoi=str(aoi), source={"cdse": fake.settings()})

Changes merge into the base: a dict merges key by key (at any depth), any other value
replaces the base's, and :data:`DROP` removes the key (the schema's default then applies).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DROP = object()  # a change that removes the key


def merged(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` merged in (see the module's docstring); both left as they
    are."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        if value is DROP:
            out.pop(key)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def base_config(*names: str, **changes: dict[str, Any]) -> dict:
    """The config made of the datasets of ``tests/configs/<name>.yaml`` for each name; a
    keyword names a dataset and holds the changes to merge into it."""
    datasets: dict[str, dict] = {}
    for name in names:
        datasets.update(yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())["datasets"])
    unknown = set(changes) - set(datasets)
    assert not unknown, f"no dataset {sorted(unknown)} in {names}"
    return {
        "datasets": {key: merged(value, changes.get(key, {})) for key, value in datasets.items()}
    }


def base_dataset(name: str, **changes: Any) -> dict:
    """The one dataset of ``tests/configs/<name>.yaml``, with ``changes`` merged in."""
    (dataset,) = base_config(name)["datasets"].values()
    return merged(dataset, changes)

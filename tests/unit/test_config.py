"""Config validation: the schema fills defaults and names a misspelt key."""

from __future__ import annotations

import copy

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from support.commands import REPO

SCHEMA = str(REPO / "schemas" / "config.schema.yaml")


def demo_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_demo_config_is_valid_and_gets_defaults():
    config = demo_config()
    validate(config, SCHEMA)
    river = config["datasets"]["amazon_olci"]
    assert river["trend"]["min_obs"] == 3  # schema default filled in
    assert river["composite"] == {"period": "none", "reducer": "max"}
    assert river["source"]["cache"] == "resources/products"


@pytest.mark.parametrize(
    ("path", "bad_key"),
    [
        ((), "dataset"),
        (("datasets", "amazon_olci"), "variabels"),
        (("datasets", "amazon_olci", "grid"), "resolutoin"),
        (("datasets", "ndvi_series", "trend"), "minobs"),
    ],
)
def test_misspelt_key_is_named(path, bad_key):
    config = demo_config()
    node = config
    for key in path:
        node = node[key]
    node[bad_key] = 1
    with pytest.raises(WorkflowError) as error:
        validate(config, SCHEMA)
    assert bad_key in str(error.value)


def test_every_schema_key_has_description_and_default():
    """Every property documents itself; optional properties state their default.

    Keys that one kind requires (``if``/``then``) have no sensible default.
    """
    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    conditional = {
        key for rule in schema["$defs"]["dataset"]["allOf"] for key in rule["then"]["required"]
    }

    def walk(node, where):
        for name, prop in node.get("properties", {}).items():
            here = f"{where}.{name}"
            target = prop
            if "$ref" in prop:
                target = {**schema["$defs"][prop["$ref"].split("/")[-1]], **prop}
            assert "description" in target, f"{here} has no description"
            required = name in node.get("required", []) or name in conditional
            assert required or "default" in prop, f"{here} has no default"
            walk(target, here)
            if isinstance(target.get("additionalProperties"), dict):
                walk(target["additionalProperties"], here)

    walk(schema, "config")
    walk(schema["$defs"]["dataset"], "dataset")


def test_wrong_type_is_rejected():
    config = copy.deepcopy(demo_config())
    config["datasets"]["amazon_olci"]["grid"]["resolution"] = "fine"
    with pytest.raises(WorkflowError, match=r"resolution|fine"):
        validate(config, SCHEMA)


def test_grid_none_is_short_for_extent_none_with_the_other_defaults():
    """The issue's `grid: none` is the mapping {extent: none}, every other grid key
    defaulted; any other word in its place is refused, naming the setting."""
    from eotrend.core.config import check_config
    from eotrend.core.errors import InputError

    config = demo_config()
    config["datasets"]["amazon_olci"]["grid"] = "none"
    check_config(config)
    grid = config["datasets"]["amazon_olci"]["grid"]
    assert grid["extent"] == "none"
    assert grid["resolution"] == 0.003 and grid["max_cells"] == 25_000_000
    assert config["datasets"]["ndvi_series"].get("grid", {}).get("extent", "aoi") == "aoi"
    config = demo_config()
    config["datasets"]["amazon_olci"]["grid"] = "nothing"
    with pytest.raises(InputError, match=r"datasets\.amazon_olci\.grid"):
        check_config(config)


def test_a_grid_larger_than_max_cells_is_refused_with_its_size_and_the_keys():
    """Two 1-degree squares 100 degrees apart on a 0.5-degree grid with a 2-cell margin:
    x from 0 to 101 (202 cells) and y from 0 to 11 (22 cells), plus 2 cells each side,
    is 206 x 26 = 5,356 cells (worked out by hand); max_cells 5,356 passes, 5,355 not."""
    import shapely

    from eotrend.core.errors import InputError
    from eotrend.geo.aoi import Feature
    from eotrend.geo.grids import check_aoi_grid

    features = [Feature("a", shapely.box(0, 0, 1, 1)), Feature("b", shapely.box(100, 10, 101, 11))]
    settings = {"crs": "EPSG:4326", "resolution": 0.5, "margin": 2, "max_cells": 5356}
    grid = check_aoi_grid(features, settings, "datasets.x.grid")
    assert (grid.width, grid.height) == (206, 26)
    with pytest.raises(InputError) as error:
        check_aoi_grid(features, {**settings, "max_cells": 5355}, "datasets.x.grid")
    text = str(error.value)
    assert text.startswith("datasets.x.grid: ")
    for needle in ("206 x 26 = 5,356 cells", "5,355", "grid.extent: feature", "grid: none"):
        assert needle in text, needle
    assert "grid.max_cells" in text


def test_the_schema_snakemake_validates_against_is_the_yaml_schema():
    """check_config gives Snakemake's validate a JSON copy of the schema (read without
    yte): it holds exactly what schemas/config.schema.yaml says, read by PyYAML."""
    import json
    from pathlib import Path

    from eotrend.core import config

    written = json.loads(Path(config._schema_as_json()).read_text(encoding="utf-8"))
    assert written == yaml.safe_load(config.SCHEMA.read_text(encoding="utf-8"))

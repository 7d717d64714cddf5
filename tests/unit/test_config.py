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

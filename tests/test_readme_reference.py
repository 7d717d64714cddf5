"""docs/configuration.md, the configuration reference, is the one generated from the config
schema (the README links to it)."""

from __future__ import annotations

import re

import yaml

from eotrend.core.schema_doc import reference, section
from support.commands import REPO

SCHEMA = REPO / "schemas" / "config.schema.yaml"
REFERENCE = REPO / "docs" / "configuration.md"
REGENERATE = "make docs"


def reference_section() -> str:
    return section(REFERENCE.read_text(encoding="utf-8"))


def test_reference_matches_schema():
    assert reference_section().strip() == reference(SCHEMA).strip(), (
        f"docs/configuration.md is out of date: run `{REGENERATE}`"
    )


def schema_keys() -> dict[str, dict[str, list]]:
    """Every object of the schema by dotted path (maps as `<name>`), each key with the
    enum values it allows: walked here independently of eotrend.core.schema_doc."""
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))

    def resolve(node: dict) -> dict:
        while "$ref" in node:
            target = schema
            for part in node["$ref"].split("/")[1:]:
                target = target[part]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    objects: dict[str, dict[str, list]] = {}

    def walk(node: dict, path: str) -> None:
        keys = objects.setdefault(path, {})
        for key, raw in node["properties"].items():
            child = resolve(raw)
            child_path = f"{path}.{key}" if path else key
            options = [resolve(option) for option in child.get("oneOf", [child])]
            keys[key] = [value for option in options for value in option.get("enum", [])]
            for option in options:
                if "properties" in option:
                    walk(option, child_path)
                if isinstance(option.get("additionalProperties"), dict):
                    walk(resolve(option["additionalProperties"]), f"{child_path}.<name>")

    walk(schema, "")
    return objects


def documented_rows() -> dict[str, dict[str, str]]:
    """The reference's tables: heading path -> key -> the row's text."""
    tables: dict[str, dict[str, str]] = {}
    rows: dict[str, str] = {}
    for line in reference_section().splitlines():
        if line.startswith("### "):
            heading = line.removeprefix("### ").strip()
            rows = tables.setdefault("" if heading == "Top level" else heading.strip("`"), {})
        elif match := re.match(r"\| `([^`]+)` \|", line):
            rows[match[1]] = line
    return tables


def test_every_schema_key_is_documented():
    documented = documented_rows()
    for path, keys in schema_keys().items():
        where = f"table of `{path or 'Top level'}`"
        assert path in documented, f"no {where} in docs/configuration.md: run `{REGENERATE}`"
        missing, extra = set(keys) - set(documented[path]), set(documented[path]) - set(keys)
        assert not missing and not extra, (
            f"{where}: missing {sorted(missing)}, extra {sorted(extra)}"
        )
        for key, values in keys.items():
            for value in values:
                assert f"`{value}`" in documented[path][key], f"{where}: {key} lacks {value}"

"""The configuration reference: Markdown tables generated from the config schema.

docs/configuration.md's reference section is this module's output, so the documentation of every
key, its allowed values and default cannot drift from the schema that validates configs
(tests/test_readme_reference.py fails when it does). Regenerate it with::

    PYTHONPATH=scripts python -m eotrend.core.schema_doc schemas/config.schema.yaml \\
        --write docs/configuration.md
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from eotrend.core.atomic import write_text

START = "<!-- config-reference:start (generated from schemas/config.schema.yaml) -->"
END = "<!-- config-reference:end -->"
MAP_ENTRY = "<name>"  # stands for a key the user chooses (a dataset's name)
PLURALS = {"string": "strings", "integer": "integers", "number": "numbers"}


@dataclass
class _Table:
    """One object of the schema: its dotted path and the rows of its keys."""

    path: str
    intro: str
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)


def reference(schema_path: str | os.PathLike[str]) -> str:
    """The configuration reference of the schema at ``schema_path``, as Markdown."""
    schema = yaml.safe_load(Path(schema_path).read_text(encoding="utf-8"))
    walker = _Walker(schema)
    walker.object_table("", schema, scope="", intro=schema.get("description", ""))
    parts = [
        "Generated from `schemas/config.schema.yaml`: edit the schema, then run "
        "`PYTHONPATH=scripts python -m eotrend.core.schema_doc schemas/config.schema.yaml "
        "--write docs/configuration.md` (or `make docs`). A path such as "
        f"`datasets.<name>.source.cdse` is a nested mapping in config.yaml; `{MAP_ENTRY}` is "
        "a dataset's name.\n"
    ]
    for table in walker.tables:
        parts.append(f"### {f'`{table.path}`' if table.path else 'Top level'}\n")
        if table.intro:
            parts.append(f"{_text(table.intro)}\n")
        lines = ["| key | type / allowed values | default | description |", "|---|---|---|---|"]
        lines += [f"| {' | '.join(row)} |" for row in table.rows]
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


class _Walker:
    """Depth-first walk of the schema's objects, following ``$ref``: each object's table
    is followed by the tables of the objects nested in it."""

    def __init__(self, schema: dict):
        self.schema = schema
        self.tables: list[_Table] = []
        # Conditional requirements by key path; a rule may concern a key of a nested
        # object, whose table comes later.
        self.conditions: dict[str, str] = {}

    def resolve(self, node: dict) -> dict:
        """``node`` with its ``$ref`` replaced by the target; the node's own keys
        (description, default) take precedence over the target's."""
        if "$ref" not in node:
            return node
        target = self.schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        own = {key: value for key, value in node.items() if key != "$ref"}
        return {**self.resolve(target), **own}

    def object_table(self, path: str, node: dict, scope: str, intro: str) -> None:
        """Add the table of the object ``node`` at ``path``, then its nested objects.

        ``scope`` is the path of the innermost map entry (a dataset): the conditions of
        if/then rules are written relative to it, as the descriptions do ("source.type").
        """
        table = _Table(path, intro)
        self.tables.append(table)
        self.conditions.update(_conditional_requirements(node, path, scope))
        nested = []
        for key, raw in node["properties"].items():
            child, child_path = self.resolve(raw), _join(path, key)
            kinds, subtables = self.describe(child, child_path, scope)
            nested += subtables
            table.rows.append(
                (
                    f"`{key}`",
                    kinds,
                    _default(
                        child, key in node.get("required", []), self.conditions.get(child_path)
                    ),
                    _text(child.get("description", "")),
                )
            )
        for child_path, child, child_scope, child_intro in nested:
            self.object_table(child_path, child, child_scope, child_intro)

    def describe(
        self, node: dict, path: str, scope: str
    ) -> tuple[str, list[tuple[str, dict, str, str]]]:
        """The type cell of ``node`` (a key at ``path`` within the map entry ``scope``) and
        the nested objects it opens (path, schema, scope, intro), whose tables follow."""
        if "oneOf" in node:
            cells, nested = [], []
            for option in node["oneOf"]:
                cell, subtables = self.describe(self.resolve(option), path, scope)
                cells.append(cell)
                # The table of an object alternative says which alternative it describes.
                intro = f"When `{path}` is an object:"
                nested += [
                    (sub_path, sub, sub_scope, intro) for sub_path, sub, sub_scope, _ in subtables
                ]
            return " or ".join(cells), nested
        if "properties" in node:
            return f"object: see `{path}`", [(path, node, scope, "")]
        if isinstance(node.get("additionalProperties"), dict):
            entry = self.resolve(node["additionalProperties"])
            entry_path = _join(path, MAP_ENTRY)
            cell = f"map of name → object: see `{entry_path}`"
            if "pattern" in node.get("propertyNames", {}):
                cell += f"; names match {_code(node['propertyNames']['pattern'])}"
            if node.get("minProperties"):
                cell += f"; at least {node['minProperties']}"
            intro = entry.get("description", "")
            return cell, [(entry_path, entry, entry_path, intro)]
        return _scalar(node), []


def _scalar(node: dict, plural: bool = False) -> str:
    """Type cell of a value that is not an object: enum, type with range or pattern,
    or a list of such values."""
    if "enum" in node:
        return "one of " + ", ".join(_code(_yaml(value)) for value in node["enum"])
    types = node["type"] if isinstance(node["type"], list) else [node["type"]]
    if types == ["array"]:
        cell = "list of " + _scalar(node["items"], plural=True)
        if node.get("minItems") is not None and node.get("minItems") == node.get("maxItems"):
            cell += f", exactly {node['minItems']}"
        elif node.get("minItems"):
            cell += f", at least {node['minItems']}"
        if node.get("uniqueItems"):
            cell += ", no duplicates"
        return cell
    cell = " or ".join(PLURALS.get(name, name) if plural else name for name in types)
    if "pattern" in node:
        cell += f" matching {_code(node['pattern'])}"
    return cell + _range(node)


def _range(node: dict) -> str:
    """The numeric bounds of ``node``: " from 1 to 20", " ≥ 0", " > 0" or ""."""
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        return f" from {low} to {high}"
    bounds = [
        f"{sign} {node[key]}"
        for key, sign in (
            ("minimum", "≥"),
            ("exclusiveMinimum", ">"),
            ("maximum", "≤"),
            ("exclusiveMaximum", "<"),
        )
        if key in node
    ]
    return " " + ", ".join(bounds) if bounds else ""


def _conditional_requirements(node: dict, path: str, scope: str) -> dict[str, str]:
    """What the if/then rules of the object ``node`` at ``path`` require, by the dotted
    path of the key concerned: "required when `kind` is `sentinel3`"."""
    notes: dict[str, list[str]] = {}
    for rule in node.get("allOf", []):
        condition = " and ".join(
            f"{_code(_relative(_join(path, key), scope))} is {_code(_yaml(value))}"
            for key, value in _constants(rule["if"])
        )
        demands: dict[str, list[str]] = {}
        for key_path, demand in _demands(rule["then"], path):
            demands.setdefault(key_path, []).append(demand)
        for key_path, words in demands.items():
            notes.setdefault(key_path, []).append(f"{' and '.join(words)} when {condition}")
    return {key_path: "; ".join(texts) for key_path, texts in notes.items()}


def _constants(node: dict, prefix: str = "") -> list[tuple[str, object]]:
    """The (dotted key, value) pairs an ``if`` schema tests with ``const``."""
    pairs = []
    for key, sub in node.get("properties", {}).items():
        if "const" in sub:
            pairs.append((prefix + key, sub["const"]))
        pairs += _constants(sub, f"{prefix}{key}.")
    return pairs


def _demands(node: dict, path: str) -> list[tuple[str, str]]:
    """The (key path, demand) pairs of a ``then`` schema: required keys, also in nested
    objects, and strings that must not be empty."""
    demands = [(_join(path, key), "required") for key in node.get("required", [])]
    for key, sub in node.get("properties", {}).items():
        if sub.get("minLength") == 1:
            demands.append((_join(path, key), "not empty"))
        demands += _demands(sub, _join(path, key))
    return demands


def _default(node: dict, required: bool, condition: str | None) -> str:
    """The default cell: the default value, "required", and any conditional requirement."""
    if "default" in node:
        cells = [_code(_yaml(node["default"]))]
    elif required:
        cells = ["required"]
    else:
        cells = [] if condition else ["not set"]
    if condition:
        cells.append(condition)
    return "; ".join(cells)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _relative(path: str, scope: str) -> str:
    return path.removeprefix(scope + ".") if scope else path


def _yaml(value: object) -> str:
    """``value`` as written in config.yaml (YAML flow style, quoted only where needed)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=math.inf, allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...")


def _code(text: str) -> str:
    """``text`` as inline code in a table cell (a pipe would end the cell: escaped)."""
    return f"`{text}`".replace("|", "\\|")


def _text(text: str) -> str:
    """Prose from the schema as one Markdown line: whitespace folded; outside inline
    code, characters Markdown would take as markup (``<name>`` as an HTML tag, ``*`` as
    emphasis) escaped; pipes escaped everywhere (they end table cells)."""
    pieces = re.split(r"(`[^`]*`)", " ".join(text.split()))
    escaped = (
        piece if piece.startswith("`") else re.sub(r"([\\<*])", r"\\\1", piece) for piece in pieces
    )
    return "".join(escaped).replace("|", "\\|")


def section(text: str) -> str:
    """The generated section of a file: the text between the two markers."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the file has no section between {START} and {END}")
    return text[start + len(START) : end]


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or write it into a file between the markers."""
    parser = argparse.ArgumentParser(
        prog="python -m eotrend.core.schema_doc", description=__doc__.splitlines()[0]
    )
    parser.add_argument("schema", help="the config schema (schemas/config.schema.yaml)")
    parser.add_argument(
        "--write", metavar="FILE", help="replace the section of FILE (docs/configuration.md)"
    )
    args = parser.parse_args(argv)
    text = reference(args.schema)
    if not args.write:
        sys.stdout.write(text)
        return 0
    readme = Path(args.write).read_text(encoding="utf-8")
    try:
        old = section(readme)
    except ValueError as error:
        print(f"{args.write}: {error}", file=sys.stderr)
        return 1
    start = readme.index(START) + len(START)
    write_text(args.write, f"{readme[:start]}\n\n{text}\n{readme[start + len(old) :]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The workflow config outside Snakemake: loading a dataset (validated, defaults filled in)
and the schema's default of any dataset key, so that the command line's defaults are the
workflow's (schemas/config.schema.yaml is the only place a default is written)."""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
from pathlib import Path

import yaml

from eotrend.core.atomic import write_text
from eotrend.core.errors import InputError

SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "config.schema.yaml"
HINT = "See schemas/config.schema.yaml for every key, its type and default."


def load_dataset(config_path: str | Path, name: str) -> dict:
    """The validated config of dataset ``name`` (schema defaults filled in).

    Raises:
        InputError: the file cannot be read, is not YAML, breaks the schema (the message
            names the setting and what is wrong, on one line) or lacks the dataset.
    """

    try:
        text = Path(config_path).read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(config_path, f"cannot be read ({error.strerror})", HINT) from error
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise InputError(
            config_path, f"is not valid YAML ({' '.join(str(error).split())})", HINT
        ) from error
    if not isinstance(config, dict):
        raise InputError(
            config_path, "is not a mapping of settings (it should start with `datasets:`)", HINT
        )
    try:
        check_config(config)
    except InputError as error:
        raise InputError(
            config_path, f"is not a valid eotrend config: {error.path}: {error.problem}", HINT
        ) from None
    if name not in config["datasets"]:
        raise InputError(
            config_path, f"has no dataset {name!r}", f"Known: {', '.join(config['datasets'])}."
        )
    return config["datasets"][name]


def check_config(config: dict) -> None:
    """Validate a workflow config against the schema, filling in its defaults (in place,
    shorthands such as ``grid: none`` written out), then check what the schema cannot say
    (a dataset's end before its start).

    Raises:
        InputError: the first problem, on one line: the setting at fault (``where``),
            what is wrong, and for a misspelt key the closest valid one.
    """
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    _expand_shorthands(config)
    try:
        validate(config, _schema_as_json())
    except WorkflowError as error:
        where, problem = _schema_problem(error)
        raise InputError(where, problem, HINT) from None
    for name, dataset in config["datasets"].items():
        if dataset["end"] < dataset["start"]:
            raise InputError(
                f"datasets.{name}.end",
                f"{dataset['end']} is before start {dataset['start']}",
                "Give an end on or after the start (both YYYY-MM-DD, inclusive).",
            )


def _expand_shorthands(config: dict) -> None:
    """Write the config's shorthands out in place, before the schema sees them: a dataset's
    ``grid: none`` is ``grid: {extent: none}`` (the schema describes the mapping only)."""
    datasets = config.get("datasets") if isinstance(config, dict) else None
    for dataset in datasets.values() if isinstance(datasets, dict) else ():
        if isinstance(dataset, dict) and dataset.get("grid") == "none":
            dataset["grid"] = {"extent": "none"}


def _schema_problem(error: Exception) -> tuple[str, str]:
    """(setting at fault, what is wrong with it) of a schema error, each on one line; an
    unknown key is named with the closest valid key of its mapping."""
    import difflib

    import jsonschema

    cause = error.__cause__ or error.__context__  # Snakemake raises while handling it
    if not isinstance(cause, jsonschema.exceptions.ValidationError):
        return "config", " ".join(str(error).split())
    where = ".".join(map(str, cause.absolute_path)) or "the top level"
    problem = " ".join(cause.message.split())
    if cause.validator == "additionalProperties":
        known = list(cause.schema.get("properties", {}))
        unknown = [key for key in cause.instance if key not in known]
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hints.append(
                f"{key!r} is not a setting here"
                + (f" (did you mean {close[0]!r}?)" if close else "")
            )
        problem = "; ".join(hints) + f"; valid: {', '.join(known)}"
    return where, problem


@functools.cache
def _schema() -> dict:
    # libyaml's loader: the pure-Python one took 0.2 s of every command's start.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(SCHEMA.read_text(encoding="utf-8"), Loader=loader)


@functools.cache
def _schema_as_json() -> str:
    """The path of the schema as JSON, which Snakemake's ``validate`` reads with the
    standard library before it tries YAML (through yte, pure Python: 0.4 s of every
    workflow start); written once per schema content to the temporary folder. The YAML
    schema itself where that folder cannot be written."""
    text = json.dumps(_schema())
    name = f"eotrend-schema-{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    path = Path(tempfile.gettempdir()) / name
    try:
        if not path.is_file():
            write_text(path, text)
    except OSError:
        return str(SCHEMA)
    return str(path)


def _resolve(node: dict) -> dict:
    """``node`` with its ``$ref`` (``#/$defs/<name>``) followed, own keys kept."""
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        node = {**_schema()["$defs"][name], **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def schema_default(key: str):
    """The schema's default of a dataset key, e.g. ``"trend.min_obs"`` -> 3 or
    ``"grid.resolution"`` -> 0.003 (a dotted path below ``datasets.<name>``).

    Raises:
        KeyError: the key is not in the schema or has no default (a programming error).
    """
    node = _resolve(_schema()["$defs"]["dataset"])
    for part in key.split("."):
        node = _resolve(node["properties"][part])
    if "default" not in node:
        raise KeyError(f"{key} has no default in {SCHEMA.name}")
    return node["default"]

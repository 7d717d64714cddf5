"""Loading a workflow config outside Snakemake (for the entry scripts' command lines)."""

from __future__ import annotations

from pathlib import Path

import yaml

from eotrend.errors import InputError

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


def load_dataset(config_path: str | Path, name: str) -> dict:
    """The validated config of dataset ``name`` (schema defaults filled in)."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    with open(config_path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    try:
        validate(config, str(SCHEMA))
    except WorkflowError as error:
        raise InputError(
            config_path,
            f"is not a valid eotrend config: {error}",
            "See schemas/config.schema.yaml.",
        ) from error
    if name not in config["datasets"]:
        raise InputError(
            config_path, f"has no dataset {name!r}", f"Known: {', '.join(config['datasets'])}."
        )
    return config["datasets"][name]

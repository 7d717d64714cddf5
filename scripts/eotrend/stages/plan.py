"""The plan stage (rule ``plan``, target ``results/<dataset>/download_plan.txt``): before
the download, what it would move, from the catalogue alone (no credentials, no product
bytes): the products the download would keep and skip, and per fetch mode the bytes, the
time at the service's documented limits and the share of the monthly transfer allowance
(:mod:`eotrend.sources.cdse.plan`). Only a cdse source downloads; for the others the
plan says so.
"""

from __future__ import annotations

import logging

from eotrend.core.atomic import write_text
from eotrend.sources.cdse.plan import format_plan, plan_download

log = logging.getLogger(__name__)


def run(*, dataset: str, settings: dict, plan: str) -> str:
    """Write dataset ``dataset``'s download plan to ``plan`` (text) and log it.

    Args:
        dataset: the dataset's name.
        settings: its validated config (schema defaults filled in).
        plan: the text file to write.

    Returns the plan's text.
    """
    source = settings["source"]["type"]
    if settings["kind"] == "sentinel3" and source == "cdse":
        text = format_plan(plan_download(dataset, settings))
    else:
        text = (
            f"Dataset {dataset} ({settings['kind']}, source {source}) downloads nothing from "
            "the Copernicus Data Space: only a cdse source has a download plan.\n"
        )
    write_text(plan, text)
    log.info("the download plan of dataset %s is in %s", dataset, plan)
    return text

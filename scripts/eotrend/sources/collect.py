"""Where a dataset's scenes or files come from: the download stage's sources.

Sources: ``synthetic`` (made here), ``local`` (``.SEN3`` folders and zips on disk), ``cdse``
(searched and downloaded from the Copernicus Data Space, :mod:`eotrend.sources.cdse`) and
``manifest`` (a frozen manifest of an earlier run: the same products, no search).

Products are kept in a cache folder that is never a rule output; a product already
there is not made or fetched again, and a failed or interrupted run deletes nothing in
it. Each source returns manifest entries; a product that could not be fetched or
unzipped is an entry with status ``failed`` and its reason (:func:`check_failures`
decides whether that stops the run).
"""

from __future__ import annotations

import logging
from pathlib import Path

from eotrend.core.errors import EotrendError, InputError
from eotrend.geo.aoi import read_aoi
from eotrend.sources.cdse.source import cdse_products
from eotrend.sources.frozen import frozen_products
from eotrend.sources.local import local_products
from eotrend.sources.scenelist import Entry
from eotrend.sources.synthetic import synthetic_products, synthetic_series

log = logging.getLogger(__name__)


# --- sentinel3: local ------------------------------------------------------------------


# --- sentinel3: cdse -------------------------------------------------------------------


# --- frozen manifest -------------------------------------------------------------------


# --- sentinel3: synthetic --------------------------------------------------------------


# --- geotiff: synthetic ----------------------------------------------------------------


# --- dispatch --------------------------------------------------------------------------


class DownloadError(EotrendError):
    """Products failed and the config says that fails the run (``on_failure: fail``)."""


def collect(
    name: str, dataset: dict, *, threads: int | None = None, mem_mb: float | None = None
) -> list[Entry]:
    """Manifest entries of one dataset (validated config with defaults), by its source.

    The synthetic source keeps its products in ``<cache>/<dataset>``; the others share
    ``<cache>`` (a product is the same whichever dataset asks for it).
    """
    source = dataset["source"]
    kind, source_type = dataset["kind"], source["type"]
    cache = Path(source["cache"])
    if source_type == "manifest":
        return frozen_products(dataset, cache, threads=threads, mem_mb=mem_mb)
    if kind == "sentinel3" and source_type == "synthetic":
        return synthetic_products(
            source["synthetic"],
            dataset["aoi"],
            cache / name,
            dataset["start"],
            dataset["end"],
            aoi_id=dataset.get("aoi_id"),
            threads=threads,
            mem_mb=mem_mb,
        )
    if kind == "sentinel3" and source_type == "local":
        return local_products(
            source["local"]["path"],
            dataset["start"],
            dataset["end"],
            read_aoi(dataset["aoi"], dataset.get("aoi_id")),
            cache=cache,
            threads=threads,
            mem_mb=mem_mb,
        )
    if kind == "sentinel3" and source_type == "cdse":
        return cdse_products(dataset, cache, threads=threads, mem_mb=mem_mb)
    if kind == "geotiff" and source_type == "synthetic":
        return synthetic_series(source["synthetic"], cache / name)
    raise InputError(
        f"datasets.{name}.source.type",
        f"{source_type!r} has nothing to download for a {kind} dataset",
        "Use the synthetic source, or list local files with `files`.",
    )


def check_failures(name: str, entries: list[Entry], on_failure: str) -> None:
    """Log every failed entry; with ``on_failure == "fail"`` raise DownloadError if any.

    Call it after writing the manifest: the record of what failed exists either way.
    """
    failed = [e for e in entries if e.status == "failed"]
    for entry in failed:
        log.warning("dataset %s: %s failed: %s", name, entry.name, entry.reason)
    if not failed:
        return
    if on_failure == "skip":
        log.warning(
            "dataset %s: %d of %d products failed and are left out (on_failure: skip)",
            name,
            len(failed),
            len(entries),
        )
        return
    raise DownloadError(
        f"dataset {name}: {len(failed)} of {len(entries)} products failed "
        f"(first: {failed[0].name}: {failed[0].reason}; all are listed in the log). Products "
        "already downloaded stay in the cache and are not fetched again: run again to retry "
        "the others, or set source.on_failure: skip to go on without them"
    )

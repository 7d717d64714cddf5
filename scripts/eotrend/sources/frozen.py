"""The ``manifest`` source: the products of a frozen manifest of an earlier run (the same
products, no search), fetched when the cache lacks them."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from eotrend.core.credentials import find_credentials
from eotrend.core.errors import InputError
from eotrend.sentinel3 import layout
from eotrend.sources.cdse.cache import (
    check_product,
    product_path,
)
from eotrend.sources.cdse.catalogue import product_by_id
from eotrend.sources.cdse.jobs import FetchJob
from eotrend.sources.cdse.perfile import record_needs
from eotrend.sources.cdse.settings import Settings
from eotrend.sources.cdse.transfer import fetch_all
from eotrend.sources.scenelist import Entry, read_entries

log = logging.getLogger(__name__)


def frozen_products(
    dataset: dict, cache: Path, *, threads: int | None = None, mem_mb: float | None = None
) -> list[Entry]:
    """The entries of a manifest from an earlier run, with the products' present paths.

    No search: rows that are not ``ok`` are kept as they are. An ``ok`` product is used
    where its row says if it is complete there, else from the cache; a sentinel3 product
    in neither place is fetched from CDSE by its ``source_id`` (with the ``source.cdse``
    settings and the catalogue MD5 of its ``checksum``), and is failed if that fails. A
    row fetched file by file (its ``fetch`` column) needs only the files its ``files``
    column lists, and is fetched again the same way; other rows need the whole product.

    Raises:
        InputError: a product is missing and cannot be fetched (a file, or no source_id),
            or a sentinel3 row's name is not a product name.
    """
    source = dataset["source"]
    path = source["manifest"]["path"]
    entries, missing = [], []
    for entry in read_entries(path):
        if entry.status != "ok":
            entries.append(entry)
            continue
        if dataset["kind"] == "sentinel3" and not layout.PRODUCT_NAME.match(entry.name):
            # Names become paths in the cache: only product names may (no "/", no "..").
            raise InputError(
                path,
                f"lists {entry.name!r}, which is not a Sentinel-3 OLCI product name",
                "Give a manifest.csv written by an earlier eotrend run of a sentinel3 dataset.",
            )
        found = _present(entry, cache)
        if found is None:
            missing.append(entry)
        else:
            entries.append(replace(entry, path=str(found)))
    lost = [e.name for e in missing if not e.source_id or dataset["kind"] != "sentinel3"]
    if lost:
        raise InputError(
            path,
            f"lists {len(lost)} product(s) found neither at their path nor in the cache "
            f"{cache}, with nothing to fetch them by (first: {lost[0]})",
            "Put them back, or point source.cache at the folder that holds them.",
        )
    if missing:
        settings = Settings.from_config(source["cdse"])
        variables = tuple(dataset["variables"])
        jobs = [
            FetchJob(
                e.name,
                e.source_id,
                str(cache),
                0,
                e.checksum,
                e.fetch or "zip",
                variables,
                product_by_id(settings, e.source_id).s3_path if e.fetch.startswith("s3") else "",
            )
            for e in missing
        ]
        log.info("frozen manifest: %d product(s) not in the cache, fetching them", len(jobs))
        odata = any(job.fetch in ("zip", "files") for job in jobs)
        credentials = find_credentials(settings.token_url) if odata else None
        results = fetch_all(jobs, settings, credentials, mem_mb=mem_mb)
        for entry, result in zip(missing, results, strict=True):
            if result.ok:
                entries.append(replace(entry, path=str(product_path(cache, entry.name))))
            else:
                entries.append(replace(entry, status="failed", path="", reason=result.reason))
    return entries


def _present(entry: Entry, cache: Path) -> Path | None:
    """Where a frozen entry's product is, complete: its recorded path, else the cache."""
    recorded = Path(entry.path) if entry.path else None
    if recorded is not None and recorded.is_file():
        return recorded  # a GeoTIFF of a series
    in_cache = product_path(cache, entry.name)
    needs = record_needs(entry.fetch, entry.files)
    for candidate in (recorded, in_cache):
        if candidate is not None and check_product(candidate, needs=needs) is None:
            return candidate
    return None

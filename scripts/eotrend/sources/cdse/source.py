"""The ``cdse`` source: search the Copernicus Data Space catalogue for the AOI and dates,
keep one product per sensing period, fetch what is not in the cache, one entry each."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import shapely

from eotrend.core.credentials import find_credentials
from eotrend.core.errors import InputError
from eotrend.geo.aoi import Feature, first_vertex_lon, read_aoi
from eotrend.sentinel3 import layout
from eotrend.sentinel3.footprint import ring_reaches
from eotrend.sources.cdse.cache import (
    product_path,
)
from eotrend.sources.cdse.catalogue import Product, search, search_polygons, select
from eotrend.sources.cdse.jobs import FetchJob
from eotrend.sources.cdse.perfile import cache_problem, fetch_record
from eotrend.sources.cdse.settings import Settings
from eotrend.sources.cdse.transfer import fetch_all
from eotrend.sources.entries import in_period, product_entry
from eotrend.sources.scenelist import Entry

log = logging.getLogger(__name__)


def catalogue_entry(product: Product, status: str, reason: str = "") -> Entry:
    """A manifest entry from a catalogue record (for products not in the cache)."""
    return Entry(
        name=product.name,
        sensing_start=product.start.isoformat(),
        sensing_stop=product.stop.isoformat(),
        platform=product.name[:3],
        source_id=product.id,
        size=product.size,
        checksum=product.md5,
        path="",
        status=status,
        reason=reason,
    )


def _catalogue_misses(footprint: shapely.Geometry | None, aoi: list[Feature]) -> bool:
    """Whether a catalogue footprint surely misses the AOI: neither as given (lon/lat)
    nor as rings on the sphere (a polar frame winding around the pole, which a lon/lat
    polygon misrepresents; what the catalogue returns for those is unverified). The
    product's own manifest footprint is checked again once it is downloaded."""
    if footprint is None or any(footprint.intersects(f.geometry) for f in aoi):
        return False
    lon0 = first_vertex_lon(aoi)
    parts = getattr(footprint, "geoms", [footprint])
    rings = [np.asarray(part.exterior.coords)[:, :2] for part in parts if hasattr(part, "exterior")]
    return not any(ring_reaches(ring, aoi, lon0) for ring in rings)


def cdse_products(
    dataset: dict, cache: Path, *, threads: int | None = None, mem_mb: float | None = None
) -> list[Entry]:
    """Search the catalogue for the dataset's AOI and period, keep one product per sensing
    period, download what the cache lacks; one entry per catalogue product.

    Skipped (with the reason): names that are not OLCI product names, products outside the
    period, whose catalogue footprint misses every AOI feature, offline ones (``Online``
    false: they must be ordered first; an online copy of the same acquisition is used
    instead), duplicates of a sensing period, and products whose own footprint misses the
    AOI. Credentials are looked up only when something must be downloaded.
    """
    settings = Settings.from_config(dataset["source"]["cdse"])
    variables = tuple(dataset["variables"])
    start, end = dataset["start"], dataset["end"]
    aoi = read_aoi(dataset["aoi"], ids=False)
    polygons = search_polygons([f.geometry for f in aoi])
    found = search(
        settings, polygons, date.fromisoformat(start), date.fromisoformat(end), aoi=dataset["aoi"]
    )
    if not found:
        raise InputError(
            dataset["aoi"],
            f"the catalogue at {settings.catalogue_url} has no {settings.product_type} product "
            f"over this AOI sensed {start}..{end}",
            "Check the AOI, the dates and source.cdse.product_type.",
        )
    entries, candidates = [], []
    for product in found:
        if not layout.PRODUCT_NAME.match(product.name):
            entries.append(catalogue_entry(product, "skipped", "not an OLCI product name"))
        elif not in_period(product.start, start, end):
            entries.append(catalogue_entry(product, "skipped", f"sensed outside {start}..{end}"))
        elif _catalogue_misses(product.footprint, aoi):
            entries.append(
                catalogue_entry(product, "skipped", "catalogue footprint does not reach the AOI")
            )
        elif not product.online:
            entries.append(
                catalogue_entry(
                    product,
                    "skipped",
                    "offline in the catalogue (Online=false): order it in the Data Workspace",
                )
            )
        else:
            candidates.append(product)
    kept, dropped = select(candidates)
    entries += [
        catalogue_entry(p, "skipped", dropped[p.name]) for p in candidates if p.name in dropped
    ]
    todo = [
        p
        for p in kept
        if cache_problem(product_path(cache, p.name), settings.fetch, variables) is not None
    ]
    log.info(
        "catalogue: %d products, %d kept (one per sensing period), %d in the cache, %d to fetch "
        "(fetch: %s)",
        len(found),
        len(kept),
        len(kept) - len(todo),
        len(todo),
        settings.fetch,
    )
    results = {}
    if todo:
        jobs = [
            FetchJob(p.name, p.id, str(cache), p.size, p.md5, settings.fetch, variables, p.s3_path)
            for p in todo
        ]
        credentials = find_credentials(settings.token_url) if settings.uses_odata else None
        fetched = fetch_all(jobs, settings, credentials, mem_mb=mem_mb)
        results = {r.name: r for r in fetched}
    for product in kept:
        result = results.get(product.name)
        if result is not None and not result.ok:
            entries.append(catalogue_entry(product, "failed", result.reason))
            continue
        path = product_path(cache, product.name)
        record = fetch_record(path, settings.fetch, variables, product.size)
        entry = product_entry(path, aoi=aoi)
        entries.append(replace(entry, source_id=product.id, checksum=product.md5, **record))
    return entries

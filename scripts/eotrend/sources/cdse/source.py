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
from eotrend.sentinel3.footprint import features_reached
from eotrend.sources.cdse.cache import (
    product_path,
)
from eotrend.sources.cdse.catalogue import Product, search, search_polygons, select
from eotrend.sources.cdse.jobs import FetchJob
from eotrend.sources.cdse.perfile import cache_problem, fetch_record
from eotrend.sources.cdse.settings import Settings
from eotrend.sources.cdse.transfer import fetch_all
from eotrend.sources.entries import feature_list, in_period, product_entry
from eotrend.sources.scenelist import Entry

log = logging.getLogger(__name__)


def catalogue_entry(product: Product, status: str, reason: str = "", features: str = "") -> Entry:
    """A manifest entry from a catalogue record (for products not in the cache);
    ``features``: the AOI features its catalogue footprint reaches."""
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
        features=features,
    )


def _catalogue_reach(
    footprint: shapely.Geometry | None, aoi: list[Feature], lon0: float
) -> str | None:
    """The AOI features a catalogue footprint reaches (the manifest's ``features``), ""
    when it surely reaches none, None when the footprint is unknown. A feature counts
    when the footprint reaches it as given (lon/lat) or as rings on the sphere (a polar
    frame winding around the pole is misrepresented by a lon/lat polygon; what the
    catalogue returns for those is unverified). The product's own manifest footprint is
    checked again once it is downloaded."""
    if footprint is None:
        return None
    geometries = np.array([f.geometry for f in aoi], dtype=object)
    hits = set(np.flatnonzero(shapely.intersects(footprint, geometries)).tolist())
    parts = getattr(footprint, "geoms", [footprint])
    rings = [np.asarray(part.exterior.coords)[:, :2] for part in parts if hasattr(part, "exterior")]
    hits.update(int(i) for ring in rings for i in features_reached(ring, aoi, lon0))
    return feature_list(aoi, sorted(hits))


def _skip_reason(product: Product, reach: str | None, start: str, end: str) -> str:
    """Why a catalogue product is not a candidate ("" when it is): not an OLCI product
    name, sensed outside the period, a footprint that reaches no feature (``reach`` ""),
    or offline."""
    if not layout.PRODUCT_NAME.match(product.name):
        return "not an OLCI product name"
    if not in_period(product.start, start, end):
        return f"sensed outside {start}..{end}"
    if reach == "":
        return "catalogue footprint does not reach the AOI"
    if not product.online:
        return "offline in the catalogue (Online=false): order it in the Data Workspace"
    return ""


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
    aoi = read_aoi(dataset["aoi"], dataset.get("aoi_id"))
    lon0 = first_vertex_lon(aoi)
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
    entries, candidates, reach = [], [], {}
    for product in found:
        reach[product.name] = _catalogue_reach(product.footprint, aoi, lon0)
        reason = _skip_reason(product, reach[product.name], start, end)
        if reason:
            entries.append(catalogue_entry(product, "skipped", reason, reach[product.name] or ""))
        else:
            candidates.append(product)
    kept, dropped = select(candidates)
    entries += [
        catalogue_entry(p, "skipped", dropped[p.name], reach[p.name] or "")
        for p in candidates
        if p.name in dropped
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
            entries.append(
                catalogue_entry(product, "failed", result.reason, reach[product.name] or "")
            )
            continue
        path = product_path(cache, product.name)
        record = fetch_record(path, settings.fetch, variables, product.size)
        entry = product_entry(path, aoi=aoi)
        entries.append(replace(entry, source_id=product.id, checksum=product.md5, **record))
    return entries

"""Scene-list entries made from what a source found: a product, a name, a folder."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from eotrend.core.errors import InputError
from eotrend.geo.aoi import Feature, first_vertex_lon
from eotrend.sentinel3 import layout, reader
from eotrend.sentinel3.footprint import product_features
from eotrend.sources.cdse.cache import (
    check_product,
)
from eotrend.sources.scenelist import Entry, folder_size


def in_period(moment: datetime, start: str, end: str) -> bool:
    """Whether a sensing time falls within [start, end] (inclusive dates)."""
    return date.fromisoformat(start) <= moment.date() <= date.fromisoformat(end)


def product_entry(
    path: Path, status: str = "ok", reason: str = "", aoi: list[Feature] | None = None
) -> Entry:
    """A manifest entry for a product folder, from its own manifest.

    With ``aoi``, the entry lists the features the product's footprint reaches, and a
    product that reaches none is marked skipped.
    """
    product = reader.open_product(path)
    reached = ""
    if aoi is not None:
        hits = product_features(path, aoi, first_vertex_lon(aoi))
        reached = feature_list(aoi, hits)
        if status == "ok" and not len(hits):
            status, reason = "skipped", "footprint does not reach the AOI"
    return Entry(
        name=product.name,
        sensing_start=product.sensing_start.isoformat(),
        sensing_stop=product.sensing_stop.isoformat(),
        platform=product.name[:3],
        source_id="",
        size=folder_size(path),
        checksum="",
        path=str(path),
        status=status,
        reason=reason,
        features=reached,
    )


def feature_list(aoi: list[Feature], indices) -> str:
    """The names of ``aoi[i]`` for each index, joined by ``;`` (the manifest's
    ``features``)."""
    return ";".join(aoi[i].name for i in indices)


def name_entry(name: str, status: str, reason: str, path: str | Path = "", size: int = 0) -> Entry:
    """A manifest entry from a product name alone (sensing times from the name, to the
    second): for products that were not, or could not be, unzipped."""
    fields_ = layout.PRODUCT_NAME.match(name)
    start, stop = (
        datetime.strptime(fields_[k], "%Y%m%dT%H%M%S").replace(tzinfo=UTC).isoformat()
        for k in ("start", "stop")
    )
    return Entry(name, start, stop, name[:3], "", size, "", str(path), status, reason)


def folder_entry(path: Path, aoi: list[Feature] | None) -> Entry:
    """The entry of a local ``.SEN3`` folder: failed, with the reason, when the product is
    damaged (a required file missing, a file shorter or longer than its manifest says, a
    broken manifest), so that one bad copy among many does not stop the search."""
    problem = check_product(path, complete=False)
    if problem is None:
        try:
            return product_entry(path, aoi=aoi)
        except InputError as error:
            problem = error.problem
    name = path.name.removesuffix(".SEN3")
    return name_entry(name, "failed", f"damaged product: {problem}", path, folder_size(path))

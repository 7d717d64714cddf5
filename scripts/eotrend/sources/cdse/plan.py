"""A download plan: what a cdse dataset's download would move, from the catalogue alone.

The catalogue is searched as the download stage searches it (:func:`find_products`: no
credentials, no product bytes). For the products the download would keep, per fetch mode
(``source.cdse.fetch``):

* ``zip``: the catalogue's ``ContentLength`` of each zip (CDSE docs, APIs/OData);
* ``files`` and ``s3_files``: the files a run reads (:func:`eotrend.sentinel3.layout.
  needed_files`), at the sizes the product's own manifest lists when it is in the cache,
  else at what those files weigh in a real full frame
  (:data:`eotrend.sentinel3.layout.TYPICAL_FILE_BYTES`): an estimate, and said so;
* ``s3_windows``: an estimate, said so, of what the scenes jobs read per scene (plus the
  manifests the cache lacks): the manifest, the tie-point grid, a few ranges of HDF5
  metadata per file and, per file read, the chunks the AOI's features cover, from each
  feature's extent in pixels (270 x 294 m, the real manifests' ``acSpatialSampling`` and
  ``alSpatialSampling``) and an assumed chunking (:data:`ASSUMED_CHUNKS`: real products'
  chunking is not documented), at the file's typical bytes per pixel.

A product already complete in the cache for a mode moves nothing in that mode. Times are
at the service's documented limits for a general user, 4 concurrent connections of
20 MB/s each, and the share is of the 12 TB a user may transfer per 30 days (CDSE docs,
Quotas: https://documentation.dataspace.copernicus.eu/Quotas.html); MB and TB are 10^6
and 10^12 bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from eotrend.geo.aoi import Feature, mean_lon, read_aoi
from eotrend.geo.geometry import EARTH_RADIUS_M, unwrap_geometry
from eotrend.sentinel3 import layout
from eotrend.sentinel3.coverage import area_km2
from eotrend.sources.cdse.cache import product_path
from eotrend.sources.cdse.catalogue import Product
from eotrend.sources.cdse.perfile import cache_problem
from eotrend.sources.cdse.settings import FETCH_MODES, Settings
from eotrend.sources.cdse.source import find_products
from eotrend.sources.scenelist import Entry

CONNECTIONS = 4
CONNECTION_BYTES_PER_S = 20e6
MONTHLY_BYTES = 12e12
QUOTAS_URL = "https://documentation.dataspace.copernicus.eu/Quotas.html"
ASSUMED_CHUNKS = (1024, 1024)
"""The chunk shape the s3_windows estimate assumes (rows, columns)."""
METADATA_RANGES = 4
"""Ranges of ``s3_block_kib`` of HDF5 metadata a scene reads per file it opens
(bench/fetch_bench.py measured two to three)."""
PIXEL_KM = (0.294, 0.270)
"""Along-track and across-track pixel spacing at nadir, km."""


@dataclass(frozen=True)
class ModeCost:
    """What one fetch mode would move: bytes, the products that cost them, and where the
    figure comes from (``how``; ``estimate`` when it is one)."""

    mode: str
    bytes: int
    products: int
    how: str
    estimate: bool

    @property
    def seconds(self) -> float:
        """The time the bytes take at the service's limits (4 x 20 MB/s)."""
        return self.bytes / (CONNECTIONS * CONNECTION_BYTES_PER_S)

    @property
    def share(self) -> float:
        """The fraction of the monthly transfer allowance (12 TB per 30 days)."""
        return self.bytes / MONTHLY_BYTES


@dataclass(frozen=True)
class Plan:
    """A dataset's download plan: the products kept and skipped, and each mode's cost."""

    dataset: str
    settings: Settings
    aoi: str
    start: str
    end: str
    kept: list[Product]
    skipped: list[Entry]
    costs: list[ModeCost]
    pixels: int


def plan_download(name: str, dataset: dict) -> Plan:
    """The download plan of a cdse dataset (validated config, defaults filled in)."""
    settings = Settings.from_config(dataset["source"]["cdse"])
    cache = Path(dataset["source"]["cache"])
    features = read_aoi(dataset["aoi"], dataset.get("aoi_id"))
    skipped, kept, _ = find_products(dataset, settings, features)
    variables = tuple(dataset["variables"])
    typical = layout.TYPICAL_FILE_BYTES.get(settings.product_type)
    costs = [
        _zip_cost(kept, cache, typical),
        *(_files_cost(mode, kept, cache, variables, typical) for mode in ("files", "s3_files")),
        _windows_cost(kept, cache, variables, typical, features, settings.s3_block_kib),
    ]
    assert {c.mode for c in costs} == set(FETCH_MODES)
    return Plan(
        name,
        settings,
        str(dataset["aoi"]),
        dataset["start"],
        dataset["end"],
        kept,
        skipped,
        costs,
        round(sum(aoi_pixels(f) for f in features)),
    )


def _todo(kept: list[Product], cache: Path, mode: str, variables: tuple[str, ...]) -> list:
    """The products the cache lacks (in part) for ``mode``."""
    return [p for p in kept if cache_problem(product_path(cache, p.name), mode, variables)]


def _zip_cost(kept: list[Product], cache: Path, typical: dict | None) -> ModeCost:
    todo = _todo(kept, cache, "zip", ())
    listed = [p.size for p in todo if p.size]
    unknown = len(todo) - len(listed)
    how = f"the catalogue's ContentLength of {len(listed)} products"
    total = sum(listed)
    if unknown:
        per = sum(typical.values()) if typical else 0
        total += unknown * per
        how += (
            f"; {unknown} without one counted as a real full frame ({per} bytes, estimate)"
            if typical
            else f"; {unknown} without one not counted (no estimate for this product type)"
        )
    return ModeCost("zip", total, len(todo), how, bool(unknown))


def _files_cost(
    mode: str,
    kept: list[Product],
    cache: Path,
    variables: tuple[str, ...],
    typical: dict | None,
) -> ModeCost:
    """The files a run reads, from each product's manifest in the cache, else typical."""
    todo = _todo(kept, cache, mode, variables)
    total = from_manifest = 0
    for product in todo:
        folder = product_path(cache, product.name)
        manifest = folder / layout.MANIFEST
        if manifest.is_file():
            listed = layout.listed_files(manifest)
            sizes = {name: item.size or 0 for name, item in listed.items()}
            from_manifest += 1
        elif typical:
            listed = {n: layout.Listed(n, b, "") for n, b in typical.items()}
            sizes = dict(typical)
        else:
            continue
        files, unresolved = layout.needed_files(
            listed, variables, layout.product_baseline(product.name)
        )
        total += sum(sizes.get(n, 0) for n in files if not (folder / n).is_file())
        values = [b for n, b in sizes.items() if n.endswith(".nc") and "coordinates" not in n]
        total += len(unresolved) * max(values, default=0)
    estimated = len(todo) - from_manifest
    how = f"the files a run reads: {from_manifest} products from their manifest in the cache"
    if estimated:
        how += (
            f", {estimated} at a real full frame's file sizes (estimate)"
            if typical
            else f", {estimated} not counted (no estimate for this product type)"
        )
    return ModeCost(mode, total, len(todo), how, bool(estimated))


def _windows_cost(
    kept: list[Product],
    cache: Path,
    variables: tuple[str, ...],
    typical: dict | None,
    features: list[Feature],
    block_kib: int,
) -> ModeCost:
    """The manifests the cache lacks and, per scene, what its scenes job reads (estimate)."""
    if not typical:
        return ModeCost("s3_windows", 0, 0, "no estimate for this product type", True)
    manifests = len(_todo(kept, cache, "s3_windows", variables))
    per_scene = windows_bytes(features, variables, typical, ASSUMED_CHUNKS, block_kib)
    total = manifests * typical[layout.MANIFEST] + len(kept) * per_scene
    how = (
        f"estimate: {manifests} manifests, and per scene {per_scene} bytes read by its scenes "
        f"job (the tie-point grid, HDF5 metadata and the chunks the AOI covers, assuming "
        f"{ASSUMED_CHUNKS[0]} x {ASSUMED_CHUNKS[1]} chunks) for {len(kept)} scenes"
    )
    return ModeCost("s3_windows", total, len(kept), how, True)


def aoi_pixels(feature: Feature) -> float:
    """The pixels a feature covers (its area over a nadir pixel's)."""
    return area_km2(feature.geometry) / (PIXEL_KM[0] * PIXEL_KM[1])


def feature_extent(feature: Feature) -> tuple[float, float]:
    """A feature's extent in pixels (rows north-south, columns east-west)."""
    x0, y0, x1, y1 = unwrap_geometry(feature.geometry, mean_lon([feature])).bounds
    km = math.pi * EARTH_RADIUS_M / 180e3
    rows = (y1 - y0) * km / PIXEL_KM[0]
    cols = (x1 - x0) * km * math.cos(math.radians((y0 + y1) / 2)) / PIXEL_KM[1]
    return max(rows, 1.0), max(cols, 1.0)


def windows_bytes(
    features: list[Feature],
    variables: tuple[str, ...],
    typical: dict[str, int],
    chunks: tuple[int, int],
    block_kib: int,
) -> int:
    """What one scene's job reads from the object store (estimate): the manifest is not
    read again; the tie-point grid whole; ``METADATA_RANGES`` ranges of ``block_kib`` per
    file; per file read (geo coordinates, flags, each variable's), the chunks the
    features' extents cover on average (a box of h x w pixels placed at random covers
    (1 + (h - 1) / R) (1 + (w - 1) / C) chunks of R x C), at the file's bytes per pixel,
    at most the file."""
    listed = {n: layout.Listed(n, b, "") for n, b in typical.items()}
    files, unresolved = layout.needed_files(listed, variables, "")
    reads = [typical[n] for n in files if n not in (layout.MANIFEST, "tie_geo_coordinates.nc")]
    values = [b for n, b in typical.items() if n.endswith(".nc") and "coordinates" not in n]
    reads += [max(values)] * len(unresolved)  # an unknown variable's file: the largest
    covered = sum(
        (1 + (h - 1) / chunks[0]) * (1 + (w - 1) / chunks[1])
        for h, w in map(feature_extent, features)
    )
    total = typical["tie_geo_coordinates.nc"]
    for size in reads:
        total += min(size, round(covered * chunks[0] * chunks[1] * size / layout.FRAME_PIXELS))
    total += (len(reads) + 1) * METADATA_RANGES * block_kib * 1024
    return int(total)


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"


def _size(count: int) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.2f} {unit}"
    return f"{count} B"


def format_plan(plan: Plan) -> str:
    """The plan as text: a header, a table of the modes, the products."""
    settings = plan.settings
    lines = [
        f"Download plan of dataset {plan.dataset}: {settings.product_type} over {plan.aoi} "
        f"(about {plan.pixels} pixels), sensed {plan.start}..{plan.end}; configured fetch: "
        f"{settings.fetch}",
        f"Catalogue {settings.catalogue_url}: {len(plan.kept) + len(plan.skipped)} products "
        f"found, {len(plan.kept)} kept (one per sensing period), {len(plan.skipped)} skipped. "
        "No product bytes were read.",
        f"Service limits (general user; {QUOTAS_URL}): {CONNECTIONS} connections x "
        f"{CONNECTION_BYTES_PER_S / 1e6:g} MB/s, {MONTHLY_BYTES / 1e12:g} TB per 30 days.",
        "",
        f"| fetch | bytes | size | time at {CONNECTIONS} x {CONNECTION_BYTES_PER_S / 1e6:g} MB/s "
        f"| share of {MONTHLY_BYTES / 1e12:g} TB per 30 days | products | from |",
        "|---|---|---|---|---|---|---|",
    ]
    for cost in plan.costs:
        lines.append(
            f"| {cost.mode} | {cost.bytes} | {_size(cost.bytes)}"
            f"{' (estimate)' if cost.estimate else ''} | {cost.seconds:.6g} s "
            f"({_duration(cost.seconds)}) | {100 * cost.share:.6g} % | {cost.products} "
            f"| {cost.how} |"
        )
    lines += ["", "Products kept (name, sensing start, ContentLength bytes):"]
    lines += [f"{p.name} {p.start.isoformat()} {p.size}" for p in plan.kept]
    if plan.skipped:
        lines += ["", "Products skipped (name, reason):"]
        lines += [f"{e.name} {e.reason}" for e in plan.skipped]
    return "\n".join(lines) + "\n"

"""Where a dataset's scenes or files come from: the download stage's sources.

Sources: ``synthetic`` (made here), ``local`` (``.SEN3`` folders and zips on disk), ``cdse``
(searched and downloaded from the Copernicus Data Space, :mod:`eotrend.download`) and
``manifest`` (a frozen manifest of an earlier run: the same products, no search).

Products are kept in a cache folder that is never a rule output; a product already
there is not made or fetched again, and a failed or interrupted run deletes nothing in
it. Each source returns manifest entries; a product that could not be fetched or
unzipped is an entry with status ``failed`` and its reason (:func:`check_failures`
decides whether that stops the run).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import shapely

from eotrend import olci
from eotrend.aoi import Feature, read_aoi
from eotrend.credentials import find_credentials
from eotrend.dates import date_from_name
from eotrend.download.cache import (
    ProductError,
    check_product,
    install_zip,
    product_lock,
    product_path,
)
from eotrend.download.catalogue import Product, product_by_id, search, search_polygons, select
from eotrend.download.perfile import cache_problem, fetch_record, record_needs
from eotrend.download.settings import Settings
from eotrend.download.transfer import FetchJob, fetch_all
from eotrend.errors import EotrendError, InputError
from eotrend.footprint import reaches, ring_reaches
from eotrend.limits import plan_workers
from eotrend.locating import aoi_lon0
from eotrend.manifest import Entry, folder_size, read_entries
from eotrend.parallel import Task, run_tasks

log = logging.getLogger(__name__)


def in_period(moment: datetime, start: str, end: str) -> bool:
    """Whether a sensing time falls within [start, end] (inclusive dates)."""
    return date.fromisoformat(start) <= moment.date() <= date.fromisoformat(end)


def product_entry(
    path: Path, status: str = "ok", reason: str = "", aoi: list[Feature] | None = None
) -> Entry:
    """A manifest entry for a product folder, from its own manifest.

    With ``aoi``, a product whose footprint misses every feature is marked skipped.
    """
    product = olci.open_product(path)
    if aoi is not None and status == "ok" and not reaches(path, aoi, aoi_lon0(aoi)):
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
    )


# --- sentinel3: local ------------------------------------------------------------------


def name_entry(name: str, status: str, reason: str, path: str | Path = "", size: int = 0) -> Entry:
    """A manifest entry from a product name alone (sensing times from the name, to the
    second): for products that were not, or could not be, unzipped."""
    fields_ = olci.PRODUCT_NAME.match(name)
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


def zip_product_name(path: Path) -> str | None:
    """The product name of ``<name>.SEN3.zip`` or ``<name>.zip``, or None."""
    name = path.name.removesuffix(".zip").removesuffix(".SEN3")
    return name if path.name.endswith(".zip") and olci.PRODUCT_NAME.match(name) else None


def unzip_task(zip_path: str, cache: str, name: str) -> str:
    """Worker task: put a local product zip into the cache (unless there); returns ""
    or why it could not be used."""
    cache_path = Path(cache)
    with product_lock(cache_path, name):
        if check_product(product_path(cache_path, name)) is None:
            return ""
        try:
            install_zip(Path(zip_path), cache_path, name)
        except ProductError as error:
            return str(error)
    return ""


def local_products(
    folder: str | Path,
    start: str,
    end: str,
    aoi: list[Feature] | None = None,
    *,
    cache: str | Path | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> list[Entry]:
    """Every product under ``folder`` (recursively) sensed within [start, end]: ``.SEN3``
    folders, and with ``cache`` also ``<name>.SEN3.zip``/``<name>.zip`` files.

    Folders and files whose name is not a product name are ignored; a zip whose product is
    also there as a folder is ignored. Zips sensed within the period are unzipped (safely,
    verified) into ``cache``; one that cannot be is listed as failed with the reason, and
    so is a damaged folder (see :func:`folder_entry`). Products outside the period or (with
    ``aoi``) whose footprint misses the AOI are listed as skipped with the reason.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            folder,
            "is not a folder",
            "Set source.local.path to the folder holding your .SEN3 products.",
        )
    outside = f"sensed outside {start}..{end}"
    entries = []
    folders = [
        path
        for path in sorted(folder.rglob("*.SEN3"))
        if path.is_dir() and olci.PRODUCT_NAME.match(path.name)
    ]
    as_folders = {path.name.removesuffix(".SEN3") for path in folders}
    for path in folders:
        # The period is read from the name, so that products outside it are not opened.
        entry = name_entry(path.name.removesuffix(".SEN3"), "skipped", outside, path)
        if in_period(datetime.fromisoformat(entry.sensing_start), start, end):
            entry = folder_entry(path, aoi)
        else:
            entry = replace(entry, size=folder_size(path))
        entries.append(entry)
    zips = {}
    if cache is not None:
        for path in sorted(folder.rglob("*.zip")):
            name = zip_product_name(path)
            if path.is_file() and name and name not in as_folders:
                zips.setdefault(name, path)
    wanted = []
    for name, path in zips.items():
        entry = name_entry(name, "skipped", outside, path, path.stat().st_size)
        if in_period(datetime.fromisoformat(entry.sensing_start), start, end):
            wanted.append((name, path))
        else:
            entries.append(entry)
    todo = [
        (name, path)
        for name, path in wanted
        if check_product(product_path(cache, name)) is not None
    ]
    problems = {}
    if todo:
        tasks = [Task(name, (str(path), str(cache), name)) for name, path in todo]
        plan = plan_workers(len(tasks), threads=threads, mem_mb=mem_mb, task_mem_mb=150)
        done = run_tasks(unzip_task, tasks, plan, label="unzip", logger=log, inline_single=True)
        problems = {name: problem for (name, _), problem in zip(todo, done, strict=True)}
    for name, path in wanted:
        if problems.get(name):
            entries.append(name_entry(name, "failed", problems[name], "", path.stat().st_size))
        else:
            entries.append(product_entry(product_path(cache, name), aoi=aoi))
    if not entries:
        raise InputError(
            folder,
            "holds no .SEN3 product folder or zip",
            "Put the products (folders or zips) there, or point source.local.path elsewhere.",
        )
    return entries


# --- sentinel3: cdse -------------------------------------------------------------------


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
    lon0 = aoi_lon0(aoi)
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
    aoi = read_aoi(dataset["aoi"])
    polygons = search_polygons([f.geometry for f in aoi])
    found = search(settings, polygons, date.fromisoformat(start), date.fromisoformat(end))
    if not found:
        raise InputError(
            dataset["aoi"],
            f"the catalogue at {settings.catalogue_url} has no {settings.product_type} product "
            f"over this AOI sensed {start}..{end}",
            "Check the AOI, the dates and source.cdse.product_type.",
        )
    entries, candidates = [], []
    for product in found:
        if not olci.PRODUCT_NAME.match(product.name):
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
        fetched = fetch_all(jobs, settings, credentials, threads=threads, mem_mb=mem_mb)
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


# --- frozen manifest -------------------------------------------------------------------


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
        if dataset["kind"] == "sentinel3" and not olci.PRODUCT_NAME.match(entry.name):
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
        results = fetch_all(jobs, settings, credentials, threads=threads, mem_mb=mem_mb)
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


# --- sentinel3: synthetic --------------------------------------------------------------


def synthetic_scene_specs(settings: dict, aoi_path: str | Path) -> list:
    """The scenes of the synthetic source: ``scenes_per_year`` per year, spread over the
    year, centred near the AOI with small deterministic offsets between passes.

    The first ``same_day_pairs`` scenes get a partner from the other satellite the same
    UTC day, 40 minutes later on a track 0.15 deg east; the last ``partial_scenes`` are
    shifted east across track by half the swath width, so that the swath's west edge
    runs through the AOI's centre.
    """
    from eotrend.synthetic.olci import SceneSpec

    features = read_aoi(aoi_path)
    centre = shapely.union_all([f.geometry for f in features]).envelope.centroid
    first, last = settings["years"]
    per_year = settings["scenes_per_year"]
    specs = []
    for year in range(first, last + 1):
        for k in range(per_year):
            index = len(specs)
            rng = np.random.default_rng([settings["seed"], index])
            day = int((k + 0.5) / per_year * 365)
            specs.append(
                SceneSpec(
                    centre_lon=centre.x + rng.uniform(-0.05, 0.05),
                    centre_lat=centre.y + rng.uniform(-0.05, 0.05),
                    sensing_start=datetime(year, 1, 1, 13, 50, tzinfo=UTC) + timedelta(days=day),
                    rows=settings["rows"],
                    columns=settings["columns"],
                    heading_deg=192.0 + rng.uniform(-2.0, 2.0),
                    mission=("S3A", "S3B")[index % 2],
                    cloud_fraction=settings["cloud_fraction"],
                    seed=settings["seed"] * 1000 + index,
                    relative_orbit=1 + (124 + 27 * index) % 385,
                )
            )
    half_swath_deg = settings["columns"] * 0.3 / 2 / (111.32 * np.cos(np.radians(centre.y)))
    for index in range(max(0, len(specs) - settings.get("partial_scenes", 0)), len(specs)):
        specs[index] = replace(specs[index], centre_lon=centre.x + half_swath_deg)
    partners = [
        replace(
            spec,
            centre_lon=spec.centre_lon + 0.15,
            sensing_start=spec.sensing_start + timedelta(minutes=40),
            mission="S3B" if spec.mission == "S3A" else "S3A",
            seed=spec.seed + 500,
            relative_orbit=1 + (spec.relative_orbit + 192) % 385,
        )
        for spec in specs[: settings.get("same_day_pairs", 0)]
    ]
    return sorted([*specs, *partners], key=lambda spec: spec.sensing_start)


def make_scene_task(spec, water_wkb: bytes, cache: str) -> str:
    """Worker task: write one synthetic product into the cache; returns its path."""
    from eotrend.synthetic.olci import write_product

    return str(write_product(spec, cache, water=shapely.from_wkb(water_wkb)))


def synthetic_products(
    settings: dict,
    aoi_path: str | Path,
    cache: str | Path,
    start: str,
    end: str,
    *,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> list[Entry]:
    """Make (or reuse from the cache) the synthetic products; water where the AOI is."""
    from eotrend.synthetic.olci import product_name

    cache = Path(cache)
    specs = [
        s
        for s in synthetic_scene_specs(settings, aoi_path)
        if in_period(s.sensing_start, start, end)
    ]
    water = shapely.union_all([f.geometry for f in read_aoi(aoi_path)])
    todo = [s for s in specs if not (cache / product_name(s)).is_dir()]
    log.info(
        "%d synthetic scenes, %d in the cache, %d to make",
        len(specs),
        len(specs) - len(todo),
        len(todo),
    )
    if todo:
        tasks = [Task(product_name(s), (s, shapely.to_wkb(water), str(cache))) for s in todo]
        task_mb = 200 + todo[0].rows * todo[0].columns * 8 * 6 / 2**20
        plan = plan_workers(len(tasks), threads=threads, mem_mb=mem_mb, task_mem_mb=task_mb)
        run_tasks(make_scene_task, tasks, plan, label="scenes", logger=log)
    aoi = read_aoi(aoi_path)
    return [product_entry(cache / product_name(s), aoi=aoi) for s in specs]


# --- geotiff: synthetic ----------------------------------------------------------------


def synthetic_series(settings: dict, cache: str | Path) -> list[Entry]:
    """A yearly GeoTIFF series like an Earth Engine export (made once, then cached)."""
    from eotrend.synthetic.series import write_yearly_series

    cache = Path(cache)
    first, last = settings["years"]
    years = range(first, last + 1)
    paths = sorted(cache.glob("*.tif"))
    if len(paths) != len(years):
        paths = write_yearly_series(
            cache,
            years=years,
            width=settings["width"],
            height=settings["height"],
            seed=settings["seed"],
        )
    entries = []
    for path in sorted(paths):
        moment = date_from_name(path).isoformat()
        entries.append(
            Entry(
                name=Path(path).stem,
                sensing_start=moment,
                sensing_stop=moment,
                platform="synthetic",
                source_id="",
                size=Path(path).stat().st_size,
                checksum="",
                path=str(path),
                status="ok",
            )
        )
    return entries


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
            threads=threads,
            mem_mb=mem_mb,
        )
    if kind == "sentinel3" and source_type == "local":
        return local_products(
            source["local"]["path"],
            dataset["start"],
            dataset["end"],
            read_aoi(dataset["aoi"]),
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

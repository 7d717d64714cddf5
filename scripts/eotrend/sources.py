"""Where a dataset's scenes or files come from: the download stage's sources.

Products are kept in a cache folder that is never a rule output; a product already
there is not made or fetched again. Each source returns manifest entries.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import shapely

from eotrend import olci
from eotrend.aoi import read_aoi
from eotrend.dates import date_from_name
from eotrend.errors import InputError
from eotrend.limits import plan_workers
from eotrend.manifest import Entry, folder_size
from eotrend.parallel import Task, run_tasks

log = logging.getLogger(__name__)


def in_period(moment: datetime, start: str, end: str) -> bool:
    """Whether a sensing time falls within [start, end] (inclusive dates)."""
    return date.fromisoformat(start) <= moment.date() <= date.fromisoformat(end)


def product_entry(path: Path, status: str = "ok", reason: str = "") -> Entry:
    """A manifest entry for a product folder, from its own manifest."""
    product = olci.open_product(path)
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


def local_products(folder: str | Path, start: str, end: str) -> list[Entry]:
    """Every ``.SEN3`` folder under ``folder`` (recursively) sensed within [start, end].

    Folders whose name is not a product name are ignored; products outside the period
    are listed as skipped with the reason.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            folder,
            "is not a folder",
            "Set source.local.path to the folder holding your .SEN3 products.",
        )
    entries = []
    for path in sorted(folder.rglob("*.SEN3")):
        if not path.is_dir() or not olci.PRODUCT_NAME.match(path.name):
            continue
        entry = product_entry(path)
        if not in_period(datetime.fromisoformat(entry.sensing_start), start, end):
            entry = product_entry(path, "skipped", f"sensed outside {start}..{end}")
        entries.append(entry)
    if not entries:
        raise InputError(
            folder,
            "holds no .SEN3 product folder",
            "Unzip the products there, or point source.local.path elsewhere.",
        )
    return entries


# --- sentinel3: synthetic --------------------------------------------------------------


def synthetic_scene_specs(settings: dict, aoi_path: str | Path) -> list:
    """The scenes of the synthetic source: ``scenes_per_year`` per year, spread over the
    year, centred near the AOI with small deterministic offsets between passes."""
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
    return specs


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
    return [product_entry(cache / product_name(s)) for s in specs]


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


def collect(
    name: str, dataset: dict, *, threads: int | None = None, mem_mb: float | None = None
) -> list[Entry]:
    """Manifest entries of one dataset (validated config with defaults), by its source."""
    source = dataset["source"]
    kind, source_type = dataset["kind"], source["type"]
    cache = Path(source["cache"])
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
        return local_products(source["local"]["path"], dataset["start"], dataset["end"])
    if kind == "geotiff" and source_type == "synthetic":
        return synthetic_series(source["synthetic"], cache / name)
    raise InputError(
        f"datasets.{name}.source.type",
        f"{source_type!r} has nothing to download for a {kind} dataset",
        "Use the synthetic source, or list local files with `files`.",
    )

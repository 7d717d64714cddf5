"""The ``synthetic`` source: a deterministic archive of demo products (OLCI scenes over the
AOI, or a yearly GeoTIFF series), made in the cache."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import shapely

from eotrend.engine.limits import plan_workers
from eotrend.engine.pool import Task, run_tasks
from eotrend.geo.aoi import read_aoi
from eotrend.geo.dates import date_from_name
from eotrend.sources.entries import in_period, product_entry
from eotrend.sources.scenelist import Entry

log = logging.getLogger(__name__)


def synthetic_scene_specs(settings: dict, aoi_path: str | Path) -> list:
    """The scenes of the synthetic source: ``scenes_per_year`` per year, spread over the
    year, centred near the AOI with small deterministic offsets between passes.

    The first ``same_day_pairs`` scenes get a partner from the other satellite the same
    UTC day, 40 minutes later on a track 0.15 deg east; the last ``partial_scenes`` are
    shifted east across track by half the swath width, so that the swath's west edge
    runs through the AOI's centre.
    """
    from eotrend.synthetic.spec import SceneSpec

    features = read_aoi(aoi_path, ids=False)
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
    from eotrend.synthetic.product import write_product

    return str(write_product(spec, cache, water=shapely.from_wkb(water_wkb)))


def synthetic_products(
    settings: dict,
    aoi_path: str | Path,
    cache: str | Path,
    start: str,
    end: str,
    *,
    aoi_id: str | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> list[Entry]:
    """Make (or reuse from the cache) the synthetic products; water where the AOI is;
    each entry names the features (``aoi_id``, see :func:`read_aoi`) its footprint reaches."""
    from eotrend.synthetic.spec import product_name

    cache = Path(cache)
    specs = [
        s
        for s in synthetic_scene_specs(settings, aoi_path)
        if in_period(s.sensing_start, start, end)
    ]
    water = shapely.union_all([f.geometry for f in read_aoi(aoi_path, ids=False)])
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
    aoi = read_aoi(aoi_path, aoi_id)
    return [product_entry(cache / product_name(s), aoi=aoi) for s in specs]


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

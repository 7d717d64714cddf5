"""The lake_grids stage (rule ``lake_grids``, datasets of grid extent ``feature``): per
variable, each AOI feature's stack and per-pixel trend on a grid of its own, made from
its pixels alone.

A feature's grid is the one it would get in an AOI of its own
(:func:`eotrend.geo.grids.feature_grid`: its bounding box plus ``grid.margin`` cells on
the dataset's CRS and resolution). Its stack is what the rule ``stack`` makes of an AOI
holding that feature alone:

* a scene enters when it observes part of the feature (its ``coverage`` in the scene's
  statistics is above 0) and its pass observes at least ``min_coverage`` of it (the
  frames of a pass added up, coverage read to the 6 decimals a scene grid's COVERAGE tag
  holds; :func:`eotrend.stages.stack.pass_totals`);
* each scene's grid takes, in each cell, the nearest valid pixel of the feature within
  ``grid.max_distance_m`` (:func:`eotrend.geo.grids.nearest_fill`, as
  :func:`eotrend.sentinel3.extract.write_grids` does);
* bands in date order, one per scene or per composite period (``composite``), with the
  stack's descriptions and metadata (DATE, PERIOD, SOURCES, UNIT;
  :func:`eotrend.stages.stack.plan_bands`, :func:`~eotrend.stages.stack.reduce_stack`,
  :func:`~eotrend.stages.stack.band_metadata`);

and its per-pixel trend is :func:`eotrend.stages.trend.trend` of that stack with the
dataset's ``trend`` settings (the bands, tags and q-values of rule ``trend``'s output).

Outputs: two folders, ``stacks`` and ``trends``, each with one GeoTIFF per feature that
some scene observes, named by :func:`file_name`, and ``index.csv``: feature (every AOI
feature, in AOI order), file (empty for a feature no scene enters), rows, cols (its
grid's size), bands.

Features are the tasks of the process pool, in chunks of at most :data:`TASK_ROWS`
pixel rows; a worker reads each feature's pixels from the partitioned pixel table
(:class:`eotrend.sentinel3.partition.FeaturePixels`) a row group at a time, and holds one
feature's scene grids: in memory up to :data:`MEMORY_BYTES`, else in a temporary file
mapped into memory.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import logging
import math
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from eotrend.core import provenance
from eotrend.core.atomic import atomic_path
from eotrend.core.errors import InputError
from eotrend.engine.limits import plan_workers
from eotrend.engine.pool import Task, iter_tasks
from eotrend.geo import raster
from eotrend.geo.aoi import Feature, read_aoi
from eotrend.geo.grids import Grid, cell_vectors, feature_grid, nearest_fill
from eotrend.geo.mosaic import Source
from eotrend.sentinel3.partition import FeaturePixels
from eotrend.stages import stack as stacking
from eotrend.stages import trend as trending

log = logging.getLogger(__name__)

TASK_ROWS = 2_000_000
"""Most pixel rows of the features of one task (a chunk of features)."""

TASK_FEATURES = 500
"""Most features of one task."""

INLINE_ROWS = 200_000
"""Features of at most this many pixel rows in all are one task, run in the job's own
process: starting worker processes would cost more (about 2 s) than it saves."""

MEMORY_BYTES = 256 * 2**20
"""A feature's scene grids (float32, scenes x rows x cols) up to this size are held in
memory; larger ones in a temporary file next to the outputs."""

TASK_MB = 200 + 2 * MEMORY_BYTES / 2**20
"""Peak memory of a task in a worker, MB: the interpreter and libraries, a feature's
scene grids and its stack."""

INDEX = "index.csv"
"""The table of each output folder."""

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class LakeSetup:
    """What every feature's work shares: the partitioned pixel table, the variable, its
    column and unit, the dataset's ``grid`` (crs, resolution, max_distance_m, margin),
    ``min_coverage``, ``composite`` (period, reducer) and ``trend`` settings, the output
    folders and the stacks' tags."""

    pixels: str
    variable: str
    column: str
    unit: str
    grid: dict
    min_coverage: float
    period: str
    reducer: str
    settings: dict
    stacks: str
    trends: str
    tags: dict


@dataclass(frozen=True)
class LakeJob:
    """One feature's work: the feature and the scenes that observe part of it, each as
    (name, sensing start ISO 8601, coverage of the feature)."""

    feature: Feature
    scenes: tuple[tuple[str, str, float], ...]


def file_name(feature: str) -> str:
    """A file name (without suffix) for ``feature``: its id when that is a plain name
    (letters, digits, ``.``, ``_``, ``-``; at most 100 characters, not starting with a
    dot or dash), else the id with every other run of characters replaced by ``_``, cut
    to 60 characters and followed by ``-`` and 8 hex digits of the id's SHA-1, so that
    names stay unique. A feature's name depends on its id alone."""
    if _SAFE.match(feature) and not feature.endswith("."):
        return feature
    plain = re.sub(r"[^A-Za-z0-9._-]+", "_", feature).strip("._-")[:60]
    digest = hashlib.sha1(feature.encode("utf-8")).hexdigest()[:8]
    return f"{plain}-{digest}" if plain else digest


def scene_coverage(stats_paths: list[str | Path]) -> dict[str, list[tuple[str, str, float]]]:
    """Feature -> the scenes observing part of it, (name, sensing start, coverage), from
    the scenes' statistics tables (CSV: scene, time, feature, coverage; read with
    pyarrow's CSV reader, these columns only, ids as strings)."""
    columns = {"scene": pa.string(), "time": pa.string(), "feature": pa.string()}
    options = pa_csv.ConvertOptions(
        include_columns=[*columns, "coverage"],
        column_types={**columns, "coverage": pa.float64()},
    )
    parts = []
    for path in stats_paths:
        table = pa_csv.read_csv(path, convert_options=options)
        observed = pc.fill_null(pc.greater(table.column("coverage"), 0.0), False)
        parts.append(table.filter(observed).to_pandas())
    if not parts:
        return {}
    table = pd.concat(parts, ignore_index=True)
    return {
        str(feature): list(
            zip(
                rows["scene"],
                rows["time"],
                rows["coverage"].astype(float),
                strict=True,
            )
        )
        for feature, rows in table.groupby("feature", sort=False)
    }


def run(
    *,
    lake_pixels: str,
    stats: list[str],
    aoi: str,
    stacks: str,
    trends: str,
    variable: str,
    grid: dict,
    min_coverage: float,
    period: str,
    reducer: str,
    settings: dict,
    aoi_id: str | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> list[dict]:
    """Rule ``lake_grids``: each feature's stack and pixel trend of ``variable``.

    Args:
        lake_pixels: the pixel table partitioned by feature (rule ``lake_pixels``).
        stats: the batches' statistics tables (CSV; each scene's coverage of each
            feature and sensing start).
        aoi, aoi_id: the AOI file and the attribute naming its features.
        stacks, trends: the folders to write (see the module docstring).
        variable: the variable.
        grid: the dataset's ``grid`` (crs, resolution, max_distance_m, margin).
        min_coverage: the fraction of a feature a scene's pass must observe.
        period, reducer: the dataset's ``composite``.
        settings: the dataset's ``trend`` block (as rule ``trend_tile``'s).
        threads, mem_mb: the job's CPUs and memory (MB).

    Returns:
        The index rows (feature, file, rows, cols, bands), in AOI order.

    Raises:
        InputError: the pixel table has no column of ``variable``, or a reducer is
            unknown.
    """
    if reducer not in stacking.REDUCERS:
        raise InputError(
            "composite.reducer", f"unknown reducer {reducer!r}", f"Use {stacking.REDUCERS}."
        )
    features = read_aoi(aoi, aoi_id)
    _check_file_names([f.name for f in features], aoi)
    table = FeaturePixels(lake_pixels)
    column, unit = _column_and_unit(table, variable, lake_pixels)
    observed = scene_coverage(stats)
    jobs = [LakeJob(f, tuple(observed.get(f.name, ()))) for f in features]
    grid_settings = {k: grid[k] for k in ("crs", "resolution", "max_distance_m", "margin")}
    stack_settings = {"grid": grid_settings, "min_coverage": min_coverage}
    stack_settings.update(period=period, reducer=reducer)
    stack_tags = provenance.tags(provenance.settings_digest(stack_settings))
    Path(stacks).mkdir(parents=True, exist_ok=True)
    Path(trends).mkdir(parents=True, exist_ok=True)
    probe = plan_workers(len(jobs), threads=threads, mem_mb=mem_mb, task_mem_mb=TASK_MB)
    chunks = _chunks(jobs, table.index, probe.workers)
    setup = LakeSetup(
        pixels=lake_pixels,
        variable=variable,
        column=column,
        unit=unit,
        grid=grid_settings,
        min_coverage=min_coverage,
        period=period,
        reducer=reducer,
        settings=settings,
        stacks=str(stacks),
        trends=str(trends),
        tags=stack_tags,
    )
    tasks = [
        Task(f"features {chunk[0].feature.name} to {chunk[-1].feature.name}", (chunk, setup))
        for chunk in chunks
    ]
    plan = plan_workers(len(tasks), threads=threads, mem_mb=mem_mb, task_mem_mb=TASK_MB)
    log.info(
        "%s: %d features (%d observed by a scene) in %d tasks",
        variable,
        len(jobs),
        sum(bool(job.scenes) for job in jobs),
        len(tasks),
    )
    rows: dict[str, dict] = {}
    for _, result in iter_tasks(
        lakes_task, tasks, plan, label="features", logger=log, inline_single=True
    ):
        rows.update({row["feature"]: row for row in result})
    ordered = [rows[f.name] for f in features]
    for folder in (stacks, trends):
        _write_index(Path(folder) / INDEX, ordered)
    log.info(
        "%s: %d features with a stack and a trend, %d without (no scene enters)",
        variable,
        sum(bool(r["file"]) for r in ordered),
        sum(not r["file"] for r in ordered),
    )
    return ordered


def _check_file_names(names: list[str], aoi: str) -> None:
    """Every feature's :func:`file_name` differs from the others', also on file systems
    that ignore case (macOS, Windows)."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(file_name(name).casefold(), name)
        if other != name:
            raise InputError(
                aoi,
                f"features {other!r} and {name!r} would share the file "
                f"{file_name(name)}.tif (names compared without case)",
                "Give them ids that differ in more than case and punctuation (aoi_id).",
            )


def _column_and_unit(table: FeaturePixels, variable: str, path: str) -> tuple[str, str]:
    """The pixel table's column of ``variable`` and the unit its grids carry (the
    product's, "1" for none: as :func:`eotrend.sentinel3.extract.write_grids`)."""
    for description in table.scenes.values():
        column = description.get("columns", {}).get(variable)
        if column:
            return column, description.get("units", {}).get(column) or "1"
    raise InputError(
        path,
        f"holds no column of {variable!r}",
        "Run the workflow again (the dataset's variables changed).",
    )


def _chunks(jobs: list[LakeJob], index: dict, workers: int) -> list[list[LakeJob]]:
    """The features in consecutive chunks of at most :data:`TASK_ROWS` pixel rows and
    :data:`TASK_FEATURES` features, and at most a quarter of a worker's share of them,
    so that the workers stay busy to the end; one chunk when they have at most
    :data:`INLINE_ROWS` rows in all."""
    total = sum(index.get(job.feature.name, (0, 0))[1] for job in jobs)
    if total <= INLINE_ROWS and len(jobs) <= TASK_FEATURES:
        return [jobs] if jobs else []
    size = max(1, min(TASK_FEATURES, math.ceil(len(jobs) / (4 * workers))))
    chunks: list[list[LakeJob]] = []
    current: list[LakeJob] = []
    rows = 0
    for job in jobs:
        own = index.get(job.feature.name, (0, 0))[1]
        if current and (len(current) >= size or rows + own > TASK_ROWS):
            chunks.append(current)
            current, rows = [], 0
        current.append(job)
        rows += own
    if current:
        chunks.append(current)
    return chunks


def _write_index(path: Path, rows: list[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["feature", "file", "rows", "cols", "bands"])
        writer.writeheader()
        writer.writerows(rows)


def lakes_task(jobs: list[LakeJob], setup: LakeSetup) -> list[dict]:
    """Worker task: :func:`lake_outputs` of each of ``jobs``; their index rows."""
    table = FeaturePixels(setup.pixels)
    with _quiet("eotrend.stages.trend", "eotrend.engine"):
        return [lake_outputs(job, table, setup) for job in jobs]


@contextlib.contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Only errors of the loggers ``names``: the trend of each of thousands of features
    would log its plan and progress."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def entering_scenes(
    scenes: tuple[tuple[str, str, float], ...], min_coverage: float
) -> list[tuple[str, datetime]]:
    """The scenes of a feature's stack, (name, sensing start), sorted by start then name:
    those whose pass observes at least ``min_coverage`` of the feature (coverage read
    to 6 decimals, as a scene grid's COVERAGE tag holds it)."""
    names = [name for name, _, _ in scenes]
    starts = [pd.Timestamp(moment).to_pydatetime() for _, moment, _ in scenes]
    coverage = [float(f"{value:.6f}") for _, _, value in scenes]
    totals = stacking.pass_totals(names, starts, coverage)
    kept = [
        (name, start)
        for name, start, total in zip(names, starts, totals, strict=True)
        if min_coverage <= 0 or total >= min_coverage
    ]
    return sorted(kept, key=lambda item: (item[1], item[0]))


def lake_outputs(job: LakeJob, table: FeaturePixels, setup: LakeSetup) -> dict:
    """Write one feature's stack and trend (see the module docstring); its index row."""
    name = job.feature.name
    grid = feature_grid(job.feature, setup.grid)
    row = {"feature": name, "file": "", "rows": grid.height, "cols": grid.width, "bands": 0}
    kept = entering_scenes(job.scenes, setup.min_coverage)
    if not kept:
        return row
    dated = [(Source(Path(scene), (Path(scene),)), start, True) for scene, start in kept]
    bands = stacking.plan_bands(dated, setup.period)
    position = {scene: k for k, (scene, _) in enumerate(kept)}
    file = f"{file_name(name)}.tif"
    stack_path, trend_path = Path(setup.stacks) / file, Path(setup.trends) / file
    cells = cell_vectors(grid)
    with _scene_grids(len(kept), grid, Path(setup.stacks)) as grids:
        for scene, pixels in _scene_pixels(table, name, setup.column, set(position)):
            grids[position[scene]] = _grid_of(pixels, setup.column, grid, setup.grid, cells)
        members = [[position[str(s.name)] for s in band.inputs] for band in bands]
        reducer = None if setup.period == "none" else setup.reducer
        _write_stack(stack_path, grids, members, bands, grid, reducer, setup)
    # A lake of one tile: a plain GeoTIFF of one small tile (a COG of it would hold the
    # same tile, converted at a cost); a larger one as rule trend writes it.
    small = max(grid.width, grid.height) <= stacking.TILE
    trending.trend(
        stack_path,
        trend_path,
        **trending.fit_arguments(setup.settings),
        threads=1,
        cog=not small,
        block=_tile(grid) if small else stacking.TILE,
    )
    row.update(file=file, bands=len(bands))
    return row


@contextlib.contextmanager
def _scene_grids(count: int, grid: Grid, folder: Path) -> Iterator[np.ndarray]:
    """A (count, rows, cols) float32 array of NaN: in memory up to
    :data:`MEMORY_BYTES`, else mapped from a temporary file in ``folder``."""
    shape = (count, grid.height, grid.width)
    if 4 * count * grid.height * grid.width <= MEMORY_BYTES:
        yield np.full(shape, np.nan, dtype=np.float32)
        return
    with tempfile.TemporaryDirectory(dir=folder, prefix=".grids-") as tmp:
        grids = np.lib.format.open_memmap(
            Path(tmp) / "grids.npy", mode="w+", dtype=np.float32, shape=shape
        )
        grids[:] = np.nan
        try:
            yield grids
        finally:
            del grids


def _scene_pixels(
    table: FeaturePixels, feature: str, column: str, scenes: set[str]
) -> Iterator[tuple[str, pa.Table]]:
    """(scene, its valid pixels of ``feature``: lon, lat, ``column``) of each of
    ``scenes`` that has pixels of it, read a row group at a time (the rows come sorted by
    time and scene)."""
    pending: list[pa.Table] = []
    current = None
    for part in table.iter_tables(feature, ["scene", "lon", "lat", "valid", column]):
        names = part.column("scene").cast(pa.string()).to_numpy(zero_copy_only=False)
        cuts = np.flatnonzero(names[1:] != names[:-1]) + 1
        for low, high in zip(np.r_[0, cuts], np.r_[cuts, len(names)], strict=True):
            scene = str(names[low])
            if scene != current:
                if pending and current in scenes:
                    yield current, pa.concat_tables(pending)
                pending, current = [], scene
            pending.append(part.slice(low, high - low))
    if pending and current in scenes:
        yield current, pa.concat_tables(pending)


def _grid_of(
    pixels: pa.Table, column: str, grid: Grid, settings: dict, cells: np.ndarray
) -> np.ndarray:
    """One scene's grid of a feature: each cell the nearest valid pixel with a value
    within max_distance_m (float32, NaN elsewhere); ``cells``: the grid's cell vectors."""
    valid = pixels.column("valid").to_numpy(zero_copy_only=False).astype(bool)
    values = pixels.column(column).to_numpy(zero_copy_only=False).astype(np.float64)
    lon = pixels.column("lon").to_numpy(zero_copy_only=False)
    lat = pixels.column("lat").to_numpy(zero_copy_only=False)
    return nearest_fill(
        grid, lon[valid], lat[valid], values[valid], settings["max_distance_m"], cells
    )


def _tile(grid: Grid) -> int:
    """The tile size of a feature's rasters: the stack's (256), or for a smaller grid the
    least multiple of 16 that holds it (a 256-pixel tile of a 13 x 13 grid is 99.7 %
    padding, compressed and read for every band)."""
    return min(stacking.TILE, 16 * math.ceil(max(grid.width, grid.height) / 16))


def _write_stack(
    path: Path,
    grids: np.ndarray,
    members: list[list[int]],
    bands: list[stacking.Band],
    grid: Grid,
    reducer: str | None,
    setup: LakeSetup,
) -> None:
    """The stack GeoTIFF of one feature, in row blocks of whole tiles: each band the
    scene grid of its one member, or the ``reducer`` of its members' grids."""
    writer = raster.GeoTiffWriter(
        path,
        width=grid.width,
        height=grid.height,
        count=len(bands),
        transform=grid.transform,
        crs_wkt=grid.crs_wkt,
        dtype="float32",
        nodata=float("nan"),
        descriptions=[b.description for b in bands],
        band_metadata=stacking.band_metadata(bands, {}, setup.unit),
        tags=setup.tags,
        block=_tile(grid),
        level=1,
    )
    per_row = 4 * grid.width * (len(bands) + max(map(len, members)))
    step = MEMORY_BYTES // per_row
    step = grid.height if step >= grid.height else max(1, step // stacking.TILE) * stacking.TILE
    with writer:
        for row0 in range(0, grid.height, step):
            rows = slice(row0, min(row0 + step, grid.height))
            block = np.empty((len(bands), rows.stop - row0, grid.width), dtype=np.float32)
            for k, indices in enumerate(members):
                if reducer is None:
                    block[k] = grids[indices[0], rows]
                else:
                    block[k] = stacking.reduce_stack(grids[indices, rows], reducer)
            writer.write_rows(row0, block)

"""The extract stage: one scene's pixels inside the AOI, their statistics, their grids.

Reading. Per feature, only the pixels whose centre can lie inside it are read: those
whose centre, interpolated between the tie points of its row, lies within the
interpolation's error of the feature (:mod:`eotrend.sentinel3.candidates`; the error
checked against the centres read, see :func:`_read_geo`). A scene thus costs about the
pixels of the features it sees, however far apart they are, and a feature outside it
nothing. The geo coordinates, then the flag file and each data file are read only at
those pixels (only their chunks: a product in the object store costs about the chunks
its pixels lie in, see :mod:`eotrend.sentinel3.remote`), and for angles the matching
tie-point window. One worker task per file through the shared engine; tasks return the
stored integers, and only the pixels kept are decoded.

Kept pixels. A pixel belongs to a feature when its centre lies inside the feature's
polygon in lon/lat (holes and every part of a MultiPolygon honoured, boundary counts as
inside; vectorised with shapely over the pairs of pixel and feature an R-tree finds).
Longitudes of polygons and pixels are unwrapped around the AOI's mean direction, so an
AOI across the antimeridian works. A pixel inside two features appears once per
feature.

Values. Every variable is decoded with its own scale, offset, fill and valid range (fill
-> NaN in every variable); log10 products (units ``lg(re X)``) are converted to physical
units X, and their column says so (:func:`value_column`: ``TSM_NN`` -> ``TSM_NN_g.m-3``).
The angles SZA, SAA, OZA and OAA can be asked for like variables; they are interpolated
from the tie-point grid (:mod:`eotrend.sentinel3.angles`).

Validity is per variable (:mod:`eotrend.sentinel3.quality`): each variable is judged by its own
rule on the flags decoded from the file (a preset follows SNAP's recommended mask of that
product; an explicit rule applies to every variable, with each product's own failure
flags added while ``product_masks`` is on). A variable's value is NaN where its rule
rejects the pixel, so every consumer (statistics, grids, a user's own table reading) sees
valid values only; the raw ``flags`` stay in the table. ``valid`` says whether the pixel
is valid for at least one variable.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import shapely

from eotrend.core.atomic import atomic_path
from eotrend.core.errors import InputError
from eotrend.engine.limits import plan_workers
from eotrend.engine.pool import Task, iter_tasks
from eotrend.geo import geometry as geo
from eotrend.geo import grids as gridding
from eotrend.geo import raster
from eotrend.geo.aoi import Feature, mean_lon
from eotrend.sentinel3 import angles, coverage, layout, quality, reader, tables
from eotrend.sentinel3.candidates import candidate_pixels

# The naming rule of value and statistics columns (in layout: figures read it without pandas).
from eotrend.sentinel3.layout import (  # noqa: F401
    count_columns,
    stats_column,
    value_column,
    whole_counts,
)
from eotrend.sentinel3.locate import PREDICTION_SPACINGS, SPACING_SAFETY, TieGrid
from eotrend.sentinel3.pixel_table import PixelTable

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

# The columns of a statistics row that describe the scene and feature, not a variable.
SCENE_COLUMNS = (
    "scene", "time", "feature", "note", "count", "valid_count", "fraction_valid", "coverage"
)  # fmt: skip
# Per variable and feature, over valid pixels with a value (see feature_statistics).
STATISTICS = ("count", "median", "mean", "std", "p25", "p75")
# Why a feature has no statistics in a scene (the `note` column).
NOTES = {
    "ok": "statistics over the valid pixels",
    "outside_swath": "the scene's swath does not reach the feature",
    "no_pixels": "no pixel centre of the scene lies inside the feature",
    "no_valid_pixels": "every pixel inside the feature is rejected by the quality rules",
    "partial": "the scene observes only part of the feature (see coverage)",
    "low_coverage": "observed below min_coverage: left out of the time series",
}
ANGLE_BLOCK = 1 << 16  # pixels interpolated at a time
LOGGED_FEATURES = 50  # beyond this many features, the log gives totals
NAMED_FEATURES = 5  # features named in such a total
# Reads of at most this many pixels run in this process: starting a pool of workers, each
# importing the readers, took longer than reading them (bench/lakes_bench.py: 300 lakes,
# 13,272 pixels).
INLINE_PIXELS = 50_000


@dataclass(frozen=True)
class SceneExtract:
    """What one scene yields.

    Attributes:
        scene: product name (without ``.SEN3``). time: sensing start (UTC).
        pixels: one row per (feature, pixel inside it) (:class:`PixelTable`): scene,
            time, feature, row, col (int32 image indices), lon, lat (float64
            degrees, pixel centre), one float32 column per variable in physical units
            (:func:`value_column`; NaN where missing or rejected by its quality rule),
            flags (uint64, the raw WQSF/LQSF) and valid (bool: valid for at least one
            variable). Ordered by feature (AOI order), row, col.
        columns: variable -> its column, in the order asked for.
        units: variable -> physical unit ('' for dimensionless values).
        note: "ok", or "outside_swath" when the scene does not cover the AOI.
        flag_variable: WQSF or LQSF ('' when nothing was read).
        flag_masks: flag name -> mask of that flag variable.
        rules: variable -> the quality rule its values were judged by (as a dict).
        unapplied: variable -> flags of its preset rule the file does not define.
        coverage: feature -> fraction of it the scene observes (:mod:`eotrend.sentinel3.coverage`).
        areas: feature -> its area, km².
    """

    scene: str
    time: datetime
    pixels: PixelTable
    columns: dict[str, str]
    units: dict[str, str]
    note: str = "ok"
    flag_variable: str = ""
    flag_masks: dict[str, int] = field(default_factory=dict)
    rules: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    unapplied: dict[str, list[str]] = field(default_factory=dict)
    coverage: dict[str, float] = field(default_factory=dict)
    areas: dict[str, float] = field(default_factory=dict)

    def scene_coverage(self) -> float:
        """The area-weighted coverage of every feature together (0 to 1)."""
        total = sum(self.areas.values())
        if not total:
            return 0.0
        return sum(self.coverage[name] * area for name, area in self.areas.items()) / total


@dataclass(frozen=True)
class _Read:
    """One worker task: which variables of which file, over which window."""

    path: Path
    variables: tuple[str, ...]
    window: reader.Window

    def task(self, pixels: np.ndarray | None = None) -> Task:
        """The read as a task of :func:`reader.read_packed`: the window, or only the
        ``pixels`` of it (flat indices)."""
        w = self.window
        what = f"{w.shape[0]}x{w.shape[1]} window" if pixels is None else f"{pixels.size} pixels"
        return Task(
            f"{self.path.name} {what}",
            (str(self.path), self.variables, (w.row0, w.row1, w.col0, w.col1), pixels),
        )


@dataclass(frozen=True)
class _ReadPlan:
    """The reads of one scene after the geo coordinates: the flags first, then one per
    data file, then (when angles are asked for) the tie-point window ``tie`` of the angle
    pairs; ``step`` = image columns per tie column."""

    reads: list[_Read]
    flag_variable: str
    tie: reader.Window | None = None
    step: int = 0

    def file_of(self, variable: str) -> Path:
        """The file ``variable`` is read from."""
        return next(read.path for read in self.reads if variable in read.variables)

    @classmethod
    def of(cls, product: Path, variables: list[str], window: reader.Window) -> _ReadPlan:
        flag_path, flag_variable = reader.flag_file(product)
        reads = [_Read(flag_path, (flag_variable,), window)]
        by_file: dict[Path, list[str]] = {}
        tie_names: list[str] = []
        for variable in variables:
            if variable in layout.FLAG_VARIABLES:
                raise InputError(
                    f"variables: {variable}",
                    "is the quality-flag variable, always in the pixel table's `flags` column",
                    "Remove it from the dataset's `variables`.",
                )
            if variable in angles.ANGLES:
                tie_names += [n for n in angles.pair_of(variable) if n not in tie_names]
            else:
                by_file.setdefault(reader.variable_file(product, variable), []).append(variable)
        reads += [_Read(path, tuple(names), window) for path, names in by_file.items()]
        if not tie_names:
            return cls(reads, flag_variable)
        _, tie_columns, step = reader.tie_geometry(product)
        tie = angles.tie_window(window, step, tie_columns)
        reads.append(_Read(reader.variable_file(product, tie_names[0]), tuple(tie_names), tie))
        return cls(reads, flag_variable, tie, step)


@dataclass(frozen=True)
class _Selection:
    """The pixels inside the features, in a frame (the box of the pixels read).

    frame: the window the indices refer to; flat: ascending flat indices (int64) into
    ``frame`` of the pixels inside any feature; members: per feature, positions into
    ``flat`` of its pixels (ascending).
    """

    frame: reader.Window
    flat: np.ndarray
    members: list[np.ndarray]


def _read_geo(
    path: Path, window: reader.Window, tie: TieGrid, geometries: list, lon0: float
) -> tuple[reader.Window, np.ndarray, np.ndarray, np.ndarray]:
    """The pixels whose centre can lie inside a geometry, and their lon and lat (degrees;
    NaN where missing): the frame (their box; ``window`` when there are none) and flat
    indices into it (ascending).

    Which pixels can: :func:`eotrend.sentinel3.candidates.candidate_pixels`, for an
    interpolation error first assumed one pixel spacing and checked against the centres
    read; a larger one is searched again with ``SPACING_SAFETY`` times it (as locate
    checks its spacing bound). Only the chunks of geo_coordinates.nc holding these
    pixels are read (:func:`eotrend.sentinel3.reader.read_packed`).
    """
    shape = (tie.lon.shape[0], tie.columns)
    if window.row1 > shape[0] or window.col1 > shape[1]:  # before predicting off the grid
        raise InputError(
            path,
            f"variable longitude of shape {shape} does not hold the window rows "
            f"{window.row0}-{window.row1}, columns {window.col0}-{window.col1}",
            "The window belongs to another product: run locate again.",
        )
    error = PREDICTION_SPACINGS * tie.spacing
    while True:
        rows, cols = np.divmod(candidate_pixels(tie, geometries, lon0, error, window), shape[1])
        frame = window
        if rows.size:
            frame = reader.Window(
                int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
            )
        flat = (rows - frame.row0) * frame.shape[1] + (cols - frame.col0)
        bounds = (frame.row0, frame.row1, frame.col0, frame.col1)
        read = reader.read_packed(path, ("longitude", "latitude"), bounds, pixels=flat)
        lon, lat = read["longitude"].decoded(), read["latitude"].decoded()
        measured = tie.prediction_error(rows, cols, lon, lat)
        if measured <= error:
            return frame, flat, lon, lat
        log.warning(
            "pixel centres lie up to %.0f m from their interpolation between tie points, "
            "more than the assumed %.0f m: reading a wider margin around the AOI",
            geo.chord_to_metres(measured),
            geo.chord_to_metres(error),
        )
        error = SPACING_SAFETY * measured


def _select(
    frame: reader.Window,
    flat: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    geometries: list,
    lon0: float,
) -> tuple[_Selection, np.ndarray, np.ndarray]:
    """Which of the pixels ``flat`` (indices into ``frame``, their lon and lat) lie inside
    each (unwrapped) geometry; the selection and the kept pixels' lon, lat.

    Pairs of pixel and geometry whose box holds it come from an R-tree of the
    geometries; each pair is then tested exactly (:func:`eotrend.geo.geometry.contains`'s
    rule, vectorised over the pairs), so the cost follows the pixels, not pixels times
    features.
    """
    unwrapped = geo.unwrap_lon(lon, lon0)
    finite = np.flatnonzero(np.isfinite(unwrapped) & np.isfinite(lat))
    polygons = np.asarray(geometries, dtype=object)
    shapely.prepare(polygons)
    at, of = shapely.STRtree(polygons).query(shapely.points(unwrapped[finite], lat[finite]))
    at = finite[at]
    inside = shapely.intersects_xy(polygons[of], unwrapped[at], lat[at])
    at, of = at[inside], of[inside]
    order = np.lexsort((at, of))
    at, of = at[order], of[order]
    kept = np.unique(at)
    positions = np.searchsorted(kept, at)
    members = np.split(positions, np.searchsorted(of, np.arange(1, len(geometries))))
    return _Selection(frame, flat[kept], members), lon[kept], lat[kept]


def _read(
    product: Path,
    variables: list[str],
    window: reader.Window,
    geometries: list,
    lon0: float,
    *,
    threads: int | None,
    mem_mb: float | None,
    tie: TieGrid | None,
) -> tuple[
    _ReadPlan,
    _Selection,
    np.ndarray,
    np.ndarray,
    dict[str, reader.Packed],
    dict[str, reader.Packed],
]:
    """The selection with the kept pixels' lon and lat (:func:`_read_geo`), then, on the
    worker pool, every variable at the kept pixels (stored values, 1-D: only the chunks
    holding them are read) and the tie-grid angles; with the plan of those reads."""
    tie = tie or TieGrid.read(product)
    selection, lon, lat = _select(
        *_read_geo(product / "geo_coordinates.nc", window, tie, geometries, lon0),
        geometries,
        lon0,
    )
    reading = _ReadPlan.of(product, variables, selection.frame)
    # A read holds the kept pixels' values and one chunk's rectangle at a time.
    task_mb = 40 + 24 * selection.flat.size / 2**20
    plan = plan_workers(len(reading.reads), threads=threads, mem_mb=mem_mb, task_mem_mb=task_mb)
    tie_index = len(reading.reads) - 1 if reading.tie is not None else None
    tasks = [
        read.task(None if index == tie_index else selection.flat)
        for index, read in enumerate(reading.reads)
    ]
    picked: dict[str, reader.Packed] = {}
    tie_read: dict[str, reader.Packed] = {}
    inline = selection.flat.size <= INLINE_PIXELS
    reads = iter_tasks(reader.read_packed, tasks, plan, label="read", logger=log, inline=inline)
    for index, result in reads:
        if index == tie_index:
            tie_read = result
        else:
            picked.update(result)
    return reading, selection, lon, lat, picked, tie_read


def extract_scene(
    product_path: Path,
    features: list[Feature],
    window: reader.Window | None,
    variables: list[str],
    setting: str | dict,
    *,
    product_masks: bool = True,
    threads: int | None = None,
    mem_mb: float | None = None,
    tie: TieGrid | None = None,
) -> SceneExtract:
    """Extract the pixels of every feature from one scene (see :class:`SceneExtract`).

    ``window`` is the locate window (every pixel centre inside the AOI lies in it), None
    when the scene does not cover the AOI: the result is then empty, with note
    ``outside_swath``. ``tie``: the scene's tie grid when the caller has read it.
    ``setting`` is the dataset's ``quality`` (a preset name or an explicit rule, see
    :mod:`eotrend.sentinel3.quality`). Raises InputError for a missing file or variable,
    or a flag of an explicit rule that the file does not define.
    """
    product = reader.open_product(product_path)
    quality.check_setting(setting)
    variables = list(dict.fromkeys(variables))
    if window is None:
        stored = {v: _stored_units(product.path, v) for v in variables}
        columns = {v: value_column(v, u) for v, u in stored.items()}
        units = {v: (layout.log10_unit(u) or u) if u is not None else "" for v, u in stored.items()}
        names = [feature.name for feature in features]
        pixels = _pixel_table(product.name, product.sensing_start, names, columns)
        areas = [coverage.area_km2(feature.geometry) for feature in features]
        return SceneExtract(
            product.name, product.sensing_start, pixels, columns, units, "outside_swath",
            coverage=dict.fromkeys(names, 0.0), areas=dict(zip(names, areas, strict=True)),
        )  # fmt: skip
    lon0 = mean_lon(features)
    geometries = [geo.unwrap_geometry(feature.geometry, lon0) for feature in features]
    reading, selection, lon, lat, picked, tie_read = _read(
        product.path, variables, window, geometries, lon0, threads=threads, mem_mb=mem_mb, tie=tie
    )
    frame = selection.frame
    flag_path, flag_variable = reading.reads[0].path, reading.flag_variable
    flags = picked[flag_variable].raw.astype(np.uint64)
    masks = picked[flag_variable].flag_masks()
    rows, cols = np.divmod(selection.flat, frame.shape[1])
    values: dict[str, np.ndarray] = {}
    columns: dict[str, str] = {}
    units: dict[str, str] = {}
    if tie_read:
        tie_cols = cols + frame.col0 - reading.tie.col0 * reading.step
        for zenith, azimuth in angles.PAIRS.items():
            if zenith in tie_read:
                values[zenith], values[azimuth] = _angles(
                    tie_read[zenith], tie_read[azimuth], rows, tie_cols, reading.step
                )
    for variable in variables:
        if variable in angles.ANGLES:
            units[variable] = tie_read[variable].units
            columns[variable] = variable
            continue
        packed = picked[variable]
        physical, units[variable] = packed.physical()
        if physical.size and np.isnan(physical).all():
            log.warning(
                "%s: %s holds only fill (or out-of-range) values inside the AOI: its "
                "statistics are empty (count 0) and its grids nodata",
                reading.file_of(variable),
                variable,
            )
        values[variable] = physical.astype(np.float32)
        columns[variable] = value_column(variable, packed.units)
    rules, unapplied, valid = _judge(values, flags, masks, setting, product_masks, flag_path)
    parts = {
        "rows": rows + frame.row0,
        "cols": cols + frame.col0,
        "lon": lon,
        "lat": lat,
        "flags": flags,
        "valid": valid,
        "values": values,
    }
    pixels = _pixel_table(
        product.name,
        product.sensing_start,
        [feature.name for feature in features],
        columns,
        selection.members,
        parts,
    )
    names = [feature.name for feature in features]
    covered, areas = _coverage(product.path, names, geometries, selection.members, flags, masks)
    _log_features(names, selection.members, valid, covered)
    return SceneExtract(
        product.name,
        product.sensing_start,
        pixels,
        columns,
        units,
        "ok",
        flag_variable,
        {name: int(mask) for name, mask in masks.items()},
        rules,
        unapplied,
        covered,
        areas,
    )


def _log_features(
    names: list[str], members: list[np.ndarray], valid: np.ndarray, covered: dict[str, float]
) -> None:
    """A line per feature, or for many features one line of totals (a log per lake of
    thousands says nothing more than the statistics table)."""
    if len(names) > LOGGED_FEATURES:
        seen = sum(1 for own in members if own.size)
        log.info(
            "%d features: %d with pixels inside, %d pixels, %d valid for at least one variable",
            len(names), seen, sum(own.size for own in members), int(valid.sum()),
        )  # fmt: skip
        return
    for name, own in zip(names, members, strict=True):
        log.info(
            "feature %s: %d pixels inside, %d valid for at least one variable, %.1f %% observed",
            name, len(own), int(valid[own].sum()), 100 * covered[name],
        )  # fmt: skip


def _stored_units(product: Path, variable: str) -> str | None:
    """The units attribute of ``variable`` in the product (read without values), so that
    a scene outside the swath names its columns like the others; None when the product
    does not hold the file (the documented units are assumed then)."""
    try:
        return reader.variable_units(reader.variable_file(product, variable), variable)
    except InputError:
        return None


def _coverage(
    product: Path,
    names: list[str],
    geometries: list,
    members: list[np.ndarray],
    flags: np.ndarray,
    masks: dict[str, np.uint64],
) -> tuple[dict[str, float], dict[str, float]]:
    """Per feature name: the fraction of the feature the scene observes and its area in
    km² (see :mod:`eotrend.sentinel3.coverage`); ``geometries`` and ``members`` in
    ``names`` order."""
    tie_lon, tie_lat, step = reader.read_tie_lonlat(product)
    ring = coverage.swath_ring(tie_lon, tie_lat, step)
    inside, areas = coverage.swath_fractions(geometries, ring)
    invalid = (flags & masks["INVALID"]) != 0 if "INVALID" in masks else np.zeros(flags.shape, bool)
    fractions = []
    for fraction, own in zip(inside, members, strict=True):
        observed = 1.0 - float(invalid[own].mean()) if own.size else 1.0
        fractions.append(fraction * observed)
    return dict(zip(names, fractions, strict=True)), dict(zip(names, areas, strict=True))


def _judge(
    values: dict[str, np.ndarray],
    flags: np.ndarray,
    masks: dict[str, np.uint64],
    setting: str | dict,
    product_masks: bool,
    flag_path: Path,
) -> tuple[dict[str, dict[str, list[str]]], dict[str, list[str]], np.ndarray]:
    """Apply each variable's quality rule: its values (float32, 1-D, changed in place)
    become NaN where the rule rejects the pixel. Returns the rules (as dicts), the preset
    flags the file lacks per variable (logged), and ``valid`` (bool, valid for at least
    one variable)."""
    rules: dict[str, dict[str, list[str]]] = {}
    unapplied: dict[str, list[str]] = {}
    valid = np.zeros(flags.shape, bool)
    for variable, data in values.items():
        judged = quality.variable_rule(setting, variable, masks, product_masks, flag_path)
        ok = quality.valid_by_flags(flags, masks, judged.rule, flag_path)
        data[~ok] = np.nan
        valid |= ok
        rules[variable] = judged.rule.as_dict()
        if judged.unapplied:
            unapplied[variable] = list(judged.unapplied)
    for names in sorted({tuple(v) for v in unapplied.values()}):
        users = [variable for variable, flags_ in unapplied.items() if tuple(flags_) == names]
        log.info(
            "%s: defines no %s: the %r quality preset of %s is applied without them",
            flag_path, ", ".join(names), setting, ", ".join(users),
        )  # fmt: skip
    return rules, unapplied, valid


def _angles(
    zenith: reader.Packed, azimuth: reader.Packed, rows: np.ndarray, cols: np.ndarray, step: int
) -> tuple[np.ndarray, np.ndarray]:
    """float32 zenith and azimuth at pixels (rows, cols of the tie window), interpolated
    in blocks: the float64 temporaries of a big AOI stay small."""
    zen = np.empty(rows.shape, np.float32)
    azi = np.empty(rows.shape, np.float32)
    z, a = zenith.decoded(), azimuth.decoded()
    for start in range(0, rows.size, ANGLE_BLOCK):
        part = slice(start, start + ANGLE_BLOCK)
        zen[part], azi[part] = angles.interpolate(z, a, rows[part], cols[part], step)
    return zen, azi


def _pixel_table(
    scene: str,
    time: datetime,
    features: list[str],
    columns: dict[str, str],
    members: list[np.ndarray] | None = None,
    parts: dict | None = None,
) -> PixelTable:
    """The pixel table (see :class:`SceneExtract`): for each feature in turn, the pixels
    at positions ``members[i]`` of the arrays in ``parts``; empty, with every column and
    its dtype, when ``parts`` is None. Empties ``parts["values"]``."""
    if parts is None:
        members, parts = [np.empty(0, np.int64)] * len(features), {}
    order = np.concatenate(members) if members else np.empty(0, np.int64)
    codes = np.repeat(np.arange(len(features)), [len(m) for m in members])
    # One feature, or features in turn without overlap: no reordering needed.
    ordered = bool(np.all(order == np.arange(len(order))))

    def pick(array, dtype):
        if array is None:
            return np.empty(0, dtype)
        return (array if ordered else array[order]).astype(dtype, copy=False)

    values = parts.get("values", {})  # emptied as the table is built: no second copy
    table = {
        "row": pick(parts.get("rows"), np.int32),
        "col": pick(parts.get("cols"), np.int32),
        "lon": pick(parts.get("lon"), np.float64),
        "lat": pick(parts.get("lat"), np.float64),
    }
    for variable, column in columns.items():
        table[column] = pick(values.pop(variable, None), np.float32)
    table["flags"] = pick(parts.get("flags"), np.uint64)
    table["valid"] = pick(parts.get("valid"), bool)
    return PixelTable(scene, time, list(features), codes.astype(np.int64), table)


def _summary(values: np.ndarray, *, azimuth: bool, log10: bool) -> dict[str, float]:
    """The statistics of one variable's values (finite, float64) for one feature.

    Every statistic is taken on physical values; std is the sample standard deviation
    (ddof 1). Azimuths are unwrapped around their circular mean first and the location
    statistics wrapped back to [-180, 180), so that 179 and -179 have median 180, not 0.
    log10 products add ``gmean`` = 10 ** mean(log10 value), the mean in the domain the
    product is retrieved in (the arithmetic mean of a lognormal variable is pulled up by
    its few highest values).
    """
    n = values.size
    if n == 0:
        names = [*STATISTICS[1:], *(["gmean"] if log10 else [])]
        return {"count": 0, **dict.fromkeys(names, np.nan)}
    if azimuth:
        radians = np.radians(values)
        centre = np.degrees(np.arctan2(np.sin(radians).mean(), np.cos(radians).mean()))
        values = geo.unwrap_lon(values, centre)
    p25, median, p75 = np.percentile(values, [25, 50, 75])
    stats = {
        "count": n,
        "median": median,
        "mean": values.mean(),
        "std": values.std(ddof=1) if n > 1 else np.nan,
        "p25": p25,
        "p75": p75,
    }
    if azimuth:
        for key in ("median", "mean", "p25", "p75"):
            stats[key] = float(geo.unwrap_lon(stats[key], 0.0))
    if log10:
        stats["gmean"] = 10.0 ** np.log10(values).mean()
    return stats


def statistics_rows(extract: SceneExtract, features: list[Feature]) -> list[dict]:
    """One row (a dict, in column order) per feature: scene, time, feature, note (a key
    of :data:`NOTES`), count (pixels inside), valid_count, fraction_valid, coverage
    (fraction of the feature the scene observes, :mod:`eotrend.sentinel3.coverage`) and,
    per variable, ``<column>_<statistic>`` for the :data:`STATISTICS` (plus ``gmean`` for
    log10 products) over the valid pixels that have a value (count = how many).

    Statistics are on physical values. For log10 products the median and percentiles
    are those of the physical values: the median commutes with 10 ** (up to the
    interpolation between two middle values), the mean does not, hence ``gmean``.
    A feature with no pixel or no valid pixel still gets its row, with NaN statistics.
    """
    pixels = extract.pixels
    rows_of = pixels.rows_by_feature()
    valid = pixels["valid"]
    nothing = np.zeros(0, np.int64)
    rows = []
    for feature in features:
        own = rows_of.get(feature.name, nothing)
        good = own[valid[own]]
        count, valid_count = len(own), len(good)
        if extract.note != "ok":
            note = extract.note
        elif count == 0:
            # Outside the swath whatever else the AOI holds (as if the feature were alone).
            outside = extract.coverage.get(feature.name, 1.0) == 0.0
            note = "outside_swath" if outside else "no_pixels"
        elif valid_count == 0:
            note = "no_valid_pixels"
        elif extract.coverage.get(feature.name, 1.0) < coverage.PARTIAL_BELOW:
            note = "partial"
        else:
            note = "ok"
        row = {
            "scene": extract.scene,
            "time": extract.time,
            "feature": feature.name,
            "note": note,
            "count": count,
            "valid_count": valid_count,
            "fraction_valid": valid_count / count if count else np.nan,
            "coverage": extract.coverage.get(feature.name, np.nan),
        }
        for variable, column in extract.columns.items():
            values = pixels[column][good].astype(np.float64)
            summary = _summary(
                values[np.isfinite(values)],
                azimuth=variable in angles.AZIMUTHS,
                log10=column != variable,
            )
            row.update({f"{column}_{key}": value for key, value in summary.items()})
        rows.append(row)
    return rows


def feature_statistics(extract: SceneExtract, features: list[Feature]) -> pd.DataFrame:
    """:func:`statistics_rows` as a DataFrame (counts int64, time ``datetime64[us,
    UTC]``), for analysis; the extract command writes the rows without pandas."""
    import pandas as pd  # not at the top: see eotrend.sentinel3.pixel_table

    table = pd.DataFrame.from_records(statistics_rows(extract, features))
    return table.astype({column: np.int64 for column in count_columns(table.columns)})


def warn_notes(rows: list[dict]) -> None:
    """Warn of the features a scene serves poorly: those whose note (in ``rows``, from
    :func:`statistics_rows`) is neither ok nor outside_swath. A line per feature, or,
    for more than :data:`LOGGED_FEATURES` features, a line per note with how many and the
    first :data:`NAMED_FEATURES` of them: the statistics table notes each (5,000 lakes over
    200 scenes logged 24 MB a line per lake)."""
    flagged = [row for row in rows if row["note"] not in ("ok", "outside_swath")]
    if len(rows) <= LOGGED_FEATURES:
        for row in flagged:
            log.warning("feature %s: %s", row["feature"], NOTES[row["note"]])
        return
    by_note: dict[str, list[str]] = {}
    for row in flagged:
        by_note.setdefault(row["note"], []).append(row["feature"])
    for note, names in by_note.items():
        named = ", ".join(names[:NAMED_FEATURES])
        more = f" and {len(names) - NAMED_FEATURES} more" if len(names) > NAMED_FEATURES else ""
        log.warning("%d features: %s: %s%s", len(names), NOTES[note], named, more)


def write_pixels(path: Path, extract: SceneExtract) -> None:
    """The pixel table as Parquet (atomically), self-describing.

    Each value column carries its unit in its field metadata (``unit``; lon/lat too);
    the file metadata ``eotrend`` holds JSON with the scene, note, the variable ->
    column map, the flag variable with every flag's mask, the quality rule each variable
    was judged by and the preset flags the file lacks, so flags can be decoded and the
    rules re-applied without the product.
    """
    table = extract.pixels.to_arrow()
    units = {"lon": "degrees_east", "lat": "degrees_north"}
    units.update({column: extract.units[v] for v, column in extract.columns.items()})
    fields = [
        f.with_metadata({"unit": units[f.name]}) if f.name in units else f for f in table.schema
    ]
    description = {
        "scene": extract.scene,
        "note": extract.note,
        "columns": extract.columns,
        "units": units,
        "flag_variable": extract.flag_variable,
        "flag_masks": extract.flag_masks,
        "quality_rules": extract.rules,
        "unapplied_flags": extract.unapplied,
    }
    metadata = {b"eotrend": json.dumps(description).encode()}
    table = pa.Table.from_arrays(table.columns, schema=pa.schema(fields, metadata=metadata))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_grids(
    grid_dir: Path,
    extract: SceneExtract,
    grid: gridding.Grid,
    max_distance_m: float,
    tags: dict[str, str],
) -> None:
    """One GeoTIFF per variable, ``<variable>.tif``, on the dataset grid (atomically).

    Each cell takes the nearest valid pixel (any feature) that has a value for the
    variable, within ``max_distance_m``; else NaN (nodata). A scene without valid pixels
    gives all-NaN grids. Band description = the value column, metadata UNIT (the
    product's units attribute, physical for log10 products; "1", CF's unit of
    dimensionless values, when the product gives none) and VARIABLE.
    """
    pixels = extract.pixels
    valid = np.flatnonzero(pixels["valid"])
    # A pixel inside two features is one pixel of the grid: its first row.
    flat = (pixels["row"][valid].astype(np.int64) << 32) | pixels["col"][valid]
    good = valid[np.sort(np.unique(flat, return_index=True)[1])]
    columns = list(extract.columns.values())
    filled = gridding.nearest_fill(
        grid,
        pixels["lon"][good],
        pixels["lat"][good],
        np.column_stack([pixels[c][good] for c in columns]).astype(np.float64),
        max_distance_m,
    )
    with atomic_path(grid_dir, suffix="") as tmp:
        tmp.mkdir()
        for (variable, column), data in zip(extract.columns.items(), filled, strict=True):
            raster.write_geotiff(
                tmp / f"{variable}.tif",
                data,
                transform=grid.transform,
                crs_wkt=grid.crs_wkt,
                nodata=float("nan"),
                descriptions=[column],
                band_metadata=[{"UNIT": extract.units[variable] or "1", "VARIABLE": variable}],
                tags=tags,
            )


def extract_to_files(
    product_path: Path,
    features: list[Feature],
    window: reader.Window | None,
    pixels_out: Path,
    stats_out: Path | None,
    grid_dir: Path | None,
    variables: list[str],
    quality: str | dict,
    grid_settings: dict,
    *,
    product_masks: bool = True,
    threads: int | None = None,
    mem_mb: float | None = None,
    provenance: dict[str, str] | None = None,
    tie: TieGrid | None = None,
) -> list[dict]:
    """Run the extract stage for one scene and write its outputs; returns the statistics
    (:func:`statistics_rows`).

    ``window`` None means the scene does not cover the AOI: the outputs are written
    empty (statistics rows with count 0 and note ``outside_swath``, all-NaN grids), not
    an error. ``grid_settings``: crs, resolution, margin, max_distance_m (see
    :func:`gridding.dataset_grid`). ``features``: the AOI
    (:func:`~eotrend.geo.aoi.read_aoi`); ``tie``: the scene's tie grid when the caller
    has read it.
    """
    extract = extract_scene(
        Path(product_path),
        features,
        window,
        variables,
        quality,
        product_masks=product_masks,
        threads=threads,
        mem_mb=mem_mb,
        tie=tie,
    )
    if extract.note != "ok":
        log.warning("%s does not cover the AOI: writing empty outputs", extract.scene)
    stats = statistics_rows(extract, features)
    warn_notes(stats)
    write_pixels(Path(pixels_out), extract)
    if stats_out is not None:
        tables.write_csv(stats, stats_out)
    if grid_dir is not None:
        grid = gridding.dataset_grid(
            features,
            mean_lon(features),
            grid_settings["crs"],
            grid_settings["resolution"],
            grid_settings["margin"],
        )
        tags = {
            "ACQUISITION_DATETIME": extract.time.isoformat(),
            "SCENE": extract.scene,
            "COVERAGE": f"{extract.scene_coverage():.6f}",
            **(provenance or {}),
        }
        write_grids(Path(grid_dir), extract, grid, grid_settings["max_distance_m"], tags)
    return stats

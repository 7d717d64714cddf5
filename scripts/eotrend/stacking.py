"""The stack stage: dated single-band rasters -> one multi-band GeoTIFF in date order.

Inputs are ordered by their parsed dates, checked for alignment, optionally composited
per period, and processed in row blocks that workers read themselves, so memory is
bounded by the block size whatever the number of inputs.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from eotrend import dates as dt
from eotrend import raster
from eotrend.errors import InputError
from eotrend.limits import plan_workers
from eotrend.parallel import Task, iter_tasks

log = logging.getLogger(__name__)

REDUCERS = ("max", "min", "mean", "median", "count", "first", "last")


@dataclass(frozen=True)
class Band:
    """One output band: its label (ISO date or period), date, and the files it reduces."""

    label: str
    date: datetime
    sources: tuple[str, ...]


def resolve_inputs(inputs: list[str | Path], variable: str | None = None) -> list[Path]:
    """GeoTIFF paths from files and folders (a folder gives <variable>.tif, or all *.tif)."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths.extend([item / f"{variable}.tif"] if variable else sorted(item.glob("*.tif")))
        else:
            paths.append(item)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(
            missing[0],
            f"does not exist ({len(missing)} input(s) missing)",
            "Check the input list or the dataset's `files` glob.",
        )
    if not paths:
        raise InputError(None, "no input rasters were given", "Check the dataset's inputs.")
    return paths


def read_dates(paths: list[Path], dates_from: str, regex: str) -> list[tuple[Path, datetime]]:
    """(path, date) for every input, sorted by date; an error lists every undated file."""
    dated, undated = [], []
    for path in paths:
        if dates_from == "metadata":
            moment = dt.date_from_metadata(raster.read_info(path).tags)
        else:
            moment = dt.date_from_name(path, regex)
        (dated if moment else undated).append((path, moment))
    if undated:
        names = ", ".join(str(p) for p, _ in undated)
        where = "metadata item DATE" if dates_from == "metadata" else f"file name regex {regex!r}"
        raise InputError(
            names,
            f"have no date readable from the {where}",
            "Fix the names or set the dataset's `dates` settings.",
        )
    return sorted(dated, key=lambda item: (item[1], str(item[0])))


def check_alignment(paths: list[Path]) -> raster.RasterInfo:
    """The common grid of all inputs; the first input that differs is an error."""
    reference = raster.read_info(paths[0])
    for path in paths[1:]:
        info = raster.read_info(path)
        for field in ("width", "height", "transform", "dtype"):
            if getattr(info, field) != getattr(reference, field):
                raise InputError(
                    path,
                    f"does not align with {paths[0]}: {field} "
                    f"{getattr(info, field)} != {getattr(reference, field)}",
                    "Reproject the inputs onto one grid (gdalwarp) first.",
                )
        if not _same_crs(info.crs_wkt, reference.crs_wkt):
            raise InputError(
                path,
                f"has another CRS than {paths[0]}",
                "Reproject the inputs onto one grid (gdalwarp) first.",
            )
    return reference


def _same_crs(a: str, b: str) -> bool:
    from osgeo import osr

    if a == b:
        return True
    srs_a, srs_b = osr.SpatialReference(), osr.SpatialReference()
    srs_a.ImportFromWkt(a)
    srs_b.ImportFromWkt(b)
    return bool(srs_a.IsSame(srs_b))


def plan_bands(dated: list[tuple[Path, datetime]], period: str) -> list[Band]:
    """Group inputs into output bands; two inputs on one date need a period composite."""
    groups: dict[str, tuple[datetime, list[str]]] = {}
    for path, moment in dated:
        label, middle = dt.period_of(moment, period)
        if period == "none" and label in groups:
            raise InputError(
                path,
                f"has the same date ({label}) as {groups[label][1][0]}",
                "Remove one, or set a composite period (e.g. year) to combine them.",
            )
        groups.setdefault(label, (middle, []))[1].append(str(path))
    return [Band(label, middle, tuple(sources)) for label, (middle, sources) in groups.items()]


def reduce_stack(values: np.ndarray, reducer: str) -> np.ndarray:
    """NaN-aware reduction over axis 0 of (n, rows, cols): NaN never enters a result;
    cells with no value are NaN (count gives 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells are expected
        if reducer in ("max", "min", "mean", "median"):
            return getattr(np, f"nan{reducer}")(values, axis=0)
    if reducer == "count":
        return np.sum(~np.isnan(values), axis=0).astype(values.dtype)
    if reducer in ("first", "last"):
        ordered = values if reducer == "first" else values[::-1]
        has = ~np.isnan(ordered)
        index = np.argmax(has, axis=0)
        picked = np.take_along_axis(ordered, index[None], axis=0)[0]
        return np.where(has.any(axis=0), picked, np.nan)
    raise ValueError(f"unknown reducer {reducer!r}; expected one of {REDUCERS}")


def stack_block_task(
    bands: list[tuple[str, ...]], row0: int, nrows: int, reducer: str | None, nodata: float | None
) -> np.ndarray:
    """Worker task: rows [row0, row0 + nrows) of every output band -> (nbands, nrows, width)
    float32. Each band reduces its sources' rows with ``reducer`` (None: one source per
    band, copied); ``nodata`` (if given) counts as missing."""
    out = []
    for sources in bands:
        layers = np.stack([raster.read_rows(path, row0, nrows, bands=[1])[0] for path in sources])
        if nodata is not None:
            layers[layers == nodata] = np.nan
        out.append(layers[0] if reducer is None else reduce_stack(layers, reducer))
    return np.stack(out).astype(np.float32)


def stack(
    inputs: list[str | Path],
    output: Path,
    dates_csv: Path,
    *,
    variable: str | None = None,
    dates_from: str = "filename",
    regex: str = dt.DEFAULT_NAME_REGEX,
    period: str = "none",
    reducer: str = "max",
    nodata: float | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
    tags: dict[str, str] | None = None,
) -> list[Band]:
    """Write the stack of ``inputs`` to ``output`` (float32, NaN nodata, one band per date
    or period, band description = ISO date) and the band table to ``dates_csv``."""
    paths = resolve_inputs(inputs, variable)
    dated = read_dates(paths, dates_from, regex)
    info = check_alignment([path for path, _ in dated])
    bands = plan_bands(dated, period)
    log.info(
        "%d inputs -> %d bands (%s to %s), period %s",
        len(paths),
        len(bands),
        bands[0].label,
        bands[-1].label,
        period,
    )
    probe = plan_workers(info.height, threads=threads, mem_mb=mem_mb, task_mem_mb=1)
    budget = probe.bytes_per_worker()
    rows = raster.block_rows(
        info.height, info.width, len(paths) + len(bands), budget, bytes_per_value=4
    )
    tasks = [
        Task(
            f"rows {r}-{min(r + rows, info.height) - 1}",
            (
                [b.sources for b in bands],
                r,
                min(rows, info.height - r),
                None if period == "none" else reducer,
                nodata,
            ),
        )
        for r in range(0, info.height, rows)
    ]
    task_mb = (len(paths) + len(bands)) * rows * info.width * 4 * 2 / 2**20 + 50
    plan = plan_workers(len(tasks), threads=threads, mem_mb=mem_mb, task_mem_mb=task_mb)
    with raster.GeoTiffWriter(
        output,
        width=info.width,
        height=info.height,
        count=len(bands),
        transform=info.transform,
        crs_wkt=info.crs_wkt,
        dtype="float32",
        nodata=float("nan"),
        descriptions=[b.date.date().isoformat() for b in bands],
        band_metadata=[
            {
                "DATE": b.date.isoformat(),
                "PERIOD": b.label,
                "SOURCES": ";".join(Path(s).name for s in b.sources),
            }
            for b in bands
        ],
        tags=tags or {},
    ) as writer:
        for index, block in iter_tasks(
            stack_block_task, tasks, plan, label="row blocks", logger=log
        ):
            writer.write_rows(tasks[index].args[1], block)
    write_dates_csv(dates_csv, bands)
    return bands


def write_dates_csv(path: Path, bands: list[Band]) -> None:
    """The band table: band (1-based), label, date (ISO), sources (';'-separated)."""
    import pandas as pd

    from eotrend.atomic import atomic_path

    table = pd.DataFrame(
        {
            "band": range(1, len(bands) + 1),
            "label": [b.label for b in bands],
            "date": [b.date.isoformat() for b in bands],
            "sources": [";".join(b.sources) for b in bands],
        }
    )
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)

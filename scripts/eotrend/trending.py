"""The trend stage: per-pixel linear regression of a stack's values on time.

The stack is fitted in row blocks that workers read from the file themselves (never a
pickled copy of the stack); the parent writes each block of statistics as it arrives.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from eotrend import raster, regression
from eotrend.dates import date_from_metadata
from eotrend.errors import InputError
from eotrend.limits import plan_workers
from eotrend.parallel import Task, iter_tasks

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def band_dates(info: raster.RasterInfo) -> list[datetime]:
    """The date of every band, from its DATE metadata item (as written by the stack stage)."""
    moments = [date_from_metadata(meta) for meta in info.band_metadata]
    missing = [str(i + 1) for i, moment in enumerate(moments) if moment is None]
    if missing:
        raise InputError(
            info.path,
            f"bands {', '.join(missing)} carry no DATE metadata",
            "Build the stack with scripts/stack.py, which dates every band.",
        )
    return moments


def time_axis(moments: list[datetime], unit: str) -> np.ndarray:
    """Time values (n,) float64: decimal years, or days since 1970-01-01 (UTC)."""
    if unit == "year":
        return regression.decimal_year(moments)
    if unit == "day":
        return np.array([(m - EPOCH).total_seconds() / 86400.0 for m in moments])
    raise ValueError(f"unknown time unit {unit!r}; expected year or day")


def fit_block_task(
    stack_path: str, row0: int, nrows: int, t: tuple[float, ...], min_obs: int
) -> np.ndarray:
    """Worker task: the statistics of rows [row0, row0 + nrows) -> (7, nrows, width) float32,
    bands in :data:`regression.STAT_NAMES` order."""
    values = raster.read_rows(stack_path, row0, nrows)  # (n, nrows, width)
    n, _, width = values.shape
    stats = regression.ols(np.asarray(t), values.reshape(n, -1), min_obs=min_obs)
    return np.stack(
        [
            np.asarray(stats[name], dtype=np.float32).reshape(nrows, width)
            for name in regression.STAT_NAMES
        ]
    )


def trend(
    stack_path: Path,
    output: Path,
    *,
    min_obs: int = 3,
    time_unit: str = "year",
    chunk_rows: int | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
    tags: dict[str, str] | None = None,
) -> None:
    """Fit every pixel of ``stack_path`` and write the statistics GeoTIFF ``output``
    (float32, NaN nodata, bands slope, intercept, rvalue, pvalue, stderr,
    intercept_stderr, nobs; slope per ``time_unit``)."""
    info = raster.read_info(stack_path)
    moments = band_dates(info)
    t = time_axis(moments, time_unit)
    if info.count < min_obs:
        log.warning(
            "%s has %d bands, fewer than min_obs=%d: every pixel will be NaN",
            stack_path,
            info.count,
            min_obs,
        )
    probe = plan_workers(info.height, threads=threads, mem_mb=mem_mb, task_mem_mb=1)
    # ols holds a few float64 copies of its (n, pixels) input: budget 8 values per input.
    budget = probe.bytes_per_worker()
    rows = chunk_rows or raster.block_rows(info.height, info.width, 8 * info.count, budget)
    tasks = [
        Task(
            f"rows {r}-{min(r + rows, info.height) - 1}",
            (str(stack_path), r, min(rows, info.height - r), tuple(t), min_obs),
        )
        for r in range(0, info.height, rows)
    ]
    task_mb = 8 * info.count * rows * info.width * 8 / 2**20 + 50
    plan = plan_workers(len(tasks), threads=threads, mem_mb=mem_mb, task_mem_mb=task_mb)
    all_tags = {
        "TIME_UNIT": time_unit,
        "MIN_OBS": str(min_obs),
        "DATES": ",".join(m.date().isoformat() for m in moments),
        **(tags or {}),
    }
    with raster.GeoTiffWriter(
        output,
        width=info.width,
        height=info.height,
        count=len(regression.STAT_NAMES),
        transform=info.transform,
        crs_wkt=info.crs_wkt,
        dtype="float32",
        nodata=float("nan"),
        descriptions=list(regression.STAT_NAMES),
        tags=all_tags,
        cog=True,
    ) as writer:
        for index, block in iter_tasks(fit_block_task, tasks, plan, label="row blocks", logger=log):
            writer.write_rows(tasks[index].args[1], block)

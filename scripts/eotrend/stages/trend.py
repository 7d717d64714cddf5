"""The trend stage: per-pixel regression of a stack's values on time.

The stack is cut into windows of whole tiles (full-width row blocks unless the workers need
more pieces or a row block would not fit the memory budget); workers read their own window
from the file (never a pickled copy of the stack) and fit it with the vectorised statistics
of :mod:`eotrend.stats.regression`; the parent writes each window of statistics as it arrives.
Every pixel's statistics depend on that pixel alone, so the output is identical for any
number of workers and any window size.

For stacks too large for one job, Snakemake's scattergather runs one trend job per row
tile (``--set-scatter trend_tiles=N``); each job fits its rows of the stack (through a
VRT window of it, no copy) and the gather writes them into one GeoTIFF. A pixel's
statistics depend only on its own values and the dates, so the gathered result equals
the single-job result exactly.
"""

from __future__ import annotations

import logging
import math
import re
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
from osgeo import gdal

from eotrend.core import provenance
from eotrend.core.errors import InputError
from eotrend.engine.limits import plan_workers
from eotrend.engine.pool import Task, iter_tasks
from eotrend.geo import raster
from eotrend.geo.dates import date_from_metadata
from eotrend.stats import fdr, seasonal
from eotrend.stats.pixelwise import Options, fit, time_axis

gdal.UseExceptions()
log = logging.getLogger(__name__)

# Codecs of the output; the first, the fastest to write and read, is the default.
COMPRESSIONS = ("ZSTD", "DEFLATE", "LZW")
# Largest window a worker holds, in bytes of its per-pixel memory (see _bytes_per_pixel):
# bigger windows gain nothing (the fit runs in cache-sized chunks) and cost memory.
MAX_WINDOW_BYTES = 96 * 2**20
# Stacks of up to this many values (32 M: 128 MB of float32, about 1 s of work) are fitted
# as one window in this process when they fit the memory budget: starting worker processes
# costs 0.3-0.5 s (each imports numpy, scipy and GDAL), more than they would save. GDAL then
# decodes the stack's tiles with the job's CPUs. The robust statistics cost about n / 2
# times more per value (all pairs of n bands), so count for that many.
INLINE_MAX_VALUES = 2**25
# Windows per worker otherwise: enough to balance the workers' loads, few enough that each
# still reads whole tiles.
WINDOWS_PER_WORKER = 4
# Statistics of at most this many bytes get their q-values (trend.fdr) in memory; larger
# ones are written to a plain file first and gathered with them (8 bytes per pixel more).
QVALUE_MEMORY_BYTES = 256 * 2**20
# Memory of a worker besides its window: interpreter, numpy, GDAL, the fit's chunk buffers.
WORKER_FIXED_MB = 120


def band_dates(info: raster.RasterInfo) -> list[datetime]:
    """The date of every band, from its DATE metadata item (as written by the stack stage)."""
    moments = [date_from_metadata(meta) for meta in info.band_metadata]
    missing = [str(i + 1) for i, moment in enumerate(moments) if moment is None]
    if missing:
        raise InputError(
            info.path,
            f"bands {', '.join(missing)} carry no DATE metadata",
            "Build the stack with `python -m eotrend stack`, which dates every band.",
        )
    return moments


def fit_window_task(
    stack_path: str,
    window: tuple[int, int, int, int],
    t: tuple[float, ...],
    min_obs: int,
    options: Options,
    cells: tuple[np.ndarray, np.ndarray] | None,
    read_threads: int | None = None,
) -> np.ndarray:
    """Worker task: read ``window`` (row0, nrows, col0, ncols) of the stack (GDAL decoding
    with ``read_threads``) and :func:`fit` it -> (bands, nrows, ncols) float32."""
    row0, nrows, col0, ncols = window
    values = raster.read_window(stack_path, row0, nrows, col0, ncols, threads=read_threads)
    return fit(np.asarray(t), values, min_obs=min_obs, options=options, cells=cells)


def _bytes_per_pixel(info: raster.RasterInfo, bands: int) -> int:
    """Worker memory per pixel of a window: the values read plus GDAL's cache of the same
    tiles during the read, and the float32 statistics (``bands`` of them)."""
    itemsize = 8 if info.dtype in ("float64", "int32", "uint32", "int64", "uint64") else 4
    return 2 * info.count * itemsize + 4 * bands


def plan_windows(
    info: raster.RasterInfo,
    *,
    bytes_per_pixel: int,
    budget_bytes: int,
    workers: int,
    chunk_rows: int | None = None,
    robust: bool = False,
) -> list[tuple[int, int, int, int]]:
    """Windows (row0, nrows, col0, ncols) covering the stack, in row-major order.

    With ``chunk_rows``: full-width row blocks of that many rows. Otherwise windows of
    whole tiles of the stack (``info.block_size``). A stack of up to
    :data:`INLINE_MAX_VALUES` values (each counted ``n / 2`` times with ``robust``) that
    fits ``budget_bytes`` at ``bytes_per_pixel`` is one window (fitted without starting
    workers). A larger one is cut into windows within the budget and
    :data:`MAX_WINDOW_BYTES`: full-width row blocks of as many tile rows as fit, or single
    tile rows cut into column windows when a tile row does not fit; then further, down to
    single tiles, until there are :data:`WINDOWS_PER_WORKER` windows per worker.
    """
    height, width = info.height, info.width
    if chunk_rows is not None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        return [(r, min(chunk_rows, height - r), 0, width) for r in range(0, height, chunk_rows)]
    work = info.count * height * width * (1 + info.count // 2 if robust else 1)
    if work <= INLINE_MAX_VALUES and (height * width * bytes_per_pixel <= budget_bytes):
        return [(0, height, 0, width)]
    tile_w, tile_h = info.block_size
    tile_w = min(max(tile_w, 1), width)
    tile_h = min(max(tile_h, 1), height)
    max_pixels = max(1, min(budget_bytes, MAX_WINDOW_BYTES) // bytes_per_pixel)
    tile_rows = math.ceil(height / tile_h)
    if max_pixels >= tile_h * width:  # full-width blocks of whole tile rows
        rows_step = tile_h * min(tile_rows, max_pixels // (tile_h * width))
        cols_step = width
    elif max_pixels >= tile_h * tile_w:  # one tile row, cut into columns of whole tiles
        rows_step = tile_h
        cols_step = tile_w * (max_pixels // (tile_h * tile_w))
    else:  # tiles (or strips) larger than the budget: rows that fit, unaligned
        rows_step = max(1, min(height, max_pixels // width))
        cols_step = width
    if workers > 1:
        wanted = WINDOWS_PER_WORKER * workers
        while _count(height, width, rows_step, cols_step) < wanted:
            if rows_step > tile_h:  # fewer tile rows per block first: full rows read best
                rows_step = tile_h * max(1, (rows_step // tile_h) // 2)
            elif cols_step > tile_w:
                cols_step = tile_w * max(1, math.ceil(cols_step / tile_w) // 2)
            else:
                break
    return [
        (r, min(rows_step, height - r), c, min(cols_step, width - c))
        for r in range(0, height, rows_step)
        for c in range(0, width, cols_step)
    ]


def _count(height: int, width: int, rows_step: int, cols_step: int) -> int:
    return math.ceil(height / rows_step) * math.ceil(width / cols_step)


def trend(
    stack_path: Path,
    output: Path,
    *,
    min_obs: int = 3,
    time_unit: str = "year",
    robust: bool = False,
    options: Options | None = None,
    chunk_rows: int | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
    tags: dict[str, str] | None = None,
    cog: bool = True,
    compress: str = "ZSTD",
    fill_qvalues: bool = True,
    block: int = 256,
) -> None:
    """Fit every pixel of ``stack_path`` and write the statistics GeoTIFF ``output``.

    Output: float32, NaN nodata, the stack's CRS and transform, bands named by
    :meth:`Options.names`: slope, intercept, rvalue, pvalue, stderr, intercept_stderr,
    nobs; with ``ci`` slope_low, slope_high; with the robust bands sen_slope,
    sen_intercept, mk_tau, mk_pvalue (and sen_slope_low, sen_slope_high with ``ci``); with
    seasons seasonal_sen_slope, seasonal_tau, seasonal_pvalue; with breaks break_time,
    break_pvalue, break_shift; with fdr qvalue. Slopes per ``time_unit``; tags UNIT (of
    the stack's values, :func:`eotrend.geo.raster.band_unit`, when it gives one),
    TIME_UNIT, DATES, MIN_OBS, ROBUST, those of :meth:`Options.tags` and the provenance tags (plus
    ``tags``). A Cloud-Optimised GeoTIFF when ``cog`` (overviews only for rasters larger
    than a screen), compressed with ``compress`` at its fastest level with the
    floating-point predictor.

    The q-values need every pixel's p-value: with fdr (and ``fill_qvalues``) the
    statistics are held until the last window is fitted when they take at most
    :data:`QVALUE_MEMORY_BYTES`; a larger fit goes to a plain GeoTIFF next to ``output``
    first, then :func:`eotrend.stages.gather` writes ``output`` with the qvalue band
    filled. (A tile of a larger fit leaves it NaN: ``fill_qvalues=False``; the gather of
    the tiles fills it.)

    Args:
        stack_path: multi-band GeoTIFF whose bands carry DATE metadata (the stack stage).
        output: GeoTIFF to write (atomically).
        min_obs: fewest valid values for a pixel to get statistics (>= 2).
        time_unit: "year" (decimal years) or "day" (days since 1970-01-01).
        robust: add the Theil-Sen and Mann-Kendall bands (when ``options`` is None).
        options: the statistics beyond least squares; None = ``Options(robust=robust)``.
        chunk_rows: rows per block (full-width blocks); None = planned from the memory
            budget, the stack's tiles and the worker count.
        threads: CPUs to use (workers, and compression threads at the end).
        mem_mb: memory budget of the whole job, MB; None = what the machine has free.
        tags: extra dataset tags (e.g. provenance.tags(config digest)).
        cog: write a Cloud-Optimised GeoTIFF.
        compress: GDAL codec of the output (ZSTD, DEFLATE, LZW).
        fill_qvalues: compute the qvalue band here (False for a tile of a larger fit).
        block: tile size of the output, pixels (a multiple of 16; at least 128 with
            ``cog``): smaller for a raster of a few cells, whose tiles are otherwise
            mostly padding to compress.

    Raises:
        InputError: the stack cannot be read, its bands carry no dates, min_obs < 2, or
            the options contradict each other.
    """
    options = Options(robust=robust) if options is None else options
    if min_obs < 2:
        raise InputError("min_obs", f"must be at least 2, got {min_obs}", "Set min_obs >= 2.")
    options.check(time_unit)
    info = raster.read_info(stack_path)
    names = options.names()
    hold = options.fdr and fill_qvalues
    if hold and info.height * info.width * len(names) * 4 > QVALUE_MEMORY_BYTES:
        with tempfile.TemporaryDirectory(dir=Path(output).parent) as folder:
            plain = Path(folder) / "fit.tif"
            trend(
                stack_path,
                plain,
                min_obs=min_obs,
                time_unit=time_unit,
                options=options,
                chunk_rows=chunk_rows,
                threads=threads,
                mem_mb=mem_mb,
                tags=tags,
                cog=False,
                compress="NONE",  # read once by the gather: not worth compressing
                fill_qvalues=False,
            )
            gather([plain], Path(output), threads=threads, compress=compress)
        return
    moments = band_dates(info)
    t = time_axis(moments, time_unit)
    cells = seasonal.cells(moments, options.seasons) if options.seasonal else None
    if info.count < min_obs:
        log.warning(
            "%s has %d bands, fewer than min_obs=%d: every pixel will be NaN",
            stack_path,
            info.count,
            min_obs,
        )
    # The CPUs and memory this job may use, before the windows exist (tasks unbounded).
    probe = plan_workers(info.height * info.width, threads=threads, mem_mb=mem_mb, task_mem_mb=1)
    per_pixel = _bytes_per_pixel(info, len(names))
    budget = max(1, probe.bytes_per_worker() - WORKER_FIXED_MB * 2**20)
    windows = plan_windows(
        info,
        bytes_per_pixel=per_pixel,
        budget_bytes=budget,
        workers=probe.workers,
        chunk_rows=chunk_rows,
        robust=options.pairwise,
    )
    largest = max(nrows * ncols for _, nrows, _, ncols in windows)
    task_mb = largest * per_pixel / 2**20 + WORKER_FIXED_MB
    plan = plan_workers(len(windows), threads=threads, mem_mb=mem_mb, task_mem_mb=task_mb)
    # A lone window runs in this process (no pool): GDAL may decode with all the job's CPUs.
    read_threads = probe.workers if len(windows) == 1 else 1
    tasks = [
        Task(
            f"rows {r}-{r + nr - 1}" + ("" if nc == info.width else f" columns {c}-{c + nc - 1}"),
            (str(stack_path), (r, nr, c, nc), tuple(t), min_obs, options, cells, read_threads),
        )
        for r, nr, c, nc in windows
    ]
    unit = raster.band_unit(info)
    all_tags = {
        **provenance.tags(),
        **({"UNIT": unit} if unit else {}),
        "TIME_UNIT": time_unit,
        "MIN_OBS": str(min_obs),
        **options.tags(),
        "DATES": ",".join(m.isoformat() for m in moments),
        **(tags or {}),
    }
    with raster.GeoTiffWriter(
        output,
        width=info.width,
        height=info.height,
        count=len(names),
        transform=info.transform,
        crs_wkt=info.crs_wkt,
        dtype="float32",
        nodata=float("nan"),
        descriptions=list(names),
        tags=all_tags,
        cog=cog,
        block=block,
        compress=compress,
        level=1 if compress.upper() in ("ZSTD", "DEFLATE") else None,
        overviews=raster.overview_levels(info.width, info.height) if cog else None,
        threads=probe.workers,  # compression runs at the end, when the workers are done
    ) as writer:
        most_obs = 0.0
        held = []  # (row0, col0, block) of every window, with fdr
        for index, block in iter_tasks(
            fit_window_task, tasks, plan, label="windows", logger=log, inline_single=True
        ):
            row0, _, col0, _ = windows[index]
            if hold:
                held.append((row0, col0, block))
            else:
                writer.write_window(row0, col0, block)
            nobs = block[names.index("nobs")]
            if np.isfinite(nobs).any():
                most_obs = max(most_obs, float(np.nanmax(nobs)))
        if hold:
            p, q = names.index(options.fdr_pvalue), names.index(fdr.QVALUE)
            table = fdr.QValues(block[p] for _, _, block in held)
            for row0, col0, block in held:
                block[q] = table(block[p])
                writer.write_window(row0, col0, block)
    if most_obs < min_obs <= info.count:  # (fewer bands than min_obs was said above)
        log.warning(
            "%s: no pixel has %d valid values (min_obs; the most any pixel has is %d): "
            "every statistic is NaN. Check the stack's nodata and the inputs' dates.",
            stack_path,
            min_obs,
            int(most_obs),
        )


SCATTER_ITEM = re.compile(r"^(\d+)-of-(\d+)$")


def parse_tile(item: str) -> tuple[int, int]:
    """(index, count) of a Snakemake scatter item such as "2-of-7" (index from 1)."""
    match = SCATTER_ITEM.match(item)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise InputError(f"--tile {item}", "is not a tile such as 2-of-7", "Give INDEX-of-COUNT.")
    return int(match.group(1)), int(match.group(2))


def tile_rows(height: int, index: int, count: int) -> tuple[int, int]:
    """Rows [row0, row1) of tile ``index`` (1-based) of ``count`` near-equal row tiles."""
    if count > height:
        raise InputError(
            f"{count} tiles",
            f"are more than the stack's {height} rows",
            "Use at most as many trend tiles as the stack has rows.",
        )
    return (index - 1) * height // count, index * height // count


def fit_tile(stack: Path, output: Path, item: str, **options) -> None:
    """Fit the rows of tile ``item`` of ``stack`` into ``output`` (a plain tiled GeoTIFF).

    ``options`` go to :func:`eotrend.stats.pixelwise.trend` (min_obs, time_unit, robust, threads,
    mem_mb, tags).
    """
    index, count = parse_tile(item)
    info = raster.read_info(stack)
    row0, row1 = tile_rows(info.height, index, count)
    log.info("tile %s: rows %d-%d of %d", item, row0, row1 - 1, info.height)
    with tempfile.TemporaryDirectory(dir=Path(output).parent) as folder:
        window = Path(folder) / "rows.vrt"
        source = gdal.Open(str(stack))
        gdal.Translate(str(window), source, format="VRT", srcWin=[0, row0, info.width, row1 - row0])
        source = None  # closed before the VRT is read
        trend(window, Path(output), cog=False, fill_qvalues=False, **options)


def gather(
    tiles: list[Path], output: Path, *, threads: int | None = None, compress: str = "ZSTD"
) -> None:
    """Write row tiles (in order) into one Cloud-Optimised GeoTIFF ``output``.

    The tiles must share width, bands and CRS; the output takes the first tile's origin,
    band names and tags. A qvalue band (trend.fdr) is filled here, from the p-values of
    all the tiles (:class:`eotrend.stats.fdr.TileFiller`).
    """
    infos = [raster.read_info(tile) for tile in tiles]
    first = infos[0]
    for info in infos[1:]:
        if (info.width, info.count, info.descriptions) != (
            first.width,
            first.count,
            first.descriptions,
        ):
            raise InputError(
                info.path,
                f"is not a tile of the same trend as {first.path}",
                "Delete the tiles and run the trend again.",
            )
    height = sum(info.height for info in infos)
    fill = fdr.TileFiller(infos) if fdr.TileFiller.wanted(first) else None
    with raster.GeoTiffWriter(
        output,
        width=first.width,
        height=height,
        count=first.count,
        transform=first.transform,
        crs_wkt=first.crs_wkt,
        dtype="float32",
        nodata=float("nan"),
        descriptions=list(first.descriptions),
        tags=first.tags,
        cog=True,
        compress=compress,
        level=1 if compress.upper() in ("ZSTD", "DEFLATE") else None,
        overviews=raster.overview_levels(first.width, height),
        threads=threads,
    ) as writer:
        row = 0
        for info in infos:
            block = raster.read_rows(info.path, 0, info.height)
            writer.write_rows(row, fill(block) if fill else block)
            row += info.height
    log.info("gathered %d tiles (%d rows) into %s", len(tiles), height, output)


def options_of(settings: dict) -> Options:
    """The :class:`Options` of a dataset's validated ``trend`` settings."""
    seasons, fdr_settings = settings["seasons"], settings["fdr"]
    return Options(
        robust=settings["robust"],
        test=settings["test"],
        lags=settings["lags"],
        ci=float(settings["ci"]),
        seasons=seasons if isinstance(seasons, str) else tuple(map(tuple, seasons)),
        breaks=settings["breaks"],
        fdr=fdr_settings["enabled"],
        fdr_alpha=fdr_settings["alpha"],
        fdr_pvalue=fdr_settings["pvalue"],
    )


def fit_arguments(settings: dict) -> dict:
    """The arguments of :func:`trend` that a dataset's ``trend`` block decides (min_obs,
    time_unit, options) and the provenance tags with its digest: rule ``trend_tile``'s
    and each feature's trend of rule ``lake_grids``."""
    return {
        "min_obs": settings["min_obs"],
        "time_unit": settings["time_unit"],
        "options": options_of(settings),
        "tags": provenance.tags(provenance.settings_digest(settings)),
    }


def run_tile(
    *,
    stack: str,
    tile: str,
    settings: dict,
    scatteritem: str | None = None,
    compress: str = COMPRESSIONS[0],
    chunk_rows: int | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> None:
    """Rule ``trend_tile`` (and ``python -m eotrend trend``): fit every pixel of ``stack``,
    or only the rows of ``scatteritem`` (e.g. "2-of-3"), into ``tile`` (GeoTIFF).

    ``settings`` is the dataset's ``trend`` block (min_obs, time_unit, robust, test, lags,
    ci, seasons, breaks, fdr), whose digest is written as provenance.
    """
    common = {
        **fit_arguments(settings),
        "compress": compress,
        "chunk_rows": chunk_rows,
        "threads": threads,
        "mem_mb": mem_mb,
    }
    if scatteritem:
        fit_tile(Path(stack), Path(tile), scatteritem, **common)
    else:
        trend(Path(stack), Path(tile), **common)


def run_gather(
    *,
    tiles: list[str],
    raster: str,
    compress: str = COMPRESSIONS[0],
    threads: int | None = None,
) -> None:
    """Rule ``trend`` (and ``python -m eotrend trend --gather``): the row ``tiles`` (in
    order) written into one GeoTIFF ``raster``."""
    gather([Path(path) for path in tiles], Path(raster), threads=threads, compress=compress)

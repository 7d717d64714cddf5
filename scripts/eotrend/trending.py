"""The trend stage: per-pixel regression of a stack's values on time.

The stack is cut into windows of whole tiles (full-width row blocks unless the workers need
more pieces or a row block would not fit the memory budget); workers read their own window
from the file (never a pickled copy of the stack) and fit it with the vectorised statistics
of :mod:`eotrend.regression`; the parent writes each window of statistics as it arrives.
Every pixel's statistics depend on that pixel alone, so the output is identical for any
number of workers and any window size.
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from eotrend import breaks, mannkendall, provenance, raster, regression, seasonal
from eotrend import fdr as fdr_module
from eotrend.dates import date_from_metadata
from eotrend.errors import InputError
from eotrend.limits import plan_workers
from eotrend.parallel import Task, iter_tasks

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
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
# Pixels fitted at a time inside a window: bounds the float64 statistics (13 per pixel).
PIECE_PIXELS = 2**16
# Statistics of at most this many bytes get their q-values (trend.fdr) in memory; larger
# ones are written to a plain file first and gathered with them (8 bytes per pixel more).
QVALUE_MEMORY_BYTES = 256 * 2**20
# Memory of a worker besides its window: interpreter, numpy, GDAL, the fit's chunk buffers.
WORKER_FIXED_MB = 120


@dataclass(frozen=True)
class Options:
    """What the trend stage computes beyond least squares (the config's ``trend`` keys).

    Attributes:
        robust: Theil-Sen slope and intercept, Mann-Kendall tau and p
            (:data:`regression.ROBUST_NAMES`).
        test: the Mann-Kendall test of ``mk_pvalue`` (:data:`mannkendall.TESTS`); other
            than ``original`` it implies ``robust``.
        lags: autocorrelation lags of hamed_rao and yue_wang (0 = the test's own: all
            for hamed_rao, 1 for yue_wang).
        ci: confidence level of the slope intervals (slope_low/high, and
            sen_slope_low/high with the robust bands); 0 = none.
        seasons: "none", "month", "season" or month groups (:mod:`eotrend.seasonal`).
        breaks: "none" or "pettitt" (:mod:`eotrend.breaks`).
        fdr: add the ``qvalue`` band: Benjamini-Hochberg q-values of ``fdr_pvalue`` over
            the map (:mod:`eotrend.fdr`).
        fdr_alpha: alpha_FDR of the maps (q below it is significant).
        fdr_pvalue: the band whose p-values the q-values control: pvalue, mk_pvalue or
            seasonal_pvalue.
    """

    robust: bool = False
    test: str = "original"
    lags: int = 0
    ci: float = 0.0
    seasons: str | tuple[tuple[int, ...], ...] = "none"
    breaks: str = "none"
    fdr: bool = False
    fdr_alpha: float = fdr_module.DEFAULT_ALPHA
    fdr_pvalue: str = "pvalue"

    @property
    def mann_kendall(self) -> bool:
        """Whether the robust (Theil-Sen / Mann-Kendall) bands are computed."""
        return self.robust or self.test != "original"

    @property
    def seasonal(self) -> bool:
        return self.seasons != "none"

    @property
    def pairwise(self) -> bool:
        """Whether some statistic costs O(n**2) per pixel (all pairs of bands)."""
        return self.mann_kendall or self.seasonal or self.breaks != "none"

    def names(self) -> tuple[str, ...]:
        """Band names of the output, in order (see :func:`trend`)."""
        names = regression.STAT_NAMES
        if self.ci:
            names += regression.INTERVAL_NAMES
        if self.mann_kendall:
            names += regression.robust_names(self.ci)
        if self.seasonal:
            names += seasonal.SEASONAL_NAMES
        if self.breaks != "none":
            names += breaks.BREAK_NAMES
        if self.fdr:
            names += (fdr_module.QVALUE,)
        return names

    def tags(self) -> dict[str, str]:
        """Dataset tags recording the options (FDR_* tags tell the gather what to fill)."""
        tags = {"ROBUST": "yes" if self.mann_kendall else "no"}
        if self.mann_kendall:
            tags["MK_TEST"] = self.test
            if self.test in ("hamed_rao", "yue_wang"):
                default = "all" if self.test == "hamed_rao" else "1"
                tags["MK_LAGS"] = str(self.lags) if self.lags else default
        if self.ci:
            tags["CI_LEVEL"] = repr(self.ci)
        if self.seasonal:
            tags["SEASONS"] = json.dumps(seasonal.month_groups(self.seasons))
        if self.breaks != "none":
            tags["BREAKS"] = self.breaks
        if self.fdr:
            tags |= {
                "FDR_METHOD": fdr_module.METHOD,
                "FDR_ALPHA": repr(self.fdr_alpha),
                "FDR_PVALUE": self.fdr_pvalue,
            }
        return tags

    def check(self, time_unit: str) -> None:
        """Raise InputError for settings that contradict each other."""
        if self.test not in mannkendall.TESTS:
            raise InputError(
                "trend.test", f"is {self.test!r}", f"Use one of {', '.join(mannkendall.TESTS)}."
            )
        if self.seasonal:
            try:
                seasonal.month_groups(self.seasons)
            except ValueError as error:
                raise InputError("trend.seasons", str(error), "Fix the month groups.") from error
        if self.seasonal and time_unit != "year":
            raise InputError(
                "trend.seasons",
                f"needs time_unit year (the seasonal Sen slope is per year), not {time_unit}",
                "Set trend.time_unit: year, or trend.seasons: none.",
            )
        if self.fdr and self.fdr_pvalue not in self.names():
            raise InputError(
                "trend.fdr.pvalue",
                f"names the band {self.fdr_pvalue}, which these settings do not produce",
                "Use pvalue; mk_pvalue needs robust: true (or a test); seasonal_pvalue needs "
                "seasons.",
            )
        if not 0.0 <= self.ci < 1.0 or not 0.0 < self.fdr_alpha < 1.0:
            raise InputError(
                "trend.ci / trend.fdr.alpha",
                f"are {self.ci} and {self.fdr_alpha}",
                "Give ci in [0, 1) (0 = none) and fdr.alpha in (0, 1).",
            )


def stat_names(robust: bool) -> tuple[str, ...]:
    """Band names of the output: :data:`regression.STAT_NAMES`, then the robust ones."""
    return Options(robust=robust).names()


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


def fit(
    t: np.ndarray,
    values: np.ndarray,
    *,
    min_obs: int,
    robust: bool = False,
    options: Options | None = None,
    cells: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The statistics of every pixel of ``values``.

    Args:
        t: (n,) time of each band, float64.
        values: (n, rows, cols) stack window, NaN = missing, float32 or float64.
        min_obs: fewest valid values for a pixel to get statistics.
        robust: add the Theil-Sen and Mann-Kendall statistics (when ``options`` is None).
        options: what to compute; None = ``Options(robust=robust)``.
        cells: (cycle, season) of each band (:func:`seasonal.cells`), with seasons.

    Returns:
        (len(options.names()), rows, cols) float32, bands in that order; the qvalue band
        (with fdr) is NaN: q-values need the whole map (:class:`fdr.QValues`).
    """
    options = Options(robust=robust) if options is None else options
    if options.seasonal and cells is None:
        raise ValueError("seasons need the cells of the bands")
    n, rows, cols = values.shape
    flat = values.reshape(n, -1)
    names = options.names()
    out = np.full((len(names), rows * cols), np.nan, dtype=np.float32)
    for a in range(0, flat.shape[1], PIECE_PIXELS):
        piece = flat[:, a : a + PIECE_PIXELS]
        stats = regression.ols(t, piece, min_obs=min_obs)
        if options.ci:
            low, high = regression.slope_interval(
                stats["slope"], stats["stderr"], stats["nobs"], options.ci
            )
            stats |= {"slope_low": low, "slope_high": high}
        if options.mann_kendall:
            stats |= regression.theil_sen_mann_kendall(
                t, piece, min_obs=min_obs, test=options.test, lags=options.lags, ci=options.ci
            )
        if options.seasonal:
            stats |= seasonal.seasonal_kendall(*cells, piece, min_obs=min_obs)
        if options.breaks != "none":
            stats |= breaks.pettitt(t, piece, min_obs=min_obs)
        for i, name in enumerate(names):
            if name != fdr_module.QVALUE:
                out[i, a : a + PIECE_PIXELS] = stats[name]
    return out.reshape(len(names), rows, cols)


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
) -> None:
    """Fit every pixel of ``stack_path`` and write the statistics GeoTIFF ``output``.

    Output: float32, NaN nodata, the stack's CRS and transform, bands named by
    :meth:`Options.names`: slope, intercept, rvalue, pvalue, stderr, intercept_stderr,
    nobs; with ``ci`` slope_low, slope_high; with the robust bands sen_slope,
    sen_intercept, mk_tau, mk_pvalue (and sen_slope_low, sen_slope_high with ``ci``); with
    seasons seasonal_sen_slope, seasonal_tau, seasonal_pvalue; with breaks break_time,
    break_pvalue, break_shift; with fdr qvalue. Slopes per ``time_unit``; tags TIME_UNIT,
    DATES, MIN_OBS, ROBUST, those of :meth:`Options.tags` and the provenance tags (plus
    ``tags``). A Cloud-Optimised GeoTIFF when ``cog`` (overviews only for rasters larger
    than a screen), compressed with ``compress`` at its fastest level with the
    floating-point predictor.

    The q-values need every pixel's p-value: with fdr (and ``fill_qvalues``) the
    statistics are held until the last window is fitted when they take at most
    :data:`QVALUE_MEMORY_BYTES`; a larger fit goes to a plain GeoTIFF next to ``output``
    first, then :func:`eotrend.tiling.gather` writes ``output`` with the qvalue band
    filled. (A tile of a larger fit leaves it NaN: ``fill_qvalues=False``; the gather of
    the tiles fills it.)

    Args:
        stack_path: multi-band GeoTIFF whose bands carry DATE metadata (scripts/stack.py).
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
        from eotrend import tiling

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
            tiling.gather([plain], Path(output), threads=threads, compress=compress)
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
    all_tags = {
        **provenance.tags(),
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
            p, q = names.index(options.fdr_pvalue), names.index(fdr_module.QVALUE)
            table = fdr_module.QValues(block[p] for _, _, block in held)
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

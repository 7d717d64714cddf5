"""Trend stage against the published per-pixel loop and xarray, on the published stack size.

21 yearly bands x 707 x 1033 float32 pixels (730,331 per band) with ~5 % NaN, written as
the stack stage writes stacks (256 x 256 tiles, DEFLATE with the floating-point predictor,
dated bands). Measured side by side in one run:

* the published method: a Python loop over pixels calling scipy.stats.linregress on each
  pixel's valid values (timed on a random subset of pixels and extrapolated, as the table
  says);
* xarray.DataArray.polyfit(dim="time", deg=1) on the stack already in memory (what many
  users would pick; coefficients only, NaN-aware by default);
* the trend stage in-process (stack read, regression, COG written): best of 5 calls, the
  first call too; and forced into the worker pool (3 row blocks on 2 workers);
* the trend.py command (interpreter start and imports included), best of 3;
* the floors: reading the stack once (GDAL decoding with 1 and with 2 threads), and the
  regression alone on the stack in memory (one process);
* the robust statistics (--robust), and scipy.stats.theilslopes in a per-pixel loop;
* the trend statistics of issue 17, each against its peer looped over pixels (timed on
  PEER_SUBSET pixels, extrapolated): every Mann-Kendall test vs pymannkendall's, the
  seasonal test vs pymannkendall.seasonal_test, Pettitt vs pyhomogeneity, the Sen slope
  interval vs theilslopes; and the stage with every option on (Hamed-Rao, intervals,
  monthly seasons, Pettitt, FDR q-values) against the plain OLS stage.

``--scale`` (``python bench/run.py --only trend --scale``) adds a 21 x 7000 x 7000 stack
(4.1 GB as float32; made once under bench/out, about 3 GB on disk): the trend.py command's
wall time and peak memory, and the read floors (1 process; 2 worker processes).
"""

from __future__ import annotations

import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from common import EOTREND, OUT, command, command_tree, load_average, table, timed

from eotrend.geo import raster
from eotrend.stages import trend as trending
from eotrend.stats import pixelwise, regression

BANDS, HEIGHT, WIDTH = 21, 707, 1033
SUBSET = 20_000  # pixels timed in the published loop
ROBUST_SUBSET = 2_000
PEER_SUBSET = 1_000
SCALE = 7000
# The stage with every option of issue 17 on.
EVERYTHING = pixelwise.Options(
    robust=True, test="hamed_rao", ci=0.95, seasons="month", breaks="pettitt", fdr=True
)
SPEC_TAG = "BENCH_SPEC"


def make_stack(path: Path, bands: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """The benchmark stack, made once and reused: per pixel a linear trend (slope ~ N(0,
    0.01) per year) plus N(0, 0.02) noise around 0.5, 5 % NaN, bands dated 1995-07-02 on.
    Written block by block (deterministic per block), so any size fits in memory.

    Returns:
        The time axis (bands,) in decimal years.
    """
    moments = [datetime(1995 + i, 7, 2, tzinfo=UTC) for i in range(bands)]
    spec = f"{bands}x{height}x{width} seed {seed} v2"
    if path.exists() and raster.read_info(path).tags.get(SPEC_TAG) == spec:
        return regression.decimal_year(moments)
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32720)
    years = np.arange(bands, dtype=np.float32)[:, None, None]
    with raster.GeoTiffWriter(
        path,
        width=width,
        height=height,
        count=bands,
        transform=(5e5, 30, 0, 9.6e6, 0, -30),
        crs_wkt=srs.ExportToWkt(),
        descriptions=[m.date().isoformat() for m in moments],
        band_metadata=[{"DATE": m.isoformat()} for m in moments],
        tags={SPEC_TAG: spec},
        threads=2,
    ) as writer:
        for row0 in range(0, height, 256):
            rows = min(256, height - row0)
            rng = np.random.default_rng([seed, row0])
            slope = rng.normal(0.0, 0.01, (rows, width)).astype(np.float32)
            block = 0.5 + slope * years
            block += rng.normal(0.0, 0.02, (bands, rows, width)).astype(np.float32)
            block[rng.random(block.shape, dtype=np.float32) < 0.05] = np.nan
            writer.write_rows(row0, block)
    return regression.decimal_year(moments)


def published_loop_seconds(values: np.ndarray, t: np.ndarray) -> float:
    """Seconds of the published loop (linregress per pixel), timed on SUBSET random pixels
    and extrapolated to every pixel."""
    from scipy import stats

    flat = values.reshape(values.shape[0], -1)
    pick = np.random.default_rng(1).choice(flat.shape[1], SUBSET, replace=False)

    def loop() -> None:
        for p in pick:
            y = flat[:, p]
            ok = ~np.isnan(y)
            stats.linregress(t[ok], y[ok])

    return timed(loop) / SUBSET * flat.shape[1]


def theilslopes_loop_seconds(values: np.ndarray, t: np.ndarray) -> float:
    """Seconds of scipy.stats.theilslopes per pixel (Sen slope only, no Mann-Kendall),
    timed on ROBUST_SUBSET pixels and extrapolated."""
    from scipy import stats

    flat = values.reshape(values.shape[0], -1)
    pick = np.random.default_rng(2).choice(flat.shape[1], ROBUST_SUBSET, replace=False)

    def loop() -> None:
        for p in pick:
            y = flat[:, p]
            ok = ~np.isnan(y)
            stats.theilslopes(y[ok], t[ok])

    return timed(loop) / ROBUST_SUBSET * flat.shape[1]


def xarray_polyfit_seconds(values: np.ndarray, t: np.ndarray) -> float:
    """Seconds of xarray's polyfit of degree 1 along time, on the stack in memory."""
    import xarray as xr

    data = xr.DataArray(values, dims=("time", "y", "x"), coords={"time": t})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # RankWarning on pixels with too few values
        return timed(lambda: data.polyfit("time", deg=1))


def peer_loops(values: np.ndarray, t: np.ndarray) -> dict[str, float]:
    """Seconds of each peer looped over every pixel (PEER_SUBSET timed, extrapolated)."""
    import pyhomogeneity
    import pymannkendall as pmk
    from scipy import stats

    flat = values.reshape(values.shape[0], -1)
    pick = np.random.default_rng(3).choice(flat.shape[1], PEER_SUBSET, replace=False)
    pixels = [flat[:, p].astype(np.float64) for p in pick]
    peers = {
        "original": pmk.original_test,
        "hamed_rao": pmk.hamed_rao_modification_test,
        "yue_wang": lambda x: pmk.yue_wang_modification_test(x, lag=1),
        "prewhiten": pmk.pre_whitening_modification_test,
        "trend_free_prewhiten": pmk.trend_free_pre_whitening_modification_test,
        "seasonal": lambda x: pmk.seasonal_test(x, period=1),  # yearly: one season
        "pettitt": lambda x: pyhomogeneity.pettitt_test(x, sim=None),
        "sen_interval": lambda x: stats.theilslopes(x[~np.isnan(x)], t[~np.isnan(x)]),
    }
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, func in peers.items():
            out[name] = timed(lambda f=func: [f(x) for x in pixels]) / PEER_SUBSET * flat.shape[1]
    return out


def own_statistics(values: np.ndarray, t: np.ndarray) -> dict[str, float]:
    """Seconds of eotrend's statistic for each peer of :func:`peer_loops` (one process,
    the stack in memory)."""
    from eotrend.stats import breaks, seasonal

    flat = values.reshape(values.shape[0], -1)
    moments = [datetime(1995 + i, 7, 2, tzinfo=UTC) for i in range(values.shape[0])]
    cells = seasonal.cells(moments, "month")
    out = {
        test: timed(lambda s=test: regression.theil_sen_mann_kendall(t, flat, test=s))
        for test in ("original", "hamed_rao", "yue_wang", "prewhiten", "trend_free_prewhiten")
    }
    out["seasonal"] = timed(lambda: seasonal.seasonal_kendall(*cells, flat))
    out["pettitt"] = timed(lambda: breaks.pettitt(t, flat))
    out["sen_interval"] = timed(lambda: regression.theil_sen_mann_kendall(t, flat, ci=0.95))
    return out


def read_only(path: str, window: tuple[int, int, int, int]) -> None:
    """Worker task of the parallel read floor: read a window, keep nothing."""
    raster.read_window(path, *window)


def main() -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    before = load_average()
    stack = OUT / "trend_stack.tif"
    t = make_stack(stack, BANDS, HEIGHT, WIDTH)
    values = raster.read_rows(stack, 0, HEIGHT)
    loop = published_loop_seconds(values, t)
    polyfit = xarray_polyfit_seconds(values, t)
    read_1 = timed(lambda: raster.read_rows(stack, 0, HEIGHT), repeat=5)
    read_2 = timed(lambda: raster.read_window(stack, 0, HEIGHT, threads=2), repeat=5)
    fit = timed(lambda: pixelwise.fit(t, values, min_obs=3, robust=False), repeat=5)
    out = OUT / "trend.tif"
    first = timed(lambda: trending.trend(stack, out, threads=2))
    stage = min(first, timed(lambda: trending.trend(stack, out, threads=2), repeat=4))
    pool = timed(lambda: trending.trend(stack, out, threads=2, chunk_rows=256), repeat=3)
    runs = [
        command([*EOTREND, "trend", str(stack), "-o", str(OUT / "trend_cmd.tif")]) for _ in range(3)
    ]
    cmd, cmd_rss = min(runs)
    robust = timed(lambda: trending.trend(stack, OUT / "trend_robust.tif", robust=True), repeat=3)
    sen_loop = theilslopes_loop_seconds(values, t)
    everything = timed(
        lambda: trending.trend(stack, OUT / "trend_all.tif", options=EVERYTHING, threads=2),
        repeat=2,
    )
    peers = peer_loops(values, t)
    own = own_statistics(values, t)
    after = load_average()

    def row(method: str, seconds: float, note: str = "") -> tuple[str, ...]:
        return (method, f"{seconds:.3f}", f"{loop / seconds:,.0f}x", note)

    rows = [
        row(
            "published loop: linregress per pixel",
            loop,
            f"{SUBSET:,} random pixels timed, extrapolated to {HEIGHT * WIDTH:,}",
        ),
        row("xarray DataArray.polyfit(deg=1)", polyfit, "stack in memory; 2 coefficients only"),
        row(
            "**trend stage in-process** (read + fit + COG)",
            stage,
            f"best of 5; first call {first:.3f} s; 7 statistics",
        ),
        row("trend stage, forced into the worker pool", pool, "3 row blocks on 2 workers"),
        row(
            "**trend.py command**", cmd, f"best of 3, interpreter start included; {cmd_rss:.0f} MB"
        ),
        row("floor: read the stack (GDAL, 1 thread)", read_1, "best of 5"),
        row("floor: read the stack (GDAL, 2 threads)", read_2, "best of 5"),
        row("the regression alone (stack in memory)", fit, "best of 5, one process"),
        row("trend stage --robust in-process", robust, "11 statistics, best of 3"),
        row(
            "scipy theilslopes per pixel (Sen slope only)",
            sen_loop,
            f"{ROBUST_SUBSET:,} pixels timed, extrapolated",
        ),
    ]
    rows.append(
        row(
            "trend stage, every option on, in-process",
            everything,
            f"{len(EVERYTHING.names())} bands (hamed_rao, ci 0.95, seasons month, pettitt, "
            f"FDR q); best of 2; {everything / stage:.1f}x the plain stage",
        )
    )
    peer_rows = [
        (name, f"{own[name]:.3f}", f"{peers[name]:.1f}", f"{peers[name] / own[name]:,.0f}x")
        for name in peers
    ]
    slowest = min(peers[name] / own[name] for name in peers)
    goals = [
        f"stage vs published loop: {loop / stage:,.0f}x (goal >= 300x)",
        f"stage vs xarray polyfit: {polyfit / stage:.0f}x (goal >= 10x)",
        f"command vs published loop: {loop / cmd:,.0f}x (goal >= 100x)",
        f"regression alone / read (1 thread): {fit / read_1:.2f} (goal <= 3)",
        f"robust stage vs theilslopes loop: {sen_loop / robust:,.0f}x",
        f"new statistics vs their peers looped: at least {slowest:,.0f}x (goal >= 100x)",
        f"stage with every option / plain stage: {everything / stage:.1f} (goal <= 10)",
    ]
    return (
        f"## trend: {BANDS} x {HEIGHT} x {WIDTH} float32, ~5 % NaN ({before}; after: {after})\n\n"
        + table(rows, ("method", "seconds", "speed-up vs published", "notes"))
        + "\n\nThe statistics of issue 17 on the same stack (eotrend: one process, stack in "
        + f"memory; peers looped over {PEER_SUBSET:,} random pixels, extrapolated):\n\n"
        + table(peer_rows, ("statistic", "eotrend (s)", "peer loop (s)", "speed-up"))
        + "\n\n"
        + "\n".join(f"- {goal}" for goal in goals)
        + "\n"
    )


def scale() -> str:
    """The 7000 x 7000 case: the trend.py command's wall time and memory, and read floors."""
    from eotrend.engine.pool import Task, run_tasks

    OUT.mkdir(parents=True, exist_ok=True)
    stack = OUT / f"trend_stack_{SCALE}.tif"
    make_stack(stack, BANDS, SCALE, SCALE, seed=7)
    info = raster.read_info(stack)
    before = load_average()
    tile_rows = [(r, min(256, SCALE - r), 0, SCALE) for r in range(0, SCALE, 256)]
    read_1 = timed(lambda: [raster.read_window(stack, *w) for w in tile_rows])
    tasks = [Task(f"rows {w[0]}", (str(stack), w)) for w in tile_rows]
    read_2 = timed(lambda: run_tasks(read_only, tasks, 2))
    out = OUT / f"trend_{SCALE}.tif"
    wall, largest, total = command_tree(
        [*EOTREND, "trend", str(stack), "-o", str(out), "--workers", "2"]
    )
    after = load_average()
    size_gb = info.count * info.height * info.width * 4 / 1e9
    rows = [
        ("trend.py command (2 workers)", f"{wall:.1f}", f"{largest:.0f}", f"{total:.0f}"),
        ("floor: read the stack, 1 process", f"{read_1:.1f}", "", ""),
        ("floor: read the stack, 2 worker processes", f"{read_2:.1f}", "", ""),
    ]
    return (
        f"## trend at scale: {BANDS} x {SCALE} x {SCALE} float32 ({size_gb:.1f} GB; "
        f"{stack.stat().st_size / 1e9:.1f} GB on disk; {before}; after: {after})\n\n"
        + table(rows, ("run", "seconds", "peak RSS, largest process (MB)", "peak RSS, all (MB)"))
        + f"\n\ncommand / parallel read floor: {wall / read_2:.2f}\n"
    )


if __name__ == "__main__":
    print(main(), flush=True)
    if "--scale" in sys.argv:
        print(scale())

"""Trend stage against the published per-pixel loop, on the published stack size.

21 yearly bands x 707 x 1033 float32 pixels (730,331 per band) with ~5 % NaN. Measured
side by side in one run: the published method (a Python loop over pixels calling
scipy.stats.linregress; timed on a random subset of pixels and extrapolated, as said in
the table), the trend stage in-process (stack read, regression, output written), the
trend.py command (interpreter start and imports included), and the floor of reading the
stack once.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import numpy as np
from common import OUT, REPO, command, table, timed
from scipy import stats as sps

from eotrend import raster, regression, trending

BANDS, HEIGHT, WIDTH = 21, 707, 1033
SUBSET = 20_000


def make_stack(path):
    """The benchmark stack: a trend + noise, 5 % NaN, bands dated 1995..2015."""
    rng = np.random.default_rng(0)
    years = np.arange(1995, 1995 + BANDS)
    slope = rng.normal(0.0, 0.01, (HEIGHT, WIDTH))
    data = 0.5 + slope * (years - 1995)[:, None, None] + rng.normal(0, 0.02, (BANDS, HEIGHT, WIDTH))
    data[rng.random(data.shape) < 0.05] = np.nan
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32720)
    moments = [datetime(int(y), 7, 2, tzinfo=UTC) for y in years]
    raster.write_geotiff(
        path,
        data.astype(np.float32),
        transform=(5e5, 30, 0, 9.6e6, 0, -30),
        crs_wkt=srs.ExportToWkt(),
        nodata=float("nan"),
        descriptions=[m.date().isoformat() for m in moments],
        band_metadata=[{"DATE": m.isoformat()} for m in moments],
    )
    return regression.decimal_year(moments)


def published_loop_seconds(path, t) -> float:
    """Seconds per pixel of the published loop, times the pixel count."""
    values = raster.read_rows(path, 0, HEIGHT).reshape(BANDS, -1)
    pick = np.random.default_rng(1).choice(values.shape[1], SUBSET, replace=False)

    def loop():
        for p in pick:
            y = values[:, p]
            ok = ~np.isnan(y)
            sps.linregress(t[ok], y[ok])

    return timed(loop) / SUBSET * values.shape[1]


def main() -> str:
    OUT.mkdir(parents=True, exist_ok=True)
    stack = OUT / "trend_stack.tif"
    t = make_stack(stack)
    loop = published_loop_seconds(stack, t)
    read_floor = timed(lambda: raster.read_rows(stack, 0, HEIGHT), repeat=3)
    stage = timed(lambda: trending.trend(stack, OUT / "trend.tif", threads=2), repeat=3)
    cmd, cmd_rss = command(
        [
            sys.executable,
            str(REPO / "scripts" / "trend.py"),
            str(stack),
            "-o",
            str(OUT / "trend_cmd.tif"),
        ]
    )
    rows = [
        (
            f"published loop (linregress per pixel, {SUBSET} pixels timed, extrapolated)",
            f"{loop:.1f}",
            "1",
        ),
        ("trend stage in-process (read + fit + write)", f"{stage:.2f}", f"{loop / stage:.0f}x"),
        ("trend.py command (with interpreter start)", f"{cmd:.2f}", f"{loop / cmd:.0f}x"),
        ("floor: read the stack once", f"{read_floor:.2f}", f"{loop / read_floor:.0f}x"),
    ]
    return (
        f"## trend: {BANDS} x {HEIGHT} x {WIDTH} float32, ~5 % NaN\n\n"
        + table(rows, ("method", "seconds", "speed-up vs published"))
        + f"\n\nregression / read floor: {stage / read_floor:.1f}; "
        f"trend.py peak RSS {cmd_rss:.0f} MB\n"
    )


if __name__ == "__main__":
    print(main())

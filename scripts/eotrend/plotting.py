"""Figures: the trend map and per-feature time series (matplotlib, PNG)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap
from scipy import stats as sps

from eotrend import raster, regression
from eotrend.atomic import atomic_path

SIGNIFICANCE = 0.05


def _save(fig, output: str | Path) -> None:
    with atomic_path(output) as tmp:
        fig.savefig(tmp, dpi=120, bbox_inches="tight", format="png")
    plt.close(fig)


def trend_map(
    trend_tif: str | Path, output: str | Path, *, title: str, aoi_path: str | Path | None = None
) -> None:
    """Slope map: diverging colours centred on 0, pixels with p >= 0.05 in grey, colour
    bar in value units per time unit, AOI outline when given (lon/lat grids)."""
    info = raster.read_info(trend_tif)
    bands = raster.read_rows(trend_tif, 0, info.height)
    slope = bands[regression.STAT_NAMES.index("slope")]
    pvalue = bands[regression.STAT_NAMES.index("pvalue")]
    x0, dx, _, y0, _, dy = info.transform
    extent = (x0, x0 + dx * info.width, y0 + dy * info.height, y0)
    limit = float(np.nanmax(np.abs(slope))) if np.isfinite(slope).any() else 1.0
    fig, ax = plt.subplots(figsize=(8, 6))
    insignificant = np.where(pvalue >= SIGNIFICANCE, 1.0, np.nan)
    ax.imshow(insignificant, extent=extent, cmap=ListedColormap(["0.75"]), interpolation="none")
    shown = np.where(pvalue < SIGNIFICANCE, slope, np.nan)
    image = ax.imshow(
        shown, extent=extent, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="none"
    )
    unit = info.tags.get("TIME_UNIT", "year")
    fig.colorbar(image, ax=ax, label=f"slope (value per {unit}); grey: p >= {SIGNIFICANCE}")
    if aoi_path:
        from eotrend.aoi import read_aoi

        for feature in read_aoi(aoi_path):
            for part in getattr(feature.geometry, "geoms", [feature.geometry]):
                for ring in [part.exterior, *part.interiors]:
                    ax.plot(*np.asarray(ring.coords)[:, :2].T, color="k", lw=0.8)
    geographic = "GEOGCS" in info.crs_wkt[:10] or "GEOGCRS" in info.crs_wkt[:10]
    ax.set_xlabel("longitude (deg)" if geographic else "x (m)")
    ax.set_ylabel("latitude (deg)" if geographic else "y (m)")
    ax.set_title(title)
    _save(fig, output)


def feature_timeseries(
    table_csv: str | Path, variable: str, output: str | Path, *, title: str
) -> None:
    """Per feature: the median of ``variable`` per scene with its p25-p75 band, and the
    OLS line fitted to the medians (slope per year and p in the legend)."""
    from eotrend.extraction import stats_column, value_column

    median_column = stats_column(variable, "median")
    table = pd.read_csv(table_csv, parse_dates=["time"])
    fig, ax = plt.subplots(figsize=(9, 5))
    for feature, rows in table.groupby("feature", sort=True):
        rows = rows.dropna(subset=[median_column])
        if rows.empty:
            continue
        t = regression.decimal_year(rows["time"].dt.to_pydatetime())
        median = rows[median_column].to_numpy()
        (line,) = ax.plot(t, median, "o-", ms=4, label=f"{feature} median")
        ax.fill_between(
            t,
            rows[stats_column(variable, "p25")],
            rows[stats_column(variable, "p75")],
            color=line.get_color(),
            alpha=0.2,
        )
        if len(t) >= 3:
            fit = sps.linregress(t, median)
            ax.plot(
                t,
                fit.intercept + fit.slope * t,
                "--",
                color=line.get_color(),
                label=f"{feature} OLS: {fit.slope:.3g}/yr, p={fit.pvalue:.2g}",
            )
    ax.set_xlabel("time (decimal year)")
    ax.set_ylabel(value_column(variable))
    ax.set_title(title)
    ax.legend(fontsize=8)
    _save(fig, output)

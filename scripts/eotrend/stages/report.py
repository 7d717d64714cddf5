"""Figures people look at (matplotlib, PNG): trend maps, significance and observation
maps, per-feature time series, per-scene quicklooks and a coverage chart.

Every figure has labelled axes with units, a title naming the dataset and variable, and
a colour bar where colours carry values. Files are written atomically.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import ListedColormap, LogNorm
from scipy import stats as sps

from eotrend.core.atomic import atomic_path
from eotrend.geo import raster
from eotrend.stats import fdr, regression

SIGNIFICANCE = 0.05
# Reflectance bands of the quicklook's true-colour composite (665, 560 and 442.5 nm:
# bandDescriptions of the manifests in tests/data/real-manifests).
RGB_BANDS = ("Oa08_reflectance", "Oa06_reflectance", "Oa03_reflectance")


def _save(fig, output: str | Path) -> None:
    with atomic_path(output) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)


def _band(info: raster.RasterInfo, bands: np.ndarray, name: str) -> np.ndarray:
    return bands[info.descriptions.index(name)]


def _map_axes(ax, info: raster.RasterInfo) -> tuple[float, float, float, float]:
    """Label a map's axes from its CRS; return the imshow extent."""
    x0, dx, _, y0, _, dy = info.transform
    geographic = info.crs_wkt.startswith(("GEOGCS", "GEOGCRS"))
    ax.set_xlabel("longitude (deg)" if geographic else "easting (m)")
    ax.set_ylabel("latitude (deg)" if geographic else "northing (m)")
    return (x0, x0 + dx * info.width, y0 + dy * info.height, y0)


def _outline(ax, aoi_path: str | Path | None) -> None:
    """Draw the AOI's rings (lon/lat) on a lon/lat map."""
    if not aoi_path:
        return
    from eotrend.geo.aoi import read_aoi

    for feature in read_aoi(aoi_path, ids=False):
        for part in getattr(feature.geometry, "geoms", [feature.geometry]):
            for ring in [part.exterior, *part.interiors]:
                ax.plot(*np.asarray(ring.coords)[:, :2].T, color="k", lw=0.8)


# The slope each p-value band tests (the trend map shows it).
SLOPE_OF = fdr.SLOPE_OF

# What each p-value band tests, for the colour bar.
PVALUE_TESTS = {
    "pvalue": "two-sided t-test of the slope",
    "mk_pvalue": "Mann-Kendall test",
    "seasonal_pvalue": "seasonal Kendall test",
}


def _significance(info: raster.RasterInfo, bands: np.ndarray) -> tuple[np.ndarray, str, str]:
    """Which pixels are significant, the p band behind it and the rule in words.

    With a qvalue band (trend.fdr): q < alpha_FDR, Benjamini-Hochberg over the map, of
    the FDR_PVALUE band; otherwise p < 0.05 of the OLS t-test (band pvalue).
    """
    if fdr.QVALUE in info.descriptions and "FDR_ALPHA" in info.tags:
        alpha = float(info.tags["FDR_ALPHA"])
        qvalue = _band(info, bands, fdr.QVALUE)
        name = info.tags["FDR_PVALUE"]
        words = (
            f"grey: q ≥ {alpha:g} ({info.tags.get('FDR_METHOD', fdr.METHOD)} false discovery "
            f"rate of {name} over {np.count_nonzero(np.isfinite(qvalue))} pixels)"
        )
        return qvalue < alpha, name, words
    pvalue = _band(info, bands, "pvalue")
    return pvalue < SIGNIFICANCE, "pvalue", f"grey: p ≥ {SIGNIFICANCE}"


def trend_map(
    trend_tif: str | Path, output: str | Path, *, title: str, aoi_path: str | Path | None = None
) -> None:
    """Slope map: diverging colours centred on 0, colour bar in value units per time unit,
    AOI outline when given (lon/lat grids). Pixels not significant are grey: p >= 0.05 of
    the OLS slope, or, with a qvalue band, q >= alpha_FDR (the slope shown is then the one
    the controlled p-value tests: slope, sen_slope or seasonal_sen_slope)."""
    info = raster.read_info(trend_tif)
    bands = raster.read_rows(trend_tif, 0, info.height)
    significant, pname, words = _significance(info, bands)
    slope = _band(info, bands, SLOPE_OF[pname])
    limit = float(np.nanmax(np.abs(slope))) if np.isfinite(slope).any() else 1.0
    fig, ax = plt.subplots(figsize=(8, 6))
    extent = _map_axes(ax, info)
    tested = np.isfinite(_band(info, bands, pname))
    insignificant = np.where(tested & ~significant, 1.0, np.nan)
    ax.imshow(insignificant, extent=extent, cmap=ListedColormap(["0.75"]), interpolation="none")
    shown = np.where(significant, slope, np.nan)
    image = ax.imshow(
        shown, extent=extent, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="none"
    )
    unit = info.tags.get("TIME_UNIT", "year")
    label = f"{SLOPE_OF[pname]} (value per {unit}); {words}"
    fig.colorbar(image, ax=ax, label="\n".join(textwrap.wrap(label, 60)))
    _outline(ax, aoi_path)
    ax.set_title(title)
    _save(fig, output)


def significance_map(
    trend_tif: str | Path, output: str | Path, *, title: str, aoi_path: str | Path | None = None
) -> None:
    """Two maps: the p-value of the slope (log colour scale; with a qvalue band, of the
    band the q-values control, and pixels with q >= alpha_FDR greyed) and the number of
    valid observations behind each fit."""
    info = raster.read_info(trend_tif)
    bands = raster.read_rows(trend_tif, 0, info.height)
    significant, pname, words = _significance(info, bands)
    pvalue, nobs = _band(info, bands, pname), _band(info, bands, "nobs")
    with_fdr = fdr.QVALUE in info.descriptions and "FDR_ALPHA" in info.tags
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax in axes:
        extent = _map_axes(ax, info)
    floor = max(float(np.nanmin(pvalue)) if np.isfinite(pvalue).any() else 1e-6, 1e-12)
    image = axes[0].imshow(
        np.clip(pvalue, floor, 1.0),
        extent=extent,
        cmap="magma",
        norm=LogNorm(vmin=floor, vmax=1.0),
        interpolation="none",
    )
    if with_fdr:
        grey = np.where(np.isfinite(pvalue) & ~significant, 1.0, np.nan)
        axes[0].imshow(grey, extent=extent, cmap=ListedColormap(["0.75"]), interpolation="none")
    test = PVALUE_TESTS.get(pname, pname)
    fig.colorbar(image, ax=axes[0], label=f"p-value ({test})")
    axes[0].set_title("\n".join(textwrap.wrap(f"p-value; {words}" if with_fdr else "p-value", 50)))
    image = axes[1].imshow(
        np.where(nobs > 0, nobs, np.nan), extent=extent, cmap="viridis", interpolation="none"
    )
    fig.colorbar(image, ax=axes[1], label="valid observations (count)")
    axes[1].set_title("observations per pixel")
    for ax in axes:
        _outline(ax, aoi_path)
    fig.suptitle(title)
    _save(fig, output)


def feature_timeseries(
    table_csv: str | Path, variable: str, output: str | Path, *, title: str, robust: bool = False
) -> None:
    """Per feature: the median of ``variable`` per scene with its p25-p75 band, the OLS
    line fitted to the medians and, with ``robust``, the Theil-Sen line (slopes per year
    and p in the legend)."""
    from eotrend.sentinel3.extract import stats_column, value_column

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
            if robust:
                sen = sps.theilslopes(median, t)
                ax.plot(
                    t,
                    sen.intercept + sen.slope * t,
                    ":",
                    color=line.get_color(),
                    label=f"{feature} Theil-Sen: {sen.slope:.3g}/yr",
                )
    ax.set_xlabel("time (decimal year)")
    ax.set_ylabel(f"{value_column(variable)} (median per scene, p25-p75 band)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    _save(fig, output)


def lake_trends_map(geopackage: str | Path, output: str | Path, *, title: str) -> None:
    """The lakes of a lake-trend GeoPackage (the lakes stage's) coloured by their slope:
    diverging colours centred on 0, the slope's unit on the colour bar; lakes whose trend
    is not significant (q >= alpha_FDR) grey, lakes without a fit hatched. Which slope,
    unit and test: the layer's metadata (SLOPE, UNIT, FDR_PVALUE, FDR_ALPHA)."""
    from matplotlib import patheffects
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch, PathPatch
    from matplotlib.path import Path as MplPath
    from shapely.geometry.polygon import orient

    from eotrend.geo.vectors import read_geopackage

    geometries, table, meta = read_geopackage(geopackage)
    slope = table[meta["SLOPE"]].to_numpy(np.float64)
    significant = table["significant"].to_numpy(bool)
    fitted = np.isfinite(slope)
    limit = float(np.max(np.abs(slope[fitted]))) if fitted.any() else 0.0
    norm = Normalize(vmin=-(limit or 1.0), vmax=limit or 1.0)

    def patch(geometry) -> PathPatch:
        """A polygon (holes kept: rings oriented for the nonzero fill rule) as a patch."""
        vertices, codes = [], []
        for part in getattr(geometry, "geoms", [geometry]):
            part = orient(part, 1.0)
            for ring in [part.exterior, *part.interiors]:
                xy = np.asarray(ring.coords)[:, :2]
                vertices.append(xy)
                codes += [MplPath.MOVETO] + [MplPath.LINETO] * (len(xy) - 2) + [MplPath.CLOSEPOLY]
        return PathPatch(MplPath(np.concatenate(vertices), codes))

    west, south, east, north = np.array([g.bounds for g in geometries]).T
    pad_x = 0.05 * max(east.max() - west.min(), 1e-6)
    pad_y = 0.05 * max(north.max() - south.min(), 1e-6)
    aspect = 1.0 / max(np.cos(np.radians((south.min() + north.max()) / 2.0)), 0.1)
    # The map 7 inches wide, as tall as the AOI's shape asks (within 2 to 8 inches).
    tall = aspect * (north.max() - south.min() + 2 * pad_y) / (east.max() - west.min() + 2 * pad_x)
    fig, ax = plt.subplots(figsize=(8, 2.8 + min(max(7.0 * tall, 2.0), 8.0)), layout="constrained")
    shown = fitted & significant
    grey = fitted & ~significant
    if shown.any():
        coloured = PatchCollection(
            [patch(g) for g, keep in zip(geometries, shown, strict=True) if keep],
            cmap="RdBu_r",
            norm=norm,
            edgecolor="k",
            linewidth=0.6,
        )
        coloured.set_array(slope[shown])
        ax.add_collection(coloured)
    ax.add_collection(
        PatchCollection(
            [patch(g) for g, keep in zip(geometries, grey, strict=True) if keep],
            facecolor="0.75",
            edgecolor="k",
            linewidth=0.6,
        )
    )
    ax.add_collection(
        PatchCollection(
            [patch(g) for g, keep in zip(geometries, ~fitted, strict=True) if keep],
            facecolor="white",
            edgecolor="0.4",
            hatch="///",
            linewidth=0.6,
        )
    )
    ax.set_xlim(west.min() - pad_x, east.max() + pad_x)
    ax.set_ylim(south.min() - pad_y, north.max() + pad_y)
    ax.set_aspect(aspect)
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    if len(geometries) <= LABELLED_LAKES:
        for geometry, name in zip(geometries, table["feature"], strict=True):
            point = geometry.representative_point()
            text = ax.annotate(name, (point.x, point.y), fontsize=7, ha="center", va="center")
            text.set_path_effects([patheffects.withStroke(linewidth=2, foreground="white")])
    mappable = plt.cm.ScalarMappable(norm=norm, cmap="RdBu_r")
    label = (
        f"{meta['SLOPE']} of {meta['VARIABLE']}'s {meta['STATISTIC']} per "
        f"{'scene' if meta['COMPOSITE'] == 'none' else meta['COMPOSITE']} ({meta['UNIT']})"
    )
    bar = fig.colorbar(mappable, ax=ax, location="bottom", shrink=0.7, aspect=40)
    bar.set_label(label)
    tested = int(np.count_nonzero(np.isfinite(table["qvalue"].to_numpy(np.float64))))
    test = PVALUE_TESTS.get(meta["FDR_PVALUE"], meta["FDR_PVALUE"])
    fig.legend(
        handles=[
            Patch(
                facecolor="0.75", edgecolor="k", label=f"not significant: q ≥ {meta['FDR_ALPHA']}"
            ),
            Patch(facecolor="white", edgecolor="0.4", hatch="///", label="too few observations"),
        ],
        loc="outside lower center",
        fontsize=8,
        title=f"q: {meta['FDR_METHOD']} over {tested} lakes, {test}",
        title_fontsize=8,
    )
    ax.set_title(title)
    _save(fig, output)


def coverage(
    manifest_csv: str | Path, table_csv: str | Path, output: str | Path, *, title: str
) -> None:
    """Scenes per month by manifest status, and the valid-pixel fraction of each feature
    in each scene."""
    manifest = pd.read_csv(manifest_csv, keep_default_na=False)
    months = pd.to_datetime(manifest["sensing_start"], utc=True).dt.strftime("%Y-%m")
    counts = pd.crosstab(months, manifest["status"]).sort_index()
    table = pd.read_csv(table_csv, parse_dates=["time"])
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), constrained_layout=True)
    counts.plot.bar(ax=top, stacked=True, width=0.8)
    top.set_xlabel("month of sensing")
    top.set_ylabel("scenes")
    top.set_title("scenes per month (by manifest status)")
    for feature, rows in table.groupby("feature", sort=True):
        bottom.plot(rows["time"], rows["fraction_valid"], "o-", ms=4, label=feature)
    bottom.set_ylim(-0.05, 1.05)
    bottom.set_xlabel("scene sensing time")
    bottom.set_ylabel("valid pixels / pixels in the feature")
    bottom.set_title("valid-pixel fraction per scene")
    bottom.legend(fontsize=8)
    fig.suptitle(title)
    _save(fig, output)


def quicklook(
    product: str | Path,
    aoi_path: str | Path,
    window: dict,
    pixels: pd.DataFrame,
    output: str | Path,
    *,
    title: str,
) -> None:
    """The scene over the extraction window: a true-colour composite (Oa08/Oa06/Oa03
    reflectances, stretched to their 2-98 % range) on the curvilinear lon/lat grid, the
    AOI outline, and the valid pixels inside it marked.

    ``window`` is what locate wrote (window.json: its ``window`` bounds, None when the
    scene misses the AOI); ``pixels`` the scene's pixel table (lon, lat, valid).
    """
    from eotrend.sentinel3 import reader

    product = Path(product)
    bounds = window["window"]
    fig, ax = plt.subplots(figsize=(8, 7))
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    if bounds is None:
        ax.text(0.5, 0.5, "the scene does not cover the AOI", ha="center", transform=ax.transAxes)
    else:
        window = reader.Window(**bounds)
        lon, lat = reader.read_lonlat(product, window)
        channels = []
        for band in RGB_BANDS:
            packed = reader.read_packed(
                reader.variable_file(product, band), (band,), bounds_tuple(window)
            )
            channels.append(packed[band].physical()[0])
        rgb = np.dstack(channels)
        low, high = np.nanpercentile(rgb, [2, 98]) if np.isfinite(rgb).any() else (0.0, 1.0)
        rgb = np.nan_to_num(np.clip((rgb - low) / max(high - low, 1e-9), 0, 1), nan=0.0)
        ax.pcolormesh(lon, lat, rgb, shading="nearest")
        good = pixels[pixels["valid"].to_numpy(bool)]
        ax.scatter(good["lon"], good["lat"], s=1, c="yellow", label=f"valid pixels ({len(good)})")
        ax.legend(loc="upper right", fontsize=8)
    _outline(ax, aoi_path)
    ax.set_title(title)
    _save(fig, output)


def bounds_tuple(window) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) of a window."""
    return (window.row0, window.row1, window.col0, window.col1)


KINDS = ("trend-map", "significance", "timeseries", "coverage", "quicklook", "lake-trends")
# Lake maps with at most this many lakes name each lake.
LABELLED_LAKES = 30
QUICKLOOK_COLUMNS = ("lon", "lat", "valid")
"""The pixel table's columns a quicklook draws."""


def run(
    *,
    kind: str,
    source: str,
    figure: str,
    title: str = "",
    aoi: str | None = None,
    variable: str | None = None,
    table: str | None = None,
    window: str | None = None,
    pixels: str | None = None,
    robust: bool = False,
) -> None:
    """Draw one figure of ``kind`` (:data:`KINDS`) from ``source`` into ``figure`` (PNG).

    ``source`` is a trend GeoTIFF (trend-map, significance), a time series (timeseries),
    a lake-trend GeoPackage (lake-trends), a scene list (coverage, with the time series
    ``table``) or a product (quicklook, with
    ``aoi``, locate's ``window`` JSON and extract's ``pixels`` table). ``aoi`` is drawn
    on maps; ``robust`` adds the Theil-Sen line to a time series.
    """
    if kind == "trend-map":
        trend_map(source, figure, title=title, aoi_path=aoi)
    elif kind == "significance":
        significance_map(source, figure, title=title, aoi_path=aoi)
    elif kind == "timeseries":
        feature_timeseries(source, variable, figure, title=title, robust=robust)
    elif kind == "coverage":
        coverage(source, table, figure, title=title)
    elif kind == "lake-trends":
        lake_trends_map(source, figure, title=title)
    elif kind == "quicklook":
        scene_window = json.loads(Path(window).read_text(encoding="utf-8"))
        scene_pixels = pd.read_parquet(pixels, columns=list(QUICKLOOK_COLUMNS))
        quicklook(source, aoi, scene_window, scene_pixels, figure, title=title)
    else:
        raise ValueError(f"unknown figure {kind!r}; expected one of {KINDS}")


def run_quicklooks(
    *,
    manifest: str,
    aoi: str,
    windows: list[str],
    pixels: list[str],
    quicklooks: str,
    scenes: list[str],
    dataset: str,
) -> None:
    """Rule ``quicklooks``: the quicklook of each of ``scenes`` drawn into the folder
    ``quicklooks`` as ``<name>.png``, in one process (a figure costs a fraction of the
    interpreter's start-up).

    Each scene's product comes from the scene list ``manifest``, its window and pixels
    from the batches' ``windows`` (JSON) and ``pixels`` (Parquet) files.
    """
    from eotrend.sentinel3 import batches
    from eotrend.sources.scenelist import read_entries

    products = {entry.name: entry.path for entry in read_entries(manifest)}
    scene_windows = {}
    for path in windows:
        scene_windows.update(batches.read_windows(path))
    pixel_of = {scene: path for path in pixels for scene in batches.pixel_scenes(path)}
    folder = Path(quicklooks)
    folder.mkdir(parents=True, exist_ok=True)
    for scene in scenes:
        scene_pixels, _ = batches.read_pixels(pixel_of[scene], scene, list(QUICKLOOK_COLUMNS))
        quicklook(
            products[scene],
            aoi,
            scene_windows[scene],
            scene_pixels,
            folder / f"{scene}.png",
            title=f"{dataset}: {scene} quicklook",
        )

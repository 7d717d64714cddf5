"""Figures people look at (matplotlib, PNG): trend maps, significance and observation
maps, per-feature time series, lake trend maps and a coverage chart, all of a dataset
drawn in one process (rule ``figures``), and per-scene quicklooks (rule ``quicklooks``).

What a reviewer reads without asking:

* every colour bar and value axis carries the variable's unit: the trend GeoTIFF's UNIT
  tag, which the stack took from its inputs (a scene grid's UNIT band metadata, the
  product's units attribute); a series whose rasters give none says so; a lake map's is
  the lake table's slope_unit;
* maps name their CRS and use plain tick labels (no offset or scientific notation);
* pixels and lakes without data are hatched, never the colour of a zero slope (diverging colours
  centred on zero) nor the grey of a slope that is not significant;
* p-values are drawn from 0.001 to 1 on a log scale, smaller ones in the colour of 0.001
  (the colour bar says so): the range a test's verdict depends on;
* counts are whole numbers, and every colour of a quicklook is in its legend.

Figures are :class:`matplotlib.figure.Figure` objects made without pyplot (no global
state, a cheaper import); each ``draw_*`` function returns its figure and the function of
the same name without ``draw_`` saves it (atomically). The module imports neither pandas
nor scipy: a figure job costs mostly its imports, so one job draws all of a dataset's
figures.
"""

from __future__ import annotations

import csv
import json
import math
import textwrap
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap, LogNorm, Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch, Rectangle
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, ScalarFormatter
from osgeo import osr

from eotrend.core.atomic import atomic_path
from eotrend.geo import raster
from eotrend.geo.mosaic import crs_name
from eotrend.stats import fdr, regression

DPI = 100
SIGNIFICANCE = 0.05
# Reflectance bands of the quicklook's true-colour composite (665, 560 and 442.5 nm:
# bandDescriptions of the manifests in tests/data/real-manifests).
RGB_BANDS = ("Oa08_reflectance", "Oa06_reflectance", "Oa03_reflectance")

# Colours with a meaning of their own, each named in a legend.
SLOPE_COLOURS = "RdBu_r"  # diverging, centred on a zero slope
NOT_SIGNIFICANT = "0.72"
NODATA_FACE, NODATA_EDGE, NODATA_HATCH = "0.95", "0.5", "////"
PVALUE_COLOURS = "viridis"
PVALUE_FLOOR = 1e-3  # smaller p-values are drawn in its colour
PVALUE_TICKS = (0.001, 0.01, 0.05, 0.1, 1.0)
COUNT_COLOURS = "cividis"
FILL_COLOUR = "#d8c8a0"  # a quicklook's pixels without reflectance: no natural colour
VALID_COLOUR = "yellow"
# Units that mean "no unit": CF's "1", ESA's "dl", and none at all (extract's "").
DIMENSIONLESS = {"", "1", "dl"}
# A quicklook draws at most this many pixels along its longer side (one in k of each
# row and column, k the smallest that fits): about half the pixels of its axes, where a
# window's full resolution costs four times the drawing for detail a quicklook does not
# show.
QUICKLOOK_CELLS = 320
# Lake maps with at most this many lakes name each lake.
LABELLED_LAKES = 30
# Tick spacings (times a power of ten) of map axes: round numbers.
TICK_STEPS = (1, 2, 5, 10)

# The slope each p-value band tests (the trend map shows it).
SLOPE_OF = fdr.SLOPE_OF

# What each p-value band tests, for the colour bar.
PVALUE_TESTS = {
    "pvalue": "two-sided t-test of the slope",
    "mk_pvalue": "Mann-Kendall test",
    "seasonal_pvalue": "seasonal Kendall test",
}


# -- shared pieces ---------------------------------------------------------------------


def save(fig: Figure, output: str | Path) -> None:
    """Write ``fig`` as a PNG (atomically)."""
    with atomic_path(output) as tmp:
        fig.savefig(tmp, dpi=DPI, format="png")


def unit_label(unit: str | None) -> str:
    """A unit for a label: "dimensionless" for none, and says so when it is unknown."""
    if unit is None:
        return "unit not given"
    return "dimensionless" if unit in DIMENSIONLESS else unit


def rate_label(unit: str | None, time_unit: str = "year") -> str:
    """The unit of a slope of values in ``unit``: "g.m-3 per year"."""
    if unit is None:
        return f"per {time_unit}; the input rasters give no unit"
    if unit in DIMENSIONLESS:
        return f"per {time_unit}; dimensionless values"
    return f"{unit} per {time_unit}"


def _wrap(text: str, width: int = 60) -> str:
    return "\n".join(textwrap.wrap(text, width))


def _plain(axis, locator=None) -> None:
    """Plain tick labels on ``axis``: no offset, no scientific notation."""
    formatter = ScalarFormatter(useOffset=False)
    formatter.set_scientific(False)
    axis.set_major_formatter(formatter)
    if locator is not None:
        axis.set_major_locator(locator)


def _srs(wkt: str) -> osr.SpatialReference:
    srs = osr.SpatialReference(wkt=wkt)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def _map_axes(ax, info: raster.RasterInfo, *, bins: int = 5) -> tuple[float, float, float, float]:
    """Label a map's axes from its CRS (named under the x axis), plain ticks; return the
    imshow extent (left, right, bottom, top)."""
    x0, dx, _, y0, _, dy = info.transform
    if not info.crs_wkt:
        xlabel, ylabel = "x (no CRS)", "y (no CRS)"
    elif _srs(info.crs_wkt).IsGeographic():
        xlabel, ylabel = "longitude (degrees east)", "latitude (degrees north)"
    else:
        name = _srs(info.crs_wkt).GetLinearUnitsName() or "CRS units"
        short = {"metre": "m", "meter": "m", "foot": "ft", "US survey foot": "US ft"}
        unit = short.get(name, name)
        xlabel, ylabel = f"easting ({unit})", f"northing ({unit})"
    ax.set_xlabel(f"{xlabel}\nCRS: {crs_name(info.crs_wkt)}")
    ax.set_ylabel(ylabel)
    _plain(ax.xaxis, MaxNLocator(nbins=bins, steps=TICK_STEPS))
    _plain(ax.yaxis, MaxNLocator(nbins=bins, steps=TICK_STEPS))
    extent = (x0, x0 + dx * info.width, y0 + dy * info.height, y0)
    ax.set_xlim(min(extent[:2]), max(extent[:2]))
    ax.set_ylim(min(extent[2:]), max(extent[2:]))
    return extent


def _map_height(info: raster.RasterInfo, axes_width: float, extra: float) -> float:
    """A figure height (inches) that fits a map of ``info``'s shape drawn ``axes_width``
    inches wide, plus ``extra`` inches of titles, labels and legends."""
    x_size = abs(info.transform[1]) * info.width
    y_size = abs(info.transform[5]) * info.height
    ratio = y_size / x_size if x_size > 0 else 1.0
    return min(max(axes_width * ratio + extra, 4.5), 12.0)


def _nodata_background(ax, extent: tuple[float, float, float, float]) -> None:
    """Hatch the whole map under its images: pixels without data (NaN, transparent)
    show the hatch, unlike any colour of a value."""
    left, right, bottom, top = extent
    ax.add_patch(
        Rectangle(
            (min(left, right), min(bottom, top)),
            abs(right - left),
            abs(top - bottom),
            facecolor=NODATA_FACE,
            edgecolor=NODATA_EDGE,
            hatch=NODATA_HATCH,
            linewidth=0,
            zorder=-1,
        )
    )


def _nodata_patch(label: str) -> Patch:
    return Patch(facecolor=NODATA_FACE, edgecolor=NODATA_EDGE, hatch=NODATA_HATCH, label=label)


def _legend_below(ax, handles: list, *, columns: int = 2) -> None:
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        ncols=columns,
        fontsize=8,
        frameon=False,
    )


@lru_cache(maxsize=8)
def aoi_rings(aoi_path: str) -> tuple[np.ndarray, ...]:
    """Every ring (exterior and holes) of every polygon of an AOI file, lon/lat (n, 2)."""
    from eotrend.geo.aoi import read_aoi

    rings = []
    for feature in read_aoi(aoi_path):
        for part in getattr(feature.geometry, "geoms", [feature.geometry]):
            for ring in [part.exterior, *part.interiors]:
                rings.append(np.asarray(ring.coords)[:, :2])
    return tuple(rings)


def _outline(ax, aoi_path: str | Path | None, crs_wkt: str = "") -> None:
    """Draw the AOI's rings on a map in ``crs_wkt`` (lon/lat when empty or geographic)."""
    if not aoi_path:
        return
    transform = None
    if crs_wkt and not _srs(crs_wkt).IsGeographic():
        lonlat = osr.SpatialReference()
        lonlat.ImportFromEPSG(4326)
        lonlat.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        transform = osr.CoordinateTransformation(lonlat, _srs(crs_wkt))
    for ring in aoi_rings(str(aoi_path)):
        xy = ring if transform is None else np.asarray(transform.TransformPoints(ring))[:, :2]
        ax.plot(xy[:, 0], xy[:, 1], color="k", lw=0.8)


def _read_csv(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _read_table(path: str | Path, columns: Sequence[str] | None = None) -> list[dict]:
    """The rows of a table, Parquet (typed values: None where missing) or CSV (text),
    limited to those of ``columns`` it has (None: all). Parquet is read with
    ``ParquetFile``, which needs neither pandas nor pyarrow.dataset."""
    if Path(path).suffix != ".parquet":
        rows = _read_csv(path)
        return rows if columns is None else [{c: r[c] for c in columns if c in r} for r in rows]
    import pyarrow.parquet as pq

    source = pq.ParquetFile(path)
    names = source.schema_arrow.names
    return source.read(columns=[c for c in columns if c in names] if columns else None).to_pylist()


def _table_units(path: str | Path) -> dict[str, str]:
    """Column -> unit of a Parquet table's fields (none for a CSV)."""
    if Path(path).suffix != ".parquet":
        return {}
    import pyarrow.parquet as pq

    return {
        field.name: field.metadata[b"unit"].decode()
        for field in pq.read_schema(path)
        if field.metadata and b"unit" in field.metadata
    }


def _float(value: str | float | None) -> float:
    """A number of a table row: a CSV's text (empty: NaN) or a Parquet value (None: NaN)."""
    if value is None or value in ("", "nan", "NaN"):
        return math.nan
    return float(value)


def _time(value: str | datetime) -> datetime:
    """A time of a table row (ISO 8601 text or a datetime), in UTC (naive taken as UTC)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- trend maps --------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendRaster:
    """A trend GeoTIFF read once: its metadata and every band."""

    info: raster.RasterInfo
    bands: np.ndarray

    @classmethod
    def read(cls, path: str | Path | TrendRaster) -> TrendRaster:
        if isinstance(path, TrendRaster):
            return path
        info = raster.read_info(path)
        return cls(info, raster.read_rows(path, 0, info.height))

    def band(self, name: str) -> np.ndarray:
        return self.bands[self.info.descriptions.index(name)]

    @property
    def unit(self) -> str | None:
        """The unit of the values the trend was fitted to (None: not given)."""
        return self.info.tags.get("UNIT")

    @property
    def time_unit(self) -> str:
        return self.info.tags.get("TIME_UNIT", "year")


def _band(info: raster.RasterInfo, bands: np.ndarray, name: str) -> np.ndarray:
    return bands[info.descriptions.index(name)]


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


def _not_significant_label(words: str) -> str:
    return _wrap("not significant: " + words.removeprefix("grey: "), 55)


def _nofit_label(info: raster.RasterInfo) -> str:
    return f"no fit: fewer than {info.tags.get('MIN_OBS', 'min_obs')} valid values"


def draw_trend_map(
    trend: str | Path | TrendRaster, *, title: str, aoi_path: str | Path | None = None
) -> Figure:
    """Slope map: diverging colours centred on 0, the colour bar in the variable's unit
    per time unit, the AOI outline when given. Pixels not significant are grey: p >= 0.05
    of the OLS slope, or, with a qvalue band, q >= alpha_FDR (the slope shown is then the
    one the controlled p-value tests: slope, sen_slope or seasonal_sen_slope); pixels
    without a fit are hatched."""
    trend = TrendRaster.read(trend)
    info = trend.info
    significant, pname, words = _significance(info, trend.bands)
    slope_name = SLOPE_OF[pname]
    tested = np.isfinite(trend.band(pname))
    shown = np.where(significant, trend.band(slope_name), np.nan)
    finite = np.abs(shown[np.isfinite(shown)])
    limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    fig = Figure(figsize=(8, _map_height(info, 5.4, 1.5)), layout="constrained")
    ax = fig.add_subplot()
    extent = _map_axes(ax, info)
    _nodata_background(ax, extent)
    ax.imshow(
        np.where(tested & ~significant, 1.0, np.nan),
        extent=extent,
        cmap=ListedColormap([NOT_SIGNIFICANT]),
        interpolation="nearest",
    )
    image = ax.imshow(
        shown,
        extent=extent,
        cmap=SLOPE_COLOURS,
        norm=Normalize(vmin=-limit, vmax=limit),
        interpolation="nearest",
    )
    bar = fig.colorbar(
        image, ax=ax, label=_wrap(f"{slope_name} ({rate_label(trend.unit, trend.time_unit)})")
    )
    _plain(bar.ax.yaxis)
    _outline(ax, aoi_path, info.crs_wkt)
    _legend_below(
        ax,
        [
            Patch(facecolor=NOT_SIGNIFICANT, label=_not_significant_label(words)),
            _nodata_patch(_nofit_label(info)),
        ],
    )
    ax.set_title(title)
    return fig


def trend_map(
    trend_tif: str | Path, output: str | Path, *, title: str, aoi_path: str | Path | None = None
) -> None:
    """:func:`draw_trend_map` saved to ``output``."""
    save(draw_trend_map(trend_tif, title=title, aoi_path=aoi_path), output)


def draw_significance_map(
    trend: str | Path | TrendRaster, *, title: str, aoi_path: str | Path | None = None
) -> Figure:
    """Two maps: the p-value of the slope (log colour scale from 0.001 to 1, smaller
    p-values in the colour of 0.001; with a qvalue band, of the band the q-values
    control, and pixels with q >= alpha_FDR greyed) and the number of valid observations
    behind each fit (whole numbers). Pixels without a value are hatched."""
    trend = TrendRaster.read(trend)
    info = trend.info
    significant, pname, words = _significance(info, trend.bands)
    pvalue, nobs = trend.band(pname), trend.band("nobs")
    with_fdr = fdr.QVALUE in info.descriptions and "FDR_ALPHA" in info.tags
    fig = Figure(figsize=(13, _map_height(info, 4.2, 1.7)), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax in axes:
        extent = _map_axes(ax, info, bins=4)
        _nodata_background(ax, extent)
    image = axes[0].imshow(
        np.clip(pvalue, PVALUE_FLOOR, 1.0),
        extent=extent,
        cmap=PVALUE_COLOURS,
        norm=LogNorm(vmin=PVALUE_FLOOR, vmax=1.0),
        interpolation="nearest",
    )
    test = PVALUE_TESTS.get(pname, pname)
    bar = fig.colorbar(
        image,
        ax=axes[0],
        extend="min",
        label=_wrap(
            f"p-value, {test} (log scale; p < {PVALUE_FLOOR:g} in the colour of {PVALUE_FLOOR:g})",
            50,
        ),
    )
    bar.ax.yaxis.set_major_locator(FixedLocator(PVALUE_TICKS))
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    bar.ax.yaxis.set_minor_locator(FixedLocator([]))
    handles = [_nodata_patch("no p-value (no fit)")]
    if with_fdr:
        grey = np.where(np.isfinite(pvalue) & ~significant, 1.0, np.nan)
        axes[0].imshow(
            grey, extent=extent, cmap=ListedColormap([NOT_SIGNIFICANT]), interpolation="nearest"
        )
        handles.insert(0, Patch(facecolor=NOT_SIGNIFICANT, label=_not_significant_label(words)))
    _legend_below(axes[0], handles, columns=1 if with_fdr else 2)
    axes[0].set_title("p-value of the trend")
    counts = np.where(nobs > 0, nobs, np.nan)
    most = float(np.nanmax(counts)) if np.isfinite(counts).any() else 1.0
    least = float(np.nanmin(counts)) if np.isfinite(counts).any() else 0.0
    image = axes[1].imshow(
        counts,
        extent=extent,
        cmap=COUNT_COLOURS,
        norm=Normalize(vmin=min(least, most - 1), vmax=most),
        interpolation="nearest",
    )
    bar = fig.colorbar(image, ax=axes[1], label="valid observations per pixel (count)")
    _plain(bar.ax.yaxis, MaxNLocator(integer=True))
    _legend_below(axes[1], [_nodata_patch("no valid observation")])
    axes[1].set_title("observations per pixel")
    for ax in axes:
        _outline(ax, aoi_path, info.crs_wkt)
    fig.suptitle(title)
    return fig


def significance_map(
    trend_tif: str | Path, output: str | Path, *, title: str, aoi_path: str | Path | None = None
) -> None:
    """:func:`draw_significance_map` saved to ``output``."""
    save(draw_significance_map(trend_tif, title=title, aoi_path=aoi_path), output)


# -- time series and coverage ------------------------------------------------------------

# Charts with a line per feature draw the first this many features (ids in sorted order):
# beyond, lines and legend are unreadable and cost minutes with thousands of lakes. The
# title says so; the lake trend map shows every feature.
CHART_FEATURES = 12


def _by_feature(rows: list[dict]) -> dict[str, list[dict]]:
    """The rows of each feature (as text), features in sorted order, rows in table order."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(str(row["feature"]), []).append(row)
    return dict(sorted(groups.items()))


def _shown(features: int) -> str:
    """What a chart's title adds when it leaves features out."""
    if features <= CHART_FEATURES:
        return ""
    return f"\n(the first {CHART_FEATURES} of {features} features, by id)"


def draw_timeseries(
    table: str | Path | list[dict[str, str]],
    variable: str,
    *,
    title: str,
    unit: str | None = None,
    robust: bool = False,
) -> Figure:
    """Per feature: the median of ``variable`` per scene with its p25-p75 band, the OLS
    line fitted to the medians and, with ``robust``, the Theil-Sen line (slopes per year
    in ``unit``, and p, in the legend). ``table`` is the time series (Parquet or CSV, or
    its rows)."""
    from eotrend.sentinel3.layout import stats_column

    rows = _read_table(table) if isinstance(table, (str, Path)) else table
    median_column = stats_column(variable, "median")
    per_year = f" {unit}/yr" if unit is not None and unit not in DIMENSIONLESS else "/yr"
    fig = Figure(figsize=(9, 5.4), layout="constrained")
    ax = fig.add_subplot()
    groups = _by_feature(rows)
    for feature, own in list(groups.items())[:CHART_FEATURES]:
        points = [
            (_time(row["time"]), _float(row[median_column]), row)
            for row in own
            if np.isfinite(_float(row[median_column]))
        ]
        if not points:
            continue
        t = regression.decimal_year([moment for moment, _, _ in points])
        median = np.array([value for _, value, _ in points])
        low = [_float(row[stats_column(variable, "p25")]) for _, _, row in points]
        high = [_float(row[stats_column(variable, "p75")]) for _, _, row in points]
        (line,) = ax.plot(t, median, "o-", ms=4, label=f"{feature} median")
        ax.fill_between(t, low, high, color=line.get_color(), alpha=0.2)
        if len(t) >= 3:
            fit = regression.ols(t, median[:, None])
            slope, intercept = float(fit["slope"][0]), float(fit["intercept"][0])
            if np.isfinite(slope):
                ax.plot(
                    t,
                    intercept + slope * t,
                    "--",
                    color=line.get_color(),
                    label=f"{feature} OLS: {slope:.3g}{per_year}, p={float(fit['pvalue'][0]):.2g}",
                )
            if robust:
                sen = regression.theil_sen_mann_kendall(t, median[:, None])
                sen_slope = float(sen["sen_slope"][0])
                if np.isfinite(sen_slope):
                    ax.plot(
                        t,
                        float(sen["sen_intercept"][0]) + sen_slope * t,
                        ":",
                        color=line.get_color(),
                        label=f"{feature} Theil-Sen: {sen_slope:.3g}{per_year}",
                    )
    ax.set_xlabel("time (decimal year)")
    ax.set_ylabel(f"{variable} ({unit_label(unit)})\nmedian per scene, p25-p75 band")
    _plain(ax.xaxis, MaxNLocator(integer=True))
    _plain(ax.yaxis)
    ax.set_title(title + _shown(len(groups)))
    if ax.lines:
        ax.legend(fontsize=8)
    return fig


def feature_timeseries(
    table_csv: str | Path,
    variable: str,
    output: str | Path,
    *,
    title: str,
    robust: bool = False,
    unit: str | None = None,
) -> None:
    """:func:`draw_timeseries` saved to ``output``."""
    save(draw_timeseries(table_csv, variable, title=title, unit=unit, robust=robust), output)


def draw_coverage(
    manifest: str | Path | list[dict[str, str]],
    table: str | Path | list[dict[str, str]],
    *,
    title: str,
) -> Figure:
    """Scenes per month by manifest status (whole counts), and the valid-pixel fraction
    of each feature in each scene."""
    scenes = _read_csv(manifest) if isinstance(manifest, (str, Path)) else manifest
    rows = _read_table(table) if isinstance(table, (str, Path)) else table
    months = [_time(row["sensing_start"]).strftime("%Y-%m") for row in scenes]
    counts = Counter(zip(months, (row["status"] for row in scenes), strict=True))
    columns = sorted(set(months))
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    top, bottom = fig.subplots(2, 1)
    x = np.arange(len(columns))
    base = np.zeros(len(columns))
    for status in sorted({row["status"] for row in scenes}):
        heights = np.array([counts[(month, status)] for month in columns], dtype=float)
        top.bar(x, heights, 0.8, bottom=base, label=status)
        base += heights
    step = max(1, math.ceil(len(columns) / 24))
    top.set_xticks(x[::step], columns[::step], rotation=90)
    top.set_xlim(-0.6, len(columns) - 0.4)
    _plain(top.yaxis, MaxNLocator(integer=True))
    top.set_xlabel("month of sensing")
    top.set_ylabel("scenes (count)")
    top.set_title("scenes per month (by manifest status)")
    if scenes:
        top.legend(title="status", fontsize=8)
    groups = _by_feature(rows)
    for feature, own_rows in list(groups.items())[:CHART_FEATURES]:
        own = [(_time(row["time"]), _float(row["fraction_valid"])) for row in own_rows]
        own = [(moment, value) for moment, value in own if np.isfinite(value)]
        if own:
            bottom.plot(*zip(*own, strict=True), "o-", ms=4, label=feature)
    bottom.set_ylim(-0.05, 1.05)
    bottom.set_xlabel("scene sensing time (UTC)")
    bottom.set_ylabel("valid pixels / pixels in the feature")
    bottom.set_title("valid-pixel fraction per scene" + _shown(len(groups)))
    if bottom.lines:
        bottom.legend(fontsize=8)
    fig.suptitle(title)
    return fig


def coverage(
    manifest_csv: str | Path, table_csv: str | Path, output: str | Path, *, title: str
) -> None:
    """:func:`draw_coverage` saved to ``output``."""
    save(draw_coverage(manifest_csv, table_csv, title=title), output)


# -- lake trends -------------------------------------------------------------------------


@dataclass(frozen=True)
class LakeTrends:
    """A lake-trend GeoPackage (the lakes stage's) read once: the AOI's polygons (lon/lat),
    the table's columns in feature order and the layer metadata (SLOPE, UNIT, FDR_*)."""

    geometries: list
    columns: dict[str, list]
    meta: dict[str, str]

    @classmethod
    def read(cls, path: str | Path | LakeTrends) -> LakeTrends:
        if isinstance(path, LakeTrends):
            return path
        from eotrend.geo.vectors import read_layer

        return cls(*read_layer(path))

    def values(self, name: str) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in self.columns[name]], np.float64)

    @property
    def slope_unit(self) -> str:
        """The slope's unit: the table's slope_unit column (the layer's UNIT without one)."""
        units = {str(v) for v in self.columns.get("slope_unit", []) if v not in (None, "")}
        return " or ".join(sorted(units)) if units else self.meta.get("UNIT", "")


def _lake_patch(geometry) -> PathPatch:
    """A polygon or multipolygon (holes kept: rings oriented for the nonzero fill rule) as
    one patch."""
    from matplotlib.path import Path as MplPath
    from shapely.geometry.polygon import orient

    vertices, codes = [], []
    for part in getattr(geometry, "geoms", [geometry]):
        part = orient(part, 1.0)
        for ring in [part.exterior, *part.interiors]:
            xy = np.asarray(ring.coords)[:, :2]
            vertices.append(xy)
            codes += [MplPath.MOVETO] + [MplPath.LINETO] * (len(xy) - 2) + [MplPath.CLOSEPOLY]
    return PathPatch(MplPath(np.concatenate(vertices), codes))


def draw_lake_trends_map(lakes: str | Path | LakeTrends, *, title: str) -> Figure:
    """The lakes of a lake-trend GeoPackage coloured by their slope (the layer's SLOPE
    column): diverging colours centred on 0, the colour bar in the table's slope_unit;
    lakes whose trend is not significant (q >= alpha_FDR) grey, lakes without a fit
    hatched, both in the legend. Lakes are named when there are at most
    :data:`LABELLED_LAKES`."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.collections import PatchCollection
    from matplotlib.patheffects import withStroke

    lakes = LakeTrends.read(lakes)
    meta, geometries = lakes.meta, lakes.geometries
    slope_name = meta.get("SLOPE", "slope")
    slope = lakes.values(slope_name)
    significant = np.array([bool(v) for v in lakes.columns["significant"]], dtype=bool)
    fitted = np.isfinite(slope)
    shown = fitted & significant
    finite = np.abs(slope[shown] if shown.any() else slope[fitted])
    limit = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    norm = Normalize(vmin=-limit, vmax=limit)
    if geometries:
        west, south, east, north = np.array([g.bounds for g in geometries]).T
        west, south, east, north = west.min(), south.min(), east.max(), north.max()
    else:
        west, south, east, north = -1.0, -1.0, 1.0, 1.0
    pad_x, pad_y = 0.05 * max(east - west, 1e-6), 0.05 * max(north - south, 1e-6)
    aspect = 1.0 / max(math.cos(math.radians((south + north) / 2.0)), 0.1)
    # The map 6.5 inches wide, as tall as the AOI's shape asks (within 1.2 to 8 inches).
    tall = aspect * (north - south + 2 * pad_y) / (east - west + 2 * pad_x)
    fig = Figure(figsize=(8, 2.8 + min(max(6.5 * tall, 1.2), 8.0)), layout="constrained")
    ax = fig.add_subplot()
    ax.set_label("lakes")
    layers = (
        (shown, {"cmap": SLOPE_COLOURS, "norm": norm, "edgecolor": "k"}),
        (fitted & ~significant, {"facecolor": NOT_SIGNIFICANT, "edgecolor": "k"}),
        (~fitted, {"facecolor": NODATA_FACE, "edgecolor": NODATA_EDGE, "hatch": NODATA_HATCH}),
    )
    for keep, style in layers:
        if not keep.any():
            continue
        patches = [_lake_patch(g) for g, k in zip(geometries, keep, strict=True) if k]
        collection = PatchCollection(patches, linewidth=0.6, **style)
        if "cmap" in style:
            collection.set_array(slope[keep])
        ax.add_collection(collection)
    ax.set_xlim(west - pad_x, east + pad_x)
    ax.set_ylim(south - pad_y, north + pad_y)
    ax.set_aspect(aspect)
    ax.set_xlabel(f"longitude (degrees east)\nCRS: {crs_name(_lonlat_wkt())}")
    ax.set_ylabel("latitude (degrees north)")
    _plain(ax.xaxis, MaxNLocator(nbins=5, steps=TICK_STEPS))
    _plain(ax.yaxis, MaxNLocator(nbins=5, steps=TICK_STEPS))
    if len(geometries) <= LABELLED_LAKES:
        for geometry, name in zip(geometries, lakes.columns["feature"], strict=True):
            point = geometry.representative_point()
            text = ax.annotate(str(name), (point.x, point.y), fontsize=7, ha="center", va="center")
            text.set_path_effects([withStroke(linewidth=2, foreground="white")])
    composite = meta.get("COMPOSITE", "none")
    label = (
        f"{slope_name} of {meta.get('VARIABLE', 'the variable')}'s "
        f"{meta.get('STATISTIC', 'statistic')} per {'scene' if composite == 'none' else composite}"
        f" ({lakes.slope_unit})"
    )
    bar = fig.colorbar(
        ScalarMappable(norm=norm, cmap=SLOPE_COLOURS),
        ax=ax,
        location="bottom",
        shrink=0.7,
        aspect=40,
        label=_wrap(label, 80),
    )
    _plain(bar.ax.xaxis)
    tested = int(np.count_nonzero(np.isfinite(lakes.values("qvalue"))))
    pname = meta.get("FDR_PVALUE", "pvalue")
    words = (
        f"q ≥ {float(meta.get('FDR_ALPHA', 'nan')):g} ({meta.get('FDR_METHOD', fdr.METHOD)} "
        f"false discovery rate of {pname}, {PVALUE_TESTS.get(pname, pname)}, over {tested} lakes)"
    )
    minimum = meta.get("MIN_OBS")
    fig.legend(
        handles=[
            Patch(facecolor=NOT_SIGNIFICANT, edgecolor="k", label=_not_significant_label(words)),
            _nodata_patch(
                f"no fit: fewer than {minimum} observations, or all at one time"
                if minimum
                else "no fit: too few observations"
            ),
        ],
        loc="outside lower center",
        ncols=2,
        fontsize=8,
        frameon=False,
    )
    ax.set_title(title)
    return fig


def lake_trends_map(geopackage: str | Path, output: str | Path, *, title: str) -> None:
    """:func:`draw_lake_trends_map` saved to ``output``."""
    save(draw_lake_trends_map(geopackage, title=title), output)


@lru_cache(maxsize=1)
def _lonlat_wkt() -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    return srs.ExportToWkt()


# -- quicklooks --------------------------------------------------------------------------


def draw_quicklook(
    product: str | Path,
    aoi_path: str | Path | None,
    window: dict,
    pixels: Mapping[str, Sequence],
    *,
    title: str,
) -> Figure:
    """The scene over the extraction window: a true-colour composite (Oa08/Oa06/Oa03
    reflectances, stretched to their 2-98 % range) on the curvilinear lon/lat grid, the
    AOI outline and the valid pixels inside it; pixels without reflectance (fill) and the
    area outside the window have colours of their own, and the legend names each colour.

    ``window`` is what locate wrote (window.json: its ``window`` bounds, None when the
    scene misses the AOI); ``pixels`` the scene's pixels (columns lon, lat, valid).
    Windows larger than :data:`QUICKLOOK_CELLS` along a side are drawn with every k-th
    pixel (k the smallest that fits).
    """
    from eotrend.sentinel3 import reader

    product = Path(product)
    bounds = window["window"]
    # A fixed layout (constrained layout costs a fifth of a quicklook): title, axes,
    # axis labels and a legend of up to three rows below.
    fig = Figure(figsize=(8, 8.6))
    fig.subplots_adjust(left=0.11, right=0.97, top=0.92, bottom=0.21)
    ax = fig.add_subplot()
    ax.patch.set(facecolor=NODATA_FACE, edgecolor=NODATA_EDGE, hatch=NODATA_HATCH)
    ax.set_xlabel("longitude (degrees east)\nCRS: the product's geodetic lon/lat (WGS 84)")
    ax.set_ylabel("latitude (degrees north)")
    _plain(ax.xaxis, MaxNLocator(nbins=6, steps=TICK_STEPS))
    _plain(ax.yaxis, MaxNLocator(nbins=6, steps=TICK_STEPS))
    ax.set_title(title, fontsize=8)
    handles: list = []
    if bounds is None:
        ax.text(0.5, 0.5, "the scene does not cover the AOI", ha="center", transform=ax.transAxes)
    else:
        window = reader.Window(**bounds)
        rows, columns = window.row1 - window.row0, window.col1 - window.col0
        step = max(1, math.ceil(max(rows, columns) / QUICKLOOK_CELLS))
        lon, lat = reader.read_lonlat(product, window)
        channels = []
        for band in RGB_BANDS:
            packed = reader.read_packed(
                reader.variable_file(product, band), (band,), bounds_tuple(window)
            )
            channels.append(packed[band].physical()[0][::step, ::step])
        rgb = np.dstack(channels)
        values = rgb[np.isfinite(rgb)]
        low, high = np.percentile(values, [2, 98]) if values.size else (0.0, 1.0)
        scaled = np.clip((rgb - low) / max(high - low, 1e-9), 0.0, 1.0)
        filled = ~np.isfinite(rgb).all(axis=2)
        colours = np.empty((*rgb.shape[:2], 4), dtype=np.uint8)
        colours[..., :3] = np.rint(np.nan_to_num(scaled) * 255)
        colours[..., 3] = 255
        colours[filled] = np.rint(np.array(to_rgba(FILL_COLOUR)) * 255)
        ax.pcolormesh(lon[::step, ::step], lat[::step, ::step], colours, shading="nearest")
        typical = np.median(scaled[~filled], axis=0) if (~filled).any() else (0.5,) * 3
        valid = np.asarray(pixels["valid"], dtype=bool)
        good_lon = np.asarray(pixels["lon"], dtype=float)[valid]
        good_lat = np.asarray(pixels["lat"], dtype=float)[valid]
        ax.scatter(good_lon, good_lat, s=1, c=VALID_COLOUR, linewidths=0)
        middle = float(np.nanmean(lat)) if np.isfinite(lat).any() else 0.0
        ax.set_aspect(1.0 / max(math.cos(math.radians(middle)), 0.1))
        drawn = "" if step == 1 else f", 1 pixel in {step}"
        handles = [
            Patch(
                facecolor=tuple(typical),
                label=f"true colour (Oa08/06/03, 2-98 % stretch{drawn})",
            ),
            Patch(
                facecolor=FILL_COLOUR,
                label="no reflectance (fill: land or invalid pixel)",
            ),
            Line2D(
                [],
                [],
                ls="",
                marker="s",
                ms=4,
                color=VALID_COLOUR,
                label=f"valid pixels inside the AOI ({int(valid.sum())})",
            ),
        ]
    if aoi_path:
        _outline(ax, aoi_path)
        handles.append(Line2D([], [], color="k", lw=0.8, label="AOI outline"))
    handles.append(_nodata_patch("outside the window read"))
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.13),
        ncols=2,
        fontsize=8,
        frameon=False,
    )
    return fig


def quicklook(
    product: str | Path,
    aoi_path: str | Path | None,
    window: dict,
    pixels: Mapping[str, Sequence],
    output: str | Path,
    *,
    title: str,
) -> None:
    """:func:`draw_quicklook` saved to ``output``."""
    save(draw_quicklook(product, aoi_path, window, pixels, title=title), output)


def bounds_tuple(window) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) of a window."""
    return (window.row0, window.row1, window.col0, window.col1)


QUICKLOOK_COLUMNS = ("lon", "lat", "valid")
"""The pixel table's columns a quicklook draws."""


def read_quicklook_pixels(path: str | Path) -> dict[str, dict[str, np.ndarray]]:
    """Scene -> its pixels' :data:`QUICKLOOK_COLUMNS` from a pixel table (a batch's, whose
    ``scene`` column tells the scenes apart, or one scene's)."""
    import pyarrow.parquet as pq

    # ParquetFile, not read_table: that imports pyarrow.dataset, and pandas with it.
    table = pq.ParquetFile(path).read(columns=["scene", *QUICKLOOK_COLUMNS])
    scene = table.column("scene").combine_chunks()
    if not hasattr(scene, "indices"):  # stored plain, not dictionary-encoded
        scene = scene.dictionary_encode()
    index = _array_values(scene.indices)
    columns = {
        name: _array_values(table.column(name).combine_chunks()) for name in QUICKLOOK_COLUMNS
    }
    return {
        str(name): {key: values[index == k] for key, values in columns.items()}
        for k, name in enumerate(scene.dictionary.to_pylist())
    }


def _array_values(array) -> np.ndarray:
    """A pyarrow array of numbers or booleans as numpy, read from its buffers when it has
    no nulls (pyarrow's own conversion imports pandas, a fifth of a quicklook job's cost).
    The Arrow columnar format: buffer 0 the validity bitmap, buffer 1 the values;
    booleans one bit each, least significant bit first."""
    import pyarrow as pa

    if array.null_count or not (pa.types.is_boolean(array.type) or array.type.bit_width >= 8):
        return array.to_numpy(zero_copy_only=False)
    data, start, size = array.buffers()[1], array.offset, len(array)
    if pa.types.is_boolean(array.type):
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        return bits[start : start + size].astype(bool)
    values = np.frombuffer(data, dtype=array.type.to_pandas_dtype())
    return values[start : start + size]


# -- the rules ---------------------------------------------------------------------------


KINDS = ("trend-map", "significance", "timeseries", "coverage", "quicklook", "lake-trends")


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
    unit: str | None = None,
) -> None:
    """Draw one figure of ``kind`` (:data:`KINDS`) from ``source`` into ``figure`` (PNG).

    ``source`` is a trend GeoTIFF (trend-map, significance), a time series (timeseries,
    with the values' ``unit``), a lake-trend GeoPackage (lake-trends), a scene list
    (coverage, with the time series ``table``) or a product (quicklook, with ``aoi``,
    locate's ``window`` JSON and extract's ``pixels`` table). ``aoi`` is drawn on the
    raster maps; ``robust`` adds the Theil-Sen line to a time series.
    """
    if kind == "trend-map":
        trend_map(source, figure, title=title, aoi_path=aoi)
    elif kind == "significance":
        significance_map(source, figure, title=title, aoi_path=aoi)
    elif kind == "timeseries":
        feature_timeseries(source, variable, figure, title=title, robust=robust, unit=unit)
    elif kind == "coverage":
        coverage(source, table, figure, title=title)
    elif kind == "lake-trends":
        lake_trends_map(source, figure, title=title)
    elif kind == "quicklook":
        scene_window = json.loads(Path(window).read_text(encoding="utf-8"))
        tables = read_quicklook_pixels(pixels)
        scene_pixels = tables.get(scene_window.get("scene", ""))
        if scene_pixels is None:  # a scene's own pixel table: its one scene
            scene_pixels = next(iter(tables.values())) if len(tables) == 1 else _no_pixels()
        quicklook(source, aoi, scene_window, scene_pixels, figure, title=title)
    else:
        raise ValueError(f"unknown figure {kind!r}; expected one of {KINDS}")


def _no_pixels() -> dict[str, np.ndarray]:
    return {"lon": np.empty(0), "lat": np.empty(0), "valid": np.empty(0, dtype=bool)}


def run_figures(
    *,
    dataset: str,
    variables: list[str],
    trends: list[str] = (),
    trend_maps: list[str] = (),
    significance_maps: list[str] = (),
    timeseries_plots: list[str] = (),
    lake_trend_maps: list[str] = (),
    coverage_plot: str | None = None,
    lakes: list[str] = (),
    aoi: str | list | None = None,
    table: str | None = None,
    manifest: str | None = None,
    robust: bool = False,
) -> None:
    """Rule ``figures_<dataset>``: every figure of a dataset in one process (a figure
    costs a fraction of the interpreter's start-up and imports).

    Per variable (``variables``, in the order of its ``trends`` GeoTIFFs): the trend map
    (``trend_maps``) and the significance map (``significance_maps``), for a dataset
    with a per-pixel trend (none for a sentinel3 dataset of grid extent feature or
    none); for a sentinel3 dataset also its time series (``timeseries_plots``, from
    ``table``, the time series, Parquet or CSV; with the Theil-Sen line when
    ``robust``), its lake trend map (``lake_trend_maps``, from the lakes stage's
    GeoPackages ``lakes``) and the coverage chart (``coverage_plot``, from the scene
    list ``manifest``). ``aoi`` is drawn on the trend and significance maps. The
    values' unit is the trend's UNIT tag, else the table's (its field metadata).
    """
    from eotrend.sentinel3.layout import stats_column

    aoi_path = aoi if isinstance(aoi, str) and aoi else None
    if not len(trends) == len(trend_maps) == len(significance_maps) in (0, len(variables)):
        raise ValueError("one trend, trend map and significance map per variable, or none")
    table_units = _table_units(table) if table else {}
    units = {v: table_units.get(stats_column(v, "median")) for v in variables}
    for variable, trend_tif, map_png, significance_png in zip(
        variables if trends else [], trends, trend_maps, significance_maps, strict=True
    ):
        trend = TrendRaster.read(trend_tif)
        units[variable] = trend.unit
        rate = rate_label(trend.unit, trend.time_unit).split(";")[0]
        save(
            draw_trend_map(trend, title=f"{dataset}: {variable} trend ({rate})", aoi_path=aoi_path),
            map_png,
        )
        save(
            draw_significance_map(
                trend, title=f"{dataset}: {variable} p-value and observations", aoi_path=aoi_path
            ),
            significance_png,
        )
    columns = ["feature", "time", "fraction_valid"]
    columns += [stats_column(v, k) for v in variables for k in ("median", "p25", "p75")]
    rows = _read_table(table, columns) if table else []
    for variable, output in zip(variables, timeseries_plots, strict=False):
        figure = draw_timeseries(
            rows, variable, title=f"{dataset}: {variable} per feature", unit=units[variable],
            robust=robust,
        )  # fmt: skip
        save(figure, output)
    if len(lakes) != len(lake_trend_maps):
        raise ValueError("one lake-trend GeoPackage per lake trend map")
    for variable, geopackage, output in zip(variables, lakes, lake_trend_maps, strict=False):
        lake_trends_map(geopackage, output, title=f"{dataset}: {variable} trend per lake")
    if coverage_plot:
        save(draw_coverage(manifest, rows, title=f"{dataset}: coverage"), coverage_plot)


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
    products = {row["name"]: row["path"] for row in _read_csv(manifest)}
    scene_windows: dict[str, dict] = {}
    for path in windows:
        scene_windows.update(json.loads(Path(path).read_text(encoding="utf-8")))
    scene_pixels: dict[str, dict[str, np.ndarray]] = {}
    for path in pixels:
        scene_pixels.update(read_quicklook_pixels(path))
    folder = Path(quicklooks)
    folder.mkdir(parents=True, exist_ok=True)
    for scene in scenes:
        figure = draw_quicklook(
            products[scene],
            aoi,
            scene_windows[scene],
            scene_pixels.get(scene, _no_pixels()),
            title=f"{dataset}: quicklook of\n{scene}",
        )
        save(figure, folder / f"{scene}.png")

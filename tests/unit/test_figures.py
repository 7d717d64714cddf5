"""What the figures tell a reader without asking (issue 24), read from the figure objects
the drawing functions return and from their rendered pixels: the unit of the product on
every colour bar and value axis (carried from the product's units attribute through the
scene grid, the stack and the trend GeoTIFF), the CRS named on maps, plain tick labels
that do not run together, no-data unlike a zero slope, a p-value scale from 0.001 to 1,
whole scene counts, a legend entry for every colour of a quicklook; and integer counts in
the statistics tables. Oracles: the product's netCDF attributes (netCDF4), hand-made
rasters and tables, scipy, matplotlib's own colormaps, the Python import system.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
import shapely
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, to_rgba
from osgeo import osr
from scipy import stats as sps

from eotrend.core.errors import InputError
from eotrend.geo import raster
from eotrend.geo.aoi import read_aoi
from eotrend.sentinel3 import batches
from eotrend.sentinel3.extract import extract_to_files
from eotrend.sentinel3.locate import window_for
from eotrend.stages import report
from eotrend.stages import stack as stacking
from eotrend.stages import trend as trending
from eotrend.stages.timeseries import collect_statistics
from eotrend.stats import regression
from support.commands import command_env
from support.scenes import small_scene

LON, LAT = -60.9, -3.4
GRID = {"crs": "EPSG:4326", "resolution": 0.01, "max_distance_m": 600, "margin": 2}
# A UTM grid like the demo's NDVI series: 7,200 m wide, northings near 9.6 million.
UTM_TRANSFORM = (500000.0, 30.0, 0.0, 9600000.0, 0.0, -30.0)


def utm20s() -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32720)
    return srs.ExportToWkt()


def render(fig) -> np.ndarray:
    """The figure's pixels (rows from the top, RGB in 0..1) after a real Agg draw."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].astype(float) / 255


def colour_near(pixels: np.ndarray, ax, x: float, y: float, half: int = 6) -> np.ndarray:
    """Mean colour of the display pixels around data point (x, y) of ``ax``."""
    px, py = ax.transData.transform((x, y))
    row, col = round(pixels.shape[0] - py), round(px)
    return pixels[row - half : row + half + 1, col - half : col + half + 1].reshape(-1, 3).mean(0)


def write_trend(path: Path, fields: dict[str, np.ndarray], **tags: str) -> Path:
    """A trend GeoTIFF as the trend stage writes it (its bands), from hand-made values."""
    shape = next(iter(fields.values())).shape
    data = np.stack([fields.get(name, np.full(shape, np.nan)) for name in regression.STAT_NAMES])
    raster.write_geotiff(
        path,
        data.astype(np.float32),
        transform=UTM_TRANSFORM,
        crs_wkt=utm20s(),
        nodata=float("nan"),
        descriptions=list(regression.STAT_NAMES),
        tags={"MIN_OBS": "3", "TIME_UNIT": "year", **tags},
    )
    return path


def map_axes(fig) -> list:
    """The axes of a figure that hold a map (an image), colour bars left out."""
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]


def colour_bar_label(ax) -> str:
    return ax.images[-1].colorbar.ax.get_ylabel()


def shown_tick_labels(axis, low: float, high: float) -> list:
    """The tick labels drawn on ``axis`` between ``low`` and ``high`` (its view)."""
    return [
        tick.label1
        for tick in axis.get_major_ticks()
        if min(low, high) <= tick.get_loc() <= max(low, high) and tick.label1.get_text()
    ]


def product_unit(product: Path, filename: str, variable: str) -> str | None:
    """The physical unit the product's units attribute gives (``lg(re X)`` -> X for log10
    products), read with netCDF4; None when the variable has no units attribute."""
    with netCDF4.Dataset(product / filename) as ds:
        units = getattr(ds[variable], "units", None)
    if units is None:
        return None
    match = re.fullmatch(r"lg\(re\s*(.+)\)", units.strip())
    return match.group(1).strip() if match else units


# -- units, from the product's attributes to the colour bar -------------------------------


@pytest.fixture(scope="module")
def lake_scene(tmp_path_factory):
    """A small scene whose AOI (one lake) is its inland water, and the AOI file."""
    folder = tmp_path_factory.mktemp("lake")
    lake = shapely.box(LON - 0.1, LAT - 0.1, LON + 0.1, LAT + 0.1)
    product = small_scene(folder, LON, LAT, seed=3, water=[lake])
    aoi = folder / "aoi.geojson"
    feature = {"type": "Feature", "properties": {"name": "lake"}}
    feature["geometry"] = shapely.geometry.mapping(lake)
    aoi.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return product, aoi


@pytest.mark.parametrize(
    ("variable", "filename", "expected"),
    [("TSM_NN", "tsm_nn.nc", "g.m-3 per year"), ("Oa08_reflectance", "Oa08_reflectance.nc", None)],
)
def test_trend_colour_bar_holds_the_unit_of_the_products_attribute(
    lake_scene, tmp_path, variable, filename, expected
):
    """A real extraction's grid, stacked (three dates) and fitted by the real stages: the
    trend map's colour bar says "<unit> per year" with the unit of the product's units
    attribute (physical for a log10 product), or "dimensionless" for a variable the
    product gives no unit (water-leaving reflectance)."""
    product, aoi = lake_scene
    extract_to_files(
        product, read_aoi(aoi), window_for(product, aoi),
        tmp_path / "p.parquet", tmp_path / "s.csv",
        tmp_path / "grid", [variable], "water", GRID,
    )  # fmt: skip
    grid = tmp_path / "grid" / f"{variable}.tif"
    info = raster.read_info(grid)
    values = raster.read_rows(grid, 0, info.height)
    dated = []
    for year in (2019, 2020, 2021):
        path = tmp_path / f"{variable}_{year}.tif"
        raster.write_geotiff(
            path, values * (1 + 0.1 * (year - 2019)), transform=info.transform,
            crs_wkt=info.crs_wkt, nodata=float("nan"), descriptions=list(info.descriptions),
            band_metadata=list(info.band_metadata),
            tags={**info.tags, "ACQUISITION_DATETIME": f"{year}-06-01T13:50:00+00:00"},
        )  # fmt: skip
        dated.append(path)
    stacking.stack(dated, tmp_path / "stack.tif", tmp_path / "dates.csv", dates_from="metadata")
    trending.trend(tmp_path / "stack.tif", tmp_path / "trend.tif")
    fig = report.draw_trend_map(tmp_path / "trend.tif", title="t", aoi_path=aoi)
    label = " ".join(colour_bar_label(map_axes(fig)[0]).split())
    unit = product_unit(product, filename, variable)
    if expected is None:
        assert unit is None and "per year" in label and "dimensionless" in label, label
    else:
        assert f"{unit} per year" == expected and expected in label, label


def test_a_series_without_a_unit_says_so(tmp_path):
    """GeoTIFFs that give no unit (an Earth Engine export): the stack and the trend carry
    none, and the trend map and the time series say the unit is not given."""
    rng = np.random.default_rng(1)
    files = []
    for year in (2001, 2002, 2003, 2004):
        path = tmp_path / f"ndvi_{year}0101.tif"
        raster.write_geotiff(
            path, rng.random((1, 8, 9)).astype(np.float32), transform=UTM_TRANSFORM,
            crs_wkt=utm20s(), nodata=float("nan"),
        )  # fmt: skip
        files.append(path)
    stacking.stack(files, tmp_path / "stack.tif", tmp_path / "dates.csv")
    trending.trend(tmp_path / "stack.tif", tmp_path / "trend.tif")
    assert "UNIT" not in raster.read_info(tmp_path / "trend.tif").tags
    fig = report.draw_trend_map(tmp_path / "trend.tif", title="t")
    assert "no unit" in " ".join(colour_bar_label(map_axes(fig)[0]).split())
    rows = [
        {"time": f"{year}-01-01T00:00:00+00:00", "feature": "a", "ndvi_median": str(year % 7),
         "ndvi_p25": "0", "ndvi_p75": "9"}
        for year in (2001, 2002, 2003)
    ]  # fmt: skip
    chart = report.draw_timeseries(rows, "ndvi", title="t", unit=None)
    assert "unit not given" in chart.axes[0].get_ylabel()


def test_the_stack_carries_its_inputs_unit_and_refuses_two_units(tmp_path):
    """Band metadata UNIT of the inputs goes to every band of the stack; two inputs in
    different units are an error naming both."""

    def write(name: str, unit: str) -> Path:
        path = tmp_path / name
        raster.write_geotiff(
            path, np.ones((1, 4, 5), np.float32), transform=UTM_TRANSFORM, crs_wkt=utm20s(),
            nodata=float("nan"), band_metadata=[{"UNIT": unit}],
        )  # fmt: skip
        return path

    same = [write(f"chl_{year}.tif", "mg.m-3") for year in (2019, 2020)]
    stacking.stack(same, tmp_path / "stack.tif", tmp_path / "dates.csv", dates_from="filename")
    info = raster.read_info(tmp_path / "stack.tif")
    assert [m["UNIT"] for m in info.band_metadata] == ["mg.m-3", "mg.m-3"]
    other = write("chl_2021.tif", "ug.l-1")
    with pytest.raises(InputError, match=re.escape("ug.l-1")) as error:
        stacking.stack([*same, other], tmp_path / "s2.tif", tmp_path / "d2.csv")
    assert "mg.m-3" in str(error.value)


# -- maps: CRS, ticks, no data, p-values ----------------------------------------------------


@pytest.fixture
def wide_trend(tmp_path) -> Path:
    """A 240 x 160 trend on a UTM grid (the demo series' shape): slopes on a gradient,
    p-values from 1e-12 to 1, a hole without data."""
    rows, cols = np.mgrid[0:160, 0:240]
    slope = (cols - 120) / 120 * 0.008
    pvalue = 10.0 ** (-12 * (rows / 159))
    nobs = np.full(slope.shape, 21.0)
    hole = (rows - 80) ** 2 + (cols - 170) ** 2 < 15**2
    for band in (slope, pvalue):
        band[hole] = np.nan
    nobs[hole] = 0
    return write_trend(tmp_path / "trend.tif", {"slope": slope, "pvalue": pvalue, "nobs": nobs})


def test_projected_maps_name_their_crs_and_tick_plainly_without_overlap(wide_trend):
    """On the trend map and both panels of the significance map: the x label names the
    CRS (EPSG:32720, the raster's), tick labels are plain numbers (no offset text, no
    scientific notation), there are at least two per axis and no two of them overlap."""
    for fig in (
        report.draw_trend_map(wide_trend, title="t"),
        report.draw_significance_map(wide_trend, title="t"),
    ):
        render(fig)
        axes = map_axes(fig)
        assert len(axes) in (1, 2)
        for ax in axes:
            assert "EPSG:32720" in ax.get_xlabel() and "UTM zone 20S" in ax.get_xlabel()
            for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
                assert axis.get_major_formatter().get_offset() == ""
                labels = shown_tick_labels(axis, low, high)
                assert len(labels) >= 2
                for label in labels:
                    assert re.fullmatch(r"[\N{MINUS SIGN}-]?\d+(\.\d+)?", label.get_text()), (
                        label.get_text()
                    )
                boxes = sorted(
                    (label.get_window_extent().x0, label.get_window_extent().x1)
                    if axis is ax.xaxis
                    else (label.get_window_extent().y0, label.get_window_extent().y1)
                    for label in labels
                )
                for (_, end), (start, _) in itertools.pairwise(boxes):
                    assert end < start, f"tick labels overlap: {[t.get_text() for t in labels]}"


def test_no_data_looks_unlike_a_zero_slope_and_unlike_not_significant(tmp_path):
    """Rendered colours of three blocks of a trend map: a significant zero slope is the
    colour map's centre, pixels without a fit differ from it and from the grey of a slope
    that is not significant (by more than a tenth of the colour range)."""
    slope = np.zeros((40, 60))
    pvalue = np.full((40, 60), 0.01)
    slope[:, 40:] = 0.5
    pvalue[:, 40:] = 0.6  # not significant
    slope[:, 20:40] = np.nan  # no fit
    pvalue[:, 20:40] = np.nan
    slope[0, 0] = 1.0  # the colour scale's limit
    trend = write_trend(tmp_path / "t.tif", {"slope": slope, "pvalue": pvalue})
    fig = report.draw_trend_map(trend, title="t")
    pixels = render(fig)
    ax = map_axes(fig)[0]
    x0, y0 = UTM_TRANSFORM[0], UTM_TRANSFORM[3]

    def block(col: int) -> np.ndarray:
        return colour_near(pixels, ax, x0 + 30 * (col + 0.5), y0 - 30 * 25.5)

    zero, nodata, grey = block(10), block(30), block(50)
    centre = np.array(colormaps[report.SLOPE_COLOURS](0.5)[:3])
    assert np.abs(zero - centre).max() < 0.02
    assert np.abs(nodata - zero).max() > 0.1
    assert np.abs(nodata - grey).max() > 0.1


def test_pvalues_are_drawn_from_0001_to_1_smaller_ones_clipped_and_said_so(wide_trend):
    """The p-value image's norm is logarithmic from 0.001 to 1; a p-value of 1e-9 is
    drawn in the colour of 0.001, one of 0.04 differently; the colour bar says so."""
    fig = report.draw_significance_map(wide_trend, title="t")
    pixels = render(fig)
    ax = map_axes(fig)[0]
    image = ax.images[0]
    assert isinstance(image.norm, LogNorm)
    assert image.norm.vmin == 0.001 and image.norm.vmax == 1.0
    assert "p < 0.001" in " ".join(colour_bar_label(ax).split())
    rows = np.arange(160)
    pvalue = 10.0 ** (-12 * (rows / 159))
    x = UTM_TRANSFORM[0] + 30 * 20.5

    def at(row: int) -> np.ndarray:
        return colour_near(pixels, ax, x, UTM_TRANSFORM[3] - 30 * (row + 0.5), half=1)

    tiny = int(np.argmin(np.abs(pvalue - 1e-9)))
    floor = int(np.argmin(np.abs(pvalue - 1e-3)))
    fair = int(np.argmin(np.abs(pvalue - 0.04)))
    assert np.abs(at(tiny) - at(floor)).max() < 0.02
    assert np.abs(at(fair) - at(floor)).max() > 0.1


def test_lake_map_gives_the_tables_slope_unit_and_greys_lakes_not_significant(tmp_path):
    """A hand-made lake table (GeoPackage as the lakes stage writes it): the colour bar
    names the table's slope_unit (the layer metadata give none); in the rendered pixels a
    significant lake has its slope's colour of the diverging map centred on zero, a lake
    that is not significant the grey of the legend's "not significant" entry (not its
    slope's colour), and a lake without a fit is hatched and in the legend."""
    from eotrend.geo.vectors import write_geopackage

    names = ["up", "down", "flat", "short"]
    boxes = [
        shapely.box(LON + 0.3 * k, LAT, LON + 0.3 * k + 0.2, LAT + 0.2) for k in range(len(names))
    ]
    table = pd.DataFrame(
        {
            "feature": names,
            "n": [12, 12, 12, 2],
            "slope": [0.5, -0.25, 0.4, np.nan],
            "slope_unit": ["g.m-3 per year"] * 4,
            "pvalue": [0.001, 0.002, 0.6, np.nan],
            "qvalue": [0.004, 0.004, 0.6, np.nan],
            "significant": [True, True, False, False],
            "note": ["ok", "ok", "ok", "too_few_observations"],
        }
    )
    meta = {"VARIABLE": "TSM_NN", "STATISTIC": "median", "COMPOSITE": "none", "SLOPE": "slope",
            "MIN_OBS": "3", "FDR_METHOD": "Benjamini-Hochberg", "FDR_PVALUE": "pvalue",
            "FDR_ALPHA": "0.1"}  # fmt: skip
    geopackage = tmp_path / "TSM_NN_trends.gpkg"
    write_geopackage(geopackage, "TSM_NN", boxes, table, meta)
    fig = report.draw_lake_trends_map(geopackage, title="t")
    bar = next(ax for ax in fig.axes if ax.get_label() == "<colorbar>")
    label = " ".join(bar.get_xlabel().split())
    assert "(g.m-3 per year)" in label and "slope of TSM_NN's median" in label, label
    pixels = render(fig)
    ax = next(ax for ax in fig.axes if ax.get_label() == "lakes")
    at = [
        colour_near(pixels, ax, box.centroid.x, LAT + 0.05, half=3) for box in boxes
    ]  # below the names
    slopes = colormaps[report.SLOPE_COLOURS]
    assert np.abs(at[0] - slopes(0.5 + 0.5 * 0.5 / 0.5)[:3]).max() < 0.02
    assert np.abs(at[1] - slopes(0.5 - 0.5 * 0.25 / 0.5)[:3]).max() < 0.02
    grey = np.array(to_rgba(report.NOT_SIGNIFICANT)[:3])
    assert np.abs(at[2] - grey).max() < 0.02
    assert np.abs(at[2] - slopes(0.5 + 0.5 * 0.4 / 0.5)[:3]).max() > 0.1
    legend = {text.get_text(): patch for text, patch in zip(
        fig.legends[0].get_texts(), fig.legends[0].get_patches(), strict=True)}  # fmt: skip
    not_significant = next(p for t, p in legend.items() if t.startswith("not significant"))
    assert np.allclose(not_significant.get_facecolor()[:3], grey)
    assert "q ≥ 0.1" in " ".join(next(t for t in legend if t.startswith("not")).split())
    no_fit = next(p for t, p in legend.items() if t.startswith("no fit"))
    assert no_fit.get_hatch() == report.NODATA_HATCH
    hatched = [c for c in ax.collections if c.get_hatch() == report.NODATA_HATCH]
    assert len(hatched) == 1 and len(hatched[0].get_paths()) == 1
    assert np.abs(at[3] - grey).max() > 0.1 and np.abs(at[3] - slopes(0.5)[:3]).max() > 0.1


# -- charts ------------------------------------------------------------------------------


def test_coverage_counts_scenes_in_whole_numbers():
    """Scenes per month stacked by status: the bar heights are the hand counts and every
    tick of the count axis is a whole number."""
    times = ["2020-01-03", "2020-01-13", "2020-01-23", "2020-02-02", "2020-02-12"]
    status = ["ok", "ok", "ok", "ok", "skipped"]
    manifest = [
        {"sensing_start": f"{t}T13:50:00+00:00", "status": s}
        for t, s in zip(times, status, strict=True)
    ]
    table = [
        {"time": f"{t} 13:50:00+00:00", "feature": "lake", "fraction_valid": "0.5"}
        for t in times[:4]
    ]
    fig = report.draw_coverage(manifest, table, title="t")
    render(fig)
    top = fig.axes[0]
    heights = {}
    for container, label in zip(top.containers, ("ok", "skipped"), strict=True):
        heights[label] = [bar.get_height() for bar in container]
    assert heights == {"ok": [3, 1], "skipped": [0, 1]}
    low, high = top.get_ylim()
    ticks = [t for t in top.get_yticks() if low <= t <= high]
    assert len(ticks) >= 3 and all(float(t).is_integer() for t in ticks), ticks


def decimal_years(moments: list[datetime]) -> np.ndarray:
    """Year plus the fraction of it elapsed (calendar years of 365 or 366 days)."""
    out = []
    for m in moments:
        start, end = datetime(m.year, 1, 1, tzinfo=UTC), datetime(m.year + 1, 1, 1, tzinfo=UTC)
        out.append(m.year + (m - start) / (end - start))
    return np.array(out)


def test_time_series_lines_equal_scipy_and_carry_the_unit():
    """The dashed line of each feature is scipy's linregress of its medians on decimal
    years, the dotted one scipy's theilslopes; the legend gives the slope in the unit per
    year and the value axis the unit."""
    rng = np.random.default_rng(4)
    moments = [datetime(2018 + k // 2, 4 + 6 * (k % 2), 2, 13, 50, tzinfo=UTC) for k in range(8)]
    rows = []
    for feature, trend in (("lake", 0.8), ("river", -0.3)):
        for k, moment in enumerate(moments):
            median = 10 + trend * k / 2 + rng.normal(0, 0.3)
            rows.append({
                "time": moment.isoformat(sep=" "), "feature": feature,
                "TSM_NN_g.m-3_median": repr(median), "TSM_NN_g.m-3_p25": repr(median - 1),
                "TSM_NN_g.m-3_p75": repr(median + 1),
            })  # fmt: skip
    fig = report.draw_timeseries(rows, "TSM_NN", title="t", unit="g.m-3", robust=True)
    ax = fig.axes[0]
    assert "g.m-3" in ax.get_ylabel()
    t = decimal_years(moments)
    lines = {line.get_label(): line for line in ax.get_lines()}
    for feature in ("lake", "river"):
        median = np.array(
            [float(r["TSM_NN_g.m-3_median"]) for r in rows if r["feature"] == feature]
        )
        fit = sps.linregress(t, median)
        (ols,) = [line for label, line in lines.items() if label.startswith(f"{feature} OLS")]
        np.testing.assert_allclose(ols.get_ydata(), fit.intercept + fit.slope * t, rtol=1e-9)
        assert f"{fit.slope:.3g} g.m-3/yr" in ols.get_label()
        sen = sps.theilslopes(median, t)
        (robust,) = [line for label, line in lines.items() if label.startswith(f"{feature} Theil")]
        np.testing.assert_allclose(robust.get_ydata(), sen.intercept + sen.slope * t, rtol=1e-9)


# -- quicklooks ----------------------------------------------------------------------------


def test_every_colour_of_a_quicklook_is_in_its_legend(lake_scene):
    """Each colour drawn has a legend entry of that colour: the true-colour composite,
    pixels without reflectance (as many cells as the product has pixels where a band of
    the composite is fill, read with netCDF4 at the drawn pixels), the valid pixels, the
    AOI outline and the area outside the window read."""
    product, aoi = lake_scene
    window = window_for(product, aoi)
    bounds = {"row0": window.row0, "row1": window.row1, "col0": window.col0, "col1": window.col1}
    pixels = {
        "lon": np.array([LON, LON + 0.01, LON + 0.02]),
        "lat": np.array([LAT, LAT, LAT]),
        "valid": np.array([True, True, False]),
    }
    fig = report.draw_quicklook(product, aoi, {"window": bounds}, pixels, title="t")
    render(fig)
    ax = fig.axes[0]
    legend = {text.get_text(): handle for text, handle in zip(
        ax.get_legend().get_texts(), ax.get_legend().legend_handles, strict=True)}  # fmt: skip
    entry = {key: next(v for k, v in legend.items() if k.startswith(key)) for key in (
        "true colour", "no reflectance", "valid pixels inside the AOI (2)", "AOI outline",
        "outside the window",
    )}  # fmt: skip
    assert len(legend) == 5
    mesh = ax.collections[0]
    colours = np.asarray(mesh.get_array()).reshape(-1, 4) / 255
    fill = np.all(np.abs(colours - to_rgba(entry["no reflectance"].get_facecolor())) < 1e-2, axis=1)
    step = max(1, -(-max(window.row1 - window.row0, window.col1 - window.col0) // 320))
    missing = np.zeros((window.row1 - window.row0, window.col1 - window.col0), dtype=bool)
    for band in report.RGB_BANDS:
        with netCDF4.Dataset(product / f"{band}.nc") as ds:
            values = ds[band][window.row0 : window.row1, window.col0 : window.col1]
            missing |= np.ma.getmaskarray(values)
    assert 0 < fill.sum() == missing[::step, ::step].sum()
    assert np.allclose(
        ax.collections[1].get_facecolor()[0],
        to_rgba(entry["valid pixels inside the AOI (2)"].get_color()),
    )
    assert {line.get_color() for line in ax.get_lines()} == {entry["AOI outline"].get_color()}
    outside = entry["outside the window"]
    assert to_rgba(ax.patch.get_facecolor()) == to_rgba(outside.get_facecolor())
    assert ax.patch.get_hatch() == outside.get_hatch()


# -- integer counts in the tables -----------------------------------------------------------


def test_counts_are_integers_in_every_table(lake_scene, tmp_path):
    """A real extraction's stats.csv, a batch's (a scene and one outside the swath) and
    the time series with a row left out for low coverage: every count column parses as
    int64 with pandas where no count is left out, and every count cell is a whole number
    or empty."""
    product, aoi = lake_scene
    variables = ["Oa08_reflectance", "TSM_NN"]
    extract_to_files(
        product, read_aoi(aoi), window_for(product, aoi),
        tmp_path / "a.parquet", tmp_path / "a.csv",
        None, variables, "water", GRID,
    )  # fmt: skip
    extract_to_files(
        product, read_aoi(aoi), None, tmp_path / "b.parquet", tmp_path / "b.csv", None, variables,
        "water", GRID,
    )  # fmt: skip
    batches.write_stats([tmp_path / "a.csv", tmp_path / "b.csv"], tmp_path / "batch.csv")
    for name in ("a.csv", "batch.csv"):
        table = pd.read_csv(tmp_path / name)
        counts = [c for c in table.columns if c == "count" or c.endswith("_count")]
        assert len(counts) == 4 and table["count"].iloc[0] > 0
        assert all(table[c].dtype == np.int64 for c in counts), table.dtypes[counts]
    later = pd.read_csv(tmp_path / "a.csv")
    later["time"] = "2020-06-02 13:50:00+00:00"
    later["coverage"] = 0.2  # observes a fifth of the lake: left out of the series
    later.to_csv(tmp_path / "c.csv", index=False)
    collect_statistics([tmp_path / "a.csv", tmp_path / "c.csv"], tmp_path / "ts.csv", 0.5)
    table = pd.read_csv(tmp_path / "ts.csv", dtype=str, keep_default_na=False)
    assert list(table["note"]) == ["ok", "low_coverage"]
    for column in [c for c in table.columns if c == "count" or c.endswith("_count")]:
        assert all(re.fullmatch(r"\d*", cell) for cell in table[column]), table[column]
    assert table["TSM_NN_g.m-3_count"].iloc[1] == ""


# -- what the jobs import -------------------------------------------------------------------


def test_jobs_that_draw_nothing_import_no_figure_module():
    """The stages of the rules that draw nothing, and the command line, leave matplotlib
    and the figure module unimported (read from sys.modules of a fresh interpreter)."""
    modules = ["eotrend.cli", "eotrend.stages.download", "eotrend.stages.scenes",
               "eotrend.stages.stack", "eotrend.stages.summary", "eotrend.stages.timeseries",
               "eotrend.stages.trend"]  # fmt: skip
    code = (
        f"import sys\nfor m in {modules!r}: __import__(m)\n"
        "print(sorted(m for m in sys.modules if m.startswith('matplotlib') "
        "or m == 'eotrend.stages.report'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=command_env(), capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "[]", done.stdout


def test_charts_of_many_features_draw_the_first_by_id_and_say_so():
    """30 features (as typed Parquet rows: times as datetimes, None for a missing value):
    the time series and coverage charts draw the medians and valid fractions of the 12
    first ids in sorted order (worked out here) and their titles say 12 of 30; 12
    features or fewer are all drawn, the titles unchanged."""
    moments = [datetime(2019 + k, 6, 1, tzinfo=UTC) for k in range(3)]
    names = [f"lake_{k:02d}" for k in range(30)]
    rows = [
        {"time": t, "feature": name, "fraction_valid": 0.5, "TSM_NN_g.m-3_median": 1.0 + k,
         "TSM_NN_g.m-3_p25": None, "TSM_NN_g.m-3_p75": 2.0 + k}
        for name in reversed(names) for k, t in enumerate(moments)
    ]  # fmt: skip
    manifest = [{"sensing_start": t.isoformat(), "status": "ok"} for t in moments]
    for count, title in ((30, "(the first 12 of 30 features, by id)"), (12, None)):
        kept = [r for r in rows if r["feature"] in names[:count]]
        chart = report.draw_timeseries(kept, "TSM_NN", title="t", unit="g.m-3")
        drawn = sorted(line.get_label().split()[0] for line in chart.axes[0].get_lines())
        assert sorted(set(drawn)) == names[:12]
        coverage = report.draw_coverage(manifest, kept, title="t").axes[1]
        assert sorted(line.get_label() for line in coverage.get_lines()) == names[:12]
        for ax in (chart.axes[0], coverage):
            assert (title in ax.get_title()) if title else "features" not in ax.get_title()

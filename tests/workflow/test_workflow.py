"""The real snakemake command on a small config, checked against the synthetic truth; its
lake-level trends (rule lakes makes the table and the GeoPackage, the dataset's figures
job the map) against scipy / pymannkendall / statsmodels on each lake's series, built
here with pandas from the run's own timeseries.csv; and Snakemake's promise of a minimal
rebuild on that finished run (see the section's comment)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pymannkendall as pmk
import pytest
import yaml
from osgeo import ogr
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from eotrend.core import provenance
from eotrend.geo import raster
from eotrend.geo.grids import cell_centres_lonlat
from eotrend.sentinel3.memory import batch_mem_mb, series_mem_mb
from eotrend.stats import regression
from eotrend.synthetic.fields import water_truth
from eotrend.synthetic.series import series_truth
from support.commands import REPO, finished_run, snakemake, undeclared_results
from support.configs import base_config, merged

pytestmark = pytest.mark.workflow
ogr.UseExceptions()

# The lake-level trends' q-values are those of the Mann-Kendall p-values, so their map
# shows the Sen slope. Two batches of three scenes, so that a batch's rerun can be told
# from the dataset's.
SMALL = base_config(
    "sentinel3_synthetic",
    "geotiff_synthetic",
    river={
        "source": {"synthetic": {"cloud_fraction": 0.1}},
        "trend": {"fdr": {"pvalue": "mk_pvalue"}},
        "scenes_per_job": 3,
    },
)
COLUMN = "TSM_NN_g.m-3_median"  # the lakes' per-scene statistic the lake trends fit


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """A finished run of the small config (once for the module)."""
    return finished_run(tmp_path_factory.mktemp("run"), SMALL)


def test_every_final_output_exists(small_run):
    for name, variables in (("river", ["Oa08_reflectance", "TSM_NN"]), ("ndvi", ["ndvi_max"])):
        for variable in variables:
            assert (small_run / f"results/{name}/trend/{variable}.tif").stat().st_size > 0
            assert (small_run / f"results/{name}/plots/{variable}_trend.png").stat().st_size > 0
    manifest = pd.read_csv(small_run / "results/river/manifest.csv")
    assert len(manifest) == 6 and (manifest["status"] == "ok").all()


def test_river_trend_matches_the_generator(small_run):
    """Where every scene saw water, the fitted slope equals a regression of the
    generator's truth at the cell centre on the scene times."""
    path = small_run / "results/river/trend/Oa08_reflectance.tif"
    info = raster.read_info(path)
    bands = raster.read_rows(path, 0, info.height)
    slope = bands[regression.STAT_NAMES.index("slope")]
    nobs = bands[regression.STAT_NAMES.index("nobs")]
    manifest = pd.read_csv(small_run / "results/river/manifest.csv")
    times = pd.to_datetime(manifest["sensing_start"]).dt.to_pydatetime()
    t = regression.decimal_year(list(times))
    full = nobs == len(t)
    assert full.sum() > 50, "too few cells seen in every scene to test"
    from eotrend.geo.grids import Grid

    grid = Grid(info.transform, info.width, info.height, info.crs_wkt)
    lon, lat = cell_centres_lonlat(grid)
    truth = np.stack([water_truth("Oa08_reflectance", lon[full], lat[full], ti) for ti in t])
    expected = regression.ols(t, truth)["slope"]
    assert np.median(np.abs(slope[full] - expected)) < 2e-4
    assert np.corrcoef(slope[full], expected)[0, 1] > 0.9


def test_ndvi_trend_equals_scipy_on_the_inputs(small_run):
    """Per pixel, the trend equals scipy.stats.linregress on the input series, and it
    recovers the generator's slope on average."""
    files = sorted((small_run / "resources/products/ndvi").glob("*.tif"))
    series = np.stack([raster.read_rows(f, 0, raster.read_info(f).height)[0] for f in files])
    t = regression.decimal_year(
        [pd.Timestamp(f"{y}-01-01", tz="UTC").to_pydatetime() for y in range(2001, 2011)]
    )
    path = small_run / "results/ndvi/trend/ndvi_max.tif"
    bands = raster.read_rows(path, 0, raster.read_info(path).height)
    slope = bands[regression.STAT_NAMES.index("slope")]
    rng = np.random.default_rng(0)
    checked = 0
    for r, c in rng.integers(0, [40, 60], size=(200, 2)):
        y = series[:, r, c]
        ok = ~np.isnan(y)
        if ok.sum() < 3:
            assert np.isnan(slope[r, c])
            continue
        fit = sps.linregress(t[ok], y[ok])
        assert slope[r, c] == pytest.approx(fit.slope, rel=1e-5, abs=1e-7)
        checked += 1
    assert checked > 150
    _, true_slope = series_truth(width=60, height=40, seed=5)
    assert np.nanmean(np.abs(slope - true_slope)) < 5e-3


def test_trends_carry_the_unit_of_the_products_attributes(small_run):
    """The unit of each trend's values (tag UNIT) is the one the products' units attribute
    gives, read with netCDF4: the physical unit of a log10 product (TSM_NN), CF's "1" for
    a variable without one (water-leaving reflectance); a GeoTIFF series without a unit
    gets none."""
    import netCDF4

    product = next((small_run / "resources/products/river").glob("*.SEN3"))
    with netCDF4.Dataset(product / "tsm_nn.nc") as ds:
        tsm_units = ds["TSM_NN"].units
    with netCDF4.Dataset(product / "Oa08_reflectance.nc") as ds:
        assert "units" not in ds["Oa08_reflectance"].ncattrs()
    assert tsm_units == "lg(re g.m-3)"
    tags = {
        name: raster.read_info(small_run / f"results/{name}").tags
        for name in ("river/trend/TSM_NN.tif", "river/trend/Oa08_reflectance.tif")
    }
    assert tags["river/trend/TSM_NN.tif"]["UNIT"] == "g.m-3"
    assert tags["river/trend/Oa08_reflectance.tif"]["UNIT"] == "1"
    assert "UNIT" not in raster.read_info(small_run / "results/ndvi/trend/ndvi_max.tif").tags


def test_rerun_does_nothing(small_run):
    result = snakemake(small_run, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_dry_run_prints_the_plan(small_run, tmp_path):
    """Before the download checkpoint ran, the plan holds it and says the rest follows;
    once it ran, the dry run lists the per-scene and per-variable jobs. (The product cache
    is the module run's: the checkpoint makes no product again.)"""
    shutil.copy(REPO / "data" / "demo" / "aoi.geojson", tmp_path / "aoi.geojson")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(SMALL))
    shutil.copytree(small_run / "resources/products", tmp_path / "resources/products")
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert "download" in out and "checkpoint jobs" in out
    assert snakemake(tmp_path, "--until", "download").returncode == 0
    planned = snakemake(tmp_path, "-n")
    out = planned.stdout + planned.stderr
    for rule in ("scenes", "stack", "trend", "figures_river", "figures_ndvi", "quicklooks", "all"):
        assert rule in out
    # Memory asks: the batch's is the model's for its 2 threads and the AOI's features
    # (counted here with OGR), the time series' for a row per scene and feature.
    source = ogr.Open(str(tmp_path / "aoi.geojson"))
    features = source.GetLayer(0).GetFeatureCount()
    manifest = pd.read_csv(tmp_path / "results/river/manifest.csv")
    rows = (manifest["status"] == "ok").sum() * features

    def job(rule: str) -> str:
        return out.split(f"rule {rule}:", 1)[1].split("\n\n", 1)[0]

    assert "threads: 2" in job("scenes"), job("scenes")
    assert f"mem_mb={batch_mem_mb(2, features)}," in job("scenes"), job("scenes")
    assert f"mem_mb={series_mem_mb(rows)}," in job("timeseries"), job("timeseries")


def test_misspelt_key_fails_at_once_naming_it(tmp_path):
    bad = yaml.safe_load(yaml.safe_dump(SMALL))
    bad["datasets"]["river"]["variabels"] = ["Oa08_reflectance"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(bad))
    result = snakemake(tmp_path, "-n", timeout=120)
    assert result.returncode != 0
    assert "variabels" in result.stdout + result.stderr


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_every_plot_is_a_real_picture(small_run):
    """Each figure is a valid PNG of sensible size whose pixels are not all alike."""
    import matplotlib.image

    plots = sorted(small_run.glob("results/*/plots/*.png")) + sorted(
        small_run.glob("results/*/quicklooks/*.png")
    )
    assert len(plots) >= 10
    for plot in plots:
        assert plot.read_bytes()[:8] == PNG_SIGNATURE, plot
        pixels = matplotlib.image.imread(plot)
        height, width = pixels.shape[:2]
        assert 300 <= width <= 3000 and 200 <= height <= 3000, (plot, pixels.shape)
        assert pixels[..., :3].std() > 0.02, f"{plot} looks blank"


def test_plots_render_without_warnings(small_run, tmp_path):
    """Every figure function, run again on the run's results with warnings as errors."""
    import warnings

    from eotrend.stages import report as plotting

    river = small_run / "results" / "river"
    scene = sorted((small_run / "resources/scenes/river").iterdir())[0]
    product = small_run / "resources" / "products" / "river" / f"{scene.name}.SEN3"
    aoi = small_run / "aoi.geojson"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plotting.trend_map(river / "trend/TSM_NN.tif", tmp_path / "a.png", title="t", aoi_path=aoi)
        plotting.significance_map(river / "trend/TSM_NN.tif", tmp_path / "b.png", title="t")
        plotting.feature_timeseries(
            river / "timeseries.csv", "TSM_NN", tmp_path / "c.png", title="t", robust=True
        )
        plotting.coverage(
            river / "manifest.csv", river / "timeseries.csv", tmp_path / "d.png", title="t"
        )
        plotting.quicklook(
            product,
            aoi,
            json.loads((scene / "window.json").read_text()),
            pd.read_parquet(scene / "pixels.parquet"),
            tmp_path / "e.png",
            title="t",
        )
    assert len(list(tmp_path.glob("*.png"))) == 5


def test_summary_counts_the_scenes(small_run):
    summary = pd.read_csv(small_run / "results/river/summary.csv", keep_default_na=False)
    found = summary[summary["stage"] == "found"]["scenes"].sum()
    extracted = summary[summary["stage"] == "extract"]["scenes"].sum()
    assert found == 6 and extracted == 6


def test_report_holds_every_final_output(small_run):
    """`snakemake --report` gives one page that contains every figure and table."""
    result = snakemake(small_run, "--report", "report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (small_run / "report.html").read_text(encoding="utf-8", errors="replace")
    finals = (
        sorted(small_run.glob("results/*/plots/*.png"))
        + sorted(small_run.glob("results/*/quicklooks/*.png"))
        + sorted(small_run.glob("results/*/summary.csv"))
    )
    for path in finals:
        assert path.name in html, f"{path.relative_to(small_run)} is not in the report"


def test_trend_tiles_gather_to_the_single_job_result(small_run, tmp_path):
    """--set-scatter trend_tiles=3: three row-tile jobs (13, 13 and 14 of the 40 rows),
    gathered into the same GeoTIFF as the single-tile run of the module's workflow (array
    equality)."""
    tiles = 3
    shutil.copy(small_run / "aoi.geojson", tmp_path / "aoi.geojson")
    shutil.copy(small_run / "config.yaml", tmp_path / "config.yaml")
    target = "results/ndvi/trend/ndvi_max.tif"
    result = snakemake(tmp_path, target, "--set-scatter", f"trend_tiles={tiles}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "trend_tile" in result.stdout + result.stderr
    logs = list((tmp_path / "logs/ndvi/trend").glob("ndvi_max_*-of-*.log"))
    assert len(logs) == tiles
    single = raster.read_rows(small_run / target, 0, 40)
    gathered = raster.read_rows(tmp_path / target, 0, 40)
    np.testing.assert_array_equal(gathered, single)
    assert raster.read_info(tmp_path / target).tags == raster.read_info(small_run / target).tags


def test_report_renders_in_a_browser(small_run, tmp_path):
    """The report opens in headless Chromium with no console errors and shows figures."""
    from support.browser import ensure_chromium, is_blank, screenshot, unavailable_reason

    if ensure_chromium() is None:
        pytest.skip(unavailable_reason())
    if not (small_run / "report.html").is_file():
        assert snakemake(small_run, "--report", "report.html").returncode == 0
    errors = screenshot(small_run / "report.html", tmp_path / "report.png", wait_ms=1500)
    assert errors == []
    assert not is_blank(tmp_path / "report.png")


# -- lake-level trends (rule lakes, the figures job's lake map) ------------------------


def test_the_lake_trends_are_a_table_a_geopackage_and_a_map(small_run):
    """The three outputs exist; the map is a PNG of sensible size that is not blank."""
    from matplotlib.image import imread

    lakes = small_run / "results/river/lakes"
    assert (lakes / "TSM_NN_trends.csv").stat().st_size > 0
    assert (lakes / "TSM_NN_trends.gpkg").stat().st_size > 0
    figure = small_run / "results/river/plots/TSM_NN_lake_trends.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = imread(figure)
    assert 300 <= pixels.shape[1] <= 3000 and 200 <= pixels.shape[0] <= 3000
    assert pixels[..., :3].std() > 0.02


def test_the_table_equals_the_oracles_on_the_runs_timeseries(small_run):
    """Each lake: n, OLS slope and p of linregress, Sen slope of theilslopes, Mann-Kendall
    tau and p of pymannkendall on its medians (rows ok/partial with a value, decimal
    years computed here); q = fdr_bh of those p; the unit from the pixel tables."""
    table = pd.read_csv(small_run / "results/river/lakes/TSM_NN_trends.csv").set_index("feature")
    series = pd.read_csv(small_run / "results/river/timeseries.csv")
    series = series[series["note"].isin(["ok", "partial"]) & series[COLUMN].notna()]
    series["time"] = pd.to_datetime(series["time"], utc=True)
    p = {}
    for name, own in series.sort_values("time").groupby("feature"):
        times = own["time"]
        starts = pd.to_datetime(times.dt.year.astype(str) + "-01-01", utc=True)
        days = (times - starts) / pd.Timedelta(days=1)
        t = (times.dt.year + days / np.where(times.dt.is_leap_year, 366.0, 365.0)).to_numpy()
        y = own[COLUMN].to_numpy()
        row = table.loc[name]
        fit = sps.linregress(t, y)
        mk = pmk.original_test(y)
        assert row["n"] == len(y) >= 3 and row["note"] == "ok"
        assert row["slope"] == pytest.approx(fit.slope, rel=1e-9)
        assert row["pvalue"] == pytest.approx(fit.pvalue, rel=1e-9)
        assert row["sen_slope"] == pytest.approx(sps.theilslopes(y, t).slope, rel=1e-9)
        assert row["mk_tau"] == pytest.approx(mk.Tau, rel=1e-9)
        assert row["mk_pvalue"] == pytest.approx(mk.p, rel=1e-9, abs=1e-14)
        p[name] = mk.p
    assert sorted(p) == sorted(table.index)
    q = multipletests(list(p.values()), method="fdr_bh")[1]
    np.testing.assert_allclose(table.loc[list(p), "qvalue"], q, rtol=1e-9)
    assert list(table.loc[list(p), "significant"]) == list(q < 0.1)
    assert set(table["slope_unit"]) == {"g.m-3 per year"}


def test_the_geopackage_holds_the_aoi_polygons_with_the_table(small_run):
    """Read with OGR: the AOI's features in order with their geometries, and the table's
    slope, q-value and note as fields."""
    table = pd.read_csv(small_run / "results/river/lakes/TSM_NN_trends.csv")
    aoi = ogr.Open(str(small_run / "aoi.geojson"))  # the layers live as long as their source
    expected = [(f.GetField("name"), f.GetGeometryRef().ExportToIsoWkb()) for f in aoi.GetLayer(0)]
    source = ogr.Open(str(small_run / "results/river/lakes/TSM_NN_trends.gpkg"))
    layer = source.GetLayer(0)
    fields = ("sen_slope", "qvalue", "note")
    geometries, attributes = [], []
    for feature in layer:
        geometries.append((feature.GetField("feature"), feature.GetGeometryRef().ExportToIsoWkb()))
        attributes.append(tuple(feature.GetField(k) for k in fields))
    assert geometries == expected
    assert attributes == list(table[list(fields)].itertuples(index=False, name=None))
    assert layer.GetMetadataItem("SLOPE") == "sen_slope"


# -- minimal rebuild -------------------------------------------------------------------
# Snakemake's promise of a minimal rebuild, read from the real job plan: after a finished
# run, an edit plans exactly the rules that read the edited key.
#
# The oracle is Snakemake itself (`snakemake -n` of the edited config) against the rules
# each key belongs to, worked out by hand from the rules: a figure key (`quicklooks`)
# plans figure jobs only, a trend key the trends that read it and the dataset's figure job
# (every map and chart of a dataset, the lake trend maps too, is drawn by one job,
# figures_<dataset>; the per-pixel trend reads every trend key; the lake-level trends, rule
# lakes, read min_obs, time_unit, test, lags, ci, seasons, fdr.alpha, fdr.pvalue and
# lake_statistic, not robust, breaks or fdr.enabled), a key written out with its schema
# default nothing at all; an extraction key (`quality`) reruns the scenes; a deleted batch
# file its batch. Every file under results/ is a declared output: Snakemake's own
# `--delete-all-output` lists it.

# The figure jobs of the river dataset: its maps and charts (lake trend maps included) in
# one job, its quicklooks.
FIGURES = {"figures_river", "quicklooks"}
PIXEL_TREND = {"trend_tile", "trend"}
LAKE_TREND = {"lakes"}
TREND = PIXEL_TREND | LAKE_TREND


def edited(workdir: Path, name: str, **changes) -> Path:
    """SMALL with the river dataset's keys changed (merged in), written as
    ``<name>.yaml``."""
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(merged(SMALL, {"datasets": {"river": changes}})))
    return path


def planned(workdir: Path, configfile: Path) -> dict[str, int]:
    """Rule -> jobs of the dry run of ``configfile`` (Snakemake's job stats table);
    empty when there is nothing to do."""
    result = snakemake(workdir, "-n", "--configfile", str(configfile))
    assert result.returncode == 0, result.stderr[-5000:]
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1].split("\ntotal", 1)[0].splitlines()
    jobs = {}
    for line in table:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    assert jobs, text[-3000:]
    return jobs


def test_a_key_written_with_its_default_changes_nothing(small_run):
    defaults = edited(
        small_run,
        "defaults",
        quality="water",
        quicklooks=24,
        min_coverage=0.9,
        product_masks=True,
        grid={"crs": "EPSG:4326", "resolution": 0.003, "max_distance_m": 400, "margin": 2},
        trend={"min_obs": 3, "robust": False, "time_unit": "year", "lake_statistic": "median"},
    )
    assert planned(small_run, defaults) == {}


def test_a_figure_key_plans_figure_jobs_only(small_run):
    jobs = planned(small_run, edited(small_run, "figures", quicklooks=3))
    assert jobs == {"quicklooks": 1, "all": 1}


@pytest.mark.parametrize(
    ("trend", "trends"),
    [
        ({"robust": True}, PIXEL_TREND),
        ({"min_obs": 4}, TREND),
        ({"lake_statistic": "mean"}, LAKE_TREND),
    ],
    ids=["robust", "min_obs", "lake_statistic"],
)
def test_a_trend_key_plans_the_trends_that_read_it_and_their_figures_only(small_run, trend, trends):
    """The trends that read the key, and the dataset's one figure job (its maps, time
    series and lake maps show the trends); the quicklooks do not (they show the scenes)."""
    jobs = planned(small_run, edited(small_run, "trend", trend=trend))
    assert set(jobs) & TREND == trends, jobs
    assert set(jobs) - {"all"} <= TREND | FIGURES, jobs
    assert jobs["figures_river"] == 1 and "quicklooks" not in jobs, jobs


def test_a_quality_key_reruns_every_scene_and_what_follows(small_run, tmp_path):
    """A real run in a copy: the checkpoint, then every scene redone (none kept), then the
    series and the trend made again."""
    workdir = tmp_path / "copy"
    shutil.copytree(small_run, workdir, symlinks=True)
    config = edited(workdir, "quality", quality="land")
    trend = workdir / "results/river/trend/Oa08_reflectance.tif"
    before = trend.stat().st_mtime_ns
    result = snakemake(workdir, "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-5000:]
    batches = pd.concat(pd.read_csv(p) for p in (workdir / "results/river/batches").glob("*.csv"))
    assert len(batches) == 6 and set(batches["status"]) == {"done"}, batches
    assert trend.stat().st_mtime_ns > before


def test_the_scene_stamp_covers_the_extraction_path_only():
    """The modules a scene's stamp digests: the extraction path (worked out by hand from
    the imports), not the figures or the other stages."""
    closure = provenance._closure("eotrend.stages.scenes")
    for needed in ("eotrend.sentinel3.extract", "eotrend.sentinel3.locate", "eotrend.geo.grids"):
        assert needed in closure
    for other in ("eotrend.stages.report", "eotrend.stages.trend", "eotrend.stats.regression"):
        assert other not in closure


def test_a_deleted_batch_file_reruns_only_its_batch_and_comes_back(small_run, tmp_path):
    """The second batch's pixel table deleted: the plan holds that batch alone (and what
    reads it), the run redoes none of its scenes (the scene cache holds them: all kept)
    and writes the same table again; the first batch is not touched."""
    workdir = tmp_path / "copy"
    shutil.copytree(small_run, workdir, symlinks=True)
    batches = workdir / "results/river/batches"
    deleted = batches / "0001/pixels.parquet"
    before = pd.read_parquet(deleted)
    untouched = {p: p.stat().st_mtime_ns for p in (batches / "0000").iterdir()}
    deleted.unlink()
    jobs = planned(workdir, workdir / "config.yaml")
    assert jobs.get("scenes") == 1 and "download" not in jobs, jobs
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    pd.testing.assert_frame_equal(pd.read_parquet(deleted), before)
    assert set(pd.read_csv(batches / "0001.csv")["status"]) == {"kept"}
    assert {p: p.stat().st_mtime_ns for p in untouched} == untouched


def test_every_file_under_results_is_a_declared_output(small_run):
    """Snakemake's dry run of --delete-all-output names every file the run left under
    results/ (a quicklook through its folder, a directory() output)."""
    assert undeclared_results(small_run, minimum=21) == []

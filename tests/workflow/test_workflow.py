"""The real snakemake command on a small config, checked against the synthetic truth."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats as sps

from conftest import REPO, snakemake
from eotrend import raster, regression
from eotrend.gridding import cell_centres_lonlat
from eotrend.synthetic.olci import water_truth
from eotrend.synthetic.series import series_truth

pytestmark = pytest.mark.workflow

SMALL = {
    "datasets": {
        "river": {
            "kind": "sentinel3",
            "aoi": "aoi.geojson",
            "source": {
                "type": "synthetic",
                "synthetic": {
                    "seed": 3,
                    "years": [2019, 2021],
                    "scenes_per_year": 2,
                    "rows": 420,
                    "columns": 385,
                    "cloud_fraction": 0.1,
                },
            },
            "variables": ["Oa08_reflectance", "TSM_NN"],
        },
        "ndvi": {
            "kind": "geotiff",
            "variable": "ndvi_max",
            "source": {
                "type": "synthetic",
                "synthetic": {"seed": 5, "years": [2001, 2010], "width": 60, "height": 40},
            },
        },
    }
}


@pytest.fixture(scope="module")
def small_run(tmp_path_factory) -> Path:
    """A finished run of the small config (once for the module)."""
    workdir = tmp_path_factory.mktemp("run")
    shutil.copy(REPO / "data" / "demo" / "aoi.geojson", workdir / "aoi.geojson")
    (workdir / "config.yaml").write_text(yaml.safe_dump(SMALL))
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


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
    from eotrend.gridding import Grid

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


def test_rerun_does_nothing(small_run):
    result = snakemake(small_run, "-n")
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_dry_run_prints_the_plan(tmp_path):
    shutil.copy(REPO / "data" / "demo" / "aoi.geojson", tmp_path / "aoi.geojson")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(SMALL))
    result = snakemake(tmp_path, "-n")
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    for rule in ("download", "stack", "trend", "plot_trend", "all"):
        assert rule in out


def test_misspelt_key_fails_at_once_naming_it(tmp_path):
    bad = yaml.safe_load(yaml.safe_dump(SMALL))
    bad["datasets"]["river"]["variabels"] = ["Oa08_reflectance"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(bad))
    result = snakemake(tmp_path, "-n", timeout=120)
    assert result.returncode != 0
    assert "variabels" in result.stdout + result.stderr

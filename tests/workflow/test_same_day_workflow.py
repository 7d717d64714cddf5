"""The real snakemake on local products of which two were sensed on one UTC day.

Sentinel-3B flies in Sentinel-3A's orbit 140 degrees out of phase (ESA, "Sentinel-3
orbit"): with a 100.99 min period the two pass ~39 min apart on neighbouring tracks, and
their 1270 km swaths overlap, so both see a lake on many days. The run must keep both
scenes: stack bands labelled by their sensing start to the second, a trend over all
four acquisitions, and both scenes in the time series.
"""

from __future__ import annotations

import sys
import warnings
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from scipy import stats as sps

from eotrend.geo import raster
from eotrend.stats import regression
from eotrend.synthetic.product import write_product
from eotrend.synthetic.spec import SceneSpec, product_name
from support.commands import run, snakemake
from support.configs import base_dataset
from support.scenes import square_ring, write_polygons

pytestmark = pytest.mark.workflow

LAKE = (-60.9, -3.4)
S3B_FIRST = datetime(2020, 7, 1, 13, 50, 2, 400000, tzinfo=UTC)
SCENES = [
    (datetime(2019, 7, 3, 13, 46, 30, 100000, tzinfo=UTC), "S3A"),
    (S3B_FIRST, "S3B"),
    (S3B_FIRST + timedelta(minutes=39, seconds=19, microseconds=300000), "S3A"),
    (datetime(2021, 6, 28, 13, 52, 10, 700000, tzinfo=UTC), "S3B"),
]
VARIABLE = "Oa08_reflectance"


def name_time(name: str) -> datetime:
    """The sensing start in a product name (chars 16-30), UTC."""
    return datetime.strptime(name[16:31], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def same_day_run(tmp_path_factory):
    """A finished run (stack, trend, time series) of a local dataset of four scenes, two
    of them (S3B, then S3A) on 2020-07-01."""
    workdir = tmp_path_factory.mktemp("sameday")
    x, y = LAKE
    ring = square_ring(x, y, 0.05)
    write_polygons(workdir / "aoi.geojson", [[ring]], ["lake"])
    names = []
    for k, (when, mission) in enumerate(SCENES):
        spec = SceneSpec(
            x, y, when, rows=120, columns=129, mission=mission, seed=k, cloud_fraction=0.05
        )
        write_product(spec, workdir / "archive", water=shapely.Polygon(ring))
        names.append(product_name(spec).removesuffix(".SEN3"))
    lake = base_dataset(
        "sentinel3_local", start="2019-01-01", end="2021-12-31", variables=[VARIABLE]
    )
    config = {"datasets": {"lake": lake}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    targets = [f"results/lake/trend/{VARIABLE}.tif", "results/lake/timeseries.csv"]
    result = snakemake(workdir, *targets)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir, names


def test_same_day_scenes_are_two_bands_of_the_stack(same_day_run):
    """Every scene is a band, in sensing order (S3B before S3A on 2020-07-01, against
    name order), labelled by its product name's sensing start (to the second)."""
    workdir, names = same_day_run
    manifest = pd.read_csv(workdir / "results/lake/manifest.csv")
    assert sorted(manifest["name"]) == sorted(names)
    assert (manifest["status"] == "ok").all()
    info = raster.read_info(workdir / f"results/lake/stack/{VARIABLE}.tif")
    labels = [name_time(n).strftime("%Y-%m-%dT%H:%M:%SZ") for n in names]
    assert labels[1:3] == ["2020-07-01T13:50:02Z", "2020-07-01T14:29:22Z"]
    assert info.descriptions == tuple(labels)
    assert [m["DATE"] for m in info.band_metadata] == [name_time(n).isoformat() for n in names]
    dates = pd.read_csv(workdir / f"results/lake/stack/{VARIABLE}_dates.csv")
    assert dates["label"].tolist() == labels
    # Each band's source is a band of a batch's grids: that band's SCENE is the scene.
    sources = [source.split("#") for source in dates["sources"]]
    scenes = [raster.read_info(workdir / f).band_metadata[int(k) - 1]["SCENE"] for f, k in sources]
    assert scenes == names
    assert [m["SOURCES"] for m in info.band_metadata] == names


def test_trend_fits_all_four_acquisitions(same_day_run):
    """Pixels seen by every scene get nobs 4 and the slope of scipy.stats.linregress of
    their stack values on the decimal years of the product names' sensing times."""
    workdir, names = same_day_run
    stack_path = workdir / f"results/lake/stack/{VARIABLE}.tif"
    values = raster.read_rows(stack_path, 0, raster.read_info(stack_path).height)
    trend_path = workdir / f"results/lake/trend/{VARIABLE}.tif"
    stats = raster.read_rows(trend_path, 0, raster.read_info(trend_path).height)
    nobs = stats[regression.STAT_NAMES.index("nobs")]
    slope = stats[regression.STAT_NAMES.index("slope")]
    t = regression.decimal_year([name_time(n) for n in names])
    full = np.argwhere(nobs == 4)
    assert len(full) > 20, "too few cells seen by every scene"
    for r, c in full[:: max(1, len(full) // 40)]:
        fit = sps.linregress(t, values[:, r, c].astype(np.float64))
        assert slope[r, c] == pytest.approx(fit.slope, rel=1e-4, abs=1e-7)


def test_time_series_keeps_both_same_day_scenes(same_day_run):
    """timeseries.csv has one row per scene and feature: both 2020-07-01 scenes, each
    with its own time, in time order."""
    workdir, names = same_day_run
    table = pd.read_csv(workdir / "results/lake/timeseries.csv")
    assert table["scene"].tolist() == names
    times = pd.to_datetime(table["time"], utc=True)
    assert times.is_monotonic_increasing
    assert [t.floor("s") for t in times[1:3]] == [
        pd.Timestamp("2020-07-01T13:50:02Z"),
        pd.Timestamp("2020-07-01T14:29:21Z"),
    ]


def test_daily_composite_of_the_scene_grids(same_day_run, tmp_path):
    """The stack command with --period daily on the run's batch grids: three bands, the
    same-day one the NaN-aware mean of the two same-day bands of the run's stack (numpy)."""
    workdir, _ = same_day_run
    grids = [str(p) for p in sorted(workdir.glob("results/lake/batches/*/grids.tif"))]
    out = tmp_path / "daily.tif"
    command = ["-m", "eotrend", "stack", *grids, "--variable", VARIABLE]
    options = ["--dates-from", "metadata", "--period", "daily", "--reducer", "mean"]
    done = run([sys.executable, *command, *options, "-o", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    info = raster.read_info(out)
    assert info.descriptions == ("2019-07-03", "2020-07-01", "2021-06-28")
    daily = raster.read_rows(out, 0, info.height)
    stack_path = workdir / f"results/lake/stack/{VARIABLE}.tif"
    each = raster.read_rows(stack_path, 0, info.height)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # cells no scene saw
        expected = np.nanmean(each[1:3], axis=0)
    np.testing.assert_allclose(daily[1], expected, rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(daily[[0, 2]], each[[0, 3]])

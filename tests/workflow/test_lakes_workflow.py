"""The lake-level trends in a real snakemake run of the small synthetic Sentinel-3 config:
the rule lakes makes the table and the GeoPackage, the dataset's figures job the map, and the
table equals scipy / pymannkendall / statsmodels on each lake's series, built here with
pandas from the run's own timeseries.csv."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pymannkendall as pmk
import pytest
from osgeo import ogr
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from support.commands import finished_run
from support.configs import base_config

pytestmark = pytest.mark.workflow
ogr.UseExceptions()

# One variable, no quicklooks: the quickest run that has lakes; the q-values of the
# Mann-Kendall p-values, so the map shows the Sen slope.
RUN = base_config(
    "sentinel3_synthetic",
    river={"variables": ["TSM_NN"], "quicklooks": 0, "trend": {"fdr": {"pvalue": "mk_pvalue"}}},
)
COLUMN = "TSM_NN_g.m-3_median"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return finished_run(tmp_path_factory.mktemp("lakes"), RUN)


def test_the_run_writes_the_table_geopackage_and_map(run):
    """The three outputs exist; the map is a PNG of sensible size that is not blank."""
    lakes = run / "results/river/lakes"
    assert (lakes / "TSM_NN_trends.csv").stat().st_size > 0
    assert (lakes / "TSM_NN_trends.gpkg").stat().st_size > 0
    figure = run / "results/river/plots/TSM_NN_lake_trends.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(figure)
    assert 300 <= pixels.shape[1] <= 3000 and 200 <= pixels.shape[0] <= 3000
    assert pixels[..., :3].std() > 0.02


def test_the_table_equals_the_oracles_on_the_runs_timeseries(run):
    """Each lake: n, OLS slope and p of linregress, Sen slope of theilslopes, Mann-Kendall
    tau and p of pymannkendall on its medians (rows ok/partial with a value, decimal
    years computed here); q = fdr_bh of those p; the unit from the pixel tables."""
    table = pd.read_csv(run / "results/river/lakes/TSM_NN_trends.csv").set_index("feature")
    series = pd.read_csv(run / "results/river/timeseries.csv")
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


def test_the_geopackage_holds_the_aoi_polygons_with_the_table(run):
    """Read with OGR: the AOI's features in order with their geometries, and the table's
    slope, q-value and note as fields."""
    table = pd.read_csv(run / "results/river/lakes/TSM_NN_trends.csv")
    aoi = ogr.Open(str(run / "aoi.geojson"))  # the layers live as long as their source
    expected = [(f.GetField("name"), f.GetGeometryRef().ExportToIsoWkb()) for f in aoi.GetLayer(0)]
    source = ogr.Open(str(run / "results/river/lakes/TSM_NN_trends.gpkg"))
    layer = source.GetLayer(0)
    fields = ("sen_slope", "qvalue", "note")
    geometries, attributes = [], []
    for feature in layer:
        geometries.append((feature.GetField("feature"), feature.GetGeometryRef().ExportToIsoWkb()))
        attributes.append(tuple(feature.GetField(k) for k in fields))
    assert geometries == expected
    assert attributes == list(table[list(fields)].itertuples(index=False, name=None))
    assert layer.GetMetadataItem("SLOPE") == "sen_slope"

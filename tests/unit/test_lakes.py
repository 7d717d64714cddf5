"""Lake-level trends (eotrend.stages.lakes, eotrend.stats.series) against the packages users
compare with: each lake's series is built here from the time series table with pandas
(rows noted ok or partial with a number), its decimal years computed here, and fitted by
scipy.stats.linregress / theilslopes and pymannkendall; q-values are statsmodels'
multipletests(method="fdr_bh"); the GeoPackage is read back with OGR itself and compared
with the table and the AOI file read with OGR."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pymannkendall as pmk
import pytest
from osgeo import ogr
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from eotrend.core.config import schema_default
from eotrend.core.errors import InputError
from eotrend.stages import lakes
from eotrend.stats import series

ogr.UseExceptions()

COLUMN = "TSM_NN_g.m-3_median"
IN_SERIES = ("ok", "partial")
# pymannkendall's p is 2 (1 - Phi(|z|)): absolute error about 2e-16 (ours: 2 Phi(-|z|)).
P_ATOL = 1e-14
RTOL = 1e-9

# The AOI: a lake with an island (a hole), a lake in two parts, plain lakes; one lake
# that no scene sees well enough and one absent from the time series altogether.
SQUARE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]]


def shifted(ring: list[list[float]], dx: float, dy: float, scale: float = 1.0) -> list:
    return [[x * scale + dx, y * scale + dy] for x, y in ring]


GEOMETRIES = {
    "island_lake": {
        "type": "Polygon",
        "coordinates": [shifted(SQUARE, -61.0, -3.0), shifted(SQUARE, -60.7, -2.7, 0.3)],
    },
    "twin_lake": {
        "type": "MultiPolygon",
        "coordinates": [[shifted(SQUARE, -59.0, -3.0, 0.4)], [shifted(SQUARE, -58.4, -3.0, 0.4)]],
    },
    "long_lake": {"type": "Polygon", "coordinates": [shifted(SQUARE, -57.0, -3.0, 0.5)]},
    "flat_lake": {"type": "Polygon", "coordinates": [shifted(SQUARE, -56.0, -3.0, 0.5)]},
    "cloudy_lake": {"type": "Polygon", "coordinates": [shifted(SQUARE, -55.0, -3.0, 0.5)]},
    "never_seen": {"type": "Polygon", "coordinates": [shifted(SQUARE, -54.0, -3.0, 0.5)]},
}
SLOPES = {"island_lake": 0.8, "twin_lake": -0.5, "long_lake": 0.05, "flat_lake": 0.0}


def write_aoi(path) -> str:
    features = [
        {"type": "Feature", "properties": {"name": name}, "geometry": geometry}
        for name, geometry in GEOMETRIES.items()
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return str(path)


def settings(**changes) -> dict:
    """The stage's settings with the schema's defaults."""
    out = {
        "statistic": schema_default("trend.lake_statistic"),
        "period": schema_default("composite.period"),
        "reducer": schema_default("composite.reducer"),
        "min_obs": schema_default("trend.min_obs"),
        "time_unit": schema_default("trend.time_unit"),
        "test": schema_default("trend.test"),
        "lags": schema_default("trend.lags"),
        "ci": schema_default("trend.ci"),
        "seasons": schema_default("trend.seasons"),
        "fdr_alpha": schema_default("trend.fdr.alpha"),
        "fdr_pvalue": schema_default("trend.fdr.pvalue"),
    }
    out.update(changes)
    return out


def timeseries(
    times: pd.DatetimeIndex, seed: int = 0, ties: bool = True, complete: bool = False
) -> pd.DataFrame:
    """A time series table as the timeseries stage writes it: a row per scene and lake,
    notes drawn at random (statistics NaN unless ok or partial; ``complete``: every lake
    but cloudy_lake ok with a value in every scene), values with a trend per lake
    (rounded to 0.5 for ties) and AR(1) noise (phi 0.6: the autocorrelation the variance
    corrections are for), cloudy_lake seen twice, never_seen absent."""
    rng = np.random.default_rng(seed)
    noise = dict.fromkeys(GEOMETRIES, 0.0)
    rows = []
    for k, moment in enumerate(times):
        scene = f"S3A_scene_{k:04d}"
        year = moment.year + moment.day_of_year / 366.0
        for name in GEOMETRIES:
            if name == "never_seen":
                continue
            note = rng.choice(
                ["ok", "partial", "low_coverage", "no_valid_pixels", "outside_swath"],
                p=[0.7, 0.1, 0.1, 0.05, 0.05],
            )
            if complete:
                note = "ok"
            if name == "cloudy_lake":
                note = "ok" if k in (3, 9) else "low_coverage"
            noise[name] = 0.6 * noise[name] + 0.8 * rng.normal(0.0, 1.0)
            value = 10.0 + SLOPES.get(name, 0.0) * (year - 2016) + noise[name]
            if name == "flat_lake":
                value = 7.0 + rng.normal(0.0, 0.3)
            if ties:
                value = np.round(value * 2.0) / 2.0
            if note not in IN_SERIES or (not complete and rng.random() < 0.03):
                value = np.nan
            rows.append(
                {
                    "scene": scene,
                    "time": str(moment),
                    "feature": name,
                    "note": note,
                    "count": 100,
                    "valid_count": 0 if np.isnan(value) else 90,
                    "fraction_valid": 0.0 if np.isnan(value) else 0.9,
                    "coverage": 0.95 if note == "partial" else 1.0,
                    COLUMN: value,
                    "TSM_NN_g.m-3_mean": value + 0.25,
                    "Oa08_reflectance_median": value / 100.0,
                }
            )
    return pd.DataFrame(rows)


def irregular_times(n: int = 70, seed: int = 1) -> pd.DatetimeIndex:
    """Scene times spread irregularly over 2016-2023, to the second (UTC)."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2016-05-01", tz="UTC")
    seconds = np.sort(rng.choice(int(7.4 * 365 * 86400), size=n, replace=False))
    return pd.DatetimeIndex([start + pd.Timedelta(seconds=int(s)) for s in seconds])


def decimal_years(times: pd.Series) -> np.ndarray:
    """The oracle's time axis: year + days since 1 January / days in the year."""
    times = pd.to_datetime(times, utc=True)
    starts = pd.to_datetime(times.dt.year.astype(str) + "-01-01", utc=True)
    days = (times - starts) / pd.Timedelta(days=1)
    return (times.dt.year + days / np.where(times.dt.is_leap_year, 366.0, 365.0)).to_numpy()


def oracle_series(table: pd.DataFrame, column: str = COLUMN) -> dict[str, pd.DataFrame]:
    """Each lake's series from the table, with pandas: rows ok/partial with a number."""
    rows = table[table["note"].isin(IN_SERIES) & table[column].notna()].copy()
    rows["time"] = pd.to_datetime(rows["time"], utc=True)
    rows = rows.sort_values("time")
    return {name: own[["time", column]] for name, own in rows.groupby("feature")}


def fitted(table: pd.DataFrame, **changes) -> pd.DataFrame:
    return lakes.lake_trends(
        table, list(GEOMETRIES), "TSM_NN", **settings(**changes), unit="g.m-3"
    ).set_index("feature")


def test_each_lake_equals_scipy_and_pymannkendall_on_its_series():
    """Per lake: n, first/last time, the OLS numbers of linregress with the Student t
    interval, Theil-Sen and Sen's interval of theilslopes, Mann-Kendall tau and p of
    pymannkendall's original_test, on the series built here; too few values: NaN."""
    table = timeseries(irregular_times())
    out = fitted(table, ci=0.95)
    expected = oracle_series(table)
    assert list(out.index) == list(GEOMETRIES)
    for name in ("island_lake", "twin_lake", "long_lake", "flat_lake"):
        own = expected[name]
        t, y = decimal_years(own["time"]), own[COLUMN].to_numpy()
        row = out.loc[name]
        assert row["n"] == len(y) and row["note"] == "ok"
        assert row["first_time"] == own["time"].iloc[0].strftime("%Y-%m-%dT%H:%M:%SZ")
        assert row["last_time"] == own["time"].iloc[-1].strftime("%Y-%m-%dT%H:%M:%SZ")
        fit = sps.linregress(t, y)
        for key in ("slope", "intercept", "rvalue", "pvalue", "stderr", "intercept_stderr"):
            assert row[key] == pytest.approx(getattr(fit, key), rel=RTOL, abs=1e-12), key
        half = sps.t.ppf(0.975, len(y) - 2) * fit.stderr
        assert row["slope_low"] == pytest.approx(fit.slope - half, rel=RTOL)
        assert row["slope_high"] == pytest.approx(fit.slope + half, rel=RTOL)
        sen = sps.theilslopes(y, t, alpha=0.95)
        assert row["sen_slope"] == pytest.approx(sen.slope, rel=RTOL)
        assert row["sen_intercept"] == pytest.approx(sen.intercept, rel=RTOL)
        assert row["sen_slope_low"] == pytest.approx(sen.low_slope, rel=RTOL)
        assert row["sen_slope_high"] == pytest.approx(sen.high_slope, rel=RTOL)
        mk = pmk.original_test(y)
        assert row["mk_tau"] == pytest.approx(mk.Tau, rel=RTOL)
        assert row["mk_pvalue"] == pytest.approx(mk.p, rel=RTOL, abs=P_ATOL)
        assert row["slope_unit"] == "g.m-3 per year"
    assert out.loc["cloudy_lake", "n"] == 2
    assert out.loc["never_seen", "n"] == 0 and pd.isna(out.loc["never_seen", "first_time"])
    for name in ("cloudy_lake", "never_seen"):
        row = out.loc[name]
        assert row["note"] == "too_few_observations" and not row["significant"]
        assert np.isnan(row[list(series.names(ci=0.95))].to_numpy(float)).all()
        assert np.isnan(row["qvalue"])


def test_qvalues_are_benjamini_hochberg_over_the_fitted_lakes():
    """q of each fitted lake = statsmodels' fdr_bh over the lakes' linregress p-values
    (lakes without a fit take no part); significant = q < trend.fdr.alpha."""
    table = timeseries(irregular_times(), seed=4)
    out = fitted(table)
    expected = oracle_series(table)
    names = ["island_lake", "twin_lake", "long_lake", "flat_lake"]
    p = [
        sps.linregress(decimal_years(expected[n]["time"]), expected[n][COLUMN]).pvalue
        for n in names
    ]
    q = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(out.loc[names, "qvalue"].to_numpy(float), q, rtol=RTOL)
    assert list(out.loc[names, "significant"]) == list(q < 0.1)
    assert out.loc["island_lake", "significant"]


def test_qvalues_of_the_table_pvalues_are_statsmodels_to_the_bit():
    """BH over the table's own p-values: float64, equal to multipletests exactly."""
    table = timeseries(irregular_times(), seed=5)
    out = fitted(table, fdr_pvalue="mk_pvalue", fdr_alpha=0.05)
    fit = out[np.isfinite(out["mk_pvalue"])]
    q = multipletests(fit["mk_pvalue"].to_numpy(), method="fdr_bh")[1]
    np.testing.assert_array_equal(fit["qvalue"].to_numpy(float), q)
    assert list(fit["significant"]) == list(q < 0.05)


def test_a_yearly_composite_is_the_median_of_the_year_dated_mid_year():
    """composite period year, reducer median: each lake's yearly median of its per-scene
    means (pandas groupby), dated 2 July (the period's middle), fitted by linregress."""
    table = timeseries(irregular_times(120, seed=2), seed=3)
    out = fitted(table, statistic="mean", period="year", reducer="median")
    expected = oracle_series(table, "TSM_NN_g.m-3_mean")
    for name in ("island_lake", "twin_lake", "long_lake"):
        own = expected[name]
        yearly = own.groupby(own["time"].dt.year)["TSM_NN_g.m-3_mean"].median()
        middles = pd.Series(pd.to_datetime([f"{y}-07-02" for y in yearly.index], utc=True))
        fit = sps.linregress(decimal_years(middles), yearly.to_numpy())
        row = out.loc[name]
        assert row["n"] == len(yearly)
        assert row["first_time"] == f"{yearly.index[0]}-07-02T00:00:00Z"
        assert row["slope"] == pytest.approx(fit.slope, rel=RTOL)
        assert row["pvalue"] == pytest.approx(fit.pvalue, rel=RTOL)
    assert out.loc["cloudy_lake", "n"] <= 2  # two scenes: at most two years


@pytest.mark.parametrize(
    ("test", "oracle"),
    [
        ("hamed_rao", pmk.hamed_rao_modification_test),
        ("yue_wang", lambda x: pmk.yue_wang_modification_test(x, lag=1)),
        ("prewhiten", pmk.pre_whitening_modification_test),
        ("trend_free_prewhiten", pmk.trend_free_pre_whitening_modification_test),
    ],
)
def test_the_mann_kendall_variants_equal_pymannkendall(test, oracle):
    """trend.test on yearly series (1 January, so decimal years are the positions
    pymannkendall detrends by, plus a constant): its p-values, and q-values over them."""
    times = pd.DatetimeIndex(pd.to_datetime([f"{y}-01-01" for y in range(1995, 2021)], utc=True))
    table = timeseries(times, seed=6, ties=False, complete=True)
    out = fitted(table, test=test, fdr_pvalue="mk_pvalue")
    names = ["island_lake", "twin_lake", "long_lake", "flat_lake"]
    expected = oracle_series(table)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = [oracle(expected[n][COLUMN].to_numpy()).p for n in names]
    np.testing.assert_allclose(
        out.loc[names, "mk_pvalue"].to_numpy(float), p, rtol=1e-8, atol=1e-13
    )
    q = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(out.loc[names, "qvalue"].to_numpy(float), q, rtol=1e-8, atol=1e-13)


def test_seasons_give_the_seasonal_kendall_test_of_pymannkendall():
    """trend.seasons month on monthly series (one scene a month, mid-month, from
    January): seasonal_test's p, tau and slope per year (seasonal_sens_slope)."""
    times = pd.DatetimeIndex(
        pd.to_datetime(
            [f"{y}-{m:02d}-15 10:30" for y in range(2016, 2023) for m in range(1, 13)], utc=True
        )
    )
    table = timeseries(times, seed=7, complete=True)
    out = fitted(table, seasons="month", fdr_pvalue="seasonal_pvalue")
    expected = oracle_series(table)
    for name in ("island_lake", "twin_lake", "long_lake", "flat_lake"):
        found = pmk.seasonal_test(expected[name][COLUMN].to_numpy(), period=12)
        row = out.loc[name]
        assert row["seasonal_pvalue"] == pytest.approx(found.p, rel=RTOL, abs=P_ATOL)
        assert row["seasonal_tau"] == pytest.approx(found.Tau, rel=RTOL)
        assert row["seasonal_sen_slope"] == pytest.approx(found.slope, rel=RTOL)
    tested = out[np.isfinite(out["seasonal_pvalue"])]
    q = multipletests(tested["seasonal_pvalue"].to_numpy(), method="fdr_bh")[1]
    np.testing.assert_array_equal(tested["qvalue"].to_numpy(float), q)


def test_a_long_series_is_fitted_alone_without_the_pixel_pair_matrices():
    """2000 scenes of one lake, every 1/8 year (the per-pixel pair matrices would take
    48 GB): Sen slope and intercept of theilslopes, tau of original_test and the
    Hamed-Rao p of pymannkendall (t is 2000 + position / 8, exactly)."""
    rng = np.random.default_rng(8)
    t = 2000.0 + np.arange(2000) * 0.125
    noise = np.zeros(t.size)
    for i in range(1, t.size):  # AR(1), phi 0.8: Hamed and Rao's correction matters
        noise[i] = 0.8 * noise[i - 1] + rng.normal(0.0, 1.0)
    y = 0.01 * t + noise
    found = series.fit(t, y, test="hamed_rao")
    sen = sps.theilslopes(y, t)
    assert found["sen_slope"] == pytest.approx(sen.slope, rel=RTOL)
    assert found["sen_intercept"] == pytest.approx(sen.intercept, rel=RTOL)
    assert found["mk_tau"] == pytest.approx(pmk.original_test(y).Tau, rel=RTOL)
    expected = pmk.hamed_rao_modification_test(y).p
    assert found["mk_pvalue"] == pytest.approx(expected, rel=1e-8, abs=P_ATOL)


def read_ogr(path) -> tuple[list, list[dict], dict]:
    """Geometries (OGR, cloned), attributes and layer metadata of a file's first layer."""
    source = ogr.Open(str(path))
    layer = source.GetLayer(0)
    definition = layer.GetLayerDefn()
    names = [definition.GetFieldDefn(i).GetName() for i in range(definition.GetFieldCount())]
    geometries, records = [], []
    for feature in layer:
        geometries.append(feature.GetGeometryRef().Clone())
        records.append({n: feature.GetField(n) for n in names})
    return geometries, records, layer.GetMetadata()


def test_the_geopackage_holds_the_aoi_polygons_with_the_table(tmp_path):
    """The GeoPackage read with OGR: one feature per AOI feature in order, geometries
    equal to the AOI file's (promoted to MultiPolygon: the AOI mixes both), every field
    equal to the CSV table's column, and layer metadata naming what the columns hold."""
    aoi = write_aoi(tmp_path / "aoi.geojson")
    source = tmp_path / "timeseries.csv"
    timeseries(irregular_times()).to_csv(source, index=False)
    returned = lakes.run(
        table=str(source),
        aoi=aoi,
        trends=str(tmp_path / "TSM_NN_trends.csv"),
        geopackage=str(tmp_path / "TSM_NN_trends.gpkg"),
        variable="TSM_NN",
        dataset="lakes_test",
        **settings(test="yue_wang", fdr_pvalue="mk_pvalue"),
    )
    table = pd.read_csv(tmp_path / "TSM_NN_trends.csv")
    pd.testing.assert_frame_equal(table, returned, check_dtype=False)
    geometries, records, metadata = read_ogr(tmp_path / "TSM_NN_trends.gpkg")
    aoi_geometries, aoi_records, _ = read_ogr(aoi)
    assert [r["feature"] for r in records] == [r["name"] for r in aoi_records]
    for found, expected in zip(geometries, aoi_geometries, strict=True):
        assert found.GetGeometryName() == "MULTIPOLYGON"
        multi = ogr.ForceToMultiPolygon(expected.Clone())
        assert found.ExportToIsoWkb() == multi.ExportToIsoWkb()
    assert list(records[0]) == list(table.columns)
    for record, (_, row) in zip(records, table.iterrows(), strict=True):
        for key, value in row.items():
            if isinstance(value, float) and np.isnan(value):
                assert record[key] is None, key
            elif key == "significant":
                assert record[key] == int(value), key
            else:
                assert record[key] == value, key
    assert metadata["SLOPE"] == "sen_slope" and metadata["FDR_PVALUE"] == "mk_pvalue"
    assert metadata["MK_TEST"] == "yue_wang" and metadata["COLUMN"] == COLUMN
    assert metadata["UNIT"] == "g.m-3 per year" and metadata["DATASET"] == "lakes_test"


def test_mistakes_name_the_setting_or_the_file(tmp_path):
    """gmean of a product that has none, a feature the AOI lacks, seasonal p-values
    without seasons: InputErrors naming the key or the table."""
    table = timeseries(irregular_times(20))
    with pytest.raises(InputError, match="lake_statistic"):
        lakes.lake_trends(
            table, list(GEOMETRIES), "Oa08_reflectance", **settings(statistic="gmean")
        )
    with pytest.raises(InputError, match="features the AOI lacks: twin_lake"):
        lakes.lake_trends(
            table, ["island_lake", "long_lake", "flat_lake", "cloudy_lake"], "TSM_NN", **settings()
        )
    with pytest.raises(InputError, match=r"trend\.fdr\.pvalue"):
        lakes.lake_trends(
            table, list(GEOMETRIES), "TSM_NN", **settings(fdr_pvalue="seasonal_pvalue")
        )

"""The lakes stage (rule ``lakes``): the trend of every AOI feature's per-scene statistic.

For one variable of a sentinel3 dataset, a feature's series is its rows of the time series
(timeseries.parquet) whose statistics enter the series (note ok or partial: not low_coverage,
outside_swath, no_pixels, no_valid_pixels) and whose statistic (``trend.lake_statistic``,
the median by default) is a number; with a composite period (``composite.period``) it is
first reduced per period by ``composite.reducer``, each period dated by its middle as the
stack's bands. Each feature's series is fitted alone (:mod:`eotrend.stats.series`: least
squares, Theil-Sen and the Mann-Kendall test of ``trend.test``, seasonal Kendall with
``trend.seasons``); ``trend.fdr.pvalue``'s p-values get Benjamini-Hochberg q-values over
the fitted features, and a feature is significant where q < ``trend.fdr.alpha``.

Outputs: a table (CSV) with one row per AOI feature, in the AOI's order, and a GeoPackage
of the AOI's polygons (lon/lat) with the same columns, whose layer metadata say what the
columns hold (:data:`METADATA_KEYS`).
"""

from __future__ import annotations

import logging
from datetime import UTC
from pathlib import Path

import numpy as np
import pandas as pd

from eotrend.core import provenance
from eotrend.core.atomic import atomic_path
from eotrend.core.errors import InputError
from eotrend.geo import dates
from eotrend.geo.aoi import read_aoi
from eotrend.geo.vectors import write_geopackage
from eotrend.sentinel3 import batches, coverage, layout, tables
from eotrend.sentinel3.extract import stats_column, value_column
from eotrend.stats import fdr, pixelwise, seasonal, series

log = logging.getLogger(__name__)

# The per-scene statistics a lake's trend can be of (timeseries.csv columns; gmean: log10
# products only), as the schema's trend.lake_statistic.
STATISTICS = ("median", "mean", "p25", "p75", "std", "gmean")
# Why a feature has statistics or not (the `note` column).
NOTES = {
    "ok": "fitted",
    "too_few_observations": "fewer observations than trend.min_obs: no statistics",
    "one_time": "every observation at one time: no statistics",
}
# The layer metadata of the GeoPackage (what the figure and a reader need to know).
METADATA_KEYS = (
    "DATASET", "VARIABLE", "COLUMN", "STATISTIC", "COMPOSITE", "TIME_UNIT", "UNIT",
    "MIN_OBS", "MK_TEST", "SLOPE", "FDR_METHOD", "FDR_PVALUE", "FDR_ALPHA", "EOTREND_VERSION",
)  # fmt: skip


def lake_series(
    table: pd.DataFrame, column: str, *, period: str = "none", reducer: str = "median"
) -> dict[str, pd.DataFrame]:
    """Feature -> its series (columns time: UTC timestamps, value), in time order.

    Rows enter when their note is one of :data:`coverage.IN_SERIES` and ``column`` is a
    number; with a ``period`` other than none, the values of each period are reduced by
    ``reducer`` (NaN-aware, as the stack's composites) and dated by the period's middle
    (:func:`eotrend.geo.dates.period_of`).
    """
    rows = table[table["note"].isin(coverage.IN_SERIES) & table[column].notna()]
    frame = pd.DataFrame(
        {
            "feature": rows["feature"].astype(str).to_numpy(),
            "time": pd.to_datetime(rows["time"], utc=True).to_numpy(),
            "value": rows[column].astype(np.float64).to_numpy(),
        }
    )
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    frame = frame.sort_values(["feature", "time"], kind="stable", ignore_index=True)
    if period != "none":
        middles = [dates.period_of(m.to_pydatetime(), period, True)[1] for m in frame["time"]]
        frame["time"] = pd.to_datetime(middles, utc=True)
        grouped = frame.groupby(["feature", "time"], sort=True)["value"]
        frame = grouped.agg(reducer).astype(np.float64).reset_index()
    return {
        str(feature): own[["time", "value"]].reset_index(drop=True)
        for feature, own in frame.groupby("feature", sort=False)
    }


def _iso(moment: pd.Timestamp) -> str:
    return moment.tz_convert(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def lake_trends(
    table: pd.DataFrame,
    features: list[str],
    variable: str,
    *,
    statistic: str,
    period: str,
    reducer: str,
    min_obs: int,
    time_unit: str,
    test: str,
    lags: int,
    ci: float,
    seasons: str | list,
    fdr_alpha: float,
    fdr_pvalue: str,
    unit: str = "",
    source: str | Path = "timeseries.csv",
) -> pd.DataFrame:
    """One row per feature of ``features`` (in that order): feature, n (observations
    fitted), first_time, last_time (ISO, UTC), the statistics of
    :func:`eotrend.stats.series.fit` with ``slope_unit`` after the slope, qvalue,
    significant and note (:data:`NOTES`). See the module docstring.

    Raises:
        InputError: contradicting settings (as the trend stage's), the statistic's column
            missing from ``table`` (named by ``source``), or a feature of the table that
            ``features`` lacks.
    """
    options = pixelwise.Options(
        robust=True,
        test=test,
        lags=lags,
        ci=ci,
        seasons=seasons,
        fdr=True,
        fdr_alpha=fdr_alpha,
        fdr_pvalue=fdr_pvalue,
    )
    options.check(time_unit)
    column = stats_column(variable, statistic)
    if column not in table.columns:
        have = sorted(c.removesuffix("_median") for c in table.columns if c.endswith("_median"))
        hint = f"Extract {variable} (variables); the table has {', '.join(have) or 'none'}."
        if statistic == "gmean" and stats_column(variable, "median") in table.columns:
            hint = "gmean exists for log10 products only: set another trend.lake_statistic."
        raise InputError(source, f"has no column {column} (the {statistic} of {variable})", hint)
    unknown = sorted(set(table["feature"].astype(str)) - set(features))
    if unknown:
        raise InputError(
            source,
            f"holds features the AOI lacks: {', '.join(unknown[:5])}",
            "Run the workflow again (the time series is of another AOI).",
        )
    every = lake_series(table, column, period=period, reducer=reducer)
    names = series.names(ci=ci, seasonal_test=options.seasonal)
    records = []
    for feature in features:
        own = every.get(feature)
        n = 0 if own is None else len(own)
        record = {"feature": feature, "n": n, "first_time": None, "last_time": None}
        stats = dict.fromkeys(names, np.nan)
        note = "too_few_observations"
        if n:
            record["first_time"] = _iso(own["time"].iloc[0])
            record["last_time"] = _iso(own["time"].iloc[-1])
        if n >= min_obs:
            moments = list(own["time"].dt.to_pydatetime())
            cells = seasonal.cells(moments, seasons) if options.seasonal else None
            stats = series.fit(
                pixelwise.time_axis(moments, time_unit),
                own["value"].to_numpy(),
                min_obs=min_obs,
                test=test,
                lags=lags,
                ci=ci,
                cells=cells,
            )
            note = "ok" if np.isfinite(stats["slope"]) else "one_time"
        record.update(stats)
        record["note"] = note
        records.append(record)
    columns = ["feature", "n", "first_time", "last_time", *names, "note"]
    out = pd.DataFrame.from_records(records, columns=columns)
    out.insert(out.columns.get_loc("slope") + 1, "slope_unit", slope_unit(unit, time_unit))
    q = fdr.qvalues(out[fdr_pvalue].to_numpy(np.float64), dtype=np.float64)
    out.insert(out.columns.get_loc("note"), "qvalue", q)
    out.insert(out.columns.get_loc("note"), "significant", np.asarray(q < fdr_alpha))
    return out


def slope_unit(unit: str, time_unit: str) -> str:
    """The unit of a slope: ``g.m-3 per year``; ``per year`` for dimensionless values."""
    return f"{unit} per {time_unit}" if unit else f"per {time_unit}"


def value_unit(variable: str, pixels: list[str | Path] | None) -> str:
    """The physical unit of ``variable``'s values: the unit the pixel tables record for
    its column (from their metadata alone), else the documented unit of a log10 product
    (:data:`layout.LOG10_PRODUCTS`), else ``""``."""
    column = value_column(variable)
    for path in pixels or []:
        for description in batches.pixel_scenes(path).values():
            units = description.get("units", {})
            if column in units:
                return str(units[column])
    return layout.LOG10_PRODUCTS.get(variable, "")


def run(
    *,
    table: str,
    aoi: str,
    trends: str,
    geopackage: str,
    variable: str,
    statistic: str,
    period: str,
    reducer: str,
    min_obs: int,
    time_unit: str,
    test: str,
    lags: int,
    ci: float,
    seasons: str | list,
    fdr_alpha: float,
    fdr_pvalue: str,
    pixels: list[str] | None = None,
    dataset: str = "",
    aoi_id: str | None = None,
) -> pd.DataFrame:
    """Write the lake-level trends of ``variable`` from the time series ``table``
    (Parquet, or CSV; :mod:`eotrend.sentinel3.tables`) and the AOI file ``aoi``: the
    table ``trends`` (CSV) and the GeoPackage ``geopackage`` (see the module docstring).
    ``pixels``: the batches' pixel tables, whose metadata give the variable's unit;
    ``aoi_id``: the AOI attribute naming the features (:func:`~eotrend.geo.aoi.read_aoi`).
    Returns the table."""
    features = read_aoi(aoi, aoi_id)
    frame = tables.read_statistics(table)
    unit = value_unit(variable, pixels)
    out = lake_trends(
        frame,
        [f.name for f in features],
        variable,
        statistic=statistic,
        period=period,
        reducer=reducer,
        min_obs=min_obs,
        time_unit=time_unit,
        test=test,
        lags=lags,
        ci=ci,
        seasons=seasons,
        fdr_alpha=fdr_alpha,
        fdr_pvalue=fdr_pvalue,
        unit=unit,
        source=table,
    )
    with atomic_path(trends) as tmp:
        out.to_csv(tmp, index=False)
    metadata = {
        "DATASET": dataset,
        "VARIABLE": variable,
        "COLUMN": stats_column(variable, statistic),
        "STATISTIC": statistic,
        "COMPOSITE": "none" if period == "none" else f"{period} {reducer}",
        "TIME_UNIT": time_unit,
        "UNIT": slope_unit(unit, time_unit),
        "MIN_OBS": str(min_obs),
        "MK_TEST": test,
        "SLOPE": fdr.SLOPE_OF[fdr_pvalue],
        "FDR_METHOD": fdr.METHOD,
        "FDR_PVALUE": fdr_pvalue,
        "FDR_ALPHA": repr(float(fdr_alpha)),
        **provenance.tags(),
    }
    write_geopackage(geopackage, variable, [f.geometry for f in features], out, metadata)
    fitted = out["note"] == "ok"
    log.info(
        "%s: %d of %d features fitted (%s of %s), %d significant (q < %g of %s)",
        variable,
        int(fitted.sum()),
        len(out),
        statistic,
        "each scene" if period == "none" else f"each {period}'s {reducer}",
        int(out["significant"].sum()),
        fdr_alpha,
        fdr_pvalue,
    )
    return out

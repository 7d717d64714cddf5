"""The timeseries stage (rules ``timeseries`` and ``timeseries_csv``): the per-scene
statistics of a dataset as one table in time order, ``timeseries.parquet`` (typed, with
units; :mod:`eotrend.sentinel3.tables`) and, for spreadsheets, the same table as CSV.

One row per scene and feature: several scenes of one day (S3A and S3B) each keep their
row, with their own sensing time. A feature that consecutive frames of one pass each see
in part gets one row for the pass (statistics over the pixels of every frame, from the
pixel tables). A feature a scene observes less than ``min_coverage`` of keeps its row,
noted low_coverage, without statistics.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from eotrend.geo.aoi import Feature
from eotrend.sentinel3 import batches, coverage, passes, tables
from eotrend.sentinel3.extract import (
    SCENE_COLUMNS,
    SceneExtract,
    feature_statistics,
    whole_counts,
)
from eotrend.sentinel3.pixel_table import PixelTable

log = logging.getLogger(__name__)


def collect_statistics(
    stats_paths: list[str | Path],
    output: str | Path,
    min_coverage: float = 0.0,
    pixel_paths: list[str | Path] | None = None,
) -> pd.DataFrame:
    """All per-scene statistics tables as one, sorted by time then feature, written to
    ``output`` (Parquet for a ``.parquet`` name, with each statistic's unit from the
    pixel tables' metadata; else CSV; :mod:`eotrend.sentinel3.tables`).

    With ``pixel_paths`` (the scenes' pixel tables), a feature that consecutive frames of
    one pass each observe in part (:mod:`eotrend.sentinel3.passes`) gets one row for the pass:
    statistics over the pixels of every frame, coverage summed, scene = the frames' names
    joined by ``+``, time = the first frame's.

    A feature observed less than ``min_coverage`` of (the ``coverage`` column) keeps its
    row, noted ``low_coverage``, with its statistics left out (NaN): a median of the part
    of a lake on the swath edge is not the lake's median. Counts are whole numbers
    (empty where left out).
    """
    table = pd.concat([tables.read_statistics(path) for path in stats_paths], ignore_index=True)
    if pixel_paths is not None and "coverage" in table:
        table = _merge_passes(table, pixel_paths)
    table = table.sort_values(["time", "feature"], kind="stable", ignore_index=True)
    if "coverage" in table:
        low = table["note"].isin(coverage.IN_SERIES) & (table["coverage"] < min_coverage)
        values = [c for c in table.columns if c not in SCENE_COLUMNS]
        table.loc[low, values] = np.nan
        table.loc[low, "note"] = "low_coverage"
        if low.any():
            log.info(
                "%d scene/feature rows observe less than min_coverage=%g of the feature: "
                "left out of the time series (note low_coverage)",
                int(low.sum()),
                min_coverage,
            )
    table = tables.typed(whole_counts(table))  # a low_coverage row's counts are left out
    tables.write_statistics(table, output, _units(table.columns, pixel_paths or []))
    return table


def _units(columns, pixel_paths: list[str | Path]) -> dict[str, str]:
    """Column -> unit of the statistics among ``columns``, from the value columns' units
    the pixel tables record (their metadata alone)."""
    units: dict[str, str] = {}
    for path in pixel_paths:
        for description in batches.pixel_scenes(path).values():
            units.update(description.get("units", {}))
    return tables.statistic_units(list(columns), units)


def _merge_passes(table: pd.DataFrame, pixel_paths: list[str | Path]) -> pd.DataFrame:
    """``table`` with the rows of features seen in part by several frames of one pass
    replaced by one row for the pass (see :func:`collect_statistics`)."""
    scenes = list(dict.fromkeys(table["scene"]))
    times = {s: pd.Timestamp(t) for s, t in zip(table["scene"], table["time"], strict=True)}
    groups = passes.pass_groups(scenes, [times[s] for s in scenes])
    seen = table["count"] > 0  # pixel centres inside the feature, valid or not
    merged, drop = [], []
    pixel_of: dict[str, str | Path] | None = None
    for group in (g for g in groups if len(g) > 1):
        names = [scenes[i] for i in group]
        rows = table[table["scene"].isin(names) & seen]
        loaded: dict[str, tuple[pd.DataFrame, dict]] = {}  # each frame's table read once
        for feature, own in rows.groupby("feature", sort=False):
            if len(own) < 2:
                continue
            if pixel_of is None:
                pixel_of = {s: p for p in pixel_paths for s in batches.pixel_scenes(p)}
            for scene in own["scene"]:
                if scene not in loaded:
                    loaded[scene] = batches.read_pixels(pixel_of[scene], scene)
            merged.append(_pass_row(own, feature, [loaded[s] for s in own["scene"]]))
            drop += list(table.index[table["scene"].isin(names) & (table["feature"] == feature)])
    if not merged:
        return table
    log.info(
        "%d features seen in part by several frames of one pass: one row per pass", len(merged)
    )
    return pd.concat([table.drop(index=drop), *merged], ignore_index=True)


def _pass_row(
    rows: pd.DataFrame, feature: str, tables: list[tuple[pd.DataFrame, dict]]
) -> pd.DataFrame:
    """The statistics row of ``feature`` over the pixels of every frame of ``rows``
    (``tables``: each frame's pixel table and description, in ``rows`` order)."""
    pixels = pd.concat([p[p["feature"] == feature] for p, _ in tables], ignore_index=True)
    pixels["feature"] = pd.Categorical(pixels["feature"].astype(str), categories=[feature])
    columns = tables[0][1]["columns"]
    covered = min(1.0, float(rows["coverage"].sum()))
    scene = "+".join(rows["scene"])
    time = pd.Timestamp(rows["time"].iloc[0]).to_pydatetime()
    extract = SceneExtract(
        scene,
        time,
        PixelTable.from_pandas(pixels, scene, time),
        columns,
        {},
        coverage={feature: covered},
    )
    stats = feature_statistics(extract, [Feature(feature, None)])
    stats["time"] = rows["time"].iloc[0]
    return stats


def run(*, stats: list[str], pixels: list[str], table: str, min_coverage: float) -> None:
    """Rule ``timeseries``: write the dataset's time series ``table`` (Parquet; CSV for
    any other suffix) from the statistics tables ``stats`` and pixel tables ``pixels``
    (the batches' or single scenes'; to merge the frames of a pass and give the units);
    a feature a scene observes less than ``min_coverage`` (fraction) of is noted
    low_coverage, without statistics."""
    collect_statistics(list(stats), table, min_coverage=min_coverage, pixel_paths=list(pixels))


def run_csv(*, table: str, csv: str) -> None:
    """Rule ``timeseries_csv``: the time series ``table`` (Parquet) as CSV ``csv``."""
    tables.to_csv(table, csv)

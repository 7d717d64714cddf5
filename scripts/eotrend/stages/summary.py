"""A run's summary for a sentinel3 dataset: how many scenes were found, skipped (and
why), extracted, and how many gave valid pixels."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from eotrend.core.atomic import atomic_path
from eotrend.sentinel3.coverage import IN_SERIES
from eotrend.sentinel3.tables import read_statistics

log = logging.getLogger(__name__)


def run_summary(
    manifest_csv: str | Path, table_csv: str | Path, output: str | Path
) -> pd.DataFrame:
    """Write (and log) the summary table: stage, outcome, reason, scenes.

    ``table_csv`` is the time series, Parquet or CSV (:mod:`eotrend.sentinel3.tables`).
    Manifest rows give the download outcome per status and reason; the time-series
    table's ``note`` column (one row per feature and scene) gives the extraction outcome
    per scene: a scene counts as ``ok`` when the statistics of any feature enter the time
    series (note ok or partial), else by its first note (e.g. ``low_coverage``: observed
    below the dataset's min_coverage); per feature, the scenes left out of its time
    series for low coverage.
    """
    manifest = pd.read_csv(manifest_csv, keep_default_na=False)
    rows = [("found", "all", "", len(manifest))]
    for (status, reason), group in manifest.groupby(["status", "reason"], sort=True):
        rows.append(("download", status, reason, len(group)))
    table = read_statistics(table_csv, columns=["scene", "feature", "note"])
    if len(table):
        per_scene = table.groupby("scene")["note"].agg(
            lambda notes: "ok" if notes.isin(IN_SERIES).any() else sorted(set(notes))[0]
        )
        for note, scenes in per_scene.value_counts().sort_index().items():
            rows.append(("extract", note, "", int(scenes)))
        low = table[table["note"] == "low_coverage"]
        for feature, group in low.groupby("feature", sort=True):
            reason = f"{feature}: observed below min_coverage"
            rows.append(("timeseries", "left out", reason, group["scene"].nunique()))
    summary = pd.DataFrame(rows, columns=["stage", "outcome", "reason", "scenes"])
    for row in summary.itertuples():
        log.info(
            "%s: %s %s%s",
            row.stage,
            row.scenes,
            row.outcome,
            f" ({row.reason})" if row.reason else "",
        )
    with atomic_path(output) as tmp:
        summary.to_csv(tmp, index=False)
    return summary


def run(*, source: str, table: str, summary: str) -> None:
    """Rule ``summary``: the summary of scene list ``source`` and time series ``table``
    written to ``summary`` (CSV)."""
    run_summary(source, table, summary)

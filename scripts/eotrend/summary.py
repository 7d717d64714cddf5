"""A run's summary for a sentinel3 dataset: how many scenes were found, skipped (and
why), extracted, and how many gave valid pixels."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from eotrend.atomic import atomic_path

log = logging.getLogger(__name__)


def run_summary(
    manifest_csv: str | Path, table_csv: str | Path, output: str | Path
) -> pd.DataFrame:
    """Write (and log) the summary table: stage, outcome, reason, scenes.

    Manifest rows give the download outcome per status and reason; the time-series
    table's ``note`` column (one row per feature and scene) gives the extraction outcome
    per scene: a scene counts as ``ok`` when any feature has valid pixels.
    """
    manifest = pd.read_csv(manifest_csv, keep_default_na=False)
    rows = [("found", "all", "", len(manifest))]
    for (status, reason), group in manifest.groupby(["status", "reason"], sort=True):
        rows.append(("download", status, reason, len(group)))
    table = pd.read_csv(table_csv, keep_default_na=False)
    if len(table):
        per_scene = table.groupby("scene")["note"].agg(
            lambda notes: "ok" if (notes == "ok").any() else sorted(set(notes))[0]
        )
        for note, scenes in per_scene.value_counts().sort_index().items():
            rows.append(("extract", note, "", int(scenes)))
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

"""Memory of the jobs whose needs grow with the AOI's features: what the rules ask of a
scheduler (``mem_mb``) and what a scene batch's pool plans its workers by, from one model.

A scene batch (rules ``scenes`` and ``scenes_without_grids``): each of its processes that
holds the AOI (the job's own and each pool worker) grows with the AOI's features, and a
worker's peak while it locates, extracts and grids one scene is a fixed part (a full-size
scene's tie-point grid and read windows) plus that. The series jobs (``timeseries``,
``timeseries_csv``, ``lakes``) hold a dataset's per-scene table whole: a row per scene and
feature. The constants come from bench/batch_memory_bench.py (4 full-size scenes, AOIs of
1, 300 and 5,000 lakes, 2 workers) and bench/lakes_e2e_bench.py (200 full-size scenes x
5,000 lakes: a million rows), with headroom. Imported by the Snakefile at every start:
nothing beyond the standard library.
"""

from __future__ import annotations

import math

SCENE_TASK_MB = 400
"""Peak memory of one scene in a worker before the AOI's features, MB."""

BATCH_PARENT_MB = 600
"""A batch job's own process and its pool's helpers (forkserver, resource tracker) before
the AOI's features, MB."""

FEATURE_KB = 60
"""What each AOI feature adds to each process of a batch that holds the AOI, KB
(measured: 25 KB in a worker's peak, 130 KB over a 2-worker job's processes)."""

SERIES_BASE_MB = 1000
"""A series job before its table's rows (Python, pandas, pyarrow: 230 MB measured), MB."""

SERIES_ROW_KB = 1.0
"""What each row (scene x feature) of the per-scene table adds to a series job, KB
(measured at a million rows: 0.8 KB in rule lakes, 0.6 KB in rule timeseries)."""


def features_mb(features: int) -> int:
    """What an AOI of ``features`` features adds to one process that holds it, MB."""
    return math.ceil(features * FEATURE_KB / 1024)


def scene_task_mb(features: int) -> int:
    """Peak memory of one scene in a worker (MB) for an AOI of ``features`` features."""
    return SCENE_TASK_MB + features_mb(features)


def batch_mem_mb(threads: int, features: int) -> int:
    """Memory (MB) of a batch job of ``threads`` workers on an AOI of ``features``
    features: its own processes plus a scene per worker."""
    return BATCH_PARENT_MB + features_mb(features) + threads * scene_task_mb(features)


def series_mem_mb(rows: int) -> int:
    """Memory (MB) of a job that holds a per-scene table of ``rows`` rows whole."""
    return SERIES_BASE_MB + math.ceil(rows * SERIES_ROW_KB / 1024)

"""Per-lake outputs of a many-lakes dataset (issue 23): the cost of partitioning the
batches' pixels by lake (rule lake_pixels), of each lake's stack and pixel trend on its
own grid (rule lake_grids), and of reading one lake back.

Batch pixel tables as the workflow writes them (extract.write_pixels per scene,
batches.write_pixels per batch of 50 scenes) for LAKES lakes of about 50 pixels (2 km
squares on a 0.1-degree lattice) seen by SCENES scenes over six years, each scene seeing a
random SEEN fraction of the lakes; the batches' statistics tables with their usual
columns. Then, as commands (`python -m eotrend lake-pixels`, `lake-grids --workers 2`):
wall time and peak RSS (the largest process, and all processes together for the pool);
and one lake read back with FeaturePixels (its own row groups) beside a pyarrow filter on
the feature over the batch tables (every row group of every batch).

    python bench/run.py --only lake_outputs
"""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import common
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from eotrend.sentinel3 import batches
from eotrend.sentinel3.extract import SceneExtract, write_pixels
from eotrend.sentinel3.partition import FeaturePixels
from eotrend.sentinel3.pixel_table import PixelTable

LAKES = 3000
SCENES = 200
SEEN = 0.3
BATCH = 50
HALF = 0.01  # degrees: a 2.2 km square, 7 x 7 pixels of 300 m
STEP = 0.0027  # pixel spacing, degrees
COLUMN = "TSM_NN_g.m-3"


def centres() -> np.ndarray:
    """(LAKES, 2) lon, lat of the lakes on a 0.1-degree lattice, 100 per row."""
    k = np.arange(LAKES)
    return np.c_[-70 + (k % 100) * 0.1, -10 + (k // 100) * 0.1]


def write_aoi(path: Path) -> Path:
    features = [
        {
            "type": "Feature",
            "properties": {"lake_id": f"lake_{k:05d}"},
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[x - HALF, y - HALF], [x + HALF, y - HALF], [x + HALF, y + HALF],
                     [x - HALF, y + HALF], [x - HALF, y - HALF]]
                ],
            },
        }
        for k, (x, y) in enumerate(centres())
    ]  # fmt: skip
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def scene_name(k: int, when: datetime) -> str:
    stamp = when.strftime("%Y%m%dT%H%M%S")
    fields = f"0179_051_{1 + k % 385:03d}_3060_MAR_O_NT_003"
    return f"S3{'AB'[k % 2]}_OL_2_WFR____{stamp}_{stamp}_{stamp}_{fields}"


def write_batches(folder: Path) -> tuple[list[Path], list[Path], int]:
    """The batches' pixel and statistics tables; returns them and the pixel rows."""
    rng = np.random.default_rng(0)
    names = [f"lake_{k:05d}" for k in range(LAKES)]
    offsets = np.arange(-HALF + STEP / 2, HALF, STEP)
    dx, dy = (a.ravel() for a in np.meshgrid(offsets, offsets))
    pixels_per_lake = dx.size
    lakes = centres()
    pixel_paths, stats_paths, total = [], [], 0
    scene_files, stats_frames = [], []
    for k in range(SCENES):
        when = datetime(2018, 1, 1, 13, 50, tzinfo=UTC) + timedelta(days=k * 2190 // SCENES)
        name = scene_name(k, when)
        seen = np.flatnonzero(rng.random(LAKES) < SEEN)
        n = seen.size * pixels_per_lake
        lake_of = np.repeat(seen, pixels_per_lake)
        values = (2 + 0.001 * k + rng.normal(0, 0.3, n)).astype(np.float32)
        frame = PixelTable(
            name,
            when,
            names,
            lake_of,
            {
                "row": np.tile(np.arange(pixels_per_lake, dtype=np.int32), seen.size),
                "col": lake_of.astype(np.int32),
                "lon": lakes[lake_of, 0] + np.tile(dx, seen.size),
                "lat": lakes[lake_of, 1] + np.tile(dy, seen.size),
                COLUMN: values,
                "flags": np.zeros(n, np.uint64),
                "valid": rng.random(n) < 0.9,
            },
        )
        path = folder / f"scene{k}.parquet"
        write_pixels(path, SceneExtract(name, when, frame, {"TSM_NN": COLUMN}, {"TSM_NN": "g.m-3"}))
        scene_files.append(path)
        total += n
        stats = pd.DataFrame({"scene": name, "time": pd.Timestamp(when), "feature": names})
        stats["note"] = np.where(np.isin(np.arange(LAKES), seen), "ok", "no_pixels")
        stats["count"] = np.where(stats["note"] == "ok", pixels_per_lake, 0)
        stats["valid_count"] = stats["count"]
        stats["fraction_valid"] = 1.0
        stats["coverage"] = np.where(stats["note"] == "ok", 1.0, 0.0)
        for statistic in ("count", "median", "mean", "std", "p25", "p75", "gmean"):
            stats[f"{COLUMN}_{statistic}"] = 2.0
        stats_frames.append(stats)
        if len(scene_files) == BATCH or k == SCENES - 1:
            batch = len(pixel_paths)
            pixel_paths.append(folder / f"{batch:04d}_pixels.parquet")
            batches.write_pixels(scene_files, pixel_paths[-1])
            stats_paths.append(folder / f"{batch:04d}_stats.csv")
            pd.concat(stats_frames).to_csv(stats_paths[-1], index=False)
            for file in scene_files:
                file.unlink()
            scene_files, stats_frames = [], []
    return pixel_paths, stats_paths, total


def main() -> str:
    rows = []
    with tempfile.TemporaryDirectory(prefix="eotrend-lake-outputs-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        aoi = write_aoi(folder / "lakes.geojson")
        pixels, stats, total = write_batches(folder)
        made = time.perf_counter() - start
        size = sum(p.stat().st_size for p in pixels) / 2**20
        out = folder / "lake_pixels.parquet"
        wall, rss = common.command(
            [*common.EOTREND, "lake-pixels", str(aoi), *map(str, pixels), "-o", str(out),
             "--aoi-id", "lake_id"]
        )  # fmt: skip
        rows.append(
            (
                "lake-pixels",
                f"{wall:.1f}",
                f"{rss:.0f}",
                "-",
                f"{out.stat().st_size / 2**20:.0f} MB",
            )
        )
        wall, largest, together = common.command_tree(
            [*common.EOTREND, "lake-grids", str(out), *map(str, stats), "--aoi", str(aoi),
             "--aoi-id", "lake_id", "--variable", "TSM_NN", "--stacks", str(folder / "stacks"),
             "--trends", str(folder / "trends"), "--workers", "2"]
        )  # fmt: skip
        files = sum(1 for _ in (folder / "stacks").glob("*.tif"))
        rows.append(
            (
                "lake-grids (2 workers)",
                f"{wall:.1f}",
                f"{largest:.0f}",
                f"{together:.0f}",
                f"{files} lakes x 2 GeoTIFFs",
            )
        )
        table = FeaturePixels(out)
        picks = [f"lake_{k:05d}" for k in range(0, LAKES, LAKES // 20)]
        start = time.perf_counter()
        read = sum(len(table.read(name)) for name in picks)
        ours = (time.perf_counter() - start) / len(picks)
        start = time.perf_counter()
        for name in picks[:5]:
            for path in pixels:
                pq.read_table(path, filters=[("feature", "==", name)])
        theirs = (time.perf_counter() - start) / 5
        rows.append(
            (
                "one lake: FeaturePixels.read",
                f"{ours * 1000:.1f} ms",
                "-",
                "-",
                f"{read // len(picks)} rows",
            )
        )
        rows.append(
            ("one lake: pyarrow filter on the batches", f"{theirs * 1000:.0f} ms", "-", "-", "")
        )
    title = (
        f"Per-lake outputs: {LAKES} lakes, {SCENES} scenes each seeing {SEEN:.0%} of them, "
        f"{total / 1e6:.1f} M pixel rows in {len(pixels)} batch tables ({size:.0f} MB; made "
        f"in {made:.0f} s), {common.load_average()}"
    )
    return (
        title
        + "\n"
        + common.table(
            rows, ("step", "wall s", "peak RSS MB (largest)", "peak RSS MB (all)", "output")
        )
    )

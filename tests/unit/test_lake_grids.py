"""Each feature's stack and pixel trend (eotrend.stages.lake_grids) against the established
chain run on the feature alone: per scene the grid extract.write_grids writes for an
extract of that feature's pixels (its COVERAGE tag the scene's coverage of the feature,
to 6 decimals), stacked by stack.stack from the files (dates from their metadata, passes
from their tags) and fitted by trend.trend. Pixels, coverage and scenes are made here:
two lakes, seven scenes over three years, two of them frames of one pass that each see
half of lake "east", one scene seeing too little of lake "west", one none of it; with one
band per scene and with yearly median composites.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eotrend.geo import raster
from eotrend.geo.aoi import read_aoi
from eotrend.geo.grids import feature_grid
from eotrend.sentinel3 import batches
from eotrend.sentinel3.extract import SceneExtract, write_grids, write_pixels
from eotrend.sentinel3.partition import write_feature_pixels
from eotrend.sentinel3.pixel_table import PixelTable
from eotrend.stages import lake_grids, stack, trend
from support.scenes import square_ring, write_polygons

LAKES = {"west": (-61.0, -3.4), "east": (-60.9, -3.42)}
HALF = 0.01
COLUMN = "TSM_NN_g.m-3"
GRID = {"crs": "EPSG:4326", "resolution": 0.003, "max_distance_m": 400, "margin": 2}
TREND = {
    "min_obs": 3, "time_unit": "year", "robust": True, "test": "original", "lags": 0,
    "ci": 0, "seasons": "none", "breaks": "none",
    "fdr": {"enabled": True, "alpha": 0.1, "pvalue": "pvalue"},
}  # fmt: skip


def name(start: datetime, orbit: int, mission: str = "S3A") -> str:
    stamp = start.strftime("%Y%m%dT%H%M%S")
    stop = (start + timedelta(seconds=179)).strftime("%Y%m%dT%H%M%S")
    return f"{mission}_OL_2_WFR____{stamp}_{stop}_{stamp}_0179_051_{orbit:03d}_3060_MAR_O_NT_003"


# (name, sensing start, coverage of west, coverage of east); the two 2020-06-01 frames
# (S3A, orbit 124, 3 minutes apart) are one pass that sees east whole in two halves.
PASS = datetime(2020, 6, 1, 13, 50, tzinfo=UTC)
SCENES = [
    (name(datetime(2019, 3, 2, 13, 50, 1, tzinfo=UTC), 10), 1.0, 1.0),
    (name(datetime(2019, 9, 8, 13, 47, tzinfo=UTC), 20, "S3B"), 1.0, 0.95),
    (name(PASS, 124), 1.0, 0.5),
    (name(PASS + timedelta(seconds=179), 124), 0.0, 0.5),
    (name(datetime(2020, 10, 4, 13, 52, tzinfo=UTC), 30), 0.4, 1.0),
    (name(datetime(2021, 5, 5, 13, 49, tzinfo=UTC), 40, "S3B"), 1.0, 1.0),
    (name(datetime(2021, 7, 7, 13, 51, tzinfo=UTC), 50), 1.0, 0.97),
]


def start_of(scene: str) -> datetime:
    return datetime.strptime(scene[16:31], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)


def lake_pixels(rng: np.random.Generator, lake: str, k: int, part: float) -> pd.DataFrame:
    """Jittered pixel centres (about 300 m apart) over the part of the lake a scene sees
    (its western ``part``), values with a trend in time, some invalid and some NaN."""
    x, y = LAKES[lake]
    lon, lat = np.meshgrid(
        np.arange(x - HALF, x - HALF + 2 * HALF * part, 0.0027),
        np.arange(y - HALF, y + HALF, 0.0027),
    )
    n = lon.size
    return pd.DataFrame(
        {
            "feature": lake,
            "row": (np.arange(n) // 100).astype(np.int32) + 10 * k,
            "col": (np.arange(n) % 100).astype(np.int32),
            "lon": lon.ravel() + rng.uniform(-5e-4, 5e-4, n),
            "lat": lat.ravel() + rng.uniform(-5e-4, 5e-4, n),
            COLUMN: np.where(rng.random(n) < 0.1, np.nan, 5 + k + rng.normal(0, 0.5, n)).astype(
                np.float32
            ),
            "flags": np.zeros(n, np.uint64),
            "valid": rng.random(n) < 0.85,
        }
    )


def extract_of(scene: str, pixels: pd.DataFrame, features: list[str]) -> SceneExtract:
    time = start_of(scene)
    pixels = pixels.reset_index(drop=True)
    pixels["feature"] = pd.Categorical(pixels["feature"], categories=features)
    table = PixelTable.from_pandas(pixels, scene, time)
    return SceneExtract(scene, time, table, {"TSM_NN": COLUMN}, {"TSM_NN": "g.m-3"})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    """The AOI, the per-scene pixel tables and statistics (the batches') and the
    partitioned table; plus each scene's pixels per lake, for the oracle."""
    folder = tmp_path_factory.mktemp("lake_grids")
    aoi = write_polygons(
        folder / "aoi.geojson", [[square_ring(x, y, HALF)] for x, y in LAKES.values()], list(LAKES)
    )
    rng = np.random.default_rng(3)
    per_lake, scene_tables, stats = {}, [], []
    for k, (scene, *coverage) in enumerate(SCENES):
        frames = []
        for lake, part in zip(LAKES, coverage, strict=True):
            if part > 0:
                own = lake_pixels(rng, lake, k, part)
                per_lake[scene, lake] = own
                frames.append(own)
        extract = extract_of(scene, pd.concat(frames), list(LAKES))
        path = folder / f"{k}.parquet"
        write_pixels(path, extract)
        scene_tables.append(path)
        stats.append(
            pd.DataFrame(
                {
                    "scene": scene,
                    "time": pd.Timestamp(start_of(scene)),
                    "feature": list(LAKES),
                    "coverage": coverage,
                }
            )
        )
    batch = folder / "batch.parquet"
    batches.write_pixels(scene_tables, batch)
    stats_csv = folder / "stats.csv"
    pd.concat(stats).to_csv(stats_csv, index=False)
    partitioned = folder / "lake_pixels.parquet"
    write_feature_pixels([batch], list(LAKES), partitioned)
    return {
        "folder": folder,
        "aoi": aoi,
        "stats": stats_csv,
        "pixels": partitioned,
        "per_lake": per_lake,
    }


def oracle(inputs: dict, lake: str, period: str, out: Path) -> tuple[Path, Path]:
    """The lake's stack and trend by the established chain (see the module docstring)."""
    feature = next(f for f in read_aoi(inputs["aoi"]) if f.name == lake)
    grid = feature_grid(feature, GRID)
    grids = []
    for k, (scene, *coverage) in enumerate(SCENES):
        part = coverage[list(LAKES).index(lake)]
        pixels = inputs["per_lake"].get((scene, lake))
        if pixels is None:  # the scene does not see the lake: not a band (coverage 0)
            continue
        tags = {
            "ACQUISITION_DATETIME": start_of(scene).isoformat(),
            "SCENE": scene,
            "COVERAGE": f"{part:.6f}",
        }
        write_grids(
            out / f"grid{k}", extract_of(scene, pixels, [lake]), grid, GRID["max_distance_m"], tags
        )
        grids.append(out / f"grid{k}" / "TSM_NN.tif")
    stack.stack(
        grids,
        out / "stack.tif",
        out / "dates.csv",
        dates_from="metadata",
        period=period,
        reducer="median",
        min_coverage=0.9,
    )
    trend.trend(out / "stack.tif", out / "trend.tif", **trend.fit_arguments(TREND))
    return out / "stack.tif", out / "trend.tif"


@pytest.mark.parametrize(
    ("period", "memory"),
    [("none", None), ("year", None), ("year", 1)],
    ids=["scenes", "composites", "composites-from-a-mapped-file"],
)
def test_each_lake_is_its_established_chain_alone(inputs, tmp_path, monkeypatch, period, memory):
    """Stack (values, grid, descriptions, band metadata) and trend (values, bands,
    tags) of each lake equal the oracle's; the index lists both lakes with their files
    and band counts. With no memory to spare, a lake's scene grids go to a file mapped
    into memory and its stack is written in row blocks: the same outputs."""
    if memory is not None:
        monkeypatch.setattr(lake_grids, "MEMORY_BYTES", memory)
    stacks, trends = tmp_path / "stacks", tmp_path / "trends"
    rows = lake_grids.run(
        lake_pixels=str(inputs["pixels"]), stats=[str(inputs["stats"])], aoi=str(inputs["aoi"]),
        stacks=str(stacks), trends=str(trends), variable="TSM_NN", grid=GRID, min_coverage=0.9,
        period=period, reducer="median", settings=TREND, threads=1,
    )  # fmt: skip
    index = pd.read_csv(stacks / "index.csv", keep_default_na=False)
    assert list(index["feature"]) == list(LAKES)
    pd.testing.assert_frame_equal(index, pd.read_csv(trends / "index.csv", keep_default_na=False))
    for row in rows:
        folder = tmp_path / f"oracle_{row['feature']}"
        folder.mkdir()
        own_stack, own_trend = oracle(inputs, row["feature"], period, folder)
        for ours, theirs in ((stacks / row["file"], own_stack), (trends / row["file"], own_trend)):
            a, b = raster.read_info(ours), raster.read_info(theirs)
            assert (a.width, a.height, a.count, a.transform) == (
                b.width,
                b.height,
                b.count,
                b.transform,
            )
            assert a.crs_wkt == b.crs_wkt and a.descriptions == b.descriptions
            np.testing.assert_array_equal(
                raster.read_rows(ours, 0, a.height), raster.read_rows(theirs, 0, b.height)
            )
        # SOURCES: the scenes of each band (the oracle's band table names their files).
        dates = pd.read_csv(own_stack.parent / "dates.csv")
        scenes = [
            ";".join(SCENES[int(Path(f).parent.name.removeprefix("grid"))][0] for f in s.split(";"))
            for s in dates["sources"]
        ]
        expected = [
            {**m, "SOURCES": s}
            for m, s in zip(raster.read_info(own_stack).band_metadata, scenes, strict=True)
        ]
        assert list(raster.read_info(stacks / row["file"]).band_metadata) == expected
        assert raster.read_info(trends / row["file"]).tags == raster.read_info(own_trend).tags
        assert row["bands"] == raster.read_info(own_stack).count
    bands = {row["feature"]: row["bands"] for row in rows}
    # west: every scene but the one seeing 40 % of it and the one not seeing it; east:
    # all seven (the two halves of the 2020-06-01 pass add up to the whole lake).
    assert bands == ({"west": 5, "east": 7} if period == "none" else {"west": 3, "east": 3})


def test_file_names_are_safe_unique_and_depend_on_the_id_alone():
    names = ["Lake_1", "Lac Léman / Genève", "..", "a" * 150, "x.tif", "-dash"]
    files = [lake_grids.file_name(n) for n in names]
    assert files[0] == "Lake_1" and files[4] == "x.tif"
    for file in files:
        assert file and len(file) <= 100 and not file.startswith((".", "-"))
        assert all(c.isascii() and (c.isalnum() or c in "._-") for c in file)
    assert len(set(files)) == len(files)
    assert lake_grids.file_name("Lac Léman / Genève") == files[1]

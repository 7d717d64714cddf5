"""Per-lake outputs in real snakemake runs: three small lakes seen by five local scenes
(one scene's swath edge runs through lake c, one is cloudy over it), processed

* together with a grid per lake (``grid: {extent: feature}``, dataset ``lakes``) and
  with no grid (``grid: none``, dataset ``lakes_none``), in one run of rule all;
* each of lakes a and b alone, with the one grid around the AOI that extent aoi makes
  (datasets ``lake_a``, ``lake_b``, in a second project folder on the same products):
  the established chain (scene grids, rules stack and trend) on an AOI of that lake.

The oracle of each lake's per-lake outputs is its run alone: its statistics rows, its
pixels, and its stack and pixel trend (values, grid, band dates, descriptions and tags)
must be those of the lake alone; nothing may depend on the other lakes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
import yaml

from eotrend.geo import raster
from eotrend.sentinel3.partition import FeaturePixels
from eotrend.synthetic.product import write_product
from eotrend.synthetic.spec import SceneSpec
from support.commands import snakemake, undeclared_results
from support.configs import base_dataset
from support.scenes import square_ring, write_polygons

pytestmark = pytest.mark.workflow

X, Y = -60.9, -3.4
LAKES = {"a": (X - 0.08, Y + 0.02), "b": (X, Y - 0.03), "c": (X + 0.08, Y + 0.01)}
HALF = 0.012  # degrees: lakes of about 2.7 km, some 85 pixels of 300 m
# (sensing start, east shift of the scene centre in degrees): the third scene's east
# swath edge runs through lake c (it sees about half of it), the others see every lake.
SCENES = [
    (datetime(2019, 5, 3, 13, 50, tzinfo=UTC), 0.0),
    (datetime(2020, 6, 1, 13, 52, tzinfo=UTC), 0.0),
    (datetime(2021, 4, 20, 13, 47, tzinfo=UTC), -0.094),
    (datetime(2021, 8, 9, 13, 51, tzinfo=UTC), 0.0),
    (datetime(2022, 7, 14, 13, 49, tzinfo=UTC), 0.0),
]
VARIABLE, COLUMN = "TSM_NN", "TSM_NN_g.m-3"
MIN_COVERAGE = 0.9  # the schema's default


def dataset(aoi: str, archive: Path, grid: dict | str | None = None) -> dict:
    """A local dataset of the archive's products over ``aoi``: robust trends with
    q-values (every band of a pixel trend), no quicklooks."""
    changes = {
        "aoi": aoi,
        "start": "2019-01-01",
        "end": "2022-12-31",
        "source": {"local": {"path": str(archive)}},
        "variables": [VARIABLE],
        "quicklooks": 0,
        "trend": {"robust": True, "fdr": {"enabled": True}},
    }
    if grid is not None:
        changes["grid"] = grid
    return base_dataset("sentinel3_local", **changes)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path]:
    """(the folder of the lakes together, the folder of each lake alone), both run."""
    root = tmp_path_factory.mktemp("lake_outputs")
    rings = {name: square_ring(x, y, HALF) for name, (x, y) in LAKES.items()}
    water = shapely.union_all([shapely.Polygon(ring) for ring in rings.values()])
    archive = root / "archive"
    for k, (when, shift) in enumerate(SCENES):
        spec = SceneSpec(
            X + shift, Y, when, rows=120, columns=129, mission=("S3A", "S3B")[k % 2],
            seed=k, cloud_fraction=0.1,
        )  # fmt: skip
        write_product(spec, archive, water=water)
    together, alone = root / "together", root / "alone"
    for folder in (together, alone):
        folder.mkdir()
    write_polygons(together / "lakes.geojson", [[rings[n]] for n in LAKES], list(LAKES))
    for name in ("a", "b"):
        write_polygons(alone / f"{name}.geojson", [[rings[name]]], [name])
    config = {
        "lakes": dataset("lakes.geojson", archive, {"extent": "feature"}),
        "lakes_none": dataset("lakes.geojson", archive, "none"),
    }
    (together / "config.yaml").write_text(yaml.safe_dump({"datasets": config}))
    config = {f"lake_{n}": dataset(f"{n}.geojson", archive) for n in ("a", "b")}
    (alone / "config.yaml").write_text(yaml.safe_dump({"datasets": config}))
    result = snakemake(together)
    assert result.returncode == 0, result.stderr[-5000:]
    targets = [
        f"results/lake_{n}/{leaf}"
        for n in ("a", "b")
        for leaf in (
            "timeseries.parquet", "lakes/pixels.parquet", f"stack/{VARIABLE}.tif",
            f"trend/{VARIABLE}.tif",
        )
    ]  # fmt: skip
    result = snakemake(alone, *targets)
    assert result.returncode == 0, result.stderr[-5000:]
    return together, alone


def lake_rows(table: Path, feature: str) -> pd.DataFrame:
    frame = pd.read_parquet(table)
    return frame[frame["feature"] == feature].reset_index(drop=True)


@pytest.mark.parametrize("lake", ["a", "b"])
def test_a_lakes_statistics_rows_are_those_of_the_lake_alone(runs, lake):
    """timeseries.parquet: the lake's rows among three lakes equal the rows of the run
    of the lake alone (every column, value and dtype), with and without grids."""
    together, alone = runs
    own = pd.read_parquet(alone / f"results/lake_{lake}/timeseries.parquet")
    assert set(own["feature"]) == {lake} and len(own) == len(SCENES)
    for name in ("lakes", "lakes_none"):
        got = lake_rows(together / f"results/{name}/timeseries.parquet", lake)
        pd.testing.assert_frame_equal(got, own)


@pytest.mark.parametrize("lake", ["a", "b"])
def test_a_lakes_pixels_read_back_are_those_of_the_lake_alone(runs, lake):
    """The reader on the partitioned pixel table of three lakes gives the lake's pixel
    rows of the lake's run alone (as its own batch table holds them, sorted by time)."""
    together, alone = runs
    got = FeaturePixels(together / "results/lakes/lakes/pixels.parquet").read(lake)
    batch = pd.concat(
        pd.read_parquet(p)
        for p in sorted((alone / f"results/lake_{lake}/batches").glob("*/pixels.parquet"))
    )
    expected = batch.sort_values(["time", "scene", "row", "col"], kind="stable")
    for frame in (got, expected):
        frame[["scene", "feature"]] = frame[["scene", "feature"]].astype(str)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True))
    assert got["scene"].nunique() == len(SCENES)


def assert_same_raster(path: Path, reference: Path) -> None:
    """Same size, grid, CRS, band descriptions, band dates and values (NaN where NaN)."""
    ours, theirs = raster.read_info(path), raster.read_info(reference)
    assert (ours.width, ours.height, ours.count) == (theirs.width, theirs.height, theirs.count)
    assert ours.transform == theirs.transform
    assert ours.crs_wkt == theirs.crs_wkt
    assert ours.descriptions == theirs.descriptions
    assert [m.get("DATE") for m in ours.band_metadata] == [
        m.get("DATE") for m in theirs.band_metadata
    ]
    np.testing.assert_array_equal(
        raster.read_rows(path, 0, ours.height), raster.read_rows(reference, 0, theirs.height)
    )


@pytest.mark.parametrize("lake", ["a", "b"])
def test_a_lakes_stack_and_pixel_trend_are_those_of_the_lake_alone(runs, lake):
    """The lake's own stack and pixel trend among three lakes equal the stack and trend
    rules stack and trend make of an AOI holding that lake alone (its one grid), band
    metadata and the trend's tags included."""
    together, alone = runs
    for kind, reference in (("stacks", "stack"), ("trends", "trend")):
        index = pd.read_csv(together / f"results/lakes/lakes/{kind}/{VARIABLE}/index.csv")
        row = index.set_index("feature").loc[lake]
        path = together / f"results/lakes/lakes/{kind}/{VARIABLE}" / row["file"]
        own = alone / f"results/lake_{lake}/{reference}/{VARIABLE}.tif"
        assert_same_raster(path, own)
        info = raster.read_info(own)
        assert (row["rows"], row["cols"]) == (info.height, info.width)
        if kind == "stacks":
            assert row["bands"] == info.count == len(SCENES)
            assert raster.read_info(path).band_metadata == info.band_metadata
        else:
            assert raster.read_info(path).tags == info.tags


def test_a_lakes_stack_holds_the_scenes_that_observe_enough_of_it(runs):
    """Band selection per lake: the scenes whose coverage of the lake (its statistics'
    coverage column, each pass one scene here) is at least min_coverage, in time order;
    the scene whose swath edge halves lake c is in a's and b's stacks, not in c's. A
    scene cloudy over a lake is a band of NaN."""
    together, _ = runs
    table = pd.read_parquet(together / "results/lakes/timeseries.parquet")
    index = pd.read_csv(together / f"results/lakes/lakes/stacks/{VARIABLE}/index.csv")
    assert list(index["feature"]) == list(LAKES)
    counts = {}
    for _, row in index.iterrows():
        rows = table[(table["feature"] == row["feature"]) & (table["coverage"] >= MIN_COVERAGE)]
        path = together / f"results/lakes/lakes/stacks/{VARIABLE}" / row["file"]
        info = raster.read_info(path)
        assert [m["SOURCES"] for m in info.band_metadata] == list(rows["scene"])
        assert [m["DATE"] for m in info.band_metadata] == [t.isoformat() for t in rows["time"]]
        values = raster.read_rows(path, 0, info.height)
        valid = rows[f"{COLUMN}_count"].to_numpy() > 0
        assert list(np.isfinite(values).any(axis=(1, 2))) == list(valid)
        counts[row["feature"]] = row["bands"]
    assert counts == {"a": 5, "b": 5, "c": 4}


def test_extent_none_makes_and_declares_no_grid(runs):
    """grid: none: no batch grids.tif, no scene grid in the scene cache (extent
    feature grids no scene either), no stack, trend or per-lake grids; Snakemake has no
    rule that would make such a batch's grids."""
    together, _ = runs
    results = together / "results/lakes_none"
    assert not list(results.rglob("*.tif"))
    assert not list((together / "resources/scenes/lakes_none").glob("*/grid"))
    assert list((together / "resources/scenes/lakes").glob("*/grid")) == []
    assert (results / "batches/0000/pixels.parquet").is_file()
    planned = snakemake(together, "-n", "results/lakes_none/batches/0000/grids.tif")
    assert planned.returncode != 0
    said = planned.stdout + planned.stderr
    assert "MissingRuleException" in said or "No rule to produce" in said, said[-2000:]


def test_rule_all_asks_for_exactly_what_the_run_made(runs):
    """Every file under results/ is a declared output of the run of rule all
    (Snakemake's own --delete-all-output listing), and the run left nothing to do; the
    datasets without a grid around the AOI have no stack, trend or trend maps."""
    together, _ = runs
    again = snakemake(together, "-n")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    assert undeclared_results(together, minimum=31) == []
    for name in ("lakes", "lakes_none"):
        for missing in ("stack", "trend", f"plots/{VARIABLE}_trend.png"):
            assert not (together / f"results/{name}/{missing}").exists()
        assert (together / f"results/{name}/plots/{VARIABLE}_lake_trends.png").is_file()
        assert (together / f"results/{name}/timeseries.csv").is_file()


def test_the_parquet_time_series_equals_the_csv(runs):
    """timeseries.parquet and timeseries.csv: the same rows and values, and the same
    dtypes once the CSV's text is read by hand (strings, UTC times to the microsecond,
    whole counts with empty fields for none, floats); counts are integers in Parquet."""
    together, _ = runs
    folder = together / "results/lakes"
    table = pd.read_parquet(folder / "timeseries.parquet")
    text = pd.read_csv(
        folder / "timeseries.csv",
        dtype={"scene": "str", "feature": "str", "note": "str"},
        keep_default_na=False,
        na_values=[""],
    )
    text["time"] = pd.to_datetime(text["time"], utc=True, format="ISO8601").astype(
        "datetime64[us, UTC]"
    )
    counts = [c for c in text.columns if c == "count" or c.endswith("_count")]
    text = text.astype(dict.fromkeys(counts, "Int64"))
    pd.testing.assert_frame_equal(table, text)
    assert "low_coverage" in set(table["note"])  # rows with counts left out are included
    schema = pq.read_schema(folder / "timeseries.parquet")
    assert str(schema.field("count").type) == "int64"
    assert schema.field(f"{COLUMN}_median").metadata == {b"unit": b"g.m-3"}


def test_the_lake_pixel_table_holds_the_batches_rows_by_lake(runs):
    """lakes/pixels.parquet: the batches' rows (as a set), sorted by feature in AOI
    order, time, scene, row, col; its index each lake's first row and row count."""
    together, _ = runs
    folder = together / "results/lakes"
    batches = pd.concat(pd.read_parquet(p) for p in sorted(folder.glob("batches/*/pixels.parquet")))
    table = pd.read_parquet(folder / "lakes/pixels.parquet")
    for frame in (batches, table):
        frame[["scene", "feature"]] = frame[["scene", "feature"]].astype(str)
    order = batches.assign(_pos=batches["feature"].map({n: k for k, n in enumerate(LAKES)}))
    order = order.sort_values(["_pos", "time", "scene", "row", "col"]).drop(columns="_pos")
    pd.testing.assert_frame_equal(table.reset_index(drop=True), order.reset_index(drop=True))
    counts = table["feature"].value_counts()
    starts = np.cumsum([0] + [counts[n] for n in LAKES])[:-1]
    index = FeaturePixels(folder / "lakes/pixels.parquet").index
    assert index == {n: (int(s), int(counts[n])) for n, s in zip(LAKES, starts, strict=True)}


def test_a_continental_grid_is_refused_at_parse_time(tmp_path):
    """Extent aoi over two lakes 30 degrees of longitude apart at 0.003 degrees: a grid
    of about 10,000 x 10 cells; with max_cells 100,000 the dry run stops before any job,
    giving the grid's size (worked out here as the schema's grid is snapped) and the
    keys that change it."""
    import math

    rings = [square_ring(-60.9, -3.4, HALF), square_ring(-30.9, -3.4, HALF)]
    write_polygons(tmp_path / "lakes.geojson", [[r] for r in rings], ["west", "east"])
    lakes = dataset("lakes.geojson", tmp_path / "archive", {"max_cells": 100_000})
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"datasets": {"far": lakes}}))
    result = snakemake(tmp_path, "-n", timeout=120)
    assert result.returncode != 0
    res, margin = 0.003, 2
    width = math.ceil((-30.9 + HALF) / res) - math.floor((-60.9 - HALF) / res) + 2 * margin
    height = math.ceil((-3.4 + HALF) / res) - math.floor((-3.4 - HALF) / res) + 2 * margin
    text = " ".join((result.stdout + result.stderr).split())
    assert "datasets.far.grid: extent aoi makes one grid around all 2 features" in text
    assert f"{width:,} x {height:,} = {width * height:,} cells" in text, text[-2000:]
    for key in ("grid.extent: feature", "grid: none", "grid.max_cells"):
        assert key in text
    assert not (tmp_path / "results").exists()

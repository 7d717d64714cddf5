"""Frames of one pass: grouped from their names (ESA's OLCI naming convention: mission,
cycle, relative orbit; ~3-minute frames), and a feature split between two consecutive
frames counted once, with its statistics over both frames' pixels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import shapely

from eotrend.core.errors import InputError
from eotrend.geo import raster
from eotrend.geo.aoi import read_aoi
from eotrend.sentinel3.extract import extract_to_files
from eotrend.sentinel3.locate import window_for
from eotrend.sentinel3.passes import pass_coverage, pass_groups
from eotrend.stages.stack import covered_inputs
from eotrend.stages.timeseries import collect_statistics
from eotrend.synthetic.product import write_product
from eotrend.synthetic.spec import SceneSpec, product_name
from support.scenes import write_polygons

T0 = datetime(2021, 6, 4, 0, 10, 16, tzinfo=UTC)
DAY = datetime(2021, 6, 4, 10, 10, 16, tzinfo=UTC)  # the Sun up over the lake
GRID = {"crs": "EPSG:4326", "resolution": 0.01, "max_distance_m": 600, "margin": 2}


def name(mission, start, orbit=273, cycle=72, frame=1440):
    spec = SceneSpec(10.0, 45.0, start, rows=64, columns=65, mission=mission,
                     relative_orbit=orbit, cycle=cycle, frame=frame)  # fmt: skip
    return product_name(spec)


def test_frames_of_one_pass_are_grouped():
    starts = [
        T0,
        T0 + timedelta(seconds=179),
        T0 + timedelta(minutes=40),
        T0,
        T0 + timedelta(minutes=101),
    ]
    names = [
        name("S3A", starts[0]),
        name("S3A", starts[1], frame=1620),  # the next frame of the pass
        name("S3B", starts[2]),  # the other satellite the same day
        name("S3B", starts[3], orbit=12),  # another track
        name("S3A", starts[4], orbit=274),  # the next orbit
    ]
    groups = pass_groups(names, starts)
    assert sorted(map(sorted, groups)) == [[0, 1], [2], [3], [4]]
    assert pass_coverage(groups, [0.6, 0.5, 0.3, 1.0, 0.2]) == [1.0, 1.0, 0.3, 1.0, 0.2]
    assert pass_groups(["not a product", "other"], [T0, T0]) == [[0], [1]]


@pytest.fixture(scope="module")
def two_frames(tmp_path_factory):
    """Two consecutive frames of one S3A pass (heading south), and a lake that straddles
    the line between them."""
    folder = tmp_path_factory.mktemp("pass")
    rows = 240
    shift = np.degrees(rows * 294.0 / 6_371_000.0)  # along-track extent of a frame
    boundary = 45.0 - shift / 2
    lake = shapely.box(9.9, boundary - 0.06, 10.1, boundary + 0.04)
    products = []
    for k in range(2):
        spec = SceneSpec(
            10.0, 45.0 - k * shift, DAY + timedelta(seconds=k * rows * 0.044001), rows=rows,
            columns=257, heading_deg=180.0, cloud_fraction=0.0, seed=7 + k, frame=1440 + k,
        )  # fmt: skip
        products.append(write_product(spec, folder, water=lake, files={"tsm_nn.nc", "wqsf.nc"}))
    aoi = write_polygons(folder / "aoi.geojson", [[list(lake.exterior.coords)[:-1]]], ["lake"])
    outputs = []
    for product in products:
        out = folder / "out" / product.name
        out.mkdir(parents=True)
        extract_to_files(
            product, read_aoi(aoi), window_for(product, aoi),
            out / "pixels.parquet", out / "stats.csv",
            out / "grid", ["TSM_NN"], "water", GRID,
        )  # fmt: skip
        outputs.append(out)
    return folder, outputs


def test_a_feature_split_between_two_frames_is_one_row_over_both(two_frames, tmp_path):
    _, outputs = two_frames
    stats = [pd.read_csv(out / "stats.csv") for out in outputs]
    coverage = [s["coverage"].iloc[0] for s in stats]
    assert all(0.2 < c < 0.8 for c in coverage) and sum(coverage) == pytest.approx(1.0, abs=0.03)
    table = collect_statistics(
        [out / "stats.csv" for out in outputs], tmp_path / "ts.csv", min_coverage=0.9,
        pixel_paths=[out / "pixels.parquet" for out in outputs],
    )  # fmt: skip
    (row,) = table.itertuples(index=False)  # one row for the pass, kept
    assert row.scene == "+".join(s["scene"].iloc[0] for s in stats)
    assert row.note == "ok" and row.coverage == pytest.approx(min(1.0, sum(coverage)))
    pixels = pd.concat([pd.read_parquet(out / "pixels.parquet") for out in outputs])
    values = pixels["TSM_NN_g.m-3"].dropna().to_numpy(np.float64)
    assert row.count == len(pixels)
    assert table["TSM_NN_g.m-3_count"].iloc[0] == len(values)
    assert table["TSM_NN_g.m-3_median"].iloc[0] == pytest.approx(np.median(values))
    assert table["TSM_NN_g.m-3_p75"].iloc[0] == pytest.approx(np.quantile(values, 0.75))
    # Without the pixel tables the frames stay apart, each too partial for the series.
    apart = collect_statistics([out / "stats.csv" for out in outputs], tmp_path / "a.csv", 0.9)
    assert list(apart["note"]) == ["low_coverage", "low_coverage"]


def test_the_stack_keeps_both_frames_of_a_pass_that_covers_the_aoi(two_frames):
    _, outputs = two_frames
    grids = [out / "grid" / "TSM_NN.tif" for out in outputs]
    tags = [raster.read_info(g).tags for g in grids]
    assert all(0.2 < float(t["COVERAGE"]) < 0.8 for t in tags)
    assert covered_inputs(grids, 0.9) == grids
    assert covered_inputs(grids[:1], 0.5 * float(tags[0]["COVERAGE"])) == grids[:1]
    with pytest.raises(InputError, match=r"no scene observes min_coverage=0\.9"):
        covered_inputs(grids[:1], 0.9)

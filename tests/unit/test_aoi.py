"""AOI files of one to thousands of features (eotrend.geo.aoi.read_aoi): every problem of a
file in one error, by id (by row when the id is missing), and the attribute that names
the features chosen per dataset (``aoi_id``, ``--aoi-id``).

Oracles: each file is written here with GDAL/OGR, its problems planted by the test (a
duplicate id, an empty and a missing id, a bowtie, a ring of 3 points, a point), so
which rows and ids the message must name, and how many problems it must count, are
known without running eotrend. Valid files come back feature for feature as written.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from osgeo import ogr

from eotrend.core.errors import InputError
from eotrend.geo.aoi import LISTED, read_aoi
from eotrend.sources.entries import product_entry
from eotrend.sources.scenelist import write_manifest
from support.scenes import small_scene
from support.stages import error_line, stage
from support.vectors import BOWTIE, SHORT_RING, square, write_layer


def listing(message: str) -> list[str]:
    """The problems an AOI error lists, in order."""
    found = re.search(r"when it has none\): (.*)\. Fix (?:them all|it): ", message)
    assert found, message
    return found.group(1).split("; ")


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_every_problem_of_a_file_is_listed_at_once_by_id_or_row(tmp_path, suffix):
    """Six problems planted in nine features: one error counts them, names each by its
    id (by its row, counted from 1, where the id is empty or missing), in row order, and
    says what to do about each kind; the valid features are not mentioned."""
    rows = [
        ({"lake_id": "L1"}, square(10, 0)),
        ({"lake_id": "L2"}, square(11, 0)),
        ({"lake_id": ""}, square(12, 0)),  # row 3: empty id
        ({"lake_id": "L4"}, BOWTIE),
        ({"lake_id": "L2"}, square(13, 0)),  # row 5: the id of row 2 again
        ({"lake_id": "L6"}, SHORT_RING),
        ({"lake_id": "L7"}, "POINT (5 5)"),
        ({"lake_id": None}, square(14, 0)),  # row 8: no id
        ({"lake_id": "L9"}, square(15, 0)),
    ]
    path = write_layer(tmp_path / f"lakes{suffix}", {"lake_id": ogr.OFTString}, rows)
    with pytest.raises(InputError) as raised:
        read_aoi(path, "lake_id")
    message = str(raised.value)
    assert message.startswith(f"{path}: 6 problems in 7 of its 9 features ")
    listed = listing(message)
    assert listed[0] == "duplicate id 'L2' (rows 2, 5)"
    assert listed[1] == "row 3: empty id (`lake_id` is blank)"
    assert listed[2].startswith("feature 'L4' (row 4): has an invalid polygon (Self-intersection")
    assert listed[3].startswith(
        "feature 'L6' (row 6): has an invalid polygon (its outer ring has 3"
    )
    assert listed[4] == "feature 'L7' (row 7): is a Point, not a polygon"
    assert listed[5] == "row 8: no id (`lake_id` is not set)"
    assert len(listed) == 6
    assert "'L1'" not in message and "'L9'" not in message
    for hint in ("unique, non-empty `lake_id`", "make_valid", "buffer points or lines"):
        assert hint in message


def test_more_problems_than_listed_are_counted(tmp_path):
    """25 point features among polygons: all 25 are counted, the first LISTED (20) are
    listed in row order and the rest are counted as 'and 5 more'."""
    rows = [({"name": f"p{k}"}, f"POINT ({k} 0)") for k in range(25)]
    rows.append(({"name": "lake"}, square(0, 1)))
    path = write_layer(tmp_path / "gauges.gpkg", {"name": ogr.OFTString}, rows)
    with pytest.raises(InputError) as raised:
        read_aoi(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: 25 problems in 25 of its 26 features ")
    listed = listing(message)
    assert listed[:LISTED] == [
        f"feature 'p{k}' (row {k + 1}): is a Point, not a polygon" for k in range(LISTED)
    ]
    assert listed[LISTED:] == ["and 5 more"]


def two_candidates(path: Path) -> Path:
    """Three lakes with two attributes that could name them: `name`, which two lakes
    share, and `lake_id`, an integer unique to each."""
    rows = [
        ({"name": "Lago Grande", "lake_id": 101}, square(0, 0)),
        ({"name": "Lago Pequeno", "lake_id": 102}, square(1, 0)),
        ({"name": "Lago Grande", "lake_id": 103}, square(2, 0)),
    ]
    return write_layer(path, {"name": ogr.OFTString, "lake_id": ogr.OFTInteger}, rows)


def test_the_id_column_names_the_features(tmp_path):
    """With `lake_id` chosen the features are named by it (as text, in file order); by
    default `name` is used, and the two lakes sharing a name are a duplicate id; a column
    the file lacks is refused with the file's columns and the closest one."""
    path = two_candidates(tmp_path / "lakes.gpkg")
    features = read_aoi(path, "lake_id")
    assert [f.name for f in features] == ["101", "102", "103"]
    assert [f.geometry.bounds[0] for f in features] == [0.0, 1.0, 2.0]
    with pytest.raises(InputError) as raised:
        read_aoi(path)
    assert listing(str(raised.value)) == ["duplicate id 'Lago Grande' (rows 1, 3)"]
    with pytest.raises(InputError) as raised:
        read_aoi(path, "lake")
    message = str(raised.value)
    assert message.startswith(f"{path}: has no attribute 'lake' to take the feature ids from")
    assert "(did you mean 'lake_id'?)" in message and "has 'name', 'lake_id'" in message
    # A caller that needs only the geometries is not stopped by the ids.
    assert [f.name for f in read_aoi(path, ids=False)] == ["0", "1", "2"]


@pytest.mark.parametrize("suffix", [".gpkg", ".shp"])
def test_a_valid_file_of_5000_features_passes(tmp_path, suffix):
    """5,000 small lake polygons (octagons on a 100 x 50 lattice, one with a hole each
    tenth) come back in file order with their ids and their shapes as written."""
    rng = np.random.default_rng(23)
    angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
    want, rows = [], []
    for k in range(5000):
        x, y = -70 + (k % 100) * 0.05, -10 + (k // 100) * 0.05
        radius = rng.uniform(0.005, 0.02)
        shell = np.c_[x + radius * np.cos(angles), y + radius * np.sin(angles)]
        holes = [shell[::2] * 0.25 + np.array([x, y]) * 0.75] if k % 10 == 0 else []
        polygon = shapely.Polygon(shell, holes)
        want.append(polygon)
        rows.append(({"lake_id": f"lake_{k:05d}"}, polygon.wkt))
    path = write_layer(tmp_path / f"lakes{suffix}", {"lake_id": ogr.OFTString}, rows)
    features = read_aoi(path, "lake_id")
    assert [f.name for f in features] == [f"lake_{k:05d}" for k in range(5000)]
    got = np.array([f.geometry for f in features])
    assert shapely.equals(got, np.array(want)).all()


# -- through the commands: the ids reach the outputs, the problems stop the command --------


@pytest.fixture(scope="module")
def product(tmp_path_factory) -> Path:
    return small_scene(tmp_path_factory.mktemp("scene"), -60.0, -3.0)


@pytest.mark.slow
def test_the_scenes_command_names_features_by_aoi_id(tmp_path, product):
    """A batch of one scene over two lakes with `name` and `lake_id`: the statistics
    name the lakes by the attribute asked for; asking for the other one redoes the scene
    (its outputs depend on it) and renames them."""
    rows = [
        ({"name": "Lago Grande", "lake_id": 101}, square(-60.05, -3.05, 0.1)),
        ({"name": "Lago Pequeno", "lake_id": 102}, square(-59.9, -2.9, 0.05)),
    ]
    aoi = write_layer(
        tmp_path / "lakes.gpkg", {"name": ogr.OFTString, "lake_id": ogr.OFTInteger}, rows
    )
    write_manifest(tmp_path / "manifest.csv", [product_entry(product)])

    def batch(*aoi_id: str) -> tuple[set[str], list[str]]:
        args = ["manifest.csv", aoi, "-o", "batch.csv", "--scenes-dir", "scenes"]
        result = stage("scenes", *args, "--quality", "none", *aoi_id, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        stats = pd.read_csv(tmp_path / "batch" / "stats.csv", dtype={"feature": str})
        return set(stats["feature"]), list(pd.read_csv(tmp_path / "batch.csv")["status"])

    assert batch() == ({"Lago Grande", "Lago Pequeno"}, ["done"])
    assert batch("--aoi-id", "lake_id") == ({"101", "102"}, ["done"])
    assert batch("--aoi-id", "lake_id") == ({"101", "102"}, ["kept"])


def test_locate_stops_with_every_problem_in_one_line(tmp_path, product):
    """The command a user runs by hand: exit status 1, one error line naming the file and
    each planted problem (a duplicate id, a bowtie, a point), nothing written."""
    rows = [
        ({"name": "a"}, square(-60.05, -3.05)),
        ({"name": "a"}, square(-60.0, -3.0)),
        ({"name": "bowtie"}, BOWTIE),
        ({"name": "gauge"}, "POINT (-60 -3)"),
    ]
    aoi = write_layer(tmp_path / "lakes.geojson", {"name": ogr.OFTString}, rows)
    result = stage("locate", product, aoi, "-o", tmp_path / "v.csv", cwd=tmp_path)
    error_line(
        result,
        f"error: {aoi}: 3 problems in 4 of its 4 features",
        "duplicate id 'a' (rows 1, 2)",
        "feature 'bowtie' (row 3): has an invalid polygon (Self-intersection",
        "feature 'gauge' (row 4): is a Point, not a polygon",
    )
    assert not (tmp_path / "v.csv").exists()

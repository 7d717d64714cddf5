"""locate: every vertex's pixel equals a great-circle brute force over the whole grid."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eotrend.geo.aoi import read_aoi
from eotrend.geo.geometry import great_circle_m, unwrap_lon
from eotrend.sentinel3.locate import COLUMNS, extraction_window, locate, vertex_table
from support.commands import run
from support.scenes import full_lonlat, small_scene, write_polygons

# (centre lon, centre lat, heading): equator, 60 N, across the antimeridian, near the pole
SCENES = {
    "equator": (-60.9, -3.4, 192.0),
    "north60": (10.0, 60.0, 200.0),
    "antimeridian": (179.95, -16.0, 190.0),
    "polar": (30.0, 80.0, 160.0),
}


@pytest.fixture(scope="module", params=sorted(SCENES))
def scene(request, tmp_path_factory):
    lon, lat, heading = SCENES[request.param]
    product = small_scene(
        tmp_path_factory.mktemp(request.param), lon, lat, heading=heading, files={"wqsf.nc"}
    )
    return product, *full_lonlat(product)


def brute_force(lon_grid, lat_grid, lon, lat):
    """Nearest pixel centre by haversine over the whole grid; first minimum in C order."""
    distance = great_circle_m(lon_grid, lat_grid, lon, lat)
    flat = int(np.nanargmin(distance))
    row, col = np.unravel_index(flat, distance.shape)
    return int(row), int(col), float(distance[row, col])


def random_polygon(rng, lon_grid, lat_grid, n, spread):
    """A star-shaped polygon of n vertices around a random pixel, in unwrapped lon.

    Angular gaps stay below 180 degrees, so the centre is in the polygon's kernel and the
    polygon is simple.
    """
    r0 = rng.integers(0, lon_grid.shape[0])
    c0 = rng.integers(0, lon_grid.shape[1])
    lon0, lat0 = lon_grid[r0, c0], lat_grid[r0, c0]
    angles = (np.arange(n) + rng.uniform(0.0, 0.45, n)) * 2 * np.pi / n
    radius = rng.uniform(0.2, 1.0, n) * spread
    lat = np.clip(lat0 + radius * np.sin(angles), -89.9, 89.9)
    lon = lon0 + radius * np.cos(angles) / np.cos(np.radians(lat0))
    return list(zip(lon, lat, strict=True))


def check_against_brute_force(product, lon_grid, lat_grid, aoi):
    located = locate(product, vertex_table(read_aoi(aoi)))
    for index, (lon, lat, row, col, distance) in enumerate(
        zip(located.lon, located.lat, located.row, located.col, located.distance_m, strict=True)
    ):
        r, c, d = brute_force(lon_grid, lat_grid, lon, lat)
        assert (row, col) == (r, c), f"vertex {index}: {(row, col)} != {(r, c)}"
        assert distance == pytest.approx(d, abs=1e-3)
    return located


def test_random_polygons_match_brute_force(scene, tmp_path):
    product, lon_grid, lat_grid = scene
    rng = np.random.default_rng(11)
    polygons = [
        [random_polygon(rng, lon_grid, lat_grid, n, spread)]
        for n, spread in ((5, 0.05), (12, 0.2), (27, 0.4))
    ]
    aoi = write_polygons(tmp_path / "aoi.geojson", polygons)
    located = check_against_brute_force(product, lon_grid, lat_grid, aoi)
    assert located.in_swath.any()


def test_vertices_outside_the_swath_are_flagged(scene, tmp_path):
    product, lon_grid, lat_grid = scene
    lat0 = float(np.nanmean(lat_grid))
    lon0 = float(lon_grid[0, 0])
    far = [(lon0 + 40, lat0 * 0.5), (lon0 + 41, lat0 * 0.5), (lon0 + 40, lat0 * 0.5 + 1)]
    aoi = write_polygons(tmp_path / "far.geojson", [[far]])
    located = check_against_brute_force(product, lon_grid, lat_grid, aoi)
    assert not located.in_swath.any()
    assert (located.distance_m > 1e5).all()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(3, 30), spread=st.floats(0.005, 0.5))
def test_property_matches_brute_force(scene, tmp_path, seed, n, spread):
    product, lon_grid, lat_grid = scene
    rng = np.random.default_rng(seed)
    aoi = write_polygons(
        tmp_path / f"p{seed}.geojson", [[random_polygon(rng, lon_grid, lat_grid, n, spread)]]
    )
    check_against_brute_force(product, lon_grid, lat_grid, aoi)


def test_vertex_table_rings_and_parts(tmp_path):
    aoi = write_polygons(
        tmp_path / "a.geojson",
        [[[(0, 0), (4, 0), (4, 4), (0, 4)], [(1, 1), (1, 2), (2, 2)]]],
        names=["lake"],
    )
    table = vertex_table(read_aoi(aoi))
    assert table.feature == ["lake"] * 7
    assert table.ring.tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert table.vertex.tolist() == [0, 1, 2, 3, 0, 1, 2]
    assert table.part.tolist() == [0] * 7


def test_extraction_window_holds_every_pixel_inside_the_aoi(scene, tmp_path):
    """Brute force: every pixel whose centre is inside a random polygon is in the window."""
    product, lon_grid, lat_grid = scene
    rng = np.random.default_rng(3)
    checked = 0
    for k in range(6):
        polygon = random_polygon(rng, lon_grid, lat_grid, 9, 0.3)
        aoi = write_polygons(tmp_path / f"w{k}.geojson", [[polygon]])
        features = read_aoi(aoi)
        lon0 = features[0].geometry.exterior.coords[0][0]
        inside = shapely.contains_xy(features[0].geometry, unwrap_lon(lon_grid, lon0), lat_grid)
        if not inside.any():
            continue
        window = extraction_window(product, features)
        rows, cols = np.nonzero(inside)
        assert window.row0 <= rows.min() and rows.max() < window.row1
        assert window.col0 <= cols.min() and cols.max() < window.col1
        checked += 1
    assert checked >= 3


def test_command_writes_the_table_and_window(scene, tmp_path):
    product, lon_grid, lat_grid = scene
    rng = np.random.default_rng(5)
    aoi = write_polygons(
        tmp_path / "aoi.geojson",
        [[random_polygon(rng, lon_grid, lat_grid, 6, 0.1)]],
        names=["reach"],
    )
    result = run(
        [
            sys.executable,
            "-m",
            "eotrend",
            "locate",
            str(product),
            str(aoi),
            "-o",
            str(tmp_path / "v.csv"),
            "--window",
            str(tmp_path / "w.json"),
            "--workers",
            "2",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    table = pd.read_csv(tmp_path / "v.csv")
    assert list(table.columns) == list(COLUMNS)
    for row in table.itertuples():
        assert (row.row, row.col) == brute_force(lon_grid, lat_grid, row.lon, row.lat)[:2]
    window = json.loads((tmp_path / "w.json").read_text())
    assert window["covers_aoi"] is True and window["vertices"] == 6


def test_a_folder_that_is_not_a_product_names_what_is_missing(scene, tmp_path):
    import shutil

    from eotrend.core.errors import InputError
    from eotrend.sentinel3.locate import locate_to_files

    product, _, _ = scene
    broken = tmp_path / product.name
    shutil.copytree(product, broken)
    (broken / "geo_coordinates.nc").unlink()
    aoi = write_polygons(tmp_path / "a.geojson", [[[(0, 0), (1, 0), (1, 1)]]])
    with pytest.raises(InputError, match=r"missing geo_coordinates\.nc"):
        locate_to_files(broken, read_aoi(aoi), tmp_path / "v.csv")
    assert not (tmp_path / "v.csv").exists()

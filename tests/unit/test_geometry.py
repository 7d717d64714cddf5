"""Geodesy and polygons against independent formulas and brute force."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from eotrend.core.errors import InputError
from eotrend.geo import geometry as geo
from eotrend.geo.aoi import read_aoi
from eotrend.geo.grids import Grid, cell_centres_lonlat, dataset_grid, nearest_fill


def vincenty_sphere_m(lon1, lat1, lon2, lat2):
    """Great-circle distance by the spherical Vincenty formula (an independent oracle)."""
    l1, p1, l2, p2 = map(np.radians, (lon1, lat1, lon2, lat2))
    dl = l2 - l1
    num = np.hypot(
        np.cos(p2) * np.sin(dl), np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dl)
    )
    den = np.sin(p1) * np.sin(p2) + np.cos(p1) * np.cos(p2) * np.cos(dl)
    return geo.EARTH_RADIUS_M * np.arctan2(num, den)


lons = st.floats(-180, 180)
lats = st.floats(-89.9, 89.9)


@pytest.mark.parametrize("shape", [(0, 3), (1000, 3), (50, 65, 3)])
def test_lengths_are_numpys_norms_bit_for_bit(shape):
    """Random vectors of lengths from 1e-12 to 1e3, with a NaN, an inf and a signed zero
    among them: the same floats as np.linalg.norm over the last axis (NaN where it gives
    NaN)."""
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=shape) * 10.0 ** rng.uniform(-12, 3, size=(*shape[:-1], 1))
    if vectors.size:
        vectors.reshape(-1, 3)[:3] = [[np.nan, 0, 0], [np.inf, 1, 2], [-0.0, 0.0, 0.0]]
    np.testing.assert_array_equal(geo.lengths(vectors), np.linalg.norm(vectors, axis=-1))


@given(lons, lats, lons, lats)
@settings(max_examples=200, deadline=None)
def test_haversine_and_chord_agree_with_vincenty(lon1, lat1, lon2, lat2):
    expected = vincenty_sphere_m(lon1, lat1, lon2, lat2)
    assert geo.great_circle_m(lon1, lat1, lon2, lat2) == pytest.approx(expected, abs=1e-3)
    chord = np.linalg.norm(geo.unit_vectors(lon1, lat1) - geo.unit_vectors(lon2, lat2))
    assert geo.chord_to_metres(chord) == pytest.approx(expected, abs=1e-3)


def test_one_degree_of_latitude():
    assert geo.great_circle_m(0, 0, 0, 1) == pytest.approx(np.pi / 180 * geo.EARTH_RADIUS_M)


def test_unwrap_keeps_antimeridian_polygons_whole():
    # A square from 179.5 E to 179.5 W written with longitudes on both sides.
    square = shapely.Polygon([(179.5, -1), (-179.5, -1), (-179.5, 1), (179.5, 1)])
    unwrapped = geo.unwrap_geometry(square, 180.0)
    assert unwrapped.area == pytest.approx(2.0)  # 1 degree wide, 2 high
    inside = geo.contains(
        unwrapped, geo.unwrap_lon(np.array([-179.9, 179.9, 170.0]), 180.0), np.zeros(3)
    )
    assert inside.tolist() == [True, True, False]


def test_contains_honours_holes_and_parts():
    outer = shapely.Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (3, 1), (3, 3), (1, 3)]])
    other = shapely.Polygon([(10, 0), (11, 0), (11, 1), (10, 1)])
    multi = shapely.MultiPolygon([outer, other])
    lon = np.array([0.5, 2.0, 10.5, 5.0])
    lat = np.array([0.5, 2.0, 0.5, 5.0])
    assert geo.contains(multi, lon, lat).tolist() == [True, False, True, False]


def write_geojson(path, features):
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def feature(geometry, name=None):
    return {"type": "Feature", "properties": {"name": name} if name else {}, "geometry": geometry}


def test_read_aoi_names_features_and_keeps_holes(tmp_path):
    path = write_geojson(
        tmp_path / "a.geojson",
        [
            feature(
                {
                    "type": "Polygon",
                    "coordinates": [
                        [[0, 0], [4, 0], [4, 4], [0, 0]],
                        [[1, 0.5], [3, 0.5], [3, 2.5], [1, 0.5]],
                    ],
                },
                "lake",
            ),
            feature(
                {
                    "type": "MultiPolygon",
                    "coordinates": [
                        [[[10, 0], [11, 0], [11, 1], [10, 0]]],
                        [[[20, 0], [21, 0], [21, 1], [20, 0]]],
                    ],
                }
            ),
        ],
    )
    features = read_aoi(path)
    assert [f.name for f in features] == ["lake", "1"]
    assert len(features[0].geometry.interiors) == 1
    assert len(features[1].geometry.geoms) == 2


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ({"type": "Point", "coordinates": [0, 0]}, "is a Point, not a polygon"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]},
            "invalid polygon",
        ),
    ],
)
def test_bad_geometries_name_the_feature(tmp_path, geometry, message):
    path = write_geojson(tmp_path / "bad.geojson", [feature(geometry, "river")])
    with pytest.raises(
        InputError, match=f"bad.geojson: .*: feature 'river' \\(row 1\\): .*{message}"
    ):
        read_aoi(path)


def test_not_a_vector_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(InputError, match=r"notes\.txt"):
        read_aoi(path)


def test_nearest_fill_equals_brute_force():
    rng = np.random.default_rng(4)
    grid = Grid((-61.0, 0.01, 0.0, -3.0, 0.0, -0.01), 30, 20, _wgs84_wkt())
    lon = rng.uniform(-61.05, -60.65, 400)
    lat = rng.uniform(-3.25, -2.95, 400)
    values = rng.normal(size=400)
    values[::7] = np.nan
    got = nearest_fill(grid, lon, lat, values, max_distance_m=900.0)
    cell_lon, cell_lat = cell_centres_lonlat(grid)
    ok = ~np.isnan(values)
    d = geo.great_circle_m(cell_lon[..., None], cell_lat[..., None], lon[ok], lat[ok])
    nearest = np.argmin(d, axis=-1)
    want = np.where(d.min(axis=-1) <= 900.0, values[ok][nearest], np.nan).astype(np.float32)
    np.testing.assert_array_equal(got, want)


def test_dataset_grid_covers_the_aoi_with_margin(tmp_path):
    path = write_geojson(
        tmp_path / "a.geojson",
        [
            feature(
                {
                    "type": "Polygon",
                    "coordinates": [[[-61.3, -3.6], [-60.5, -3.6], [-60.5, -3.3], [-61.3, -3.6]]],
                },
                "x",
            )
        ],
    )
    grid = dataset_grid(read_aoi(path), -60.9, "EPSG:4326", 0.01, margin=2)
    x0, dx, _, y0, _, dy = grid.transform
    assert x0 <= -61.3 - 2 * 0.01 + 1e-9 and x0 + dx * grid.width >= -60.5 + 2 * 0.01 - 1e-9
    assert y0 >= -3.3 + 0.02 - 1e-9 and y0 + dy * grid.height <= -3.6 - 0.02 + 1e-9
    assert round(x0 / dx) * dx == pytest.approx(x0)  # snapped: every scene gets this grid


def _wgs84_wkt():
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    return srs.ExportToWkt()


# Web Mercator (EPSG:3857) metres of a square near Manacapuru, and their lon/lat by the
# spherical Mercator inverse worked out by hand: lon = x / R, lat = 2 atan(e^(y / R)) - pi/2.
MERCATOR_R = 6378137.0
MERCATOR_SQUARE = [(-6780000.0, -380000.0), (-6770000.0, -380000.0), (-6770000.0, -370000.0),
                   (-6780000.0, -370000.0), (-6780000.0, -380000.0)]  # fmt: skip


def test_projected_coordinates_without_a_crs_are_named_with_the_fix(tmp_path):
    """A GeoJSON in metres that declares no CRS is read as lon/lat by OGR (RFC 7946): its
    y of -380 km cannot be a latitude, and the message says how to declare the CRS."""
    polygon = {"type": "Polygon", "coordinates": [[list(p) for p in MERCATOR_SQUARE]]}
    path = write_geojson(tmp_path / "metres.geojson", [feature(polygon, "lake")])
    with pytest.raises(InputError) as raised:
        read_aoi(path)
    message = str(raised.value)
    assert message.startswith(
        f"{path}: feature 'lake' (row 1) has coordinates x -6.78e+06..-6.77e+06"
    )
    assert "looks projected" in message and "-t_srs EPSG:4326" in message


def test_a_declared_projected_crs_is_reprojected_to_lonlat(tmp_path):
    from osgeo import ogr, osr

    mercator = osr.SpatialReference()
    mercator.ImportFromEPSG(3857)
    path = tmp_path / "metres.gpkg"
    source = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = source.CreateLayer("aoi", mercator, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    row = ogr.Feature(layer.GetLayerDefn())
    row.SetField("name", "lake")
    ring = ", ".join(f"{x} {y}" for x, y in MERCATOR_SQUARE)
    row.SetGeometry(ogr.CreateGeometryFromWkt(f"POLYGON (({ring}))"))
    layer.CreateFeature(row)
    del row, layer, source  # flush
    (lake,) = read_aoi(path)
    x, y = np.array(MERCATOR_SQUARE).T
    lon = np.degrees(x / MERCATOR_R)
    lat = np.degrees(2 * np.arctan(np.exp(y / MERCATOR_R)) - np.pi / 2)
    np.testing.assert_allclose(np.array(lake.geometry.exterior.coords), np.c_[lon, lat], atol=1e-9)

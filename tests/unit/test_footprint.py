"""Footprints of real products (tests/data/real-manifests, see its ATTRIBUTION.md) against
AOIs, checked by an independent oracle on the sphere.

The oracle knows nothing of lon/lat unwrapping or pole closure: a point is inside a
footprint ring (great-circle edges between the manifest's vertices) when the ring winds
once around it, the winding angle being summed from 3-D unit vectors (the signed angle
at the point between the great circles to consecutive vertices), and it lies in the
ring's hemisphere. AOIs are lon/lat boxes, sampled densely in lon/lat as eotrend reads
AOIs; a box reaches a footprint when a sample point lies inside it.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import shapely

from eotrend.geo.aoi import Feature
from eotrend.sentinel3 import footprint as fp
from eotrend.sources.entries import product_entry

DATA = Path(__file__).resolve().parents[1] / "data" / "real-manifests"
POLAR = (
    DATA / "S3A_OL_2_WFR____20210604T001016_20210604T001316_20210604T021918_0179_072_273_1440"
    "_MAR_O_NR_003.SEN3"
)
LAND = (
    DATA / "S3A_OL_2_LFR____20210523T003029_20210523T003329_20210524T050403_0179_072_102_1980"
    "_LN1_O_NT_002.SEN3"
)
EARTH_RADIUS_KM = 6371.0088
KM_PER_DEG = np.pi * EARTH_RADIUS_KM / 180.0


def xyz(lon, lat) -> np.ndarray:
    """Unit vectors (..., 3) of (lon, lat) degrees."""
    lam, phi = np.radians(np.asarray(lon, float)), np.radians(np.asarray(lat, float))
    return np.stack([np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)], -1)


def inside_sphere(ring: np.ndarray, lon, lat) -> np.ndarray:
    """The oracle: which points lie inside the spherical polygon ``ring`` (great-circle
    edges), by the winding number of the ring around each point."""
    vertices = xyz(ring[:, 0], ring[:, 1])
    centre = vertices[:-1].mean(axis=0)
    q = xyz(lon, lat)[..., None, :]
    qa, qb = np.cross(q, vertices[:-1]), np.cross(q, vertices[1:])
    turn = np.arctan2(np.sum(np.cross(qa, qb) * q, -1), np.sum(qa * qb, -1))
    return (np.abs(turn.sum(-1)) > np.pi) & (xyz(lon, lat) @ centre > 0)


def edge_distance_km(ring: np.ndarray, lon, lat) -> np.ndarray:
    """Great-circle distance (km) of points to the ring's edges, from 100 points along
    each edge (~3 km apart: an overestimate by at most ~1.5 km)."""
    vertices = xyz(ring[:, 0], ring[:, 1])
    pieces = []
    for a, b in itertools.pairwise(vertices):
        t = np.linspace(0.0, 1.0, 100)[:, None]
        pieces.append((1 - t) * a + t * b)
    dense = np.concatenate(pieces)
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    cosine = np.clip(xyz(lon, lat).reshape(-1, 3) @ dense.T, -1.0, 1.0)
    return np.degrees(np.arccos(cosine.max(axis=1))) * KM_PER_DEG


def box_samples(west, south, east, north, n=25) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.linspace(west, east, n), np.linspace(south, north, n))
    return lon.ravel(), lat.ravel()


def box(name, west, south, east, north) -> Feature:
    return Feature(name, shapely.box(west, south, east, north))


def reaches(ring, feature) -> bool:
    west = feature.geometry.bounds[0]
    return fp.ring_reaches(ring, [feature], west)


def mirrored(ring: np.ndarray) -> np.ndarray:
    """The ring reflected to the other hemisphere (lat -> -lat)."""
    return np.column_stack([ring[:, 0], -ring[:, 1]])


def shifted(ring: np.ndarray, by: float) -> np.ndarray:
    """The ring moved east by ``by`` degrees, longitudes back in [-180, 180)."""
    return np.column_stack([(ring[:, 0] + by + 180.0) % 360.0 - 180.0, ring[:, 1]])


def test_real_footprints_are_parsed_in_lon_lat_order():
    """The manifest's posList is "lat lon": 47 pairs, a closed ring;
    the polar frame reaches 88.98 N with longitudes -176.303 .. 179.972."""
    polar, land = fp.read_footprint(POLAR), fp.read_footprint(LAND)
    assert polar.shape == land.shape == (47, 2)
    assert np.array_equal(polar[0], polar[-1]) and np.array_equal(land[0], land[-1])
    assert tuple(polar[0]) == (144.816, 83.7866)
    assert tuple(land[0]) == (138.497, 52.4616)
    assert polar[:, 1].max() == 88.9826
    assert (polar[:, 0].min(), polar[:, 0].max()) == (-176.303, 179.972)
    assert (land[:, 1].min(), land[:, 1].max()) == (49.8938, 62.918)


def test_which_pole_a_ring_encloses():
    """The polar frame winds once around the North Pole; mirrored, around the South
    Pole; the mid-latitude frame, also when moved across the antimeridian, around none.
    Oracle: the spherical winding number at each pole."""
    polar, land = fp.read_footprint(POLAR), fp.read_footprint(LAND)
    for ring, pole in [
        (polar, 1),
        (mirrored(polar), -1),
        (land, 0),
        (shifted(land, 40.0), 0),
    ]:
        assert fp.enclosed_pole(ring) == pole
        assert inside_sphere(ring, [0.0, 0.0], [90.0, -90.0]).tolist() == [pole == 1, pole == -1]


@pytest.mark.parametrize(
    "ring_name", ["polar", "polar south", "land", "land across the antimeridian"]
)
def test_polygon_area_equals_the_spherical_area(ring_name):
    """The lon/lat polygon (closed over the pole for the polar frame) covers the same area
    as the spherical polygon of the ring: a ~1270 km x ~1200 km frame (179 s, the
    manifests' ``duration``). Oracle: the sum of the signed solid angles of the triangles
    (centre, a, b) over the ring's great-circle edges (Van Oosterom-Strackee), against the
    polygon's planar area in the cylindrical equal-area projection (lon, sin lat)."""
    ring = _ring(ring_name)
    v = xyz(ring[:, 0], ring[:, 1])
    c = v[:-1].mean(axis=0)
    c /= np.linalg.norm(c)
    a, b = v[:-1], v[1:]
    triple = np.einsum("ij,ij->i", np.broadcast_to(c, a.shape), np.cross(a, b))
    denominator = 1 + a @ c + b @ c + np.einsum("ij,ij->i", a, b)
    sphere = abs(2 * np.arctan2(triple, denominator).sum()) * EARTH_RADIUS_KM**2
    polygon = fp.footprint_polygon(ring)
    equal_area = shapely.transform(
        polygon, lambda p: np.column_stack([np.radians(p[:, 0]), np.sin(np.radians(p[:, 1]))])
    )
    planar = equal_area.area * EARTH_RADIUS_KM**2
    assert 1.2e6 < sphere < 1.8e6  # km2: one frame
    assert planar == pytest.approx(sphere, rel=2e-4)


def _ring(name: str) -> np.ndarray:
    polar, land = fp.read_footprint(POLAR), fp.read_footprint(LAND)
    return {
        "polar": polar,
        "polar south": mirrored(polar),
        "land": land,
        "land across the antimeridian": shifted(land, 40.0),
    }[name]


POLAR_CASES = [
    # name, box (west, south, east, north), reached
    ("near the pole, 89 N", (-100.0, 89.0, -80.0, 89.3), True),
    ("cap around the pole", (-180.0, 89.95, 180.0, 90.0), True),
    ("near the pole beyond the frame's first line", (40.0, 89.0, 80.0, 89.4), False),
    ("80 N on the far side of the pole", (60.0, 79.0, 90.0, 81.0), False),
    ("south of the frame, 70 N", (-150.0, 70.0, -120.0, 72.0), False),
    ("a lake in Europe", (10.0, 45.0, 10.5, 45.5), False),
    ("inside, west of the antimeridian", (175.0, 83.0, 180.0, 84.0), True),
    ("inside, east of the antimeridian", (-180.0, 83.0, -175.0, 84.0), True),
]


@pytest.mark.parametrize(
    ("name", "bounds", "reached"), POLAR_CASES, ids=[c[0] for c in POLAR_CASES]
)
def test_polar_frame_reaches_arctic_aois(name, bounds, reached):
    """The real polar frame S3A_OL_2_WFR____20210604T001016 (88.98 N, its ring around the
    North Pole) reaches AOIs at and near the pole on its side, and not those beside it.
    Oracle: every sample of the box inside (or every one outside, at least 10 km from
    the footprint's edges) by the spherical winding number. The same holds for the
    mirrored frame around the South Pole."""
    ring = fp.read_footprint(POLAR)
    lon, lat = box_samples(*bounds)
    inside = inside_sphere(ring, lon, lat)
    assert inside.all() if reached else not inside.any()
    if not reached:
        assert edge_distance_km(ring, lon, lat).min() > 10.0
    assert reaches(ring, box(name, *bounds)) is reached
    west, south, east, north = bounds
    assert reaches(mirrored(ring), box(name, west, -north, east, -south)) is reached


def test_aoi_split_at_the_antimeridian_is_reached():
    """An AOI given as two parts split at +-180 (as GIS tools write it), and the same
    AOI written with longitudes past 180, are reached by the polar frame that crosses the
    antimeridian there."""
    ring = fp.read_footprint(POLAR)
    split = shapely.MultiPolygon(
        [shapely.box(178.0, 83.0, 180.0, 83.5), shapely.box(-180.0, 83.0, -178.0, 83.5)]
    )
    past = shapely.box(178.0, 83.0, 182.0, 83.5)
    assert inside_sphere(ring, *box_samples(178.0, 83.0, 182.0, 83.5)).all()
    for geometry, lon0 in [(split, 178.0), (split, -178.0), (past, 178.0)]:
        assert fp.ring_reaches(ring, [Feature("am", geometry)], lon0)


def test_real_polar_product_is_kept_for_an_aoi_at_the_pole(tmp_path):
    """End to end on the real manifest: a manifest entry for the polar product and an AOI
    at 89 N is ok, not skipped as "does not reach the AOI" (the product folder holds the
    real manifest and empty netCDF files, as stactools ships it)."""
    product = tmp_path / POLAR.name
    product.mkdir()
    (product / "xfdumanifest.xml").write_bytes((POLAR / "xfdumanifest.xml").read_bytes())
    for name in ("geo_coordinates.nc", "tie_geo_coordinates.nc"):
        (product / name).touch()
    entry = product_entry(product, aoi=[box("pole", -100.0, 89.0, -80.0, 89.3)])
    assert (entry.status, entry.reason) == ("ok", "")
    entry = product_entry(product, aoi=[box("beyond", 40.0, 89.0, 80.0, 89.4)])
    assert entry.status == "skipped"


LAND_CASES = [
    ("inside, Sea of Okhotsk", (149.0, 55.0, 151.0, 57.0), True),
    ("across the east edge", (158.0, 55.0, 163.0, 57.0), True),
    ("east of the frame", (166.0, 55.0, 168.0, 57.0), False),
    ("south of the frame", (145.0, 45.0, 150.0, 47.0), False),
    ("around the whole frame", (130.0, 45.0, 170.0, 66.0), True),
]


@pytest.mark.parametrize(("name", "bounds", "reached"), LAND_CASES, ids=[c[0] for c in LAND_CASES])
def test_mid_latitude_frame_reaches_aois_inside(name, bounds, reached):
    """The real LFR frame S3A_OL_2_LFR____20210523T003029 (49.9-62.9 N, 138.5-164.0 E)
    reaches AOIs inside it, across its edge and around it, and not those beside it;
    moved 40 degrees east it crosses the antimeridian and reaches the moved AOIs, written
    with longitudes in [-180, 180). Oracle: samples of the box inside the spherical
    polygon (or none, 10 km clear of its edges; a box holding the whole frame: its
    vertices inside the box)."""
    ring = fp.read_footprint(LAND)
    lon, lat = box_samples(*bounds)
    inside = inside_sphere(ring, lon, lat)
    holds_frame = shapely.box(*bounds).contains(shapely.Polygon(ring))
    assert bool(inside.any() or holds_frame) is reached
    if not reached:
        assert edge_distance_km(ring, lon, lat).min() > 10.0
    assert reaches(ring, box(name, *bounds)) is reached
    moved = shifted(ring, 40.0)
    west, south, east, north = bounds
    parts = [
        shapely.box(max(w, -180.0), south, min(e, 180.0), north)
        for w, e in [(west + 40.0, east + 40.0), (west + 40.0 - 360.0, east + 40.0 - 360.0)]
        if min(e, 180.0) > max(w, -180.0)
    ]
    feature = Feature(name, parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts))
    assert fp.ring_reaches(moved, [feature], parts[0].bounds[0]) is reached


@pytest.mark.parametrize(
    "ring_name", ["polar", "polar south", "land", "land across the antimeridian"]
)
def test_random_aois_agree_with_the_sphere(ring_name):
    """Brute force: 120 random small lon/lat boxes around each frame (the real two, the
    polar one mirrored south, the land one moved across the antimeridian). A box with a
    sample inside the spherical polygon at least 3 km from its edges is reached; a box
    whose samples are all outside and at least 3 km from the edges is not. Boxes closer
    to an edge than that are left out (sampling and the 2.2 km steps along the edges
    decide them), and most boxes are decided."""
    ring = _ring(ring_name)
    rng = np.random.default_rng(11)
    v = xyz(ring[:, 0], ring[:, 1])[:-1].mean(axis=0)
    centre_lat = np.degrees(np.arcsin(v[2] / np.linalg.norm(v)))
    centre_lon = np.degrees(np.arctan2(v[1], v[0]))
    decided = {True: 0, False: 0}
    for _ in range(120):
        if abs(centre_lat) > 80:  # polar: anywhere within ~17 degrees of the pole
            lat = np.sign(centre_lat) * rng.uniform(73.0, 89.9)
            lon = rng.uniform(-180.0, 180.0)
        else:
            lat = centre_lat + rng.uniform(-9.0, 9.0)
            lon = centre_lon + rng.uniform(-18.0, 18.0)
        half = rng.uniform(0.02, 0.4)
        half_lon = min(half / max(np.cos(np.radians(lat)), 0.01), 60.0)
        bounds = (lon - half_lon, max(lat - half, -90.0), lon + half_lon, min(lat + half, 90.0))
        samples = box_samples(*bounds, n=15)
        inside = inside_sphere(ring, *samples)
        clear = edge_distance_km(ring, *samples) > 3.0
        if (inside & clear).any():
            expected = True
        elif not inside.any() and clear.all():
            expected = False
        else:
            continue
        assert reaches(ring, box("random", *bounds)) is expected, bounds
        decided[expected] += 1
    assert decided[True] > 20 and decided[False] > 20 and sum(decided.values()) > 100


def test_catalogue_footprint_of_a_polar_frame_keeps_the_product():
    """The catalogue pre-filter keeps the real polar frame for an AOI at 89 N when the
    catalogue gives its footprint as the plain lon/lat polygon of the manifest ring (what
    the catalogue returns for polar frames is unverified): that polygon misses the AOI
    in lon/lat, the ring on the sphere reaches it."""
    from eotrend.sources.cdse.source import _catalogue_reach

    ring = fp.read_footprint(POLAR)
    as_given = shapely.make_valid(shapely.Polygon(ring))
    pole = [box("pole", -100.0, 89.0, -80.0, 89.3)]
    assert not as_given.intersects(pole[0].geometry)
    assert _catalogue_reach(as_given, pole, -90.0) == "pole"
    europe = [box("Europe", 10.0, 45.0, 10.5, 45.5)]
    assert _catalogue_reach(as_given, europe, 10.0) == ""
    assert _catalogue_reach(None, pole, -90.0) is None
    # Both at once: the manifest's features name the one the frame reaches.
    assert _catalogue_reach(as_given, europe + pole, 10.0) == "pole"

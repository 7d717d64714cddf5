"""Sources: local products found, filtered by period and by footprint against the AOI."""

from __future__ import annotations

import pytest
import shapely

from eotrend.core.errors import InputError
from eotrend.geo.aoi import read_aoi
from eotrend.sentinel3.footprint import read_footprint
from eotrend.sources.local import local_products
from support.scenes import full_lonlat, small_scene, write_polygons


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Two products in nested folders (one near the AOI, one far away) and noise."""
    root = tmp_path_factory.mktemp("archive")
    near = small_scene(root / "2020", -60.9, -3.4, files={"wqsf.nc"})
    far = small_scene(root / "2021" / "x", 20.0, 45.0, files={"wqsf.nc"}, seed=2)
    (root / "notes.SEN3").mkdir()  # not a product name: ignored
    aoi = write_polygons(
        root / "aoi.geojson", [[[(-61.0, -3.5), (-60.8, -3.5), (-60.8, -3.3), (-61.0, -3.3)]]]
    )
    return root, near, far, aoi


def test_footprint_encloses_the_pixels(archive):
    _, near, _, _ = archive
    ring = read_footprint(near)
    footprint = shapely.Polygon(ring).buffer(1e-3)
    lon, lat = full_lonlat(near)
    inside = shapely.contains_xy(footprint, lon, lat)
    assert inside.mean() > 0.99  # the footprint follows the swath edges


def test_local_products_marks_scenes_that_miss_the_aoi(archive):
    root, near, far, aoi = archive
    entries = {e.path: e for e in local_products(root, "2016-01-01", "2030-01-01", read_aoi(aoi))}
    assert set(entries) == {str(near), str(far)}
    assert entries[str(near)].status == "ok"
    assert entries[str(far)].status == "skipped"
    assert "does not reach the AOI" in entries[str(far)].reason


def test_local_products_period_filter(archive):
    """Both products are sensed on 2020-06-01: inside one period, outside the other."""
    root, _, _, _ = archive
    later = local_products(root, "2021-01-01", "2030-01-01")
    assert [e.status for e in later] == ["skipped", "skipped"]
    assert all("sensed outside 2021-01-01..2030-01-01" in e.reason for e in later)
    around = local_products(root, "2020-06-01", "2020-06-01")
    assert [e.status for e in around] == ["ok", "ok"]


def test_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"holds no \.SEN3 product folder"):
        local_products(tmp_path, "2016-01-01", "2030-01-01")

"""extract: kept pixels, values and flags against independent oracles."""

from __future__ import annotations

import json

import netCDF4
import numpy as np
import pytest
import shapely

from eotrend.aoi import read_aoi
from eotrend.extraction import extract_scene, quality_rule
from eotrend.locating import window_for
from scenes import full_lonlat, small_scene, write_polygons

# Bit numbers from olci-format.md §7.2, written out independently of any file.
AC_FAIL_BIT = {"classic": 17, "shifted": 18}
CLOUD_BIT = 3
HOLE = [(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7)]


@pytest.fixture(scope="module", params=["classic", "shifted"])
def layout_scene(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    product = small_scene(
        folder,
        -60.9,
        -3.4,
        layout=request.param,
        seed=5,
        files={"wqsf.nc", "Oa08_reflectance.nc", "tsm_nn.nc", "chl_oc4me.nc"},
    )
    lon, lat = full_lonlat(product)
    # A polygon with a hole plus a second feature that is a two-part MultiPolygon.
    r, c = np.array(lon.shape) // 2
    lon0, lat0 = lon[r, c] + 0.00123, lat[r, c] + 0.00071  # no vertex on a pixel centre

    def box(x0, y0, size, rings=()):
        outer = [
            (lon0 + x0, lat0 + y0),
            (lon0 + x0 + size, lat0 + y0),
            (lon0 + x0 + size, lat0 + y0 + size),
            (lon0 + x0, lat0 + y0 + size),
        ]
        holes = [[(lon0 + x0 + u * size, lat0 + y0 + v * size) for u, v in ring] for ring in rings]
        return [outer, *holes]

    aoi = write_polygons(folder / "aoi.geojson", [box(-0.2, -0.2, 0.2, [HOLE])], names=["lake"])
    multi = shapely.MultiPolygon(
        [shapely.Polygon(box(0.05, 0.0, 0.08)[0]), shapely.Polygon(box(0.05, 0.12, 0.06)[0])]
    )
    data = json.loads(aoi.read_text())
    data["features"].append(
        {
            "type": "Feature",
            "properties": {"name": "pair"},
            "geometry": shapely.geometry.mapping(multi),
        }
    )
    aoi.write_text(json.dumps(data))
    return request.param, product, aoi, lon, lat


def oracle_values(product, filename, variable):
    """netCDF4's own mask-and-scale decoding of a whole variable (float64, NaN fill)."""
    with netCDF4.Dataset(product / filename) as ds:
        return np.ma.filled(ds[variable][:].astype(np.float64), np.nan)


def test_kept_pixels_equal_brute_force_point_in_polygon(layout_scene):
    _, product, aoi, lon, lat = layout_scene
    features = read_aoi(aoi)
    result = extract_scene(
        product, features, window_for(product, aoi), ["Oa08_reflectance"], "none", threads=2
    )
    for feature in features:
        inside = shapely.contains_xy(feature.geometry, lon, lat)
        expected = set(zip(*np.nonzero(inside), strict=True))
        got = result.pixels[result.pixels["feature"] == feature.name]
        assert set(zip(got["row"], got["col"], strict=True)) == expected
        assert len(expected) > 20


def test_values_and_flags_equal_the_oracle(layout_scene):
    layout, product, aoi, _, _ = layout_scene
    features = read_aoi(aoi)
    rule = {"require": [], "require_any": [], "exclude": ["AC_FAIL", "CLOUD"]}
    variables = ["Oa08_reflectance", "TSM_NN", "CHL_OC4ME"]
    result = extract_scene(product, features, window_for(product, aoi), variables, rule, threads=2)
    pixels = result.pixels
    rows, cols = pixels["row"].to_numpy(), pixels["col"].to_numpy()
    refl = oracle_values(product, "Oa08_reflectance.nc", "Oa08_reflectance")[rows, cols]
    np.testing.assert_allclose(pixels["Oa08_reflectance"], refl, rtol=1e-6, equal_nan=True)
    for filename, variable in (("tsm_nn.nc", "TSM_NN"), ("chl_oc4me.nc", "CHL_OC4ME")):
        physical = 10.0 ** oracle_values(product, filename, variable)[rows, cols]
        np.testing.assert_allclose(pixels[variable], physical, rtol=1e-5, equal_nan=True)
    assert result.units["TSM_NN"] == "g.m-3" and result.units["CHL_OC4ME"] == "mg.m-3"
    with netCDF4.Dataset(product / "wqsf.nc") as ds:
        ds.set_auto_maskandscale(False)
        raw = np.asarray(ds["WQSF"][:])[rows, cols].astype(np.uint64)
    np.testing.assert_array_equal(pixels["flags"].to_numpy(np.uint64), raw)
    bad = (1 << AC_FAIL_BIT[layout]) | (1 << CLOUD_BIT)
    expected_valid = (raw & np.uint64(bad)) == 0
    np.testing.assert_array_equal(pixels["valid"].to_numpy(), expected_valid)


def test_water_preset_needs_water():
    rule = quality_rule("water")
    assert rule["require_any"] == ["WATER", "INLAND_WATER"]
    assert "CLOUD" in rule["exclude"] and "RWNEG_O8" in rule["exclude"]


def test_unknown_flag_name_is_an_error(layout_scene):
    from eotrend.errors import InputError

    _, product, aoi, _, _ = layout_scene
    with pytest.raises(InputError, match="no flag CLOUDY"):
        extract_scene(
            product,
            read_aoi(aoi),
            window_for(product, aoi),
            ["Oa08_reflectance"],
            {"exclude": ["CLOUDY"]},
            threads=1,
        )

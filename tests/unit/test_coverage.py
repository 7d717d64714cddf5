"""Coverage of AOI features by a scene, against independent geometry: the swath outline
from the full-resolution geo coordinates, areas from an equirectangular plane scaled by
cos(latitude) (exact enough for features of a few km), pixel counts by hand."""

from __future__ import annotations

import shutil

import netCDF4
import numpy as np
import pandas as pd
import pytest
import shapely

from eotrend.geo.aoi import read_aoi
from eotrend.sentinel3.extract import extract_scene, feature_statistics
from eotrend.sentinel3.locate import window_for
from eotrend.stages.timeseries import collect_statistics
from support.scenes import full_lonlat, small_scene, write_polygons


def full_swath_outline(lon, lat):
    """The swath outline from every edge pixel of the full-resolution grid (lon/lat),
    moved out by half a pixel (to the outer pixels' edges) by linear extrapolation."""

    def widen(a):
        a = np.vstack([1.5 * a[0] - 0.5 * a[1], a, 1.5 * a[-1] - 0.5 * a[-2]])
        return np.column_stack([1.5 * a[:, 0] - 0.5 * a[:, 1], a, 1.5 * a[:, -1] - 0.5 * a[:, -2]])

    lon, lat = widen(lon), widen(lat)
    ring = np.concatenate([
        np.column_stack([lon[:, 0], lat[:, 0]]),
        np.column_stack([lon[-1, :], lat[-1, :]]),
        np.column_stack([lon[::-1, -1], lat[::-1, -1]]),
        np.column_stack([lon[0, ::-1], lat[0, ::-1]]),
    ])  # fmt: skip
    return shapely.Polygon(ring)


def plane_area(geometry, lat0):
    """Area in an equirectangular plane scaled by cos(lat0) (degrees², relative)."""
    return shapely.transform(geometry, lambda xy: xy * [np.cos(np.radians(lat0)), 1.0]).area


def extract_box(product, folder, name, box, variables=("Oa08_reflectance",)):
    """Extract one box-shaped feature ``name`` from ``product`` (quality none); returns
    the extract and its statistics."""
    aoi = write_polygons(folder / f"{name}.geojson", [[list(box.exterior.coords)[:-1]]], [name])
    features = read_aoi(aoi)
    result = extract_scene(product, features, window_for(product, aoi), list(variables), "none")
    return result, feature_statistics(result, features)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge")
    product = small_scene(folder, 10.0, 45.0, cloud_fraction=0.0, seed=2)
    return folder, product, *full_lonlat(product)


def test_a_feature_half_outside_the_swath_is_partial(scene):
    """Fact: a lake on the swath edge is seen in part: the scene reports the fraction it
    observes and marks the feature `partial` instead of `ok`."""
    folder, product, lon, lat = scene
    row = lon.shape[0] // 2
    x, y = lon[row, -1], lat[row, -1]  # a pixel on the last column (swath edge)
    box = shapely.box(x - 0.03, y - 0.02, x + 0.03, y + 0.02)
    result, stats = extract_box(product, folder, "edge", box)
    swath = full_swath_outline(lon, lat)
    want = plane_area(box.intersection(swath), y) / plane_area(box, y)
    assert 0.3 < want < 0.7
    assert stats["coverage"].iloc[0] == pytest.approx(want, abs=0.01)
    assert stats["note"].iloc[0] == "partial"
    assert result.areas["edge"] == pytest.approx(
        plane_area(box, y) * (np.pi / 180 * 6371.0) ** 2, rel=0.01
    )


def test_a_feature_inside_the_swath_is_fully_covered(scene):
    folder, product, lon, lat = scene
    x, y = lon[120, 128], lat[120, 128]
    box = shapely.box(x - 0.05, y - 0.05, x + 0.05, y + 0.05)
    result, stats = extract_box(product, folder, "in", box)
    invalid = (result.pixels["flags"] & np.uint64(1)) != 0  # INVALID is bit 0
    assert stats["coverage"].iloc[0] == pytest.approx(1.0 - invalid.mean(), abs=1e-12)
    assert stats["note"].iloc[0] == "ok"


def test_invalid_pixels_are_not_observed(scene, tmp_path):
    """Fact: INVALID marks pixels without a measurement (every variable fill there): a
    feature half under them is half observed."""
    _, product, lon, lat = scene
    copy = shutil.copytree(product, tmp_path / product.name)
    x, y = lon[120, 128], lat[120, 128]
    box = shapely.box(x - 0.05, y - 0.05, x + 0.05, y + 0.05)
    aoi = write_polygons(tmp_path / "a.geojson", [[list(box.exterior.coords)[:-1]]], ["in"])
    with netCDF4.Dataset(copy / "wqsf.nc", "a") as ds:
        ds.set_auto_maskandscale(False)
        flags = np.asarray(ds["WQSF"][:])
        flags[:120] |= np.uint64(1)  # INVALID on the first half of the rows
        ds["WQSF"][:] = flags
    features = read_aoi(aoi)
    result = extract_scene(copy, features, window_for(copy, aoi), ["Oa08_reflectance"], "none")
    pixels = result.pixels.to_pandas()
    want = 1.0 - ((flags[pixels["row"], pixels["col"]] & np.uint64(1)) != 0).mean()
    assert 0.3 < want < 0.7
    assert result.coverage["in"] == pytest.approx(want, abs=1e-12)


def test_coverage_near_the_pole(tmp_path):
    """A scene over the North Pole: a feature around its centre is wholly observed (the
    equal-area plane is centred on the feature, so no lon/lat seam matters)."""
    product = small_scene(tmp_path, 30.0, 89.6, cloud_fraction=0.0, seed=1)
    lon, lat = full_lonlat(product)
    ring = [(lon[r, c], lat[r, c]) for r, c in ((100, 100), (100, 160), (140, 160), (140, 100))]
    aoi = write_polygons(tmp_path / "polar.geojson", [[ring]], ["polar"])
    features = read_aoi(aoi)
    result = extract_scene(
        product, features, window_for(product, aoi), ["Oa08_reflectance"], "none"
    )
    invalid = (result.pixels["flags"] & np.uint64(1)) != 0
    assert len(result.pixels) > 100
    assert result.coverage["polar"] == pytest.approx(1.0 - invalid.mean(), abs=1e-9)


def test_time_series_leaves_out_features_observed_below_min_coverage(scene, tmp_path):
    """The edge scene's statistics stay in its row, noted, but out of the time series."""
    _, product, lon, lat = scene
    row = lon.shape[0] // 2
    x, y = lon[row, -1], lat[row, -1]
    edge = shapely.box(x - 0.03, y - 0.02, x + 0.03, y + 0.02)
    inner = shapely.box(lon[120, 128] - 0.05, lat[120, 128] - 0.05, lon[120, 128] + 0.05,
                        lat[120, 128] + 0.05)  # fmt: skip
    rings = [[list(g.exterior.coords)[:-1]] for g in (edge, inner)]
    aoi = write_polygons(tmp_path / "two.geojson", rings, ["edge", "inner"])
    features = read_aoi(aoi)
    result = extract_scene(product, features, window_for(product, aoi), ["TSM_NN"], "none")
    stats = feature_statistics(result, features)
    stats.to_csv(tmp_path / "stats.csv", index=False)
    table = collect_statistics([tmp_path / "stats.csv"], tmp_path / "ts.csv", min_coverage=0.9)
    table = table.set_index("feature")
    assert table.loc["edge", "note"] == "low_coverage"
    assert np.isnan(table.loc["edge", "TSM_NN_g.m-3_median"])
    assert table.loc["edge", "coverage"] == pytest.approx(stats["coverage"].iloc[0])
    assert table.loc["inner", "note"] == "ok" and table.loc["inner", "TSM_NN_g.m-3_count"] > 10
    kept = collect_statistics([tmp_path / "stats.csv"], tmp_path / "all.csv", min_coverage=0.0)
    assert kept.set_index("feature")["note"].to_dict() == {"edge": "partial", "inner": "ok"}


def test_the_run_summary_names_the_scenes_left_out(tmp_path):
    """Counted by hand: scene b is in the series through its lake (partial counts), its
    river observed below min_coverage is left out; scene c only through nothing."""
    from eotrend.stages.summary import run_summary

    pd.DataFrame({"name": ["a", "b", "c"], "status": "ok", "reason": ""}).to_csv(
        tmp_path / "m.csv", index=False
    )
    pd.DataFrame(
        {
            "scene": ["a", "a", "b", "b", "c", "c"],
            "feature": ["lake", "river"] * 3,
            "note": ["ok", "ok", "partial", "low_coverage", "low_coverage", "low_coverage"],
        }
    ).to_csv(tmp_path / "t.csv", index=False)
    summary = run_summary(tmp_path / "m.csv", tmp_path / "t.csv", tmp_path / "s.csv")
    rows = {(r.stage, r.outcome, r.reason): r.scenes for r in summary.itertuples()}
    assert rows[("extract", "ok", "")] == 2 and rows[("extract", "low_coverage", "")] == 1
    assert rows[("timeseries", "left out", "river: observed below min_coverage")] == 2
    assert rows[("timeseries", "left out", "lake: observed below min_coverage")] == 1

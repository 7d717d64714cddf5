"""extract: kept pixels, values, flags, angles, statistics and outputs against independent
oracles (brute-force point-in-polygon over the whole grid, netCDF4's own decoding, the
generator's truth, bit numbers typed from public sources (below), numpy statistics)."""

from __future__ import annotations

import json
import shutil
import sys

import netCDF4
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely

from eotrend.core.errors import InputError
from eotrend.geo import raster
from eotrend.geo.aoi import Feature, read_aoi
from eotrend.sentinel3.extract import (
    _summary,
    extract_scene,
    extract_to_files,
    feature_statistics,
    stats_column,
    value_column,
)
from eotrend.sentinel3.layout import count_columns
from eotrend.sentinel3.locate import window_for
from eotrend.sentinel3.quality import LAND_EXCLUDE, preset_rule
from eotrend.sentinel3.reader import Window, open_product
from eotrend.synthetic.fields import water_truth
from eotrend.synthetic.geometry import angles_truth
from eotrend.synthetic.spec import SceneSpec, decimal_year
from support.commands import run
from support.scenes import WHEN, full_lonlat, small_scene, write_polygons

# Bit numbers, written out independently of any file: WQSF classic (sen3r's commons.py),
# shifted (satpy's test_olci_nc.py); LQSF (the LFR mapping of CSC-DPR/eopf-cpm).
BITS = {
    "classic": {"INVALID": 0, "WATER": 1, "LAND": 2, "CLOUD": 3, "CLOUD_MARGIN": 24,
                "INLAND_WATER": 5, "AC_FAIL": 17, "OC4ME_FAIL": 18, "OCNN_FAIL": 19},
    "shifted": {"INVALID": 0, "WATER": 1, "LAND": 2, "CLOUD": 3, "CLOUD_MARGIN": 24,
                "INLAND_WATER": 5, "AC_FAIL": 18, "OC4ME_FAIL": 19, "OCNN_FAIL": 20},
}  # fmt: skip
LQSF = (
    ("INVALID", 0), ("WATER", 1), ("LAND", 2), ("COASTLINE", 21), ("CLOUD", 3),
    ("CLOUD_AMBIGUOUS", 23), ("CLOUD_MARGIN", 24), ("SNOW_ICE", 4), ("INLAND_WATER", 5),
    ("TIDAL", 6), ("COSMETIC", 7), ("SUSPECT", 8), ("HISOLZEN", 9), ("SATURATED", 10),
    ("WV_FAIL", 11), ("GIFAPAR_FAIL", 12), ("OTCI_FAIL", 13),
)  # fmt: skip
HOLE = [(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7)]
REFLECTANCES = [f"Oa{b:02d}_reflectance" for b in (*range(1, 13), 16, 17, 18, 21)]
LOG10 = ["CHL_OC4ME", "CHL_NN", "TSM_NN", "ADG443_NN", "KD490_M07"]
EVERY_VARIABLE = [*REFLECTANCES, *LOG10, "PAR", "T865", "A865", "IWV"]
FILES = {
    **{v: f"{v}.nc" for v in REFLECTANCES},
    "CHL_OC4ME": "chl_oc4me.nc", "CHL_NN": "chl_nn.nc", "TSM_NN": "tsm_nn.nc",
    "ADG443_NN": "iop_nn.nc", "KD490_M07": "trsp.nc", "PAR": "par.nc", "T865": "w_aer.nc",
    "A865": "w_aer.nc", "IWV": "iwv.nc",
}  # fmt: skip
GRID = {"crs": "EPSG:4326", "resolution": 0.01, "max_distance_m": 600, "margin": 2}


def aoi_shapes(lon0, lat0):
    """A polygon with a hole ("lake") and a two-part MultiPolygon ("pair") near lon0, lat0."""

    def box(x0, y0, size):
        return shapely.box(lon0 + x0, lat0 + y0, lon0 + x0 + size, lat0 + y0 + size)

    outer = box(-0.2, -0.2, 0.2)
    hole = [(lon0 - 0.2 + u * 0.2, lat0 - 0.2 + v * 0.2) for u, v in HOLE]
    lake = shapely.Polygon(outer.exterior.coords, [hole])
    pair = shapely.MultiPolygon([box(0.05, 0.0, 0.08), box(0.05, 0.12, 0.06)])
    return {"lake": lake, "pair": pair}


def write_aoi(path, shapes):
    features = [
        {"type": "Feature", "properties": {"name": name}, "geometry": shapely.geometry.mapping(g)}
        for name, g in shapes.items()
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def whole(product):
    """The whole image as a window."""
    info = open_product(product)
    return Window(0, info.rows, 0, info.columns)


@pytest.fixture(scope="module", params=["classic", "shifted"])
def layout_scene(request, tmp_path_factory):
    """A scene of each WQSF layout whose AOI (lake with a hole + two-part pair) is its
    inland water; no vertex on a pixel centre."""
    folder = tmp_path_factory.mktemp(request.param)
    spec = {"lon": -60.9, "lat": -3.4}
    lon0, lat0 = spec["lon"] + 0.00123, spec["lat"] + 0.00071
    shapes = aoi_shapes(lon0, lat0)
    product = small_scene(
        folder, spec["lon"], spec["lat"], layout=request.param, seed=10,
        water=list(shapes.values()),
    )  # fmt: skip
    aoi = write_aoi(folder / "aoi.geojson", shapes)
    lon, lat = full_lonlat(product)
    return request.param, product, aoi, lon, lat


def oracle_values(product, filename, variable):
    """netCDF4's own mask-and-scale decoding of a whole variable (float64, NaN fill)."""
    with netCDF4.Dataset(product / filename) as ds:
        return np.ma.filled(ds[variable][:].astype(np.float64), np.nan)


def raw_values(product, filename, variable):
    with netCDF4.Dataset(product / filename) as ds:
        ds.set_auto_maskandscale(False)
        return np.asarray(ds[variable][:]), getattr(ds[variable], "_FillValue", None)


def test_kept_pixels_equal_brute_force_point_in_polygon(layout_scene):
    _, product, aoi, lon, lat = layout_scene
    features = read_aoi(aoi)
    result = extract_scene(
        product, features, window_for(product, aoi), ["Oa08_reflectance"], "none", threads=2
    )
    pixels = result.pixels.to_pandas()
    for feature in features:
        inside = shapely.contains_xy(feature.geometry, lon, lat)
        expected = set(zip(*np.nonzero(inside), strict=True))
        got = pixels[pixels["feature"] == feature.name]
        assert set(zip(got["row"], got["col"], strict=True)) == expected
        assert len(expected) > 20
        np.testing.assert_array_equal(got["lon"], lon[got["row"], got["col"]])
    assert (pixels["feature"] == "pair").sum() > 0  # both parts counted below
    pair = shapely.MultiPolygon(features[1].geometry)
    for part in pair.geoms:
        assert shapely.contains_xy(part, lon, lat).sum() > 5


def test_values_and_flags_equal_the_oracle(layout_scene):
    layout, product, aoi, _, _ = layout_scene
    features = read_aoi(aoi)
    rule = {"require": [], "require_any": [], "exclude": ["AC_FAIL", "CLOUD"]}
    result = extract_scene(
        product, features, whole(product), EVERY_VARIABLE, rule, product_masks=False, threads=2
    )
    pixels = result.pixels.to_pandas()
    rows, cols = pixels["row"].to_numpy(), pixels["col"].to_numpy()
    raw, _ = raw_values(product, "wqsf.nc", "WQSF")
    raw = raw[rows, cols].astype(np.uint64)
    np.testing.assert_array_equal(pixels["flags"].to_numpy(np.uint64), raw)
    bad = np.uint64((1 << BITS[layout]["AC_FAIL"]) | (1 << BITS[layout]["CLOUD"]))
    valid = (raw & bad) == 0
    np.testing.assert_array_equal(pixels["valid"].to_numpy(), valid)
    assert 0 < valid.mean() < 1
    for variable in EVERY_VARIABLE:  # values where the rule keeps the pixel, else NaN
        want = oracle_values(product, FILES[variable], variable)[rows, cols]
        if variable in LOG10:
            want = 10.0**want
        want[~valid] = np.nan
        got = pixels[value_column(variable)].to_numpy(np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, equal_nan=True)
    assert result.units["TSM_NN"] == "g.m-3" and result.units["CHL_OC4ME"] == "mg.m-3"
    assert result.columns["TSM_NN"] == "TSM_NN_g.m-3"


def test_water_values_equal_the_generator_truth(layout_scene):
    """Valid water pixels hold the generator's truth up to packing: clouds, cloud margins,
    AC failures and other corruptions are all rejected by the water preset."""
    layout, product, aoi, _, _ = layout_scene
    features = read_aoi(aoi)
    variables = [*REFLECTANCES, *LOG10, "T865", "A865"]
    result = extract_scene(product, features, whole(product), variables, "water", threads=2)
    pixels = result.pixels.to_pandas()
    good = pixels[pixels["valid"]]
    assert len(good) > 100
    t = decimal_year(WHEN)
    for variable in variables:
        truth = water_truth(variable, good["lon"], good["lat"], t)
        got = good[value_column(variable)].to_numpy(np.float64)
        has = ~np.isnan(got)  # NaN where the variable's own mask rejects the pixel
        assert has.mean() > 0.5, variable
        # Half a packing step (log10 0.015 or 0.02; reflectance 1.83e-5; T865/A865 1e-4)
        # plus the truth's own float32 jitter (about 1e-4 of its fields).
        if variable in LOG10:
            np.testing.assert_allclose(np.log10(got[has]), np.log10(truth[has]), atol=0.0101)
        elif variable in REFLECTANCES:
            np.testing.assert_allclose(got[has], truth[has], atol=1.2e-5)
        else:
            np.testing.assert_allclose(got[has], truth[has], atol=1.2e-4)
    raw, _ = raw_values(product, "wqsf.nc", "WQSF")
    flags = raw[good["row"], good["col"]].astype(np.uint64)
    inland = np.uint64(1 << BITS[layout]["INLAND_WATER"])
    assert ((flags & inland) != 0).all()  # the AOI is the scene's inland water


def test_fill_is_nan_in_every_variable(layout_scene):
    _, product, aoi, _, _ = layout_scene
    result = extract_scene(
        product, read_aoi(aoi), whole(product), EVERY_VARIABLE, "none", product_masks=False
    )
    pixels = result.pixels.to_pandas()
    rows, cols = pixels["row"].to_numpy(), pixels["col"].to_numpy()
    for variable in EVERY_VARIABLE:
        raw, fill = raw_values(product, FILES[variable], variable)
        is_fill = raw[rows, cols] == fill
        got = pixels[value_column(variable)].to_numpy()
        np.testing.assert_array_equal(np.isnan(got), is_fill, err_msg=variable)
        assert is_fill.any(), variable  # each variable has fills inside the AOI


def test_product_masks_blank_a_product_where_it_failed(layout_scene, tmp_path):
    """Where OC4ME_FAIL is set, CHL_OC4ME is NaN with product masks on, kept with them off
    (the flag is set here by hand on pixels that have a value)."""
    layout, product, aoi, _, _ = layout_scene
    copy = shutil.copytree(product, tmp_path / product.name)
    features = read_aoi(aoi)
    with netCDF4.Dataset(copy / "wqsf.nc", "a") as ds:
        ds.set_auto_maskandscale(False)
        flags = np.asarray(ds["WQSF"][:])
        target = np.zeros(flags.shape, bool)
        target[::3] = True
        flags[target] |= np.uint64(1 << BITS[layout]["OC4ME_FAIL"])
        ds["WQSF"][:] = flags
    variables = ["CHL_OC4ME", "TSM_NN"]
    on = extract_scene(copy, features, whole(copy), variables, "none").pixels.to_pandas()
    off = extract_scene(copy, features, whole(copy), variables, "none", product_masks=False)
    off = off.pixels.to_pandas()
    chl = value_column("CHL_OC4ME")
    failed = target[on["row"], on["col"]]
    assert np.isnan(on[chl][failed]).all() and off[chl][failed].notna().sum() > 50
    pd.testing.assert_series_equal(on[chl][~failed], off[chl][~failed])
    tsm = value_column("TSM_NN")
    pd.testing.assert_series_equal(on[tsm], off[tsm])  # OCNN_FAIL is not OC4ME_FAIL


def test_angles_match_the_generator(tmp_path):
    """Angle columns at the kept pixels of a full-width scene match the full-resolution
    truth, including across the OAA flip at the nadir column."""
    lon0, lat0 = -28.03, 45.0
    product = small_scene(tmp_path, lon0, lat0, rows=30, columns=4865, heading=270.0)
    box = shapely.box(lon0 - 0.05, lat0 - 0.6, lon0 + 0.05, lat0 + 0.6)  # across nadir
    aoi = write_aoi(tmp_path / "aoi.geojson", {"strip": box})
    result = extract_scene(
        product, read_aoi(aoi), whole(product), ["OAA", "OZA", "SZA", "SAA"], "none"
    )
    pixels = result.pixels.to_pandas()
    spec = SceneSpec(lon0, lat0, WHEN, rows=30, columns=4865, heading_deg=270.0)
    truth = angles_truth(spec)
    rows, cols = pixels["row"].to_numpy(), pixels["col"].to_numpy()
    assert cols.min() < 2432 < cols.max()  # both sides of nadir
    for angle in ("OZA", "SZA"):
        np.testing.assert_allclose(pixels[angle], truth[angle][rows, cols], atol=0.01)
    for angle in ("OAA", "SAA"):
        want = truth[angle][rows, cols]
        defined = truth["OZA"][rows, cols] > 0
        diff = np.abs((pixels[angle].to_numpy() - want + 180) % 360 - 180)
        assert diff[defined].max() < 0.02, angle
    assert result.units["OAA"] == "degrees"


def test_antimeridian(tmp_path):
    """A scene and a polygon across 180 deg: kept pixels equal a brute force in [0, 360)."""
    product = small_scene(
        tmp_path, 179.95, 64.0, rows=200, files={"Oa08_reflectance.nc", "wqsf.nc"}
    )
    ring = [(179.7, 63.9), (-179.8, 63.85), (-179.75, 64.1), (179.8, 64.15)]
    aoi = write_polygons(tmp_path / "aoi.geojson", [[ring]], names=["dateline"])
    lon, lat = full_lonlat(product)
    assert (lon > 179.5).any() and (lon < -179.5).any()
    shifted = shapely.Polygon([(x % 360, y) for x, y in ring])
    expected = set(zip(*np.nonzero(shapely.contains_xy(shifted, lon % 360, lat)), strict=True))
    result = extract_scene(
        product, read_aoi(aoi), whole(product), ["Oa08_reflectance"], "none", threads=1
    )
    got = set(zip(result.pixels["row"], result.pixels["col"], strict=True))
    assert got == expected and len(expected) > 50
    assert ((result.pixels["lon"] >= -180) & (result.pixels["lon"] <= 180)).all()


def test_statistics_equal_numpy(layout_scene):
    _, product, aoi, _, _ = layout_scene
    features = read_aoi(aoi)
    variables = ["Oa08_reflectance", "TSM_NN", "OAA"]
    result = extract_scene(product, features, whole(product), variables, "water")
    stats = feature_statistics(result, features).set_index("feature")
    pixels = result.pixels.to_pandas()
    for feature in features:
        own = pixels[pixels["feature"] == feature.name]
        good = own[own["valid"]]
        row = stats.loc[feature.name]
        assert row["count"] == len(own) and row["valid_count"] == len(good) > 10
        assert row["fraction_valid"] == pytest.approx(len(good) / len(own))
        assert row["note"] == "ok"
        for variable in ("Oa08_reflectance", "TSM_NN"):
            values = good[value_column(variable)].dropna().to_numpy(np.float64)
            assert row[stats_column(variable, "count")] == len(values)
            assert row[stats_column(variable, "median")] == pytest.approx(np.median(values))
            assert row[stats_column(variable, "mean")] == pytest.approx(values.mean())
            assert row[stats_column(variable, "std")] == pytest.approx(np.std(values, ddof=1))
            assert row[stats_column(variable, "p25")] == pytest.approx(np.quantile(values, 0.25))
            assert row[stats_column(variable, "p75")] == pytest.approx(np.quantile(values, 0.75))
        tsm = good["TSM_NN_g.m-3"].dropna().to_numpy(np.float64)
        assert row["TSM_NN_g.m-3_gmean"] == pytest.approx(np.exp(np.log(tsm).mean()))
        assert "Oa08_reflectance_gmean" not in stats.columns


def test_azimuth_statistics_wrap():
    stats = _summary(np.array([179.0, -179.0, 178.0, -178.5]), azimuth=True, log10=False)
    # Unwrapped: 179, 181, 178, 181.5 -> median 180, mean 179.875, p25 178.75.
    assert stats["median"] == pytest.approx(-180.0)
    assert stats["mean"] == pytest.approx(179.875)
    assert stats["p25"] == pytest.approx(178.75) and stats["p75"] == pytest.approx(-178.875)
    assert stats["std"] == pytest.approx(np.std([179, 181, 178, 181.5], ddof=1))


def test_column_names():
    assert value_column("TSM_NN") == "TSM_NN_g.m-3"
    assert value_column("CHL_OC4ME") == "CHL_OC4ME_mg.m-3"
    assert value_column("KD490_M07", "lg(re m-1)") == "KD490_M07_m-1"
    assert value_column("Oa08_reflectance") == "Oa08_reflectance"
    assert value_column("PAR", "µEinstein.m-2.s-1") == "PAR"
    assert stats_column("CHL_NN", "median") == "CHL_NN_mg.m-3_median"


def test_outputs_are_written_and_self_describing(layout_scene, tmp_path):
    _, product, aoi, _, _ = layout_scene
    variables = ["Oa08_reflectance", "TSM_NN", "SZA"]
    stats = extract_to_files(
        product, read_aoi(aoi), window_for(product, aoi),
        tmp_path / "p.parquet", tmp_path / "s.csv",
        tmp_path / "grid", variables, "water", GRID, provenance={"EOTREND_VERSION": "x"},
    )  # fmt: skip
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.schema.field("TSM_NN_g.m-3").metadata[b"unit"] == b"g.m-3"
    assert table.schema.field("lat").metadata[b"unit"] == b"degrees_north"
    assert str(table.schema.field("flags").type) == "uint64"
    meta = json.loads(table.schema.metadata[b"eotrend"])
    assert meta["flag_variable"] == "WQSF"
    for variable in variables:  # the preset, without the flags the 2018/2024 tables lack
        rule = preset_rule("water", variable).as_dict()
        rule["exclude"] = [f for f in rule["exclude"] if f not in ("CLOUD_SHADOW", "BRDF_OOR")]
        assert meta["quality_rules"][variable] == rule
    assert "OCNN_FAIL" in meta["quality_rules"]["TSM_NN"]["exclude"]
    assert meta["columns"]["TSM_NN"] == "TSM_NN_g.m-3"
    c4 = ["CLOUD_SHADOW", "BRDF_OOR"]  # Collection 4 flags: named in the metadata
    judged = meta["quality_rules"]  # the variables and the angles SZA needs (SAA)
    assert meta["unapplied_flags"] == {v: c4[:1] if v == "TSM_NN" else c4 for v in judged}
    # The CSV is written without pandas: the text pandas writes of the same rows.
    frame = pd.DataFrame.from_records(stats).astype({c: np.int64 for c in count_columns(stats[0])})
    assert (tmp_path / "s.csv").read_text() == frame.to_csv(index=False)
    assert frame["TSM_NN_g.m-3_gmean"].notna().all()
    for variable in variables:
        info = raster.read_info(tmp_path / "grid" / f"{variable}.tif")
        assert info.tags["ACQUISITION_DATETIME"].startswith("2020-06-01T13:50")
        assert info.band_metadata[0]["VARIABLE"] == variable
    grid = raster.read_rows(tmp_path / "grid" / "TSM_NN.tif", 0, info.height)[0]
    assert np.isfinite(grid).sum() > 20
    assert info.descriptions == ("SZA",)


def test_scene_outside_the_swath_gives_empty_outputs(layout_scene, tmp_path):
    _, product, aoi, _, _ = layout_scene
    stats = extract_to_files(
        product, read_aoi(aoi), None, tmp_path / "p.parquet", tmp_path / "s.csv", tmp_path / "grid",
        ["Oa08_reflectance", "TSM_NN"], "water", GRID,
    )  # fmt: skip
    pixels = pd.read_parquet(tmp_path / "p.parquet")
    assert pixels.empty
    assert list(pixels.columns) == [
        "scene", "time", "feature", "row", "col", "lon", "lat", "Oa08_reflectance",
        "TSM_NN_g.m-3", "flags", "valid",
    ]  # fmt: skip
    assert pixels["flags"].dtype == np.uint64 and pixels["row"].dtype == np.int32
    stats = pd.DataFrame.from_records(stats)
    assert list(stats["note"]) == ["outside_swath", "outside_swath"]
    assert (stats["count"] == 0).all() and stats["TSM_NN_g.m-3_median"].isna().all()
    grid = raster.read_rows(tmp_path / "grid" / "TSM_NN.tif", 0, 1)
    assert np.isnan(grid).all()


def test_no_valid_pixel_and_no_pixel_are_reported(layout_scene, tmp_path):
    _, product, aoi, lon, lat = layout_scene
    # Smaller than a pixel and between pixel centres: inside the window, no centre in it.
    x, y = (lon[100, 100] + lon[100, 101]) / 2, (lat[100, 100] + lat[101, 100]) / 2
    speck = shapely.box(x - 1e-4, y - 1e-4, x + 1e-4, y + 1e-4)
    features = [*read_aoi(aoi), Feature("speck", speck)]
    never = {"require": ["SNOW_ICE"]}  # the generator never sets SNOW_ICE
    result = extract_scene(product, features, whole(product), ["Oa08_reflectance"], never)
    stats = feature_statistics(result, features).set_index("feature")
    assert list(stats["note"]) == ["no_valid_pixels", "no_valid_pixels", "no_pixels"]
    assert stats.loc["speck", "count"] == 0 and stats["Oa08_reflectance_median"].isna().all()


def test_land_preset_and_lfr_products(layout_scene, tmp_path):
    """An LFR-like product (lqsf.nc with the LQSF bits above, gifapar.nc packed as eopf-cpm
    lists): the land preset and the GIFAPAR_FAIL product mask follow the file's flags."""
    _, product, aoi, _, _ = layout_scene
    lfr = tmp_path / product.name
    lfr.mkdir()
    for name in ("xfdumanifest.xml", "geo_coordinates.nc", "tie_geo_coordinates.nc"):
        shutil.copy(product / name, lfr / name)
    shape = full_lonlat(product)[0].shape
    rng = np.random.default_rng(0)
    flags = np.zeros(shape, np.uint32)
    for _, bit in LQSF:
        flags |= (rng.random(shape) < 0.15).astype(np.uint32) << bit
    raw = rng.integers(0, 256, shape).astype(np.uint8)  # 255 = fill
    for filename, variable, dtype, data, attrs in (
        ("lqsf.nc", "LQSF", "u4", flags,
         {"flag_masks": np.array([1 << b for _, b in LQSF], np.uint32),
          "flag_meanings": " ".join(n for n, _ in LQSF)}),
        ("gifapar.nc", "GIFAPAR", "u1", raw, {"scale_factor": np.float32(1 / 254)}),
    ):  # fmt: skip
        with netCDF4.Dataset(lfr / filename, "w") as ds:
            ds.createDimension("rows", shape[0])
            ds.createDimension("columns", shape[1])
            var = ds.createVariable(
                variable, dtype, ("rows", "columns"), fill_value=255 if dtype == "u1" else False
            )
            var.setncatts(attrs)
            var.set_auto_maskandscale(False)
            var[:] = data
    result = extract_scene(lfr, read_aoi(aoi), whole(lfr), ["GIFAPAR"], "land")
    pixels = result.pixels.to_pandas()
    got_flags = flags[pixels["row"], pixels["col"]]
    bit = dict(LQSF)
    bad = sum(1 << bit[n] for n in (*LAND_EXCLUDE, "GIFAPAR_FAIL"))
    want = ((got_flags >> bit["LAND"]) & 1 == 1) & ((got_flags & bad) == 0)
    np.testing.assert_array_equal(pixels["valid"], want)
    assert result.flag_variable == "LQSF" and want.any()
    values = raw[pixels["row"], pixels["col"]].astype(np.float64) * np.float32(1 / 254)
    values[raw[pixels["row"], pixels["col"]] == 255] = np.nan
    values[~want] = np.nan
    np.testing.assert_allclose(pixels["GIFAPAR"], values, rtol=1e-6, equal_nan=True)


def test_flag_variable_is_not_a_value_column(layout_scene):
    _, product, aoi, _, _ = layout_scene
    with pytest.raises(InputError, match="WQSF: is the quality-flag variable"):
        extract_scene(product, read_aoi(aoi), whole(product), ["WQSF"], "none")


def test_unknown_flag_name_is_an_error(layout_scene):
    _, product, aoi, _, _ = layout_scene
    with pytest.raises(InputError, match=r"wqsf\.nc: has no flag CLOUDY"):
        extract_scene(
            product, read_aoi(aoi), whole(product), ["Oa08_reflectance"],
            {"exclude": ["CLOUDY"]}, threads=1,
        )  # fmt: skip


def test_command(layout_scene, tmp_path):
    """The command line: angles, statistics and grids, no window file (located here)."""
    _, product, aoi, _, _ = layout_scene
    result = run(
        [
            sys.executable, "-m", "eotrend", "extract", str(product), str(aoi),
            "-o", str(tmp_path / "p.parquet"), "--stats", str(tmp_path / "s.csv"),
            "--grid-dir", str(tmp_path / "grid"), "--variables", "TSM_NN", "--angles",
            "--resolution", "0.01", "--workers", "2",
        ],
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stats = pd.read_csv(tmp_path / "s.csv")
    assert {"TSM_NN_g.m-3_median", "OAA_median", "SZA_p75"} <= set(stats.columns)
    assert sorted(p.name for p in (tmp_path / "grid").iterdir()) == [
        "OAA.tif", "OZA.tif", "SAA.tif", "SZA.tif", "TSM_NN.tif"
    ]  # fmt: skip

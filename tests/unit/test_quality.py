"""Per-variable quality masks against SNAP's recommended masks, written out here as bit
logic from the s3tbx source (``OlciLevel2WProductFactory``: the ``WQSF_<product>_RECOM``
expressions, github.com/senbox-org/s3tbx) and the bit numbers of both older WQSF layouts
(below), independent of the file's attributes and of eotrend.sentinel3.quality. The
Collection 4 table and its renamed flags: tests/unit/test_real_flag_tables.py."""

from __future__ import annotations

import logging
import shutil

import netCDF4
import numpy as np
import pytest
import shapely

from eotrend.core.errors import InputError
from eotrend.geo.aoi import read_aoi
from eotrend.sentinel3.extract import extract_scene, feature_statistics, value_column
from eotrend.sentinel3.quality import variable_rule
from eotrend.sentinel3.reader import Window, open_product, read_flag_masks
from eotrend.synthetic.fields import water_truth
from eotrend.synthetic.spec import decimal_year
from support.scenes import WHEN, small_scene, write_polygons

# Bit numbers of both WQSF layouts (classic: sen3r's commons.py; shifted: satpy's
# test_olci_nc.py); RWNEG_O1..O12, O16, O17, O18, O21 on bits 40-55 in that order.
RWNEG = [f"RWNEG_O{b}" for b in (*range(1, 13), 16, 17, 18, 21)]
CLASSIC = {
    "INVALID": 0, "WATER": 1, "LAND": 2, "CLOUD": 3, "SNOW_ICE": 4, "INLAND_WATER": 5,
    "TIDAL": 6, "COSMETIC": 7, "SUSPECT": 8, "HISOLZEN": 9, "SATURATED": 10, "MEGLINT": 11,
    "HIGHGLINT": 12, "WHITECAPS": 13, "ADJAC": 14, "WV_FAIL": 15, "PAR_FAIL": 16,
    "AC_FAIL": 17, "OC4ME_FAIL": 18, "OCNN_FAIL": 19, "KDM_FAIL": 21,
    "CLOUD_AMBIGUOUS": 23, "CLOUD_MARGIN": 24, **{n: 40 + i for i, n in enumerate(RWNEG)},
}  # fmt: skip
# Shifted: COASTLINE takes bit 6, TIDAL..OCNN_FAIL move up by one.
SHIFTED = {
    **CLASSIC,
    **{n: CLASSIC[n] + 1 for n in CLASSIC if 6 <= CLASSIC[n] <= 19},
    "COASTLINE": 6,
}
BITS = {"classic": CLASSIC, "shifted": SHIFTED}
FILES = {
    "Oa08_reflectance": "Oa08_reflectance.nc", "CHL_OC4ME": "chl_oc4me.nc",
    "CHL_NN": "chl_nn.nc", "TSM_NN": "tsm_nn.nc", "ADG443_NN": "iop_nn.nc",
    "KD490_M07": "trsp.nc", "PAR": "par.nc", "IWV": "iwv.nc", "T865": "w_aer.nc",
}  # fmt: skip
VARIABLES = list(FILES)


def snap_recommended(flags: np.ndarray, bits: dict[str, int], variable: str) -> np.ndarray:
    """SNAP's WQSF_<product>_RECOM for ``variable`` inverted (True = valid), as bit logic.
    Flags absent from ``bits`` are terms the file cannot express: left out."""

    def is_set(name):
        if name not in bits:
            return np.zeros(flags.shape, bool)
        return (flags >> np.uint64(bits[name])) & np.uint64(1) == 1

    def none_of(*names):
        return ~np.logical_or.reduce([is_set(n) for n in names])

    # + eotrend's Collection 4 terms CLOUD_SHADOW and BRDF_OOR, which these tables lack.
    ocean_colour = (is_set("WATER") | is_set("INLAND_WATER")) & none_of(
        "CLOUD", "CLOUD_AMBIGUOUS", "CLOUD_MARGIN", "CLOUD_SHADOW", "INVALID", "COSMETIC",
        "SATURATED", "SUSPECT", "HISOLZEN", "HIGHGLINT", "SNOW_ICE",
    )  # fmt: skip
    open_water = none_of(
        "AC_FAIL", "WHITECAPS", "ADJAC", "BRDF_OOR", *[f"RWNEG_O{b}" for b in range(2, 9)]
    )
    if variable in ("CHL_NN", "TSM_NN", "ADG443_NN"):
        return ocean_colour & ~is_set("OCNN_FAIL")
    if variable == "IWV":
        return none_of("MEGLINT", "WV_FAIL")
    own = {"CHL_OC4ME": "OC4ME_FAIL", "KD490_M07": "KDM_FAIL", "PAR": "PAR_FAIL"}.get(variable)
    valid = ocean_colour & open_water
    return valid & ~is_set(own) if own else valid


@pytest.fixture(scope="module", params=["classic", "shifted"])
def flagged(request, tmp_path_factory):
    """A scene of each layout (the real flag set, RWNEG_O1..O21 included) whose WQSF gets
    every flag of SNAP's expressions at random on 6 % of the pixels each, so that every
    term of every mask decides some pixels."""
    folder = tmp_path_factory.mktemp(request.param)
    lon, lat = -60.9, -3.4
    lake = shapely.box(lon - 0.25, lat - 0.25, lon + 0.25, lat + 0.25)
    product = small_scene(folder, lon, lat, layout=request.param, seed=3, water=[lake])
    bits = BITS[request.param]
    rng = np.random.default_rng(5)
    with netCDF4.Dataset(product / "wqsf.nc", "a") as ds:
        ds.set_auto_maskandscale(False)
        flags = np.asarray(ds["WQSF"][:])
        for name, bit in bits.items():
            if name not in ("WATER", "INLAND_WATER", "LAND"):
                flags[rng.random(flags.shape) < 0.06] |= np.uint64(1) << np.uint64(bit)
        ds["WQSF"][:] = flags
    aoi = write_polygons(folder / "aoi.geojson", [[list(lake.exterior.coords)[:-1]]], ["lake"])
    return request.param, product, aoi, flags


def whole(product):
    info = open_product(product)
    return Window(0, info.rows, 0, info.columns)


def is_fill(product, variable, rows, cols):
    with netCDF4.Dataset(product / FILES[variable]) as ds:
        ds.set_auto_maskandscale(False)
        var = ds[variable]
        return np.asarray(var[:])[rows, cols] == var._FillValue


def test_water_preset_is_snaps_recommended_mask_of_each_product(flagged):
    """Fact: SNAP's recommended masks differ per product (s3tbx OlciLevel2WProductFactory):
    the NN products use the ocean-colour part and OCNN_FAIL only, without AC_FAIL or RWNEG.
    Each variable is NaN exactly where its own recommended mask rejects the pixel."""
    layout, product, aoi, flags = flagged
    result = extract_scene(product, read_aoi(aoi), whole(product), VARIABLES, "water", threads=1)
    pixels = result.pixels.to_pandas()
    rows, cols = pixels["row"].to_numpy(), pixels["col"].to_numpy()
    raw = flags[rows, cols]
    any_valid = np.zeros(len(pixels), bool)
    for variable in VARIABLES:
        want = snap_recommended(raw, BITS[layout], variable)
        any_valid |= want
        has_value = want & ~is_fill(product, variable, rows, cols)
        got = pixels[value_column(variable)].notna().to_numpy()
        np.testing.assert_array_equal(got, has_value, err_msg=variable)
        assert 0.05 < has_value.mean() < 0.95, variable
    np.testing.assert_array_equal(pixels["valid"].to_numpy(), any_valid)
    # The real 2018 and 2024 tables define every flag SNAP names, none of Collection 4's.
    c4 = ["CLOUD_SHADOW", "BRDF_OOR"]
    assert result.unapplied == {
        v: c4[:1] if v in ("CHL_NN", "TSM_NN", "ADG443_NN") else c4 for v in VARIABLES if v != "IWV"
    }
    # AC_FAIL pixels that the NN products keep exist (the case the per-product mask is for).
    ac_fail = (raw >> np.uint64(BITS[layout]["AC_FAIL"])) & np.uint64(1) == 1
    tsm = pixels[value_column("TSM_NN")].notna().to_numpy()
    assert (tsm & ac_fail).sum() > 20 and pixels["Oa08_reflectance"][ac_fail].isna().all()


def test_explicit_rule_applies_to_every_variable_with_its_own_failure_flag(flagged):
    layout, product, aoi, flags = flagged
    rule = {"exclude": ["CLOUD"]}
    result = extract_scene(product, read_aoi(aoi), whole(product), VARIABLES, rule, threads=1)
    pixels = result.pixels.to_pandas()
    rows, cols = pixels["row"].to_numpy(), pixels["col"].to_numpy()
    raw = flags[rows, cols]
    bits = BITS[layout]

    def clear(*names):
        return np.logical_and.reduce(
            [(raw >> np.uint64(bits[n])) & np.uint64(1) == 0 for n in names]
        )

    own = {"CHL_OC4ME": ["OC4ME_FAIL"], "TSM_NN": ["OCNN_FAIL"], "CHL_NN": ["OCNN_FAIL"],
           "ADG443_NN": ["OCNN_FAIL"], "KD490_M07": ["KDM_FAIL"], "PAR": ["PAR_FAIL"],
           "IWV": ["MEGLINT", "WV_FAIL"]}  # fmt: skip
    for variable in VARIABLES:
        want = clear("CLOUD", *own.get(variable, [])) & ~is_fill(product, variable, rows, cols)
        got = pixels[value_column(variable)].notna().to_numpy()
        np.testing.assert_array_equal(got, want, err_msg=variable)


def test_the_nn_mask_keeps_the_turbid_water_the_reflectance_mask_drops(tmp_path):
    """Fact: the atmospheric correction fails (AC_FAIL, RWNEG) most in turbid water, where
    TSM_NN is used. The per-product mask keeps those TSM_NN retrievals, so the feature's
    median stays near the median of the true TSM over every water pixel; the reflectance
    mask drops them and biases TSM_NN toward clear water."""
    lon, lat = -60.9, -3.4
    lake = shapely.box(lon - 0.3, lat - 0.3, lon + 0.3, lat + 0.3)
    product = small_scene(tmp_path, lon, lat, seed=4, water=[lake], cloud_fraction=0.0)
    aoi = write_polygons(tmp_path / "aoi.geojson", [[list(lake.exterior.coords)[:-1]]], ["lake"])
    features = read_aoi(aoi)
    column = value_column("TSM_NN")
    per_product = extract_scene(product, features, whole(product), ["TSM_NN"], "water")
    truth = water_truth("TSM_NN", per_product.pixels["lon"], per_product.pixels["lat"],
                        decimal_year(WHEN))  # fmt: skip
    masked = extract_scene(
        product, features, whole(product), ["TSM_NN"], reflectance_rule_of(product)
    )
    true_median = np.median(truth)
    kept = feature_statistics(per_product, features)[f"{column}_median"].iloc[0]
    dropped = feature_statistics(masked, features)[f"{column}_median"].iloc[0]
    assert abs(np.log10(kept / true_median)) < 0.02  # within the packing step
    assert np.log10(true_median / dropped) > 0.03  # biased low: clear water only


def reflectance_rule_of(product) -> dict:
    """The water preset of the reflectances as the product's flags allow it, with OCNN_FAIL
    (an explicit rule: TSM_NN judged like a reflectance)."""
    rule = variable_rule("water", "Oa08_reflectance", read_flag_masks(product)[1]).rule.as_dict()
    rule["exclude"].append("OCNN_FAIL")
    return rule


def drop_flags(product, names):
    """Rewrite WQSF's flag_masks/flag_meanings without ``names`` (the bits stay set but the
    file no longer defines them), as in a product of a baseline that lacks them."""
    with netCDF4.Dataset(product / "wqsf.nc", "a") as ds:
        var = ds["WQSF"]
        meanings = var.flag_meanings.split()
        masks = np.asarray(var.flag_masks, np.uint64)
        keep = [i for i, name in enumerate(meanings) if name not in names]
        var.setncattr("flag_masks", masks[keep])
        var.setncattr("flag_meanings", " ".join(meanings[i] for i in keep))


def test_a_preset_applies_the_flags_the_file_has_and_says_which_it_could_not(
    flagged, tmp_path, caplog
):
    """Fact: a WQSF carries the flags its processing baseline defines; products of other
    baselines and generators lack some (here every RWNEG flag). The preset then applies
    the others and says which it could not; an explicit rule naming one is an error."""
    layout, product, aoi, flags = flagged
    copy = shutil.copytree(product, tmp_path / product.name)
    drop_flags(copy, RWNEG)
    bits = {name: bit for name, bit in BITS[layout].items() if name not in RWNEG}
    with caplog.at_level(logging.INFO, logger="eotrend.sentinel3.extract"):
        result = extract_scene(
            copy, read_aoi(aoi), whole(copy), ["Oa08_reflectance", "TSM_NN"], "water"
        )
    pixels = result.pixels.to_pandas()
    rows, cols = pixels["row"].to_numpy(), pixels["col"].to_numpy()
    want = snap_recommended(flags[rows, cols], bits, "Oa08_reflectance")
    want &= ~is_fill(copy, "Oa08_reflectance", rows, cols)
    np.testing.assert_array_equal(pixels["Oa08_reflectance"].notna().to_numpy(), want)
    missing = ["CLOUD_SHADOW", "BRDF_OOR", *(f"RWNEG_O{b}" for b in range(2, 9))]
    assert result.unapplied == {"Oa08_reflectance": missing, "TSM_NN": ["CLOUD_SHADOW"]}
    lines = [r.getMessage() for r in caplog.records if "defines no" in r.getMessage()]
    (line,) = [line for line in lines if "RWNEG_O2" in line]
    assert str(copy / "wqsf.nc") in line and ", ".join(missing) in line
    with pytest.raises(InputError, match=r"wqsf\.nc: has no flag RWNEG_O2"):
        extract_scene(copy, read_aoi(aoi), whole(copy), ["TSM_NN"], {"exclude": ["RWNEG_O2"]})


def test_variable_rules_follow_the_file():
    masks = {name: np.uint64(1 << bit) for name, bit in CLASSIC.items() if name != "OCNN_FAIL"}
    judged = variable_rule("water", "TSM_NN", masks)
    assert judged.unapplied == ("CLOUD_SHADOW", "OCNN_FAIL")
    assert "OCNN_FAIL" not in judged.rule.exclude and "CLOUD_SHADOW" not in judged.rule.exclude
    assert "AC_FAIL" not in judged.rule.exclude and "CLOUD" in judged.rule.exclude
    assert variable_rule("water", "TSM_NN", masks, product_masks=False).unapplied == (
        "CLOUD_SHADOW",
    )
    # A renamed failure flag: present under its old name, reported under both when absent.
    chl = variable_rule("water", "CHL_OC4ME", masks)
    assert "OC4ME_FAIL" in chl.rule.exclude and "CHLOR_A_FAIL" not in chl.rule.exclude
    assert chl.unapplied == ("CLOUD_SHADOW", "BRDF_OOR")
    no_kd = {name: mask for name, mask in masks.items() if name != "KDM_FAIL"}
    kd = variable_rule("water", "KD490_M07", no_kd)
    assert kd.unapplied == ("CLOUD_SHADOW", "BRDF_OOR", "KDM_FAIL or KD_FAIL")
    assert "AC_FAIL" in variable_rule("water", "Oa08_reflectance", masks).rule.exclude
    with pytest.raises(InputError, match="is not a quality preset"):
        variable_rule("ocean", "TSM_NN", masks)


def test_the_tsm_trend_matches_the_truth_only_with_the_per_product_mask(tmp_path):
    """Fact (the bias the per-product masks prevent): as a lake grows more turbid, the
    atmospheric correction fails on more of it. The trend of the feature's median TSM_NN
    (log10, per year, OLS over six yearly scenes) equals the trend of the true median with
    SNAP's TSM_NN mask, and is biased low with the reflectance mask."""
    from datetime import UTC, datetime

    from scipy.stats import linregress

    from eotrend.synthetic.product import write_product
    from eotrend.synthetic.spec import SceneSpec

    lon, lat = -60.9, -3.4
    lake = shapely.box(lon - 0.3, lat - 0.3, lon + 0.3, lat + 0.3)
    aoi = write_polygons(tmp_path / "aoi.geojson", [[list(lake.exterior.coords)[:-1]]], ["lake"])
    features = read_aoi(aoi)
    column = f"{value_column('TSM_NN')}_median"
    years, truth, kept, dropped = [], [], [], []
    for year in range(2018, 2024):
        when = datetime(year, 7, 1, 13, 50, tzinfo=UTC)
        spec = SceneSpec(lon, lat, when, rows=240, columns=257, cloud_fraction=0.0, seed=year)
        product = write_product(spec, tmp_path, water=lake, files={"tsm_nn.nc", "wqsf.nc"})
        per_product = extract_scene(product, features, whole(product), ["TSM_NN"], "water")
        rule = reflectance_rule_of(product)
        masked = extract_scene(product, features, whole(product), ["TSM_NN"], rule)
        pixels = per_product.pixels.to_pandas()
        t = decimal_year(when)
        years.append(t)
        truth.append(np.median(water_truth("TSM_NN", pixels["lon"], pixels["lat"], t)))
        kept.append(feature_statistics(per_product, features)[column].iloc[0])
        dropped.append(feature_statistics(masked, features)[column].iloc[0])
    want, got, biased = (linregress(years, np.log10(v)).slope for v in (truth, kept, dropped))
    assert want > 0.01  # the lake grows more turbid
    assert abs(got - want) < 0.003  # within the per-scene noise (packing step 0.02 log10)
    assert want - biased > 0.01

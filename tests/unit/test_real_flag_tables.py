"""Quality masks with the WQSF tables of real products, decoded by name.

Facts: tests/data/real-flag-tables/wqsf.json holds the WQSF flag names and masks of real
WFR products as ESA's SNAP reader describes them (github.com/senbox-org/optical-toolbox
test resources, see ATTRIBUTION.md there): a 2018 product (baseline 002 era), a 2024 one
(003 era: COASTLINE at bit 6 moves TIDAL..OCNN_FAIL up one bit) and a Collection 4 one
(as 2024, but OC4ME_FAIL is CHLOR_A_FAIL and KDM_FAIL is KD_FAIL; BRDF_OOR and
CLOUD_SHADOW are new). The synthetic generator writes each of these tables; every flag of
the table is then set at random on some pixels, by its name and its mask in wqsf.json.

Oracle: each variable's recommended mask, written out here as bit logic over the masks of
wqsf.json, looked up by name: SNAP's ``WQSF_<product>_RECOM`` expressions (s3tbx
``OlciLevel2WProductFactory``, github.com/senbox-org/s3tbx) with eotrend's documented
Collection 4 terms (CLOUD_SHADOW with the clouds, BRDF_OOR with the reflectance terms) and
each variable's failure flag under the name the table gives it, typed here by hand; a
flag a table does not have takes no part. Nothing of eotrend.sentinel3.quality is used.
"""

from __future__ import annotations

import json
import shutil
from functools import cache
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import shapely

from eotrend.geo.aoi import read_aoi
from eotrend.sentinel3.extract import extract_scene, value_column
from eotrend.sentinel3.reader import Window, open_product
from support.scenes import small_scene, write_polygons

REAL_TABLES = Path(__file__).resolve().parents[1] / "data" / "real-flag-tables" / "wqsf.json"


@cache
def real_table(product: str) -> dict[str, int]:
    """Flag name -> uint64 mask of a real product's WQSF (tests/data/real-flag-tables)."""
    return json.loads(REAL_TABLES.read_text())[product]["WQSF"]


# Per table: the real product it comes from, the generator's spec for it, and the names
# that table gives the failure flags of the OC4Me chlorophyll and of Kd490 (read in
# wqsf.json: same bits, renamed in Collection 4).
TABLES = {
    "2018": ("S3A_OL_2_WFR____20180707T081143", {"baseline": "002", "layout": "classic"},
             {"chl": "OC4ME_FAIL", "kd": "KDM_FAIL"}),
    "2024": ("S3B_OL_2_WFR____20240806T055947", {"baseline": "003", "layout": "shifted"},
             {"chl": "OC4ME_FAIL", "kd": "KDM_FAIL"}),
    "collection4": ("S3B_OL_2_WFR____20221216T131616", {"baseline": "004"},
                    {"chl": "CHLOR_A_FAIL", "kd": "KD_FAIL"}),
}  # fmt: skip
FILES = {
    "Oa08_reflectance": "Oa08_reflectance.nc", "CHL_OC4ME": "chl_oc4me.nc",
    "chlor_a": "chlor_a.nc", "CHL_NN": "chl_nn.nc", "TSM_NN": "tsm_nn.nc",
    "ADG443_NN": "iop_nn.nc", "KD490_M07": "trsp.nc", "PAR": "par.nc", "IWV": "iwv.nc",
    "T865": "w_aer.nc", "FPH": "fluorescence.nc", "ADG443_LSD": "iop_lsd.nc",
}  # fmt: skip
OLDER = ["Oa08_reflectance", "CHL_OC4ME", "CHL_NN", "TSM_NN", "ADG443_NN", "KD490_M07", "PAR",
         "IWV", "T865"]  # fmt: skip
# Collection 4: chlor_a instead of CHL_OC4ME (the real 004 manifest's chlor_a.nc), and the
# generator's FPH and ADG443_LSD of fluorescence.nc and iop_lsd.nc.
COLLECTION4 = ["chlor_a" if v == "CHL_OC4ME" else v for v in OLDER] + ["FPH", "ADG443_LSD"]
VARIABLES = {"2018": OLDER, "2024": OLDER, "collection4": COLLECTION4}
NEURAL_NET = ("CHL_NN", "TSM_NN", "ADG443_NN")
LON, LAT = -60.9, -3.4
LAKE = shapely.box(LON - 0.25, LAT - 0.25, LON + 0.25, LAT + 0.25)


def oracle(flags: np.ndarray, table: str, variable: str) -> np.ndarray:
    """True where ``variable`` is valid by its recommended mask, the masks looked up by
    name in the real table (a name the table lacks is never set)."""
    product, _, failure = TABLES[table]
    masks = real_table(product)

    def is_set(name: str) -> np.ndarray:
        if name not in masks:
            return np.zeros(flags.shape, bool)
        return (flags & np.uint64(masks[name])) != 0

    def none_of(*names: str) -> np.ndarray:
        return ~np.logical_or.reduce([is_set(name) for name in names])

    if variable == "IWV":
        return none_of("MEGLINT", "WV_FAIL")
    ocean_colour = (is_set("WATER") | is_set("INLAND_WATER")) & none_of(
        "CLOUD", "CLOUD_AMBIGUOUS", "CLOUD_MARGIN", "CLOUD_SHADOW", "INVALID", "COSMETIC",
        "SATURATED", "SUSPECT", "HISOLZEN", "HIGHGLINT", "SNOW_ICE",
    )  # fmt: skip
    if variable in NEURAL_NET:
        return ocean_colour & none_of("OCNN_FAIL")
    open_water = none_of(
        "AC_FAIL", "WHITECAPS", "ADJAC", "BRDF_OOR", *(f"RWNEG_O{b}" for b in range(2, 9))
    )
    own = {"CHL_OC4ME": failure["chl"], "chlor_a": failure["chl"], "KD490_M07": failure["kd"],
           "PAR": "PAR_FAIL", "ADG443_LSD": "IOP_LSD_FAIL"}.get(variable)  # fmt: skip
    valid = ocean_colour & open_water
    if own is not None:
        assert own in masks, (table, own)  # the table names the failure flag so
        valid &= none_of(own)
    return valid


def write_scene(folder: Path, table: str, seed: int) -> tuple[Path, Path]:
    """A small product with ``table``'s WQSF over a lake (its inland water) and the lake's
    AOI."""
    product = small_scene(folder, LON, LAT, seed=seed, water=[LAKE], **TABLES[table][1])
    aoi = write_polygons(folder / "aoi.geojson", [[list(LAKE.exterior.coords)[:-1]]], ["lake"])
    return product, aoi


def read_wqsf(product: Path) -> tuple[np.ndarray, dict[str, int]]:
    """The raw WQSF (uint64) and its table as the file defines it, by netCDF4."""
    with netCDF4.Dataset(product / "wqsf.nc") as ds:
        ds.set_auto_maskandscale(False)
        var = ds["WQSF"]
        masks = np.asarray(var.flag_masks)
        assert masks.dtype == np.uint64
        table = dict(zip(var.flag_meanings.split(), masks.tolist(), strict=True))
        return np.asarray(var[:]), table


def write_wqsf(product: Path, flags: np.ndarray) -> None:
    with netCDF4.Dataset(product / "wqsf.nc", "a") as ds:
        ds.set_auto_maskandscale(False)
        ds["WQSF"][:] = flags


def is_fill(product: Path, variable: str, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    with netCDF4.Dataset(product / FILES[variable]) as ds:
        ds.set_auto_maskandscale(False)
        var = ds[variable]
        return np.asarray(var[:])[rows, cols] == var._FillValue


def extract(product: Path, aoi: Path, variables: list[str], quality="water"):
    info = open_product(product)
    window = Window(0, info.rows, 0, info.columns)
    return extract_scene(product, read_aoi(aoi), window, variables, quality, threads=1)


@pytest.mark.parametrize("table", list(TABLES))
def test_the_generator_writes_the_real_table(tmp_path, table):
    """Fact: the WQSF flag_meanings/flag_masks of the real 2018, 2024 and Collection 4
    products (wqsf.json). The generator's table for each equals it: every name with its
    real mask, no other name, each name once."""
    product = small_scene(tmp_path, LON, LAT, rows=8, files={"wqsf.nc"}, **TABLES[table][1])
    with netCDF4.Dataset(product / "wqsf.nc") as ds:
        meanings = ds["WQSF"].flag_meanings.split()
    _, written = read_wqsf(product)
    assert len(meanings) == len(set(meanings))
    assert written == real_table(TABLES[table][0])


@pytest.fixture(scope="module", params=list(TABLES))
def flagged(request, tmp_path_factory):
    """A scene of each real table whose WQSF gets every flag of the table (by its name and
    mask in wqsf.json) at random on 6 % of the pixels, the surface classes aside."""
    table = request.param
    product, aoi = write_scene(tmp_path_factory.mktemp(table), table, seed=3)
    flags, _ = read_wqsf(product)
    rng = np.random.default_rng(7)
    for name, mask in real_table(TABLES[table][0]).items():
        if name not in ("WATER", "INLAND_WATER", "LAND"):
            flags[rng.random(flags.shape) < 0.06] |= np.uint64(mask)
    write_wqsf(product, flags)
    return table, product, aoi, flags


def test_each_variable_is_valid_where_its_mask_by_name_says(flagged):
    """Fact: bit numbers move between the real tables and Collection 4 renames the failure
    flags of the OC4Me chlorophyll and of Kd490 (CHLOR_A_FAIL, KD_FAIL). Each variable is
    valid exactly where its recommended mask, decoded by name from the real table, keeps
    the pixel and the product has a value; the Collection 4 table lacks no flag of the
    water preset, the older ones lack exactly CLOUD_SHADOW and BRDF_OOR."""
    table, product, aoi, flags = flagged
    variables = VARIABLES[table]
    result = extract(product, aoi, variables)
    pixels = result.pixels.to_pandas()
    rows, cols = pixels["row"].to_numpy(), pixels["col"].to_numpy()
    raw = flags[rows, cols]
    for variable in variables:
        want = oracle(raw, table, variable) & ~is_fill(product, variable, rows, cols)
        got = pixels[value_column(variable)].notna().to_numpy()
        np.testing.assert_array_equal(got, want, err_msg=f"{table} {variable}")
        assert 0.05 < want.mean() < 0.95, (table, variable)
    if table == "collection4":
        assert result.unapplied == {}
        assert "CHLOR_A_FAIL" in result.rules["chlor_a"]["exclude"]
        assert "KD_FAIL" in result.rules["KD490_M07"]["exclude"]
    else:
        c4 = ["CLOUD_SHADOW", "BRDF_OOR"]
        assert result.unapplied == {
            v: c4[:1] if v in NEURAL_NET else c4 for v in variables if v != "IWV"
        }


@pytest.mark.parametrize("flagged", ["collection4"], indirect=True)
def test_the_renamed_and_new_flags_decide_pixels(flagged):
    """Fact: CHLOR_A_FAIL, KD_FAIL, CLOUD_SHADOW and BRDF_OOR exist only in the Collection
    4 table. There, pixels that only one of them rejects exist and are NaN for the
    variables it concerns (chlor_a, KD490_M07, every water product, the reflectances)."""
    table, product, aoi, flags = flagged
    masks = real_table(TABLES[table][0])
    result = extract(product, aoi, ["chlor_a", "KD490_M07", "TSM_NN", "Oa08_reflectance"])
    pixels = result.pixels.to_pandas()
    rows, cols = pixels["row"].to_numpy(), pixels["col"].to_numpy()
    raw = flags[rows, cols]
    cases = [("CHLOR_A_FAIL", "chlor_a"), ("KD_FAIL", "KD490_M07"),
             ("CLOUD_SHADOW", "TSM_NN"), ("BRDF_OOR", "Oa08_reflectance")]  # fmt: skip
    for name, variable in cases:
        mask = np.uint64(masks[name])
        alone = oracle(raw & ~mask, table, variable) & ((raw & mask) != 0)
        alone &= ~is_fill(product, variable, rows, cols)
        assert alone.sum() > 10, name
        assert pixels[value_column(variable)][alone].isna().all(), name


@pytest.fixture(scope="module")
def collection4(tmp_path_factory):
    """A Collection 4 scene as the generator writes it (no flag added)."""
    return write_scene(tmp_path_factory.mktemp("c4"), "collection4", seed=5)


@pytest.mark.parametrize(
    "quality", ["water", "none", {"require_any": ["WATER", "INLAND_WATER"], "exclude": ["CLOUD"]}]
)
def test_a_collection4_chlorophyll_pixel_with_chlor_a_fail_is_not_valid(
    collection4, tmp_path, quality
):
    """Fact: a Collection 4 WQSF names the chlorophyll failure CHLOR_A_FAIL (bit 19 of the
    real table; it has no OC4ME_FAIL). Setting it on pixels where chlor_a is valid makes
    them NaN, with a preset or an explicit rule (each product's own failure flag joins
    it), and leaves TSM_NN, whose flag it is not, as it was."""
    product, aoi = collection4
    variables = ["chlor_a", "TSM_NN"]
    before = extract(product, aoi, variables, quality).pixels.to_pandas()
    chl, tsm = value_column("chlor_a"), value_column("TSM_NN")
    targets = before.index[before[chl].notna()][::7][:20]
    assert len(targets) == 20
    copy = Path(shutil.copytree(product, tmp_path / product.name))
    flags, table = read_wqsf(copy)
    assert "OC4ME_FAIL" not in table and table["CHLOR_A_FAIL"] == 1 << 19
    rows, cols = before.loc[targets, "row"], before.loc[targets, "col"]
    flags[rows, cols] |= np.uint64(real_table(TABLES["collection4"][0])["CHLOR_A_FAIL"])
    write_wqsf(copy, flags)
    after = extract(copy, aoi, variables, quality).pixels.to_pandas()
    assert after.loc[targets, chl].isna().all()
    others = before.index.difference(targets)
    np.testing.assert_array_equal(after.loc[others, chl], before.loc[others, chl])
    np.testing.assert_array_equal(after[tsm], before[tsm])

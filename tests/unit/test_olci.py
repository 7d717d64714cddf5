"""Reading OLCI products: windows, packing, fills, log10 units and flags, against
netCDF4's own mask-and-scale decoding and hand-made files."""

from __future__ import annotations

import shutil
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from eotrend.core.errors import InputError
from eotrend.sentinel3 import layout, reader
from support.chunks import chunk_shape, rechunk
from support.scenes import small_scene

WINDOW = reader.Window(30, 90, 40, 200)
# (file, variable) of every image variable the generator writes, log10 ones marked.
VARIABLES = [
    *[(f"Oa{b:02d}_reflectance.nc", f"Oa{b:02d}_reflectance", False) for b in (1, 8, 17, 21)],
    ("chl_oc4me.nc", "CHL_OC4ME", True),
    ("chl_nn.nc", "CHL_NN", True),
    ("tsm_nn.nc", "TSM_NN", True),
    ("iop_nn.nc", "ADG443_NN", True),
    ("trsp.nc", "KD490_M07", True),
    ("par.nc", "PAR", False),
    ("w_aer.nc", "T865", False),
    ("w_aer.nc", "A865", False),
    ("iwv.nc", "IWV", False),
    ("geo_coordinates.nc", "latitude", False),
]


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    return small_scene(tmp_path_factory.mktemp("olci"), 10.2, 44.1, rows=120, seed=2)


def oracle(path, variable, window):
    """netCDF4's default decoding (mask and scale) of a window, NaN for masked."""
    with netCDF4.Dataset(path) as ds:
        return np.ma.filled(ds[variable][window.slices].astype(np.float64), np.nan)


@pytest.mark.parametrize(("filename", "variable", "log10"), VARIABLES)
def test_decoding_equals_netcdf4_mask_and_scale(product, filename, variable, log10):
    read = reader.read_packed(product / filename, (variable,), (30, 90, 40, 200))[variable]
    assert read.raw.shape == WINDOW.shape
    values, unit = read.physical()
    want = oracle(product / filename, variable, WINDOW)
    if log10:
        want = 10.0**want
        assert unit == layout.LOG10_PRODUCTS[variable]
    # netCDF4 decodes in float32: absolute error near zero, far below the packing step.
    np.testing.assert_allclose(values, want, rtol=2e-6, atol=1e-7, equal_nan=True)
    if variable != "latitude":  # every product has fills somewhere (land, INVALID)
        assert np.isnan(values).any() and not np.isnan(values).all()


def test_fill_missing_value_and_valid_range_all_mean_missing(tmp_path):
    path = tmp_path / "x.nc"
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("rows", 2)
        ds.createDimension("columns", 4)
        var = ds.createVariable("X", "u2", ("rows", "columns"), fill_value=65535)
        var.setncatts(
            {"scale_factor": np.float32(0.5), "add_offset": np.float32(-1.0)}
            | {"missing_value": np.uint16(9), "valid_max": np.uint16(100)}
        )
        var.set_auto_maskandscale(False)
        var[:] = np.array([[0, 9, 65535, 101], [2, 4, 100, 7]], dtype=np.uint16)
    values, unit = reader.read_packed(path, ("X",), (0, 2, 0, 4))["X"].physical()
    want = np.array([[-1.0, np.nan, np.nan, np.nan], [0.0, 1.0, 49.0, 2.5]])
    np.testing.assert_array_equal(values, want)
    assert unit == ""
    np.testing.assert_array_equal(values, oracle(path, "X", reader.Window(0, 2, 0, 4)))


@pytest.mark.parametrize(
    ("units", "physical"),
    [
        ("lg(re g.m-3)", "g.m-3"),
        ("lg(re mg.m-3)", "mg.m-3"),
        ("lg ( re: m-1 )", "m-1"),
        ("lg(re mg m-3)", "mg.m-3"),
        ("m-1", None),
        ("", None),
        ("kg.m-2", None),
    ],
)
def test_log10_units(units, physical):
    assert layout.log10_unit(units) == physical


def test_flags_keep_every_bit_of_uint64(tmp_path):
    """Low and high bits at once need more than float64's 53 bits of mantissa."""
    value = (1 << 55) | (1 << 40) | 0b101
    path = tmp_path / "wqsf.nc"
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("rows", 1)
        ds.createDimension("columns", 2)
        var = ds.createVariable("WQSF", "u8", ("rows", "columns"), fill_value=False)
        var.setncatts(
            {
                "flag_masks": np.array([1, 4, 1 << 40, 1 << 55], dtype=np.uint64),
                "flag_meanings": "INVALID LAND RWNEG_O1 RWNEG_O21",
            }
        )
        var[:] = np.array([[value, 4]], dtype=np.uint64)
    read = reader.read_packed(path, ("WQSF",), (0, 1, 0, 2))["WQSF"]
    assert read.raw.dtype == np.uint64 and int(read.raw[0, 0]) == value
    masks = read.flag_masks()
    assert masks == {"INVALID": 1, "LAND": 4, "RWNEG_O1": 1 << 40, "RWNEG_O21": 1 << 55}
    assert reader.flag_mask(masks, ["INVALID", "RWNEG_O21"], path) == (1 << 55) | 1
    with pytest.raises(InputError, match=r"has no flag CLOUDY\. Known flags: INVALID LAND"):
        reader.flag_mask(masks, ["CLOUDY"], path)


def test_missing_variable_file_names_product_and_variable(tmp_path):
    product = small_scene(tmp_path, 10.2, 44.1, rows=20, files={"wqsf.nc"})
    with pytest.raises(InputError, match=r"has no chl_oc4me\.nc, the file of variable 'CHL_OC4ME'"):
        reader.variable_file(product, "CHL_OC4ME")
    with pytest.raises(InputError, match=r"has no variable 'NOPE' in any of its files"):
        reader.variable_file(product, "NOPE")
    assert reader.flag_file(product) == (product / "wqsf.nc", "WQSF")
    (product / "wqsf.nc").unlink()
    with pytest.raises(InputError, match=r"has no flag file \(wqsf\.nc or lqsf\.nc\)"):
        reader.flag_file(product)


def test_variables_are_found_in_their_files(product):
    assert reader.variable_file(product, "SZA").name == "tie_geometries.nc"
    assert reader.variable_file(product, "T865_err").name == "w_aer.nc"  # by scanning


def test_window_outside_the_image_is_an_error(product):
    with pytest.raises(InputError, match="does not hold the window"):
        reader.read_packed(product / "wqsf.nc", ("WQSF",), (0, 10_000, 0, 10))


def test_lonlat_and_tie_grid(product):
    lon, lat = reader.read_lonlat(product, WINDOW)
    np.testing.assert_allclose(lon, oracle(product / "geo_coordinates.nc", "longitude", WINDOW))
    np.testing.assert_allclose(lat, oracle(product / "geo_coordinates.nc", "latitude", WINDOW))
    tie_lon, tie_lat, step = reader.read_tie_lonlat(product)
    assert step == 64 and tie_lon.shape == tie_lat.shape == (120, 5)
    # Tie column j is image column 64 j (``columnsPerTiePoint`` 64 in the real manifests).
    full_lon, _ = reader.read_lonlat(product, reader.Window(0, 120, 0, 257))
    np.testing.assert_array_equal(tie_lon, full_lon[:, ::64])
    assert reader.tie_geometry(product) == (120, 5, 64)


# --- Collection 4 (baseline 004) -------------------------------------------------------

# The generator's (unverified) variables of the three new 004 files.
COLLECTION4 = [
    ("chlor_a.nc", "chlor_a", "mg.m-3"),
    ("iop_lsd.nc", "ADG443_LSD", "m-1"),
    ("fluorescence.nc", "FPH", None),
]


@pytest.fixture(scope="module")
def product_004(tmp_path_factory):
    return small_scene(
        tmp_path_factory.mktemp("olci004"), 10.2, 44.1, rows=120, seed=2, baseline="004",
        files={"chlor_a.nc", "fluorescence.nc", "iop_lsd.nc", "wqsf.nc"},
    )  # fmt: skip


@pytest.mark.parametrize(("filename", "variable", "log_unit"), COLLECTION4)
def test_collection4_variables_are_found_by_name_and_decoded(
    product_004, filename, variable, log_unit
):
    """Variables the reader has never heard of are found by reading each file's variable
    names, and decoded with their own attributes: 10 ** value where the units say
    lg(re X), as netCDF4's own decoding."""
    assert variable not in layout.VARIABLE_FILES
    path = reader.variable_file(product_004, variable)
    assert path == product_004 / filename
    values, unit = reader.read_packed(path, (variable,), (30, 90, 40, 200))[variable].physical()
    want = oracle(path, variable, WINDOW)
    with netCDF4.Dataset(path) as ds:
        units = ds[variable].units
    if log_unit:
        assert units == f"lg(re {log_unit})" and unit == log_unit
        want = 10.0**want
    else:
        assert unit == units == "mW.m-2.sr-1.nm-1"
    np.testing.assert_allclose(values, want, rtol=2e-6, atol=1e-7, equal_nan=True)
    assert np.isfinite(values).sum() > 100 and np.isnan(values).any()


def test_chl_oc4me_on_a_collection4_product_names_its_replacement(product_004):
    """Collection 4 has no chl_oc4me.nc: chlor_a.nc replaced it (the real 004 manifest in
    stactools-packages/sentinel3). The error names the product, its baseline and what
    chlor_a.nc holds (read here with netCDF4)."""
    with netCDF4.Dataset(product_004 / "chlor_a.nc") as ds:
        held = ", ".join(ds.variables)
    assert held == "chlor_a, chlor_a_err"
    with pytest.raises(InputError) as failure:
        reader.variable_file(product_004, "CHL_OC4ME")
    message = str(failure.value)
    assert message.startswith(f"{product_004}: is a baseline 004 (Collection 4) product")
    assert "has no 'CHL_OC4ME', because chl_oc4me.nc was replaced by chlor_a.nc" in message
    assert f"which holds {held}." in message and "instead of CHL_OC4ME" in message
    assert layout.product_baseline(product_004) == "004"
    assert reader.replacement(product_004, "CHL_OC4ME") == ("chlor_a.nc", held.split(", "))
    assert reader.replacement(product_004, "TSM_NN") is None


def test_chl_oc4me_is_looked_for_in_every_file_before_failing(product_004, tmp_path):
    """Its own file first, then by scanning: a CHL_OC4ME in another file is found; a
    Collection 4 product without chlor_a.nc either is called incomplete."""
    copy = Path(shutil.copytree(product_004, tmp_path / product_004.name))
    with netCDF4.Dataset(copy / "chl_extra.nc", "w") as ds:
        ds.createDimension("rows", 1)
        ds.createVariable("CHL_OC4ME", "u1", ("rows",))
    assert reader.variable_file(copy, "CHL_OC4ME") == copy / "chl_extra.nc"
    (copy / "chl_extra.nc").unlink()
    (copy / "chlor_a.nc").unlink()
    with pytest.raises(InputError, match=r"product without chlor_a\.nc.*incomplete"):
        reader.variable_file(copy, "CHL_OC4ME")


@pytest.mark.parametrize("chunks", [(16, 32), (7, 5), None])
def test_scattered_pixels_read_as_the_whole_window_holds_them(product, tmp_path, chunks):
    """read_packed at scattered pixels (runs of neighbouring chunks read as one rectangle,
    single chunks, pixels on chunk edges, the same pixel twice, any order) gives the values
    of the whole window read at those pixels, for chunkings that do and do not divide the
    window, and the netCDF library's default chunking (None)."""
    copy = rechunk(product, tmp_path, chunks, files=["Oa08_reflectance.nc"])
    path = copy / "Oa08_reflectance.nc"
    assert chunks is None or chunk_shape(path, "Oa08_reflectance") == chunks
    whole = reader.read_packed(path, ("Oa08_reflectance",), (10, 110, 20, 250))
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 100 * 230, 900)
    band = 40 * 230 + np.arange(0, 230)  # one full row: every chunk of a band in a run
    pixels = np.r_[pixels, band, pixels[:50]]
    read = reader.read_packed(path, ("Oa08_reflectance",), (10, 110, 20, 250), pixels=pixels)
    expected = whole["Oa08_reflectance"].raw.ravel()[pixels]
    np.testing.assert_array_equal(read["Oa08_reflectance"].raw, expected)

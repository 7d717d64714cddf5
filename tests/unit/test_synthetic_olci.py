"""Tests of the synthetic Sentinel-3 OLCI L2 WFR generator against independent oracles.

Oracles, typed here by hand from public sources: a product-name regex (the fields of ESA's
OLCI naming convention, sentinel.esa.int, at their fixed positions), the two WQSF layouts
in the order real files list them (sen3r's ``commons.py``, github.com/hybam-dev/sen3r;
satpy's ``test_olci_nc.py``), variable names and log10 units (satpy's ``olci_l2.yaml``,
SNAP/s3tbx), the real Collection-4 manifest (stactools-packages/sentinel3); a
haversine distance, NOAA's solar-position formulas, hashlib, zipfile and ElementTree, and
hand decoding of the raw integers with the files' own attributes.
"""

from __future__ import annotations

import hashlib
import math
import re
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import binary_dilation

from eotrend.synthetic import product as synthetic_product
from eotrend.synthetic.fields import trend_truth, water_truth
from eotrend.synthetic.geometry import angles_truth, swath_lonlat
from eotrend.synthetic.product import write_product
from eotrend.synthetic.spec import SceneSpec, product_name
from eotrend.synthetic.wfr_format import WFR_FILES

# The naming convention's fields at their fixed positions.
NAME_RE = re.compile(
    r"^(?P<mission>S3[AB_])_OL_(?P<level>2)_(?P<type>[A-Z]{3}_[A-Z_]{2})_(?P<start>\d{8}T\d{6})"
    r"_(?P<stop>\d{8}T\d{6})_(?P<created>\d{8}T\d{6})_(?P<instance>\d{4}_\d{3}_\d{3}_"
    r"(?:\d{4}|_{4}))_(?P<centre>[A-Z0-9]{3})_(?P<platform>[ORFD])_(?P<timeliness>NR|ST|NT)_"
    r"(?P<baseline>\d{3})\.SEN3$"
)
# flag_meanings/flag_masks in file order: classic (sen3r), shifted (satpy's tests).
_ANNOT = "ANNOT_ANGSTROM ANNOT_AERO_B ANNOT_ABSO_D ANNOT_ACLIM ANNOT_ABSOA ANNOT_MIXR1 ANNOT_DROUT"
_RWNEG = " ".join(f"RWNEG_O{n}" for n in (*range(1, 13), 16, 17, 18, 21))
CLASSIC_MEANINGS = (
    "INVALID WATER LAND CLOUD CLOUD_AMBIGUOUS CLOUD_MARGIN SNOW_ICE INLAND_WATER TIDAL "
    "COSMETIC SUSPECT HISOLZEN SATURATED MEGLINT HIGHGLINT WHITECAPS ADJAC WV_FAIL PAR_FAIL "
    "AC_FAIL OC4ME_FAIL OCNN_FAIL KDM_FAIL BPAC_ON WHITE_SCATT LOWRW HIGHRW "
    f"{_ANNOT} ANNOT_TAU06 {_RWNEG}"
).split()
CLASSIC_MASKS = [
    1, 2, 4, 8, 8388608, 16777216, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
    32768, 65536, 131072, 262144, 524288, 2097152, 33554432, 67108864, 134217728, 268435456,
    *(2**k for k in range(32, 56)),
]  # fmt: skip
SHIFTED_MEANINGS = (
    "INVALID WATER LAND CLOUD TURBID_ATM CLOUD_AMBIGUOUS CLOUD_MARGIN SNOW_ICE INLAND_WATER "
    "COASTLINE TIDAL COSMETIC SUSPECT HISOLZEN SATURATED MEGLINT HIGHGLINT WHITECAPS ADJAC "
    "WV_FAIL PAR_FAIL AC_FAIL OC4ME_FAIL OCNN_FAIL KDM_FAIL BPAC_ON WHITE_SCATT LOWRW HIGHRW "
    f"IOP_LSD_FAIL {_ANNOT} ANNOT_TAU06 {_RWNEG}"
).split()
SHIFTED_MASKS = [
    1, 2, 4, 8, 4194304, 8388608, 16777216, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
    16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 33554432, 67108864,
    134217728, 268435456, 536870912, *(2**k for k in range(32, 56)),
]  # fmt: skip
# Variable names per file (satpy's olci_l2.yaml).
PRODUCT_VARIABLES = {
    "chl_nn.nc": ["CHL_NN"], "chl_oc4me.nc": ["CHL_OC4ME"], "tsm_nn.nc": ["TSM_NN"],
    "iop_nn.nc": ["ADG443_NN"], "trsp.nc": ["KD490_M07"], "par.nc": ["PAR"],
    "w_aer.nc": ["T865", "A865"], "iwv.nc": ["IWV"],
}  # fmt: skip
LOG10_UNITS = {  # units lg(re X): satpy's olci_l2.yaml
    "CHL_OC4ME": "mg.m-3", "CHL_NN": "mg.m-3", "TSM_NN": "g.m-3", "ADG443_NN": "m-1",
    "KD490_M07": "m-1",
}  # fmt: skip
LG_RE = re.compile(r"lg\s*\(\s*re:?\s*(.*)\)")  # SNAP's regex (s3tbx OlciProductFactory)
WHEN = datetime(2019, 11, 4, 13, 50, 1, 880000, tzinfo=UTC)
R_EARTH = 6371008.8


def small_spec(**kw) -> SceneSpec:
    """A 200 x 257 scene over the Amazon (the acquisition of a real name in sen3r's notebooks)."""
    base = {"centre_lon": -60.0, "centre_lat": -3.0, "sensing_start": WHEN, "rows": 200,
            "columns": 257, "seed": 1}  # fmt: skip
    return SceneSpec(**{**base, **kw})


WATER_BOX = shapely.box(-60.12, -3.12, -59.9, -2.9)


@pytest.fixture(scope="module")
def product(tmp_path_factory) -> Path:
    """The default file set of the small scene with a water polygon."""
    return write_product(small_spec(), tmp_path_factory.mktemp("p"), water=WATER_BOX)


def raw(path: Path, var: str) -> tuple[np.ndarray, dict]:
    """Raw integers and attributes of a variable (no netCDF4 masking or scaling)."""
    with netCDF4.Dataset(path) as ds:
        v = ds[var]
        v.set_auto_maskandscale(False)
        return v[:], {k: v.getncattr(k) for k in v.ncattrs()} | {"dtype": v.dtype}


def flags(product: Path) -> tuple[np.ndarray, dict[str, np.uint64]]:
    """WQSF (uint64) and name -> mask from the file's own attributes."""
    bits, attrs = raw(product / "wqsf.nc", "WQSF")
    masks = np.asarray(attrs["flag_masks"], dtype=np.uint64)
    return bits, dict(zip(attrs["flag_meanings"].split(), masks, strict=True))


def any_of(bits: np.ndarray, mask_of: dict, *names: str) -> np.ndarray:
    """Pixels with at least one of the named flags."""
    m = np.uint64(0)
    for n in names:
        m |= mask_of[n]
    return (bits & m) != 0


def haversine(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distance in metres."""
    lon1, lat1, lon2, lat2 = map(np.radians, (lon1, lat1, lon2, lat2))
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * R_EARTH * np.arcsin(np.sqrt(h))


def md5(path: Path) -> str:
    """Hex MD5 of a file."""
    return hashlib.md5(path.read_bytes()).hexdigest()


# --- name ----------------------------------------------------------------------------


def test_name_is_the_documented_example_with_our_creation_time():
    spec = small_spec(rows=4091, columns=4865, baseline="002")
    name = product_name(spec)
    # That real name; our creation time is deterministic: sensing start + 20 days.
    assert name == (
        "S3A_OL_2_WFR____20191104T135002_20191104T135302_20191124T135002_0179_051_124_3060"
        "_MAR_O_NT_002.SEN3"
    )
    assert len(name) == 94 + len(".SEN3")


def test_name_fields_parse_back():
    spec = small_spec(mission="S3B", timeliness="NR", baseline="003", relative_orbit=7,
                      frame=42, cycle=3)  # fmt: skip
    m = NAME_RE.match(product_name(spec))
    assert m, product_name(spec)
    start = datetime.strptime(m["start"], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    stop = datetime.strptime(m["stop"], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    created = datetime.strptime(m["created"], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    assert abs((start - WHEN).total_seconds()) <= 0.5
    last_row = WHEN + timedelta(microseconds=44001 * 199)
    assert abs((stop - last_row).total_seconds()) <= 0.5
    assert abs((created - WHEN - timedelta(days=20)).total_seconds()) <= 0.5
    duration, cycle, orbit, frame = m["instance"].split("_")
    assert (int(duration), int(cycle), int(orbit), int(frame)) == (8, 3, 7, 42)
    assert (m["mission"], m["type"], m["centre"], m["platform"]) == ("S3B", "WFR___", "MAR", "O")
    assert (m["timeliness"], m["baseline"]) == ("NR", "003")


def test_nr_and_nt_twins_differ_only_in_timeliness():
    a, b = product_name(small_spec(timeliness="NR")), product_name(small_spec(timeliness="NT"))
    assert a[88:90] == "NR" and b[88:90] == "NT"  # class ID at 86-93, XX at 88-89
    assert a[:88] == b[:88] and a[90:] == b[90:]


@pytest.mark.parametrize(
    "bad",
    [{"columns": 256}, {"columns": 4864}, {"sensing_start": datetime(2020, 1, 1)},
     {"layout": "new"}, {"mission": "S2A"}, {"timeliness": "XX"}, {"baseline": "005"},
     {"baseline": "004", "layout": "classic"}, {"baseline": "004", "layout": "shifted"},
     {"baseline": "003", "layout": "collection4"}, {"cloud_fraction": 1.0},
     {"relative_orbit": 0}],
)  # fmt: skip
def test_spec_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        small_spec(**bad)


def test_collection4_has_its_own_wqsf_table():
    """A real Collection 4 product's WQSF (SNAP's description of S3B_OL_2_WFR____20221216T131616,
    tests/data/real-flag-tables) names the chlor_a failure CHLOR_A_FAIL: baseline 004 takes
    that table by default, and only 004 may carry it."""
    assert small_spec(baseline="004").layout == "collection4"
    assert small_spec(baseline="003").layout == "classic"
    with pytest.raises(ValueError, match=r"layout 'shifted' with baseline 004.*CHLOR_A_FAIL"):
        small_spec(baseline="004", layout="shifted")


# --- geometry ------------------------------------------------------------------------


def test_geo_coordinates_hold_the_swath_truth(product):
    spec = small_spec()
    lon_true, lat_true = swath_lonlat(spec)
    with netCDF4.Dataset(product / "geo_coordinates.nc") as ds:
        assert ds.dimensions["rows"].size == 200 and ds.dimensions["columns"].size == 257
        assert ds["latitude"].dimensions == ("rows", "columns")
        lat, lon = ds["latitude"][:], ds["longitude"][:]
        for name, units in (("latitude", "degrees_north"), ("longitude", "degrees_east")):
            v = ds[name]
            assert v.dtype == np.int32 and v.scale_factor == 1e-6
            assert v._FillValue == -2147483648 and v.units == units
            assert v.standard_name == name and v.long_name.startswith("DEM corrected")
        assert ds["altitude"].dtype == np.int16
    assert np.abs(lat - lat_true).max() <= 1e-6
    dlon = (lon - lon_true + 180.0) % 360.0 - 180.0
    assert np.abs(dlon).max() <= 1e-6


def test_tie_grid_is_the_full_grid_at_every_64th_column(product):
    full_lat, _ = raw(product / "geo_coordinates.nc", "latitude")
    full_lon, _ = raw(product / "geo_coordinates.nc", "longitude")
    tie_lat, attrs = raw(product / "tie_geo_coordinates.nc", "latitude")
    tie_lon, _ = raw(product / "tie_geo_coordinates.nc", "longitude")
    with netCDF4.Dataset(product / "tie_geo_coordinates.nc") as ds:
        assert ds.dimensions["tie_rows"].size == 200
        assert ds.dimensions["tie_columns"].size == (257 - 1) // 64 + 1 == 5
        assert ds["latitude"].dimensions == ("tie_rows", "tie_columns")
    assert attrs["dtype"] == np.int32
    cols = 64 * np.arange(5)
    np.testing.assert_array_equal(tie_lat, full_lat[:, cols])
    np.testing.assert_array_equal(tie_lon, full_lon[:, cols])


def test_pixel_spacing_and_curvature_on_a_full_size_swath():
    spec = small_spec(rows=4091, columns=4865)
    lon, lat = swath_lonlat(spec, rows=slice(1000, 1011), cols=slice(2430, 2435))
    along = haversine(lon[:-1], lat[:-1], lon[1:], lat[1:])
    assert np.allclose(along, 294.0, atol=1.0)
    lon, lat = swath_lonlat(spec, rows=slice(2045, 2046))
    across = haversine(lon[0, :-1], lat[0, :-1], lon[0, 1:], lat[0, 1:])
    assert across.min() >= 250 and across.max() <= 400
    assert 265 < across[2431] < 275 and across[0] > across[2431] + 30  # grows to the edges
    # the row is not a straight line in lon/lat: middle point far from the end-point chord
    p0, p1, pm = (np.array([lon[0, i], lat[0, i]]) for i in (0, -1, 2432))
    d = p1 - p0
    offset = abs(d[0] * (pm - p0)[1] - d[1] * (pm - p0)[0]) / np.hypot(*d)
    assert offset > 0.005
    # lat and lon both vary along both axes
    lon2, lat2 = swath_lonlat(spec, rows=slice(0, None, 4090), cols=slice(0, None, 4864))
    for a in (lon2, lat2):
        assert abs(a[1, 0] - a[0, 0]) > 0.1 and abs(a[0, 1] - a[0, 0]) > 0.1


def test_swath_width_and_centre():
    spec = small_spec(rows=4091, columns=4865)
    lon, lat = swath_lonlat(spec, rows=slice(2045, 2046), cols=slice(0, None, 2432))
    assert lon[0, 1] == pytest.approx(-60.0, abs=1e-9) and lat[0, 1] == pytest.approx(-3.0)
    width = haversine(lon[0, 0], lat[0, 0], lon[0, 2], lat[0, 2])
    assert 1.2e6 < width < 1.5e6


def test_antimeridian_scene(tmp_path):
    spec = small_spec(centre_lon=179.9)
    lon, _ = swath_lonlat(spec)
    assert (lon > 170).any() and (lon < -170).any()
    assert lon.min() >= -180.0 and lon.max() < 180.0
    product = write_product(spec, tmp_path, files=())
    with netCDF4.Dataset(product / "geo_coordinates.nc") as ds:
        stored = ds["longitude"][:]
    assert stored.min() >= -180.0 and stored.max() < 180.0
    assert np.abs((stored - lon + 180.0) % 360.0 - 180.0).max() <= 1e-6
    east = lon > 0
    gap = haversine(lon[:, :-1], 0.0, lon[:, 1:], 0.0)  # no jump between neighbours
    assert gap.max() < 1000 and east.any() and (~east).any()


@pytest.mark.parametrize("lat", [75.0, -80.0, 89.9])
def test_high_latitude_scene(tmp_path, lat):
    spec = small_spec(centre_lat=lat, centre_lon=20.0)
    lon, la = swath_lonlat(spec)
    assert np.isfinite(lon).all() and np.isfinite(la).all()
    along = haversine(lon[:-1, 128], la[:-1, 128], lon[1:, 128], la[1:, 128])
    across = haversine(lon[100, :-1], la[100, :-1], lon[100, 1:], la[100, 1:])
    assert np.allclose(along, 294.0, atol=1.0) and across.min() > 250 and across.max() < 400
    if lat == 75.0:
        product = write_product(spec, tmp_path, files={"wqsf.nc", "Oa08_reflectance.nc"})
        stored, _ = raw(product / "geo_coordinates.nc", "latitude")
        assert np.abs(stored * 1e-6 - la).max() <= 1e-6


@settings(max_examples=25, deadline=None)
@given(
    r0=st.integers(0, 4000), nr=st.integers(1, 60), rs=st.integers(1, 5),
    c0=st.integers(0, 4800), nc=st.integers(1, 60), cs=st.integers(1, 7),
)  # fmt: skip
def test_window_equals_the_slice_of_a_bigger_grid(r0, nr, rs, c0, nc, cs):
    spec = small_spec(rows=4091, columns=4865, centre_lon=179.95, centre_lat=60.0)
    rows, cols = slice(r0, r0 + nr * rs, rs), slice(c0, c0 + nc * cs, cs)
    lon_w, lat_w = swath_lonlat(spec, rows, cols)
    lon_r, lat_r = swath_lonlat(spec, slice(r0, r0 + nr * rs))  # all columns
    lon_r, lat_r = lon_r[::rs, cols], lat_r[::rs, cols]
    assert lon_w.shape == lon_r.shape
    assert np.abs((lon_w - lon_r + 180) % 360 - 180).max() < 1e-9
    assert np.abs(lat_w - lat_r).max() < 1e-9


# --- angles --------------------------------------------------------------------------


def noaa_sun(lon, lat, when: datetime):
    """SZA, SAA (degrees) by NOAA's general solar position formulas (an independent oracle)."""
    doy = when.timetuple().tm_yday
    hour = when.hour + when.minute / 60 + when.second / 3600
    g = 2 * math.pi / 365 * (doy - 1 + (hour - 12) / 24)
    eqtime = 229.18 * (0.000075 + 0.001868 * math.cos(g) - 0.032077 * math.sin(g)
                       - 0.014615 * math.cos(2 * g) - 0.040849 * math.sin(2 * g))  # fmt: skip
    decl = (0.006918 - 0.399912 * math.cos(g) + 0.070257 * math.sin(g)
            - 0.006758 * math.cos(2 * g) + 0.000907 * math.sin(2 * g)
            - 0.002697 * math.cos(3 * g) + 0.00148 * math.sin(3 * g))  # fmt: skip
    tst = hour * 60 + eqtime + 4 * lon
    ha = np.radians(tst / 4 - 180)
    phi = np.radians(lat)
    sza = np.degrees(np.arccos(np.sin(phi) * np.sin(decl)
                               + np.cos(phi) * np.cos(decl) * np.cos(ha)))  # fmt: skip
    saa = np.degrees(np.arctan2(np.sin(ha), np.cos(ha) * np.sin(phi) - np.tan(decl) * np.cos(phi)))
    return sza, (saa + 180 + 180) % 360 - 180


def test_tie_geometries_hold_the_angle_truth(product):
    spec = small_spec()
    truth = angles_truth(spec, cols=slice(0, None, 64))
    for var, dtype in (("SZA", np.uint32), ("OZA", np.uint32), ("SAA", np.int32),
                       ("OAA", np.int32)):  # fmt: skip
        stored, attrs = raw(product / "tie_geometries.nc", var)
        assert attrs["dtype"] == dtype and attrs["scale_factor"] == 1e-6
        assert attrs["units"] == "degrees"
        diff = stored * 1e-6 - truth[var]
        if var in ("SAA", "OAA"):
            diff = (diff + 180) % 360 - 180
        assert np.abs(diff).max() <= 1e-6, var


def test_viewing_angles_follow_the_swath():
    spec = small_spec(heading_deg=192.0)
    a = angles_truth(spec, rows=slice(100, 101))
    oza, oaa = a["OZA"][0], a["OAA"][0]
    assert oza[128] == pytest.approx(0.0, abs=1e-9)
    assert oza[0] == pytest.approx(55.0, abs=0.5) and oza[-1] == pytest.approx(55.0, abs=0.5)
    assert np.all(np.diff(oza[128:]) > 0) and np.all(np.diff(oza[:129]) < 0)
    # left of the track the satellite is at heading + 90 (282 -> -78), right at heading - 90
    assert np.allclose(oaa[:128], -78.0, atol=2.0) and np.allclose(oaa[129:], 102.0, atol=2.0)
    assert np.all((oaa > -180) & (oaa <= 180))


def test_sun_angles_agree_with_noaa():
    spec = small_spec()
    a = angles_truth(spec, rows=slice(0, None, 50), cols=slice(0, None, 64))
    lon, lat = swath_lonlat(spec, rows=slice(0, None, 50), cols=slice(0, None, 64))
    for i, r in enumerate(range(0, 200, 50)):
        when = WHEN + timedelta(microseconds=44001 * r)
        sza, saa = noaa_sun(lon[i], lat[i], when)
        # NOAA's fractional-year series is itself only good to a few tenths of a degree
        assert np.abs(a["SZA"][i] - sza).max() < 0.3
        assert np.abs((a["SAA"][i] - saa + 180) % 360 - 180).max() < 0.6
    assert (a["SZA"] > 20).all() and (a["SZA"] < 50).all()  # ~09:50 local, November, tropics


@pytest.mark.parametrize(
    ("when", "declination"),
    [(datetime(2024, 3, 20, 3, 6, tzinfo=UTC), 0.0),  # published equinox / solstice times
     (datetime(2024, 6, 20, 20, 51, tzinfo=UTC), 23.44),
     (datetime(2023, 12, 22, 3, 27, tzinfo=UTC), -23.44)],
)  # fmt: skip
def test_sun_declination_at_equinox_and_solstices(when, declination):
    from eotrend.synthetic.swath import J2000_UNIX_S, solar_angles

    days = (when.timestamp() - J2000_UNIX_S) / 86400.0
    lon, lat = np.meshgrid(np.arange(-180, 180, 0.25), np.arange(-30, 30, 0.01))
    sza, _ = solar_angles(lon, lat, days)
    assert lat.ravel()[np.argmin(sza)] == pytest.approx(declination, abs=0.02)
    assert sza.min() < 0.2


def test_time_stamps(product):
    stamps, attrs = raw(product / "time_coordinates.nc", "time_stamp")
    assert attrs["dtype"] == np.int64 and attrs["units"].startswith("microseconds since 2000")
    first = (WHEN - datetime(2000, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    assert stamps[0] == first and (np.diff(stamps) == 44001).all() and stamps.shape == (200,)


# --- flags ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "meanings", "masks"),
    [("classic", CLASSIC_MEANINGS, CLASSIC_MASKS), ("shifted", SHIFTED_MEANINGS, SHIFTED_MASKS)],
)
def test_wqsf_layouts_follow_the_documented_order(tmp_path, layout, meanings, masks):
    assert len(meanings) == len(masks) == {"classic": 51, "shifted": 54}[layout]
    product = write_product(small_spec(layout=layout), tmp_path, files={"wqsf.nc"})
    bits, attrs = raw(product / "wqsf.nc", "WQSF")
    assert attrs["dtype"] == np.uint64 and bits.dtype == np.uint64
    assert "_FillValue" not in attrs
    assert attrs["flag_meanings"].split() == meanings
    stored = np.asarray(attrs["flag_masks"])
    assert stored.dtype == np.uint64 and stored.tolist() == masks


def test_flags_use_high_bits_and_classes_are_exclusive(product):
    bits, mask_of = flags(product)
    assert (bits >= np.uint64(2**32)).any()
    assert any_of(bits, mask_of, *[n for n in mask_of if n.startswith("RWNEG")]).any()
    classes = [any_of(bits, mask_of, n) for n in ("LAND", "WATER", "INLAND_WATER")]
    assert (sum(c.astype(int) for c in classes) == 1).all()
    cloud, margin = any_of(bits, mask_of, "CLOUD"), any_of(bits, mask_of, "CLOUD_MARGIN")
    assert 0.1 < cloud.mean() < 0.2 and margin.any() and not (cloud & margin).any()
    # the margin is the ring of pixels within 4 (Chebyshev) of a cloud, the inner 2 ambiguous
    ring = binary_dilation(cloud, np.ones((9, 9), bool)) & ~cloud
    np.testing.assert_array_equal(margin, ring)
    inner = binary_dilation(cloud, np.ones((5, 5), bool)) & ~cloud
    np.testing.assert_array_equal(any_of(bits, mask_of, "CLOUD_AMBIGUOUS"), inner)
    assert any_of(bits, mask_of, "INVALID").sum() >= 8


def test_water_polygon_pixels_are_water(product):
    bits, mask_of = flags(product)
    lon, lat = swath_lonlat(small_spec())
    inside = shapely.contains_xy(WATER_BOX, lon, lat)
    assert inside.sum() > 1000
    assert any_of(bits, mask_of, "INLAND_WATER")[inside].all()
    assert not any_of(bits, mask_of, "LAND")[inside].any()


def test_procedural_water_exists_without_polygons(tmp_path):
    product = write_product(small_spec(seed=3), tmp_path, files={"wqsf.nc"})
    bits, mask_of = flags(product)
    assert any_of(bits, mask_of, "WATER").mean() > 0.05
    assert any_of(bits, mask_of, "LAND").mean() > 0.5


# --- values --------------------------------------------------------------------------


def decode(values: np.ndarray, attrs: dict) -> np.ndarray:
    """Physical (or log10) value from raw integers, float64, NaN at fill."""
    out = values * float(attrs.get("scale_factor", 1.0)) + float(attrs.get("add_offset", 0.0))
    return np.where(values == attrs["_FillValue"], np.nan, out)


def variable_files() -> list[tuple[str, str]]:
    """(file, variable) of every water variable, with its _err."""
    pairs = [(f"Oa{b}_reflectance.nc", f"Oa{b}_reflectance") for b in
             ("01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "16", "17",
              "18", "21")]  # fmt: skip
    pairs += [(f, v) for f, vs in PRODUCT_VARIABLES.items() for v in vs]
    return [p for f, v in pairs for p in ((f, v), (f, f"{v}_err"))]


def test_every_variable_has_its_own_fills(product):
    bits, mask_of = flags(product)
    land = any_of(bits, mask_of, "LAND")
    fills = {}
    for f, v in variable_files():
        values, attrs = raw(product / f, v)
        assert values.shape == (200, 257)
        fill = values == attrs["_FillValue"]
        assert fill.any() and (~fill).any(), v
        fills[v] = fill
        if not v.startswith("IWV"):
            assert fill[land].all(), f"{v} has values on land"
    assert not fills["IWV"][land].all()  # IWV also exists over land
    assert (fills["CHL_OC4ME"] != fills["Oa08_reflectance"]).any()
    assert (fills["CHL_OC4ME"] != fills["CHL_NN"]).any()
    assert (fills["KD490_M07"] != fills["TSM_NN"]).any()
    assert (fills["T865"] != fills["Oa08_reflectance"]).any()
    invalid = any_of(bits, mask_of, "INVALID")
    for v, fill in fills.items():
        assert fill[invalid].all(), v
    oc4me_fail = any_of(bits, mask_of, "OC4ME_FAIL")
    assert oc4me_fail.any() and fills["CHL_OC4ME"][oc4me_fail].all()
    assert not fills["Oa08_reflectance"][oc4me_fail & ~invalid].any()


def test_packing_attributes(product):
    for f, v in variable_files():
        _, attrs = raw(product / f, v)
        name = v.removesuffix("_err")
        if name.endswith("_reflectance"):
            assert attrs["dtype"] == np.uint16 and attrs["_FillValue"] == 65535
            assert attrs["scale_factor"] == np.float32(1.8311106e-05)
            assert attrs["add_offset"] == np.float32(-0.2)
            assert isinstance(attrs["scale_factor"], np.float32)
        elif name in LOG10_UNITS:
            assert attrs["dtype"] == np.uint8 and attrs["_FillValue"] == 255
            unit = LG_RE.fullmatch(attrs["units"])
            assert unit and unit.group(1) == LOG10_UNITS[name], attrs["units"]
        elif name == "IWV" and v == name:
            assert attrs["dtype"] == np.uint8 and attrs["_FillValue"] == 255
            assert attrs["scale_factor"] == np.float32(0.3) and attrs["units"] == "kg.m-2"
        else:
            assert attrs["dtype"] in (np.uint16, np.uint8)
        assert attrs["long_name"]


def test_clear_water_pixels_decode_to_the_truth(product):
    bits, mask_of = flags(product)
    clear = any_of(bits, mask_of, "WATER", "INLAND_WATER") & ~any_of(
        bits, mask_of, "CLOUD", "CLOUD_AMBIGUOUS", "CLOUD_MARGIN", "INVALID", "AC_FAIL"
    )
    assert clear.sum() > 3000
    lon, lat = swath_lonlat(small_spec())
    t = 2019 + (WHEN - datetime(2019, 1, 1, tzinfo=UTC)) / timedelta(days=365)
    for f, v in variable_files():
        if v.endswith("_err"):
            continue
        values, attrs = raw(product / f, v)
        stored = decode(values, attrs)
        ok = clear & np.isfinite(stored)
        assert ok.sum() > 1000, v
        truth = water_truth(v, lon[ok], lat[ok], t)
        if v in LOG10_UNITS:
            physical = 10.0 ** stored[ok]
            err = np.abs(np.log10(physical) - np.log10(truth))
        else:
            err = np.abs(stored[ok] - truth)
        assert err.max() <= float(attrs["scale_factor"]) / 2 * (1 + 1e-5) + 1e-12, v


def test_clouds_bias_the_values(product):
    bits, mask_of = flags(product)
    water = any_of(bits, mask_of, "WATER", "INLAND_WATER") & ~any_of(bits, mask_of, "INVALID")
    cloud = water & any_of(bits, mask_of, "CLOUD")
    assert cloud.sum() > 100
    lon, lat = swath_lonlat(small_spec())
    values, attrs = raw(product / "Oa08_reflectance.nc", "Oa08_reflectance")
    stored = decode(values, attrs)[cloud]
    truth = water_truth("Oa08_reflectance", lon[cloud], lat[cloud], 2019.84)
    assert np.all(stored > truth + 0.02)


def test_rwneg_bits_mark_negative_reflectances(product):
    bits, mask_of = flags(product)
    valid = any_of(bits, mask_of, "WATER", "INLAND_WATER") & ~any_of(bits, mask_of, "INVALID")
    for band, n in (("01", 1), ("08", 8), ("21", 21)):
        values, attrs = raw(product / f"Oa{band}_reflectance.nc", f"Oa{band}_reflectance")
        negative = valid & (decode(values, attrs) < 0)
        flagged = any_of(bits, mask_of, f"RWNEG_O{n}")
        np.testing.assert_array_equal(flagged, negative)
    assert any_of(bits, mask_of, "RWNEG_O21").any() and any_of(bits, mask_of, "RWNEG_O1").any()


# --- truth model ---------------------------------------------------------------------


def test_truth_trends_are_linear_and_in_range():
    lon, lat = np.meshgrid(np.linspace(-61, -59, 40), np.linspace(-4, -2, 30))
    for v in ("Oa01_reflectance", "Oa08_reflectance", "Oa21_reflectance"):
        slope = trend_truth(v, lon, lat)
        assert slope.min() >= 1e-3 - 1e-9 and slope.max() <= 5e-3 + 1e-9
        assert slope.std() > 1e-4  # varies in space
        a, b = water_truth(v, lon, lat, 2016.0), water_truth(v, lon, lat, 2024.5)
        np.testing.assert_allclose((b - a) / 8.5, slope, atol=1e-12)
        np.testing.assert_allclose(water_truth(v, lon, lat, 2020.0) + 2 * slope,
                                   water_truth(v, lon, lat, 2022.0), atol=1e-12)  # fmt: skip
    for v in LOG10_UNITS:
        la, lb = (
            np.log10(water_truth(v, lon, lat, 2017.0)),
            np.log10(water_truth(v, lon, lat, 2023.0)),
        )
        np.testing.assert_allclose((lb - la) / 6.0, trend_truth(v, lon, lat), atol=1e-9)
    t = np.array([2018.0, 2021.0])[:, None, None]
    assert water_truth("CHL_NN", lon, lat, t).shape == (2, 30, 40)  # broadcasts
    with pytest.raises(ValueError):
        water_truth("NDVI", lon, lat, 2020.0)


def test_truth_is_smooth_between_neighbouring_pixels():
    spec = small_spec()
    lon, lat = swath_lonlat(spec)
    for v in ("Oa08_reflectance", "Oa01_reflectance", "TSM_NN", "CHL_OC4ME", "IWV", "T865"):
        value = water_truth(v, lon, lat, 2020.0)
        step = max(np.abs(np.diff(value, axis=0)).max(), np.abs(np.diff(value, axis=1)).max())
        relative = 0.05 if v in LOG10_UNITS else 0.02  # log10 products span decades
        assert step < relative * np.abs(value).mean(), v
        assert value.max() - value.min() > 10 * step, v  # but it varies over the scene


# --- manifest, determinism, zip, atomicity ---------------------------------------------

NS = {
    "xfdu": "urn:ccsds:schema:xfdu:1",
    "sentinel-safe": "http://www.esa.int/safe/sentinel/1.1",
    "gml": "http://www.opengis.net/gml",
    "sentinel3": "http://www.esa.int/safe/sentinel/sentinel-3/1.0",
    "olci": "http://www.esa.int/safe/sentinel/sentinel-3/olci/1.0",
}


def test_manifest_lists_every_file_with_size_and_md5(product):
    root = ET.parse(product / "xfdumanifest.xml").getroot()
    listed = {}
    for obj in root.iterfind("dataObjectSection/dataObject"):
        stream = obj.find("byteStream")
        href = stream.find("fileLocation").get("href")
        listed[href.removeprefix("./")] = (int(stream.get("size")), stream.find("checksum").text)
        assert stream.find("checksum").get("checksumName") == "MD5"
    on_disk = sorted(p.name for p in product.glob("*.nc"))
    assert sorted(listed) == on_disk == sorted(WFR_FILES)
    for name, (size, digest) in listed.items():
        assert size == (product / name).stat().st_size and digest == md5(product / name)
    info = root.find(".//sentinel3:generalProductInformation", NS)
    assert info.find("sentinel3:productName", NS).text == product.name
    assert info.find("sentinel3:productType", NS).text == "OL_2_WFR___"
    assert info.find("sentinel3:timeliness", NS).text == "NT"
    assert info.find("sentinel3:baselineCollection", NS).text == "003"
    assert info.find("sentinel3:creationTime", NS).text == "20191124T135002"
    assert int(info.find("sentinel3:productSize", NS).text) == sum(s for s, _ in listed.values())
    size = root.find(".//olci:imageSize", NS)
    assert size.find("sentinel3:rows", NS).text == "200"
    assert size.find("sentinel3:columns", NS).text == "257"
    sampling = root.find(".//olci:samplingParameters", NS)
    assert sampling.find("olci:columnsPerTiePoint", NS).text == "64"
    start = root.find(".//sentinel-safe:startTime", NS).text
    with netCDF4.Dataset(product / "Oa08_reflectance.nc") as ds:
        assert start == ds.start_time
    assert root.find(".//sentinel-safe:platform/sentinel-safe:number", NS).text == "A"


def test_manifest_footprint_is_a_closed_lat_lon_ring_on_the_swath_edges(product):
    root = ET.parse(product / "xfdumanifest.xml").getroot()
    pos = np.array(root.find(".//gml:posList", NS).text.split(), dtype=float).reshape(-1, 2)
    assert 40 <= len(pos) <= 60
    np.testing.assert_array_equal(pos[0], pos[-1])
    lon, lat = swath_lonlat(small_spec())
    corners = [(0, 0), (199, 0), (199, 256), (0, 256)]
    for r, c in corners:  # each corner appears, latitude first
        d = np.hypot(pos[:, 0] - lat[r, c], pos[:, 1] - lon[r, c])
        assert d.min() < 1e-5
    edge = np.concatenate([np.c_[lat[:, 0], lon[:, 0]], np.c_[lat[:, -1], lon[:, -1]],
                           np.c_[lat[0], lon[0]], np.c_[lat[-1], lon[-1]]])  # fmt: skip
    for p in pos:  # every footprint point is a pixel centre on an edge
        assert np.hypot(*(edge - p).T).min() < 1e-5


def test_global_attributes(product):
    for f in WFR_FILES:
        with netCDF4.Dataset(product / f) as ds:
            attrs = {k: ds.getncattr(k) for k in ds.ncattrs()}
        assert attrs["product_name"] == product.name
        assert attrs["ac_subsampling_factor"] == 64 and attrs["al_subsampling_factor"] == 1
        assert isinstance(attrs["ac_subsampling_factor"], np.uint16)
        assert isinstance(attrs["al_subsampling_factor"], np.uint16)
        assert isinstance(attrs["absolute_orbit_number"], np.uint32)
        start = datetime.strptime(attrs["start_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        stop = datetime.strptime(attrs["stop_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        assert start.replace(tzinfo=UTC) == WHEN
        assert stop - start == timedelta(microseconds=44001 * 199)
        assert re.fullmatch(r"OLCI Level 2 WATER Product, .+ Data Set", attrs["title"])
        for key in ("comment", "contact", "creation_time", "history", "institution",
                    "netCDF_version", "references", "resolution", "source"):  # fmt: skip
            assert key in attrs, key
        assert "Conventions" not in attrs
    with netCDF4.Dataset(product / "wqsf.nc") as ds:
        assert ds.title == "OLCI Level 2 WATER Product, Classification, Quality and Science " \
            "Flags Data Set"  # fmt: skip


def test_variable_names_per_file(product):
    expected = {f"Oa{b}_reflectance.nc": [f"Oa{b}_reflectance", f"Oa{b}_reflectance_err"]
                for b in ("01", "08", "21")}  # fmt: skip
    expected |= {f: [x for v in vs for x in (v, f"{v}_err")] for f, vs in PRODUCT_VARIABLES.items()}
    expected |= {"wqsf.nc": ["WQSF"], "geo_coordinates.nc": ["latitude", "longitude", "altitude"],
                 "tie_geo_coordinates.nc": ["latitude", "longitude"],
                 "tie_geometries.nc": ["SZA", "SAA", "OZA", "OAA"],
                 "time_coordinates.nc": ["time_stamp"]}  # fmt: skip
    for f, names in expected.items():
        with netCDF4.Dataset(product / f) as ds:
            assert sorted(ds.variables) == sorted(names), f


def test_writes_are_deterministic(tmp_path):
    spec = small_spec(cloud_fraction=0.3, layout="shifted")
    a = write_product(spec, tmp_path / "a", water=WATER_BOX)
    b = write_product(spec, tmp_path / "b", water=WATER_BOX)
    files = sorted(p.name for p in a.iterdir())
    assert files == sorted(p.name for p in b.iterdir()) and len(files) == len(WFR_FILES) + 1
    assert [md5(a / f) for f in files] == [md5(b / f) for f in files]
    c = write_product(small_spec(cloud_fraction=0.3, layout="shifted", seed=9), tmp_path / "c",
                      water=WATER_BOX)  # fmt: skip
    assert md5(a / "wqsf.nc") != md5(c / "wqsf.nc")


def test_zip_is_stored_with_a_single_top_folder(tmp_path):
    spec = small_spec()
    path = write_product(spec, tmp_path, files={"Oa08_reflectance.nc"}, zip=True)
    name = product_name(spec)
    assert path == tmp_path / f"{name}.zip"
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        assert {i.filename.split("/")[0] for i in infos} == {name}
        members = {i.filename.split("/", 1)[1] for i in infos if not i.is_dir()}
        assert members == {p.name for p in (tmp_path / name).iterdir()}
        data = zf.read(f"{name}/Oa08_reflectance.nc")
    assert hashlib.md5(data).hexdigest() == md5(tmp_path / name / "Oa08_reflectance.nc")
    again = write_product(spec, tmp_path / "again", files={"Oa08_reflectance.nc"}, zip=True)
    assert md5(again) == md5(path)


def test_file_subset_and_mandatory_files(tmp_path):
    product = write_product(small_spec(), tmp_path, files={"Oa08_reflectance.nc"})
    assert sorted(p.name for p in product.iterdir()) == [
        "Oa08_reflectance.nc", "geo_coordinates.nc", "tie_geo_coordinates.nc",
        "xfdumanifest.xml",
    ]  # fmt: skip
    root = ET.parse(product / "xfdumanifest.xml").getroot()
    assert len(root.findall("dataObjectSection/dataObject")) == 3
    with pytest.raises(ValueError, match="tie_meteo"):
        write_product(small_spec(), tmp_path, files={"tie_meteo.nc"})


def test_write_is_atomic_and_replaces(tmp_path, monkeypatch):
    spec = small_spec()
    final = tmp_path / product_name(spec)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    with monkeypatch.context() as m:
        m.setattr(synthetic_product, "_write_tie_geo", broken)
        with pytest.raises(RuntimeError):
            write_product(spec, tmp_path, files=())
    assert list(tmp_path.iterdir()) == []
    first = write_product(spec, tmp_path, files=())
    assert first == final and "Oa08_reflectance.nc" not in {p.name for p in final.iterdir()}
    write_product(spec, tmp_path, files={"Oa08_reflectance.nc"})  # replaces the product
    assert [p.name for p in tmp_path.iterdir()] == [final.name]
    assert (final / "Oa08_reflectance.nc").exists()


# --- Collection 4 (baseline 004) -------------------------------------------------------

# The netCDF files of the real 004 product S3B_OL_2_WFR____20260301T234556_..._MAR_O_NT_004
# (its xfdumanifest.xml dataObjectSection, stactools-packages/sentinel3), typed by hand:
# 33 files; the generator leaves out tie_meteo.nc and instrument_data.nc (documented).
REAL_004_FILES = [
    *(f"Oa{b}_reflectance.nc" for b in ("01", "02", "03", "04", "05", "06", "07", "08", "09",
                                         "10", "11", "12", "16", "17", "18", "21")),
    "chl_nn.nc", "chlor_a.nc", "fluorescence.nc", "geo_coordinates.nc", "instrument_data.nc",
    "iop_lsd.nc", "iop_nn.nc", "iwv.nc", "par.nc", "tie_geo_coordinates.nc",
    "tie_geometries.nc", "tie_meteo.nc", "time_coordinates.nc", "trsp.nc", "tsm_nn.nc",
    "w_aer.nc", "wqsf.nc",
]  # fmt: skip
# The same manifest's dataObject ID and textInfo of the three new files.
REAL_004_OBJECTS = {
    "chlor_a.nc": ("chlor_aData", "OC4Me algorithm Chlorophyll concentration"),
    "fluorescence.nc": ("fluoData", "Fluorescence Peak Height"),
    "iop_lsd.nc": ("iopLsdData", "Inherent Optical Properties of water"),
}
WHEN_004 = datetime(2026, 3, 1, 13, 50, 1, 880000, tzinfo=UTC)


@pytest.fixture(scope="module")
def product_004(tmp_path_factory) -> Path:
    """The default file set of a small baseline-004 scene with a water polygon."""
    spec = small_spec(baseline="004", sensing_start=WHEN_004)
    return write_product(spec, tmp_path_factory.mktemp("p004"), water=WATER_BOX)


def test_collection4_has_the_004_file_set_listed_in_its_manifest(product_004):
    """The real 004 manifest's file set (no chl_oc4me.nc; chlor_a.nc, fluorescence.nc,
    iop_lsd.nc with its IDs and texts), each file listed with its real size and MD5
    (hashlib), baselineCollection 004, processingBaseline and IPF-OL-2 08.00."""
    assert len(REAL_004_FILES) == 33  # as that manifest lists
    expected = sorted(set(REAL_004_FILES) - {"tie_meteo.nc", "instrument_data.nc"})
    on_disk = sorted(p.name for p in product_004.glob("*.nc"))
    assert on_disk == expected and "chl_oc4me.nc" not in on_disk
    assert product_004.name.endswith("_MAR_O_NT_004.SEN3")
    root = ET.parse(product_004 / "xfdumanifest.xml").getroot()
    listed = {}
    for obj in root.iterfind("dataObjectSection/dataObject"):
        stream = obj.find("byteStream")
        location = stream.find("fileLocation")
        name = location.get("href").removeprefix("./")
        listed[name] = (obj.get("ID"), location.get("textInfo"), int(stream.get("size")),
                        stream.find("checksum").text)  # fmt: skip
    assert sorted(listed) == expected
    for name, (_, _, size, digest) in listed.items():
        assert size == (product_004 / name).stat().st_size and digest == md5(product_004 / name)
    for name, (ident, text) in REAL_004_OBJECTS.items():
        assert listed[name][:2] == (ident, text)
    info = root.find(".//sentinel3:generalProductInformation", NS)
    assert info.find("sentinel3:baselineCollection", NS).text == "004"
    assert info.find("sentinel3:processingBaseline", NS).text == "OL__L2M.004.00.00"
    assert int(info.find("sentinel3:productSize", NS).text) == sum(v[2] for v in listed.values())
    software = root.find(".//sentinel-safe:software", NS)
    assert (software.get("name"), software.get("version")) == ("IPF-OL-2", "08.00")
    for name in expected:
        with netCDF4.Dataset(product_004 / name) as ds:
            assert ds.source == "IPF-OL-2 08.00" and ds.product_name == product_004.name


def test_collection4_wqsf_flags_iop_lsd_and_chlor_a_failures(product_004):
    """Collection 4 carries IOP_LSD_FAIL (bit 29, as the 2024 table) and names the chlor_a
    failure CHLOR_A_FAIL (the real table, tests/data/real-flag-tables): IOP_LSD_FAIL is set
    on some water pixels, where ADG443_LSD is fill; chlor_a fails with CHLOR_A_FAIL."""
    _, attrs = raw(product_004 / "wqsf.nc", "WQSF")
    meanings = attrs["flag_meanings"].split()
    assert "CHLOR_A_FAIL" in meanings and "OC4ME_FAIL" not in meanings
    bits, mask_of = flags(product_004)
    water = any_of(bits, mask_of, "WATER", "INLAND_WATER") & ~any_of(bits, mask_of, "INVALID")
    lsd_fail = any_of(bits, mask_of, "IOP_LSD_FAIL")
    assert 0 < lsd_fail.sum() < 0.05 * water.sum() and not (lsd_fail & ~water).any()
    lsd, lsd_attrs = raw(product_004 / "iop_lsd.nc", "ADG443_LSD")
    chl, chl_attrs = raw(product_004 / "chlor_a.nc", "chlor_a")
    lsd_fill, chl_fill = lsd == lsd_attrs["_FillValue"], chl == chl_attrs["_FillValue"]
    chl_fail = any_of(bits, mask_of, "CHLOR_A_FAIL")
    assert chl_fail.sum() > 0 and lsd_fill[lsd_fail].all() and chl_fill[chl_fail].all()
    assert (lsd_fill != chl_fill).any()  # each product fails on its own flag


def test_collection4_variables_decode_to_the_truth(product_004):
    """chlor_a holds the OC4Me chlorophyll (CHL_OC4ME's truth), ADG443_LSD ADG443_NN's,
    FPH its own linear model: names, packing and units the generator's (unverified)."""
    bits, mask_of = flags(product_004)
    clear = any_of(bits, mask_of, "WATER", "INLAND_WATER") & ~any_of(
        bits, mask_of, "CLOUD", "CLOUD_AMBIGUOUS", "CLOUD_MARGIN", "INVALID"
    )
    spec = small_spec(baseline="004", sensing_start=WHEN_004)
    lon, lat = swath_lonlat(spec)
    t = 2026 + (WHEN_004 - datetime(2026, 1, 1, tzinfo=UTC)) / timedelta(days=365)
    cases = [("chlor_a.nc", "chlor_a", "CHL_OC4ME", "mg.m-3"),
             ("iop_lsd.nc", "ADG443_LSD", "ADG443_NN", "m-1"),
             ("fluorescence.nc", "FPH", "FPH", None)]  # fmt: skip
    for f, v, model, log_unit in cases:
        with netCDF4.Dataset(product_004 / f) as ds:
            assert sorted(ds.variables) == sorted([v, f"{v}_err"])
        values, attrs = raw(product_004 / f, v)
        stored = decode(values, attrs)
        ok = clear & np.isfinite(stored)
        assert ok.sum() > 1000, v
        truth = water_truth(model, lon[ok], lat[ok], t)
        if log_unit:
            assert LG_RE.fullmatch(attrs["units"]).group(1) == log_unit
            err = np.abs(stored[ok] - np.log10(truth))
        else:
            assert attrs["units"] == "mW.m-2.sr-1.nm-1"  # linear, not lg(re ...)
            err = np.abs(stored[ok] - truth)
        assert err.max() <= float(attrs["scale_factor"]) / 2 * (1 + 1e-5) + 1e-12, v
    np.testing.assert_allclose(trend_truth("FPH", lon, lat), 0.003)


def test_each_baseline_writes_only_its_own_files(tmp_path):
    """chlor_a.nc exists only from baseline 004 on, chl_oc4me.nc only before."""
    with pytest.raises(ValueError, match=r"chlor_a\.nc.*baseline 003"):
        write_product(small_spec(), tmp_path, files={"chlor_a.nc"})
    spec = small_spec(baseline="004")
    with pytest.raises(ValueError, match=r"chl_oc4me\.nc.*baseline 004"):
        write_product(spec, tmp_path, files={"chl_oc4me.nc"})
    product = write_product(spec, tmp_path, files={"chlor_a.nc"})
    assert sorted(p.name for p in product.glob("*.nc")) == [
        "chlor_a.nc", "geo_coordinates.nc", "tie_geo_coordinates.nc",
    ]  # fmt: skip


def test_reflectance_noise_is_white_noise_of_the_given_std_on_the_written_values(product, tmp_path):
    """reflectance_noise (a bench option that gives real file sizes) adds zero-mean noise of
    that std to the reflectances as written and leaves the geolocation alone. Oracle: the
    noiseless product of the same spec."""
    noisy = write_product(
        small_spec(reflectance_noise=1e-3), tmp_path, water=WATER_BOX, files=["Oa08_reflectance.nc"]
    )
    clean, attrs = raw(product / "Oa08_reflectance.nc", "Oa08_reflectance")
    values, _ = raw(noisy / "Oa08_reflectance.nc", "Oa08_reflectance")
    both = (clean != attrs["_FillValue"]) & (values != attrs["_FillValue"])
    assert both.sum() > 5000
    diff = (decode(values, attrs) - decode(clean, attrs))[both]
    # n > 5000: the sample std is within 3 % of the truth and the mean within 5e-5 (3.5
    # standard errors); packing adds a uniform error of std scale/sqrt(12) ~ 5e-6.
    assert abs(diff.std() - 1e-3) < 3e-5
    assert abs(diff.mean()) < 5e-5
    # The geolocation does not move (WQSF does: its RWNEG bits follow the noisy values).
    for name in ("geo_coordinates.nc", "tie_geo_coordinates.nc"):
        assert md5(noisy / name) == md5(product / name)

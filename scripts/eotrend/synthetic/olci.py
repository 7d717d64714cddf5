"""Synthetic Sentinel-3 OLCI Level-2 WFR products with a known truth.

:func:`write_product` writes a ``.SEN3`` folder (and optionally its stored zip) that follows
``reference/olci-format.md`` (cited as §N below): the §1 name, the §2 file names and
variables, the §3 dimensions and global attributes, the §4 tie-point grids, the §5 packing,
the §6 log10 products, the §7.2 WQSF layouts in their exact attribute order and the §8
manifest with real sizes and MD5s. The same :class:`SceneSpec` and arguments always give
byte-identical files.

What the pixels hold:

* Geometry: :mod:`eotrend.synthetic.swath` (curvilinear swath on the sphere).
  :func:`swath_lonlat` and :func:`angles_truth` return the unpacked truth.
* Surface: LAND everywhere except a wavy "sea" strip along the right swath edge (WATER),
  two procedural lakes and every pixel whose centre lies in the ``water`` polygons
  (INLAND_WATER; tested with shapely ``contains_xy`` in lon/lat, so a polygon is not split
  at the antimeridian). WATER, INLAND_WATER and LAND are mutually exclusive, which is why
  SNAP selects water with ``WATER or INLAND_WATER`` (§7.3).
* Values: :func:`water_truth` at the scene's decimal year (:func:`scene_decimal_year`, from
  ``sensing_start``) on clear water pixels, exactly (up to packing). Water products are fill
  over LAND and on INVALID pixels; IWV is also valid over land. Each product also has its
  own failures (fill + flag): CHL_OC4ME on OC4ME_FAIL, CHL_NN/TSM_NN/ADG443_NN on
  OCNN_FAIL, KD490_M07 on KDM_FAIL, PAR on PAR_FAIL, T865/A865 on AC_FAIL, IWV on WV_FAIL
  (Collection 4: chlor_a on OC4ME_FAIL, ADG443_LSD on IOP_LSD_FAIL).
* Corruptions a reader must reject through the flags: under CLOUD the values exist but are
  biased (reflectance +0.03..0.13, log10 products +0.3, T865 +0.6, A865 -0.6, PAR x0.6,
  FPH +0.2), on the 4-pixel CLOUD_MARGIN ring around clouds (its inner 2 pixels also
  CLOUD_AMBIGUOUS) slightly biased (reflectance +0.004, log10 +0.05, T865 +0.05, FPH
  +0.02); in AC_FAIL
  patches the blue (Oa01-03) and NIR (Oa16-21) reflectances are shifted down by 0.05/0.03,
  which makes them negative (RWNEG_Oxx, bits >= 2^40). ANNOT_TAU06 (T865 > 0.6),
  ANNOT_ANGSTROM (A865 < 0.7) and ANNOT_ABSO_D (AC_FAIL patches) set bits 32-39;
  HISOLZEN marks SZA > 70 deg (at the scene start time). RWNEG also occurs on clear water
  where the truth itself is negative (Oa21 around 2020 and earlier, where the turbidity
  field is low). COASTLINE, TURBID_ATM, TIDAL, SNOW_ICE, glint and the other flags are
  never set.

Packing (§5, §6; ``scale_factor``/``add_offset`` are float32 attributes):

=================  ======  =========  ==========  =====  ====================  ===========
variable           dtype   scale      offset      fill   units                 range
=================  ======  =========  ==========  =====  ====================  ===========
OaNN_reflectance   uint16  1.8311106e-05  -0.2    65535  (none)                -0.2..1.0
CHL_OC4ME, CHL_NN  uint8   0.015      -2.0        255    lg(re mg.m-3)         log -2..1.81
TSM_NN             uint8   0.02       -2.0        255    lg(re g.m-3)          log -2..3.08
ADG443_NN          uint8   0.015      -3.0        255    lg(re m-1)            log -3..0.81
KD490_M07          uint8   0.015      -2.0        255    lg(re m-1)            log -2..1.81
PAR                uint16  0.05       0           65535  µEinstein.m-2.s-1     0..3276.7
T865               uint16  1e-4       0           65535  (none)                0..6.5534
A865               uint16  1e-4       -1.0        65535  (none)                -1..5.5534
IWV                uint8   0.3        0           255    kg.m-2                0..76.2
chlor_a (004)      uint8   0.015      -2.0        255    lg(re mg.m-3)         log -2..1.81
ADG443_LSD (004)   uint8   0.015      -3.0        255    lg(re m-1)            log -3..0.81
FPH (004)          uint16  1e-4       -1.0        65535  mW.m-2.sr-1.nm-1      -1..5.5534
=================  ======  =========  ==========  =====  ====================  ===========

The ``_err`` variables: reflectance errors as the reflectances; log10 product errors are
uint8 0.005/0 in log10 units (units ``lg(re ...)`` like the product); PAR_err as PAR,
T865_err/A865_err uint16 1e-4/0, IWV_err uint8 0.1/0, FPH_err uint16 1e-4/0.

Collection 4 (``baseline="004"``, IPF-OL-2 08.00, §2): the file set of the real 004
manifest (:func:`baseline_files`): no ``chl_oc4me.nc``; ``chlor_a.nc`` ("OC4Me algorithm
Chlorophyll concentration"), ``fluorescence.nc`` ("Fluorescence Peak Height") and
``iop_lsd.nc`` (a second IOP set) instead, with the manifest's data object IDs
(``chlor_aData``, ``fluoData``, ``iopLsdData``) and texts, and the manifest's
``processingBaseline`` OL__L2M.004.00.00. It needs the shifted WQSF layout (IOP_LSD_FAIL,
bit 29, pairs with iop_lsd.nc, §7.2): ``layout="classic"`` with baseline 004 is refused.
The variables inside the three new files are **unverified** (§2: no real file seen); the
generator's choice, which readers must find by name like any other:

* chlor_a.nc: ``chlor_a`` (+ ``chlor_a_err``), log10 packed like CHL_OC4ME, with the
  CHL_OC4ME truth model (the same OC4Me algorithm) and its OC4ME_FAIL failures;
* fluorescence.nc: ``FPH`` (+ ``FPH_err``), linear fluorescence peak height
  (mW.m-2.sr-1.nm-1: 0.13-0.37 + 0.003 (t - 2020)), valid on every clear water pixel;
* iop_lsd.nc: ``ADG443_LSD`` (+ ``ADG443_LSD_err``), log10 packed like ADG443_NN, with the
  ADG443_NN truth model; fill (and IOP_LSD_FAIL set) on about 1 % of the water pixels.

File titles of the new files are the generator's choice too (the real 004 stubs carry
wrong titles, §2). Products of baselines 002 and 003 are byte-identical to those of the
generator before Collection 4 existed in it.

Not generated (documented deviations): ``tie_meteo.nc`` and ``instrument_data.nc`` (their
dims and variables are partly unverified, §3); a baseline other than 002/003/004 is
refused.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import netCDF4
import numpy as np
import shapely

from eotrend.core.atomic import atomic_path
from eotrend.synthetic import swath as sw

# --------------------------------------------------------------------------------------
# Constants (§2, §3, §7.2, §9)
# --------------------------------------------------------------------------------------

BANDS: tuple[str, ...] = (
    "Oa01", "Oa02", "Oa03", "Oa04", "Oa05", "Oa06", "Oa07", "Oa08",
    "Oa09", "Oa10", "Oa11", "Oa12", "Oa16", "Oa17", "Oa18", "Oa21",
)  # fmt: skip
"""The 16 WFR reflectance bands (§9)."""
_CENTRES = (400, 412.5, 442.5, 490, 510, 560, 620, 665, 673.75, 681.25, 708.75, 753.75, 778.75,
            865, 885, 1020)  # fmt: skip
_WIDTHS = (15, 10, 10, 10, 10, 10, 10, 10, 7.5, 7.5, 10, 7.5, 15, 20, 10, 40)
BAND_CENTRE_NM = dict(zip(BANDS, _CENTRES, strict=True))
"""Band centre wavelength in nm (§9)."""
BAND_WIDTH_NM = dict(zip(BANDS, _WIDTHS, strict=True))
"""Band width in nm (§9)."""
LOG10_VARIABLES: tuple[str, ...] = (
    "CHL_OC4ME", "CHL_NN", "TSM_NN", "ADG443_NN", "KD490_M07", "chlor_a", "ADG443_LSD",
)  # fmt: skip
"""Variables stored as log10 of the physical value (§6; chlor_a and ADG443_LSD: the
generator's Collection 4 names, unverified)."""
WATER_VARIABLES: tuple[str, ...] = (
    *(f"{b}_reflectance" for b in BANDS),
    *LOG10_VARIABLES,
    "PAR",
    "T865",
    "A865",
    "IWV",
    "FPH",
)
"""Every variable name :func:`water_truth` accepts."""

AL_TIME_SAMPLING_US = 44001
"""Row time step in microseconds (manifest ``alTimeSampling``, §3)."""
TIE_STEP = 64
"""Columns per tie point (``ac_subsampling_factor``, §4)."""
BLOCK_ROWS = 64
"""Rows computed and written at a time; also the chunk height. Fixed: output depends on it."""
CHUNK_COLUMNS = 512
DEFLATE_LEVEL = 4
CHUNK_CACHE_BYTES = 1 << 20
MARGIN_PX = 4
"""Width of the CLOUD_MARGIN ring around clouds, pixels (Chebyshev distance)."""
AMBIGUOUS_PX = 2
"""Width of the inner part of that ring also flagged CLOUD_AMBIGUOUS, pixels."""
REFERENCE_YEAR = 2020.0
"""Reference epoch of the linear trends in :func:`water_truth` (decimal year)."""
TURBID_LOG10_TSM = 1.1
"""log10 TSM_NN (g.m-3, i.e. 12.6 g.m-3) above which the atmospheric correction starts
failing (AC_FAIL), at a rate rising by 1 per 0.5 in log10 TSM to at most 0.8."""
_EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC)

_ANNOT_NAMES = ("ANGSTROM", "AERO_B", "ABSO_D", "ACLIM", "ABSOA", "MIXR1", "DROUT", "TAU06")
_ANNOT = tuple((f"ANNOT_{n}", 32 + i) for i, n in enumerate(_ANNOT_NAMES))
_RWNEG = tuple((f"RWNEG_O{int(band[2:])}", 40 + i) for i, band in enumerate(BANDS))

# §7.2 "exact attribute order as written in files": (name, bit) in flag_meanings order.
WQSF_LAYOUTS: dict[str, tuple[tuple[str, int], ...]] = {
    "classic": (
        ("INVALID", 0), ("WATER", 1), ("LAND", 2), ("CLOUD", 3), ("CLOUD_AMBIGUOUS", 23),
        ("CLOUD_MARGIN", 24), ("SNOW_ICE", 4), ("INLAND_WATER", 5), ("TIDAL", 6),
        ("COSMETIC", 7), ("SUSPECT", 8), ("HISOLZEN", 9), ("SATURATED", 10), ("MEGLINT", 11),
        ("HIGHGLINT", 12), ("WHITECAPS", 13), ("ADJAC", 14), ("WV_FAIL", 15),
        ("PAR_FAIL", 16), ("AC_FAIL", 17), ("OC4ME_FAIL", 18), ("OCNN_FAIL", 19),
        ("KDM_FAIL", 21), ("BPAC_ON", 25), ("WHITE_SCATT", 26), ("LOWRW", 27),
        ("HIGHRW", 28), *_ANNOT, *_RWNEG,
    ),
    "shifted": (
        ("INVALID", 0), ("WATER", 1), ("LAND", 2), ("CLOUD", 3), ("TURBID_ATM", 22),
        ("CLOUD_AMBIGUOUS", 23), ("CLOUD_MARGIN", 24), ("SNOW_ICE", 4), ("INLAND_WATER", 5),
        ("COASTLINE", 6), ("TIDAL", 7), ("COSMETIC", 8), ("SUSPECT", 9), ("HISOLZEN", 10),
        ("SATURATED", 11), ("MEGLINT", 12), ("HIGHGLINT", 13), ("WHITECAPS", 14),
        ("ADJAC", 15), ("WV_FAIL", 16), ("PAR_FAIL", 17), ("AC_FAIL", 18),
        ("OC4ME_FAIL", 19), ("OCNN_FAIL", 20), ("KDM_FAIL", 21), ("BPAC_ON", 25),
        ("WHITE_SCATT", 26), ("LOWRW", 27), ("HIGHRW", 28), ("IOP_LSD_FAIL", 29),
        *_ANNOT, *_RWNEG,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class _FileInfo:
    """One netCDF file of the product: §3 title part, §8 manifest text and IDs."""

    title: str
    text: str
    data_id: str
    annotation: bool = False


def _file_table() -> dict[str, _FileInfo]:
    """File name -> :class:`_FileInfo` for every file the generator can write (§2, §8)."""
    table = {
        f"{b}_reflectance.nc": _FileInfo(
            f"Reflectance {b}",
            f"Reflectance for OLCI acquisition band {b}",
            f"{b}_reflectanceData",
        )
        for b in BANDS
    }
    table.update({
        "chl_nn.nc": _FileInfo("Neural Net Chlorophyll concentration",
                               "Neural Net Chlorophyll concentration", "chlNnData"),
        "chl_oc4me.nc": _FileInfo("OC4Me Chlorophyll concentration",
                                  "OC4Me algorithm Chlorophyll concentration", "chlOc4meData"),
        # Collection 4: manifest texts and IDs of the real 004 manifest (§2); titles ours.
        "chlor_a.nc": _FileInfo("OC4Me Chlorophyll concentration",
                                "OC4Me algorithm Chlorophyll concentration", "chlor_aData"),
        "fluorescence.nc": _FileInfo("Fluorescence Peak Height", "Fluorescence Peak Height",
                                     "fluoData"),
        "iop_lsd.nc": _FileInfo("LSD Inherent Optical Properties",
                                "Inherent Optical Properties of water", "iopLsdData"),
        "geo_coordinates.nc": _FileInfo("Geo Coordinates", "Geo Coordinates Annotations",
                                        "geoCoordinatesData", True),
        "iop_nn.nc": _FileInfo("Neural Net Inherent Optical Properties",
                               "Inherent Optical Properties of water", "iopNnData"),
        "iwv.nc": _FileInfo("Integrated Water Vapour", "Integrated water vapour column",
                            "iwvData"),
        "par.nc": _FileInfo("Photosynthetically Active Radiation",
                            "Photosynthetically Active Radiation", "parData"),
        "tie_geo_coordinates.nc": _FileInfo("Tie-Point Geo Coordinates",
                                            "Tie-Point Geo Coordinate Annotations",
                                            "tieGeoCoordinatesData", True),
        "tie_geometries.nc": _FileInfo("Tie-Point Geometries",
                                       "Tie-Point Geometries Annotations",
                                       "tieGeometriesData", True),
        "time_coordinates.nc": _FileInfo("Time Stamps", "Time Coordinates Annotations",
                                         "timeCoordinatesData", True),
        "trsp.nc": _FileInfo("Transparency", "Transparency properties of water", "trspData"),
        "tsm_nn.nc": _FileInfo("Neural Net Total Suspended Matter concentration",
                               "Total suspended matter concentration", "tsmNnData"),
        "w_aer.nc": _FileInfo("Aerosol", "Aerosol Over Water", "wAerData"),
        "wqsf.nc": _FileInfo("Classification, Quality and Science Flags",
                             "Water Quality and Science Flags", "wqsfData", True),
    })  # fmt: skip
    return dict(sorted(table.items()))


_FILES = _file_table()
COLLECTION4_NEW: tuple[str, ...] = ("chlor_a.nc", "fluorescence.nc", "iop_lsd.nc")
"""Files that baseline 004 adds (§2)."""
COLLECTION4_GONE: tuple[str, ...] = ("chl_oc4me.nc",)
"""Files that baseline 004 no longer has (§2: chl_oc4me.nc is replaced by chlor_a.nc)."""
WFR_FILES: tuple[str, ...] = tuple(f for f in _FILES if f not in COLLECTION4_NEW)
"""Default file set of baselines 002/003 (the WFR set without tie_meteo.nc and
instrument_data.nc), in the manifest's (ASCII) order."""
WFR_FILES_004: tuple[str, ...] = tuple(f for f in _FILES if f not in COLLECTION4_GONE)
"""Default file set of baseline 004 (the 33 files of §2 without tie_meteo.nc and
instrument_data.nc), in the manifest's (ASCII) order."""
ALWAYS_WRITTEN: frozenset[str] = frozenset({"geo_coordinates.nc", "tie_geo_coordinates.nc"})
"""Files written whatever ``files`` says (plus ``xfdumanifest.xml``)."""
MANIFEST = "xfdumanifest.xml"
IPF_VERSION = {"002": "06.13", "003": "07.01", "004": "08.00"}
"""IPF-OL-2 version per baseline: global attribute ``source`` and manifest software (§2,
§3, §8; 004: IPF-OL-2 08.00 of the real 004 manifest)."""

# --------------------------------------------------------------------------------------
# Scene specification, name and time
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SceneSpec:
    """Everything that determines a synthetic product (and its bytes).

    Attributes:
        centre_lon, centre_lat: swath centre (nadir column, middle row), degrees.
        sensing_start: UTC time of the first row (tz-aware).
        rows, columns: image size; ``columns % 64 == 1`` (tie column j = column 64 j).
        heading_deg: along-track direction of increasing row, clockwise from north.
        mission: ``S3A`` or ``S3B``. timeliness: ``NR``, ``ST`` or ``NT``.
        baseline: collection ``002``, ``003`` or ``004`` (Collection 4: another file set,
            see the module docstring; needs ``layout="shifted"``).
        layout: WQSF layout, ``classic`` or ``shifted`` (§7.2).
        cloud_fraction: fraction of the scene flagged CLOUD, in [0, 1).
        seed: seeds every procedural feature (clouds, lakes, failures).
        relative_orbit (1-385), frame (0-9999), cycle (0-999): name fields (§1).
        reflectance_noise: standard deviation (reflectance units) of white noise added to
            the reflectances as written, 0 by default. The smooth synthetic fields deflate
            far better than real ones (real WFR reflectance files: 13-19 MB in a clear
            scene, olci-format.md §2); bench/common.py picks the noise that gives those
            sizes, for benchmarks of the bytes a product costs.
    """

    centre_lon: float
    centre_lat: float
    sensing_start: datetime
    rows: int = 4091
    columns: int = 4865
    heading_deg: float = 192.0
    mission: str = "S3A"
    timeliness: str = "NT"
    baseline: str = "003"
    layout: str = "classic"
    cloud_fraction: float = 0.15
    seed: int = 0
    relative_orbit: int = 124
    frame: int = 3060
    cycle: int = 51
    reflectance_noise: float = 0.0

    def __post_init__(self) -> None:
        """Reject values that would give a malformed product (ValueError)."""
        problems = []
        if self.sensing_start.tzinfo is None or self.sensing_start.utcoffset() is None:
            problems.append("sensing_start must be timezone-aware (UTC)")
        if self.columns < 65 or self.columns % TIE_STEP != 1:
            problems.append(f"columns must be 64*k + 1 >= 65 (4865, 257, ...), got {self.columns}")
        if self.rows < 1:
            problems.append(f"rows must be >= 1, got {self.rows}")
        if not -90.0 <= self.centre_lat <= 90.0:
            problems.append(f"centre_lat out of [-90, 90]: {self.centre_lat}")
        if self.mission not in ("S3A", "S3B"):
            problems.append(f"mission must be S3A or S3B, got {self.mission!r}")
        if self.timeliness not in ("NR", "ST", "NT"):
            problems.append(f"timeliness must be NR, ST or NT, got {self.timeliness!r}")
        if self.baseline not in ("002", "003", "004"):
            problems.append(
                f"baseline {self.baseline!r} not supported: the file sets of collections "
                "002, 003 and 004 are generated"
            )
        elif self.baseline == "004" and self.layout == "classic":
            problems.append(
                "baseline 004 needs layout='shifted': Collection 4 products carry "
                "IOP_LSD_FAIL (bit 29) for their iop_lsd.nc, which only the shifted WQSF "
                "layout defines (olci-format.md §7.2)"
            )
        if self.layout not in WQSF_LAYOUTS:
            problems.append(f"layout must be one of {sorted(WQSF_LAYOUTS)}, got {self.layout!r}")
        if not 0.0 <= self.cloud_fraction < 1.0:
            problems.append(f"cloud_fraction must be in [0, 1), got {self.cloud_fraction}")
        if not 1 <= self.relative_orbit <= 385:
            problems.append(f"relative_orbit must be 1..385, got {self.relative_orbit}")
        if not 0 <= self.frame <= 9999 or not 0 <= self.cycle <= 999:
            problems.append("frame must be 0..9999 and cycle 0..999")
        if not self.reflectance_noise >= 0.0:
            problems.append(f"reflectance_noise must be >= 0, got {self.reflectance_noise}")
        if problems:
            raise ValueError("invalid SceneSpec: " + "; ".join(problems))


def _start(spec: SceneSpec) -> datetime:
    """Sensing start in UTC."""
    return spec.sensing_start.astimezone(UTC)


def baseline_files(baseline: str) -> tuple[str, ...]:
    """The netCDF files the generator writes by default for a baseline collection:
    :data:`WFR_FILES_004` for ``004``, else :data:`WFR_FILES`."""
    return WFR_FILES_004 if baseline == "004" else WFR_FILES


def _stop(spec: SceneSpec) -> datetime:
    """Time of the last row: start + (rows - 1) * 44001 µs."""
    return _start(spec) + timedelta(microseconds=AL_TIME_SAMPLING_US * (spec.rows - 1))


def _creation(spec: SceneSpec) -> datetime:
    """Deterministic creation time: sensing start + 20 days, whole seconds."""
    return _round_second(_start(spec) + timedelta(days=20))


def _round_second(when: datetime) -> datetime:
    """Round to the nearest second (§1: 00:10:15.87 -> 00:10:16)."""
    return (when + timedelta(microseconds=500_000)).replace(microsecond=0)


def _iso_us(when: datetime) -> str:
    """``%Y-%m-%dT%H:%M:%S.%fZ`` (§3 start_time/stop_time, §8 acquisitionPeriod)."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def product_name(spec: SceneSpec) -> str:
    """The §1 folder name: 94 characters + ``.SEN3``.

    Start and stop are rounded to the second; the duration field is the truncated number
    of seconds between first and last row (179 for 4091 rows); centre ``MAR``, class ``O``.
    """
    fmt = "%Y%m%dT%H%M%S"
    start, stop = _start(spec), _stop(spec)
    duration = int((stop - start).total_seconds())
    name = (
        f"{spec.mission}_OL_2_WFR____{_round_second(start).strftime(fmt)}_"
        f"{_round_second(stop).strftime(fmt)}_{_creation(spec).strftime(fmt)}_"
        f"{duration:04d}_{spec.cycle:03d}_{spec.relative_orbit:03d}_{spec.frame:04d}_"
        f"MAR_O_{spec.timeliness}_{spec.baseline}"
    )
    assert len(name) == 94, name
    return name + ".SEN3"


def decimal_year(when: datetime) -> float:
    """Decimal year of a tz-aware datetime: year + elapsed fraction of that UTC year."""
    when = when.astimezone(UTC)
    year0 = datetime(when.year, 1, 1, tzinfo=UTC)
    year1 = datetime(when.year + 1, 1, 1, tzinfo=UTC)
    return when.year + (when - year0) / (year1 - year0)


def scene_decimal_year(spec: SceneSpec) -> float:
    """The time ``t`` at which a product's values equal :func:`water_truth`: its start."""
    return decimal_year(_start(spec))


def _days_j2000(decimal_years: np.ndarray | float) -> np.ndarray:
    """Days since 2000-01-01T12:00 UTC of decimal years (inverse of :func:`decimal_year`)."""
    t = np.asarray(decimal_years, dtype=np.float64)
    year = np.floor(t)
    first = (year - 1970).astype("int64").astype("datetime64[Y]").astype("datetime64[D]")
    following = (year - 1969).astype("int64").astype("datetime64[Y]").astype("datetime64[D]")
    first_days = first.astype(np.int64).astype(np.float64)
    length = (following - first).astype(np.int64).astype(np.float64)
    return first_days + (t - year) * length - sw.J2000_UNIX_S / 86400.0


def _row_days_j2000(spec: SceneSpec, rows: np.ndarray) -> np.ndarray:
    """UTC time of rows as days since J2000 (float64, shape of ``rows``)."""
    start = _start(spec).timestamp() - sw.J2000_UNIX_S
    return (start + rows * (AL_TIME_SAMPLING_US * 1e-6)) / 86400.0


def _swath(spec: SceneSpec) -> sw.Swath:
    """The geometry parameters of a scene."""
    return sw.Swath(spec.centre_lon, spec.centre_lat, spec.heading_deg, spec.rows, spec.columns)


def swath_lonlat(
    spec: SceneSpec, rows: slice | None = None, cols: slice | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre longitude [-180, 180) and latitude of a window (degrees, float64).

    Shape (n_rows, n_cols) of the selected rows and columns; cheap for a small window (cost
    proportional to its size). ``geo_coordinates.nc`` holds these values rounded to 1e-6 deg.
    """
    g = _swath(spec)
    return sw.lonlat(g, sw.window_indices(spec.rows, rows), sw.window_indices(spec.columns, cols))


def angles_truth(
    spec: SceneSpec, rows: slice | None = None, cols: slice | None = None
) -> dict[str, np.ndarray]:
    """Full-resolution SZA, SAA, OZA, OAA (degrees, float64, (n_rows, n_cols)) of a window.

    Zenith angles in [0, 180]; azimuths clockwise from north in (-180, 180]. The tie grid
    of ``tie_geometries.nc`` holds these values at columns 64 j, rounded to 1e-6 deg.
    """
    g = _swath(spec)
    r = sw.window_indices(spec.rows, rows)
    c = sw.window_indices(spec.columns, cols)
    x, y, z = sw.unit_vectors(g, r, c)
    lon, lat = sw.vectors_to_lonlat(x, y, z)
    sza, saa = sw.solar_angles(lon, lat, _row_days_j2000(spec, r)[:, None])
    oza = np.broadcast_to(sw.observation_zenith(sw.across_track_position(g, c)), lon.shape)
    oaa = sw.observation_azimuth(g, c, x, y, z)
    return {"SZA": sza, "SAA": saa, "OZA": oza.copy(), "OAA": oaa}


# --------------------------------------------------------------------------------------
# Truth model
# --------------------------------------------------------------------------------------

_FIELD_COMPONENTS = 3


def _field_params(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fixed random parameters of the smooth field ``name``: directions (K, 3), wave
    numbers (K,) in rad per unit-vector length (wavelengths 40-200 km), phases, weights."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    dirs = rng.standard_normal((_FIELD_COMPONENTS, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    kappa = 2.0 * np.pi * sw.EARTH_RADIUS_M / rng.uniform(40e3, 200e3, _FIELD_COMPONENTS)
    phase = rng.uniform(0.0, 2.0 * np.pi, _FIELD_COMPONENTS)
    weight = rng.uniform(0.5, 1.0, _FIELD_COMPONENTS)
    return dirs, kappa, phase, weight / weight.sum()


_FIELDS = {
    n: _field_params(n)
    for n in ("turb", "chl", "cdom", "slope1", "slope2", "aer", "ang", "wv", "alt")
}

# Reflectance model per band: base = a + c * turb + d * chl (dimensionless rho_w).
# Oa21 straddles zero (as real 1020 nm rho_w does): negative where turb < -0.5 in 2020.
_REFL_A = (.020, .022, .026, .034, .040, .052, .048, .044, .043, .042, .036, .020, .018,
           .012, .011, .001)  # fmt: skip
_REFL_C = (.006, .007, .008, .010, .012, .016, .015, .014, .014, .013, .012, .008, .007,
           .005, .004, .002)  # fmt: skip
_REFL_D = (-.004, -.004, -.004, -.003, -.001, .002, .001, -.001, 0.0, .001, .004, .001, .001,
           0.0, 0.0, 0.0)  # fmt: skip
# log10 products: (a0, {field: coefficient}, b0, b1, slope field); log10 = a + b (t - 2020),
# b = b0 + b1 * slope field.
_LOG10_MODEL = {
    "CHL_OC4ME": (0.45, {"chl": 0.55}, 0.020, 0.015, "slope1"),
    "CHL_NN": (0.50, {"chl": 0.45, "turb": 0.10}, 0.020, 0.015, "slope2"),
    "TSM_NN": (1.00, {"turb": 0.45}, 0.030, 0.020, "slope1"),
    "ADG443_NN": (-0.70, {"cdom": 0.40}, 0.010, 0.010, "slope2"),
    "KD490_M07": (-0.30, {"turb": 0.35, "chl": 0.10}, 0.015, 0.010, "slope1"),
}
# Collection 4: chlor_a is the same OC4Me algorithm as CHL_OC4ME; ADG443_LSD a second
# retrieval of ADG443_NN's quantity. Same truth (a reprocessing shift is not modelled).
_LOG10_MODEL["chlor_a"] = _LOG10_MODEL["CHL_OC4ME"]
_LOG10_MODEL["ADG443_LSD"] = _LOG10_MODEL["ADG443_NN"]
FPH_SLOPE = 0.003
"""Linear trend of FPH (fluorescence peak height), mW.m-2.sr-1.nm-1 per year."""


class _Truth:
    """The truth model at fixed points; caches the unit vectors and the smooth fields.

    Args:
        lon, lat: degrees, broadcastable; all outputs have their broadcast shape (float64).
    """

    def __init__(self, lon: np.ndarray, lat: np.ndarray) -> None:
        lon, lat = np.broadcast_arrays(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
        lam, phi = np.radians(lon), np.radians(lat)
        cos_phi = np.cos(phi)
        self.lon, self.lat = lon, lat
        self._xyz = (cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi))
        self._xyz32 = tuple(c.astype(np.float32) for c in self._xyz)
        self._cache: dict[str, np.ndarray] = {}

    def field(self, name: str) -> np.ndarray:
        """Smooth field in [-1, 1] (float32: weighted sum of plane waves on the sphere).

        Evaluated in float32 for speed (SIMD cosine): the values carry a jitter of about
        1e-4, far below every product's packing step.
        """
        if name not in self._cache:
            dirs, kappa, phase, weight = _FIELDS[name]
            x, y, z = self._xyz32
            acc = np.zeros(x.shape, np.float32)
            for k in range(_FIELD_COMPONENTS):
                d = (dirs[k] * kappa[k]).astype(np.float32)
                arg = x * d[0]
                arg += y * d[1]
                arg += z * d[2]
                arg += np.float32(phase[k])
                np.cos(arg, out=arg)
                arg *= np.float32(weight[k])
                acc += arg
            self._cache[name] = acc
        return self._cache[name]

    def reflectance_slope(self, i: int) -> np.ndarray:
        """d rho_w / dt of band index ``i`` (per year), in [1e-3, 5e-3]."""
        alpha = i / (len(BANDS) - 1)
        mix = (1.0 - alpha) * self.field("slope1") + alpha * self.field("slope2")
        return 3e-3 + 2e-3 * mix

    def reflectance(self, i: int, t: np.ndarray | float) -> np.ndarray:
        """rho_w of band index ``i`` at decimal year ``t``."""
        base = _REFL_A[i] + _REFL_C[i] * self.field("turb") + _REFL_D[i] * self.field("chl")
        return base + self.reflectance_slope(i) * (np.asarray(t) - REFERENCE_YEAR)

    def log10_slope(self, name: str) -> np.ndarray:
        """d log10(value) / dt (per year) of a log10 product."""
        _, _, b0, b1, slope_field = _LOG10_MODEL[name]
        return b0 + b1 * self.field(slope_field)

    def log10_value(self, name: str, t: np.ndarray | float) -> np.ndarray:
        """log10 of a log10 product's physical value at decimal year ``t``."""
        a0, terms, _, _, _ = _LOG10_MODEL[name]
        a = a0 + sum(coef * self.field(f) for f, coef in terms.items())
        return a + self.log10_slope(name) * (np.asarray(t) - REFERENCE_YEAR)

    def cos_sza(self, t: np.ndarray | float) -> np.ndarray:
        """cos(Sun zenith angle) at decimal year ``t`` (UTC)."""
        return sw.cos_solar_zenith(*self._xyz, _days_j2000(t))

    def value(self, variable: str, t: np.ndarray | float) -> np.ndarray:
        """Physical value of ``variable`` (see :func:`water_truth`)."""
        if variable.endswith("_reflectance") and variable[:4] in BANDS:
            return self.reflectance(BANDS.index(variable[:4]), t)
        if variable in _LOG10_MODEL:
            return 10.0 ** self.log10_value(variable, t)
        dt = np.asarray(t, dtype=np.float64) - REFERENCE_YEAR
        if variable == "PAR":
            mu = np.clip(self.cos_sza(t), 0.0, None)
            return 2100.0 * mu**1.2 * (0.93 + 0.05 * self.field("aer"))
        if variable == "T865":
            return 0.10 + 0.06 * self.field("aer") + 0.002 * dt
        if variable == "A865":
            return 1.2 + 0.5 * self.field("ang") + 0.0 * dt
        if variable == "IWV":
            season = np.cos(2.0 * np.pi * (np.asarray(t) % 1.0 - 0.55))
            return 20.0 + 10.0 * self.field("wv") + 6.0 * np.sin(np.radians(self.lat)) * season
        if variable == "FPH":
            return 0.25 + 0.12 * self.field("chl") + FPH_SLOPE * dt
        raise ValueError(f"unknown water variable {variable!r}; known: {WATER_VARIABLES}")

    def slope(self, variable: str) -> np.ndarray:
        """Linear trend per year (see :func:`trend_truth`)."""
        if variable.endswith("_reflectance") and variable[:4] in BANDS:
            return self.reflectance_slope(BANDS.index(variable[:4]))
        if variable in _LOG10_MODEL:
            return self.log10_slope(variable)
        if variable == "T865":
            return np.full(self.lon.shape, 0.002)
        if variable == "A865":
            return np.zeros(self.lon.shape)
        if variable == "FPH":
            return np.full(self.lon.shape, FPH_SLOPE)
        raise ValueError(
            f"{variable!r} has no linear trend (PAR follows the sun, IWV the "
            "season); trends exist for reflectances, log10 products, T865, A865, FPH"
        )


def water_truth(
    variable: str, lon: np.ndarray, lat: np.ndarray, t: np.ndarray | float
) -> np.ndarray:
    """Physical value (float64) of a water variable at lon/lat (degrees) and decimal year t.

    Inputs broadcast together. Smooth in space (wavelengths 40-200 km). Models:

    * ``OaNN_reflectance``: ``base(lon, lat) + slope(lon, lat) * (t - 2020)``, base about
      0.003-0.07 by band, slope in [1e-3, 5e-3] per year (:func:`trend_truth`).
    * CHL_OC4ME, CHL_NN (mg.m-3), TSM_NN (g.m-3), ADG443_NN, KD490_M07 (m-1): physical
      value (not log10) with ``log10(value) = a(lon, lat) + b(lon, lat) * (t - 2020)``.
    * PAR (µEinstein.m-2.s-1): ``2100 cos(SZA)^1.2`` x a smooth factor, SZA from the time
      of day in ``t``; T865: about 0.04-0.16 + 0.002 (t - 2020); A865: 0.7-1.7;
      IWV (kg.m-2): 10-30 + a seasonal term.
    * Collection 4: chlor_a = CHL_OC4ME, ADG443_LSD = ADG443_NN (same models);
      FPH (mW.m-2.sr-1.nm-1): 0.13-0.37 + 0.003 (t - 2020).
    """
    return _Truth(lon, lat).value(variable, t)


def trend_truth(variable: str, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Per-year linear trend of a variable at lon/lat (float64).

    Reflectances: d value / dt. log10 products: d log10(value) / dt. T865: 0.002; A865: 0;
    FPH: 0.003. PAR and IWV have no linear trend (ValueError).
    """
    return _Truth(lon, lat).slope(variable)


# --------------------------------------------------------------------------------------
# Procedural scene features (pixel space, seeded)
# --------------------------------------------------------------------------------------


def _noise_grid(spec: SceneSpec, stream: int, cell: int) -> np.ndarray:
    """Coarse smooth Gaussian noise (unit std) for bilinear sampling at ``cell`` pixels."""
    rng = np.random.default_rng([spec.seed, stream])
    grid = rng.standard_normal((spec.rows // cell + 3, spec.columns // cell + 3))
    kernel = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
    for axis in (0, 1):
        grid = np.apply_along_axis(np.convolve, axis, grid, kernel, mode="same")
    return grid / grid.std()


def _sample(grid: np.ndarray, cell: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear value of a noise grid at pixel (rows x cols), shape (len(rows), len(cols))."""
    fr, fc = rows / cell, cols / cell
    i, j = np.floor(fr).astype(np.int64), np.floor(fc).astype(np.int64)
    wr, wc = (fr - i)[:, None], fc - j
    by_row = grid[i] * (1.0 - wr) + grid[i + 1] * wr
    return by_row[:, j] * (1.0 - wc) + by_row[:, j + 1] * wc


@dataclass
class _Features:
    """Per-scene procedural features: noise grids, cloud thresholds, lakes, sea shore."""

    spec: SceneSpec
    water: object | None
    cloud_grid: np.ndarray = field(init=False)
    ac_grid: np.ndarray = field(init=False)
    oc4me_grid: np.ndarray = field(init=False)
    ocnn_grid: np.ndarray = field(init=False)
    cloud_level: float = field(init=False)
    lakes: list[tuple[float, ...]] = field(init=False)
    shore_phase: float = field(init=False)

    CLOUD_CELL = 40
    PATCH_CELL = 20

    def __post_init__(self) -> None:
        spec = self.spec
        self.cloud_grid = _noise_grid(spec, 1, self.CLOUD_CELL)
        self.ac_grid = _noise_grid(spec, 2, self.PATCH_CELL)
        self.oc4me_grid = _noise_grid(spec, 3, self.PATCH_CELL)
        self.ocnn_grid = _noise_grid(spec, 4, self.PATCH_CELL)
        self.cloud_level = self._cloud_level()
        rng = np.random.default_rng([spec.seed, 5])
        self.shore_phase = float(rng.uniform(0, 2 * np.pi))
        self.lakes = [
            (rng.uniform(-0.6, 0.3), rng.uniform(-0.6, 0.6), rng.uniform(0.08, 0.16),
             rng.uniform(0.7, 1.4), rng.uniform(0, 2 * np.pi), float(rng.integers(3, 6)))
            for _ in range(2)
        ]  # fmt: skip
        if self.water is not None:
            shapely.prepare(self.water)

    def _cloud_level(self) -> float:
        """Cloud-field level above which a pixel is CLOUD: its (1 - cloud_fraction) quantile."""
        cf = self.spec.cloud_fraction
        if cf <= 0.0:
            return np.inf
        rows, cols = np.arange(0, self.spec.rows, 4), np.arange(0, self.spec.columns, 4)
        return float(np.quantile(_sample(self.cloud_grid, self.CLOUD_CELL, rows, cols), 1.0 - cf))


def _dilate(mask: np.ndarray, n: int) -> np.ndarray:
    """Boolean dilation by a (2n + 1) x (2n + 1) square (no wrap-around at the edges)."""
    rows = mask.copy()
    for k in range(1, n + 1):
        rows[k:] |= mask[:-k]
        rows[:-k] |= mask[k:]
    out = rows.copy()
    for k in range(1, n + 1):
        out[:, k:] |= rows[:, :-k]
        out[:, :-k] |= rows[:, k:]
    return out


def _as_geometry(water) -> object | None:
    """A single shapely geometry (union) from a geometry, a list of them or None."""
    if water is None:
        return None
    if isinstance(water, shapely.Geometry):
        return water
    parts = list(water)
    return shapely.union_all(parts) if parts else None


# --------------------------------------------------------------------------------------
# Packing and variables (§5, §6)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Packing:
    """Integer storage of a physical value: raw = round((value - offset) / scale)."""

    dtype: str
    scale: float
    offset: float
    fill: int | None

    def pack(self, values: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """Pack float64 values (clipped to the valid raw range); fill where not ``valid``."""
        info = np.iinfo(self.dtype)
        lo = info.min + (1 if self.fill == info.min else 0)
        hi = info.max - (1 if self.fill == info.max else 0)
        tmp = np.subtract(values, self.offset)
        tmp /= self.scale
        np.rint(tmp, out=tmp)
        np.clip(tmp, lo, hi, out=tmp)
        raw = tmp.astype(self.dtype)
        if valid is not None:
            np.copyto(raw, self.dtype_fill, where=~valid)
        return raw

    @property
    def dtype_fill(self):
        """The fill value as a numpy scalar of the storage dtype."""
        return np.dtype(self.dtype).type(self.fill)

    def attrs(self) -> dict[str, object]:
        """scale_factor / add_offset attributes (float32, §5)."""
        out: dict[str, object] = {"scale_factor": np.float32(self.scale)}
        if self.offset != 0.0:
            out["add_offset"] = np.float32(self.offset)
        return out


def _p32(dtype: str, scale: float, offset: float, fill: int) -> _Packing:
    """A packing whose scale/offset are exactly the float32 values written to the file."""
    return _Packing(dtype, float(np.float32(scale)), float(np.float32(offset)), fill)


REFLECTANCE_PACKING = _p32("uint16", 1.8311106e-05, -0.2, 65535)
# raw values below this decode to a negative reflectance (raw * scale + offset < 0)
_REFLECTANCE_ZERO_RAW = int(np.ceil(-REFLECTANCE_PACKING.offset / REFLECTANCE_PACKING.scale))
_LOG10_PACKING = {
    "CHL_OC4ME": (_p32("uint8", 0.015, -2.0, 255), "lg(re mg.m-3)"),
    "CHL_NN": (_p32("uint8", 0.015, -2.0, 255), "lg(re mg.m-3)"),
    "TSM_NN": (_p32("uint8", 0.02, -2.0, 255), "lg(re g.m-3)"),
    "ADG443_NN": (_p32("uint8", 0.015, -3.0, 255), "lg(re m-1)"),
    "KD490_M07": (_p32("uint8", 0.015, -2.0, 255), "lg(re m-1)"),
    "chlor_a": (_p32("uint8", 0.015, -2.0, 255), "lg(re mg.m-3)"),
    "ADG443_LSD": (_p32("uint8", 0.015, -3.0, 255), "lg(re m-1)"),
}
_LOG10_ERR_PACKING = _p32("uint8", 0.005, 0.0, 255)
_LINEAR_PACKING = {
    "PAR": (
        _p32("uint16", 0.05, 0.0, 65535),
        _p32("uint16", 0.05, 0.0, 65535),
        "µEinstein.m-2.s-1",
    ),
    "T865": (_p32("uint16", 1e-4, 0.0, 65535), _p32("uint16", 1e-4, 0.0, 65535), None),
    "A865": (_p32("uint16", 1e-4, -1.0, 65535), _p32("uint16", 1e-4, 0.0, 65535), None),
    "IWV": (_p32("uint8", 0.3, 0.0, 255), _p32("uint8", 0.1, 0.0, 255), "kg.m-2"),
    "FPH": (
        _p32("uint16", 1e-4, -1.0, 65535),
        _p32("uint16", 1e-4, 0.0, 65535),
        "mW.m-2.sr-1.nm-1",
    ),
}
_LONG_NAMES = {
    "CHL_OC4ME": "Chlorophyll-a concentration (OC4Me algorithm), log10 scaled",
    "CHL_NN": "Chlorophyll-a concentration (Neural Net), log10 scaled",
    "TSM_NN": "Total suspended matter concentration (Neural Net), log10 scaled",
    "ADG443_NN": "CDOM + detritus absorption at 443 nm (Neural Net), log10 scaled",
    "KD490_M07": "Diffuse attenuation coefficient at 490 nm (Morel 2007), log10 scaled",
    "PAR": "Photosynthetically Active Radiation",
    "T865": "Aerosol optical thickness at 865 nm",
    "A865": "Aerosol Angstrom exponent at 865 nm",
    "IWV": "Integrated water vapour column",
    "chlor_a": "Chlorophyll-a concentration (OC4Me algorithm), log10 scaled",
    "ADG443_LSD": "CDOM + detritus absorption at 443 nm (LSD), log10 scaled",
    "FPH": "Fluorescence peak height",
}
_PRODUCT_FILES = {
    "chl_oc4me.nc": ("CHL_OC4ME",), "chl_nn.nc": ("CHL_NN",), "tsm_nn.nc": ("TSM_NN",),
    "iop_nn.nc": ("ADG443_NN",), "trsp.nc": ("KD490_M07",), "par.nc": ("PAR",),
    "w_aer.nc": ("T865", "A865"), "iwv.nc": ("IWV",),
    "chlor_a.nc": ("chlor_a",), "fluorescence.nc": ("FPH",), "iop_lsd.nc": ("ADG443_LSD",),
}  # fmt: skip
_LATLON = _Packing("int32", 1e-6, 0.0, -2147483648)
_ZENITH = _Packing("uint32", 1e-6, 0.0, 4294967295)
_AZIMUTH = _Packing("int32", 1e-6, 0.0, -2147483648)


def _pack_lon(lon: np.ndarray) -> np.ndarray:
    """int32 micro-degrees in [-180e6, 180e6): a value rounding to +180 deg wraps."""
    raw = np.rint(lon * 1e6)
    return np.where(raw >= 180_000_000, raw - 360_000_000, raw).astype(np.int32)


def _pack_lat(lat: np.ndarray) -> np.ndarray:
    """int32 micro-degrees."""
    return np.rint(lat * 1e6).astype(np.int32)


# --------------------------------------------------------------------------------------
# netCDF writing helpers (§3)
# --------------------------------------------------------------------------------------


def _global_attrs(spec: SceneSpec, title: str) -> dict[str, object]:
    """The §3 global attributes, in the order real files list them."""
    created = _creation(spec).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "absolute_orbit_number": np.uint32(_absolute_orbit(spec)),
        "ac_subsampling_factor": np.uint16(TIE_STEP),
        "al_subsampling_factor": np.uint16(1),
        "comment": " ",
        "contact": "ops@eumetsat.int",
        "creation_time": created,
        "history": f"  {created}: PUGCoreProcessor JobOrder.synthetic.xml (eotrend "
                   f"synthetic OLCI generator, seed {spec.seed}, layout {spec.layout})",
        "institution": "MAR",
        "netCDF_version": "4.2 of Jul  5 2012 17:07:43 $",
        "product_name": product_name(spec),
        "references": "S3IPF PDS 004.3 - i2r3 - Product Data Format Specification - OLCI "
                      "Level 2 Marine, S3IPF PDS 002 - i1r7 - Product Data Format "
                      "Specification - Product Structures, S3IPF DPM 008 - OLCI Level 2 "
                      "Marine Detailed Processing Model",
        "resolution": "[ 270 294 ]",
        "source": f"IPF-OL-2 {IPF_VERSION[spec.baseline]}",
        "start_time": _iso_us(_start(spec)),
        "stop_time": _iso_us(_stop(spec)),
        "title": f"OLCI Level 2 WATER Product, {title} Data Set",
    }  # fmt: skip


def _absolute_orbit(spec: SceneSpec) -> int:
    """A plausible absolute orbit number: (cycle - 1) * 385 + relative orbit."""
    return max(spec.cycle - 1, 0) * 385 + spec.relative_orbit


def _open(folder: Path, name: str, spec: SceneSpec, dims: dict[str, int]) -> netCDF4.Dataset:
    """Create one netCDF-4 file with its dimensions and global attributes."""
    ds = netCDF4.Dataset(folder / name, "w", format="NETCDF4")
    ds.setncatts(_global_attrs(spec, _FILES[name].title))
    for dim, size in dims.items():
        ds.createDimension(dim, size)
    return ds


def _variable(
    ds: netCDF4.Dataset,
    name: str,
    dtype: str,
    dims: tuple[str, ...],
    fill: int | None,
    chunks: tuple[int, ...],
    attrs: dict[str, object],
) -> netCDF4.Variable:
    """Create a deflated, chunked variable written raw (no automatic mask/scale)."""
    var = ds.createVariable(
        name,
        dtype,
        dims,
        zlib=True,
        complevel=DEFLATE_LEVEL,
        shuffle=True,
        chunksizes=chunks,
        fill_value=False if fill is None else fill,
    )
    var.setncatts(attrs)
    var.set_auto_maskandscale(False)
    # Blocks cover whole chunks, which HDF5 then writes straight through; a big per-variable
    # cache would only hold ~60 variables' finished chunks in memory.
    var.set_var_chunk_cache(size=CHUNK_CACHE_BYTES, nelems=67, preemption=1.0)
    return var


def _packed_attrs(
    packing: _Packing, long_name: str, units: str | None, extra: dict[str, object] | None = None
) -> dict[str, object]:
    """Attributes of a packed variable: scale/offset, long_name, units, valid range."""
    kind = np.dtype(packing.dtype).type
    info = np.iinfo(packing.dtype)
    lo = info.min + (1 if packing.fill == info.min else 0)
    hi = info.max - (1 if packing.fill == info.max else 0)
    attrs: dict[str, object] = {**packing.attrs(), "long_name": long_name}
    if units is not None:
        attrs["units"] = units
    attrs.update({"valid_min": kind(lo), "valid_max": kind(hi)})
    attrs.update(extra or {})
    return attrs


# --------------------------------------------------------------------------------------
# Image files: one pass over row blocks, every requested file open
# --------------------------------------------------------------------------------------


class _ImageWriter:
    """Open image files (dims rows x columns) and write them block by block."""

    def __init__(self, spec: SceneSpec, folder: Path, files: frozenset[str]) -> None:
        self.spec, self.folder, self.files = spec, folder, files
        self.chunks = (min(BLOCK_ROWS, spec.rows), min(CHUNK_COLUMNS, spec.columns))
        self.datasets: dict[str, netCDF4.Dataset] = {}
        self.vars: dict[str, netCDF4.Variable] = {}
        dims = {"columns": spec.columns, "rows": spec.rows}
        for name in sorted(files):
            if name in ("tie_geo_coordinates.nc", "tie_geometries.nc", "time_coordinates.nc"):
                continue
            self.datasets[name] = ds = _open(folder, name, spec, dims)
            self._define(name, ds)

    def _image(self, ds, name, packing, long_name, units, extra=None) -> None:
        """Define one (rows, columns) packed variable."""
        self.vars[name] = _variable(
            ds,
            name,
            packing.dtype,
            ("rows", "columns"),
            packing.fill,
            self.chunks,
            _packed_attrs(packing, long_name, units, extra),
        )

    def _define(self, name: str, ds: netCDF4.Dataset) -> None:
        """Define the variables of file ``name``."""
        if name == "geo_coordinates.nc":
            self._define_geo(ds)
        elif name == "wqsf.nc":
            self._define_wqsf(ds)
        elif name.endswith("_reflectance.nc"):
            band = name[:4]
            var = f"{band}_reflectance"
            std = (
                "surface_ratio_of_upwelling_radiance_emerging_from_sea_water_to_"
                "downwelling_radiative_flux_in_air"
            )
            self._image(
                ds,
                var,
                REFLECTANCE_PACKING,
                f"Reflectance for OLCI acquisition band {band}",
                None,
                {"standard_name": std, "ancillary_variables": f"{var}_err"},
            )
            self._image(
                ds,
                f"{var}_err",
                REFLECTANCE_PACKING,
                f"Error estimates for reflectance for OLCI acquisition band {band}",
                None,
            )
        else:
            for var in _PRODUCT_FILES[name]:
                if var in _LOG10_PACKING:
                    packing, units = _LOG10_PACKING[var]
                    err_packing, err_units = _LOG10_ERR_PACKING, units
                else:
                    packing, err_packing, units = _LINEAR_PACKING[var]
                    err_units = units
                self._image(
                    ds, var, packing, _LONG_NAMES[var], units, {"ancillary_variables": f"{var}_err"}
                )
                self._image(
                    ds,
                    f"{var}_err",
                    err_packing,
                    f"Error estimates for {_LONG_NAMES[var]}",
                    err_units,
                )

    def _define_geo(self, ds: netCDF4.Dataset) -> None:
        """latitude, longitude (int32 1e-6) and altitude (int16) of §5."""
        for var, long_name, std, units, limit in (
            ("latitude", "DEM corrected latitude", "latitude", "degrees_north", 90_000_000),
            ("longitude", "DEM corrected longitude", "longitude", "degrees_east", 180_000_000),
        ):
            self.vars[var] = _variable(
                ds, var, "int32", ("rows", "columns"), _LATLON.fill, self.chunks,
                {"scale_factor": 1e-6, "long_name": long_name, "standard_name": std,
                 "units": units, "valid_min": np.int32(-limit), "valid_max": np.int32(limit)},
            )  # fmt: skip
        self.vars["altitude"] = _variable(
            ds, "altitude", "int16", ("rows", "columns"), -32768, self.chunks,
            {"long_name": "DEM corrected altitude", "standard_name": "altitude", "units": "m",
             "valid_min": np.int16(-1000), "valid_max": np.int16(9000)},
        )  # fmt: skip

    def _define_wqsf(self, ds: netCDF4.Dataset) -> None:
        """WQSF uint64, flag_masks/flag_meanings in the §7.2 order of the layout, no fill."""
        layout = WQSF_LAYOUTS[self.spec.layout]
        self.vars["WQSF"] = _variable(
            ds, "WQSF", "uint64", ("rows", "columns"), None, self.chunks,
            {"long_name": "Classification, quality and science flags for Water pixels",
             "flag_masks": np.array([1 << bit for _, bit in layout], dtype=np.uint64),
             "flag_meanings": " ".join(n for n, _ in layout)},
        )  # fmt: skip

    def wants(self, var: str) -> bool:
        """Whether variable ``var`` is being written."""
        return var in self.vars

    def write(self, var: str, r0: int, raw: np.ndarray) -> None:
        """Write a block of raw values starting at row ``r0``."""
        self.vars[var][r0 : r0 + raw.shape[0], :] = raw

    def close(self) -> None:
        """Close every file (flushes the data)."""
        for ds in self.datasets.values():
            ds.close()


@dataclass
class _Summary:
    """Pixel counts for the manifest's classification and quality summaries."""

    total: int = 0
    sea: int = 0
    inland: int = 0
    land: int = 0
    cloud: int = 0
    invalid: int = 0


@dataclass
class _Block:
    """Everything known about rows r0:r1 (arrays of shape (r1 - r0, columns))."""

    r0: int
    lon: np.ndarray
    lat: np.ndarray
    surface: np.ndarray  # uint8: 0 land, 1 sea (WATER), 2 inland (INLAND_WATER)
    cloud: np.ndarray
    ambiguous: np.ndarray
    margin: np.ndarray
    strength: np.ndarray  # 0..1 cloud optical strength
    invalid: np.ndarray
    ac_fail: np.ndarray
    fails: dict[str, np.ndarray]
    truth: _Truth

    @property
    def water(self) -> np.ndarray:
        """WATER or INLAND_WATER."""
        return self.surface > 0


def _block(spec: SceneSpec, feat: _Features, r0: int, r1: int, index: int) -> _Block:
    """Geometry, surface, clouds and failures of rows r0:r1."""
    g = _swath(spec)
    rows, cols = np.arange(r0, r1), np.arange(spec.columns)
    lon, lat = sw.lonlat(g, rows, cols)
    surface = _surface(spec, feat, rows, cols, lon, lat)
    water = surface > 0
    truth = _Truth(lon, lat)
    # CLOUD above a level of a smooth field; CLOUD_MARGIN the ring of MARGIN_PX pixels
    # around it, whose inner AMBIGUOUS_PX pixels are also CLOUD_AMBIGUOUS. Computed on the
    # block plus a halo so that rings continue across block boundaries.
    h0, h1 = max(r0 - MARGIN_PX, 0), min(r1 + MARGIN_PX, spec.rows)
    cf = _sample(feat.cloud_grid, feat.CLOUD_CELL, np.arange(h0, h1), cols)
    cloud_halo = cf >= feat.cloud_level
    inner = slice(r0 - h0, r0 - h0 + (r1 - r0))
    cloud = cloud_halo[inner]
    strength = np.clip((cf[inner] - feat.cloud_level) / 0.5, 0.0, 1.0) * cloud
    rng = np.random.default_rng([spec.seed, 100, index])
    noise = rng.random((6, r1 - r0, spec.columns), dtype=np.float32)
    # The atmospheric correction fails more often the more turbid the water (bright NIR
    # breaks its black-pixel assumption): AC_FAIL, and the RWNEG flags of the bands it
    # drives below zero, are common exactly where TSM is high.
    log_tsm = truth.log10_value("TSM_NN", scene_decimal_year(spec))
    turbid = noise[5] < np.clip((log_tsm - TURBID_LOG10_TSM) / 0.5, 0.0, 0.8)
    invalid = noise[0] < 2e-4
    segment_row = spec.rows // 3
    if r0 <= segment_row < r1:
        c0 = spec.columns // 4
        invalid[segment_row - r0, c0 : c0 + max(8, spec.columns // 50)] = True
    patches = {
        "ac": _sample(feat.ac_grid, feat.PATCH_CELL, rows, cols) > 2.0,
        "oc4me": _sample(feat.oc4me_grid, feat.PATCH_CELL, rows, cols) > 2.0,
        "ocnn": _sample(feat.ocnn_grid, feat.PATCH_CELL, rows, cols) > 2.2,
    }
    fails = {
        "OC4ME_FAIL": water & (patches["oc4me"] | (noise[1] < 0.01)),
        "OCNN_FAIL": water & (patches["ocnn"] | (noise[2] < 0.01)),
        "KDM_FAIL": water & (noise[3] < 0.005),
        "PAR_FAIL": water & (noise[4] < 0.003),
        "WV_FAIL": (noise[4] > 0.998),
    }
    if spec.baseline == "004":  # a stream of its own: 002/003 draws stay as they were
        lsd = np.random.default_rng([spec.seed, 101, index]).random((r1 - r0, spec.columns))
        fails["IOP_LSD_FAIL"] = water & (lsd < 0.01)
    return _Block(
        r0=r0, lon=lon, lat=lat, surface=surface, cloud=cloud,
        ambiguous=_dilate(cloud_halo, AMBIGUOUS_PX)[inner] & ~cloud,
        margin=_dilate(cloud_halo, MARGIN_PX)[inner] & ~cloud, strength=strength,
        invalid=invalid, ac_fail=water & (patches["ac"] | turbid), fails=fails, truth=truth,
    )  # fmt: skip


def _surface(
    spec: SceneSpec,
    feat: _Features,
    rows: np.ndarray,
    cols: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
) -> np.ndarray:
    """Surface class (uint8, (len(rows), len(cols))): 0 land, 1 sea, 2 inland water."""
    g = _swath(spec)
    x = sw.across_track_position(g, cols)
    y = (rows - g.middle_row) / max(g.middle_row, 1.0)
    shore = 0.7 + 0.08 * np.sin(2.0 * np.pi * 0.8 * y + feat.shore_phase)
    surface = np.where(x[None, :] > shore[:, None], 1, 0).astype(np.uint8)
    aspect = g.nadir_column / max(g.middle_row, 1.0)
    for cx, cy, ax, stretch, psi, lobes in feat.lakes:
        ay = ax * aspect * stretch
        ci = np.nonzero(np.abs(x - cx) < 1.3 * ax)[0]
        ri = np.nonzero(np.abs(y - cy) < 1.3 * ay)[0]
        if ci.size == 0 or ri.size == 0:
            continue
        dx = (x[ci] - cx)[None, :] / ax
        dy = (y[ri] - cy)[:, None] / ay
        radius = 1.0 + 0.2 * np.sin(lobes * np.arctan2(dy, dx) + psi)
        inside = dx * dx + dy * dy < radius * radius
        sub = surface[ri[:, None], ci[None, :]]
        surface[ri[:, None], ci[None, :]] = np.where(inside, 2, sub)
    if feat.water is not None:
        x0, y0, x1, y1 = shapely.bounds(feat.water)
        box = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
        if box.any():
            hit = shapely.contains_xy(feat.water, lon[box], lat[box])
            sub = surface[box]
            sub[hit] = 2
            surface[box] = sub
    return surface


_BLUE = ("Oa01", "Oa02", "Oa03")
_NIR = ("Oa16", "Oa17", "Oa18", "Oa21")


class _BlockValues:
    """Physical values (before packing) of the water variables in one block."""

    def __init__(self, blk: _Block, t: float, spec: SceneSpec) -> None:
        self.blk, self.t, self.spec = blk, t, spec
        self.truth = blk.truth
        self.valid = blk.water & ~blk.invalid
        cloud_refl = 0.03 + 0.1 * blk.strength
        self.refl_bias = np.where(blk.cloud, cloud_refl, np.where(blk.margin, 0.004, 0.0))
        self.log_bias = np.where(blk.cloud, 0.3, np.where(blk.margin, 0.05, 0.0))

    def reflectance(self, i: int) -> np.ndarray:
        """rho_w of band index i as written: truth + cloud bias + AC_FAIL shift (+ noise)."""
        value = self.truth.reflectance(i, self.t) + self.refl_bias
        if self.spec.reflectance_noise:  # its own stream: the same whichever files are made
            rng = np.random.default_rng([self.spec.seed, 200, self.blk.r0, i])
            value += rng.normal(0.0, self.spec.reflectance_noise, value.shape)
        if BANDS[i] in _BLUE:
            value -= 0.05 * self.blk.ac_fail
        elif BANDS[i] in _NIR:
            value -= 0.03 * self.blk.ac_fail
        return value

    def log10(self, name: str) -> np.ndarray:
        """log10 of a log10 product as written (truth + cloud bias)."""
        return self.truth.log10_value(name, self.t) + self.log_bias

    def linear(self, name: str) -> np.ndarray:
        """PAR, T865, A865, IWV or FPH as written."""
        value = self.truth.value(name, self.t)
        c, m = self.blk.cloud, self.blk.margin
        if name == "PAR":
            return value * np.where(c, 0.6, 1.0)
        if name == "T865":
            return value + np.where(c, 0.6, np.where(m, 0.05, 0.0))
        if name == "A865":
            return value - np.where(c, 0.6, 0.0)
        if name == "FPH":
            return value + np.where(c, 0.2, np.where(m, 0.02, 0.0))
        return value

    def valid_of(self, name: str) -> np.ndarray:
        """Where ``name`` has a value (elsewhere it is fill)."""
        fails = self.blk.fails
        if name == "IWV":
            return ~self.blk.invalid & ~fails["WV_FAIL"]
        extra = {
            "CHL_OC4ME": fails["OC4ME_FAIL"], "CHL_NN": fails["OCNN_FAIL"],
            "TSM_NN": fails["OCNN_FAIL"], "ADG443_NN": fails["OCNN_FAIL"],
            "KD490_M07": fails["KDM_FAIL"], "PAR": fails["PAR_FAIL"],
            "T865": self.blk.ac_fail, "A865": self.blk.ac_fail,
            "chlor_a": fails["OC4ME_FAIL"], "ADG443_LSD": fails.get("IOP_LSD_FAIL"),
        }.get(name)  # fmt: skip
        return self.valid if extra is None else self.valid & ~extra


def _error_of(name: str, value: np.ndarray, values: _BlockValues) -> np.ndarray:
    """Error estimate (physical, or log10 units for log10 products) of a variable."""
    if name.endswith("_reflectance"):
        err = np.abs(value)
        err *= 0.02
        err += 0.0004
        return err
    if name in _LOG10_PACKING:
        return 0.08 + 0.04 * values.truth.field("cdom")
    return {
        "PAR": 0.05 * value + 5.0,
        "T865": 0.01 + 0.1 * np.abs(value),
        "A865": np.full(value.shape, 0.1),
        "IWV": 1.0 + 0.05 * value,
        "FPH": 0.01 + 0.05 * np.abs(value),
    }[name]


class _FlagSet:
    """WQSF of one block, built with the layout's masks."""

    def __init__(self, layout: str, shape: tuple[int, int]) -> None:
        self.mask = {n: np.uint64(1 << b) for n, b in WQSF_LAYOUTS[layout]}
        self.bits = np.zeros(shape, dtype=np.uint64)

    def set(self, name: str, where: np.ndarray) -> None:
        """OR flag ``name`` into the pixels where ``where`` is true."""
        np.bitwise_or(self.bits, self.mask[name], out=self.bits, where=where)


def _write_block(
    spec: SceneSpec, out: _ImageWriter, blk: _Block, t: float, flags_wanted: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Compute and write every requested image variable of one block.

    Returns the packed (lat, lon) int32 block (the tie grid takes its columns 64 j).
    """
    lat_raw, lon_raw = _pack_lat(blk.lat), _pack_lon(blk.lon)
    values = _BlockValues(blk, t, spec)
    if out.wants("latitude"):
        out.write("latitude", blk.r0, lat_raw)
        out.write("longitude", blk.r0, lon_raw)
        alt = np.where(blk.surface == 1, 0.0, 250.0 + 200.0 * values.truth.field("alt"))
        out.write("altitude", blk.r0, np.rint(alt).astype(np.int16))
    flags = _FlagSet(spec.layout, blk.lon.shape) if flags_wanted else None
    _write_reflectances(out, values, flags)
    _write_log10_products(out, values)
    _write_linear_products(out, values, flags)
    if flags is not None:
        _surface_flags(flags, blk, values, t)
        out.write("WQSF", blk.r0, flags.bits)
    return lat_raw, lon_raw


def _write_reflectances(out: _ImageWriter, values: _BlockValues, flags: _FlagSet | None) -> None:
    """The 16 OaNN_reflectance (+ _err) blocks, and the RWNEG flags of the packed values."""
    for i, band in enumerate(BANDS):
        var = f"{band}_reflectance"
        if not (out.wants(var) or flags is not None):
            continue
        rho = values.reflectance(i)
        rho_raw = REFLECTANCE_PACKING.pack(rho, values.valid)
        if flags is not None:  # negative as stored (fill 65535 is never below zero_raw)
            flags.set(_RWNEG[i][0], rho_raw < _REFLECTANCE_ZERO_RAW)
        if out.wants(var):
            out.write(var, values.blk.r0, rho_raw)
            err = _error_of(var, rho, values)
            out.write(f"{var}_err", values.blk.r0, REFLECTANCE_PACKING.pack(err, values.valid))


def _write_log10_products(out: _ImageWriter, values: _BlockValues) -> None:
    """The log10 products (CHL_OC4ME, CHL_NN, TSM_NN, ADG443_NN, KD490_M07; chlor_a,
    ADG443_LSD) (+ _err) blocks, packed as log10."""
    for name, (packing, _) in _LOG10_PACKING.items():
        if out.wants(name):
            log_value = values.log10(name)
            valid = values.valid_of(name)
            out.write(name, values.blk.r0, packing.pack(log_value, valid))
            err = _error_of(name, log_value, values)
            out.write(f"{name}_err", values.blk.r0, _LOG10_ERR_PACKING.pack(err, valid))


def _write_linear_products(out: _ImageWriter, values: _BlockValues, flags: _FlagSet | None) -> None:
    """PAR, T865, A865, IWV, FPH (+ _err) blocks; ANNOT_TAU06 / ANNOT_ANGSTROM from the
    aerosol."""
    for name, (packing, err_packing, _) in _LINEAR_PACKING.items():
        aerosol_flags = flags is not None and name in ("T865", "A865")
        if not (out.wants(name) or aerosol_flags):
            continue
        value = values.linear(name)
        valid = values.valid_of(name)
        if flags is not None and aerosol_flags:
            flag = "ANNOT_TAU06" if name == "T865" else "ANNOT_ANGSTROM"
            hit = value > 0.6 if name == "T865" else value < 0.7
            flags.set(flag, valid & hit)
        if out.wants(name):
            out.write(name, values.blk.r0, packing.pack(value, valid))
            err = _error_of(name, value, values)
            out.write(f"{name}_err", values.blk.r0, err_packing.pack(err, valid))


def _surface_flags(flags: _FlagSet, blk: _Block, values: _BlockValues, t: float) -> None:
    """Classification, cloud, failure and annotation flags of one block."""
    flags.set("INVALID", blk.invalid)
    flags.set("LAND", blk.surface == 0)
    flags.set("WATER", blk.surface == 1)
    flags.set("INLAND_WATER", blk.surface == 2)
    flags.set("CLOUD", blk.cloud)
    flags.set("CLOUD_AMBIGUOUS", blk.ambiguous)
    flags.set("CLOUD_MARGIN", blk.margin)
    flags.set("HISOLZEN", values.truth.cos_sza(t) < np.cos(np.radians(70.0)))
    flags.set("AC_FAIL", blk.ac_fail)
    flags.set("ANNOT_ABSO_D", blk.ac_fail)
    for name, where in blk.fails.items():
        flags.set(name, where)


def _write_images(
    spec: SceneSpec, folder: Path, files: frozenset[str], water: object | None
) -> tuple[np.ndarray, np.ndarray, _Summary]:
    """Write every requested (rows, columns) file; return the packed tie lat/lon grids."""
    feat = _Features(spec, water)
    out = _ImageWriter(spec, folder, files)
    t = scene_decimal_year(spec)
    n_tie = (spec.columns - 1) // TIE_STEP + 1
    tie_lat = np.empty((spec.rows, n_tie), np.int32)
    tie_lon = np.empty((spec.rows, n_tie), np.int32)
    summary = _Summary()
    try:
        for index, r0 in enumerate(range(0, spec.rows, BLOCK_ROWS)):
            r1 = min(spec.rows, r0 + BLOCK_ROWS)
            blk = _block(spec, feat, r0, r1, index)
            lat_raw, lon_raw = _write_block(spec, out, blk, t, "wqsf.nc" in files)
            tie_lat[r0:r1], tie_lon[r0:r1] = lat_raw[:, ::TIE_STEP], lon_raw[:, ::TIE_STEP]
            _count(summary, blk)
    finally:
        out.close()
    return tie_lat, tie_lon, summary


def _count(summary: _Summary, blk: _Block) -> None:
    """Add a block's pixels to the summary."""
    summary.total += blk.surface.size
    summary.land += int(np.count_nonzero(blk.surface == 0))
    summary.sea += int(np.count_nonzero(blk.surface == 1))
    summary.inland += int(np.count_nonzero(blk.surface == 2))
    summary.cloud += int(np.count_nonzero(blk.cloud))
    summary.invalid += int(np.count_nonzero(blk.invalid))


# --------------------------------------------------------------------------------------
# Tie-point and time files (§4, §5)
# --------------------------------------------------------------------------------------


def _write_tie_geo(spec: SceneSpec, folder: Path, lat: np.ndarray, lon: np.ndarray) -> None:
    """tie_geo_coordinates.nc: the packed full-resolution lat/lon at columns 64 j."""
    name = "tie_geo_coordinates.nc"
    ds = _open(folder, name, spec, {"tie_columns": lat.shape[1], "tie_rows": spec.rows})
    chunks = (min(BLOCK_ROWS, spec.rows), lat.shape[1])
    try:
        for var, long_name, std, units, limit, raw in (
            ("latitude", "Latitude", "latitude", "degrees_north", 90_000_000, lat),
            ("longitude", "Longitude", "longitude", "degrees_east", 180_000_000, lon),
        ):
            v = _variable(
                ds, var, "int32", ("tie_rows", "tie_columns"), _LATLON.fill, chunks,
                {"scale_factor": 1e-6, "long_name": long_name, "standard_name": std,
                 "units": units, "valid_min": np.int32(-limit), "valid_max": np.int32(limit)},
            )  # fmt: skip
            v[:] = raw
    finally:
        ds.close()


_ANGLE_ATTRS = {
    "SZA": (_ZENITH, "Sun Zenith Angle", "solar_zenith_angle", 0, 180_000_000),
    "SAA": (_AZIMUTH, "Sun Azimuth Angle", "solar_azimuth_angle", -180_000_000, 180_000_000),
    "OZA": (_ZENITH, "Observation (Viewing) Zenith Angle", "sensor_zenith_angle", 0,
            180_000_000),
    "OAA": (_AZIMUTH, "Observation (Viewing) Azimuth Angle", "sensor_azimuth_angle",
            -180_000_000, 180_000_000),
}  # fmt: skip


def _write_tie_geometries(spec: SceneSpec, folder: Path) -> None:
    """tie_geometries.nc: :func:`angles_truth` at columns 64 j, 1e-6 deg (§5)."""
    name = "tie_geometries.nc"
    n_tie = (spec.columns - 1) // TIE_STEP + 1
    ds = _open(folder, name, spec, {"tie_columns": n_tie, "tie_rows": spec.rows})
    chunks = (min(BLOCK_ROWS, spec.rows), n_tie)
    try:
        variables = {}
        for var, (packing, long_name, std, lo, hi) in _ANGLE_ATTRS.items():
            kind = np.dtype(packing.dtype).type
            variables[var] = _variable(
                ds, var, packing.dtype, ("tie_rows", "tie_columns"), packing.fill, chunks,
                {"scale_factor": 1e-6, "long_name": long_name, "standard_name": std,
                 "units": "degrees", "valid_min": kind(lo), "valid_max": kind(hi),
                 "coordinates": "latitude longitude"},
            )  # fmt: skip
        for r0 in range(0, spec.rows, BLOCK_ROWS):
            r1 = min(spec.rows, r0 + BLOCK_ROWS)
            angles = angles_truth(spec, slice(r0, r1), slice(0, None, TIE_STEP))
            for var, v in variables.items():
                packing = _ANGLE_ATTRS[var][0]
                v[r0:r1, :] = np.rint(angles[var] * 1e6).astype(packing.dtype)
    finally:
        ds.close()


def _write_time(spec: SceneSpec, folder: Path) -> None:
    """time_coordinates.nc: time_stamp (rows) int64 µs since 2000-01-01 (§3, §5)."""
    ds = _open(folder, "time_coordinates.nc", spec, {"rows": spec.rows})
    try:
        v = _variable(
            ds, "time_stamp", "int64", ("rows",), -1, (spec.rows,),
            {"long_name": "Elapsed time since 01 Jan 2000 0h", "standard_name": "time",
             "units": "microseconds since 2000-01-01 00:00:00"},
        )  # fmt: skip
        v[:] = row_time_stamps(spec)
    finally:
        ds.close()


def row_time_stamps(spec: SceneSpec) -> np.ndarray:
    """Acquisition time of every row, int64 microseconds since 2000-01-01 (shape (rows,))."""
    start_us = (_start(spec) - _EPOCH_2000) // timedelta(microseconds=1)
    return start_us + AL_TIME_SAMPLING_US * np.arange(spec.rows, dtype=np.int64)


# --------------------------------------------------------------------------------------
# Manifest (§8)
# --------------------------------------------------------------------------------------


def _md5(path: Path) -> str:
    """Hex MD5 of a file, read in 1 MiB pieces."""
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        while piece := fh.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def _metadata_object(ident: str, text: str, body: str, category: str = "DMD") -> str:
    """One ``metadataObject`` wrapping ``body`` (already indented XML)."""
    classification = "PROVENANCE" if category == "PDI" else "DESCRIPTION"
    return (
        f'      <metadataObject ID="{ident}" classification="{classification}" '
        f'category="{category}">\n'
        f'         <metadataWrap mimeType="text/xml" vocabularyName="Sentinel-SAFE" '
        f'textInfo="{text}">\n'
        f"            <xmlData>\n{body}"
        f"            </xmlData>\n"
        f"         </metadataWrap>\n"
        f"      </metadataObject>\n"
    )


def _processing_baseline(spec: SceneSpec, ind: str) -> str:
    """The ``processingBaseline`` line: in the real 004 manifest (OL__L2M.004.00.00), absent
    from the 003 one (§2 [stactools]); written for 004 only."""
    if spec.baseline != "004":
        return ""
    tag = "sentinel3:processingBaseline"
    return f"{ind}   <{tag}>OL__L2M.004.00.00</{tag}>\n"


def _manifest_xml(spec: SceneSpec, entries: list[tuple[str, int, str]], summary: _Summary) -> str:
    """The xfdumanifest.xml text for the files in ``entries`` (name, size, md5)."""
    name = product_name(spec)
    ind = " " * 15
    units = "".join(
        f'         <xfdu:contentUnit ID="{_FILES[f].data_id[:-4]}Unit" unitType='
        f'"{"Annotation" if _FILES[f].annotation else "Measurement"} Data Unit" '
        f'textInfo="{_FILES[f].text}">\n'
        f'            <dataObjectPointer dataObjectID="{_FILES[f].data_id}"/>\n'
        f"         </xfdu:contentUnit>\n"
        for f, _, _ in entries
    )
    lon, lat = sw.footprint(_swath(spec))
    pos = " ".join(f"{a:.6f} {o:.6f}" for a, o in zip(lat, lon, strict=True))
    total = sum(size for _, size, _ in entries)
    pct = 100.0 / max(summary.total, 1)
    direction = "descending" if 90.0 < spec.heading_deg % 360.0 < 270.0 else "ascending"
    bands = "".join(
        f'{ind}   <sentinel3:band name="{b}">\n'
        f"{ind}      <sentinel3:centralWavelength>{BAND_CENTRE_NM[b]:g}"
        f"</sentinel3:centralWavelength>\n"
        f"{ind}      <sentinel3:bandwidth>{BAND_WIDTH_NM[b]:g}</sentinel3:bandwidth>\n"
        f"{ind}   </sentinel3:band>\n"
        for b in BANDS
    )
    sections = [
        _metadata_object("acquisitionPeriod", "Acquisition Period", (
            f"{ind}<sentinel-safe:acquisitionPeriod>\n"
            f"{ind}   <sentinel-safe:startTime>{_iso_us(_start(spec))}</sentinel-safe:startTime>\n"
            f"{ind}   <sentinel-safe:stopTime>{_iso_us(_stop(spec))}</sentinel-safe:stopTime>\n"
            f"{ind}</sentinel-safe:acquisitionPeriod>\n")),
        _metadata_object("platform", "Platform Description", (
            f"{ind}<sentinel-safe:platform>\n"
            f"{ind}   <sentinel-safe:nssdcIdentifier>"
            f"{'2016-011A' if spec.mission == 'S3A' else '2018-039A'}"
            f"</sentinel-safe:nssdcIdentifier>\n"
            f"{ind}   <sentinel-safe:familyName>Sentinel-3</sentinel-safe:familyName>\n"
            f"{ind}   <sentinel-safe:number>{spec.mission[-1]}</sentinel-safe:number>\n"
            f"{ind}   <sentinel-safe:instrument>\n"
            f'{ind}      <sentinel-safe:familyName abbreviation="OLCI">Ocean Land Colour '
            f"Instrument</sentinel-safe:familyName>\n"
            f'{ind}      <sentinel-safe:mode identifier="EO">Earth Observation'
            f"</sentinel-safe:mode>\n"
            f"{ind}   </sentinel-safe:instrument>\n"
            f"{ind}</sentinel-safe:platform>\n")),
        _metadata_object("measurementFrameSet", "Frame Set", (
            f"{ind}<sentinel-safe:frameSet>\n"
            f'{ind}   <sentinel-safe:footPrint srsName="http://www.opengis.net/def/crs/EPSG/0/'
            f'4326">\n'
            f"{ind}      <gml:posList>{pos}</gml:posList>\n"
            f"{ind}   </sentinel-safe:footPrint>\n"
            f"{ind}</sentinel-safe:frameSet>\n")),
        _metadata_object("generalProductInformation", "General Product Information", (
            f"{ind}<sentinel3:generalProductInformation>\n"
            f"{ind}   <sentinel3:productName>{escape(name)}</sentinel3:productName>\n"
            f"{ind}   <sentinel3:productType>OL_2_WFR___</sentinel3:productType>\n"
            f"{ind}   <sentinel3:timeliness>{spec.timeliness}</sentinel3:timeliness>\n"
            f"{ind}   <sentinel3:baselineCollection>{spec.baseline}"
            f"</sentinel3:baselineCollection>\n"
            f"{_processing_baseline(spec, ind)}"
            f"{ind}   <sentinel3:creationTime>{_creation(spec).strftime('%Y%m%dT%H%M%S')}"
            f"</sentinel3:creationTime>\n"
            f"{ind}   <sentinel3:productSize>{total}</sentinel3:productSize>\n"
            f"{ind}   <sentinel3:dispositionMode>Operational</sentinel3:dispositionMode>\n"
            f"{ind}   <sentinel3:productUnit>\n"
            f"{ind}      <sentinel3:type>FRAME</sentinel3:type>\n"
            f"{ind}      <sentinel3:duration>{int((_stop(spec) - _start(spec)).total_seconds())}"
            f"</sentinel3:duration>\n"
            f"{ind}      <sentinel3:alongtrackCoordinate>{spec.frame}"
            f"</sentinel3:alongtrackCoordinate>\n"
            f"{ind}   </sentinel3:productUnit>\n"
            f"{ind}</sentinel3:generalProductInformation>\n")),
        _metadata_object("olciProductInformation", "Olci Product Information", (
            f"{ind}<olci:olciProductInformation>\n"
            f"{ind}   <olci:classificationSummary>\n"
            f'{ind}      <sentinel3:salineWaterPixels percentage="{summary.sea * pct:.6f}"/>\n'
            f'{ind}      <sentinel3:coastalPixels percentage="0.000000"/>\n'
            f'{ind}      <sentinel3:freshInlandWaterPixels percentage='
            f'"{summary.inland * pct:.6f}"/>\n'
            f'{ind}      <sentinel3:tidalRegionPixels percentage="0.000000"/>\n'
            f'{ind}      <sentinel3:landPixels percentage="{summary.land * pct:.6f}"/>\n'
            f'{ind}      <sentinel3:cloudyPixels percentage="{summary.cloud * pct:.6f}"/>\n'
            f"{ind}   </olci:classificationSummary>\n"
            f"{ind}   <olci:atmosphericCorrectionType>PARALLEL</olci:atmosphericCorrectionType>\n"
            f"{ind}   <olci:imageSize>\n"
            f"{ind}      <sentinel3:rows>{spec.rows}</sentinel3:rows>\n"
            f"{ind}      <sentinel3:columns>{spec.columns}</sentinel3:columns>\n"
            f"{ind}   </olci:imageSize>\n"
            f"{ind}   <olci:pixelQualitySummary>\n"
            f'{ind}      <olci:invalidPixels value="{summary.invalid}" percentage='
            f'"{summary.invalid * pct:.6f}"/>\n'
            f'{ind}      <olci:cosmeticPixels value="0" percentage="0.000000"/>\n'
            f'{ind}      <olci:duplicatedPixels value="0" percentage="0.000000"/>\n'
            f'{ind}      <olci:saturatedPixels value="0" percentage="0.000000"/>\n'
            f'{ind}      <olci:dubiousSamples value="0" percentage="0.000000"/>\n'
            f"{ind}   </olci:pixelQualitySummary>\n"
            f"{ind}   <olci:samplingParameters>\n"
            f"{ind}      <olci:alTimeSampling>{AL_TIME_SAMPLING_US}</olci:alTimeSampling>\n"
            f"{ind}      <olci:alSpatialSampling>294</olci:alSpatialSampling>\n"
            f"{ind}      <olci:acSpatialSampling>270</olci:acSpatialSampling>\n"
            f"{ind}      <olci:rowsPerTiePoint>1</olci:rowsPerTiePoint>\n"
            f"{ind}      <olci:columnsPerTiePoint>{TIE_STEP}</olci:columnsPerTiePoint>\n"
            f"{ind}   </olci:samplingParameters>\n"
            f'{ind}   <olci:bandDescriptions bands="{len(BANDS)}">\n{bands}'
            f"{ind}   </olci:bandDescriptions>\n"
            f"{ind}</olci:olciProductInformation>\n")),
        _metadata_object("measurementOrbitReference", "Orbit Reference", (
            f"{ind}<sentinel-safe:orbitReference>\n"
            f'{ind}   <sentinel-safe:orbitNumber type="start" groundTrackDirection='
            f'"{direction}">{_absolute_orbit(spec)}</sentinel-safe:orbitNumber>\n'
            f'{ind}   <sentinel-safe:relativeOrbitNumber type="start" groundTrackDirection='
            f'"{direction}">{spec.relative_orbit}</sentinel-safe:relativeOrbitNumber>\n'
            f"{ind}   <sentinel-safe:cycleNumber>{spec.cycle}</sentinel-safe:cycleNumber>\n"
            f"{ind}</sentinel-safe:orbitReference>\n")),
        _metadata_object("measurementQualityInformation", "Quality Information", (
            f"{ind}<sentinel-safe:qualityInformation>\n"
            f"{ind}   <sentinel-safe:extension>\n"
            f"{ind}      <sentinel3:productQuality>\n"
            f"{ind}         <sentinel3:onlineQualityCheck>PASSED</sentinel3:onlineQualityCheck>\n"
            f"{ind}      </sentinel3:productQuality>\n"
            f"{ind}   </sentinel-safe:extension>\n"
            f"{ind}</sentinel-safe:qualityInformation>\n")),
        _metadata_object("processing", "Processing", (
            f'{ind}<sentinel-safe:processing name="DataProcessing" outputLevel="2">\n'
            f'{ind}   <sentinel-safe:facility name="Synthetic (eotrend)" organisation='
            f'"eotrend" site="none" country="none">\n'
            f'{ind}      <sentinel-safe:software name="IPF-OL-2" version='
            f'"{IPF_VERSION[spec.baseline]}"/>\n'
            f"{ind}   </sentinel-safe:facility>\n"
            f'{ind}   <sentinel-safe:resource name="S3IPF PDS 004.3 - Product Data Format '
            f'Specification - OLCI Level 2 Marine" role="Product Data Format Specification"/>\n'
            f"{ind}</sentinel-safe:processing>\n"), "PDI"),
    ]  # fmt: skip
    for f, _, _ in entries:
        if _FILES[f].annotation:
            ident = _FILES[f].data_id[:-4] + "Annotation"
            sections.append(
                f'      <metadataObject ID="{ident}" classification="DESCRIPTION" '
                f'category="DMD">\n'
                f'         <dataObjectPointer dataObjectID="{_FILES[f].data_id}"/>\n'
                f"      </metadataObject>\n"
            )
    objects = "".join(
        f'      <dataObject ID="{_FILES[f].data_id}">\n'
        f'         <byteStream mimeType="application/x-netcdf" size="{size}">\n'
        f'            <fileLocation locatorType="URL" textInfo="{_FILES[f].text}" '
        f'href="./{f}"/>\n'
        f'            <checksum checksumName="MD5">{md5}</checksum>\n'
        f"         </byteStream>\n"
        f"      </dataObject>\n"
        for f, size, md5 in entries
    )
    dmd = (
        "acquisitionPeriod platform measurementOrbitReference measurementQualityInformation"
        " processing measurementFrameSet generalProductInformation olciProductInformation"
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" '
        'xmlns:sentinel-safe="http://www.esa.int/safe/sentinel/1.1" '
        'xmlns:gml="http://www.opengis.net/gml" '
        'xmlns:sentinel3="http://www.esa.int/safe/sentinel/sentinel-3/1.0" '
        'xmlns:olci="http://www.esa.int/safe/sentinel/sentinel-3/olci/1.0" '
        'version="esa/safe/sentinel/sentinel-3/olci/level-2/1.0">\n'
        "   <informationPackageMap>\n"
        '      <xfdu:contentUnit ID="packageUnit" unitType="Information Package" '
        f'textInfo="SENTINEL-3 OLCI Level 2 Water Product" dmdID="{dmd}" pdiID="processing">\n'
        f"{units}"
        "      </xfdu:contentUnit>\n"
        "   </informationPackageMap>\n"
        f"   <metadataSection>\n{''.join(sections)}   </metadataSection>\n"
        f"   <dataObjectSection>\n{objects}   </dataObjectSection>\n"
        "</xfdu:XFDU>\n"
    )


# --------------------------------------------------------------------------------------
# Product
# --------------------------------------------------------------------------------------


def _resolve_files(files: Iterable[str] | None, baseline: str) -> frozenset[str]:
    """The netCDF files to write: the baseline's default set, or ``files`` plus the
    mandatory ones (ValueError for a file the baseline does not have)."""
    known = baseline_files(baseline)
    if files is None:
        return frozenset(known)
    if isinstance(files, str):
        raise TypeError("files must be an iterable of file names, not a single string")
    wanted = set(files) - {MANIFEST}
    unknown = sorted(wanted - set(known))
    if unknown:
        raise ValueError(
            f"cannot generate {unknown} for baseline {baseline}; known files: {list(known)}"
        )
    return frozenset(wanted | ALWAYS_WRITTEN)


def _write_folder(
    spec: SceneSpec, folder: Path, files: frozenset[str], water: object | None
) -> None:
    """Write every file of the product into the (new, empty) ``folder``."""
    tie_lat, tie_lon, summary = _write_images(spec, folder, files, water)
    _write_tie_geo(spec, folder, tie_lat, tie_lon)
    if "tie_geometries.nc" in files:
        _write_tie_geometries(spec, folder)
    if "time_coordinates.nc" in files:
        _write_time(spec, folder)
    entries = [
        (f, (folder / f).stat().st_size, _md5(folder / f))
        for f in baseline_files(spec.baseline)
        if f in files
    ]
    (folder / MANIFEST).write_text(_manifest_xml(spec, entries, summary), encoding="utf-8")


def _write_zip(folder: Path, zip_path: Path, when: datetime) -> None:
    """Stored (uncompressed) zip of ``folder`` under one top-level ``<folder name>/``."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    root = folder.name
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        info = zipfile.ZipInfo(f"{root}/", date_time=stamp)
        info.external_attr = (0o40755 << 16) | 0x10
        zf.writestr(info, b"")
        for path in sorted(folder.iterdir(), key=lambda p: p.name):
            info = zipfile.ZipInfo(f"{root}/{path.name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o100644 << 16
            with open(path, "rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def write_product(
    spec: SceneSpec,
    dest_dir: str | os.PathLike[str],
    *,
    water=None,
    files: Iterable[str] | None = None,
    zip: bool = False,
) -> Path:
    """Write ``<dest_dir>/<product_name(spec)>`` (a ``.SEN3`` folder); return its path.

    Args:
        spec: the scene.
        dest_dir: folder to write into (created if missing).
        water: None, or a shapely (Multi)Polygon or a list of them in lon/lat (EPSG:4326):
            pixels whose centre lies inside are INLAND_WATER (procedural lakes and a sea
            strip are always drawn too).
        files: None for the baseline's file set (:func:`baseline_files`), or the netCDF
            file names to write (of that set); geo_coordinates.nc, tie_geo_coordinates.nc
            and xfdumanifest.xml always are.
        zip: also write ``<dest_dir>/<name>.zip`` (stored, single top-level ``<name>/``)
            and return its path instead.

    The folder is written under a temporary name next to the destination and renamed when
    complete; an existing product of the same name is replaced. Output bytes depend only
    on the arguments.
    """
    names = _resolve_files(files, spec.baseline)
    geometry = _as_geometry(water)
    name = product_name(spec)
    final = Path(dest_dir) / name
    with atomic_path(final) as tmp:
        tmp.mkdir()
        _write_folder(spec, tmp, names, geometry)
        old = None
        if final.exists():
            old = final.with_name(f".{name}.replaced-{os.getpid()}")
            os.replace(final, old)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    if zip:
        zip_path = final.with_name(name + ".zip")
        _write_zip(final, zip_path, _creation(spec))
        return zip_path
    return final

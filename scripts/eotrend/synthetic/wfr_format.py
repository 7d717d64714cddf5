"""The real Sentinel-3 OLCI Level-2 WFR format that synthetic products follow: the 16
reflectance bands, the row and tie-point sampling, the three WQSF flag tables, and the
netCDF files of each baseline collection with their titles and manifest entries.

Sources: the band table, sampling parameters and file list of the real WFR 003 manifest in
tests/data/real-manifests; the Collection 4 file set, data object IDs and texts of the real
004 manifest in stactools-packages/sentinel3 (``tests/data-files``); the flag names of
ESA's OLCI Level-2 quality and science flags page (sentinel.esa.int,
https://sentinel.esa.int/web/sentinel/technical-guides/sentinel-3-olci/level-2/quality-and-science-flags-op);
the three WQSF tables, names with their masks in the order real files list them, are those
of three real WFR products as SNAP reads them (see :data:`WQSF_LAYOUTS`).
"""

from __future__ import annotations

from dataclasses import dataclass

BANDS: tuple[str, ...] = (
    "Oa01", "Oa02", "Oa03", "Oa04", "Oa05", "Oa06", "Oa07", "Oa08",
    "Oa09", "Oa10", "Oa11", "Oa12", "Oa16", "Oa17", "Oa18", "Oa21",
)  # fmt: skip
"""The 16 WFR reflectance bands (``bandDescriptions`` of the real manifests)."""
_CENTRES = (400, 412.5, 442.5, 490, 510, 560, 620, 665, 673.75, 681.25, 708.75, 753.75, 778.75,
            865, 885, 1020)  # fmt: skip
_WIDTHS = (15, 10, 10, 10, 10, 10, 10, 10, 7.5, 7.5, 10, 7.5, 15, 20, 10, 40)
BAND_CENTRE_NM = dict(zip(BANDS, _CENTRES, strict=True))
"""Band centre wavelength in nm (``centralWavelength`` of the real manifests)."""
BAND_WIDTH_NM = dict(zip(BANDS, _WIDTHS, strict=True))
"""Band width in nm (``bandwidth`` of the real manifests)."""

AL_TIME_SAMPLING_US = 44001
"""Row time step in microseconds (``alTimeSampling`` of the real manifests)."""
TIE_STEP = 64
"""Columns per tie point (``ac_subsampling_factor``; ``columnsPerTiePoint`` of the real
manifests)."""

_ANNOT_NAMES = ("ANGSTROM", "AERO_B", "ABSO_D", "ACLIM", "ABSOA", "MIXR1", "DROUT", "TAU06")
_ANNOT = tuple((f"ANNOT_{n}", 32 + i) for i, n in enumerate(_ANNOT_NAMES))
_ANNOT_C4_NAMES = ("ANNOT_ALPHA", "CHLOR_A_TURBID", "UNCORR_GLINT", "OWC_LOW_PROB", "ANNOT_ABSOA",
                   "ANNOT_MIXR1", "TURBID_WATER", "ANNOT_HIGH_AOT")  # fmt: skip
_ANNOT_C4 = tuple((n, 32 + i) for i, n in enumerate(_ANNOT_C4_NAMES))
_RWNEG = tuple((f"RWNEG_O{int(band[2:])}", 40 + i) for i, band in enumerate(BANDS))

# (name, bit) in flag_meanings order: the WQSF tables of real WFR products as ESA's SNAP
# reader reads them in its test descriptions (github.com/senbox-org/optical-toolbox,
# opttbx-sentinel3-reader/src/test/resources/eu/esa/opt/dataio/s3/<id>.json; copied, by
# name and mask, in tests/data/real-flag-tables). SNAP keeps a file's flag order (the two
# older tables list their flags as sen3r's commons.py, github.com/hybam-dev/sen3r, and
# satpy's test_olci_nc.py, github.com/pytroll/satpy, do).
# * classic: S3A_OL_2_WFR____20180707T081143 (a 2018, baseline 002 era product);
# * shifted: S3B_OL_2_WFR____20240806T055947 (2024, baseline 003 era): COASTLINE takes bit
#   6 and moves TIDAL..OCNN_FAIL up one bit; TURBID_ATM (22) and IOP_LSD_FAIL (29) are new;
# * collection4: S3B_OL_2_WFR____20221216T131616, a Collection 4 product (its variables
#   include chlor_a and kd_490): the shifted table with OC4ME_FAIL renamed CHLOR_A_FAIL and
#   KDM_FAIL renamed KD_FAIL (same bits), BRDF_OOR (30) and CLOUD_SHADOW (31) added, and
#   other annotation names on bits 32-39.
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
    "collection4": (
        ("INVALID", 0), ("WATER", 1), ("LAND", 2), ("CLOUD", 3), ("TURBID_ATM", 22),
        ("CLOUD_AMBIGUOUS", 23), ("CLOUD_MARGIN", 24), ("SNOW_ICE", 4), ("INLAND_WATER", 5),
        ("COASTLINE", 6), ("TIDAL", 7), ("COSMETIC", 8), ("SUSPECT", 9), ("HISOLZEN", 10),
        ("SATURATED", 11), ("MEGLINT", 12), ("HIGHGLINT", 13), ("WHITECAPS", 14),
        ("ADJAC", 15), ("WV_FAIL", 16), ("PAR_FAIL", 17), ("AC_FAIL", 18),
        ("CHLOR_A_FAIL", 19), ("OCNN_FAIL", 20), ("KD_FAIL", 21), ("BPAC_ON", 25),
        ("WHITE_SCATT", 26), ("LOWRW", 27), ("HIGHRW", 28), ("IOP_LSD_FAIL", 29),
        ("BRDF_OOR", 30), ("CLOUD_SHADOW", 31), *_ANNOT_C4, *_RWNEG,
    ),
}  # fmt: skip
LAYOUT_NAMES: dict[str, dict[str, str | None]] = {
    "classic": {},
    "shifted": {},
    "collection4": {
        "OC4ME_FAIL": "CHLOR_A_FAIL",
        "KDM_FAIL": "KD_FAIL",
        "ANNOT_TAU06": "ANNOT_HIGH_AOT",
        "ANNOT_ANGSTROM": "ANNOT_ALPHA",
        "ANNOT_ABSO_D": None,
    },
}
"""The name each table gives a flag the generator sets, by its classic name, where the
names differ (None: the table has no such flag). CHLOR_A_FAIL and KD_FAIL take the bits of
OC4ME_FAIL and KDM_FAIL (the real tables); ANNOT_HIGH_AOT and ANNOT_ALPHA take the bits of
ANNOT_TAU06 and ANNOT_ANGSTROM, and their names say high aerosol optical thickness and the
Angstrom exponent (alpha): that they annotate the same thing is inferred. The Collection 4
table has no flag of absorbing dust (ANNOT_ABSO_D's bit 34 is UNCORR_GLINT there)."""


def default_layout(baseline: str) -> str:
    """The WQSF table a product of ``baseline`` carries unless the spec says otherwise:
    ``collection4`` for 004, else ``classic`` (the generator's default before Collection 4;
    ``shifted`` gives the 2024 table)."""
    return "collection4" if baseline == "004" else "classic"


@dataclass(frozen=True)
class _FileInfo:
    """One netCDF file of the product: its part of the ``title`` attribute, its manifest
    text and IDs."""

    title: str
    text: str
    data_id: str
    annotation: bool = False


def _file_table() -> dict[str, _FileInfo]:
    """File name -> :class:`_FileInfo` for every file the generator can write (the
    file lists of the real manifests)."""
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
        # Collection 4: manifest texts and IDs of the real 004 manifest; titles ours.
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
"""Files that baseline 004 adds (the real 004 manifest)."""
COLLECTION4_GONE: tuple[str, ...] = ("chl_oc4me.nc",)
"""Files that baseline 004 no longer has (in the real 004 manifest, chlor_a.nc
replaces chl_oc4me.nc)."""
WFR_FILES: tuple[str, ...] = tuple(f for f in _FILES if f not in COLLECTION4_NEW)
"""Default file set of baselines 002/003 (the WFR set without tie_meteo.nc and
instrument_data.nc), in the manifest's (ASCII) order."""
WFR_FILES_004: tuple[str, ...] = tuple(f for f in _FILES if f not in COLLECTION4_GONE)
"""Default file set of baseline 004 (the 33 files of the real 004 manifest without
tie_meteo.nc and instrument_data.nc), in the manifest's (ASCII) order."""
IPF_VERSION = {"002": "06.13", "003": "07.01", "004": "08.00"}
"""IPF-OL-2 version per baseline: global attribute ``source`` and manifest software (002:
06.13 of 2019 files, in sen3r's dumps; 003: 07.01 of the real 003 manifest; 004: 08.00 of
the real 004 manifest)."""


def baseline_files(baseline: str) -> tuple[str, ...]:
    """The netCDF files the generator writes by default for a baseline collection:
    :data:`WFR_FILES_004` for ``004``, else :data:`WFR_FILES`."""
    return WFR_FILES_004 if baseline == "004" else WFR_FILES

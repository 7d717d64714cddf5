"""Where things are in a Sentinel-3 OLCI Level-2 product: product names, the file of each
variable, the files every reader needs, and the product's own ``xfdumanifest.xml``.

Names: the fixed-position fields of the Sentinel-3 product naming convention (Sentinel-3
OLCI Product Data Format Specification, EUM/OPS-SEN3/DOC/... ; Sentinel-3 OLCI Level-2
Products user guide). Files: one netCDF file per product variable, with
``geo_coordinates.nc`` (pixel centres) and ``tie_geo_coordinates.nc`` (the tie-point grid,
every 64th column) in every product.

The manifest lists every data file with its size and MD5 (``dataObjectSection/dataObject/
byteStream`` with ``fileLocation/@href`` and ``checksum checksumName="MD5"``; the real
manifests in tests/data/real-manifests show the format). The per-file fetch modes read it
first, then fetch only :func:`needed_files`:

* ``xfdumanifest.xml``, ``geo_coordinates.nc`` (locate's full-resolution window, extract's
  pixel centres) and ``tie_geo_coordinates.nc`` (locate's tie-point index and extract's
  swath edge for the coverage): always (:data:`REQUIRED_FILES`);
* the flag file, ``wqsf.nc`` (WFR) or ``lqsf.nc`` (LFR), whichever the manifest lists;
* each variable's file (:data:`VARIABLE_FILES`; the angles SZA, SAA, OZA, OAA are in
  ``tie_geometries.nc``, fetched only when one is asked for); ``<known>_err``/``_unc``
  with the file of ``<known>``; a file its baseline replaced (:data:`REPLACED_FILES`)
  with the replacing file, so that the reader can say what the product holds instead;
* a variable the table does not know: the manifest's data files are its candidates
  (:func:`candidate_files`), looked into one by one until one holds it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from eotrend.core.errors import InputError

# ESA's OLCI naming convention (sentinel.esa.int): fixed positions of the 94-character name.
PRODUCT_NAME = re.compile(
    r"^(?P<mission>S3[AB_])_OL_(?P<level>[12])_(?P<type>[A-Z]{3}_[A-Z_]{2})_"
    r"(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})_(?P<created>\d{8}T\d{6})_"
    r"(?P<duration>\d{4})_(?P<cycle>\d{3})_(?P<relative_orbit>\d{3})_(?P<frame>\d{4}|_{4})_"
    r"(?P<centre>[A-Z0-9]{3})_(?P<platform>[ORFD])_(?P<timeliness>NR|ST|NT)_(?P<baseline>\d{3})"
    r"(?:\.SEN3)?$"
)

# Variables whose file is known (the file lists of the manifests in
# tests/data/real-manifests, satpy's olci_l2.yaml); others are found by scanning.
VARIABLE_FILES = {
    **{
        f"Oa{b:02d}_reflectance": f"Oa{b:02d}_reflectance.nc"
        for b in (*range(1, 13), 16, 17, 18, 21)
    },
    "CHL_NN": "chl_nn.nc",
    "CHL_OC4ME": "chl_oc4me.nc",
    "TSM_NN": "tsm_nn.nc",
    "ADG443_NN": "iop_nn.nc",
    "KD490_M07": "trsp.nc",
    "PAR": "par.nc",
    "IWV": "iwv.nc",
    "T865": "w_aer.nc",
    "A865": "w_aer.nc",
    "WQSF": "wqsf.nc",
    "LQSF": "lqsf.nc",
    "OGVI": "ogvi.nc",
    "GIFAPAR": "gifapar.nc",
    "OTCI": "otci.nc",
    **{angle: "tie_geometries.nc" for angle in ("SZA", "SAA", "OZA", "OAA")},
}
# Sun and viewing angles live on the tie-point grid: every row, every 64th column.
TIE_VARIABLES = ("SZA", "SAA", "OZA", "OAA")
FLAG_VARIABLES = ("WQSF", "LQSF")
LOG10_UNITS = re.compile(r"lg\s*\(\s*re:?\s*(.*)\)")  # SNAP's regex (s3tbx OlciProductFactory)
# The log10 products and the physical unit of 10 ** value (units in satpy's olci_l2.yaml).
# It names the columns of a scene whose file units are not read (outside the swath), so
# that they match the columns of scenes read from files. chlor_a and ADG443_LSD: the
# Collection 4 names and log10 storage of eotrend's synthetic products; whether real
# baseline-004 files use them is unverified. Values are always decoded from the file's own
# units; the download stage warns when a file disagrees with this table.
LOG10_PRODUCTS = {
    "CHL_OC4ME": "mg.m-3",
    "CHL_NN": "mg.m-3",
    "TSM_NN": "g.m-3",
    "ADG443_NN": "m-1",
    "KD490_M07": "m-1",
    "chlor_a": "mg.m-3",
    "ADG443_LSD": "m-1",
}
# Files a processing baseline no longer has, and the file that replaced each
# (the real 004 manifest in stactools-packages/sentinel3, tests/data-files): Collection 4
# products have chlor_a.nc ("OC4Me algorithm Chlorophyll concentration") instead of
# chl_oc4me.nc. The variable names inside chlor_a.nc are unverified: they are read from
# the file.
REPLACED_FILES = {("004", "chl_oc4me.nc"): "chlor_a.nc"}
REQUIRED_FILES = ("xfdumanifest.xml", "geo_coordinates.nc", "tie_geo_coordinates.nc")
# What each file of a full frame weighs, as the manifests of two real products list them
# (stactools-packages/sentinel3, tests/data-files): the WFR
# S3A_OL_2_WFR____20201006T012547_..._3060_MAR_O_NT_002 (water and cloud, 400.8 MB in all)
# and the LFR S3A_OL_2_LFR____20210523T003029_..._1980_LN1_O_NT_002 (in
# tests/data/real-manifests), and their xfdumanifest.xml. A download plan takes a file to
# weigh this much when it has no manifest of the product itself.
TYPICAL_FILE_BYTES = {
    "OL_2_WFR___": {
        "xfdumanifest.xml": 167380, "Oa01_reflectance.nc": 18149093,
        "Oa02_reflectance.nc": 17968596, "Oa03_reflectance.nc": 17442459,
        "Oa04_reflectance.nc": 16748039, "Oa05_reflectance.nc": 16530491,
        "Oa06_reflectance.nc": 15793318, "Oa07_reflectance.nc": 14946070,
        "Oa08_reflectance.nc": 14094078, "Oa09_reflectance.nc": 13983800,
        "Oa10_reflectance.nc": 13846921, "Oa11_reflectance.nc": 13734748,
        "Oa12_reflectance.nc": 11347718, "Oa16_reflectance.nc": 9833504,
        "Oa17_reflectance.nc": 7917256, "Oa18_reflectance.nc": 10065747,
        "Oa21_reflectance.nc": 15908809, "chl_nn.nc": 11878276, "chl_oc4me.nc": 10494206,
        "geo_coordinates.nc": 52640084, "instrument_data.nc": 1052411, "iop_nn.nc": 11563066,
        "iwv.nc": 13456296, "par.nc": 4011781, "tie_geo_coordinates.nc": 998729,
        "tie_geometries.nc": 2111831, "tie_meteo.nc": 19404872, "time_coordinates.nc": 15568,
        "trsp.nc": 6638999, "tsm_nn.nc": 11820088, "w_aer.nc": 11765803, "wqsf.nc": 14620494,
    },
    "OL_2_LFR___": {
        "xfdumanifest.xml": 158467, "geo_coordinates.nc": 58416073,
        "instrument_data.nc": 1056306, "iwv.nc": 1980948, "lqsf.nc": 1831351,
        "ogvi.nc": 1127599, "otci.nc": 1306916, "rc_ogvi.nc": 3879528,
        "tie_geo_coordinates.nc": 1286286, "tie_geometries.nc": 2271750,
        "tie_meteo.nc": 19901329, "time_coordinates.nc": 15708,
    },
}  # fmt: skip
FRAME_PIXELS = 4091 * 4865
"""Pixels of a full frame (the real manifests' rows and columns)."""
MANIFEST_NS = {
    "sentinel-safe": "http://www.esa.int/safe/sentinel/1.1",
    "sentinel3": "http://www.esa.int/safe/sentinel/sentinel-3/1.0",
}


def parse_product_name(name: str) -> dict[str, str]:
    """Fields of a product name (with or without ``.SEN3``); InputError if it is not one."""
    match = PRODUCT_NAME.match(Path(name).name)
    if not match:
        raise InputError(
            name,
            "is not a Sentinel-3 OLCI product name",
            "Expected e.g. S3A_OL_2_WFR____20191104T135002_..._MAR_O_NT_002.SEN3 "
            "(ESA's OLCI naming convention).",
        )
    return match.groupdict()


def product_baseline(name: str | Path) -> str:
    """The processing baseline collection of a product name or path (ESA's OLCI naming
    convention: the class ID's last three digits, e.g. ``"004"``); ``""`` when it is not an
    OLCI product name (a GeoTIFF of a series)."""
    match = PRODUCT_NAME.match(Path(name).name)
    return match["baseline"] if match else ""


def collection(baseline: str) -> str:
    """How messages name a baseline: ``baseline 004 (Collection 4)``."""
    return f"baseline {baseline} (Collection {int(baseline)})"


def log10_unit(units: str) -> str | None:
    """The physical unit X of a log10 variable's units ``lg(re X)``, else None.

    Whitespace inside X becomes ``.`` (``lg(re g m-3)`` -> ``g.m-3``) so that the unit
    can be part of a column name.
    """
    match = LOG10_UNITS.fullmatch(units.strip())
    return re.sub(r"\s+", ".", match.group(1).strip()) if match else None


def value_column(variable: str, units: str | None = None) -> str:
    """The column of ``variable`` in pixel tables and statistics (and its bands' name).

    A variable stored as log10 holds physical values in unit X, and its column says so:
    ``<variable>_<X>`` (``TSM_NN_g.m-3``, ``CHL_OC4ME_mg.m-3``, ``KD490_M07_m-1``). Every
    other variable keeps its name. ``units`` is the file's units attribute (``lg(re X)``
    for log10 products); None assumes the documented units (:data:`LOG10_PRODUCTS`).
    """
    unit = LOG10_PRODUCTS.get(variable) if units is None else log10_unit(units)
    return f"{variable}_{unit}" if unit else variable


def stats_column(variable: str, statistic: str) -> str:
    """The statistics column of ``variable``, e.g. ("TSM_NN", "median") ->
    ``TSM_NN_g.m-3_median``; ``statistic`` is one of the statistics of
    :data:`eotrend.sentinel3.extract.STATISTICS` or ``gmean``."""
    return f"{value_column(variable)}_{statistic}"


def count_columns(columns) -> list[str]:
    """The columns of a statistics table that count pixels: ``count``, ``valid_count``
    and each variable's ``<column>_count``."""
    return [column for column in columns if column == "count" or column.endswith("_count")]


def whole_counts(table):
    """``table`` with its count columns as whole numbers, written ``118`` (never
    ``118.0``): pandas' nullable Int64, so that a count left out (a NaN row) stays
    empty. ``table`` is a pandas DataFrame (pandas is not imported here: figures read
    these names without it)."""
    return table.astype({column: "Int64" for column in count_columns(table.columns)})


MANIFEST = "xfdumanifest.xml"
UNCERTAINTY_SUFFIXES = ("_err", "_unc")


class ManifestError(ValueError):
    """An ``xfdumanifest.xml`` that cannot be parsed (the message says why)."""


@dataclass(frozen=True)
class Listed:
    """One data file a manifest lists: its name (relative to the product folder), size in
    bytes (None when not listed) and MD5 (lower-case hex, "" when not listed)."""

    name: str
    size: int | None
    md5: str


def listed_files(manifest: Path | bytes) -> dict[str, Listed]:
    """The data files of a product's ``xfdumanifest.xml`` (a path or its bytes), by name,
    in manifest order.

    Raises:
        ManifestError: not valid XML.
    """
    try:
        if isinstance(manifest, bytes):
            root = ET.fromstring(manifest)
        else:
            root = ET.parse(manifest).getroot()
    except ET.ParseError as error:
        raise ManifestError(f"xfdumanifest.xml is not valid XML ({error})") from None
    found: dict[str, Listed] = {}
    for stream in (e for e in root.iter() if _local(e.tag) == "byteStream"):
        location = next((e for e in stream if _local(e.tag) == "fileLocation"), None)
        if location is None:
            continue
        name = Path(location.get("href", "")).as_posix()  # "./x.nc" -> "x.nc"
        size = stream.get("size")
        md5 = next(
            (
                (e.text or "").strip().lower()
                for e in stream
                if _local(e.tag) == "checksum" and e.get("checksumName", "MD5").upper() == "MD5"
            ),
            "",
        )
        found[name] = Listed(name, int(size) if size is not None else None, md5)
    return found


def _local(tag: str) -> str:
    """An element's name without its namespace."""
    return tag.rpartition("}")[2]


def variable_file(variable: str, listed: Mapping[str, Listed], baseline: str) -> str | None:
    """The file of ``variable`` in a product listing ``listed``, when the reader's map
    says (see the module docstring); None when it must be looked for."""
    known = VARIABLE_FILES.get(variable)
    if known is None:
        base = next((variable[: -len(s)] for s in UNCERTAINTY_SUFFIXES if variable.endswith(s)), "")
        known = VARIABLE_FILES.get(base)
    if known is None:
        return None
    if known in listed:
        return known
    replaced = REPLACED_FILES.get((baseline, known))
    return replaced if replaced in listed else None


def needed_files(
    listed: Mapping[str, Listed], variables: Iterable[str], baseline: str
) -> tuple[list[str], list[str]]:
    """(files, unresolved): the files a dataset with ``variables`` reads from a product
    whose manifest lists ``listed`` (the manifest itself first), and the variables whose
    file must be looked for (:func:`candidate_files`)."""
    files = list(REQUIRED_FILES)
    flags = [VARIABLE_FILES[v] for v in FLAG_VARIABLES if VARIABLE_FILES[v] in listed]
    files += flags[:1]
    unresolved = []
    for variable in variables:
        name = variable_file(variable, listed, baseline)
        if name is None:
            unresolved.append(variable)
        else:
            files.append(name)
    return list(dict.fromkeys(files)), unresolved


def candidate_files(
    variable: str, listed: Mapping[str, Listed], exclude: Iterable[str]
) -> list[str]:
    """The listed netCDF files that may hold an unknown ``variable``, likeliest first:
    those sharing a word with it (``chlor_a`` -> ``chlor_a.nc``, ``ADG443_LSD`` ->
    ``iop_lsd.nc``), then the others, by name; none of ``exclude`` (already looked into)."""
    skip = set(exclude)
    words = set(variable.lower().split("_"))
    names = [n for n in listed if n.endswith(".nc") and n not in skip]
    return sorted(names, key=lambda n: (not words & set(Path(n).stem.split("_")), n))

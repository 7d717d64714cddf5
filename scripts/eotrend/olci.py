"""Reading Sentinel-3 OLCI Level-2 products (``.SEN3`` folders).

Facts from ../shared/reference/olci-format.md: product names (§1), files and variable
names (§2), ``rows``/``columns`` dims and the 64-column tie-point grid (§3, §4), packing
with scale/offset/fill per variable (§5), log10 products (§6) and flags decoded from
each file's own ``flag_masks``/``flag_meanings`` (§7). Everything here reads windows:
no function reads a whole band unless the window is the whole scene.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np

from eotrend.errors import InputError

# olci-format.md §1, fixed positions of the 94-character name.
PRODUCT_NAME = re.compile(
    r"^(?P<mission>S3[AB_])_OL_(?P<level>[12])_(?P<type>[A-Z]{3}_[A-Z_]{2})_"
    r"(?P<start>\d{8}T\d{6})_(?P<stop>\d{8}T\d{6})_(?P<created>\d{8}T\d{6})_"
    r"(?P<duration>\d{4})_(?P<cycle>\d{3})_(?P<relative_orbit>\d{3})_(?P<frame>\d{4}|_{4})_"
    r"(?P<centre>[A-Z0-9]{3})_(?P<platform>[ORFD])_(?P<timeliness>NR|ST|NT)_(?P<baseline>\d{3})"
    r"(?:\.SEN3)?$"
)

# Variables whose file is known (olci-format.md §2); others are found by scanning.
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
}
FLAG_VARIABLES = ("WQSF", "LQSF")
LOG10_UNITS = re.compile(r"lg\s*\(\s*re:?\s*(.*)\)")  # olci-format.md §6 (SNAP's regex)
REQUIRED_FILES = ("xfdumanifest.xml", "geo_coordinates.nc", "tie_geo_coordinates.nc")
MANIFEST_NS = {
    "sentinel-safe": "http://www.esa.int/safe/sentinel/1.1",
    "sentinel3": "http://www.esa.int/safe/sentinel/sentinel-3/1.0",
}


@dataclass(frozen=True)
class Window:
    """A rectangle of image pixels, half-open: rows [row0, row1), columns [col0, col1)."""

    row0: int
    row1: int
    col0: int
    col1: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.row1 - self.row0, self.col1 - self.col0)

    @property
    def slices(self) -> tuple[slice, slice]:
        return (slice(self.row0, self.row1), slice(self.col0, self.col1))

    def as_dict(self) -> dict[str, int]:
        return {"row0": self.row0, "row1": self.row1, "col0": self.col0, "col1": self.col1}


@dataclass(frozen=True)
class Product:
    """An opened product: its folder, name, sensing times (UTC) and image size."""

    path: Path
    name: str
    sensing_start: datetime
    sensing_stop: datetime
    rows: int
    columns: int


def parse_product_name(name: str) -> dict[str, str]:
    """Fields of a product name (with or without ``.SEN3``); InputError if it is not one."""
    match = PRODUCT_NAME.match(Path(name).name)
    if not match:
        raise InputError(
            name,
            "is not a Sentinel-3 OLCI product name",
            "Expected e.g. S3A_OL_2_WFR____20191104T135002_..._MAR_O_NT_002.SEN3 "
            "(olci-format.md §1).",
        )
    return match.groupdict()


def open_product(path: str | Path) -> Product:
    """Check a ``.SEN3`` folder and read its sensing times and size from the manifest."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(path, "is not a folder", "Give the unzipped .SEN3 product folder.")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise InputError(
            path,
            f"is not a complete OLCI product: missing {', '.join(missing)}",
            "Download the product again.",
        )
    manifest = path / "xfdumanifest.xml"
    try:
        root = ET.parse(manifest).getroot()
    except ET.ParseError as error:
        raise InputError(
            manifest, f"is not valid XML ({error})", "Download the product again."
        ) from error
    start = root.find(".//sentinel-safe:startTime", MANIFEST_NS)
    stop = root.find(".//sentinel-safe:stopTime", MANIFEST_NS)
    rows = root.find(".//sentinel3:rows", MANIFEST_NS)
    columns = root.find(".//sentinel3:columns", MANIFEST_NS)
    if start is None or stop is None or rows is None or columns is None:
        raise InputError(
            manifest, "lacks startTime/stopTime or imageSize", "Download the product again."
        )
    return Product(
        path=path,
        name=path.name.removesuffix(".SEN3"),
        sensing_start=_utc(start.text),
        sensing_stop=_utc(stop.text),
        rows=int(rows.text),
        columns=int(columns.text),
    )


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.strip().replace("Z", "+00:00")).astimezone(UTC)


def variable_file(product: Path, variable: str) -> Path:
    """The netCDF file of ``product`` that holds ``variable``."""
    known = VARIABLE_FILES.get(variable)
    if known and (product / known).is_file():
        return product / known
    for candidate in sorted(product.glob("*.nc")):
        with netCDF4.Dataset(candidate) as ds:
            if variable in ds.variables:
                return candidate
    raise InputError(
        product,
        f"has no variable {variable!r}",
        "Check the dataset's `variables` against the product type (WFR or LFR).",
    )


def _raw(var: netCDF4.Variable, window: Window) -> np.ndarray:
    var.set_auto_maskandscale(False)
    return np.asarray(var[window.slices])


def read_lonlat(product: Path, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre longitude and latitude of a window.

    Returns two float64 arrays of ``window.shape`` in degrees (lon in [-180, 180]);
    fill values become NaN.
    """
    path = product / "geo_coordinates.nc"
    with netCDF4.Dataset(path) as ds:
        return _unpack(ds["longitude"], window, path), _unpack(ds["latitude"], window, path)


def read_tie_lonlat(product: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """The whole tie-point lon/lat grid and its column step.

    Returns lon, lat as float64 (rows, tie_columns) in degrees and the number of image
    columns between tie columns (64 for FR: tie column j is image column 64 * j).
    """
    path = product / "tie_geo_coordinates.nc"
    with netCDF4.Dataset(path) as ds:
        step = int(ds.getncattr("ac_subsampling_factor"))
        full = Window(0, ds.dimensions["tie_rows"].size, 0, ds.dimensions["tie_columns"].size)
        lon = _unpack(ds["longitude"], full, path)
        lat = _unpack(ds["latitude"], full, path)
        if int(ds.getncattr("al_subsampling_factor")) != 1:
            raise InputError(
                path,
                "has an along-track tie-point subsampling other than 1",
                "Only full-resolution (FR) products are supported.",
            )
    return lon, lat, step


def read_variable(product: Path, variable: str, window: Window) -> tuple[np.ndarray, str]:
    """Physical values of one variable over a window, and their unit.

    Scale, offset and fill come from the variable's own attributes; fills become NaN;
    log10 products (units ``lg(re X)``) are returned as 10 ** value in unit X.
    Returns a float64 array of ``window.shape`` and the unit string.
    """
    path = variable_file(product, variable)
    with netCDF4.Dataset(path) as ds:
        var = ds[variable]
        values = _unpack(var, window, path)
        unit = getattr(var, "units", "")
    log_unit = LOG10_UNITS.fullmatch(unit.strip())
    if log_unit:
        return np.power(10.0, values), log_unit.group(1).strip()
    return values, unit


def _unpack(var: netCDF4.Variable, window: Window, path: Path) -> np.ndarray:
    """Raw integers of a window -> float64 with the variable's scale, offset and fill."""
    try:
        raw = _raw(var, window)
    except (OSError, RuntimeError) as error:
        raise InputError(
            path, f"cannot be read ({error})", "Download the product again."
        ) from error
    values = raw.astype(np.float64)
    fill = getattr(var, "_FillValue", None)
    invalid = raw == fill if fill is not None else np.zeros(raw.shape, bool)
    values *= float(getattr(var, "scale_factor", 1.0))
    values += float(getattr(var, "add_offset", 0.0))
    values[invalid] = np.nan
    return values


def read_flags(product: Path, window: Window) -> tuple[np.ndarray, dict[str, np.uint64]]:
    """The quality flags of a window and their masks, decoded from the file itself.

    Returns the raw flags as uint64 (never float: high bits would round away) of
    ``window.shape`` and a mapping flag name -> bit mask read from ``flag_meanings`` and
    ``flag_masks`` (the order of names there is not bit order, olci-format.md §7).
    """
    for variable in FLAG_VARIABLES:
        path = product / VARIABLE_FILES[variable]
        if path.is_file():
            with netCDF4.Dataset(path) as ds:
                var = ds[variable]
                raw = _raw(var, window).astype(np.uint64)
                names = str(var.getncattr("flag_meanings")).split()
                masks = np.asarray(var.getncattr("flag_masks")).astype(np.uint64)
            if len(names) != len(masks):
                raise InputError(
                    path,
                    "has flag_meanings and flag_masks of different lengths",
                    "The product is damaged: download it again.",
                )
            return raw, dict(zip(names, masks, strict=True))
    raise InputError(product, "has no flag file (wqsf.nc or lqsf.nc)", "Download it again.")


def flag_mask(masks: dict[str, np.uint64], names: list[str], where: Path | str) -> np.uint64:
    """OR of the masks of ``names``; an unknown name is an error that lists the known ones."""
    unknown = [name for name in names if name not in masks]
    if unknown:
        raise InputError(
            where,
            f"has no flag {', '.join(unknown)}",
            f"Known flags: {' '.join(sorted(masks))}. Fix the dataset's `quality` setting.",
        )
    combined = np.uint64(0)
    for name in names:
        combined |= masks[name]
    return combined

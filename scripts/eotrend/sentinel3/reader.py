"""Reading Sentinel-3 OLCI Level-2 products (``.SEN3`` folders).

Sources: product names, ESA's OLCI naming convention
(https://sentinel.esa.int/en/web/sentinel/user-guides/sentinel-3-olci/naming-convention);
files and variable names, ``rows``/``columns`` dims and the 64-column tie-point grid, ESA's
OLCI Level-2 data formats page (sentinel.esa.int), satpy's ``readers/olci_nc.py`` and the
real manifests in tests/data/real-manifests (``columnsPerTiePoint`` 64); packing with
scale/offset/fill per variable, ESA's OLCI Level-2 products description; log10 products
(units ``lg(re X)``), satpy's ``etc/readers/olci_l2.yaml``; flags decoded from each file's
own ``flag_masks``/``flag_meanings``, ESA's OLCI quality and science flags pages and satpy
(PR #2767 "Use flags from file when available"). Everything here reads windows:
no function reads a whole band unless the window is the whole scene.
"""

from __future__ import annotations

import contextlib
import functools
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np

from eotrend.core.errors import InputError
from eotrend.sentinel3.layout import (
    FLAG_VARIABLES,
    MANIFEST_NS,
    REPLACED_FILES,
    REQUIRED_FILES,
    VARIABLE_FILES,
    collection,
    log10_unit,
    product_baseline,
)
from eotrend.sentinel3.remote import has_file, netcdf_files, open_dataset


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


def open_product(path: str | Path) -> Product:
    """Check a ``.SEN3`` folder and read its sensing times and size from the manifest."""
    path = Path(path)
    if not path.is_dir():
        raise InputError(path, "is not a folder", "Give the unzipped .SEN3 product folder.")
    missing = [name for name in REQUIRED_FILES if not has_file(path / name)]
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
    """The netCDF file of ``product`` that holds ``variable``.

    Known variables (:data:`VARIABLE_FILES`) are looked up by file name first; otherwise
    (an unknown variable, or a known one whose file the product lacks) each ``.nc`` file
    of the product is opened and its variable names read. InputError names the product
    and the variable and, for a known variable, its missing file; when the product's
    baseline replaced that file (:data:`REPLACED_FILES`: CHL_OC4ME in Collection 4), it
    says so and lists the variables the replacing file holds (read from the file).
    """
    known = VARIABLE_FILES.get(variable)
    if known and has_file(product / known):
        return product / known
    for candidate in netcdf_files(product):
        if variable in file_variables(candidate):
            return candidate
    if not known:
        raise InputError(
            product,
            f"has no variable {variable!r} in any of its files",
            "Check the dataset's `variables` against the product type (WFR or LFR).",
        )
    replaced = replacement(product, variable)
    if replaced is None:
        raise InputError(
            product,
            f"has no {known}, the file of variable {variable!r}",
            "The product is incomplete (download it again) or of another type (WFR or "
            "LFR): check the dataset's `variables`.",
        )
    new, held = replaced
    if not held:
        raise InputError(
            product,
            f"is a {collection(product_baseline(product))} product without {new}, the file "
            f"that replaced {known} (the file of {variable!r}) in that baseline",
            "The product is incomplete: download it again.",
        )
    raise InputError(
        product,
        f"is a {collection(product_baseline(product))} product: it has no {variable!r}, "
        f"because {known} was replaced by {new}, which holds {', '.join(held)}",
        f"Ask for one of those in the dataset's `variables` instead of {variable}, or "
        "restrict the dataset's dates to products of other baselines.",
    )


def replacement(product: Path, variable: str) -> tuple[str, list[str]] | None:
    """When ``product`` lacks the file of a known ``variable`` because its baseline
    replaced that file (:data:`REPLACED_FILES`), the replacing file's name and the
    variables it holds (read from it; empty when the product lacks it too); else None."""
    known = VARIABLE_FILES.get(variable)
    new = REPLACED_FILES.get((product_baseline(product), known))
    if new is None or has_file(product / known):
        return None
    path = product / new
    return new, file_variables(path) if has_file(path) else []


def file_variables(path: Path) -> list[str]:
    """The names of the variables of a netCDF file, in file order (InputError when the
    file cannot be read)."""
    with _dataset(path) as ds:
        return list(ds.variables)


@contextlib.contextmanager
def _dataset(path: Path) -> Iterator[netCDF4.Dataset]:
    """``path`` opened with netCDF4's API, on disk or remote (remote.open_dataset); a
    failure to open or read it (netCDF4: OSError opening, RuntimeError reading) is an
    InputError saying the file is damaged."""
    try:
        with open_dataset(path) as ds:
            yield ds
    except (OSError, RuntimeError) as error:
        raise InputError(
            path,
            f"cannot be read, the file is damaged ({_reason(error)})",
            "Download the product again.",
        ) from error


def _variable(ds: netCDF4.Dataset, name: str, path: Path) -> netCDF4.Variable:
    """Variable ``name`` of the open file ``path``; InputError when it has none."""
    if name not in ds.variables:
        raise InputError(
            path,
            f"has no variable {name!r}",
            "The product is incomplete or damaged: download it again.",
        )
    return ds[name]


def variable_units(path: Path, variable: str) -> str:
    """The ``units`` attribute of a variable of a netCDF file ('' when absent), read
    without its values (InputError when the file cannot be read or lacks it)."""
    with _dataset(path) as ds:
        var = _variable(ds, variable, path)
        return str(var.getncattr("units")) if "units" in var.ncattrs() else ""


def flag_file(product: Path) -> tuple[Path, str]:
    """The quality-flag file of a product and its variable: wqsf.nc/WQSF or lqsf.nc/LQSF."""
    for variable in FLAG_VARIABLES:
        path = product / VARIABLE_FILES[variable]
        if has_file(path):
            return path, variable
    raise InputError(
        product, "has no flag file (wqsf.nc or lqsf.nc)", "Download the product again."
    )


def read_flag_masks(product: Path) -> tuple[Path, dict[str, np.uint64]]:
    """The flag file of a product (:func:`flag_file`) and its flag masks by name (its
    ``flag_meanings``/``flag_masks``), read without the flags themselves."""
    path, variable = flag_file(product)
    with _dataset(path) as ds:
        var = _variable(ds, variable, path)
        return path, Packed(np.empty(0, var.dtype), **_packing(var, path)).flag_masks()


@dataclass(frozen=True)
class Packed:
    """The stored values of one variable and what decoding them needs (CF conventions).

    Attributes:
        raw: the stored values, in the file's dtype (never cast: uint64 flags keep every
            bit); the window's 2-D shape, or 1-D after :meth:`take`.
        scale, offset: ``scale_factor`` and ``add_offset`` (1 and 0 when absent).
        fills: stored values meaning "no data" (``_FillValue``, ``missing_value``).
        valid_range: (min, max) stored values outside which a value is missing, or None.
        units: the ``units`` attribute ('' when absent).
        flags: (name, mask) pairs from ``flag_meanings``/``flag_masks`` (flag variables).
    """

    raw: np.ndarray
    scale: float = 1.0
    offset: float = 0.0
    fills: tuple = ()
    valid_range: tuple | None = None
    units: str = ""
    flags: tuple[tuple[str, int], ...] = ()

    def take(self, index: np.ndarray) -> Packed:
        """The values at flat positions ``index`` of :attr:`raw` (1-D)."""
        return replace(self, raw=self.raw.reshape(-1)[index])

    def decoded(self) -> np.ndarray:
        """float64 ``raw * scale + offset``, NaN where the stored value is missing."""
        values = self.raw.astype(np.float64)
        if self.scale != 1.0:
            values *= self.scale
        if self.offset != 0.0:
            values += self.offset
        missing = np.zeros(self.raw.shape, dtype=bool)
        for fill in self.fills:
            missing |= self.raw == fill
        if self.valid_range is not None:
            low, high = self.valid_range
            missing |= (self.raw < low) | (self.raw > high)
        values[missing] = np.nan
        return values

    def physical(self) -> tuple[np.ndarray, str]:
        """Values in physical units (float64, NaN where missing) and their unit.

        A log10 variable (units ``lg(re X)``) comes back as
        ``10 ** value`` in unit X.
        """
        values = self.decoded()
        unit = log10_unit(self.units)
        if unit is None:
            return values, self.units
        return np.power(10.0, values, out=values), unit

    def flag_masks(self) -> dict[str, np.uint64]:
        """Flag name -> bit mask (uint64), as the file defines them."""
        return {name: np.uint64(mask) for name, mask in self.flags}


def _packing(var: netCDF4.Variable, path: Path) -> dict[str, object]:
    """The :class:`Packed` attributes of a netCDF variable (its raw values aside)."""
    attrs = var.ncattrs()
    fills = []
    for name in ("_FillValue", "missing_value"):
        if name in attrs:
            fills.extend(np.atleast_1d(var.getncattr(name)).tolist())
    valid_range = None
    if "valid_range" in attrs:
        valid_range = tuple(np.asarray(var.getncattr("valid_range")).tolist())
    elif "valid_min" in attrs or "valid_max" in attrs:
        info = np.iinfo(var.dtype) if var.dtype.kind in "iu" else np.finfo(var.dtype)
        valid_range = (
            np.asarray(var.getncattr("valid_min")).item() if "valid_min" in attrs else info.min,
            np.asarray(var.getncattr("valid_max")).item() if "valid_max" in attrs else info.max,
        )
    flags: tuple[tuple[str, int], ...] = ()
    if "flag_masks" in attrs and "flag_meanings" in attrs:
        names = str(var.getncattr("flag_meanings")).split()
        masks = np.atleast_1d(var.getncattr("flag_masks")).astype(np.uint64).tolist()
        if len(names) != len(masks):
            raise InputError(
                path,
                f"{var.name} has flag_meanings and flag_masks of different lengths",
                "The product is damaged: download it again.",
            )
        flags = tuple(zip(names, masks, strict=True))
    return {
        "scale": float(var.getncattr("scale_factor")) if "scale_factor" in attrs else 1.0,
        "offset": float(var.getncattr("add_offset")) if "add_offset" in attrs else 0.0,
        "fills": tuple(fills),
        "valid_range": valid_range,
        "units": str(var.getncattr("units")) if "units" in attrs else "",
        "flags": flags,
    }


def read_packed(
    path: str | Path,
    variables: tuple[str, ...],
    window: tuple[int, int, int, int],
    pixels: np.ndarray | None = None,
) -> dict[str, Packed]:
    """Read a window of some variables of one file, as stored (worker task).

    Args:
        path: a netCDF file of a product.
        variables: names of 2-D variables of that file.
        window: (row0, row1, col0, col1), half-open, in the variables' own dimensions
            (image pixels, or tie points for the tie-point files).
        pixels: None for the whole window; else flat indices into the window (C order)
            of the pixels wanted.

    Returns:
        variable -> :class:`Packed`: raw values of the window's shape, or, with ``pixels``,
        of those pixels (1-D, in their order). Only the chunks the window, or the pixels,
        lie in are read and decompressed, each once.
    """
    path = Path(path)
    win = Window(*window)
    out = {}
    with _dataset(path) as ds:
        for name in variables:
            var = _variable(ds, name, path)
            if var.ndim != 2 or win.row1 > var.shape[0] or win.col1 > var.shape[1]:
                raise InputError(
                    path,
                    f"variable {name} of shape {var.shape} does not hold the window "
                    f"rows {win.row0}-{win.row1}, columns {win.col0}-{win.col1}",
                    "The window belongs to another product: run locate again.",
                )
            var.set_auto_maskandscale(False)
            if pixels is None:
                raw = np.asarray(var[win.slices])
            else:
                raw = _read_pixels(var, win, np.asarray(pixels, np.int64))
            out[name] = Packed(raw=raw, **_packing(var, path))
    return out


def _read_pixels(var: netCDF4.Variable, win: Window, pixels: np.ndarray) -> np.ndarray:
    """The stored values of a variable at flat indices ``pixels`` of window ``win``: per
    run of neighbouring chunks (of the variable's own chunking, in one row of chunks)
    that hold some of them, the smallest rectangle around them, which lies in those
    chunks alone (a contiguous variable: one rectangle around all). A run is one read
    call: each call costs netCDF4 about 0.15 ms besides the chunks it decompresses."""
    rows, cols = np.divmod(pixels, win.shape[1])
    rows += win.row0
    cols += win.col0
    values = np.empty(pixels.shape, var.dtype)
    if not pixels.size:
        return values
    chunking = var.chunking()
    height, width = var.shape if chunking == "contiguous" else chunking
    # Chunks numbered along rows of chunks, with a gap between rows: neighbours differ by 1.
    stride = -(-var.shape[1] // width) + 1
    keys = (rows // height) * stride + cols // width
    order = np.argsort(keys, kind="stable")
    bounds = np.flatnonzero(np.diff(keys[order]) > 1) + 1
    for part in np.split(order, bounds):
        r, c = rows[part], cols[part]
        r0, c0 = int(r.min()), int(c.min())
        block = np.asarray(var[r0 : int(r.max()) + 1, c0 : int(c.max()) + 1])
        values[part] = block[r - r0, c - c0]
    return values


def _reason(error: Exception) -> str:
    """What a netCDF/HDF5 error says, without the file name it repeats."""
    return getattr(error, "strerror", None) or str(error)


def read_lonlat(product: Path, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre longitude and latitude of a window.

    Returns two float64 arrays of ``window.shape`` in degrees (lon in [-180, 180]);
    fill values become NaN.
    """
    bounds = (window.row0, window.row1, window.col0, window.col1)
    read = read_packed(product / "geo_coordinates.nc", ("longitude", "latitude"), bounds)
    return read["longitude"].decoded(), read["latitude"].decoded()


def tie_geometry(product: Path) -> tuple[int, int, int]:
    """(tie rows, tie columns, image columns per tie column) of a product's tie grid.

    InputError when the along-track subsampling is not 1 (only FR products are read).
    """
    path = product / "tie_geo_coordinates.nc"
    try:
        with open_dataset(path) as ds:
            shape = (ds.dimensions["tie_rows"].size, ds.dimensions["tie_columns"].size)
            step = int(ds.getncattr("ac_subsampling_factor"))
            along = int(ds.getncattr("al_subsampling_factor"))
    except (OSError, RuntimeError, KeyError, AttributeError) as error:
        raise InputError(
            path,
            f"lacks the tie-point grid description ({_reason(error)})",
            "Download it again.",
        ) from error
    if along != 1:
        raise InputError(
            path,
            "has an along-track tie-point subsampling other than 1",
            "Only full-resolution (FR) products are supported.",
        )
    return shape[0], shape[1], step


def read_tie_lonlat(product: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """The whole tie-point lon/lat grid and its column step.

    Returns lon, lat as float64 (rows, tie_columns) in degrees, read-only, and the number
    of image columns between tie columns (64 for FR: tie column j is image column 64 * j).
    Read once per process for the last few products: locate (the vertex search) and
    extract (the swath outline) of a scene share one read when they run in one process,
    as in a batch worker (on the object store that read is ~1.3 MB).
    """
    path = Path(product) / "tie_geo_coordinates.nc"
    try:  # a rewritten file is read again; a remote one (no local file) by name
        stat = path.stat()
        version = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        version = None
    return _tie_lonlat(Path(product), version)


@functools.lru_cache(maxsize=4)
def _tie_lonlat(product: Path, version: tuple[int, int] | None):
    rows, columns, step = tie_geometry(product)
    read = read_packed(
        product / "tie_geo_coordinates.nc", ("longitude", "latitude"), (0, rows, 0, columns)
    )
    lon, lat = read["longitude"].decoded(), read["latitude"].decoded()
    lon.flags.writeable = lat.flags.writeable = False
    return lon, lat, step


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

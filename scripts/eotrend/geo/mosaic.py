"""Virtual rasters for stacking: Earth Engine tile mosaics, grid checks, warps onto a grid.

Earth Engine splits an export that does not fit one file into tiles named
``<prefix>-<row offset>-<column offset>.tif``: two 10-digit, zero-padded pixel offsets of
the tile's upper-left corner in the whole export, row (y) first; an unsplit export is
``<prefix>.tif`` (splitting: ``fileDimensions`` in the Earth Engine docs,
https://developers.google.com/earth-engine/apidocs/export-image-todrive; the tile names and
their row-first order are not documented there but seen in public projects' exports).
:func:`group_tiles` gathers the tiles of one export into a :class:`Source` named
``<prefix>.tif``, and :func:`build_mosaic` joins them into a GDAL VRT that is then read
like one file. The mosaic is placed by the tiles' georeferencing (the names only group
them), and is exact: tiles on one pixel grid are copied, never resampled.

:func:`warp_to_grid` makes a warped VRT of any raster on a reference grid, for inputs that
were exported on different grids.

VRTs are small XML files; readers (including worker processes) open them by path.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from osgeo import gdal, osr

from eotrend.core.errors import InputError
from eotrend.geo import raster

gdal.UseExceptions()

TILE_NAME = re.compile(r"^(?P<prefix>.+)-(?P<row>\d{10})-(?P<col>\d{10})\.tiff?$", re.IGNORECASE)
# gdalwarp resampling methods offered for --align; nearest keeps the input values.
RESAMPLINGS = (
    "nearest",
    "bilinear",
    "cubic",
    "cubicspline",
    "lanczos",
    "average",
    "rms",
    "mode",
    "min",
    "max",
    "med",
    "q1",
    "q3",
    "sum",
)
# Grids agree when origins differ by less than this fraction of a pixel and pixel sizes by
# less than this relative amount: exports of one grid can differ in the last digits.
_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Source:
    """One dated input: a file, or the tiles of one Earth Engine export.

    Attributes:
        name: the file; for tiles ``<folder>/<prefix>.tif``, the name the unsplit export
            would have (dates are read from it).
        files: the file itself, or the tiles ordered by (row, column) offset.
    """

    name: Path
    files: tuple[Path, ...]

    @property
    def tiled(self) -> bool:
        """True for the tiles of a split export (even a single one)."""
        return self.files != (self.name,)

    def __str__(self) -> str:
        if not self.tiled:
            return str(self.name)
        stem = self.name.with_suffix("")
        return f"{stem}-<row>-<col>{self.name.suffix} ({len(self.files)} tiles)"


def group_tiles(paths: list[Path]) -> list[Source]:
    """Sources from input paths: each Earth Engine export's tiles (same folder and prefix)
    become one source; every other file is a source of its own. Order: as given, a tile
    set at the place of its first tile."""
    sources: dict[Path, list[tuple[int, int, Path]]] = {}
    for path in map(Path, paths):
        match = TILE_NAME.match(path.name)
        if match:
            name = path.parent / f"{match['prefix']}.tif"  # .tif or .TIF: one export
            sources.setdefault(name, []).append((int(match["row"]), int(match["col"]), path))
        else:
            sources.setdefault(path, []).append((-1, -1, path))
    result = []
    for name, members in sources.items():
        tiles = [p for r, _, p in sorted(members) if r >= 0]
        singles = [p for r, _, p in members if r < 0]
        result.extend(Source(p, (p,)) for p in singles)
        if tiles:
            result.append(Source(name, tuple(tiles)))
    return result


def grid_difference(
    info: raster.RasterInfo, reference: raster.RasterInfo, *, dtype: bool = True
) -> str | None:
    """How ``info``'s grid differs from ``reference``'s, in words; None when they agree.

    Compares, in this order: size, pixel size and rotation, origin (within 1e-6 pixel),
    CRS, and (if ``dtype``) the data type.
    """
    if (info.width, info.height) != (reference.width, reference.height):
        return (
            f"size {info.width} x {info.height} != {reference.width} x {reference.height} "
            "(columns x rows)"
        )
    a, b = info.transform, reference.transform
    pixel = _pixel_difference(a, b)
    if pixel:
        return pixel
    shift = ((a[0] - b[0]) / b[1] + 0.0, (a[3] - b[3]) / b[5] + 0.0)  # + 0.0: no -0
    if max(map(abs, shift)) > _TOLERANCE:
        return (
            f"origin ({a[0]!r}, {a[3]!r}) != ({b[0]!r}, {b[3]!r}), "
            f"a shift of ({shift[0]:+.6g}, {shift[1]:+.6g}) pixels (columns, rows)"
        )
    if not same_crs(info.crs_wkt, reference.crs_wkt):
        return f"CRS {crs_name(info.crs_wkt)} != {crs_name(reference.crs_wkt)}"
    if dtype and info.dtype != reference.dtype:
        return f"data type {info.dtype} != {reference.dtype}"
    return None


def _pixel_difference(a: tuple[float, ...], b: tuple[float, ...]) -> str | None:
    """How the pixel size or rotation of geotransform ``a`` differs from ``b``'s."""
    for i, what in ((1, "pixel width"), (5, "pixel height"), (2, "rotation"), (4, "rotation")):
        if abs(a[i] - b[i]) > _TOLERANCE * max(abs(b[1]), abs(b[5])):
            return f"{what} {a[i]!r} != {b[i]!r}"
    return None


def same_crs(a: str, b: str) -> bool:
    """Whether two WKT strings describe the same CRS ("" = none)."""
    if a == b:
        return True
    if not a or not b:
        return False
    srs_a, srs_b = osr.SpatialReference(wkt=a), osr.SpatialReference(wkt=b)
    return bool(srs_a.IsSame(srs_b))


def crs_name(wkt: str) -> str:
    """A short name of a CRS: "EPSG:32720 (WGS 84 / UTM zone 20S)", or "none"."""
    if not wkt:
        return "none"
    srs = osr.SpatialReference(wkt=wkt)
    code = srs.GetAuthorityCode(None)
    name = srs.GetName() or "unnamed"
    return f"{srs.GetAuthorityName(None)}:{code} ({name})" if code else name


def build_mosaic(source: Source, dest: Path, nodata: float | None = None) -> Path:
    """Write a VRT mosaic of ``source``'s tiles to ``dest`` and return ``dest``.

    The tiles must share CRS, pixel size, data type, band count and nodata, and lie on one
    pixel grid. Where no tile covers the mosaic (Earth Engine skips empty tiles), the
    VRT holds nodata: the tiles' own, else ``nodata``, else NaN (floating-point tiles).

    Raises:
        InputError: tiles that differ, or gaps in integer tiles without any nodata value.
    """
    infos = [raster.read_info(path) for path in source.files]
    first = infos[0]
    for info in infos[1:]:
        problem = _tile_difference(info, first)
        if problem:
            raise InputError(
                info.path,
                f"is a tile of {source} but does not fit {first.path}: {problem}",
                "Tiles of one export must come from one export; remove strays.",
            )
    options = {}
    if first.nodata is None:  # else BuildVRT keeps the tiles' own nodata for the gaps
        if nodata is not None:
            options["VRTNodata"] = nodata
        elif first.dtype.startswith("float"):
            options["VRTNodata"] = "nan"
        elif _has_gaps(infos):
            raise InputError(
                str(source),
                "has gaps between its tiles (missing tiles?) and no nodata value",
                "Set nodata (--nodata), or add the missing tiles.",
            )
    # Absolute paths: the VRT lives in a temporary folder, away from relative inputs.
    files = [os.path.abspath(p) for p in source.files]
    vrt = gdal.BuildVRT(os.fspath(dest), files, **options)
    del vrt  # closing writes the file
    return dest


def band_vrt(path: str | Path, band: int, dest: Path, tags: dict[str, str]) -> Path:
    """Write a one-band VRT of band ``band`` of ``path`` to ``dest``, with dataset metadata
    ``tags``, and return ``dest`` (a band of a multi-band file read as a file of its own)."""
    ds = gdal.Translate(str(dest), str(Path(path).resolve()), format="VRT", bandList=[band])
    ds.SetMetadata({key: str(value) for key, value in tags.items()})
    ds = None  # written on close
    return dest


def _tile_difference(info: raster.RasterInfo, first: raster.RasterInfo) -> str | None:
    """How a tile differs from the first tile of its export (grid, not extent)."""
    for field in ("count", "dtype", "nodata"):
        mine, theirs = getattr(info, field), getattr(first, field)
        if mine != theirs and not (_isnan(mine) and _isnan(theirs)):
            return f"{field} {mine} != {theirs}"
    a, b = info.transform, first.transform
    pixel = _pixel_difference(a, b)
    if pixel:
        return pixel
    offset = ((a[0] - b[0]) / b[1], (a[3] - b[3]) / b[5])
    if any(abs(v - round(v)) > _TOLERANCE for v in offset):
        return f"its origin is off the pixel grid by ({offset[0]:.6g}, {offset[1]:.6g}) pixels"
    if not same_crs(info.crs_wkt, first.crs_wkt):
        return f"CRS {crs_name(info.crs_wkt)} != {crs_name(first.crs_wkt)}"
    return None


def _isnan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _has_gaps(infos: list[raster.RasterInfo]) -> bool:
    """Whether the tiles leave holes in their bounding box (tiles never overlap)."""
    x0 = min(i.transform[0] for i in infos)
    y0 = max(i.transform[3] for i in infos)
    px, py = infos[0].transform[1], infos[0].transform[5]
    width = max(round((i.transform[0] - x0) / px) + i.width for i in infos)
    height = max(round((i.transform[3] - y0) / py) + i.height for i in infos)
    return sum(i.width * i.height for i in infos) < width * height


def warp_to_grid(
    path: Path,
    dest: Path,
    reference: raster.RasterInfo,
    *,
    resampling: str = "nearest",
    nodata: float | None = None,
) -> Path:
    """Write a warped VRT of ``path`` on ``reference``'s grid to ``dest``; return ``dest``.

    The VRT is float32 with NaN nodata (pixels outside the input are NaN). Missing input
    pixels (the file's own nodata, else ``nodata``, else NaN) never enter the resampling.
    Pixels are computed when read, so workers warp only their own rows.

    Raises:
        InputError: the reference grid is rotated, or GDAL cannot warp the input.
    """
    t = reference.transform
    if t[2] or t[4]:
        raise InputError(
            reference.path, "has a rotated grid", "Use a north-up reference raster to align on."
        )
    info = raster.read_info(path)
    if not info.crs_wkt:
        raise InputError(path, "has no CRS, so it cannot be aligned", "Assign its CRS first.")
    src_nodata = info.nodata if info.nodata is not None else nodata
    if src_nodata is None and info.dtype.startswith("float"):
        src_nodata = float("nan")
    bounds = (t[0], t[3] + reference.height * t[5], t[0] + reference.width * t[1], t[3])
    try:
        vrt = gdal.Warp(
            os.fspath(dest),
            os.path.abspath(path),
            format="VRT",
            outputBounds=bounds,
            width=reference.width,
            height=reference.height,
            dstSRS=reference.crs_wkt,
            resampleAlg=resampling,
            srcNodata=src_nodata,
            dstNodata=float("nan"),
            outputType=gdal.GDT_Float32,
        )
    except RuntimeError as error:
        raise InputError(path, f"GDAL cannot warp it onto {reference.path} ({error})") from error
    del vrt  # closing writes the file
    return dest

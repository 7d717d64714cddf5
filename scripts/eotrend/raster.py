"""GeoTIFF input and output through GDAL.

Reading returns floating-point arrays with nodata as NaN, by row blocks, so callers never
hold a whole raster they do not need. Writing goes through :class:`GeoTiffWriter`: row
blocks in any order into a tiled, DEFLATE-compressed GeoTIFF under a temporary name,
optionally converted to a Cloud-Optimised GeoTIFF at the end, then renamed into place.
"""

from __future__ import annotations

import contextlib
import math
import operator
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
from osgeo import gdal, gdal_array

from eotrend.atomic import atomic_path
from eotrend.errors import InputError

gdal.UseExceptions()

_COMPRESSIONS_WITH_PREDICTOR = {"DEFLATE", "LZW", "ZSTD", "LZMA"}


@dataclass(frozen=True)
class RasterInfo:
    """What a raster file holds, without its pixels.

    Attributes:
        path: the file as given.
        width, height: size in pixels (columns, rows).
        count: number of bands.
        dtype: numpy dtype name of band 1 in the file, e.g. ``"float32"``.
        transform: GDAL geotransform (x0, pixel width, row rotation, y0, column rotation,
            pixel height), in CRS units.
        crs_wkt: the CRS as WKT ("" when the file has none).
        nodata: nodata value of band 1, or None.
        descriptions: per band description ("" when unset).
        band_metadata: per band metadata, default domain.
        tags: dataset metadata, default domain.
    """

    path: str
    width: int
    height: int
    count: int
    dtype: str
    transform: tuple[float, ...]
    crs_wkt: str
    nodata: float | None
    descriptions: tuple[str, ...]
    band_metadata: tuple[dict[str, str], ...]
    tags: dict[str, str]


def _open(path: str | os.PathLike[str]) -> gdal.Dataset:
    """Open ``path`` read-only, or raise an :class:`InputError` that names it."""
    if not Path(path).exists():
        raise InputError(path, "file not found", "Check the path and the config.")
    try:
        return gdal.Open(os.fspath(path), gdal.GA_ReadOnly)
    except RuntimeError as err:
        raise InputError(
            path,
            f"GDAL cannot open it as a raster ({err})",
            "Check that it is a complete GeoTIFF (re-download or re-export it).",
        ) from err


def _numpy_dtype(gdal_type: int) -> np.dtype:
    code = gdal_array.GDALTypeCodeToNumericTypeCode(gdal_type)
    if code is None:
        raise ValueError(f"GDAL data type {gdal.GetDataTypeName(gdal_type)} has no numpy type")
    return np.dtype(code)


def read_info(path: str | os.PathLike[str]) -> RasterInfo:
    """Read the size, georeferencing and metadata of a raster.

    Raises:
        InputError: the file does not exist or GDAL cannot open it.
    """
    ds = _open(path)
    bands = [ds.GetRasterBand(i) for i in range(1, ds.RasterCount + 1)]
    if not bands:
        raise InputError(path, "the raster has no bands", "Re-export it with at least one band.")
    return RasterInfo(
        path=os.fspath(path),
        width=ds.RasterXSize,
        height=ds.RasterYSize,
        count=ds.RasterCount,
        dtype=_numpy_dtype(bands[0].DataType).name,
        transform=tuple(ds.GetGeoTransform()),
        crs_wkt=ds.GetProjection() or "",
        nodata=bands[0].GetNoDataValue(),
        descriptions=tuple(b.GetDescription() for b in bands),
        band_metadata=tuple(dict(b.GetMetadata() or {}) for b in bands),
        tags=dict(ds.GetMetadata() or {}),
    )


def _read_dtype(native: np.dtype) -> np.dtype:
    """The float type that holds every value of ``native`` exactly (bar 64-bit integers)."""
    if native == np.float64 or (native.kind in "iu" and native.itemsize > 2):
        return np.dtype(np.float64)
    if native.kind in "iuf":
        return np.dtype(np.float32)
    raise ValueError(f"unsupported raster data type {native}")


def read_rows(
    path: str | os.PathLike[str],
    row0: int,
    nrows: int,
    bands: Sequence[int] | None = None,
) -> np.ndarray:
    """Read ``nrows`` full rows starting at ``row0`` (0-based) from some or all bands.

    Each band's nodata value becomes NaN (masks and alpha bands are not applied).

    Args:
        path: a raster file.
        row0, nrows: first row (0-based) and number of rows; must lie inside the raster.
        bands: 1-based band numbers, in the order wanted; None = all bands.

    Returns:
        (nbands, nrows, width) array: float64 when the file is float64 or an integer type
        wider than 16 bits, float32 otherwise (both exact for the file's values, except
        64-bit integers beyond 2**53).

    Raises:
        InputError: the file does not exist or GDAL cannot open it.
    """
    row0, nrows = operator.index(row0), operator.index(nrows)  # GDAL 3.6 refuses numpy ints
    ds = _open(path)
    band_list = list(range(1, ds.RasterCount + 1)) if bands is None else [int(b) for b in bands]
    if not band_list or not all(1 <= b <= ds.RasterCount for b in band_list):
        raise ValueError(f"{path}: bands {band_list} not in 1..{ds.RasterCount}")
    if row0 < 0 or nrows < 1 or row0 + nrows > ds.RasterYSize:
        raise ValueError(f"{path}: rows {row0}..{row0 + nrows - 1} not in 0..{ds.RasterYSize - 1}")
    native = _numpy_dtype(ds.GetRasterBand(band_list[0]).DataType)
    dtype = _read_dtype(native)
    data = ds.ReadAsArray(
        xoff=0,
        yoff=row0,
        xsize=ds.RasterXSize,
        ysize=nrows,
        buf_type=gdal_array.NumericTypeCodeToGDALTypeCode(dtype),
        band_list=band_list,
    ).reshape(len(band_list), nrows, ds.RasterXSize)
    for out, b in zip(data, band_list, strict=True):
        nodata = ds.GetRasterBand(b).GetNoDataValue()
        if nodata is None or math.isnan(nodata):
            continue  # NaN is NaN already
        if native.kind == "f":
            stored = native.type(nodata)  # as the file holds it: float32(0.1) for "0.1"
        elif nodata.is_integer() and np.iinfo(native).min <= nodata <= np.iinfo(native).max:
            stored = nodata
        else:
            continue  # no value of this integer type can equal it
        out[out == dtype.type(stored)] = np.nan
    return data


def _gdal_type(dtype: np.dtype) -> int:
    code = gdal_array.NumericTypeCodeToGDALTypeCode(dtype)
    if code is None or dtype.kind not in "iuf":
        raise ValueError(f"cannot write numpy dtype {dtype} to GeoTIFF")
    return code


class GeoTiffWriter:
    """Write a GeoTIFF by row blocks, atomically.

    Use as a context manager; ``write_rows`` may be called in any row order and must cover
    every row once the block ends. On success the file is flushed, converted to a
    Cloud-Optimised GeoTIFF when ``cog`` is true, and renamed to ``path``; on an exception
    (or rows left unwritten) nothing is left under ``path`` and the temporary files are
    removed.

    The file is tiled (``block`` x ``block``), compressed (``compress``, with the
    horizontal or floating-point predictor where the codec supports it), BIGTIFF=IF_SAFER,
    pixel-interleaved, with per band nodata, descriptions and metadata, and dataset tags.

    Args:
        path: final file name.
        width, height, count: size in pixels and number of bands.
        transform: GDAL geotransform (6 numbers).
        crs_wkt: CRS as WKT (or anything ``SetProjection`` accepts).
        dtype: numpy dtype name of the file's bands.
        nodata: nodata value of every band; NaN (only for float types) keeps NaN in the
            file as nodata; a number replaces NaN in the data; None sets no nodata (NaN is
            then written as-is to float types and refused for integer types).
        descriptions: one string per band, or None.
        band_metadata: one dict per band (values made strings), or None.
        tags: dataset metadata (values made strings), or None.
        cog: convert to a Cloud-Optimised GeoTIFF with overviews (average resampling).
        block: tile size in pixels, a multiple of 16 (128 or more when ``cog``).
        compress: GDAL GTiff COMPRESS value.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        width: int,
        height: int,
        count: int,
        transform: Sequence[float],
        crs_wkt: str,
        dtype: str = "float32",
        nodata: float | None = float("nan"),
        descriptions: Sequence[str] | None = None,
        band_metadata: Sequence[dict[str, object]] | None = None,
        tags: dict[str, object] | None = None,
        cog: bool = False,
        block: int = 256,
        compress: str = "DEFLATE",
    ) -> None:
        if min(width, height, count) < 1:
            raise ValueError(f"width, height and count must be >= 1, got {width, height, count}")
        if len(transform) != 6:
            raise ValueError(f"transform must have 6 numbers, got {transform}")
        if block % 16 or block < 16 or (cog and block < 128):
            raise ValueError(f"block must be a multiple of 16 (>= 128 for COG), got {block}")
        self.dtype = np.dtype(dtype)
        self._gdal_type = _gdal_type(self.dtype)
        if nodata is not None and math.isnan(nodata) and self.dtype.kind != "f":
            raise ValueError(f"nodata must be a number or None for {self.dtype}, not NaN")
        for name, seq in (("descriptions", descriptions), ("band_metadata", band_metadata)):
            if seq is not None and len(seq) != count:
                raise ValueError(f"{name} has {len(seq)} entries for {count} bands")
        self.path = Path(path)
        self.width, self.height, self.count = width, height, count
        self.transform = tuple(float(v) for v in transform)
        self.crs_wkt = crs_wkt
        self.nodata = nodata
        self.descriptions = descriptions
        self.band_metadata = band_metadata
        self.tags = tags
        self.cog = cog
        self.block = block
        self.compress = compress.upper()
        self._atomic: contextlib.AbstractContextManager[Path] | None = None
        self._tmp: Path | None = None
        self._rows_tmp: Path | None = None
        self._ds: gdal.Dataset | None = None
        self._written = np.zeros(height, dtype=bool)

    def _predictor(self) -> str | None:
        if self.compress not in _COMPRESSIONS_WITH_PREDICTOR:
            return None
        return "3" if self.dtype.kind == "f" else "2"

    def __enter__(self) -> GeoTiffWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._tmp = self._atomic.__enter__()
        try:
            # With cog, rows go to a plain tiled GTiff that the COG driver reads at the end.
            self._rows_tmp = tmp.with_name(f"{tmp.stem}.rows.tif") if self.cog else tmp
            options = [
                "TILED=YES",
                f"BLOCKXSIZE={self.block}",
                f"BLOCKYSIZE={self.block}",
                f"COMPRESS={self.compress}",
                "BIGTIFF=IF_SAFER",
                "INTERLEAVE=PIXEL",
            ]
            if self._predictor():
                options.append(f"PREDICTOR={self._predictor()}")
            driver = gdal.GetDriverByName("GTiff")
            ds = driver.Create(
                os.fspath(self._rows_tmp),
                self.width,
                self.height,
                self.count,
                self._gdal_type,
                options=options,
            )
            ds.SetGeoTransform(self.transform)
            ds.SetProjection(self.crs_wkt)
            if self.tags:
                ds.SetMetadata({str(k): str(v) for k, v in self.tags.items()})
            for i in range(self.count):
                band = ds.GetRasterBand(i + 1)
                if self.nodata is not None:
                    band.SetNoDataValue(float(self.nodata))
                if self.descriptions is not None:
                    band.SetDescription(str(self.descriptions[i]))
                if self.band_metadata is not None and self.band_metadata[i]:
                    band.SetMetadata({str(k): str(v) for k, v in self.band_metadata[i].items()})
                del band
            self._ds = ds
        except BaseException as err:
            self._cleanup()
            self._atomic.__exit__(type(err), err, err.__traceback__)
            raise
        return self

    def write_rows(self, row0: int, data: np.ndarray) -> None:
        """Write rows ``row0 .. row0 + nrows - 1`` of every band.

        Args:
            row0: first row, 0-based.
            data: (count, nrows, width) values, or (nrows, width) for a single band; NaN is
                replaced by the numeric nodata value, if any; values are cast to ``dtype``.
        """
        if self._ds is None:
            raise RuntimeError("write_rows called outside the GeoTiffWriter context")
        row0 = operator.index(row0)  # GDAL 3.6 refuses numpy integers
        data = np.asarray(data)
        if data.ndim == 2 and self.count == 1:
            data = data[np.newaxis]
        if data.ndim != 3 or data.shape[0] != self.count or data.shape[2] != self.width:
            raise ValueError(f"data must be ({self.count}, nrows, {self.width}), got {data.shape}")
        nrows = data.shape[1]
        if row0 < 0 or row0 + nrows > self.height:
            raise ValueError(f"rows {row0}..{row0 + nrows - 1} not in 0..{self.height - 1}")
        if data.dtype.kind == "f":
            missing = np.isnan(data)
            if missing.any():
                if self.nodata is not None and not math.isnan(self.nodata):
                    data = np.where(missing, self.nodata, data)
                elif self.dtype.kind != "f":
                    raise ValueError(f"NaN in data for {self.dtype} output without nodata")
        data = data.astype(self.dtype, copy=False)
        for i in range(self.count):
            band = self._ds.GetRasterBand(i + 1)
            band.WriteArray(data[i], xoff=0, yoff=row0)
            del band
        self._written[row0 : row0 + nrows] = True

    def _cleanup(self) -> None:
        """Close the dataset and remove the plain rows file of a COG build."""
        self._ds = None
        if self.cog and self._rows_tmp is not None:
            self._rows_tmp.unlink(missing_ok=True)

    def _finish(self) -> None:
        if not self._written.all():
            missing = np.flatnonzero(~self._written)
            raise ValueError(f"{self.path}: {missing.size} rows never written (first {missing[0]})")
        self._ds.FlushCache()
        self._ds = None  # closes the file
        if self.cog:
            options = [
                f"COMPRESS={self.compress}",
                f"BLOCKSIZE={self.block}",
                "BIGTIFF=IF_SAFER",
                "OVERVIEWS=AUTO",
                "RESAMPLING=AVERAGE",
            ]
            if self._predictor():
                options.append("PREDICTOR=YES")
            out = gdal.Translate(
                os.fspath(self._tmp),
                os.fspath(self._rows_tmp),
                format="COG",
                creationOptions=options,
            )
            del out  # closing the dataset completes the file

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        try:
            if exc_type is None:
                self._finish()
        except BaseException as err:
            self._cleanup()
            self._atomic.__exit__(type(err), err, err.__traceback__)
            raise
        self._cleanup()
        return bool(self._atomic.__exit__(exc_type, exc, tb))


def write_geotiff(
    path: str | os.PathLike[str],
    data: np.ndarray,
    *,
    transform: Sequence[float],
    crs_wkt: str,
    **kwargs: object,
) -> None:
    """Write a whole array as a GeoTIFF through :class:`GeoTiffWriter` (atomically).

    Args:
        path: final file name.
        data: (count, height, width) or (height, width) values.
        transform, crs_wkt: georeferencing, as for :class:`GeoTiffWriter`.
        **kwargs: any other :class:`GeoTiffWriter` argument; ``dtype`` defaults to
            float32 for floating-point data (the writer's default) and to the data's own
            dtype for integer data (which then needs a numeric ``nodata`` or None).
    """
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[np.newaxis]
    if data.ndim != 3:
        raise ValueError(
            f"data must be (count, height, width) or (height, width), got {data.shape}"
        )
    kwargs.setdefault("dtype", "float32" if data.dtype.kind == "f" else data.dtype.name)
    count, height, width = data.shape
    with GeoTiffWriter(
        path,
        width=width,
        height=height,
        count=count,
        transform=transform,
        crs_wkt=crs_wkt,
        **kwargs,  # type: ignore[arg-type]
    ) as writer:
        writer.write_rows(0, data)


def block_rows(
    height: int,
    width: int,
    count: int,
    budget_bytes: int,
    *,
    align: int = 256,
    bytes_per_value: int = 8,
) -> int:
    """Rows per block so that one block of ``count`` bands stays within a memory budget.

    ``count * rows * width * bytes_per_value <= budget_bytes``, rounded down to a multiple
    of ``align`` (the tile height, so blocks never split a tile) when at least ``align`` rows
    fit, capped at ``height``, and at least 1 (which may exceed a budget smaller than one
    row). Pass as ``bytes_per_value`` the bytes a value costs in total, temporaries
    included (e.g. input plus the working copies of :func:`eotrend.regression.ols`).
    """
    if min(height, width, count, align, bytes_per_value) < 1:
        raise ValueError("height, width, count, align and bytes_per_value must be >= 1")
    rows = budget_bytes // (count * width * bytes_per_value)
    if rows >= align:
        rows -= rows % align
    return int(max(1, min(rows, height)))

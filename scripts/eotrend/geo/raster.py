"""GeoTIFF input and output through GDAL.

Reading returns floating-point arrays with nodata as NaN, by row blocks or windows, so
callers never hold a whole raster they do not need. Writing goes through
:class:`GeoTiffWriter`: row blocks or windows in any order into a tiled, compressed GeoTIFF
under a temporary name, optionally converted to a Cloud-Optimised GeoTIFF at the end, then
renamed into place.
"""

from __future__ import annotations

import contextlib
import math
import operator
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
from osgeo import gdal, gdal_array

from eotrend.core.atomic import atomic_path
from eotrend.core.errors import InputError, OutputError

gdal.UseExceptions()

_COMPRESSIONS_WITH_PREDICTOR = {"DEFLATE", "LZW", "ZSTD", "LZMA"}
# Creation option of the GTiff driver that sets each codec's level (COG: LEVEL for all).
_GTIFF_LEVEL_OPTION = {"DEFLATE": "ZLEVEL", "ZSTD": "ZSTD_LEVEL", "LZMA": "LZMA_PRESET"}


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
        block_size: (columns, rows) of the file's tiles or strips (band 1): reads aligned
            to it decompress every tile once.
        unit_types: per band GDAL unit type ("" when unset).
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
    block_size: tuple[int, int] = (0, 0)
    unit_types: tuple[str, ...] = ()


def band_unit(info: RasterInfo, band: int = 1) -> str | None:
    """The unit of band ``band``'s values (1-based): its UNIT metadata item (as eotrend
    writes it), else the dataset's UNIT tag, else the band's GDAL unit type; None when
    the raster gives none."""
    found = info.band_metadata[band - 1].get("UNIT") or info.tags.get("UNIT")
    if not found and len(info.unit_types) >= band:
        found = info.unit_types[band - 1]
    return found or None


def _open(path: str | os.PathLike[str], options: Sequence[str] = ()) -> gdal.Dataset:
    """Open ``path`` read-only (with GDAL open ``options``), or raise an :class:`InputError`
    that names it."""
    if not Path(path).exists():
        raise InputError(path, "file not found", "Check the path and the config.")
    try:
        return gdal.OpenEx(
            os.fspath(path), gdal.OF_RASTER | gdal.OF_READONLY, open_options=list(options)
        )
    except RuntimeError as err:
        raise InputError(
            path,
            f"GDAL cannot open it as a raster ({err})",
            "Check that it is a complete GeoTIFF (re-download or re-export it).",
        ) from err


def _is_gtiff(path: str | os.PathLike[str]) -> bool:
    """Whether GDAL reads ``path`` with its GTiff driver (the one with threaded decoding)."""
    driver = gdal.IdentifyDriver(os.fspath(path)) if Path(path).exists() else None
    return driver is not None and driver.ShortName == "GTiff"


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
        block_size=tuple(bands[0].GetBlockSize()),
        unit_types=tuple(b.GetUnitType() or "" for b in bands),
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

    The same as :func:`read_window` over the full width.

    Returns:
        (nbands, nrows, width) array (see :func:`read_window` for its dtype).
    """
    return read_window(path, row0, nrows, 0, None, bands)


def read_window(
    path: str | os.PathLike[str],
    row0: int,
    nrows: int,
    col0: int = 0,
    ncols: int | None = None,
    bands: Sequence[int] | None = None,
    *,
    threads: int | None = None,
) -> np.ndarray:
    """Read a window of some or all bands.

    Each band's nodata value becomes NaN (masks and alpha bands are not applied). The file
    is closed on return, which frees GDAL's cache of its decompressed tiles: a worker
    reading window after window keeps at most one window's tiles.

    Args:
        path: a raster file.
        row0, nrows: first row (0-based) and number of rows; must lie inside the raster.
        col0, ncols: first column and number of columns; ncols None = to the last column.
        bands: 1-based band numbers, in the order wanted; None = all bands.
        threads: CPUs that decode compressed tiles in parallel (GDAL's NUM_THREADS open
            option); None = GDAL's setting (GDAL_NUM_THREADS, 1 in pool workers).

    Returns:
        (nbands, nrows, ncols) array: float64 when the file is float64 or an integer type
        wider than 16 bits, float32 otherwise (both exact for the file's values, except
        64-bit integers beyond 2**53).

    Raises:
        InputError: the file does not exist or GDAL cannot open it.
    """
    # GDAL 3.6 refuses numpy integers
    row0, nrows, col0 = operator.index(row0), operator.index(nrows), operator.index(col0)
    ds = _open(path, [f"NUM_THREADS={threads}"] if threads and _is_gtiff(path) else [])
    width = ds.RasterXSize
    ncols = width - col0 if ncols is None else operator.index(ncols)
    band_list = list(range(1, ds.RasterCount + 1)) if bands is None else [int(b) for b in bands]
    if not band_list or not all(1 <= b <= ds.RasterCount for b in band_list):
        raise ValueError(f"{path}: bands {band_list} not in 1..{ds.RasterCount}")
    if row0 < 0 or nrows < 1 or row0 + nrows > ds.RasterYSize:
        raise ValueError(f"{path}: rows {row0}..{row0 + nrows - 1} not in 0..{ds.RasterYSize - 1}")
    if col0 < 0 or ncols < 1 or col0 + ncols > width:
        raise ValueError(f"{path}: columns {col0}..{col0 + ncols - 1} not in 0..{width - 1}")
    native = _numpy_dtype(ds.GetRasterBand(band_list[0]).DataType)
    dtype = _read_dtype(native)
    data = ds.ReadAsArray(
        xoff=col0,
        yoff=row0,
        xsize=ncols,
        ysize=nrows,
        buf_type=gdal_array.NumericTypeCodeToGDALTypeCode(dtype),
        band_list=band_list,
    ).reshape(len(band_list), nrows, ncols)
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
    """Write a GeoTIFF by row blocks or windows, atomically.

    Use as a context manager; ``write_rows``/``write_window`` may be called in any order and
    must cover every pixel once the block ends. On success the file is flushed, converted to
    a Cloud-Optimised GeoTIFF when ``cog`` is true, and renamed to ``path``; on an exception
    (or pixels left unwritten) nothing is left under ``path`` and the temporary files are
    removed.

    The file is tiled (``block`` x ``block``), compressed (``compress``, with the
    horizontal or floating-point predictor where the codec supports it), BIGTIFF=IF_SAFER,
    pixel-interleaved, with per band nodata, descriptions and metadata, and dataset tags.
    With ``cog``, windows first go to an uncompressed tiled file (in memory up to
    :data:`MEMORY_TMP_BYTES`, else next to ``path``), so that every pixel is compressed
    once, by the COG conversion. GDAL's block cache is held to :data:`CACHE_BYTES` while
    the writer is open, so memory does not grow with the raster.

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
        cog: convert to a Cloud-Optimised GeoTIFF.
        block: tile size in pixels, a multiple of 16 (128 or more when ``cog``).
        compress: GDAL GTiff COMPRESS value (e.g. DEFLATE, ZSTD, LZW, NONE).
        level: compression level of DEFLATE (1-12), ZSTD (1-22) or LZMA; None = GDAL's
            default (DEFLATE 6, ZSTD 9). Level 1 is several times faster and, for float
            data that hardly compresses, within a few per cent in size.
        overviews: with ``cog``, the number of overview levels (each halves the size,
            average resampling); None = until the overview fits one tile, 0 = none.
        threads: CPUs that compress tiles in parallel (GDAL NUM_THREADS); None = 1.
    """

    CACHE_BYTES = 256 * 2**20
    MEMORY_TMP_BYTES = 256 * 2**20

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
        level: int | None = None,
        overviews: int | None = None,
        threads: int | None = None,
    ) -> None:
        if min(width, height, count) < 1:
            raise ValueError(f"width, height and count must be >= 1, got {width, height, count}")
        if len(transform) != 6:
            raise ValueError(f"transform must have 6 numbers, got {transform}")
        if block % 16 or block < 16 or (cog and block < 128):
            raise ValueError(f"block must be a multiple of 16 (>= 128 for COG), got {block}")
        if overviews is not None and overviews < 0:
            raise ValueError(f"overviews must be >= 0 or None, got {overviews}")
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
        self.level = level
        self.overviews = overviews
        self.threads = threads
        self._atomic: contextlib.AbstractContextManager[Path] | None = None
        self._tmp: Path | None = None
        self._rows_tmp: str | None = None  # a path, or a /vsimem/ name
        self._ds: gdal.Dataset | None = None
        self._cache: contextlib.ExitStack | None = None
        self._windows: list[tuple[int, int, int, int]] = []

    def _predictor(self) -> str | None:
        if self.compress not in _COMPRESSIONS_WITH_PREDICTOR:
            return None
        return "3" if self.dtype.kind == "f" else "2"

    def _codec_options(self, *, cog: bool) -> list[str]:
        """Compression creation options of the GTiff driver, or of the COG driver."""
        options = [f"COMPRESS={self.compress}"]
        if self._predictor():
            options.append("PREDICTOR=YES" if cog else f"PREDICTOR={self._predictor()}")
        if self.level is not None:
            key = "LEVEL" if cog else _GTIFF_LEVEL_OPTION.get(self.compress)
            if key is None:
                raise ValueError(f"compression {self.compress} has no level")
            options.append(f"{key}={self.level}")
        if self.threads is not None and self.threads > 1:
            options.append(f"NUM_THREADS={self.threads}")
        return options

    def __enter__(self) -> GeoTiffWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._tmp = self._atomic.__enter__()
        try:
            self._cache = contextlib.ExitStack()
            self._cache.enter_context(_gdal_cache_limit(self.CACHE_BYTES))
            options = [
                "TILED=YES",
                f"BLOCKXSIZE={self.block}",
                f"BLOCKYSIZE={self.block}",
                "BIGTIFF=IF_SAFER",
            ]
            if self.cog:
                # Windows go to a plain uncompressed file that the COG driver reads at the
                # end: every tile is then compressed once, by the conversion.
                size = self.width * self.height * self.count * self.dtype.itemsize
                folder = "/vsimem" if size <= self.MEMORY_TMP_BYTES else os.fspath(tmp.parent)
                self._rows_tmp = f"{folder}/{tmp.stem}.rows.tif"
                options += ["COMPRESS=NONE", "INTERLEAVE=BAND"]
            else:
                self._rows_tmp = os.fspath(tmp)
                options += ["INTERLEAVE=PIXEL", *self._codec_options(cog=False)]
            driver = gdal.GetDriverByName("GTiff")
            ds = driver.Create(
                self._rows_tmp,
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
            data: (count, nrows, width) values, or (nrows, width) for a single band; see
                :meth:`write_window`.
        """
        self.write_window(row0, 0, data)

    def write_window(self, row0: int, col0: int, data: np.ndarray) -> None:
        """Write the window of every band whose top-left pixel is (``row0``, ``col0``).

        Windows aligned to the tiles (``block``) are the fastest: no tile is read back.

        Args:
            row0, col0: first row and column, 0-based.
            data: (count, nrows, ncols) values, or (nrows, ncols) for a single band; NaN is
                replaced by the numeric nodata value, if any; values are cast to ``dtype``.
        """
        if self._ds is None:
            raise RuntimeError("write_window called outside the GeoTiffWriter context")
        row0, col0 = operator.index(row0), operator.index(col0)  # GDAL 3.6 refuses numpy ints
        data = np.asarray(data)
        if data.ndim == 2 and self.count == 1:
            data = data[np.newaxis]
        if data.ndim != 3 or data.shape[0] != self.count:
            raise ValueError(f"data must be ({self.count}, nrows, ncols), got {data.shape}")
        nrows, ncols = data.shape[1:]
        if row0 < 0 or nrows < 1 or row0 + nrows > self.height:
            raise ValueError(f"rows {row0}..{row0 + nrows - 1} not in 0..{self.height - 1}")
        if col0 < 0 or ncols < 1 or col0 + ncols > self.width:
            raise ValueError(f"columns {col0}..{col0 + ncols - 1} not in 0..{self.width - 1}")
        if data.dtype.kind == "f":
            missing = np.isnan(data)
            if missing.any():
                if self.nodata is not None and not math.isnan(self.nodata):
                    data = np.where(missing, self.nodata, data)
                elif self.dtype.kind != "f":
                    raise ValueError(f"NaN in data for {self.dtype} output without nodata")
        data = np.ascontiguousarray(data, dtype=self.dtype)
        # One dataset-level write: all bands of a tile at once (pixel interleaving).
        self._ds.WriteRaster(col0, row0, ncols, nrows, data, buf_type=self._gdal_type)
        if self.cog or self._whole_tiles(row0, nrows, col0, ncols):
            # Flushed blocks leave the cache: memory stays at about one window. (A partial
            # tile of a compressed file stays cached until complete, or it would be
            # compressed, read back and appended again.)
            self._ds.FlushCache()
        self._windows.append((row0, nrows, col0, ncols))

    def _whole_tiles(self, row0: int, nrows: int, col0: int, ncols: int) -> bool:
        """Whether the window is made of whole tiles (clipped at the raster's edges)."""
        return all(
            start % self.block == 0 and (stop % self.block == 0 or stop == size)
            for start, stop, size in (
                (row0, row0 + nrows, self.height),
                (col0, col0 + ncols, self.width),
            )
        )

    def _unwritten(self) -> str | None:
        """Where the written windows leave a gap ("rows a-b, columns c-d"), or None."""
        rows = sorted({0, self.height, *(e for r, n, _, _ in self._windows for e in (r, r + n))})
        cols = sorted({0, self.width, *(e for _, _, c, k in self._windows for e in (c, c + k))})
        row_at = {edge: i for i, edge in enumerate(rows)}
        col_at = {edge: i for i, edge in enumerate(cols)}
        covered = np.zeros((len(rows) - 1, len(cols) - 1), dtype=bool)
        for r, n, c, k in self._windows:
            covered[row_at[r] : row_at[r + n], col_at[c] : col_at[c + k]] = True
        if covered.all():
            return None
        i, j = np.argwhere(~covered)[0]
        return (
            f"{np.count_nonzero(~covered)} areas never written, first rows "
            f"{rows[i]}-{rows[i + 1] - 1}, columns {cols[j]}-{cols[j + 1] - 1}"
        )

    def _cleanup(self) -> None:
        """Close the dataset, remove the plain rows file of a COG build, restore the cache."""
        self._ds = None
        if self.cog and self._rows_tmp is not None:
            if self._rows_tmp.startswith("/vsimem/"):
                if gdal.VSIStatL(self._rows_tmp) is not None:
                    gdal.Unlink(self._rows_tmp)
            else:
                Path(self._rows_tmp).unlink(missing_ok=True)
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    def _finish(self) -> None:
        gap = self._unwritten()
        if gap:
            raise ValueError(f"{self.path}: {gap}")
        levels = 0
        if self.cog:
            levels = self.overviews
            if levels is None:
                levels = overview_levels(self.width, self.height, display=self.block)
        if levels:
            # Overviews built in the uncompressed file, then copied by the COG driver: a
            # third faster than the driver's own (which writes, compresses and reads back a
            # temporary overview file).
            with _gdal_config("GDAL_NUM_THREADS", str(self.threads or 1)):
                self._ds.BuildOverviews("AVERAGE", [2**i for i in range(1, levels + 1)])
        self._ds.FlushCache()
        self._ds = None  # closes the file
        if self.cog:
            options = [
                *self._codec_options(cog=True),
                f"BLOCKSIZE={self.block}",
                "BIGTIFF=IF_SAFER",
                "OVERVIEWS=FORCE_USE_EXISTING" if levels else "OVERVIEWS=NONE",
            ]
            try:
                out = gdal.Translate(
                    os.fspath(self._tmp),
                    self._rows_tmp,
                    format="COG",
                    creationOptions=options,
                )
            except RuntimeError as error:
                self._raise_if_no_room(error)
                raise
            del out  # closing the dataset completes the file

    def _raise_if_no_room(self, error: RuntimeError) -> None:
        """An OutputError when the COG step failed for want of room: GDAL's message then
        names the TIFF structure it could not write, not the full disk."""
        folder = self.path.parent
        needed = self.width * self.height * self.count * np.dtype(self.dtype).itemsize
        free = shutil.disk_usage(folder).free
        if free < needed:
            raise OutputError(
                self.path,
                f"cannot be written: no space left in {folder} ({free} bytes free, up to "
                f"{needed} needed; GDAL: {error})",
                "Free space there, or write the outputs to a larger disk; nothing was left "
                "under this name.",
            ) from error

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
            # The atomic output judges the error (a full disk becomes an OutputError) while
            # the intermediate file still takes its room: removing it first would hide that.
            try:
                self._atomic.__exit__(type(err), err, err.__traceback__)
            finally:
                self._cleanup()
            raise
        self._cleanup()
        return bool(self._atomic.__exit__(exc_type, exc, tb))


@contextlib.contextmanager
def _gdal_cache_limit(max_bytes: int) -> Iterator[None]:
    """Hold GDAL's (process-wide) block cache to at most ``max_bytes`` inside the block.

    GDAL's default is 5 % of the machine's memory, which a writer streaming a large raster,
    or the COG driver copying it, would otherwise fill.
    """
    before = gdal.GetCacheMax()
    gdal.SetCacheMax(min(before, max_bytes))
    try:
        yield
    finally:
        gdal.SetCacheMax(before)


@contextlib.contextmanager
def _gdal_config(key: str, value: str) -> Iterator[None]:
    """Set a GDAL configuration option inside the block (restored after)."""
    before = gdal.GetConfigOption(key)
    gdal.SetConfigOption(key, value)
    try:
        yield
    finally:
        gdal.SetConfigOption(key, before)


def overview_levels(width: int, height: int, *, display: int = 2048) -> int:
    """Overview levels a raster needs: halvings until its larger side is at most
    ``display`` pixels (a screen), so that any zoom reads about a screenful; 0 for a raster
    that fits the screen already."""
    levels, size = 0, max(width, height)
    while size > display:
        size = (size + 1) // 2
        levels += 1
    return levels


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
    included (e.g. input plus the working copies of :func:`eotrend.stats.regression.ols`).
    """
    if min(height, width, count, align, bytes_per_value) < 1:
        raise ValueError("height, width, count, align and bytes_per_value must be >= 1")
    rows = budget_bytes // (count * width * bytes_per_value)
    if rows >= align:
        rows -= rows % align
    return int(max(1, min(rows, height)))

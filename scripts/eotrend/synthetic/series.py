"""A synthetic yearly GeoTIFF series, like yearly maximum-NDVI exports from Earth Engine.

One single-band float32 GeoTIFF per year on a projected grid (UTM by default), nodata set.
Each pixel follows a known straight line, ``intercept + slope * (year - 1995)``, plus
Gaussian noise, so a trend map made from the files can be checked against
:func:`series_truth`. The default size, 1033 x 707 pixels x 21 years (1995-2015), is the
size of the published example (730,331 pixels).

What the files hold, exactly (``value`` per pixel and year, float32):

- ``clip(intercept + slope * (year - 1995) + noise * e, -1, 1)`` (computed in float64),
  with ``(intercept, slope) = series_truth(...)`` and ``e`` the first draw of
  ``numpy.random.default_rng([seed, year]).standard_normal((height, width))``, so a
  year's noise does not depend on which other years are written;
- nodata (``nodata``) where the year's cloud mask is set (patches covering about
  ``masked_fraction`` of the pixels, different every year) and, in every year, inside
  an elliptical lake.

Like Earth Engine, it can split each year into tiles named
``<prefix>-<row offset>-<column offset>.tif`` (10-digit pixel offsets, row first) and
leave the nodata value untagged (Earth Engine exports carry no nodata unless the user
set one).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from osgeo import osr
from scipy import ndimage

from eotrend.geo.raster import write_geotiff

BASE_YEAR = 1995
"""The year at which the truth's intercept applies (``intercept`` is the value in 1995)."""


def _bumps(
    rng: np.random.Generator, height: int, width: int, count: int, scale: float
) -> np.ndarray:
    """Sum of ``count`` Gaussian bumps of alternating sign (so both signs always occur), random
    centre and width; peaks about ``scale``."""
    yy = (np.arange(height) + 0.5)[:, None] / max(height, width)
    xx = (np.arange(width) + 0.5)[None, :] / max(height, width)
    field = np.zeros((height, width))
    for k in range(count):
        cy = rng.uniform(0, height / max(height, width))
        cx = rng.uniform(0, width / max(height, width))
        sigma = rng.uniform(0.08, 0.25)
        amplitude = scale * rng.uniform(0.5, 1.0) * (-1.0) ** k
        field += amplitude * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    return field


def series_truth(*, width: int, height: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The noise-free line of every pixel.

    Returns:
        ``(intercept, slope)``, each (height, width) float64: the value in
        :data:`BASE_YEAR` (NDVI, 0.3 to 0.85) and the change per year (NDVI per year,
        smooth regions of gain and loss, typically within +-0.01).
    """
    rng = np.random.default_rng([seed, 0])
    intercept = 0.55 + _bumps(rng, height, width, 6, 0.12)
    slope = _bumps(rng, height, width, 5, 0.006)
    return np.clip(intercept, 0.3, 0.85), slope


def lake_mask(*, width: int, height: int) -> np.ndarray:
    """(height, width) bool: the pixels that are nodata in every year (an elliptical lake)."""
    yy = (np.arange(height) + 0.5)[:, None] / height
    xx = (np.arange(width) + 0.5)[None, :] / width
    return ((yy - 0.3) / 0.08) ** 2 + ((xx - 0.7) / 0.06) ** 2 <= 1.0


def _cloud_mask(rng: np.random.Generator, height: int, width: int, fraction: float) -> np.ndarray:
    """(height, width) bool patches covering ``fraction`` of the pixels (up to ties)."""
    if fraction <= 0:
        return np.zeros((height, width), dtype=bool)
    coarse = rng.random((max(2, height // 24), max(2, width // 24)))
    field = ndimage.zoom(coarse, (height / coarse.shape[0], width / coarse.shape[1]), order=1)
    field = field[:height, :width]
    return field > np.quantile(field, 1.0 - fraction)


def write_yearly_series(
    dest_dir: str | os.PathLike[str],
    *,
    years: Iterable[int] = range(1995, 2016),
    width: int = 1033,
    height: int = 707,
    seed: int = 0,
    nodata: float = -9999.0,
    epsg: int = 32720,
    pixel_size: float = 30.0,
    origin: tuple[float, float] = (500000.0, 9600000.0),
    name: str = "ndvi_max_{year}.tif",
    noise: float = 0.02,
    masked_fraction: float = 0.05,
    date_tag: bool = True,
    nodata_tag: bool = True,
    tile_size: int | tuple[int, int] | None = None,
) -> list[Path]:
    """Write one GeoTIFF per year into ``dest_dir`` (see the module docstring for values).

    Args:
        dest_dir: folder, created if needed.
        years: the years to write.
        width, height: grid size in pixels.
        seed: seed of the truth, the noise and the masks.
        nodata: value of masked pixels (also the files' nodata).
        epsg: EPSG code of the (projected) CRS.
        pixel_size: pixel size in CRS units (metres for UTM).
        origin: (x, y) of the grid's upper-left corner, CRS units.
        name: file name pattern with ``{year}``.
        noise: standard deviation of the Gaussian noise, NDVI units.
        masked_fraction: share of pixels masked by clouds in each year, 0 to 1.
        date_tag: also store the date as dataset metadata ``DATE=YYYY-07-01``. Earth Engine
            exports carry no date (only the file name has the year); pass False to get
            files like those. Default True so the series is self-describing.
        nodata_tag: tag ``nodata`` as the files' nodata value; False writes the same
            values untagged, like an Earth Engine export without a nodata setting.
        tile_size: None writes one file per year; (rows, columns), or one number for
            both, splits each year into tiles of that size (smaller at the right and
            bottom edges) named like Earth Engine's, ``<stem>-<row0:010d>-<col0:010d>.tif``
            with ``<stem>`` the name without ``.tif``.

    Returns:
        The written paths, in the order of ``years`` (tiles of a year in row, then
        column order).
    """
    dest = Path(dest_dir)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(epsg)
    transform = (origin[0], pixel_size, 0.0, origin[1], 0.0, -pixel_size)
    intercept, slope = series_truth(width=width, height=height, seed=seed)
    lake = lake_mask(width=width, height=height)
    paths = []
    for year in years:
        rng = np.random.default_rng([seed, year])
        value = intercept + slope * (year - BASE_YEAR)
        value += noise * rng.standard_normal((height, width))
        np.clip(value, -1.0, 1.0, out=value)
        value[lake | _cloud_mask(rng, height, width, masked_fraction)] = nodata
        path = dest / name.format(year=year)
        for (row0, col0), window in _tiles(height, width, tile_size):
            out = path
            if tile_size is not None:
                out = path.with_name(f"{path.stem}-{row0:010d}-{col0:010d}{path.suffix}")
            write_geotiff(
                out,
                value[window],
                transform=(
                    transform[0] + col0 * pixel_size,
                    pixel_size,
                    0.0,
                    transform[3] - row0 * pixel_size,
                    0.0,
                    -pixel_size,
                ),
                crs_wkt=srs.ExportToWkt(),
                dtype="float32",
                nodata=nodata if nodata_tag else None,
                descriptions=("NDVI",),
                tags={"DATE": f"{year}-07-01"} if date_tag else None,
            )
            paths.append(out)
    return paths


def _tiles(
    height: int, width: int, tile_size: int | tuple[int, int] | None
) -> list[tuple[tuple[int, int], tuple[slice, slice]]]:
    """((row0, col0), (rows, cols) slices) of each tile, row-major; one for no tiling."""
    if tile_size is None:
        return [((0, 0), (slice(None), slice(None)))]
    rows, cols = (tile_size, tile_size) if isinstance(tile_size, int) else tile_size
    return [
        ((r, c), (slice(r, r + rows), slice(c, c + cols)))
        for r in range(0, height, rows)
        for c in range(0, width, cols)
    ]

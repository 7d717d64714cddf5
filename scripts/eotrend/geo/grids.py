"""The dataset grid: a regular grid over the AOI on which every scene is written.

Scenes come on different curvilinear swaths; putting each one on the same regular grid
(each cell takes the nearest valid pixel within a maximum distance) makes them stack.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from osgeo import osr

from eotrend.core.errors import InputError
from eotrend.geo import geometry as geo
from eotrend.geo.aoi import Feature, mean_lon

osr.UseExceptions()


@dataclass(frozen=True)
class Grid:
    """A north-up regular grid: GDAL geotransform, size in cells, CRS as WKT."""

    transform: tuple[float, float, float, float, float, float]
    width: int
    height: int
    crs_wkt: str


def _srs(crs: str) -> osr.SpatialReference:
    srs = osr.SpatialReference()
    try:
        srs.SetFromUserInput(crs)
    except RuntimeError as error:
        raise InputError(
            f"grid.crs = {crs!r}",
            f"is not a CRS GDAL understands ({error})",
            "Use e.g. EPSG:4326 or EPSG:32720.",
        ) from error
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def _wgs84() -> osr.SpatialReference:
    return _srs("EPSG:4326")


def dataset_grid(
    features: list[Feature], lon0: float, crs: str, resolution: float, margin: int
) -> Grid:
    """The grid covering the AOI's bounding box plus ``margin`` cells, snapped to
    multiples of ``resolution`` (CRS units) so every scene of a dataset gets the same grid.

    ``lon0`` is the longitude the AOI was unwrapped around (antimeridian-safe bounds).
    """
    srs = _srs(crs)
    coords = []
    for feature in features:
        unwrapped = geo.unwrap_geometry(feature.geometry, lon0)
        coords.append(
            np.asarray(
                unwrapped.exterior.coords
                if unwrapped.geom_type == "Polygon"
                else np.concatenate([np.asarray(p.exterior.coords) for p in unwrapped.geoms])
            )
        )
    lonlat = np.concatenate(coords)[:, :2]
    if srs.IsGeographic():
        xy = lonlat
    else:
        transform = osr.CoordinateTransformation(_wgs84(), srs)
        xy = np.asarray(transform.TransformPoints(lonlat))[:, :2]
    x0 = (math.floor(xy[:, 0].min() / resolution) - margin) * resolution
    x1 = (math.ceil(xy[:, 0].max() / resolution) + margin) * resolution
    y0 = (math.floor(xy[:, 1].min() / resolution) - margin) * resolution
    y1 = (math.ceil(xy[:, 1].max() / resolution) + margin) * resolution
    width = round((x1 - x0) / resolution)
    height = round((y1 - y0) / resolution)
    return Grid((x0, resolution, 0.0, y1, 0.0, -resolution), width, height, srs.ExportToWkt())


def feature_grid(feature: Feature, settings: dict) -> Grid:
    """The grid of one feature on its own (grid extent ``feature``): exactly the dataset
    grid of an AOI holding that feature alone (:func:`dataset_grid` unwrapped around the
    feature's own mean longitude). ``settings``: the dataset's ``grid`` (crs, resolution,
    margin)."""
    return dataset_grid(
        [feature], mean_lon([feature]), settings["crs"], settings["resolution"], settings["margin"]
    )


def check_aoi_grid(features: list[Feature], settings: dict, where: str) -> Grid:
    """The grid of the whole AOI (grid extent ``aoi``), checked against
    ``settings["max_cells"]`` before any scene is gridded on it.

    Args:
        features: the AOI's features.
        settings: the dataset's ``grid`` (crs, resolution, margin, max_cells).
        where: the config key named in the error, e.g. ``datasets.lakes.grid``.

    Raises:
        InputError: the grid has more than max_cells cells (the message gives its size and
            the keys that change it).
    """
    grid = dataset_grid(
        features,
        mean_lon(features),
        settings["crs"],
        settings["resolution"],
        settings["margin"],
    )
    cells = grid.width * grid.height
    if cells > settings["max_cells"]:
        raise InputError(
            where,
            f"extent aoi makes one grid around all {len(features):,} features of the AOI, "
            f"{grid.width:,} x {grid.height:,} = {cells:,} cells per scene and variable "
            f"(more than max_cells = {settings['max_cells']:,})",
            "Set grid.extent: feature (each feature its own small grid) or grid: none "
            "(statistics and pixel tables only), or raise grid.max_cells to make this grid.",
        )
    return grid


def cell_centres_lonlat(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat (degrees, float64, shape (height, width)) of every cell centre."""
    x0, dx, _, y0, _, dy = grid.transform
    x = x0 + dx * (np.arange(grid.width) + 0.5)
    y = y0 + dy * (np.arange(grid.height) + 0.5)
    xx, yy = np.meshgrid(x, y)
    srs = _srs(grid.crs_wkt)
    if srs.IsGeographic():
        return xx, yy
    transform = osr.CoordinateTransformation(srs, _wgs84())
    points = np.asarray(transform.TransformPoints(np.column_stack([xx.ravel(), yy.ravel()])))
    return points[:, 0].reshape(xx.shape), points[:, 1].reshape(xx.shape)


def cell_vectors(grid: Grid) -> np.ndarray:
    """Unit vectors (float64, shape (height * width, 3)) of every cell centre, row-major:
    what :func:`nearest_fill` searches from (computed once for many fills of one grid)."""
    return geo.unit_vectors(*cell_centres_lonlat(grid)).reshape(-1, 3)


def nearest_fill(
    grid: Grid,
    lon: np.ndarray,
    lat: np.ndarray,
    values: np.ndarray,
    max_distance_m: float,
    cells: np.ndarray | None = None,
) -> np.ndarray:
    """Put scattered pixel values on the grid: each cell takes its nearest pixel.

    Args:
        grid: the target grid.
        lon, lat: (n,) pixel centres in degrees.
        values: (n,) or (n, k) float: one column per variable; NaN values are skipped, so
            a cell takes the nearest pixel that has a value for that variable.
        max_distance_m: a cell whose nearest such pixel is farther than this (great
            circle, metres) from its centre is NaN.
        cells: the grid's :func:`cell_vectors`, when already computed.

    Returns:
        float32 (height, width), or (k, height, width) for 2-D ``values``. Variables whose
        NaNs fall on the same pixels share one nearest-neighbour search.
    """
    values = np.asarray(values)
    table = values if values.ndim == 2 else values[:, np.newaxis]
    out = np.full((table.shape[1], grid.height, grid.width), np.nan, dtype=np.float32)
    has = ~np.isnan(table)
    groups: dict[bytes, list[int]] = {}
    for k in range(table.shape[1]):
        if has[:, k].any():
            groups.setdefault(np.packbits(has[:, k]).tobytes(), []).append(k)
    if groups:
        # Imported here: scipy.spatial takes 0.5 s to import, and this module is imported
        # by every workflow start (the Snakefile checks grids) and most jobs.
        from scipy.spatial import cKDTree

        cells = cell_vectors(grid) if cells is None else cells
        pixels = geo.unit_vectors(lon, lat)
        bound = float(geo.metres_to_chord(max_distance_m))
        for members in groups.values():
            keep = has[:, members[0]]
            distance, index = cKDTree(pixels[keep]).query(cells, distance_upper_bound=bound)
            found = np.isfinite(distance)
            for k in members:
                out[k].reshape(-1)[found] = table[keep, k][index[found]]
    return out if values.ndim > 1 else out[0]

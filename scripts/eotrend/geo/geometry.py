"""Geodesy on the sphere and polygon tests in lon/lat.

Distances are great-circle distances on a sphere of the mean Earth radius; nearest
neighbours are found on 3-D unit vectors (chord length is monotonic in great-circle
distance), which is exact across the antimeridian and near the poles.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius


def unit_vectors(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Unit vectors (..., 3) float64 of points given in degrees."""
    lon_r = np.radians(lon)
    lat_r = np.radians(lat)
    cos_lat = np.cos(lat_r)
    return np.stack([cos_lat * np.cos(lon_r), cos_lat * np.sin(lon_r), np.sin(lat_r)], axis=-1)


def lengths(vectors: np.ndarray) -> np.ndarray:
    """Euclidean lengths (float64, shape ``vectors.shape[:-1]``) of 3-D vectors (..., 3).

    Bit for bit ``np.linalg.norm(vectors, axis=-1)``: the same squares summed in the same
    order. 4 to 8 times faster, as norm squares into a temporary, then reduces it over an
    axis of three (the k-d tree searches of locate and extract take millions of them).
    """
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    return np.sqrt(x * x + y * y + z * z)


def chord_to_metres(chord: np.ndarray) -> np.ndarray:
    """Great-circle distance (m) from the chord length between unit vectors."""
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.clip(np.asarray(chord) / 2.0, 0.0, 1.0))


def metres_to_chord(metres: float | np.ndarray) -> np.ndarray:
    """Chord length between unit vectors for a great-circle distance in metres."""
    return 2.0 * np.sin(np.minimum(np.asarray(metres) / (2.0 * EARTH_RADIUS_M), np.pi / 2))


def great_circle_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Haversine great-circle distance in metres between points in degrees (broadcast)."""
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(a, dtype=np.float64)) for a in (lon1, lat1, lon2, lat2)
    )
    h = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def unwrap_lon(lon: np.ndarray, lon0: float) -> np.ndarray:
    """Longitudes shifted by multiples of 360 into [lon0 - 180, lon0 + 180).

    Polygons and pixels near the antimeridian are compared in one continuous range
    centred on the AOI.
    """
    return lon0 + (np.asarray(lon) - lon0 + 180.0) % 360.0 - 180.0


def unwrap_geometry(geometry: BaseGeometry, lon0: float) -> BaseGeometry:
    """``geometry`` with its longitudes unwrapped around ``lon0`` (see :func:`unwrap_lon`).

    Each ring is made continuous first (no jump over 180 degrees between vertices), so a
    polygon written with longitudes on both sides of the antimeridian stays one polygon.
    """

    def continuous(coords: np.ndarray) -> np.ndarray:
        lon = coords[:, 0]
        steps = np.diff(lon)
        lon = np.concatenate(
            [[lon[0]], lon[0] + np.cumsum(steps - 360.0 * np.round(steps / 360.0))]
        )
        shift = unwrap_lon(lon[0], lon0) - lon[0]
        return np.column_stack([lon + shift, coords[:, 1]])

    if geometry.geom_type == "MultiPolygon":
        return shapely.MultiPolygon([unwrap_geometry(part, lon0) for part in geometry.geoms])
    exterior = continuous(np.asarray(geometry.exterior.coords))
    holes = [continuous(np.asarray(ring.coords)) for ring in geometry.interiors]
    return shapely.Polygon(exterior, holes)


def contains(geometry: BaseGeometry, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Boolean array: which points (degrees, any shape) lie inside ``geometry``.

    Holes and all parts of a MultiPolygon count; points on the boundary count as
    inside. Vectorised (shapely 2); ``lon`` must already be unwrapped like the geometry.
    """
    shapely.prepare(geometry)
    return shapely.intersects_xy(geometry, lon, lat)

"""How much of each AOI feature a scene observes.

A feature crossing the swath edge, or lying partly under invalid pixels, gets statistics
from the observed part only; the fraction observed tells such scenes apart. It is the
product of two exact parts:

* the swath part: area(feature inside the swath) / area(feature), the swath being the
  polygon of the tie-point grid's outer rows and columns (image columns 0 and 64 j_max)
  widened by half a pixel to the outer pixels' edges, both projected to a
  Lambert azimuthal equal-area plane centred on the feature (areas exact, any latitude,
  across the antimeridian and around the poles);
* the observed part: the fraction of the feature's pixels inside the swath that are not
  flagged INVALID (the sensor's own "no measurement", where every variable is fill).

A feature wholly inside the swath with no INVALID pixel has coverage exactly 1.
"""

from __future__ import annotations

import numpy as np
import shapely

from eotrend.geo import geometry as geo

RING_STEP = 16  # tie rows between ring vertices: the swath edges are smooth curves
PARTIAL_BELOW = 0.99  # a feature observed less than this is reported as `partial`
IN_SERIES = ("ok", "partial")  # notes whose statistics enter the time series
INSIDE_MARGIN = 0.01  # degrees: features this far inside the swath are wholly inside


def laea(lon: np.ndarray, lat: np.ndarray, lon0: float, lat0: float) -> np.ndarray:
    """Lambert azimuthal equal-area coordinates (unit sphere; (n, 2) float64) of points
    at ``lon``, ``lat`` (degrees) around the centre ``lon0``, ``lat0`` (degrees)."""
    lam = np.radians(np.asarray(lon, np.float64) - lon0)
    phi, phi0 = np.radians(np.asarray(lat, np.float64)), np.radians(lat0)
    cos_c = np.sin(phi0) * np.sin(phi) + np.cos(phi0) * np.cos(phi) * np.cos(lam)
    k = np.sqrt(2.0 / np.maximum(1.0 + cos_c, 1e-12))
    x = k * np.cos(phi) * np.sin(lam)
    y = k * (np.cos(phi0) * np.sin(phi) - np.sin(phi0) * np.cos(phi) * np.cos(lam))
    return np.column_stack([x, y])


def swath_ring(tie_lon: np.ndarray, tie_lat: np.ndarray, step: int) -> np.ndarray:
    """The swath outline, (m, 2) lon/lat degrees, along the outer edges of the outer
    pixels (half a pixel beyond their centres, extrapolated on unit vectors, so that
    two consecutive frames leave no gap between them): first tie column down, last row
    across, last tie column up, first row back. ``tie_lon``, ``tie_lat``: (rows,
    tie_columns); ``step``: image columns per tie column."""
    xyz = geo.unit_vectors(tie_lon, tie_lat)  # (rows, tie_columns, 3)
    if xyz.shape[0] > 1:
        first, last = 1.5 * xyz[0] - 0.5 * xyz[1], 1.5 * xyz[-1] - 0.5 * xyz[-2]
        xyz = np.concatenate([first[None], xyz, last[None]])
    if xyz.shape[1] > 1:
        half = 0.5 / step
        west = xyz[:, 0] + half * (xyz[:, 0] - xyz[:, 1])
        east = xyz[:, -1] + half * (xyz[:, -1] - xyz[:, -2])
        xyz = np.concatenate([west[:, None], xyz, east[:, None]], axis=1)
    rows = np.unique(np.r_[np.arange(0, xyz.shape[0], RING_STEP), xyz.shape[0] - 1])
    edge = np.concatenate([xyz[rows, 0], xyz[-1, :], xyz[rows[::-1], -1], xyz[0, ::-1]])
    edge /= geo.lengths(edge)[:, None]
    lon = np.degrees(np.arctan2(edge[:, 1], edge[:, 0]))
    lat = np.degrees(np.arcsin(np.clip(edge[:, 2], -1.0, 1.0)))
    keep = np.isfinite(lon) & np.isfinite(lat)
    return np.column_stack([lon[keep], lat[keep]])


def _projected(geometry, lon0: float, lat0: float):
    """``geometry`` (lon/lat, longitudes unwrapped near ``lon0``) in the LAEA plane."""
    return shapely.transform(geometry, lambda xy: laea(xy[:, 0], xy[:, 1], lon0, lat0))


EARTH_RADIUS_KM = 6371.0


def _equal_area(geometry) -> tuple[shapely.Geometry, float, float]:
    """``geometry`` (lon/lat) on the unit-sphere LAEA plane centred on its centroid, and
    that centre (lon, lat, degrees)."""
    centre = shapely.centroid(geometry)
    return shapely.make_valid(_projected(geometry, centre.x, centre.y)), centre.x, centre.y


def area_km2(geometry) -> float:
    """Area of a lon/lat ``geometry`` on the sphere of radius 6371 km, km²."""
    return _equal_area(geometry)[0].area * EARTH_RADIUS_KM**2


def swath_fractions(features: list, ring: np.ndarray) -> tuple[list[float], list[float]]:
    """Per feature geometry (lon/lat, unwrapped alike): the fraction of its area inside
    the swath ``ring`` (:func:`swath_ring`), and its area (km², :func:`area_km2`)."""
    inside = _well_inside(features, ring)
    fractions, areas = [], []
    for geometry, whole in zip(features, inside, strict=True):
        feature, lon0, lat0 = _equal_area(geometry)
        area = feature.area
        if whole or not area:
            fractions.append(1.0 if area else 0.0)
        else:
            swath = shapely.make_valid(shapely.Polygon(laea(ring[:, 0], ring[:, 1], lon0, lat0)))
            fractions.append(min(1.0, feature.intersection(swath).area / area))
        areas.append(area * EARTH_RADIUS_KM**2)
    return fractions, areas


def _well_inside(features: list, ring: np.ndarray) -> np.ndarray:
    """Which features lie inside the swath by more than ``INSIDE_MARGIN`` degrees in
    lon/lat: their fraction is 1 whichever plane the ring's edges are straight in (the
    edges are a few km to 20 km long: straight in lon/lat or in any equal-area plane
    they part by metres). All False where the test is not that simple: a ring near a
    pole or wider than 180 degrees of longitude."""
    if not features or not len(ring) or np.abs(ring[:, 1]).max() > 80.0:
        return np.zeros(len(features), bool)
    bounds = shapely.bounds(np.asarray(features, dtype=object)).reshape(-1, 4)
    lon = geo.unwrap_lon(ring[:, 0], float(np.mean(bounds[:, [0, 2]])))
    if lon.max() - lon.min() > 180.0:
        return np.zeros(len(features), bool)
    swath = shapely.make_valid(shapely.Polygon(np.column_stack([lon, ring[:, 1]])))
    core = swath.buffer(-INSIDE_MARGIN)
    shapely.prepare(core)
    return shapely.contains(core, np.asarray(features, dtype=object))

"""A product's footprint, from its manifest, and whether it reaches an AOI.

The manifest's ``gml:posList`` is a closed ring of "lat lon" pairs along the swath edges
(seen in the real manifests in tests/data/real-manifests). Used to mark scenes that miss
the AOI before any pixel is read.

The ring's edges are taken as great-circle arcs (the footprint is a region on the
sphere); AOI features, as everywhere in eotrend, are polygons in lon/lat. The test is
made in lon/lat: every footprint edge is followed along its great circle in steps of at
most :data:`STEP_DEG`, longitudes are made continuous, and a ring that winds once around
the polar axis (its longitude changes by 360 degrees in total) encloses the pole on its
side, so its polygon is closed over that pole (along latitude +-90). Polar frames do
this: ``S3A_OL_2_WFR____20210604T001016_..._MAR_O_NR_003`` reaches 88.98 N, its ring runs
once around the North Pole (longitudes -176.3 .. 179.97) and the pole lies inside it.
A ring that only crosses the antimeridian becomes one polygon with continuous longitudes.
AOI features are compared at every 360-degree shift that can overlap.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import shapely
import shapely.affinity

from eotrend.core.errors import InputError
from eotrend.geo import geometry as geo
from eotrend.geo.aoi import Feature

GML = {"gml": "http://www.opengis.net/gml"}
STEP_DEG = 0.02
"""Longest step (degrees of arc, ~2.2 km) along a footprint edge: between two steps the
edge is straight in lon/lat, off its great circle by at most ~STEP_DEG / 8 (~0.3 km),
except within STEP_DEG of a pole."""


def read_footprint(product: str | Path) -> np.ndarray:
    """The footprint ring as (n, 2) float64 (lon, lat) degrees, in the manifest's order."""
    manifest = Path(product) / "xfdumanifest.xml"
    node = ET.parse(manifest).getroot().find(".//gml:posList", GML)
    if node is None or not (node.text or "").split():
        raise InputError(manifest, "has no footprint (gml:posList)", "Download it again.")
    pairs = np.asarray(node.text.split(), dtype=np.float64).reshape(-1, 2)
    return pairs[:, ::-1].copy()  # lat lon -> lon lat


def follow_great_circles(ring: np.ndarray, step_deg: float = STEP_DEG) -> np.ndarray:
    """The closed ring (n, 2) (lon, lat) with points along each edge's great circle, at
    most ``step_deg`` of arc apart: (m, 2) (lon, lat), closed, longitudes in [-180, 180]."""
    ring = np.asarray(ring, dtype=np.float64)
    if not np.array_equal(ring[0], ring[-1]):
        ring = np.vstack([ring, ring[:1]])
    xyz = geo.unit_vectors(ring[:, 0], ring[:, 1])
    a, b = xyz[:-1], xyz[1:]
    arc = np.arctan2(geo.lengths(np.cross(a, b)), np.einsum("ij,ij->i", a, b))
    steps = np.maximum(1, np.ceil(np.degrees(arc) / step_deg)).astype(int)
    edge = np.repeat(np.arange(len(a)), steps)
    t = (np.arange(steps.sum()) - np.repeat(np.cumsum(steps) - steps, steps)) / steps[edge]
    # Spherical interpolation; a zero-length edge (a repeated vertex) stays on its point.
    omega = arc[edge]
    safe = np.where(omega > 0, np.sin(omega), 1.0)
    wa = np.where(omega > 0, np.sin((1 - t) * omega) / safe, 1 - t)
    wb = np.where(omega > 0, np.sin(t * omega) / safe, t)
    points = np.vstack([wa[:, None] * a[edge] + wb[:, None] * b[edge], xyz[-1:]])
    lon = np.degrees(np.arctan2(points[:, 1], points[:, 0]))
    lat = np.degrees(np.arctan2(points[:, 2], np.hypot(points[:, 0], points[:, 1])))
    return np.column_stack([lon, lat])


def continuous_lon(lon: np.ndarray) -> np.ndarray:
    """Longitudes without jumps: each step taken the short way (at most 180 degrees)."""
    steps = np.diff(lon)
    return np.concatenate([lon[:1], lon[0] + np.cumsum(steps - 360.0 * np.round(steps / 360.0))])


def enclosed_pole(ring: np.ndarray, step_deg: float = STEP_DEG) -> int:
    """+1 (North) or -1 (South) when the footprint ring (n, 2) (lon, lat) encloses a pole,
    0 when it does not.

    A ring that winds around the polar axis (total longitude change +-360 degrees along
    its great-circle edges) separates the two poles; the footprint, smaller than a
    hemisphere, holds the one on the side of its vertices' mean direction.
    """
    ring = np.asarray(ring, dtype=np.float64)
    lon = continuous_lon(follow_great_circles(ring, step_deg)[:, 0])
    if abs(lon[-1] - lon[0]) < 180.0:  # no turn around the polar axis
        return 0
    mean_z = geo.unit_vectors(ring[:, 0], ring[:, 1])[:, 2].mean()
    return 1 if mean_z > 0 else -1


def footprint_polygon(ring: np.ndarray, step_deg: float = STEP_DEG) -> shapely.Geometry:
    """The footprint ring (n, 2) (lon, lat) as a lon/lat polygon with continuous
    longitudes, starting at the ring's first longitude; closed over the pole it encloses
    (see :func:`enclosed_pole`), so its longitudes then span 360 degrees. Edges follow
    the great circles (:func:`follow_great_circles`); a ring that crosses itself is made
    valid (``shapely.make_valid``)."""
    dense = follow_great_circles(ring, step_deg)
    lon = continuous_lon(dense[:, 0])
    lat = dense[:, 1]
    pole = enclosed_pole(ring, step_deg)
    if pole:
        cap = 90.0 * pole
        lon = np.concatenate([lon, [lon[-1], lon[0]]])
        lat = np.concatenate([lat, [cap, cap]])
    polygon = shapely.Polygon(np.column_stack([lon, lat]))
    return polygon if polygon.is_valid else shapely.make_valid(polygon)


def features_reached(ring: np.ndarray, features: list[Feature], lon0: float) -> np.ndarray:
    """Indices (int, ascending) of the AOI features the footprint ring (n, 2) (lon, lat)
    intersects.

    Features are unwrapped around ``lon0`` (their rings continuous, see
    :func:`eotrend.geo.geometry.unwrap_geometry`) and compared with the footprint polygon
    (:func:`footprint_polygon`) at every 360-degree shift at which their longitudes can
    overlap, all features at once per shift (thousands of lakes cost milliseconds).
    """
    footprint = footprint_polygon(ring)
    shapely.prepare(footprint)
    west, _, east, _ = footprint.bounds
    parts = np.array([geo.unwrap_geometry(f.geometry, lon0) for f in features], dtype=object)
    bounds = shapely.bounds(parts)
    hit = np.zeros(len(parts), dtype=bool)
    first = math.ceil((west - bounds[:, 2].max()) / 360)
    last = math.floor((east - bounds[:, 0].min()) / 360)
    for turn in range(first, last + 1):
        shifted = shapely.transform(parts, lambda xy, t=turn: xy + np.array([360.0 * t, 0.0]))
        hit |= shapely.intersects(footprint, shifted)
    return np.flatnonzero(hit)


def ring_reaches(ring: np.ndarray, features: list[Feature], lon0: float) -> bool:
    """Whether the footprint ring (n, 2) (lon, lat) intersects any AOI feature (see
    :func:`features_reached`)."""
    return len(features_reached(ring, features, lon0)) > 0


def reaches(product: str | Path, features: list[Feature], lon0: float) -> bool:
    """Whether the product's footprint (:func:`read_footprint`) intersects any AOI
    feature (see :func:`features_reached`)."""
    return ring_reaches(read_footprint(product), features, lon0)


def product_features(product: str | Path, features: list[Feature], lon0: float) -> np.ndarray:
    """Indices of the AOI features the product's footprint reaches (see
    :func:`features_reached`)."""
    return features_reached(read_footprint(product), features, lon0)

"""Which pixels of a scene can lie inside each feature, from the tie-point grid alone.

Extraction reads the geo coordinates only at these pixels, so a scene costs about the
pixels of the features it sees (not the box around all of them), and a feature outside
the scene costs nothing.

The argument. Pixel centres are predicted by interpolation between the tie points of
their row (:meth:`eotrend.sentinel3.locate.TieGrid.predict`), each within ``error``
(a chord) of the true centre. A feature's lon/lat box is held by a cap of centre ``c``
and radius ``R`` (the box's largest chord from its centre: on a box at most 180 degrees
wide that is a corner, since the distance grows with the longitude difference and,
along a meridian, is largest at an end). A pixel inside the feature is within ``R`` of
``c``, so its prediction is within ``R + error``: only tie intervals that can hold such
a prediction are searched (:meth:`eotrend.sentinel3.locate.TieGrid.intervals_near`), and
only their pixels predicted within ``R + error`` are kept. Of those pixels, those
predicted within ``error`` of the feature itself (its polygon buffered by the error's
angle, widened by 1/cos of its farthest latitude; not near the poles, where the cap alone
decides) are the candidates.

A tie interval with a fill end has no predictions: its pixels inside ``window`` are
candidates of every feature (none in real products, whose tie points are all defined).
"""

from __future__ import annotations

import math

import numpy as np
import shapely

from eotrend.geo import geometry as geo
from eotrend.sentinel3.locate import TieGrid, unique_sorted
from eotrend.sentinel3.reader import Window

# Tie intervals handled at a time (each predicts step + 1 pixels): bounds the temporaries.
INTERVAL_BLOCK = 1 << 15
# Beyond this latitude (degrees) the buffered polygon is not used (the cap decides).
POLAR_LATITUDE = 85.0


def candidate_pixels(
    tie: TieGrid, geometries: list, lon0: float, error: float, window: Window
) -> np.ndarray:
    """Flat indices (row * columns + col, int64, ascending, unique) of the image pixels
    that can lie inside one of ``geometries`` (lon/lat polygons, unwrapped around
    ``lon0``) when every predicted centre is within ``error`` (chord) of the true one;
    ``window`` holds them all (the locate window) and bounds the pixels of fill
    intervals."""
    centres, radii = _caps(geometries)
    buffered = _buffered(geometries, error)
    found = [_unknown_pixels(tie, window)]
    features, rows, intervals, *_ = tie.intervals_near(centres, radii + error)
    for start in range(0, features.size, INTERVAL_BLOCK):
        part = slice(start, start + INTERVAL_BLOCK)
        near = (features[part], rows[part], intervals[part])
        found.append(_pixels_near(tie, *near, centres, radii + error, buffered, lon0))
    return unique_sorted(np.concatenate(found))[0]


def _caps(geometries: list) -> tuple[np.ndarray, np.ndarray]:
    """Per geometry, the centre (unit vector, (n, 3)) and chord radius ((n,)) of a cap
    holding its lon/lat box; radius 2 (the whole sphere) for a box wider than 180
    degrees."""
    bounds = shapely.bounds(np.asarray(geometries, dtype=object)).reshape(-1, 4)
    x0, y0, x1, y1 = bounds.T
    centres = geo.unit_vectors((x0 + x1) / 2, (y0 + y1) / 2).reshape(-1, 3)
    corners = [geo.unit_vectors(x, y) for x in (x0, x1) for y in (y0, y1)]
    radii = np.max([geo.lengths(corner - centres) for corner in corners], axis=0)
    radii = np.where(x1 - x0 > 180.0, 2.0, radii * (1 + 1e-9) + 1e-12)
    return centres, radii


def _buffered(geometries: list, error: float) -> np.ndarray:
    """Each geometry buffered by the error's angle, widened by 1/cos of its farthest
    latitude (never less than the error on the ground), prepared; None near the poles."""
    angle = math.degrees(2.0 * math.asin(min(1.0, error / 2.0))) * 1.01 + 1e-9
    out = np.empty(len(geometries), dtype=object)
    for k, geometry in enumerate(geometries):
        _, y0, _, y1 = geometry.bounds
        far = max(abs(y0), abs(y1)) + angle
        if far < POLAR_LATITUDE:
            out[k] = geometry.buffer(angle / math.cos(math.radians(far)))
    shapely.prepare(out[out != None])  # noqa: E711 (an object array, elementwise)
    return out


def _pixels_near(
    tie: TieGrid,
    features: np.ndarray,
    rows: np.ndarray,
    intervals: np.ndarray,
    centres: np.ndarray,
    reach: np.ndarray,
    buffered: np.ndarray,
    lon0: float,
) -> np.ndarray:
    """Flat indices of the pixels of the given intervals (one feature each) predicted
    within ``reach`` of the feature's centre and, away from the poles, within its
    buffered polygon."""
    rows, cols, xyz = tie.interval_pixels(rows, intervals)
    features = np.broadcast_to(features[:, None], cols.shape)
    near = geo.lengths(xyz - centres[features]) <= reach[features]
    xyz, rows, cols, features = xyz[near], rows[near], cols[near], features[near]
    polygons = buffered[features]
    tested = polygons != None  # noqa: E711 (an object array, elementwise)
    lon = geo.unwrap_lon(np.degrees(np.arctan2(xyz[tested, 1], xyz[tested, 0])), lon0)
    lat = np.degrees(np.arcsin(np.clip(xyz[tested, 2], -1.0, 1.0)))
    keep = np.ones(rows.shape, bool)
    keep[tested] = shapely.intersects_xy(polygons[tested], lon, lat)
    return rows[keep].astype(np.int64) * tie.columns + cols[keep]


def _unknown_pixels(tie: TieGrid, window: Window) -> np.ndarray:
    """Flat indices of the pixels inside ``window`` of tie intervals with a fill end."""
    if tie.xyz.shape[1] < 2:
        return np.zeros(0, np.int64)
    fill = ~np.isfinite(tie.xyz).all(axis=-1)
    unknown = fill[:, :-1] | fill[:, 1:]
    rows, intervals = np.nonzero(unknown[window.row0 : window.row1])
    if rows.size == 0:
        return np.zeros(0, np.int64)
    cols = intervals[:, None] * tie.step + np.arange(tie.step + 1)
    rows = np.broadcast_to((rows + window.row0)[:, None], cols.shape)
    inside = (cols >= window.col0) & (cols < window.col1)
    return rows[inside].astype(np.int64) * tie.columns + cols[inside]

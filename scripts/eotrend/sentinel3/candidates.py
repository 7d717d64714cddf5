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
``c``, so its prediction is within ``R + error``. Predictions of one tie interval (the
pixels between two tie points of a row) lie on the arc between them, which is farther
from ``c`` than the chord between them less its sagitta: an interval is searched only
when that bound allows, and only its pixels predicted within ``R + error`` are kept.
Intervals are found with a k-d tree over the tie points (an arc point within ``D`` of
``c`` has an end within ``D`` plus half the arc). Of those pixels, those predicted
within ``error`` of the feature itself (its polygon buffered by the error's angle,
widened by 1/cos of its farthest latitude; not near the poles, where the cap alone
decides) are the candidates.

A tie interval with a fill end has no predictions: its pixels inside ``window`` are
candidates of every feature (none in real products, whose tie points are all defined).
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from scipy.spatial import cKDTree

from eotrend.geo import geometry as geo
from eotrend.sentinel3.locate import TieGrid, predict_between
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
    features, rows, intervals = _intervals(tie, centres, radii + error)
    for start in range(0, features.size, INTERVAL_BLOCK):
        part = slice(start, start + INTERVAL_BLOCK)
        near = (features[part], rows[part], intervals[part])
        found.append(_pixels_near(tie, *near, centres, radii + error, buffered, lon0))
    return np.unique(np.concatenate(found))


def _caps(geometries: list) -> tuple[np.ndarray, np.ndarray]:
    """Per geometry, the centre (unit vector, (n, 3)) and chord radius ((n,)) of a cap
    holding its lon/lat box; radius 2 (the whole sphere) for a box wider than 180
    degrees."""
    bounds = shapely.bounds(np.asarray(geometries, dtype=object)).reshape(-1, 4)
    x0, y0, x1, y1 = bounds.T
    centres = geo.unit_vectors((x0 + x1) / 2, (y0 + y1) / 2).reshape(-1, 3)
    corners = [geo.unit_vectors(x, y) for x in (x0, x1) for y in (y0, y1)]
    radii = np.max([np.linalg.norm(corner - centres, axis=-1) for corner in corners], axis=0)
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


def _intervals(
    tie: TieGrid, centres: np.ndarray, reach: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tie intervals (feature, row, first tie column: int64 arrays, one entry per
    pair) whose arc can come within ``reach`` (chord, per feature) of the feature's
    centre."""
    width = tie.xyz.shape[1]
    if width < 2:
        return (np.zeros(0, np.int64),) * 3
    points = tie.xyz.reshape(-1, 3)
    finite = np.flatnonzero(np.isfinite(points).all(axis=1))
    if finite.size == 0:
        return (np.zeros(0, np.int64),) * 3
    start, delta = tie.xyz[:, :-1], np.diff(tie.xyz, axis=1)
    chords = np.linalg.norm(delta, axis=-1)
    half_arc = float(np.nanmax(chords)) * 0.51 + 1e-12 if np.isfinite(chords).any() else 0.0
    tree = cKDTree(points[finite])
    hits = tree.query_ball_point(centres, np.minimum(reach + half_arc, 4.0))
    counts = np.fromiter((len(h) for h in hits), np.int64, len(hits))
    features = np.repeat(np.arange(len(hits)), counts)
    flat = finite[np.concatenate([np.asarray(h, np.int64) for h in hits] or [np.zeros(0, int)])]
    rows, cols = np.divmod(flat, width)
    # Each tie point ends the interval before it and starts the one after it.
    features, rows = np.repeat(features, 2), np.repeat(rows, 2)
    cols = (cols[:, None] + np.array([-1, 0])).ravel()
    ok = (cols >= 0) & (cols <= width - 2)
    key = np.unique((features[ok] * tie.xyz.shape[0] + rows[ok]) * width + cols[ok])
    features, rest = np.divmod(key, tie.xyz.shape[0] * width)
    rows, cols = np.divmod(rest, width)
    # The chord's closest point to the centre, less the arc's sagitta, bounds the arc.
    s, d = start[rows, cols], delta[rows, cols]
    length2 = np.sum(d * d, axis=-1)
    c = centres[features]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.clip(np.sum((c - s) * d, axis=-1) / length2, 0.0, 1.0)
    sagitta = 1.0 - np.sqrt(np.maximum(0.0, 1.0 - length2 / 4.0))
    bound = np.linalg.norm(c - (s + d * t[:, None]), axis=-1) - sagitta
    near = bound <= reach[features]
    return features[near], rows[near], cols[near]


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
    cols = intervals[:, None] * tie.step + np.arange(tie.step + 1)
    rows = np.broadcast_to(rows[:, None], cols.shape)
    features = np.broadcast_to(features[:, None], cols.shape)
    xyz = predict_between(tie.xyz, tie.step, rows, cols)
    near = np.linalg.norm(xyz - centres[features], axis=-1) <= reach[features]
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

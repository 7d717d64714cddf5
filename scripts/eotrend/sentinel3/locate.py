"""The locate stage: AOI vertices -> nearest pixel centres on a scene's curvilinear grid.

Exactness. Distances are chords between 3-D unit vectors (monotonic in great-circle
distance, exact across the antimeridian and at the poles). Pixel centres are predicted
by interpolation between the tie points of their row (:meth:`TieGrid.predict`), each
assumed within e of the true centre. For a vertex v whose nearest tie point (itself a
pixel) is d_T away, and whose nearest prediction is at most D away (D bounded by the tie
intervals, see :meth:`TieGrid.intervals_near`), the nearest pixel q* has |v - q*| <=
min(d_T, D + e), so its prediction lies within L = min(d_T + e, D + 2e): only the pixels
predicted that close are read, a few around each vertex, and the nearest of their true
centres is the answer. e is first assumed one pixel spacing and checked against the
centres read; a larger error measured is searched again with ``SPACING_SAFETY`` times it.

Bounded reads. Only ``tie_geo_coordinates.nc`` (every 64th column) is read whole; of
``geo_coordinates.nc`` only the pixels near the vertices (the chunks they lie in). Every
step is vectorised over the vertices (a k-d tree of the tie points finds each vertex's
intervals), so thousands of lakes cost about their vertices' pixels. Imports are kept
light (no pandas): the command is dominated by interpreter start-up otherwise.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from eotrend.core.atomic import atomic_path, write_text
from eotrend.core.errors import InputError
from eotrend.engine.limits import plan_workers
from eotrend.engine.pool import Task, run_tasks
from eotrend.geo import geometry as geo
from eotrend.geo.aoi import Feature, first_vertex_lon, read_aoi
from eotrend.sentinel3.reader import Window, open_product, read_packed, read_tie_lonlat

if TYPE_CHECKING:
    from scipy.spatial import cKDTree

log = logging.getLogger(__name__)

COLUMNS = (
    "feature",
    "part",
    "ring",
    "vertex",
    "lon",
    "lat",
    "row",
    "col",
    "distance_m",
    "in_swath",
)
# Pixel spacing varies smoothly across the swath (270 m at nadir to ~320 m at the edges,
# under 1 % within one 64-column interval): 1.5x the largest tie-grid mean is a wide margin.
SPACING_SAFETY = 1.5
# The error first assumed of a pixel centre interpolated from the tie points of its row
# (TieGrid.predict), in pixel spacings; checked against the pixels read (a larger error
# measured is searched again with SPACING_SAFETY times it).
PREDICTION_SPACINGS = 1.0
# Vertices searched at a time (each meets a few hundred tie intervals): bounds temporaries.
VERTEX_BLOCK = 2048
# The fewest vertices a task of locate gets (each task reads the tie grid, builds its tree).
TASK_VERTICES = 1024
# Peak memory of one locate task, MB (a full-size tie grid and its tree, one block).
TASK_MB = 400


@dataclass
class Vertices:
    """Polygon vertices, one entry per vertex (closing vertices left out).

    feature: names (str); part: polygon index in a MultiPolygon; ring: 0 = exterior,
    1.. = holes; vertex: index in its ring; lon, lat: degrees (float64). After
    :func:`locate`: row, col (int64), distance_m (float64, great circle to the pixel
    centre) and in_swath (bool).
    """

    feature: list[str]
    part: np.ndarray
    ring: np.ndarray
    vertex: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    row: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    col: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    distance_m: np.ndarray = field(default_factory=lambda: np.zeros(0))
    in_swath: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def __len__(self) -> int:
        return len(self.feature)

    def rows(self):
        """The table as tuples in :data:`COLUMNS` order."""
        return zip(
            self.feature,
            self.part.tolist(),
            self.ring.tolist(),
            self.vertex.tolist(),
            self.lon.tolist(),
            self.lat.tolist(),
            self.row.tolist(),
            self.col.tolist(),
            self.distance_m.tolist(),
            self.in_swath.tolist(),
            strict=True,
        )

    def write_csv(self, path: str | Path) -> None:
        """Write the table (header :data:`COLUMNS`) atomically."""
        with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            writer.writerows(self.rows())


def vertex_table(features: list[Feature]) -> Vertices:
    """Every vertex of every ring of every polygon of ``features``."""
    names, parts, rings, indices, coords = [], [], [], [], []
    for feature in features:
        polygons = getattr(feature.geometry, "geoms", [feature.geometry])
        for part, polygon in enumerate(polygons):
            for ring_index, ring in enumerate([polygon.exterior, *polygon.interiors]):
                xy = np.asarray(ring.coords)[:-1, :2]
                names += [feature.name] * len(xy)
                parts += [part] * len(xy)
                rings += [ring_index] * len(xy)
                indices.extend(range(len(xy)))
                coords.append(xy)
    xy = np.concatenate(coords) if coords else np.zeros((0, 2))
    return Vertices(
        names,
        np.asarray(parts, np.int64),
        np.asarray(rings, np.int64),
        np.asarray(indices, np.int64),
        xy[:, 0].copy(),
        xy[:, 1].copy(),
    )


class Intervals(NamedTuple):
    """Pairs of point and tie interval (:meth:`TieGrid.intervals_near`), one entry each:
    index (the point), rows, cols (the interval's row and first tie column), int64; t
    (the parameter of the chord's point closest to the point, 0 to 1), lower (no
    prediction of the interval is closer to the point) and upper (the distance to one
    point of the arc, so some prediction lies within upper + the largest spacing of
    predictions), float64."""

    index: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    t: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def empty(cls) -> Intervals:
        none = np.zeros(0, np.int64)
        return cls(none, none, none, np.zeros(0), np.zeros(0), np.zeros(0))


@dataclass(frozen=True)
class TieGrid:
    """A scene's tie-point grid (every row, every ``step``-th column).

    lon, lat: (rows, tie_columns) float64 degrees; xyz: the same as unit vectors
    (rows, tie_columns, 3); step: image columns between tie columns (64); columns: image
    columns; spacing: the largest mean chord between neighbouring pixel centres (unit
    sphere); bound: the spacing the pruning assumes (``SPACING_SAFETY`` times larger).
    """

    lon: np.ndarray
    lat: np.ndarray
    xyz: np.ndarray
    step: int
    columns: int
    spacing: float
    bound: float

    @classmethod
    def read(cls, product: Path) -> TieGrid:
        lon, lat, step = read_tie_lonlat(product)
        xyz = geo.unit_vectors(lon, lat)
        across = geo.lengths(np.diff(xyz, axis=1)) / step
        along = geo.lengths(np.diff(xyz, axis=0))
        spacing = float(max(np.nanmax(across), np.nanmax(along) if len(along) else 0.0))
        return cls(
            lon=lon,
            lat=lat,
            xyz=xyz,
            step=step,
            columns=(xyz.shape[1] - 1) * step + 1,
            spacing=spacing,
            bound=SPACING_SAFETY * spacing,
        )

    def predict(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Pixel centres (unit vectors, shape (..., 3)) of image pixels ``rows``, ``cols``
        (integer arrays of one shape) interpolated along their row between the tie points
        on either side: linear in 3-D, normalised. Tie columns are pixels, so there the
        prediction is exact."""
        return predict_between(self.xyz, self.step, np.asarray(rows), np.asarray(cols))

    def prediction_error(
        self, rows: np.ndarray, cols: np.ndarray, lon: np.ndarray, lat: np.ndarray
    ) -> float:
        """The largest chord between read pixel centres (``lon``, ``lat`` degrees, at image
        pixels ``rows``, ``cols``) and their :meth:`predict` ion; 0 when none is finite."""
        return _largest_chord(self.predict(rows, cols), geo.unit_vectors(lon, lat))

    @cached_property
    def _tree(self) -> tuple[cKDTree, np.ndarray]:
        """A k-d tree of the finite tie points and their flat indices into the grid."""
        # Imported here: scipy.spatial takes 0.5 s to import, and the jobs that read the
        # scene tables (timeseries, lakes) import this module without locating anything.
        from scipy.spatial import cKDTree

        points = self.xyz.reshape(-1, 3)
        finite = np.flatnonzero(np.isfinite(points).all(axis=1))
        # Midpoint splits: built in half the time of median splits (0.06 against 0.11 s
        # for a frame's 315,000 tie points), queried as fast; every query is exact either way.
        return cKDTree(points[finite], balanced_tree=False), finite

    @cached_property
    def _interval_geometry(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float, float]:
        """Per tie interval (rows, tie columns - 1): its start, its chord (start to end,
        3-D) and the chord's sagitta; then the largest half arc (a slack for finding
        intervals through their ends) and the largest and smallest distance between
        consecutive predictions of an interval (chords)."""
        start, delta = self.xyz[:, :-1], np.diff(self.xyz, axis=1)
        length2 = np.sum(delta * delta, axis=-1)
        sagitta = 1.0 - np.sqrt(np.maximum(0.0, 1.0 - length2 / 4.0))
        finite = np.isfinite(length2)
        if not finite.any():
            return start, delta, sagitta, 0.0, 0.0, 0.0
        longest, shortest = np.sqrt(length2[finite].max()), np.sqrt(length2[finite].min())
        deepest = float(sagitta[finite].max())
        # An arc point is within 1/(2 cos(theta/4)) of the chord from an end: 0.51 x.
        half_arc = 0.51 * longest + 1e-12
        # Projecting chord points of norm >= 1 - sagitta onto the sphere stretches their
        # distances by at most 1/(1 - sagitta) and shrinks them by at most cos(theta/2)
        # = 1 - sagitta (and 1e-3 for the arc's own curvature, far more than it needs).
        most = longest / self.step / (1.0 - deepest) + 1e-12
        least = shortest / self.step * (1.0 - deepest) * 0.999
        return start, delta, sagitta, half_arc, float(most), float(least)

    def _bounds(
        self, points: np.ndarray, rows: np.ndarray, cols: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For points (unit vectors, (n, 3)) and tie intervals (row, first tie column):
        the parameter t in [0, 1] of the chord's closest point, ``lower`` (that point's
        distance less the arc's sagitta: no prediction of the interval is closer) and
        ``upper`` (the distance to the arc point above it); NaN for a fill end."""
        start, delta, sagitta, *_ = self._interval_geometry
        s, d = start[rows, cols], delta[rows, cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.clip(np.sum((points - s) * d, axis=-1) / np.sum(d * d, axis=-1), 0.0, 1.0)
            closest = s + d * t[:, None]
            lower = geo.lengths(points - closest) - sagitta[rows, cols]
            arc = closest / geo.lengths(closest)[:, None]
        return t, lower, geo.lengths(points - arc)

    def intervals_near(self, points: np.ndarray, reach: np.ndarray) -> Intervals:
        """The tie intervals (the pixels between two tie points of a row, predicted on
        the arc between them) that can hold a prediction within ``reach`` (chord, per
        point) of ``points`` (unit vectors, (n, 3)), with their bounds
        (:class:`Intervals`). They are found through their ends with a k-d tree (an arc
        point within r of the point has an end within r + half the arc)."""
        width = self.xyz.shape[1]
        tree, finite = self._tree
        if width < 2 or finite.size == 0:
            return Intervals.empty()
        half_arc = self._interval_geometry[3]
        hits = tree.query_ball_point(points, np.minimum(reach + half_arc, 4.0), return_sorted=True)
        counts = np.fromiter((len(h) for h in hits), np.int64, len(hits))
        found = finite[np.fromiter(itertools.chain.from_iterable(hits), np.int64, counts.sum())]
        index = np.repeat(np.arange(len(hits)), counts)
        rows, cols = np.divmod(found, width)
        # A tie point starts the interval after it and ends the one before it; the latter
        # is that interval's already when its start was found too (the point before it in
        # the point's sorted hits): each interval once, without sorting.
        starts = cols <= width - 2
        found_start = np.r_[False, (found[1:] == found[:-1] + 1) & (index[1:] == index[:-1])]
        ends = (cols >= 1) & ~found_start
        index = np.r_[index[starts], index[ends]]
        rows = np.r_[rows[starts], rows[ends]]
        cols = np.r_[cols[starts], cols[ends] - 1]
        t, lower, upper = self._bounds(points[index], rows, cols)
        near = lower <= reach[index]  # NaN (a fill end) is never near
        return Intervals(index[near], rows[near], cols[near], t[near], lower[near], upper[near])

    def interval_pixels(
        self, rows: np.ndarray, intervals: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every pixel of the given tie intervals: rows, cols (int64, (n, step + 1)) and
        their predicted centres (unit vectors, (n, step + 1, 3))."""
        cols = intervals[:, None] * self.step + np.arange(self.step + 1)
        rows = np.broadcast_to(rows[:, None], cols.shape)
        return rows, cols, self.predict(rows, cols)

    def nearest_candidates(self, points: np.ndarray, error: float) -> tuple[np.ndarray, np.ndarray]:
        """(point index, flat pixel index row * columns + col) pairs, int64, holding each
        point's nearest pixel when every prediction is within ``error`` (chord) of its true
        centre (see the module docstring); a pixel on a tie column may appear twice for a
        point, and a point has no pair when the tie grid has no finite point."""
        tree, finite = self._tree
        width = self.xyz.shape[1]
        if tree.n == 0 or width < 2:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        *_, most, least = self._interval_geometry
        d_tie, nearest = tree.query(points)
        # A first D from the two intervals at the nearest tie point, so that the search
        # reaches about as far as the vertex's distance to that row, not to the tie point.
        rows, cols = np.divmod(finite[nearest], width)
        first = [self._bounds(points, rows, np.clip(c, 0, width - 2))[2] for c in (cols - 1, cols)]
        limit = np.minimum(d_tie + error, np.fmin(*first) + most + 2.0 * error) + 1e-12
        near = self.intervals_near(points, limit)
        best = np.full(len(points), np.inf)
        np.minimum.at(best, near.index, near.upper + most)
        limit = np.minimum(limit, best + 2.0 * error + 1e-12)
        keep = near.lower <= limit[near.index]
        index, upper, t = near.index[keep], near.upper[keep], near.t[keep]
        # Predictions within the limit lie within limit + upper of the arc point at t:
        # at most that over the smallest spacing of predictions from it, in pixels.
        reach = int(np.ceil(np.max((limit[index] + upper) / least, initial=0.0))) + 1
        if 2 * reach + 2 >= self.step + 1:
            rows, cols, xyz = self.interval_pixels(near.rows[keep], near.cols[keep])
            inside = np.ones(cols.shape, bool)
        else:
            around = np.floor(t * self.step).astype(np.int64)[:, None] + np.arange(
                -reach, reach + 2
            )
            inside = (around >= 0) & (around <= self.step)
            cols = near.cols[keep][:, None] * self.step + np.clip(around, 0, self.step)
            rows = np.broadcast_to(near.rows[keep][:, None], cols.shape)
            xyz = self.predict(rows, cols)
        index = np.broadcast_to(index[:, None], cols.shape)
        close = inside & (geo.lengths(xyz - points[index]) <= limit[index])
        return index[close], rows[close] * self.columns + cols[close]

    def aoi_window(self, features: list[Feature], lon0: float) -> Window | None:
        """A window holding every pixel whose centre can lie inside the AOI, or None.

        A pixel inside a polygon has a tie point of its row within ``step`` spacings, so
        every tie point inside the AOI's bounding box widened by that distance is kept.
        """
        reach_m = float(geo.chord_to_metres(self.step * self.bound)) * 1.1
        lon_b, lat_b = [], []
        for feature in features:
            x0, y0, x1, y1 = geo.unwrap_geometry(feature.geometry, lon0).bounds
            lon_b += [x0, x1]
            lat_b += [y0, y1]
        dlat = math.degrees(reach_m / geo.EARTH_RADIUS_M)
        south, north = min(lat_b) - dlat, max(lat_b) + dlat
        lat_far = max(abs(south), abs(north))
        near = (self.lat >= south) & (self.lat <= north)
        if lat_far < 89.0:  # else every longitude is within reach of the pole
            dlon = dlat / math.cos(math.radians(lat_far))
            lon = geo.unwrap_lon(self.lon, lon0)
            near &= (lon >= min(lon_b) - dlon) & (lon <= max(lon_b) + dlon)
        rows, tie_cols = np.nonzero(near)
        if rows.size == 0:
            return None
        return Window(
            int(rows.min()),
            int(rows.max()) + 1,
            max(0, int(tie_cols.min() - 1) * self.step),
            min(self.columns, int(tie_cols.max() + 1) * self.step + 1),
        )


def predict_between(xyz: np.ndarray, step: int, rows: np.ndarray, cols: np.ndarray, first: int = 0):
    """:meth:`TieGrid.predict` from tie points ``xyz`` (rows, tie columns, 3) whose first
    column is tie column ``first`` (rows index ``xyz`` directly)."""
    width = xyz.shape[1]
    if width < 2:
        return xyz[rows, np.zeros_like(cols)]
    j = np.clip(cols // step, first, first + width - 2)
    fraction = ((cols - j * step) / step)[..., None]
    start = xyz[rows, j - first]
    point = start + (xyz[rows, j - first + 1] - start) * fraction
    with np.errstate(invalid="ignore"):
        return point / geo.lengths(point)[..., None]


def _largest_chord(a: np.ndarray, b: np.ndarray) -> float:
    """The largest chord between matching unit vectors (NaN pairs ignored; 0 if none)."""
    chord = geo.lengths(a - b)
    finite = np.isfinite(chord)
    return float(chord[finite].max()) if finite.any() else 0.0


def locate(
    product: Path,
    vertices: Vertices,
    *,
    tie: TieGrid | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> Vertices:
    """The nearest pixel centre of every vertex (fills row, col, distance_m, in_swath).

    in_swath is False when the vertex lies farther than about one pixel (the tie grid's
    largest spacing) from every pixel centre: outside the scene's footprint. Ties go to
    the lowest row, then column. ``tie`` is the scene's tie grid if already read. The
    vertices are searched in tasks of the shared engine (:func:`nearest_task`): at most
    two per worker, each of at least ``TASK_VERTICES`` vertices; ``threads`` and
    ``mem_mb`` bound the workers.
    """
    tie = tie or TieGrid.read(product)
    error = PREDICTION_SPACINGS * tie.spacing
    count = len(vertices)
    wanted = max(1, math.ceil(count / TASK_VERTICES))
    plan = plan_workers(wanted, threads=threads, mem_mb=mem_mb, task_mem_mb=TASK_MB)
    parts = [p for p in np.array_split(np.arange(count), min(wanted, 2 * plan.workers)) if p.size]
    while True:
        tasks = [
            Task(
                f"vertices {part[0]}-{part[-1]}",
                (str(product), vertices.lon[part], vertices.lat[part], error),
            )
            for part in parts
        ]
        results = run_tasks(
            nearest_task, tasks, plan, label="vertices", logger=log, inline_single=True
        )
        measured = max((result[2] for result in results), default=0.0)
        if measured <= error:
            break
        log.warning(
            "pixel centres lie up to %.0f m from their interpolation between tie points, "
            "more than the assumed %.0f m: searching again",
            geo.chord_to_metres(measured),
            geo.chord_to_metres(error),
        )
        error = SPACING_SAFETY * measured
    nearest = np.concatenate([r[0] for r in results]) if results else np.zeros(0, np.int64)
    best = np.concatenate([r[1] for r in results]) if results else np.zeros(0)
    log.info("located %d vertices reading %d pixels", count, sum(r[3] for r in results))
    vertices.row, vertices.col = np.divmod(nearest, tie.columns)
    vertices.distance_m = geo.chord_to_metres(best)
    vertices.in_swath = best <= tie.spacing
    return vertices


def nearest_task(
    product: str, lon: np.ndarray, lat: np.ndarray, error: float
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Worker task: the nearest pixel centre of each point (``lon``, ``lat`` degrees)
    when every prediction is within ``error`` (chord) of its true centre.

    Returns the nearest pixels' flat indices (row * columns + col, int64; -1 when the
    tie grid has no finite point), their chords (float64; inf then), the largest
    prediction error measured at the pixels read (chord), which the caller checks
    against ``error``, and how many pixels were read.
    """
    tie = TieGrid.read(Path(product))
    points = geo.unit_vectors(lon, lat).reshape(-1, 3)
    owner, pixels = [], []
    for start in range(0, len(points), VERTEX_BLOCK):
        index, flat = tie.nearest_candidates(points[start : start + VERTEX_BLOCK], error)
        owner.append(index + start)
        pixels.append(flat)
    owner = np.concatenate(owner) if owner else np.zeros(0, np.int64)
    pixels = np.concatenate(pixels) if pixels else np.zeros(0, np.int64)
    unique, where = unique_sorted(pixels)
    rows, cols = np.divmod(unique, tie.columns)
    found_lon, found_lat = _read_pixels(Path(product), rows, cols)
    measured = tie.prediction_error(rows, cols, found_lon, found_lat)
    found = geo.unit_vectors(found_lon, found_lat).reshape(-1, 3)
    chords = geo.lengths(found[where] - points[owner])
    chords[~np.isfinite(chords)] = np.inf
    # Per point the smallest chord; among equals the lowest row, then column.
    order = np.lexsort((pixels, chords, owner))
    first = order[np.r_[True, owner[order][1:] != owner[order][:-1]]] if order.size else order
    nearest = np.full(len(points), -1, np.int64)
    best = np.full(len(points), np.inf)
    nearest[owner[first]], best[owner[first]] = pixels[first], chords[first]
    return nearest, best, measured, int(unique.size)


def unique_sorted(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values of an int64 array and, per value, its position among
    them (as np.unique with return_inverse, by one sort: numpy 2's hashing unique takes
    minutes on tens of millions of values)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.r_[True, ordered[1:] != ordered[:-1]] if values.size else np.zeros(0, bool)
    inverse = np.empty(values.shape, np.int64)
    inverse[order] = np.cumsum(new) - 1
    return ordered[new], inverse


def _read_pixels(
    product: Path, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (float64 degrees, NaN fill) of image pixels ``rows``,
    ``cols``: only the chunks of geo_coordinates.nc holding them are read."""
    if rows.size == 0:
        return np.zeros(0), np.zeros(0)
    frame = Window(int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1)
    flat = (rows - frame.row0) * frame.shape[1] + (cols - frame.col0)
    bounds = (frame.row0, frame.row1, frame.col0, frame.col1)
    read = read_packed(product / "geo_coordinates.nc", ("longitude", "latitude"), bounds, flat)
    return read["longitude"].decoded(), read["latitude"].decoded()


def extraction_window(
    product: Path, features: list[Feature], tie: TieGrid | None = None
) -> Window | None:
    """The window extraction reads: every pixel whose centre can lie inside the AOI.

    None when no part of the AOI is near the scene.
    """
    return (tie or TieGrid.read(product)).aoi_window(features, first_vertex_lon(features))


def window_for(product_path: Path, aoi_path: Path) -> Window | None:
    """The extraction window of an AOI file in a scene (None when the scene misses it)."""
    return extraction_window(Path(product_path), read_aoi(aoi_path, ids=False))


def read_window(path: str | Path) -> Window | None:
    """The window of a window file written by :func:`locate_to_files` (None: the scene
    misses the AOI)."""
    hint = "Give the window.json that locate wrote for this scene (or run locate again)."
    try:
        bounds = json.loads(Path(path).read_text(encoding="utf-8"))["window"]
        return None if bounds is None else Window(**bounds)
    except OSError as error:
        raise InputError(path, f"cannot be read ({error.strerror})", hint) from error
    except (ValueError, TypeError, KeyError) as error:  # JSONDecodeError is a ValueError
        problem = f"is not a window file ({type(error).__name__}: {error})"
        raise InputError(path, problem, hint) from error


def locate_to_files(
    product_path: Path,
    features: list[Feature],
    vertices_csv: Path,
    window_json: Path | None = None,
    *,
    threads: int | None = None,
    mem_mb: float | None = None,
    tie: TieGrid | None = None,
) -> Window | None:
    """Run the locate stage for one scene and write its vertex table (and window).

    ``features``: the AOI (:func:`~eotrend.geo.aoi.read_aoi`); ``tie``: the scene's tie
    grid when the caller has read it (extract of the same scene uses it too). The window
    file holds the scene name, ``window`` (row0/row1/col0/col1 half-open, or null when
    the AOI lies outside the scene), ``covers_aoi`` and vertex counts. Returns that window
    (None: the scene misses the AOI), the one extraction reads.
    """
    product = open_product(product_path)
    tie = tie or TieGrid.read(product.path)
    located = locate(product.path, vertex_table(features), tie=tie, threads=threads, mem_mb=mem_mb)
    window = extraction_window(product.path, features, tie)
    inside = int(located.in_swath.sum())
    if window is None or inside == 0:
        log.warning(
            "%s: the AOI lies outside the scene (no vertex within a pixel of the swath)",
            product.name,
        )
    else:
        log.info(
            "%s: %d of %d vertices in the swath; extraction window %s",
            product.name,
            inside,
            len(located),
            window,
        )
    located.write_csv(vertices_csv)
    if window_json is not None:
        covers = window is not None
        summary = {
            "scene": product.name,
            "window": window.as_dict() if covers else None,
            "covers_aoi": covers,
            "vertices": len(located),
            "vertices_in_swath": inside,
        }
        write_text(window_json, json.dumps(summary, indent=1))
    return window

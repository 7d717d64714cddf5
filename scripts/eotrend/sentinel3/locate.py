"""The locate stage: AOI vertices -> nearest pixel centres on a scene's curvilinear grid.

Exactness. Distances are chords between 3-D unit vectors (monotonic in great-circle
distance, exact across the antimeridian and at the poles). A coarse level may only prune
what cannot be nearest: every pixel q lies in a row with a sample t (tie point, or every
m-th column) at most m pixel spacings s away, so if t is farther than ``d + m s`` from
the vertex, where d is the distance to the nearest sample, q is farther than d and
cannot be nearest (triangle inequality). The search descends 64 -> 8 -> 1 columns.

The spacing bound s comes from the tie-point grid (its largest mean spacing, with a safety
factor for the variation inside a 64-column interval) and is checked against the
full-resolution pixels actually read; a window that breaks it is searched again with the
measured spacing.

Narrow windows. Each vertex's window is then cut down with pixel centres interpolated
between the tie points of their row (:meth:`TieGrid.predict`): if every prediction is
within e of the true centre and the nearest prediction is d away, the nearest pixel's
prediction is within d + 2e (:meth:`TieGrid.narrow`), so only the pixels predicted that
close are read, a few around each vertex instead of a band of tie intervals. e is first
assumed one pixel spacing and checked against the centres read, like the spacing bound.

Bounded reads. Only ``tie_geo_coordinates.nc`` (every 64th column) is read whole; of
``geo_coordinates.nc`` only the narrow windows around the vertices (the chunks they lie
in). Imports are kept light (no pandas, no scipy): the command is dominated by
interpreter start-up otherwise.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eotrend.core.atomic import atomic_path, write_text
from eotrend.core.errors import InputError
from eotrend.engine.limits import plan_workers
from eotrend.engine.pool import Task, run_tasks
from eotrend.geo import geometry as geo
from eotrend.geo.aoi import Feature, first_vertex_lon, read_aoi
from eotrend.sentinel3.reader import Window, open_product, read_lonlat, read_tie_lonlat

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
# Finer sampling levels between the tie grid (64 columns) and single pixels.
LEVELS = (8, 1)
# Tie rows sampled in the first, coarsest pass over the tie grid.
ROW_STEP = 32
# The error first assumed of a pixel centre interpolated from the tie points of its row
# (TieGrid.predict), in pixel spacings; checked against the pixels read (a larger error
# measured is searched again with SPACING_SAFETY times it).
PREDICTION_SPACINGS = 1.0


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
        across = np.linalg.norm(np.diff(xyz, axis=1), axis=-1) / step
        along = np.linalg.norm(np.diff(xyz, axis=0), axis=-1)
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

    def narrow(self, window: Window, point: np.ndarray, error: float) -> Window:
        """The part of ``window`` that holds the pixel nearest to ``point`` (a unit vector)
        when every predicted centre (:meth:`predict`) is within ``error`` (chord) of the
        true one.

        With d the distance from the point to the nearest predicted centre (of pixel
        q_d), the nearest pixel q* has |point - q*| <= |point - q_d| <= d + error, so its
        prediction lies within d + 2 error of the point: the window returned is the box of
        the pixels predicted that close. Per tie interval of a row (the pixels between two
        tie points) the predictions lie on the chord between them, pulled inside the sphere
        by less than its sagitta, which bounds a whole interval at once.
        """
        width = self.xyz.shape[1]
        if width < 2:
            return window
        rows = np.arange(window.row0, window.row1)
        first = min(window.col0 // self.step, width - 2)
        last = max(first, min((window.col1 - 1) // self.step, width - 2))
        start = self.xyz[window.row0 : window.row1, first : last + 1]
        delta = self.xyz[window.row0 : window.row1, first + 1 : last + 2] - start
        length2 = np.sum(delta * delta, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.clip(np.sum((point - start) * delta, axis=-1) / length2, 0.0, 1.0)
        closest = start + delta * t[..., None]
        reach = np.linalg.norm(point - closest, axis=-1)
        sagitta = 1.0 - np.sqrt(np.maximum(0.0, 1.0 - length2 / 4.0))
        reach = np.where(np.isfinite(reach), reach - sagitta, np.inf)
        # The nearest prediction: around each interval's closest point.
        around = np.floor(t * self.step)[..., None] + np.arange(-1, 3)
        interval_col = (np.arange(first, last + 1) * self.step)[None, :, None]
        cols = np.clip(interval_col + around, window.col0, window.col1 - 1).astype(np.int64)
        chord = self._chords(point, np.broadcast_to(rows[:, None, None], cols.shape), cols)
        if not np.isfinite(chord).any():
            return window
        limit = float(np.nanmin(chord)) + 2.0 * error + 1e-12
        kept_rows, kept_intervals = np.nonzero(reach <= limit)
        offsets = np.arange(self.step + 1)
        cols = (kept_intervals + first)[:, None] * self.step + offsets
        rows = np.broadcast_to(rows[kept_rows][:, None], cols.shape)
        inside = cols < window.col1
        inside &= cols >= window.col0
        rows, cols = rows[inside], cols[inside]
        near = self._chords(point, rows, cols) <= limit
        rows, cols = rows[near], cols[near]
        return Window(int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1)

    def _chords(self, point: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Chords from ``point`` to the predicted centres of pixels rows, cols (NaN kept)."""
        return np.linalg.norm(self.predict(rows, cols) - point, axis=-1)

    def tie_slice(self, window: Window) -> tuple[np.ndarray, int]:
        """The tie points (unit vectors) a window's predictions need and the tie column of
        the first: (rows of the window, tie columns around its columns, 3)."""
        width = self.xyz.shape[1]
        first = min(window.col0 // self.step, max(width - 2, 0))
        last = min((window.col1 - 1) // self.step + 1, width - 1)
        return self.xyz[window.row0 : window.row1, first : last + 1], first

    def candidate_windows(self, points: np.ndarray, bound: float) -> list[Window]:
        """For each point (unit vectors, (n, 3)), the pixels that can be nearest to it.

        Tie points are first pruned on every ``ROW_STEP``-th tie row (the same triangle
        argument along track: a tie point is within ROW_STEP spacings of the sampled one
        in its column), then the remaining tie points bound the pixel window. The coarse
        pass uses dot products (one matrix product for many points), with a slack far
        above their rounding error, so it stays conservative.
        """
        coarse = self.xyz[::ROW_STEP].reshape(-1, 3)
        finite = np.isfinite(coarse).all(axis=1)
        width = self.xyz.shape[1]
        windows = []
        for chunk in range(0, len(points), 256):
            block = points[chunk : chunk + 256]
            squared = np.maximum(2.0 - 2.0 * (block @ coarse.T), 0.0)  # (points, samples)
            squared[:, ~finite] = np.inf
            nearest = np.sqrt(squared.min(axis=1))
            limits = (nearest + (self.step + ROW_STEP) * bound + 1e-9) ** 2
            for k, point in enumerate(block):
                samples = np.flatnonzero(squared[k] <= limits[k])
                windows.append(self._tie_window(point, samples // width, samples % width, bound))
        return windows

    def _tie_window(
        self, point: np.ndarray, block_rows: np.ndarray, tie_cols: np.ndarray, bound: float
    ) -> Window:
        """The pixel window of the tie points near ``point`` in the kept coarse blocks."""
        rows = (block_rows[:, None] * ROW_STEP + np.arange(ROW_STEP)).ravel()
        cols = np.repeat(tie_cols, ROW_STEP)
        inside = rows < self.xyz.shape[0]
        rows, cols = rows[inside], cols[inside]
        chord = np.linalg.norm(self.xyz[rows, cols] - point, axis=-1)
        near = chord <= np.nanmin(chord) + self.step * bound
        rows, cols = rows[near], cols[near]
        return Window(
            row0=int(rows.min()),
            row1=int(rows.max()) + 1,
            col0=max(0, int(cols.min() - 1) * self.step),
            col1=min(self.columns, int(cols.max() + 1) * self.step + 1),
        )

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
        return point / np.linalg.norm(point, axis=-1, keepdims=True)


def _largest_chord(a: np.ndarray, b: np.ndarray) -> float:
    """The largest chord between matching unit vectors (NaN pairs ignored; 0 if none)."""
    chord = np.linalg.norm(a - b, axis=-1)
    finite = np.isfinite(chord)
    return float(chord[finite].max()) if finite.any() else 0.0


def union(windows: list[Window]) -> Window:
    """The smallest window holding all ``windows``."""
    return Window(
        min(w.row0 for w in windows),
        max(w.row1 for w in windows),
        min(w.col0 for w in windows),
        max(w.col1 for w in windows),
    )


def _area(window: Window) -> int:
    return window.shape[0] * window.shape[1]


def cluster_windows(windows: list[Window]) -> list[tuple[Window, list[int]]]:
    """Group windows into a few read windows: a window joins a group when the group's
    bounding window grows by less than the window's own area (so no read is wasteful).

    Returns (read window, indices of the member windows) per group.
    """
    groups: list[tuple[Window, list[int]]] = []
    for index in sorted(range(len(windows)), key=lambda i: (windows[i].row0, windows[i].col0)):
        window = windows[index]
        for g, (bounds, members) in enumerate(groups):
            merged = union([bounds, window])
            if _area(merged) <= _area(bounds) + _area(window):
                groups[g] = (merged, [*members, index])
                break
        else:
            groups.append((window, [index]))
    return groups


def nearest_task(
    product: str,
    window: tuple[int, int, int, int],
    points: np.ndarray,
    own: list[tuple[int, int, int, int]],
    bound: float,
    tie: tuple[np.ndarray, int, int] | None = None,
):
    """Worker task: the nearest pixel of each point inside one read window.

    points: (k, 3) unit vectors; own: each point's candidate window (image coordinates,
    within ``window``); bound: the assumed pixel spacing (chord); tie: (tie points of the
    window's rows, first tie column, step) (:meth:`TieGrid.tie_slice`) to measure the
    prediction error. Returns rows, cols (int64, image coordinates), chords (float64),
    the largest neighbour spacing measured in the window (chord), which the caller checks
    against ``bound``, and the largest prediction error measured (chord; 0 without tie).
    """
    read = Window(*window)
    lon, lat = read_lonlat(Path(product), read)
    grid = geo.unit_vectors(lon, lat)
    measured = max(_max_step(grid, 0), _max_step(grid, 1))
    error = 0.0
    if tie is not None:
        xyz, first, step = tie
        rows, cols = np.mgrid[0 : read.shape[0], read.col0 : read.col1]
        error = _largest_chord(predict_between(xyz, step, rows, cols, first), grid)
    rows, cols, chords = [], [], []
    for point, (r0, r1, c0, c1) in zip(points, own, strict=True):
        sub = grid[r0 - read.row0 : r1 - read.row0, c0 - read.col0 : c1 - read.col0]
        r, c, chord = _nearest_by_levels(sub, point, bound)
        rows.append(r0 + r)
        cols.append(c0 + c)
        chords.append(chord)
    return (
        np.asarray(rows, np.int64),
        np.asarray(cols, np.int64),
        np.asarray(chords),
        measured,
        error,
    )


def _max_step(grid: np.ndarray, axis: int) -> float:
    """Largest chord between neighbours along ``axis`` (0 if the window is one wide)."""
    if grid.shape[axis] < 2:
        return 0.0
    steps = np.linalg.norm(np.diff(grid, axis=axis), axis=-1)
    return float(np.nanmax(steps)) if np.isfinite(steps).any() else 0.0


def _nearest_by_levels(grid: np.ndarray, point: np.ndarray, bound: float):
    """Exact nearest pixel of ``point`` in ``grid`` (rows, cols, 3), pruning by levels.

    At each level only every m-th column is measured; columns farther than the level's
    distance + m spacings cannot hold the nearest pixel (see the module docstring).
    Ties go to the lowest row, then column. Returns (row, col, chord).
    """
    r0, c0, r1, c1 = 0, 0, grid.shape[0], grid.shape[1]
    for m in LEVELS:
        sub = grid[r0:r1, c0:c1]
        sampled = sub[:, ::m]
        squared = np.sum((sampled - point) ** 2, axis=-1)
        squared[np.isnan(squared)] = np.inf
        if m == 1:
            flat = int(np.argmin(squared))  # first minimum in C order: lowest row, then col
            r, c = divmod(flat, squared.shape[1])
            return r0 + r, c0 + c, float(np.sqrt(squared[r, c]))
        limit = np.sqrt(squared.min()) + m * bound
        rows, cols = np.nonzero(squared <= limit * limit)
        r0, r1 = r0 + int(rows.min()), r0 + int(rows.max()) + 1
        c0, c1 = (
            c0 + max(0, (int(cols.min()) - 1) * m),
            c0 + min(sub.shape[1], (int(cols.max()) + 1) * m + 1),
        )
    raise AssertionError("LEVELS must end with 1")


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
    largest spacing) from every pixel centre: outside the scene's footprint. ``tie`` is
    the scene's tie grid if already read.
    """
    tie = tie or TieGrid.read(product)
    points = geo.unit_vectors(vertices.lon, vertices.lat)
    bound = tie.bound
    error = PREDICTION_SPACINGS * tie.spacing
    while True:
        outer = tie.candidate_windows(points, bound)
        windows = [tie.narrow(w, point, error) for w, point in zip(outer, points, strict=True)]
        groups = cluster_windows(windows)
        tasks = [
            Task(
                f"window rows {w.row0}-{w.row1 - 1} cols {w.col0}-{w.col1 - 1}",
                (
                    str(product),
                    (w.row0, w.row1, w.col0, w.col1),
                    points[members],
                    [
                        (windows[i].row0, windows[i].row1, windows[i].col0, windows[i].col1)
                        for i in members
                    ],
                    bound,
                    (*tie.tie_slice(w), tie.step),
                ),
            )
            for w, members in groups
        ]
        task_mb = 20 + max(_area(w) for w, _ in groups) * 8 * 8 / 2**20
        plan = plan_workers(len(tasks), threads=threads, mem_mb=mem_mb, task_mem_mb=task_mb)
        results = run_tasks(
            nearest_task, tasks, plan, label="vertex windows", logger=log, inline_single=True
        )
        measured = max(result[3] for result in results)
        predicted = max(result[4] for result in results)
        if measured > bound:
            log.warning(
                "pixel spacing %.0f m exceeds the assumed %.0f m: searching again",
                geo.chord_to_metres(measured),
                geo.chord_to_metres(bound),
            )
            bound = SPACING_SAFETY * measured
        elif predicted > error:
            log.warning(
                "pixel centres lie up to %.0f m from their interpolation between tie points, "
                "more than the assumed %.0f m: searching again",
                geo.chord_to_metres(predicted),
                geo.chord_to_metres(error),
            )
            error = SPACING_SAFETY * predicted
        else:
            break
    rows = np.zeros(len(vertices), np.int64)
    cols = np.zeros(len(vertices), np.int64)
    chords = np.zeros(len(vertices))
    for (_, members), (r, c, ch, _, _) in zip(groups, results, strict=True):
        rows[members], cols[members], chords[members] = r, c, ch
    log.info(
        "located %d vertices reading %d window(s), %d pixels",
        len(vertices),
        len(groups),
        sum(_area(w) for w, _ in groups),
    )
    vertices.row, vertices.col = rows, cols
    vertices.distance_m = geo.chord_to_metres(chords)
    vertices.in_swath = chords <= tie.spacing
    return vertices


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
    aoi_path: Path,
    vertices_csv: Path,
    window_json: Path | None = None,
    *,
    id_column: str | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> Window | None:
    """Run the locate stage for one scene and write its vertex table (and window).

    The window file holds the scene name, ``window`` (row0/row1/col0/col1 half-open, or
    null when the AOI lies outside the scene), ``covers_aoi`` and vertex counts. Returns
    that window (None: the scene misses the AOI), the one extraction reads. Features are
    named by their ``id_column`` (:func:`~eotrend.geo.aoi.read_aoi`).
    """
    product = open_product(product_path)
    features = read_aoi(aoi_path, id_column)
    tie = TieGrid.read(product.path)
    located = locate(product.path, vertex_table(features), tie=tie, threads=threads, mem_mb=mem_mb)
    window = extraction_window(product.path, features, tie)
    inside = int(located.in_swath.sum())
    if window is None or inside == 0:
        log.warning(
            "%s: the AOI %s lies outside the scene (no vertex within a pixel of the swath)",
            product.name,
            aoi_path,
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

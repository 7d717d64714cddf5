"""The locate stage: AOI vertices -> nearest pixel centres on a scene's curvilinear grid.

The tie-point grid (every 64th column, all rows) is small; it bounds where the nearest
full-resolution pixel of each vertex can be, and only that window of
``geo_coordinates.nc`` is read. Within it the nearest pixel centre is found by
great-circle distance (as chord length between unit vectors), ties broken by the lowest
row, then column.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from eotrend import geometry as geo
from eotrend.aoi import Feature, read_aoi
from eotrend.atomic import atomic_path, write_text
from eotrend.olci import Window, open_product, read_lonlat, read_tie_lonlat

log = logging.getLogger(__name__)

VERTEX_COLUMNS = ["feature", "part", "ring", "vertex", "lon", "lat"]
# A vertex farther than this many pixel spacings from every pixel centre is outside.
OUT_OF_SWATH_SPACINGS = 1.0
# Safety factor on the largest tie-grid pixel spacing: spacing varies inside a 64-column
# interval, the tie grid only gives its mean.
SPACING_SAFETY = 1.5


@dataclass(frozen=True)
class TieGrid:
    """The tie-point grid of a scene as unit vectors, with its spacing bounds.

    xyz: (rows, tie_columns, 3) float64 unit vectors; step: image columns between tie
    columns; spacing: upper bound of the chord between neighbouring pixel centres.
    """

    xyz: np.ndarray
    step: int
    spacing: float
    columns: int

    @classmethod
    def read(cls, product: Path) -> TieGrid:
        lon, lat, step = read_tie_lonlat(product)
        xyz = geo.unit_vectors(lon, lat)
        across = np.linalg.norm(np.diff(xyz, axis=1), axis=-1) / step
        along = np.linalg.norm(np.diff(xyz, axis=0), axis=-1)
        spacing = SPACING_SAFETY * float(max(np.nanmax(across), np.nanmax(along)))
        return cls(xyz=xyz, step=step, spacing=spacing, columns=(xyz.shape[1] - 1) * step + 1)

    def candidate_window(self, point: np.ndarray) -> Window:
        """Pixels that can be nearest to ``point`` (a unit vector).

        The nearest pixel p* lies between two tie columns of its row, so the tie point
        of that row at the left tie column is within (nearest tie distance + one tie
        interval) of the point, by the triangle inequality. Keep every tie point within
        that bound, widened by one tie interval on each side.
        """
        chord = np.linalg.norm(self.xyz - point, axis=-1)
        bound = np.nanmin(chord) + self.step * self.spacing
        rows, tie_cols = np.nonzero(chord <= bound)
        return Window(
            row0=int(rows.min()),
            row1=int(rows.max()) + 1,
            col0=max(0, int(tie_cols.min() - 1) * self.step),
            col1=min(self.columns, int(tie_cols.max() + 1) * self.step + 1),
        )


def vertex_table(features: list[Feature]) -> pd.DataFrame:
    """One row per polygon vertex: feature, part, ring (0 = exterior), vertex, lon, lat.

    The closing vertex of each ring (equal to the first) is left out.
    """
    records = []
    for feature in features:
        parts = getattr(feature.geometry, "geoms", [feature.geometry])
        for part_index, polygon in enumerate(parts):
            rings = [polygon.exterior, *polygon.interiors]
            for ring_index, ring in enumerate(rings):
                for vertex_index, (lon, lat) in enumerate(np.asarray(ring.coords)[:-1, :2]):
                    records.append((feature.name, part_index, ring_index, vertex_index, lon, lat))
    return pd.DataFrame.from_records(records, columns=VERTEX_COLUMNS)


def union(windows: list[Window]) -> Window:
    """The smallest window holding all ``windows``."""
    return Window(
        row0=min(w.row0 for w in windows),
        row1=max(w.row1 for w in windows),
        col0=min(w.col0 for w in windows),
        col1=max(w.col1 for w in windows),
    )


def locate(product: Path, vertices: pd.DataFrame) -> tuple[pd.DataFrame, Window]:
    """Nearest pixel of every vertex, and the window holding all located pixels.

    Returns the vertex table with columns row, col (int), distance_m (float, great
    circle from the vertex to the pixel centre) and in_swath (bool: within about one
    pixel of a pixel centre) added, and the union of the vertices' candidate windows.
    """
    tie = TieGrid.read(product)
    points = geo.unit_vectors(vertices["lon"].to_numpy(), vertices["lat"].to_numpy())
    windows = [tie.candidate_window(point) for point in points]
    window = union(windows)
    lon, lat = read_lonlat(product, window)
    log.info("read a %d x %d pixel window for %d vertices", *window.shape, len(vertices))
    grid = geo.unit_vectors(lon, lat)
    rows, cols, chords = [], [], []
    for point, own in zip(points, windows, strict=True):
        sub = grid[
            own.row0 - window.row0 : own.row1 - window.row0,
            own.col0 - window.col0 : own.col1 - window.col0,
        ]
        squared = np.sum((sub - point) ** 2, axis=-1)
        squared[np.isnan(squared)] = np.inf
        flat = int(np.argmin(squared))  # first minimum in C order: lowest row, then column
        r, c = np.unravel_index(flat, squared.shape)
        rows.append(own.row0 + r)
        cols.append(own.col0 + c)
        chords.append(np.sqrt(squared[r, c]))
    located = vertices.copy()
    located["row"] = np.asarray(rows, dtype=np.int64)
    located["col"] = np.asarray(cols, dtype=np.int64)
    located["distance_m"] = geo.chord_to_metres(np.asarray(chords))
    located["in_swath"] = np.asarray(chords) <= OUT_OF_SWATH_SPACINGS * tie.spacing
    return located, window


def extraction_window(
    located: pd.DataFrame, rows: int, columns: int, margin: int = 2
) -> Window | None:
    """The pixel window extraction reads: every located in-swath vertex, plus a margin.

    ``rows`` and ``columns`` are the scene's image size (the window is clipped to it).
    Returns None when no vertex lies in the swath (the scene does not cover the AOI).
    """
    inside = located[located["in_swath"]]
    if inside.empty:
        return None
    return Window(
        row0=max(0, int(inside["row"].min()) - margin),
        row1=min(rows, int(inside["row"].max()) + margin + 1),
        col0=max(0, int(inside["col"].min()) - margin),
        col1=min(columns, int(inside["col"].max()) + margin + 1),
    )


def locate_to_files(
    product_path: Path, aoi_path: Path, vertices_csv: Path, window_json: Path | None = None
) -> pd.DataFrame:
    """Run the locate stage for one scene and write its vertex table (and window).

    The window file holds the scene name, ``window`` (row0/row1/col0/col1, or null when
    the AOI lies outside the scene), ``covers_aoi`` and vertex counts.
    """
    product = open_product(product_path)
    vertices = vertex_table(read_aoi(aoi_path))
    located, _ = locate(product.path, vertices)
    window = extraction_window(located, product.rows, product.columns)
    inside = int(located["in_swath"].sum())
    if window is None:
        log.warning(
            "%s: no AOI vertex lies inside the swath; the scene does not cover the AOI",
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
    with atomic_path(vertices_csv) as tmp:
        located.to_csv(tmp, index=False)
    if window_json is not None:
        summary = {
            "scene": product.name,
            "window": window.as_dict() if window else None,
            "covers_aoi": window is not None,
            "vertices": len(located),
            "vertices_in_swath": inside,
        }
        write_text(window_json, json.dumps(summary, indent=1))
    return located


def window_for(product_path: Path, aoi_path: Path) -> Window | None:
    """The extraction window of an AOI in a scene (None when the scene misses the AOI)."""
    product = open_product(product_path)
    located, _ = locate(product.path, vertex_table(read_aoi(aoi_path)))
    return extraction_window(located, product.rows, product.columns)

"""Small synthetic OLCI scenes shared by tests, and an independent full-grid reader."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np

from eotrend.synthetic.product import write_product
from eotrend.synthetic.spec import SceneSpec

WHEN = datetime(2020, 6, 1, 13, 50, tzinfo=UTC)


def small_scene(
    folder: Path,
    lon: float,
    lat: float,
    *,
    rows: int = 240,
    columns: int = 257,
    heading: float = 192.0,
    files=None,
    water=None,
    **spec,
) -> Path:
    """Write a small WFR product centred at (lon, lat); returns the .SEN3 folder."""
    return write_product(
        SceneSpec(
            centre_lon=lon,
            centre_lat=lat,
            sensing_start=WHEN,
            rows=rows,
            columns=columns,
            heading_deg=heading,
            **spec,
        ),
        folder,
        files=files,
        water=water,
    )


def full_lonlat(product: Path) -> tuple[np.ndarray, np.ndarray]:
    """The whole lat/lon grid, decoded by netCDF4's own mask-and-scale (the oracle)."""
    with netCDF4.Dataset(product / "geo_coordinates.nc") as ds:
        return (
            np.ma.filled(ds["longitude"][:], np.nan).astype(np.float64),
            np.ma.filled(ds["latitude"][:], np.nan).astype(np.float64),
        )


def square_ring(x: float, y: float, half: float) -> list[tuple[float, float]]:
    """The ring (lon, lat, counter-clockwise, not closed) of the square of half-side
    ``half`` degrees centred on (x, y)."""
    return [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]


def write_polygons(
    path: Path, polygons: list[list[list[tuple[float, float]]]], names: list[str] | None = None
) -> Path:
    """A GeoJSON of polygons given as lists of rings of (lon, lat) (rings closed here)."""
    features = []
    for index, rings in enumerate(polygons):
        coordinates = [[list(map(float, p)) for p in [*ring, ring[0]]] for ring in rings]
        features.append(
            {
                "type": "Feature",
                "properties": {"name": names[index] if names else f"f{index}"},
                "geometry": {"type": "Polygon", "coordinates": coordinates},
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path

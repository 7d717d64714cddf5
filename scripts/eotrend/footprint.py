"""A product's footprint, from its manifest, and whether it reaches an AOI.

The manifest's ``gml:posList`` is a closed ring of "lat lon" pairs along the swath edges
(olci-format.md §8). Used to mark scenes that miss the AOI before any pixel is read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import shapely

from eotrend import geometry as geo
from eotrend.aoi import Feature
from eotrend.errors import InputError

GML = {"gml": "http://www.opengis.net/gml"}


def read_footprint(product: str | Path) -> np.ndarray:
    """The footprint ring as (n, 2) float64 (lon, lat) degrees, in the manifest's order."""
    manifest = Path(product) / "xfdumanifest.xml"
    node = ET.parse(manifest).getroot().find(".//gml:posList", GML)
    if node is None or not (node.text or "").split():
        raise InputError(manifest, "has no footprint (gml:posList)", "Download it again.")
    pairs = np.asarray(node.text.split(), dtype=np.float64).reshape(-1, 2)
    return pairs[:, ::-1].copy()  # lat lon -> lon lat


def reaches(product: str | Path, features: list[Feature], lon0: float) -> bool:
    """Whether the footprint intersects any AOI feature (both unwrapped around ``lon0``)."""
    ring = read_footprint(product)
    footprint = geo.unwrap_geometry(shapely.Polygon(ring), lon0)
    return any(footprint.intersects(geo.unwrap_geometry(f.geometry, lon0)) for f in features)

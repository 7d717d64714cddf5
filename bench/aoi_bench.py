"""Reading and checking an AOI file of thousands of features (issue 23).

The workflow reads and checks every sentinel3 dataset's AOI each time Snakemake parses it
(rules/common.smk; on a cluster, in every job), so the check must cost little: 5,000 lake
polygons of 65 vertices (a wavy ring around each lattice point, 0.2 degree apart) in a
GeoPackage, a GeoJSON and a Shapefile, read by eotrend.geo.aoi.read_aoi with the id
column named, best of 3; and the import of the module, which the parse pays too.

    python bench/run.py --only aoi
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import common
import numpy as np
import shapely
from osgeo import ogr, osr

from eotrend.geo.aoi import read_aoi

FEATURES = 5000
VERTICES = 64
DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".shp": "ESRI Shapefile"}


def lakes(count: int = FEATURES) -> list[shapely.Polygon]:
    """``count`` lake-like polygons on a 100-wide lattice (valid: a star-shaped ring)."""
    t = np.linspace(0, 2 * np.pi, VERTICES, endpoint=False)
    radius = 0.05 * (1 + 0.3 * np.sin(5 * t))
    return [
        shapely.Polygon(
            np.c_[
                -70 + k % 100 * 0.2 + radius * np.cos(t), -10 + k // 100 * 0.2 + radius * np.sin(t)
            ]
        )
        for k in range(count)
    ]


def write(path: Path, polygons: list[shapely.Polygon]) -> Path:
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    source = ogr.GetDriverByName(DRIVERS[path.suffix]).CreateDataSource(str(path))
    layer = source.CreateLayer(path.stem, wgs84, ogr.wkbPolygon)
    layer.CreateField(ogr.FieldDefn("lake_id", ogr.OFTString))
    layer.StartTransaction()
    for k, polygon in enumerate(polygons):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("lake_id", f"lake_{k:05d}")
        feature.SetGeometry(ogr.CreateGeometryFromWkb(shapely.to_wkb(polygon)))
        layer.CreateFeature(feature)
    layer.CommitTransaction()
    del layer, source
    return path


def main() -> str:
    polygons = lakes()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in DRIVERS:
            path = write(Path(tmp) / f"lakes{suffix}", polygons)
            seconds = common.timed(lambda path=path: read_aoi(path, "lake_id"), repeat=3)
            rows.append((f"read + check, {suffix[1:]}", f"{seconds:.3f}"))
    code = (
        "import time; t = time.perf_counter(); import eotrend.geo.aoi; "
        "print(time.perf_counter() - t)"
    )
    imports = [float(subprocess.check_output([sys.executable, "-c", code])) for _ in range(3)]
    rows.append(("import eotrend.geo.aoi (fresh interpreter)", f"{min(imports):.3f}"))
    title = f"AOI of {FEATURES} lake polygons of {VERTICES + 1} vertices ({common.load_average()})"
    return title + "\n" + common.table(rows, ("step", "seconds"))

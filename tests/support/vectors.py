"""Vector files written with GDAL/OGR, as a user's GIS would write them."""

from __future__ import annotations

from pathlib import Path

import shapely
from osgeo import ogr, osr

ogr.UseExceptions()

DRIVERS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".shp": "ESRI Shapefile"}


def write_layer(path: Path, fields: dict[str, int], rows: list[tuple[dict, str | None]]) -> Path:
    """A vector file (driver from the suffix) of one EPSG:4326 layer with the attribute
    ``fields`` (name: OGR type) and one feature per row: (attribute values, None for a
    null value; WKT of the geometry, or None for none). GeoPackage and GeoJSON layers take
    any geometry type; a Shapefile's are polygons."""
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    source = ogr.GetDriverByName(DRIVERS[path.suffix]).CreateDataSource(str(path))
    kind = ogr.wkbPolygon if path.suffix == ".shp" else ogr.wkbUnknown
    layer = source.CreateLayer(path.stem, wgs84, kind)
    for name, field_type in fields.items():
        layer.CreateField(ogr.FieldDefn(name, field_type))
    layer.StartTransaction()
    for values, wkt in rows:
        feature = ogr.Feature(layer.GetLayerDefn())
        for name, value in values.items():
            if value is None:
                feature.SetFieldNull(name)
            else:
                feature.SetField(name, value)
        if wkt is not None:
            feature.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        layer.CreateFeature(feature)
    layer.CommitTransaction()
    del layer, source  # flush
    return path


def square(x: float, y: float, size: float = 0.01) -> str:
    """WKT of the axis-aligned square of side ``size`` with its south-west corner at (x, y)."""
    return shapely.box(x, y, x + size, y + size).wkt


BOWTIE = "POLYGON ((0 0, 2 2, 2 0, 0 2, 0 0))"
"""A ring that crosses itself at (1, 1): invalid (OGC Simple Features)."""

SHORT_RING = "POLYGON ((3 0, 4 0, 3 0))"
"""A ring of 3 points: a ring needs 4 or more."""

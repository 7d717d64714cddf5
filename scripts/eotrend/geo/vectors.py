"""Polygons with a table of attributes as a GeoPackage layer (GDAL/OGR), and back.

The layer is in lon/lat degrees (EPSG:4326, x = longitude), as :mod:`eotrend.geo.aoi`
reads AOI files, so it opens in QGIS over any base map. Each table column becomes a field
of the type its values have (bool: integer with the boolean subtype; integer: 64-bit
integer; float: real, NaN stored as null; anything else: text), in table order; the
layer's metadata items (GDAL's default domain) say what the columns hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import shapely
from osgeo import ogr, osr
from shapely.geometry.base import BaseGeometry

from eotrend.core.atomic import atomic_path
from eotrend.core.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

ogr.UseExceptions()
osr.UseExceptions()


def _lonlat() -> osr.SpatialReference:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    return srs


def _field_type(values: pd.Series) -> tuple[int, int]:
    """(OGR field type, subtype) of a column."""
    import pandas as pd

    if pd.api.types.is_bool_dtype(values):
        return ogr.OFTInteger, ogr.OFSTBoolean
    if pd.api.types.is_integer_dtype(values):
        return ogr.OFTInteger64, ogr.OFSTNone
    if pd.api.types.is_float_dtype(values):
        return ogr.OFTReal, ogr.OFSTNone
    return ogr.OFTString, ogr.OFSTNone


def write_geopackage(
    path: str | Path,
    layer_name: str,
    geometries: list[BaseGeometry],
    table: pd.DataFrame,
    metadata: dict[str, str] | None = None,
) -> None:
    """Write one layer of ``geometries`` (lon/lat, in table row order) with ``table``'s
    columns as fields (atomically).

    The layer's geometry type is Polygon when every geometry is one, else MultiPolygon
    (polygons promoted); its feature ids are 1..n in row order.
    """
    if len(geometries) != len(table):
        raise ValueError(f"{len(geometries)} geometries for {len(table)} rows")
    polygons_only = all(g.geom_type == "Polygon" for g in geometries)
    kind = ogr.wkbPolygon if polygons_only else ogr.wkbMultiPolygon
    driver = ogr.GetDriverByName("GPKG")
    with atomic_path(path) as tmp:
        source = driver.CreateDataSource(str(tmp))
        layer = source.CreateLayer(
            layer_name, _lonlat(), kind, options=["FID=fid", "GEOMETRY_NAME=geom"]
        )
        types = {}
        for column in table.columns:
            types[column] = _field_type(table[column])
            field = ogr.FieldDefn(str(column), types[column][0])
            field.SetSubType(types[column][1])
            layer.CreateField(field)
        for key, value in (metadata or {}).items():
            layer.SetMetadataItem(key, value)
        layer.StartTransaction()
        definition = layer.GetLayerDefn()
        for index, (geometry, row) in enumerate(
            zip(geometries, table.itertuples(index=False), strict=True)
        ):
            feature = ogr.Feature(definition)
            shape = ogr.CreateGeometryFromWkb(shapely.to_wkb(geometry))
            if not polygons_only:
                shape = ogr.ForceToMultiPolygon(shape)
            feature.SetGeometry(shape)
            feature.SetFID(index + 1)
            for column, value in zip(table.columns, row, strict=True):
                _set_field(feature, str(column), types[column][0], value)
            layer.CreateFeature(feature)
        layer.CommitTransaction()
        source = None  # closes the file


def _set_field(feature: ogr.Feature, name: str, kind: int, value: object) -> None:
    import pandas as pd

    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        feature.SetFieldNull(name)
    elif kind == ogr.OFTInteger:
        feature.SetField(name, int(bool(value)))
    elif kind == ogr.OFTInteger64:
        feature.SetField(name, int(value))
    elif kind == ogr.OFTReal:
        feature.SetField(name, float(value))
    else:
        feature.SetField(name, str(value))


def read_layer(
    path: str | Path,
) -> tuple[list[BaseGeometry], dict[str, list], dict[str, str]]:
    """The first layer of a GeoPackage written by :func:`write_geopackage` without pandas:
    geometries (shapely), column -> values in feature order (null reals as NaN, other
    nulls as None, booleans as bool) and the layer metadata."""
    path = Path(path)
    try:
        source = ogr.Open(str(path))
    except RuntimeError as error:
        raise InputError(path, f"cannot be read ({error})", "Run the workflow again.") from error
    layer = source.GetLayer(0)
    definition = layer.GetLayerDefn()
    fields = [definition.GetFieldDefn(i) for i in range(definition.GetFieldCount())]
    geometries = []
    columns: dict[str, list] = {field.GetName(): [] for field in fields}
    for feature in layer:
        geometries.append(shapely.from_wkb(bytes(feature.GetGeometryRef().ExportToIsoWkb())))
        for field in fields:
            name = field.GetName()
            if not feature.IsFieldSetAndNotNull(name):
                value = np.nan if field.GetType() == ogr.OFTReal else None
            elif field.GetSubType() == ogr.OFSTBoolean:
                value = bool(feature.GetField(name))
            else:
                value = feature.GetField(name)
            columns[name].append(value)
    return geometries, columns, dict(layer.GetMetadata() or {})


def read_geopackage(path: str | Path) -> tuple[list[BaseGeometry], pd.DataFrame, dict[str, str]]:
    """The first layer of a GeoPackage written by :func:`write_geopackage`: geometries
    (shapely), the table (null reals as NaN, booleans as bool) and the layer metadata."""
    import pandas as pd

    geometries, columns, metadata = read_layer(path)
    return geometries, pd.DataFrame(columns), metadata

"""Areas of interest: polygon features from any vector file GDAL/OGR reads.

Geometries come back as shapely polygons in lon/lat degrees (EPSG:4326, x = lon), one
:class:`Feature` per input feature, holes and every part of a MultiPolygon kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from osgeo import ogr, osr
from shapely.geometry.base import BaseGeometry

from eotrend.core.errors import InputError
from eotrend.geo.geometry import unit_vectors

ogr.UseExceptions()
osr.UseExceptions()

NAME_FIELDS = ("name", "Name", "NAME", "id", "ID")


@dataclass(frozen=True)
class Feature:
    """One AOI feature: its name and its (Multi)Polygon in lon/lat degrees."""

    name: str
    geometry: BaseGeometry


def read_aoi(path: str | Path) -> list[Feature]:
    """Read every polygon feature of a vector file, reprojected to lon/lat.

    A feature is named by its ``name`` attribute (or ``id``), else by its index.
    Errors name the file and the feature: a file OGR cannot open, no polygon at all,
    a non-polygon or invalid geometry, duplicate names.
    """
    path = Path(path)
    try:
        source = ogr.Open(str(path))
    except RuntimeError as error:
        raise InputError(
            path,
            f"cannot be read as a vector file ({error})",
            "Give a GeoJSON, GeoPackage, Shapefile or KML file of polygons.",
        ) from error
    if source is None:
        raise InputError(
            path,
            "cannot be read as a vector file",
            "Give a GeoJSON, GeoPackage, Shapefile or KML file of polygons.",
        )
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    features: list[Feature] = []
    for layer in source:
        transform = _transform_to(layer.GetSpatialRef(), wgs84)
        for feature in layer:
            features.append(_read_feature(path, feature, len(features), transform))
    if not features:
        raise InputError(path, "holds no features", "Give a file with at least one polygon.")
    names = [f.name for f in features]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise InputError(
            path,
            f"has several features named {', '.join(duplicates)}",
            "Give every feature a unique `name` attribute.",
        )
    return features


def _transform_to(source_srs, target_srs):
    if source_srs is None:
        return None
    source_srs = source_srs.Clone()
    source_srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    if source_srs.IsSame(target_srs):
        return None
    return osr.CoordinateTransformation(source_srs, target_srs)


def _read_feature(path: Path, feature, index: int, transform) -> Feature:
    name = _feature_name(feature, index)
    geometry = feature.GetGeometryRef()
    if geometry is None or geometry.IsEmpty():
        raise InputError(
            path, f"feature {name!r} has an empty geometry", "Remove it or draw its polygon."
        )
    geometry = geometry.Clone()
    if transform is not None:
        geometry.Transform(transform)
    geometry.FlattenTo2D()
    shape = shapely.from_wkb(bytes(geometry.ExportToIsoWkb()))
    if shape.geom_type not in ("Polygon", "MultiPolygon"):
        raise InputError(
            path,
            f"feature {name!r} is a {shape.geom_type}, not a polygon",
            "eotrend extracts areas: give polygons (buffer points or lines first).",
        )
    _check_lonlat(path, name, shape)
    if not shape.is_valid:
        reason = shapely.is_valid_reason(shape)
        raise InputError(
            path,
            f"feature {name!r} has an invalid polygon ({reason})",
            "Repair it, e.g. with shapely.make_valid or QGIS 'Fix geometries'.",
        )
    return Feature(name=name, geometry=shape)


def _check_lonlat(path: Path, name: str, shape: BaseGeometry) -> None:
    """InputError when a feature's coordinates (after any reprojection) cannot be degrees:
    latitudes beyond ±90 or longitudes beyond ±360 (past 180 is allowed, for polygons
    drawn across the antimeridian). Typically a projected file that declares no CRS: a
    GeoJSON without one is read as WGS 84 lon/lat (RFC 7946, section 4)."""
    west, south, east, north = shape.bounds
    if max(abs(west), abs(east)) <= 360 and max(abs(south), abs(north)) <= 90:
        return
    raise InputError(
        path,
        f"feature {name!r} has coordinates x {west:.6g}..{east:.6g}, y {south:.6g}..{north:.6g} "
        "that cannot be longitude and latitude in degrees: the file looks projected (e.g. "
        "metres) but declares no coordinate reference system",
        "Reproject it to lon/lat, e.g. `ogr2ogr -s_srs EPSG:<its CRS> -t_srs EPSG:4326 "
        "aoi_lonlat.geojson <file>`, or save it as a GeoPackage or Shapefile with its CRS.",
    )


def _feature_name(feature, index: int) -> str:
    for field in NAME_FIELDS:
        if feature.GetFieldIndex(field) >= 0 and feature.IsFieldSetAndNotNull(field):
            return str(feature.GetField(field))
    return str(index)


def first_vertex_lon(features: list[Feature]) -> float:
    """Longitude (degrees) of the AOI's first vertex: what locate and the footprint tests
    unwrap coordinates around (any vertex does for an AOI narrower than 180°)."""
    first = features[0].geometry
    polygon = first.geoms[0] if hasattr(first, "geoms") else first
    return float(polygon.exterior.coords[0][0])


def mean_lon(features: list[Feature]) -> float:
    """Longitude (degrees) of the mean direction of every AOI vertex: the centre around
    which extraction unwraps polygons and pixels (right across the antimeridian too)."""
    coords = np.concatenate(
        [shapely.get_coordinates(feature.geometry)[:, :2] for feature in features]
    )
    x, y, _ = unit_vectors(coords[:, 0], coords[:, 1]).sum(axis=0)
    return float(np.degrees(np.arctan2(y, x)))

"""Areas of interest: polygon features from any vector file GDAL/OGR reads.

Geometries come back as shapely polygons in lon/lat degrees (EPSG:4326, x = lon), one
:class:`Feature` per input feature, holes and every part of a MultiPolygon kept.

A file is checked whole before anything is returned: duplicate, empty or missing ids and
unusable geometries (none, not a polygon, a ring of fewer than 4 points or not closed,
invalid by the OGC Simple Features rules: self-intersections, holes outside their shell)
are collected over every feature and raised as one :class:`InputError` that counts them
and lists the first :data:`LISTED`, each by the feature's id (or its row when the id is
missing). Reading and checking 5,000 lake polygons takes a fraction of a second
(vectorised shapely validity, one OGR pass), so the workflow does it when it parses.
"""

from __future__ import annotations

import contextlib
import difflib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from osgeo import gdal, ogr, osr
from shapely.geometry.base import BaseGeometry

from eotrend.core.errors import InputError
from eotrend.geo.geometry import unit_vectors

ogr.UseExceptions()
osr.UseExceptions()

NAME_FIELDS = ("name", "Name", "NAME", "id", "ID")
"""Where a feature's id comes from when no id column is given: the first of these
attributes the feature has a value in, else its index (0-based order in the file)."""

LISTED = 20
"""How many problems an AOI error lists (the count says how many more there are)."""

ROWS_LISTED = 5
"""How many rows a duplicate id lists."""

GEOMETRY_NAMES = {
    ogr.wkbPoint: "Point",
    ogr.wkbLineString: "LineString",
    ogr.wkbMultiPoint: "MultiPoint",
    ogr.wkbMultiLineString: "MultiLineString",
    ogr.wkbGeometryCollection: "GeometryCollection",
}


@dataclass(frozen=True)
class Feature:
    """One AOI feature: its name (id) and its (Multi)Polygon in lon/lat degrees."""

    name: str
    geometry: BaseGeometry


@dataclass(frozen=True)
class _Problem:
    """One thing wrong in an AOI file: the rows it concerns (1-based, first first), its
    text and its kind (which decides the hint): id, empty, type or invalid."""

    rows: tuple[int, ...]
    text: str
    kind: str


HINTS = {
    "id": "give every feature a unique, non-empty {column} (the dataset's `aoi_id`, "
    "--aoi-id on the command line, names the attribute that holds the ids)",
    "empty": "draw the missing geometries or remove those features",
    "type": "eotrend extracts areas: buffer points or lines into polygons, or remove them",
    "invalid": "repair invalid polygons, e.g. with shapely.make_valid, QGIS 'Fix "
    "geometries' or `ogr2ogr -makevalid`",
}


def read_aoi(path: str | Path, id_column: str | None = None, *, ids: bool = True) -> list[Feature]:
    """Read every polygon feature of a vector file, reprojected to lon/lat.

    Args:
        path: the vector file (every layer is read, in order).
        id_column: the attribute that names (identifies) each feature; every feature must
            have a value in it. None: the first of :data:`NAME_FIELDS` a feature has a
            value in, else its index (0-based).
        ids: False when the caller needs only the geometries (a union, the bounds,
            outlines on a map): features are then named by index and ids are not checked.

    Raises:
        InputError: a file OGR cannot open, no feature at all, an id column the file
            lacks, coordinates that cannot be degrees in a file without a CRS; or, in one
            message, every duplicate, empty or missing id and every feature whose geometry
            is missing, not a polygon or invalid.
    """
    path = Path(path)
    source = _open(path)
    wgs84 = osr.SpatialReference()
    wgs84.ImportFromEPSG(4326)
    wgs84.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    names: list[str | None] = []
    wkbs: list[bytes | None] = []
    problems: list[_Problem] = []
    with _quiet_gdal():  # OGR's warnings (an unclosed ring) become problems below
        for layer in source:
            transform = _transform_to(layer.GetSpatialRef(), wgs84)
            fields = _id_fields(path, layer, id_column) if ids else []
            for feature in layer:
                row = len(names) + 1
                name = _feature_id(feature, fields, id_column, row, problems) if ids else None
                wkb = _polygon_wkb(feature.GetGeometryRef(), transform)
                if isinstance(wkb, str):
                    problems.append(_Problem((row,), f"{_label(name, row)}: {wkb}", _kind(wkb)))
                    wkb = None
                names.append(name)
                wkbs.append(wkb)
    if not names:
        raise InputError(path, "holds no features", "Give a file with at least one polygon.")
    shapes = _shapes(wkbs, names, problems)
    _check_lonlat(path, names, shapes)
    _check_valid(names, shapes, problems)
    if ids:
        problems += _duplicates(names)
    if problems:
        raise _problems_error(path, problems, len(names), id_column)
    return [
        Feature(name=str(index) if name is None else name, geometry=shape)
        for index, (name, shape) in enumerate(zip(names, shapes, strict=True))
    ]


def _open(path: Path):
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
    return source


@contextlib.contextmanager
def _quiet_gdal():
    gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        yield
    finally:
        gdal.PopErrorHandler()


def _transform_to(source_srs, target_srs):
    if source_srs is None:
        return None
    source_srs = source_srs.Clone()
    source_srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    if source_srs.IsSame(target_srs):
        return None
    return osr.CoordinateTransformation(source_srs, target_srs)


def _id_fields(path: Path, layer, id_column: str | None) -> list[int]:
    """Indices of the attributes a layer's ids are read from, in order of preference."""
    definition = layer.GetLayerDefn()
    columns = [definition.GetFieldDefn(k).GetName() for k in range(definition.GetFieldCount())]
    if id_column is None:
        return [columns.index(field) for field in NAME_FIELDS if field in columns]
    if id_column in columns:
        return [columns.index(id_column)]
    close = difflib.get_close_matches(id_column, columns, n=1, cutoff=0.6)
    raise InputError(
        path,
        f"has no attribute {id_column!r} to take the feature ids from"
        + (f" (did you mean {close[0]!r}?)" if close else "")
        + f"; layer {layer.GetName()!r} has "
        + (", ".join(map(repr, columns)) if columns else "no attributes"),
        "Set the dataset's `aoi_id` (--aoi-id on the command line) to one of them, or leave "
        "it out to take ids from `name` (else the feature's index).",
    )


def _feature_id(
    feature, fields: list[int], id_column: str | None, row: int, problems: list[_Problem]
) -> str | None:
    """The feature's id (None: it has none, or an empty one, a problem when it must)."""
    for field in fields:
        if feature.IsFieldSetAndNotNull(field):
            value = str(feature.GetField(field))
            if not value.strip():
                column = feature.GetFieldDefnRef(field).GetName()
                problems.append(
                    _Problem((row,), f"row {row}: empty id (`{column}` is blank)", "id")
                )
                return None
            return value
    if id_column is not None:
        problems.append(_Problem((row,), f"row {row}: no id (`{id_column}` is not set)", "id"))
    return None


def _label(name: str | None, row: int) -> str:
    return f"row {row}" if name is None else f"feature {name!r} (row {row})"


def _kind(problem: str) -> str:
    if problem == "has no geometry":
        return "empty"
    return "type" if problem.endswith("not a polygon") else "invalid"


def _polygon_wkb(geometry, transform) -> bytes | str:
    """A feature's geometry as 2-D ISO WKB in lon/lat, or what is wrong with it."""
    if geometry is None or geometry.IsEmpty():
        return "has no geometry"
    geometry = geometry.Clone()
    if ogr.GT_IsNonLinear(geometry.GetGeometryType()):  # curves (GeoPackage): as segments
        geometry = geometry.GetLinearGeometry()
    kind = ogr.GT_Flatten(geometry.GetGeometryType())
    if kind not in (ogr.wkbPolygon, ogr.wkbMultiPolygon):
        name = GEOMETRY_NAMES.get(kind, geometry.GetGeometryName())
        return f"is a {name}, not a polygon"
    parts = (
        [geometry]
        if kind == ogr.wkbPolygon
        else [geometry.GetGeometryRef(k) for k in range(geometry.GetGeometryCount())]
    )
    for p, part in enumerate(parts):
        where = f" of part {p + 1}" if len(parts) > 1 else ""
        for r in range(part.GetGeometryCount()):
            ring = part.GetGeometryRef(r)
            which = ("outer ring" if r == 0 else f"hole {r}") + where
            count = ring.GetPointCount()
            if count < 4:
                return (
                    f"has an invalid polygon (its {which} has {count} points: a ring needs "
                    "4 or more, the first repeated last)"
                )
            if ring.GetPoint_2D(0) != ring.GetPoint_2D(count - 1):
                return f"has an invalid polygon (its {which} is not closed)"
    if transform is not None:
        try:
            geometry.Transform(transform)
        except RuntimeError as error:
            return f"has an invalid polygon (cannot be reprojected to lon/lat: {error})"
    geometry.FlattenTo2D()
    return bytes(geometry.ExportToIsoWkb())


def _shapes(
    wkbs: list[bytes | None], names: list[str | None], problems: list[_Problem]
) -> np.ndarray:
    """The geometries as shapely objects (None where a problem was found), parsed at once;
    a geometry GEOS refuses (what OGR accepted) is a problem with GEOS's reason."""
    shapes = shapely.from_wkb(np.array(wkbs, dtype=object), on_invalid="ignore")
    for index in np.flatnonzero(shapely.is_missing(shapes)):
        if wkbs[index] is not None:
            try:
                shapely.from_wkb(wkbs[index])
                reason = "unreadable"
            except shapely.errors.GEOSException as error:
                reason = str(error)
            problems.append(_invalid(names, index, reason))
    return shapes


def _check_lonlat(path: Path, names: list[str | None], shapes: np.ndarray) -> None:
    """InputError when coordinates (after any reprojection) cannot be degrees: latitudes
    beyond ±90 or longitudes beyond ±360 (past 180 is allowed, for polygons drawn across
    the antimeridian). Typically a projected file that declares no CRS: a GeoJSON without
    one is read as WGS 84 lon/lat (RFC 7946, section 4). One message for the file (its
    first such feature), not one per feature: the fix is the file's."""
    bounds = shapely.bounds(shapes)  # NaN where there is no shape
    with np.errstate(invalid="ignore"):
        wrong = (np.abs(bounds[:, [0, 2]]).max(axis=1) > 360) | (
            np.abs(bounds[:, [1, 3]]).max(axis=1) > 90
        )
    if not wrong.any():
        return
    first = int(np.flatnonzero(wrong)[0])
    west, south, east, north = bounds[first]
    others = int(wrong.sum()) - 1
    raise InputError(
        path,
        f"{_label(names[first], first + 1)} has coordinates x {west:.6g}..{east:.6g}, "
        f"y {south:.6g}..{north:.6g} "
        + (f"(and {others} other features) " if others else "")
        + "that cannot be longitude and latitude in degrees: the file looks projected (e.g. "
        "metres) but declares no coordinate reference system",
        "Reproject it to lon/lat, e.g. `ogr2ogr -s_srs EPSG:<its CRS> -t_srs EPSG:4326 "
        "aoi_lonlat.geojson <file>`, or save it as a GeoPackage or Shapefile with its CRS.",
    )


def _check_valid(names: list[str | None], shapes: np.ndarray, problems: list[_Problem]) -> None:
    """A problem for every polygon that is not valid (OGC Simple Features rules, GEOS),
    with GEOS's reason and where."""
    present = ~shapely.is_missing(shapes)
    invalid = np.flatnonzero(present & ~shapely.is_valid(shapes))
    for index, reason in zip(invalid, shapely.is_valid_reason(shapes[invalid]), strict=True):
        problems.append(_invalid(names, index, reason))


def _invalid(names: list[str | None], index: int, reason: str) -> _Problem:
    row = int(index) + 1
    return _Problem(
        (row,), f"{_label(names[index], row)}: has an invalid polygon ({reason})", "invalid"
    )


def _duplicates(names: list[str | None]) -> list[_Problem]:
    """A problem for every id that more than one feature has, with their rows."""
    rows = defaultdict(list)
    for index, name in enumerate(names):
        rows[str(index) if name is None else name].append(index + 1)
    problems = []
    for name, where in rows.items():
        if len(where) > 1:
            listed = ", ".join(map(str, where[:ROWS_LISTED]))
            more = f" and {len(where) - ROWS_LISTED} more" if len(where) > ROWS_LISTED else ""
            problems.append(
                _Problem(tuple(where), f"duplicate id {name!r} (rows {listed}{more})", "id")
            )
    return problems


def _problems_error(
    path: Path, problems: list[_Problem], total: int, id_column: str | None
) -> InputError:
    """One error for every problem of a file: how many, the first :data:`LISTED` in row
    order, and what to do about each kind found."""
    problems = sorted(problems, key=lambda p: p.rows[0])
    listed = "; ".join(p.text for p in problems[:LISTED])
    if len(problems) > LISTED:
        listed += f"; and {len(problems) - LISTED} more"
    rows = len({row for p in problems for row in p.rows})
    column = f"`{id_column}`" if id_column else "`name`"
    kinds = {p.kind for p in problems}
    hints = [HINTS[kind].format(column=column) for kind in HINTS if kind in kinds]
    many = len(problems) > 1
    return InputError(
        path,
        f"{len(problems)} problem{'s' if many else ''} in {rows} of its {total} features "
        f"(each named by its id, or by its row from 1 when it has none): {listed}",
        f"Fix {'them all' if many else 'it'}: " + "; ".join(hints) + ".",
    )


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

"""Swath geometry of a synthetic Sentinel-3 OLCI full-resolution frame (pure numpy).

The model (sizes of the real frame in tests/data/real-manifests: 4865 columns 270 m apart
across track, rows 294 m apart along it, a tie point every 64 columns):

* The nadir track is the great circle through the scene centre with the given heading
  (clockwise from north, direction of increasing row). The centre lies on it at the middle
  row ``(rows - 1) / 2`` and at the nadir column ``(columns - 1) / 2`` (an integer because
  ``columns % 64 == 1``; 2432 for 4865 columns). Rows are ``AL_SAMPLING_M`` = 294 m apart
  along the track.
* Across track, column ``c`` lies at the signed ground distance ``d(x)`` from the nadir
  point of its row, ``x = (c - c_nadir) / c_nadir`` in [-1, 1] (positive = right of the
  heading). The pixel size ``d'(c) = 270 m * (1 + EDGE_GROWTH * x**2)`` grows from 270 m at
  nadir to 324 m at the swath edges.
* Rows bend gently backwards ("smile"): a pixel at across-track distance ``d`` lags
  ``SMILE_PER_M * d**2`` metres behind its row's nadir point (about 3 km at 700 km).
* Every pixel centre is the great-circle destination, on the sphere of radius
  ``EARTH_RADIUS_M``, from its row's nadir point, itself the destination from the scene
  centre. Both steps use the vector form of the destination formula, which has no
  singularity at the poles or the antimeridian. Longitudes are wrapped to [-180, 180).
* Viewing angles are modelled on the normalised across-track position ``x`` so that any
  scene size spans the full OLCI range: OZA is the spherical-Earth zenith angle from a
  814.5 km orbit, scaled so that it is 0 at the nadir column and ``EDGE_OZA_DEG`` = 55 deg
  at ``|x| = 1``; OAA (the azimuth from the pixel towards the satellite) points back to the
  track: about heading - 90 deg right of the track (and on the nadir column) and
  heading + 90 deg left of it, wrapped to (-180, 180].
* Sun angles come from a low-precision solar ephemeris (Astronomical Almanac, about
  0.01 deg), from the UTC time of each row.

All angles in degrees; arrays are float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EARTH_RADIUS_M = 6371008.8
"""Mean Earth radius (IUGG), metres."""
AL_SAMPLING_M = 294.0
"""Along-track row spacing at nadir, metres (manifest ``alSpatialSampling``)."""
AC_SAMPLING_M = 270.0
"""Across-track pixel size at nadir, metres (manifest ``acSpatialSampling``)."""
EDGE_GROWTH = 0.2
"""Relative growth of the across-track pixel size at the swath edge (270 m -> 324 m)."""
SMILE_PER_M = 3000.0 / 700e3**2
"""Backward bend of the rows: lag in metres per squared metre of across-track distance."""
SATELLITE_ALTITUDE_M = 814.5e3
"""Sentinel-3 mean orbit altitude, metres (used for the OZA shape)."""
EDGE_OZA_DEG = 55.0
"""Observation zenith angle at the swath edges, degrees."""
J2000_UNIX_S = 946728000.0
"""2000-01-01T12:00:00 UTC in seconds since 1970-01-01 (epoch of the solar ephemeris)."""


@dataclass(frozen=True)
class Swath:
    """Parameters of one frame's geometry.

    Attributes:
        centre_lon: longitude of the centre (middle row, nadir column), degrees east.
        centre_lat: latitude of the centre, degrees north.
        heading_deg: along-track direction of increasing row at the centre, degrees
            clockwise from north.
        rows: number of image rows.
        columns: number of image columns (odd, so that the nadir column is a pixel).
    """

    centre_lon: float
    centre_lat: float
    heading_deg: float
    rows: int
    columns: int

    @property
    def nadir_column(self) -> int:
        """Index of the nadir column, ``(columns - 1) // 2``."""
        return (self.columns - 1) // 2

    @property
    def middle_row(self) -> float:
        """Fractional index of the row through the centre, ``(rows - 1) / 2``."""
        return (self.rows - 1) / 2.0


def window_indices(n: int, window: slice | np.ndarray | None) -> np.ndarray:
    """Indices (int64, 1-D) selected by ``window`` out of ``range(n)``.

    ``None`` selects everything; a slice is resolved like ``np.arange(n)[window]``; an
    integer array is checked to lie in ``[0, n)`` and returned as int64.
    """
    if window is None:
        return np.arange(n, dtype=np.int64)
    if isinstance(window, slice):
        return np.arange(n, dtype=np.int64)[window]
    idx = np.asarray(window, dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"indices outside [0, {n})")
    return idx


def _centre_frame(swath: Swath) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors at the centre: position P0, heading direction t0 and right C = t0 x P0.

    Returns three float64 arrays of shape (3,) in Earth-centred coordinates.
    """
    lon0, lat0 = np.radians(swath.centre_lon), np.radians(swath.centre_lat)
    p0 = np.array([np.cos(lat0) * np.cos(lon0), np.cos(lat0) * np.sin(lon0), np.sin(lat0)])
    east = np.array([-np.sin(lon0), np.cos(lon0), 0.0])
    north = np.array([-np.sin(lat0) * np.cos(lon0), -np.sin(lat0) * np.sin(lon0), np.cos(lat0)])
    h = np.radians(swath.heading_deg)
    t0 = np.cos(h) * north + np.sin(h) * east
    return p0, t0, np.cross(t0, p0)


def nadir_track(swath: Swath, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nadir points N, along-track unit tangents T (both (len(rows), 3)) and the right C (3,).

    The nadir track is the great circle from the centre along the heading; row ``r`` is
    ``(r - middle_row) * AL_SAMPLING_M`` metres from the centre along it.
    """
    p0, t0, right = _centre_frame(swath)
    sigma = (np.asarray(rows, dtype=np.float64) - swath.middle_row) * AL_SAMPLING_M
    sigma = sigma / EARTH_RADIUS_M
    cs, sn = np.cos(sigma)[:, None], np.sin(sigma)[:, None]
    return cs * p0 + sn * t0, -sn * p0 + cs * t0, right


def across_track_position(swath: Swath, cols: np.ndarray) -> np.ndarray:
    """Normalised across-track position x in [-1, 1] of columns ``cols`` (float64)."""
    c_nadir = swath.nadir_column
    return (np.asarray(cols, dtype=np.float64) - c_nadir) / c_nadir


def across_track_distance(swath: Swath, cols: np.ndarray) -> np.ndarray:
    """Signed ground distance (metres, float64) of columns from the nadir column.

    ``d(x) = c_nadir * AC_SAMPLING_M * (x + EDGE_GROWTH * x**3 / 3)``, whose derivative per
    column is the pixel size ``AC_SAMPLING_M * (1 + EDGE_GROWTH * x**2)``.
    """
    x = across_track_position(swath, cols)
    return swath.nadir_column * AC_SAMPLING_M * (x + EDGE_GROWTH * x**3 / 3.0)


def _column_coefficients(swath: Swath, cols: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-column weights (a, b, e) with pixel = a * N + b * T + e * C (each (len(cols),)).

    From the nadir point, the pixel is reached along the great circle of initial
    direction ``cos(beta) T + sin(beta) C`` over the angle ``delta`` where the local offset
    is (across, along) = (d, -SMILE_PER_M * d**2).
    """
    d = across_track_distance(swath, cols)
    lag = -SMILE_PER_M * d * d
    delta = np.hypot(d, lag) / EARTH_RADIUS_M
    beta = np.arctan2(d, lag)
    return np.cos(delta), np.sin(delta) * np.cos(beta), np.sin(delta) * np.sin(beta)


def unit_vectors(
    swath: Swath, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Earth-centred unit vectors (X, Y, Z), each (len(rows), len(cols)) float64."""
    nad, tan, right = nadir_track(swath, rows)
    a, b, e = _column_coefficients(swath, cols)
    return tuple(
        np.multiply.outer(nad[:, k], a) + np.multiply.outer(tan[:, k], b) + right[k] * e
        for k in range(3)
    )


def vectors_to_lonlat(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longitude in [-180, 180) and latitude (degrees, float64) of unit vectors."""
    lon = np.degrees(np.arctan2(y, x))
    lon = np.where(lon >= 180.0, lon - 360.0, lon)
    lat = np.degrees(np.arctan2(z, np.hypot(x, y)))
    return lon, lat


def lonlat(swath: Swath, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre longitude [-180, 180) and latitude, degrees, (len(rows), len(cols))."""
    return vectors_to_lonlat(*unit_vectors(swath, rows, cols))


def observation_zenith(x: np.ndarray) -> np.ndarray:
    """OZA (degrees) at normalised across-track position ``x`` (any shape).

    Spherical Earth seen from ``SATELLITE_ALTITUDE_M``: Earth central angle
    ``gamma = |x| * gamma_edge``, look angle ``eta = atan2(sin gamma, k - cos gamma)`` with
    ``k = (R + H) / R``, OZA = eta + gamma; ``gamma_edge`` makes OZA = EDGE_OZA_DEG at |x| = 1.
    """
    k = (EARTH_RADIUS_M + SATELLITE_ALTITUDE_M) / EARTH_RADIUS_M
    oza_edge = np.radians(EDGE_OZA_DEG)
    gamma_edge = oza_edge - np.arcsin(np.sin(oza_edge) / k)
    gamma = np.abs(x) * gamma_edge
    return np.degrees(gamma + np.arctan2(np.sin(gamma), k - np.cos(gamma)))


def observation_azimuth(
    swath: Swath, cols: np.ndarray, x: np.ndarray, y: np.ndarray, z: np.ndarray
) -> np.ndarray:
    """OAA (degrees, (-180, 180]) from each pixel towards the satellite's track.

    The direction is ``-s * C`` (C = the right of the track, s = +1 on and right of the
    nadir column, -1 left of it) expressed in the pixel's local east/north frame.
    (x, y, z) are the pixel unit vectors, shape (n_rows, len(cols)).
    """
    _, _, right = _centre_frame(swath)
    side = np.where(across_track_position(swath, cols) >= 0.0, -1.0, 1.0)
    rho2 = x * x + y * y
    east = -right[0] * y + right[1] * x
    north = -z * (right[0] * x + right[1] * y) + right[2] * rho2
    oaa = np.degrees(np.arctan2(side * east, side * north))
    return np.where(oaa <= -180.0, oaa + 360.0, oaa)


def subsolar_point(days_j2000: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Sun declination and subsolar longitude (radians, float64) at UTC times.

    Low-precision ephemeris of the Astronomical Almanac (about 0.01 deg until 2050);
    ``days_j2000`` = days since 2000-01-01T12:00:00 UTC, any shape.
    """
    n = np.asarray(days_j2000, dtype=np.float64)
    mean_lon = np.radians(280.460 + 0.9856474 * n)
    anomaly = np.radians(357.528 + 0.9856003 * n)
    ecl_lon = mean_lon + np.radians(1.915 * np.sin(anomaly) + 0.020 * np.sin(2 * anomaly))
    obliquity = np.radians(23.439 - 0.0000004 * n)
    right_asc = np.arctan2(np.cos(obliquity) * np.sin(ecl_lon), np.cos(ecl_lon))
    decl = np.arcsin(np.sin(obliquity) * np.sin(ecl_lon))
    gmst = np.radians(15.0 * (18.697374558 + 24.06570982441908 * n))
    return decl, right_asc - gmst


def solar_angles(
    lon: np.ndarray, lat: np.ndarray, days_j2000: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """Sun zenith and azimuth angles (degrees, float64) from :func:`subsolar_point`.

    Args:
        lon, lat: degrees, any broadcastable shapes.
        days_j2000: UTC time as days since 2000-01-01T12:00:00, broadcastable.

    Returns:
        (SZA in [0, 180], SAA clockwise from north in (-180, 180]).
    """
    decl, sub_lon = subsolar_point(days_j2000)
    hour = np.radians(lon) - sub_lon
    phi = np.radians(lat)
    cos_z = np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(hour)
    sza = np.degrees(np.arccos(np.clip(cos_z, -1.0, 1.0)))
    saa = np.degrees(
        np.arctan2(-np.sin(hour), np.tan(decl) * np.cos(phi) - np.sin(phi) * np.cos(hour))
    )
    return sza, np.where(saa <= -180.0, saa + 360.0, saa)


def cos_solar_zenith(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, days_j2000: np.ndarray | float
) -> np.ndarray:
    """cos(SZA) (float64) at Earth-centred unit vectors: their dot product with the Sun."""
    decl, sub_lon = subsolar_point(days_j2000)
    return np.cos(decl) * (np.cos(sub_lon) * x + np.sin(sub_lon) * y) + np.sin(decl) * z


def footprint(swath: Swath, per_side: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Closed ring (lon, lat; degrees, 1-D float64) along the swath edges.

    Goes down the first column, along the last row, up the last column and back along the
    first row, ``per_side`` segments per edge: ``4 * per_side + 1`` points, last = first.
    """
    r_last, c_last = swath.rows - 1, swath.columns - 1
    r = np.rint(np.linspace(0, r_last, per_side + 1)).astype(np.int64)
    c = np.rint(np.linspace(0, c_last, per_side + 1)).astype(np.int64)
    ring_rows = np.concatenate(
        [r[:-1], np.full(per_side, r_last), r[::-1][:-1], np.zeros(per_side + 1, np.int64)]
    )
    ring_cols = np.concatenate(
        [np.zeros(per_side, np.int64), c[:-1], np.full(per_side, c_last), c[::-1]]
    )
    nad, tan, right = nadir_track(swath, ring_rows)
    a, b, e = _column_coefficients(swath, ring_cols)
    vec = nad * a[:, None] + tan * b[:, None] + right * e[:, None]
    return vectors_to_lonlat(vec[:, 0], vec[:, 1], vec[:, 2])

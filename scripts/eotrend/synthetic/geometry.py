"""A scene's geometry: the swath model of :mod:`eotrend.synthetic.swath` (curvilinear
swath on the sphere) for a :class:`eotrend.synthetic.spec.SceneSpec`, at its pixels and
row times. :func:`swath_lonlat` and :func:`angles_truth` return the unpacked truth.
"""

from __future__ import annotations

import numpy as np

from eotrend.synthetic import swath as sw
from eotrend.synthetic.spec import SceneSpec, _start
from eotrend.synthetic.wfr_format import AL_TIME_SAMPLING_US


def _row_days_j2000(spec: SceneSpec, rows: np.ndarray) -> np.ndarray:
    """UTC time of rows as days since J2000 (float64, shape of ``rows``)."""
    start = _start(spec).timestamp() - sw.J2000_UNIX_S
    return (start + rows * (AL_TIME_SAMPLING_US * 1e-6)) / 86400.0


def _swath(spec: SceneSpec) -> sw.Swath:
    """The geometry parameters of a scene."""
    return sw.Swath(spec.centre_lon, spec.centre_lat, spec.heading_deg, spec.rows, spec.columns)


def swath_lonlat(
    spec: SceneSpec, rows: slice | None = None, cols: slice | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre longitude [-180, 180) and latitude of a window (degrees, float64).

    Shape (n_rows, n_cols) of the selected rows and columns; cheap for a small window (cost
    proportional to its size). ``geo_coordinates.nc`` holds these values rounded to 1e-6 deg.
    """
    g = _swath(spec)
    return sw.lonlat(g, sw.window_indices(spec.rows, rows), sw.window_indices(spec.columns, cols))


def angles_truth(
    spec: SceneSpec, rows: slice | None = None, cols: slice | None = None
) -> dict[str, np.ndarray]:
    """Full-resolution SZA, SAA, OZA, OAA (degrees, float64, (n_rows, n_cols)) of a window.

    Zenith angles in [0, 180]; azimuths clockwise from north in (-180, 180]. The tie grid
    of ``tie_geometries.nc`` holds these values at columns 64 j, rounded to 1e-6 deg.
    """
    g = _swath(spec)
    r = sw.window_indices(spec.rows, rows)
    c = sw.window_indices(spec.columns, cols)
    x, y, z = sw.unit_vectors(g, r, c)
    lon, lat = sw.vectors_to_lonlat(x, y, z)
    sza, saa = sw.solar_angles(lon, lat, _row_days_j2000(spec, r)[:, None])
    oza = np.broadcast_to(sw.observation_zenith(sw.across_track_position(g, c)), lon.shape)
    oaa = sw.observation_azimuth(g, c, x, y, z)
    return {"SZA": sza, "SAA": saa, "OZA": oza.copy(), "OAA": oaa}

"""The files written after the image pass: ``tie_geo_coordinates.nc`` (the packed
full-resolution lat/lon at every 64th column), ``tie_geometries.nc`` (the Sun and viewing
angles there) and ``time_coordinates.nc`` (the time of each row).

One tie row per row, tie column j on image column 64 j (``rowsPerTiePoint`` 1,
``columnsPerTiePoint`` 64 in the real manifests in tests/data/real-manifests); variables,
packing and attributes as ESA's EOPF mappings of real files list them
(github.com/CSC-DPR/eopf-cpm).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eotrend.synthetic.geometry import angles_truth
from eotrend.synthetic.netcdf import BLOCK_ROWS, _open, _variable
from eotrend.synthetic.packing import _AZIMUTH, _LATLON, _ZENITH
from eotrend.synthetic.spec import SceneSpec, row_time_stamps
from eotrend.synthetic.wfr_format import TIE_STEP


def _write_tie_geo(spec: SceneSpec, folder: Path, lat: np.ndarray, lon: np.ndarray) -> None:
    """tie_geo_coordinates.nc: the packed full-resolution lat/lon at columns 64 j."""
    name = "tie_geo_coordinates.nc"
    ds = _open(folder, name, spec, {"tie_columns": lat.shape[1], "tie_rows": spec.rows})
    chunks = (min(BLOCK_ROWS, spec.rows), lat.shape[1])
    try:
        for var, long_name, std, units, limit, raw in (
            ("latitude", "Latitude", "latitude", "degrees_north", 90_000_000, lat),
            ("longitude", "Longitude", "longitude", "degrees_east", 180_000_000, lon),
        ):
            v = _variable(
                ds, var, "int32", ("tie_rows", "tie_columns"), _LATLON.fill, chunks,
                {"scale_factor": 1e-6, "long_name": long_name, "standard_name": std,
                 "units": units, "valid_min": np.int32(-limit), "valid_max": np.int32(limit)},
            )  # fmt: skip
            v[:] = raw
    finally:
        ds.close()


_ANGLE_ATTRS = {
    "SZA": (_ZENITH, "Sun Zenith Angle", "solar_zenith_angle", 0, 180_000_000),
    "SAA": (_AZIMUTH, "Sun Azimuth Angle", "solar_azimuth_angle", -180_000_000, 180_000_000),
    "OZA": (_ZENITH, "Observation (Viewing) Zenith Angle", "sensor_zenith_angle", 0,
            180_000_000),
    "OAA": (_AZIMUTH, "Observation (Viewing) Azimuth Angle", "sensor_azimuth_angle",
            -180_000_000, 180_000_000),
}  # fmt: skip


def _write_tie_geometries(spec: SceneSpec, folder: Path) -> None:
    """tie_geometries.nc: :func:`angles_truth` at columns 64 j, 1e-6 deg."""
    name = "tie_geometries.nc"
    n_tie = (spec.columns - 1) // TIE_STEP + 1
    ds = _open(folder, name, spec, {"tie_columns": n_tie, "tie_rows": spec.rows})
    chunks = (min(BLOCK_ROWS, spec.rows), n_tie)
    try:
        variables = {}
        for var, (packing, long_name, std, lo, hi) in _ANGLE_ATTRS.items():
            kind = np.dtype(packing.dtype).type
            variables[var] = _variable(
                ds, var, packing.dtype, ("tie_rows", "tie_columns"), packing.fill, chunks,
                {"scale_factor": 1e-6, "long_name": long_name, "standard_name": std,
                 "units": "degrees", "valid_min": kind(lo), "valid_max": kind(hi),
                 "coordinates": "latitude longitude"},
            )  # fmt: skip
        for r0 in range(0, spec.rows, BLOCK_ROWS):
            r1 = min(spec.rows, r0 + BLOCK_ROWS)
            angles = angles_truth(spec, slice(r0, r1), slice(0, None, TIE_STEP))
            for var, v in variables.items():
                packing = _ANGLE_ATTRS[var][0]
                v[r0:r1, :] = np.rint(angles[var] * 1e6).astype(packing.dtype)
    finally:
        ds.close()


def _write_time(spec: SceneSpec, folder: Path) -> None:
    """time_coordinates.nc: time_stamp (rows) int64 µs since 2000-01-01."""
    ds = _open(folder, "time_coordinates.nc", spec, {"rows": spec.rows})
    try:
        v = _variable(
            ds, "time_stamp", "int64", ("rows",), -1, (spec.rows,),
            {"long_name": "Elapsed time since 01 Jan 2000 0h", "standard_name": "time",
             "units": "microseconds since 2000-01-01 00:00:00"},
        )  # fmt: skip
        v[:] = row_time_stamps(spec)
    finally:
        ds.close()

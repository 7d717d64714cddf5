"""Tie-point angle interpolation against the generator's full-resolution angles."""

from __future__ import annotations

import netCDF4
import numpy as np
import pytest

from eotrend.sentinel3 import angles
from eotrend.sentinel3.reader import Window
from eotrend.synthetic.geometry import angles_truth
from eotrend.synthetic.spec import SceneSpec
from support.scenes import WHEN, small_scene


def tie_angles(product):
    """The whole tie grid of SZA, SAA, OZA, OAA, decoded by netCDF4 (degrees)."""
    with netCDF4.Dataset(product / "tie_geometries.nc") as ds:
        return {k: np.ma.filled(ds[k][:].astype(np.float64), np.nan) for k in angles.ANGLES}


def difference(a, b):
    """Absolute angular difference in degrees, across the +-180 jump."""
    return np.abs((a - b + 180.0) % 360.0 - 180.0)


def scene(tmp_path, lon, lat, columns, heading, rows=6):
    product = small_scene(
        tmp_path, lon, lat, rows=rows, columns=columns, heading=heading, files={"tie_geometries.nc"}
    )
    spec = SceneSpec(lon, lat, WHEN, rows=rows, columns=columns, heading_deg=heading)
    return tie_angles(product), angles_truth(spec)


def test_full_width_scene_across_both_azimuth_wraps(tmp_path):
    """Local noon at 45 N (Sun due south, SAA around +-180) on a westward track (OAA
    around +-180 right of it, about 0 left of it): every wrap at once, 4865 columns."""
    tie, truth = scene(tmp_path, -28.03, 45.0, columns=4865, heading=270.0)
    for azimuth in ("SAA", "OAA"):
        assert (truth[azimuth] > 178).any() and (truth[azimuth] < -178).any(), azimuth
    rows, cols = np.mgrid[0:6, 0:4865]
    for zenith, azimuth in angles.PAIRS.items():
        got_z, got_a = angles.interpolate(tie[zenith], tie[azimuth], rows, cols, 64)
        np.testing.assert_allclose(got_z, truth[zenith], atol=0.01)
        defined = truth["OZA"] > 0 if azimuth == "OAA" else np.ones(rows.shape, bool)
        assert difference(got_a, truth[azimuth])[defined].max() < 0.02
        assert ((got_a > -180) & (got_a <= 180)).all()
        # At a tie column the tie values come back unchanged.
        np.testing.assert_array_equal(got_z[:, ::64], tie[zenith])
        np.testing.assert_array_equal(got_a[:, ::64], tie[azimuth])
    # Azimuths interpolated as plain numbers go through 0 between 179 and -179: the
    # comparison above would catch it.
    plain = np.interp(np.arange(4865), np.arange(0, 4865, 64), tie["SAA"][0])
    assert difference(plain, truth["SAA"][0]).max() > 90


def test_viewing_azimuth_flips_at_nadir_between_tie_columns(tmp_path):
    """321 columns: nadir (column 160) lies halfway between tie columns 128 and 192, where
    OAA jumps by 180 deg; pixels left of nadir keep the left azimuth, right ones the
    right azimuth."""
    tie, truth = scene(tmp_path, 10.0, -3.4, columns=321, heading=192.0)
    rows, cols = np.mgrid[0:6, 0:321]
    _, oaa = angles.interpolate(tie["OZA"], tie["OAA"], rows, cols, 64)
    left, right = truth["OAA"][0, 150], truth["OAA"][0, 170]
    assert difference(left, right) > 179  # the flip is in the data
    defined = truth["OZA"] > 0.5  # azimuth is undefined at OZA = 0
    assert difference(oaa, truth["OAA"])[defined].max() < 0.1
    assert difference(oaa[:, 129:160], left).max() < 1
    assert difference(oaa[:, 161:192], right).max() < 1


def test_pair_and_tie_window():
    assert angles.pair_of("OAA") == ("OZA", "OAA") and angles.pair_of("SZA") == ("SZA", "SAA")
    with pytest.raises(ValueError):
        angles.pair_of("TSM_NN")
    # Columns 100..200 need tie columns 1 (64) to 4 (256); 4864 is the last tie column.
    assert angles.tie_window(Window(5, 9, 100, 201), 64, 77) == Window(5, 9, 1, 5)
    assert angles.tie_window(Window(0, 1, 4800, 4865), 64, 77) == Window(0, 1, 75, 77)
    assert angles.tie_window(Window(0, 1, 128, 129), 64, 77) == Window(0, 1, 2, 4)

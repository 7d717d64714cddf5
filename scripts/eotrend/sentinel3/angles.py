"""Sun and viewing angles at full resolution from the tie-point grid.

``tie_geometries.nc`` holds SZA, SAA, OZA and OAA on every row and every 64th column:
tie column j sits exactly on image column ``64 j`` (``ac_subsampling_factor``), and
``al_subsampling_factor`` is 1, so only the column direction is interpolated (the
manifests in tests/data/real-manifests: ``columnsPerTiePoint`` 64, ``rowsPerTiePoint`` 1;
satpy's ``readers/olci_nc.py`` places tie points the same way).

Each (zenith, azimuth) pair is interpolated as the 3-D direction it describes,
``(sin z sin a, sin z cos a, cos z)``, linearly between the two tie columns around the
pixel, and converted back (satpy interpolates the same vectors). An azimuth is therefore
never interpolated across its +-180 deg jump (170 and -170 give 180, not 0), and the
viewing azimuth, which flips by 180 deg across the nadir column, comes out right on both
sides: the direction's horizontal part goes through zero at nadir (OZA = 0) instead of
sweeping through the azimuths in between. At a tie column the tie values come back
unchanged.
"""

from __future__ import annotations

import numpy as np

from eotrend.sentinel3.reader import Window

# Each zenith angle with its azimuth, as stored in tie_geometries.nc.
PAIRS = {"SZA": "SAA", "OZA": "OAA"}
AZIMUTHS = frozenset(PAIRS.values())
ANGLES = ("SZA", "SAA", "OZA", "OAA")


def pair_of(angle: str) -> tuple[str, str]:
    """The (zenith, azimuth) pair an angle belongs to: both are needed to interpolate it."""
    for zenith, azimuth in PAIRS.items():
        if angle in (zenith, azimuth):
            return zenith, azimuth
    raise ValueError(f"{angle!r} is not one of {ANGLES}")


def tie_window(window: Window, step: int, tie_columns: int) -> Window:
    """The tie-grid window (rows, tie columns) whose columns bracket every image column of
    ``window``: from the tie column at or left of ``col0`` to the one at or right of
    ``col1 - 1``."""
    return Window(
        window.row0,
        window.row1,
        window.col0 // step,
        min(tie_columns, (window.col1 - 1) // step + 2),
    )


def interpolate(
    zenith: np.ndarray,
    azimuth: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    step: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Zenith and azimuth angles of image pixels from their tie grid.

    Args:
        zenith, azimuth: (n_rows, n_tie) degrees on a tie grid window (float64, NaN where
            missing); its column j sits on image column ``j * step`` counted from the
            window's first tie column.
        rows: row of each pixel in the tie window (int, any shape).
        cols: image column of each pixel counted from the window's first tie column
            (int, same shape, in ``[0, (n_tie - 1) * step]``).
        step: image columns between tie columns (64 for FR).

    Returns:
        zenith in [0, 180] and azimuth in (-180, 180], degrees, float64, shape of ``rows``.
    """
    rows = np.asarray(rows)
    cols = np.asarray(cols)
    last = zenith.shape[1] - 1
    left = np.minimum(cols // step, last)
    right = np.minimum(left + 1, last)
    frac = (cols - left * step) / step
    z0, a0 = zenith[rows, left], azimuth[rows, left]
    x0, y0, h0 = _direction(z0, a0)
    x1, y1, h1 = _direction(zenith[rows, right], azimuth[rows, right])
    x = (1.0 - frac) * x0 + frac * x1
    y = (1.0 - frac) * y0 + frac * y1
    h = (1.0 - frac) * h0 + frac * h1
    zen = np.degrees(np.arctan2(np.hypot(x, y), h))
    azi = np.degrees(np.arctan2(x, y))
    azi = np.where(azi <= -180.0, azi + 360.0, azi)
    on_tie = frac == 0.0
    return np.where(on_tie, z0, zen), np.where(on_tie, a0, azi)


def _direction(zenith: np.ndarray, azimuth: np.ndarray) -> tuple[np.ndarray, ...]:
    """East, north and up components of the unit vector at ``zenith``, ``azimuth`` (deg)."""
    z = np.radians(zenith)
    a = np.radians(azimuth)
    return np.sin(z) * np.sin(a), np.sin(z) * np.cos(a), np.cos(z)

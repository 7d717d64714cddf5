"""Single change point per pixel: the Pettitt (1979) test, vectorised over pixels.

For a pixel's n valid values in time order, ``U_k = sum_{i<=k} sum_{j>k} sign(x_i - x_j)``
(k = 1..n-1; ``U_k = 2 sum_{i<=k} r_i - k (n + 1)`` with r the ranks, ties averaged),
``K = max_k |U_k|`` at the first k where it is reached, and the approximate two-sided
p-value ``2 exp(-6 K^2 / (n^3 + n^2))`` (Pettitt 1979, eq. 2.4), as pyhomogeneity's
``pettitt_test(x, sim=None)`` (which does not cap it; here it is capped at 1).

Bands:

- ``break_time``: time of the first observation after the change (x_(k+1)), in the time
  unit of the trend (decimal years: a step in 2005 gives 2005.x).
- ``break_pvalue``: the p-value above.
- ``break_shift``: mean of the values after the change minus the mean before (units of
  the values).

Pixels with fewer than ``min_obs`` valid values, or with K = 0 (no change at all, e.g. a
constant series), get NaN time and shift (p = 1 for K = 0).
"""

from __future__ import annotations

import numpy as np

from eotrend.stats import mannkendall

BREAK_NAMES = ("break_time", "break_pvalue", "break_shift")
# Pairs x pixels per chunk, as the robust statistics.
_CHUNK_VALUES = 2**18


def pettitt(t: np.ndarray, y: np.ndarray, *, min_obs: int = 3) -> dict[str, np.ndarray]:
    """The Pettitt change point of every pixel (module docstring).

    Args:
        t: (n,) time of each observation, finite (bands with equal times keep their
            order in ``y``).
        y: (n, ...) observations, NaN = missing; any float dtype.
        min_obs: fewest valid values for a pixel to get statistics (>= 2).

    Returns:
        A dict keyed by :data:`BREAK_NAMES` of float64 arrays of shape ``y.shape[1:]``.
    """
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y)
    if t.ndim != 1 or y.shape[:1] != t.shape or not np.all(np.isfinite(t)):
        raise ValueError(f"t must be finite (n,) and y (n, ...); got {t.shape}, {y.shape}")
    if min_obs < 2:
        raise ValueError(f"min_obs must be at least 2, got {min_obs}")
    order = np.argsort(t, kind="stable")
    t = t[order]
    flat = y.reshape(y.shape[0], -1)
    n, m = flat.shape
    pair = mannkendall.pairs(n)
    out = np.full((len(BREAK_NAMES), m), np.nan)
    width = max(2, _CHUNK_VALUES // max(pair.first.size, 1))
    for a in range(0, m, width):
        values = np.array(flat[order, a : a + width].T, dtype=np.float64, order="C")
        out[:, a : a + width] = _pettitt_chunk(values, t, pair, min_obs)
    return {name: out[i].reshape(y.shape[1:]) for i, name in enumerate(BREAK_NAMES)}


def _pettitt_chunk(
    values: np.ndarray, t: np.ndarray, pair: mannkendall.Pairs, min_obs: int
) -> np.ndarray:
    """Pettitt's statistics of ``values`` (k pixels, n times, float64) -> (3, k)."""
    k, n = values.shape
    valid = ~np.isnan(values)
    nobs = np.count_nonzero(valid, axis=1)
    # sum_j sign(x_i - x_j) = 2 r_i - (n + 1), 0 for missing values: the running sum at a
    # missing value repeats the one at the valid value before it.
    u = np.cumsum(pair.sign_sums(pair.differences(values)), axis=1)
    strength = np.abs(u)
    last = np.argmax(strength, axis=1)  # first maximum: a valid position when K > 0
    rows = np.arange(k)
    big_k = strength[rows, last]
    nv = nobs.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p = np.minimum(1.0, 2.0 * np.exp(-6.0 * big_k**2 / (nv**3 + nv**2)))
    after = valid & (np.arange(n) > last[:, None])
    first_after = np.argmax(after, axis=1)
    time = t[first_after]
    filled = np.where(valid, values, 0.0)
    before_sum = np.cumsum(filled, axis=1)[rows, last]
    before_n = np.cumsum(valid, axis=1)[rows, last]
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = (filled.sum(axis=1) - before_sum) / (nobs - before_n) - before_sum / before_n
    none = big_k == 0
    time[none] = np.nan
    shift[none] = np.nan
    result = np.stack([time, p, shift])
    result[:, nobs < min_obs] = np.nan
    return result

"""Per-pixel reference statistics, the oracles of eotrend.stats.regression: scipy's
linregress and theilslopes, and a direct O(n^2) Mann-Kendall test with ties, each pixel
in a Python loop."""

from __future__ import annotations

import numpy as np
from scipy import stats

from eotrend.stats.regression import ROBUST_NAMES, STAT_NAMES


def linregress_per_pixel(t: np.ndarray, y: np.ndarray, min_obs: int) -> dict[str, np.ndarray]:
    """The oracle: scipy.stats.linregress on each pixel's valid values (a loop over pixels)."""
    out = {name: np.full(y.shape[1], np.nan) for name in STAT_NAMES}
    for j in range(y.shape[1]):
        valid = ~np.isnan(y[:, j])
        out["nobs"][j] = valid.sum()
        tv, yv = t[valid], y[valid, j]
        if valid.sum() < min_obs or tv.max() == tv.min():
            continue  # scipy raises on identical times; ols gives NaN
        res = stats.linregress(tv, yv)
        for name in STAT_NAMES[:-1]:
            out[name][j] = getattr(res, name)
    return out


def mann_kendall_oracle(y: np.ndarray) -> tuple[float, float]:
    """Mann-Kendall tau and two-sided p of a series in time order: the textbook double loop
    (Hipel and McLeod 1994; pymannkendall's original_test), ties in y corrected."""
    n = len(y)
    s = sum(np.sign(y[j] - y[i]) for i in range(n) for j in range(i + 1, n))
    _, counts = np.unique(y, return_counts=True)
    var_s = (n * (n - 1) * (2 * n + 5) - sum(c * (c - 1) * (2 * c + 5) for c in counts)) / 18
    z = 0.0 if s == 0 else (s - np.sign(s)) / np.sqrt(var_s)
    return s / (n * (n - 1) / 2), 2.0 * stats.norm.sf(abs(z))


def robust_per_pixel(t: np.ndarray, y: np.ndarray, min_obs: int) -> dict[str, np.ndarray]:
    """The oracle: scipy.stats.theilslopes and the double loop on each pixel's valid values."""
    out = {name: np.full(y.shape[1], np.nan) for name in ROBUST_NAMES}
    order = np.argsort(t, kind="stable")
    for j in range(y.shape[1]):
        tv, yv = t[order], y[order, j]
        valid = ~np.isnan(yv)
        tv, yv = tv[valid], yv[valid]
        if valid.sum() < min_obs or tv.max() == tv.min():
            continue  # theilslopes has no pair with different times
        res = stats.theilslopes(yv, tv)
        out["sen_slope"][j], out["sen_intercept"][j] = res.slope, res.intercept
        out["mk_tau"][j], out["mk_pvalue"][j] = mann_kendall_oracle(yv)
    return out

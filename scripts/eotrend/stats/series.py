"""Trend statistics of one series at a time: a lake's per-scene statistic over time.

The per-pixel functions (:mod:`eotrend.stats.regression`, :mod:`eotrend.stats.mannkendall`)
fit blocks of pixels that share one time axis and hold, for the Mann-Kendall family, every
pair of observations against every observation (a (pairs, n) matrix: 6 GB for n = 1000).
A lake's series has its own times (the scenes that saw it) and can be thousands of scenes
long, so :func:`fit` takes one series and keeps only its pair differences (8 bytes per
pair: 4 MB for n = 1000), with the same definitions, number for number:

- least squares: :func:`regression.ols` (the numbers of ``scipy.stats.linregress``) and,
  with ``ci``, :func:`regression.slope_interval`;
- Theil-Sen slope and intercept (``scipy.stats.theilslopes``), with ``ci`` Sen's rank
  interval (:func:`regression.sen_interval`);
- Mann-Kendall tau and the two-sided p of the chosen test
  (:data:`mannkendall.TESTS`): S and its tie-corrected variance from the pair
  differences and the sizes of the groups of tied values (pymannkendall's
  ``original_test``), the Hamed-Rao factor from the ranks of the detrended series
  (:func:`mannkendall.hamed_rao_ranked`), Yue-Wang's from its autocorrelation, the
  pre-whitened series of :func:`mannkendall.whitened`;
- with seasons, the seasonal Kendall test and seasonal Sen slope of
  :func:`seasonal.seasonal_kendall` (its pairs are those of a season's years: few).

Detrending uses the observations' own times, as the per-pixel statistics do.
"""

from __future__ import annotations

import numpy as np

from eotrend.stats import mannkendall, regression, seasonal

OLS_NAMES = tuple(name for name in regression.STAT_NAMES if name != "nobs")


def names(*, ci: float = 0.0, seasonal_test: bool = False) -> tuple[str, ...]:
    """The statistics :func:`fit` returns, in order: least squares (with ``ci`` its
    interval), Theil-Sen and Mann-Kendall (with ``ci`` Sen's interval), seasonal."""
    out = OLS_NAMES + (regression.INTERVAL_NAMES if ci else ())
    out += regression.robust_names(ci)
    if seasonal_test:
        out += seasonal.SEASONAL_NAMES
    return out


def fit(
    t: np.ndarray,
    y: np.ndarray,
    *,
    min_obs: int = 3,
    test: str = "original",
    lags: int = 0,
    ci: float = 0.0,
    cells: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, float]:
    """The trend statistics of one series (module docstring).

    Args:
        t: (n,) time of each observation (decimal years or days), finite, any order.
        y: (n,) values; NaN = missing (dropped).
        min_obs: fewest valid values for statistics (>= 2); fewer give NaN everywhere.
        test: the Mann-Kendall test of ``mk_pvalue`` (:data:`mannkendall.TESTS`).
        lags: autocorrelation lags of hamed_rao and yue_wang (0 = the test's own).
        ci: confidence level of the slope intervals; 0 = none.
        cells: (cycle, season) of each observation (:func:`seasonal.cells`) for the
            seasonal statistics; None = none.

    Returns:
        :func:`names` -> float (NaN where undefined: too few values, or all at one time).
    """
    if test not in mannkendall.TESTS:
        raise ValueError(f"unknown test {test!r}; expected one of {mannkendall.TESTS}")
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if t.shape != y.shape or t.ndim != 1 or not np.all(np.isfinite(t)):
        raise ValueError(f"t and y must be (n,) with finite t; got {t.shape} and {y.shape}")
    keep = np.flatnonzero(~np.isnan(y))
    order = keep[np.argsort(t[keep], kind="stable")]
    tv, yv = t[order], y[order]
    out = dict.fromkeys(names(ci=ci, seasonal_test=cells is not None), np.nan)
    if yv.size < max(min_obs, 2) or tv[0] == tv[-1]:
        return out
    ols = regression.ols(tv, yv[:, None], min_obs=min_obs)
    out.update({name: float(ols[name][0]) for name in OLS_NAMES})
    if ci:
        low, high = regression.slope_interval(ols["slope"], ols["stderr"], ols["nobs"], ci)
        out.update(slope_low=float(low[0]), slope_high=float(high[0]))
    out.update(_robust(tv, yv, test=test, lags=lags, ci=ci))
    if cells is not None:
        cycle, season = (np.asarray(c)[order] for c in cells)
        found = seasonal.seasonal_kendall(cycle, season, yv[:, None], min_obs=min_obs)
        out.update({name: float(value[0]) for name, value in found.items()})
    return out


def _robust(t: np.ndarray, y: np.ndarray, *, test: str, lags: int, ci: float) -> dict:
    """Theil-Sen and Mann-Kendall statistics of a series in time order, without NaN."""
    n = y.size
    dy, dt = _pair_differences(y), _pair_differences(t)
    s = float(mannkendall.sign_sum(dy[None])[0])
    ties_y = _tie_correction(y)
    var_s = float(mannkendall.variance(np.array([n]), np.array([ties_y]))[0])
    distinct = dt > 0  # the pairs Theil-Sen uses (t is sorted: dt >= 0)
    slopes = (dy[distinct] / dt[distinct])[None]
    del dy, dt
    count = np.array([slopes.shape[1]])
    sen_slope = float(regression.sorted_median(slopes, count)[0])  # sorts slopes
    out = {
        "sen_slope": sen_slope,
        "sen_intercept": float(np.median(y) - sen_slope * np.median(t)),
        "mk_tau": s / (0.5 * n * (n - 1.0)),
        "mk_pvalue": _mk_pvalue(test, t, y, sen_slope, s, var_s, lags),
    }
    if ci:
        ties = np.array([ties_y + _tie_correction(t)])
        low, high = regression.sen_interval(slopes, count, np.array([n]), ties, ci)
        out.update(sen_slope_low=float(low[0]), sen_slope_high=float(high[0]))
    return out


def _mk_pvalue(
    test: str, t: np.ndarray, y: np.ndarray, slope: float, s: float, var_s: float, lags: int
) -> float:
    """Two-sided p of Mann-Kendall ``test`` (as :func:`mannkendall.modified_pvalue`)."""
    n = np.array([y.size])
    if test in ("prewhiten", "trend_free_prewhiten"):
        trend = None if test == "prewhiten" else np.array([slope])
        white = mannkendall.whitened(y[None], t[None], n, trend)[0]
        white = white[~np.isnan(white)]
        s = float(mannkendall.sign_sum(_pair_differences(white)[None])[0])
        ties = np.array([_tie_correction(white)])
        var_s = float(mannkendall.variance(np.maximum(n - 1, 0), ties)[0])
    elif test != "original":
        detrended = y - t * slope
        if test == "hamed_rao":
            factor = mannkendall.hamed_rao_ranked(_centred_ranks(detrended)[None], n, lags=lags)
        else:
            factor = mannkendall.yue_wang_factor(detrended[None], n, lags=lags or 1)
        var_s = var_s * float(factor[0])
    z = mannkendall.z_score(np.array([s]), np.array([var_s]))
    return float(mannkendall.two_sided_p(z)[0])


def _pair_differences(x: np.ndarray) -> np.ndarray:
    """``x[j] - x[i]`` for every pair i < j (lag by lag; the order of the pairs does not
    matter to what is made of them) -> (n (n - 1) / 2,) float64."""
    if x.size < 2:
        return np.empty(0)
    return np.concatenate([x[lag:] - x[:-lag] for lag in range(1, x.size)])


def _tie_correction(x: np.ndarray) -> float:
    """``sum_g t_g (t_g - 1) (2 t_g + 5)`` over the groups of equal values of ``x``
    (the variance correction of pymannkendall and Kendall 1975), exact."""
    counts = np.unique(x, return_counts=True)[1].astype(np.float64)
    return float(np.sum(counts * (counts - 1.0) * (2.0 * counts + 5.0)))


def _centred_ranks(x: np.ndarray) -> np.ndarray:
    """Each value's rank among ``x`` (1-based, ties averaged) minus ``(n + 1) / 2``: the
    halved sign sums of :func:`mannkendall.hamed_rao_factor`, exactly."""
    order = np.argsort(x, kind="stable")
    _, first, counts = np.unique(x[order], return_index=True, return_counts=True)
    ranks = np.empty(x.size)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return ranks - (x.size + 1) / 2.0

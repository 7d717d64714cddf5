"""Mann-Kendall trend tests on blocks of pixels: the score S with its tie-corrected
variance, and the variants for serially correlated series, vectorised over pixels.

Every function takes a block of pixels as rows: ``values`` (k pixels, n observations)
float64 in time order, NaN = missing. A pixel's series is its valid values in time order
(missing ones dropped, as pymannkendall drops NaN); "lag" counts valid observations.

Tests (``TESTS``), with pymannkendall's function of the same definitions:

- ``original``: Mann (1945), Kendall (1975), variance corrected for ties in the values
  (``original_test``).
- ``hamed_rao``: Hamed and Rao (1998) variance correction from the autocorrelation of the
  ranks of the detrended series, only lags whose autocorrelation lies outside
  ``+-Phi^-1(1 - alpha/2) / sqrt(n)`` counted (``hamed_rao_modification_test``).
- ``yue_wang``: Yue and Wang (2004) effective-sample-size correction from the
  autocorrelation of the detrended values, lag 1 unless told otherwise
  (``yue_wang_modification_test(x, lag=1)``).
- ``prewhiten``: the test on the pre-whitened series ``x_i - r1 x_(i-1)`` (von Storch
  1995; ``pre_whitening_modification_test``).
- ``trend_free_prewhiten``: Yue et al. (2002) trend-free pre-whitening: the Sen trend is
  removed, the residuals pre-whitened with their lag-1 autocorrelation, the trend added
  back (``trend_free_pre_whitening_modification_test``).

The detrended series is ``x_i - beta * t_i`` with beta the pixel's Sen slope and t_i the
observation's own time (pymannkendall's time axis is the position 1..n; for a series
without gaps and t = 1..n the two are the same number for number; where values are
missing pymannkendall detrends by the positions of the remaining values, eotrend by their
times). Autocorrelations are pymannkendall's: ``r_L = c_L / c_0`` with
``c_L = sum_i (x_i - mean)(x_(i+L) - mean) / n``.
"""

from __future__ import annotations

import functools

import numpy as np

TESTS = ("original", "hamed_rao", "yue_wang", "prewhiten", "trend_free_prewhiten")


class Pairs:
    """All pairs ``i < j`` of n observations (in time order) and their incidence.

    Attributes:
        first, second: (P,) int64 indices, P = n (n - 1) / 2, row-major (pymannkendall's
            and scipy's order).
        incidence: (P, n) float64, 1 where a pair touches an observation.
        signed: (P, n) float32, +1 at the pair's second observation, -1 at its first.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.first, self.second = np.triu_indices(n, k=1)
        rows = np.arange(self.first.size)
        self.incidence = np.zeros((self.first.size, n))
        self.incidence[rows, self.first] = 1.0
        self.incidence[rows, self.second] = 1.0
        self.signed = np.zeros((self.first.size, n), dtype=np.float32)
        self.signed[rows, self.first] = -1.0
        self.signed[rows, self.second] = 1.0

    def differences(self, values: np.ndarray) -> np.ndarray:
        """``values[:, j] - values[:, i]`` for every pair -> (k, P); NaN where either is."""
        # np.take is several times faster than fancy indexing along axis 1.
        return np.take(values, self.second, axis=1) - np.take(values, self.first, axis=1)

    def sign_sums(self, dy: np.ndarray) -> np.ndarray:
        """``sum_j sign(x_i - x_j)`` over the other valid values j of each value i, from
        the pair differences ``dy`` (k, P) (NaN pairs count nowhere) -> (k, n) float64:
        ``2 r_i - (n + 1)`` with r_i the average rank of value i; 0 for missing values.
        (Small integers: exact in float32, whose matrix product is the fastest.)"""
        signs = (dy > 0).view(np.int8) - (dy < 0).view(np.int8)
        return (signs.astype(np.float32) @ self.signed).astype(np.float64)


@functools.cache
def pairs(n: int) -> Pairs:
    """The (cached) :class:`Pairs` of n observations."""
    return Pairs(n)


def tie_correction(tied: np.ndarray, incidence: np.ndarray) -> np.ndarray:
    """``sum_g t_g (t_g - 1) (2 t_g + 5)`` over the groups of tied values of each row.

    Args:
        tied: (k, P) bool, pairs whose two values are equal (both valid).
        incidence: (P, n) of :class:`Pairs`.

    Returns:
        (k,) float64, exact (small integers): ``18 (tied pairs) + 2 sum_i e_i (e_i - 1)``
        with e_i the number of other values equal to value i.
    """
    ties = np.count_nonzero(tied, axis=1)
    correction = 18.0 * ties
    rows = np.flatnonzero(ties)
    if rows.size:
        e = tied[rows].astype(np.float64) @ incidence
        correction[rows] += 2.0 * np.einsum("ij,ij->i", e, e - 1.0)
    return correction


def score(dy: np.ndarray, nobs: np.ndarray, incidence: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mann-Kendall S and its variance from the pair differences of each row.

    Args:
        dy: (k, P) later minus earlier value of every pair, NaN where either is missing.
        nobs: (k,) valid values per row.
        incidence: (P, n) of the pairs.

    Returns:
        s (k,) float64 (whole numbers), var_s (k,) float64 (:func:`variance`) and the tie
        correction of the values (k,) (:func:`tie_correction`).
    """
    correction = tie_correction(dy == 0, incidence)
    return sign_sum(dy), variance(nobs, correction), correction


def sign_sum(dy: np.ndarray) -> np.ndarray:
    """``S = sum sign(dy)`` of each row (k, P), NaN pairs counted nowhere -> (k,) float64."""
    return (np.count_nonzero(dy > 0, axis=1) - np.count_nonzero(dy < 0, axis=1)).astype(np.float64)


def variance(nobs: np.ndarray, correction: np.ndarray) -> np.ndarray:
    """var S = ``(n (n-1) (2n+5) - correction) / 18`` (exact numerator) -> (k,) float64."""
    n = nobs.astype(np.float64)
    return (n * (n - 1.0) * (2.0 * n + 5.0) - correction) / 18.0


def z_score(s: np.ndarray, var_s: np.ndarray) -> np.ndarray:
    """``(S - sign S) / sqrt(var S)`` (continuity correction), 0 where S = 0; NaN where
    the variance is negative (a corrected variance can be) and S is not 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s == 0, 0.0, (s - np.sign(s)) / np.sqrt(var_s))


def two_sided_p(z: np.ndarray) -> np.ndarray:
    """``2 Phi(-|z|)``: pymannkendall's ``2 (1 - Phi(|z|))`` without its cancellation
    for small p (its p below about 1e-16 is 0 or a multiple of 2.2e-16)."""
    from scipy import special

    return 2.0 * special.ndtr(-np.abs(z))


def compact(values: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's valid values moved to the front, in time order.

    Returns:
        values (k, n) float64 with the NaN at the end of each row, their times (k, n) (the
        times of missing values follow, unused), and the valid count per row (k,) int64.
    """
    missing = np.isnan(values)
    order = np.argsort(missing, axis=1, kind="stable")
    return (
        np.take_along_axis(values, order, axis=1),
        t[order],
        np.count_nonzero(~missing, axis=1),
    )


def _max_lag(nobs: np.ndarray, lags: int) -> np.ndarray:
    """Largest lag counted per row: ``n - 1``, or ``lags`` when smaller (lags 0 = all)."""
    top = np.maximum(nobs - 1, 0)
    return top if lags == 0 else np.minimum(top, lags)


def _autocovariance_sums(y: np.ndarray, top: int) -> np.ndarray:
    """``sum_i y_i y_(i+L)`` for L = 0..top of each row of ``y`` (k, n) -> (k, top + 1).
    (Zeros past a row's valid values add nothing.)

    Summed over the observations with the pixels along the fast axis (numpy then adds
    term after term for each pixel: the same sums for any k >= 2, and several times
    faster than row sums of a few values; a lone pixel would be summed pairwise, so it
    is summed beside a copy of itself).
    """
    if y.shape[0] == 1:
        return _autocovariance_sums(np.repeat(y, 2, axis=0), top)[:1]
    yt = np.ascontiguousarray(y.T)
    out = np.empty((top + 1, y.shape[0]))
    out[0] = np.sum(yt * yt, axis=0)
    for lag in range(1, top + 1):
        out[lag] = np.sum(yt[:-lag] * yt[lag:], axis=0)
    return np.ascontiguousarray(out.T)


def _centred(x: np.ndarray, nobs: np.ndarray) -> np.ndarray:
    """Compacted rows minus their mean over the valid values; 0 past them."""
    valid = np.arange(x.shape[1]) < nobs[:, None]
    filled = np.where(valid, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.sum(filled, axis=1) / nobs
    return np.where(valid, x - mean[:, None], 0.0)


def hamed_rao_factor(
    detrended: np.ndarray, nobs: np.ndarray, *, lags: int = 0, alpha: float = 0.05
) -> np.ndarray:
    """Hamed and Rao's (1998) ratio n / n* by which var S is multiplied.

    ``1 + 2 / (n (n-1) (n-2)) * sum_L (n-L) (n-L-1) (n-L-2) r_L`` over the lags L = 1..n-1
    (or 1..``lags``) whose autocorrelation r_L of the ranks of the detrended series lies
    outside ``+-Phi^-1(1 - alpha/2) / sqrt(n)`` (pymannkendall; ranks of ties averaged).
    NaN for n < 3, and where the ranks do not vary (all detrended values equal) unless
    no lag is counted.

    Args:
        detrended: (k, n) compacted detrended values (NaN after each row's valid ones).
        nobs: (k,) valid values per row.
        lags: lags counted (0 = all).
        alpha: significance level of the autocorrelation filter.
    """
    pair = pairs(detrended.shape[1])
    # Each value's sum of sign(x_i - x_j): its rank minus the mean rank (n + 1) / 2, twice.
    y = pair.sign_sums(pair.differences(detrended)) * 0.5
    return hamed_rao_ranked(y, nobs, lags=lags, alpha=alpha)


def hamed_rao_ranked(
    y: np.ndarray, nobs: np.ndarray, *, lags: int = 0, alpha: float = 0.05
) -> np.ndarray:
    """:func:`hamed_rao_factor` from the centred ranks ``y`` (k, n) of the detrended
    series: each valid value's rank (ties averaged) minus ``(nobs + 1) / 2``, 0 past the
    row's valid values. (A long single series ranks its values by sorting, in memory of
    n, instead of comparing all pairs.)"""
    from scipy import special

    k = y.shape[0]
    nv = nobs.astype(np.float64)
    top = _max_lag(nobs, lags)
    sums = _autocovariance_sums(y, int(top.max(initial=0)))
    lag = np.arange(1, sums.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        bound = (special.ndtri(1.0 - alpha / 2.0) / np.sqrt(nv))[:, None]
        r = (sums[:, 1:] / nv[:, None]) / (sums[:, :1] / nv[:, None])
        counted = (lag <= top[:, None]) & ~((r <= bound) & (r >= -bound))
        m = nv[:, None] - lag
        terms = np.where(counted, m * (m - 1.0) * (m - 2.0) * r, 0.0)
        # Summed lag after lag (cumsum is sequential), as pymannkendall's loop.
        total = np.cumsum(terms, axis=1)[:, -1] if lag.size else np.zeros(k)
        return 1.0 + (2.0 / (nv * (nv - 1.0) * (nv - 2.0))) * total


def yue_wang_factor(detrended: np.ndarray, nobs: np.ndarray, *, lags: int = 0) -> np.ndarray:
    """Yue and Wang's (2004) ratio n / n* by which var S is multiplied:
    ``1 + 2 sum_L (1 - L/n) r_L`` over lags L = 1..n-1 (or 1..``lags``), r_L the
    autocorrelation of the detrended values (pymannkendall). NaN where they do not vary.

    Args:
        detrended: (k, n) compacted detrended values (NaN after each row's valid ones).
        nobs: (k,) valid values per row.
        lags: lags counted (0 = all).
    """
    nv = nobs.astype(np.float64)
    top = _max_lag(nobs, lags)
    last = int(top.max(initial=0))
    sums = _autocovariance_sums(_centred(detrended, nobs), last)
    lag = np.arange(1, last + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (sums[:, 1:] / nv[:, None]) / (sums[:, :1] / nv[:, None])
        terms = np.where(lag <= top[:, None], (1.0 - lag / nv[:, None]) * r, 0.0)
    return 1.0 + 2.0 * np.sum(terms, axis=1)


def lag1_autocorrelation(x: np.ndarray, nobs: np.ndarray) -> np.ndarray:
    """r_1 of each compacted row (pymannkendall's ``__acf(x, 1)[1]``); NaN if constant."""
    sums = _autocovariance_sums(_centred(x, nobs), 1)
    nv = nobs.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (sums[:, 1] / nv) / (sums[:, 0] / nv)


def whitened(
    x: np.ndarray, times: np.ndarray, nobs: np.ndarray, slope: np.ndarray | None
) -> np.ndarray:
    """The pre-whitened series of :func:`whitened_score`: (k, n - 1), NaN past each
    row's ``nobs - 1`` values (every value NaN where r1 is)."""
    series = x if slope is None else x - times * slope[:, None]
    r1 = lag1_autocorrelation(series, nobs)
    white = series[:, 1:] - series[:, :-1] * r1[:, None]
    if slope is not None:
        white = white + times[:, 1:] * slope[:, None]
    valid = np.arange(white.shape[1]) < (nobs - 1)[:, None]
    return np.where(valid, white, np.nan)  # NaN r1 leaves every value NaN: S = 0, p = 1


def whitened_score(
    x: np.ndarray, times: np.ndarray, nobs: np.ndarray, slope: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """S and var S of the pre-whitened series (n - 1 values per row).

    Without ``slope``: ``x_i - r1 x_(i-1)``, r1 the lag-1 autocorrelation of x
    (pre-whitening). With it (trend-free pre-whitening, Yue et al. 2002): the residuals
    ``e_i = x_i - slope t_i`` are whitened, ``e_i - r1 e_(i-1)`` with r1 of e, and the trend
    ``slope t_i`` added back (at the later time of each pair; pymannkendall adds it at the
    positions 1..n-1, the same S for a regular series).

    Args:
        x: (k, n) compacted values; times: (k, n) their times; nobs: (k,) valid counts.
        slope: (k,) Sen slope per unit of time, or None.
    """
    white = whitened(x, times, nobs, slope)
    pair = pairs(white.shape[1])
    s, var_s, _ = score(pair.differences(white), np.maximum(nobs - 1, 0), pair.incidence)
    return s, var_s


def modified_pvalue(
    test: str,
    values: np.ndarray,
    t: np.ndarray,
    slope: np.ndarray,
    s: np.ndarray,
    var_s: np.ndarray,
    *,
    lags: int = 0,
    alpha: float = 0.05,
) -> tuple[np.ndarray, np.ndarray]:
    """z and two-sided p of Mann-Kendall ``test`` for each row.

    Args:
        test: one of :data:`TESTS`.
        values: (k, n) float64 in time order, NaN = missing.
        t: (n,) times, sorted.
        slope: (k,) the rows' Sen slopes per unit of t (detrending).
        s, var_s: (k,) the original test's S and tie-corrected variance.
        lags: autocorrelation lags counted by hamed_rao and yue_wang; 0 = each test's
            own: hamed_rao all lags (n - 1, its filter keeps the significant ones; Hamed
            and Rao 1998, pymannkendall's lag=None), yue_wang lag 1 (Yue and Wang 2004
            assume AR(1); pymannkendall's lag=1: its default of all lags lets the
            weighted sum of sample autocorrelations, which nearly cancel, shrink var S
            and doubles the false positives).
        alpha: significance level of Hamed and Rao's autocorrelation filter.

    Returns:
        z (k,) and p (k,) float64.
    """
    if test not in TESTS:
        raise ValueError(f"unknown Mann-Kendall test {test!r}; expected one of {TESTS}")
    if test == "original":
        z = z_score(s, var_s)
        return z, two_sided_p(z)
    x, times, nobs = compact(values, t)
    if test in ("prewhiten", "trend_free_prewhiten"):
        s, var_s = whitened_score(x, times, nobs, slope if test != "prewhiten" else None)
    else:
        detrended = x - times * slope[:, None]
        if test == "hamed_rao":
            factor = hamed_rao_factor(detrended, nobs, lags=lags, alpha=alpha)
        else:
            factor = yue_wang_factor(detrended, nobs, lags=lags or 1)
        var_s = var_s * factor
    z = z_score(s, var_s)
    return z, two_sided_p(z)

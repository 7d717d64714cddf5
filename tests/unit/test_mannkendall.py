"""The Mann-Kendall variants (eotrend.stats.mannkendall through regression.theil_sen_mann_kendall)
pixel by pixel against pymannkendall, the package users compare against: random series
with ties, missing values and AR(1) autocorrelation; and the size check (how often each
test calls a trend-free AR(1) series significant)."""

from __future__ import annotations

import warnings

import numpy as np
import pymannkendall as pmk
import pytest
from pymannkendall import pymannkendall as pmk_module

from eotrend.stats import mannkendall, regression

PMK = {
    "original": pmk.original_test,
    "hamed_rao": pmk.hamed_rao_modification_test,
    "yue_wang": lambda x, lag=None: pmk.yue_wang_modification_test(x, lag=lag or 1),
    "prewhiten": pmk.pre_whitening_modification_test,
    "trend_free_prewhiten": pmk.trend_free_pre_whitening_modification_test,
}
# pymannkendall's p is 2 (1 - Phi(|z|)): absolute error about 2e-16 (ours: 2 Phi(-|z|)).
P_ATOL = 1e-14
P_RTOL = 1e-9


def ar1(n: int, m: int, phi: float, rng: np.random.Generator) -> np.ndarray:
    """(n, m) stationary AR(1) series x_i = phi x_(i-1) + e_i, e ~ N(0, 1)."""
    x = np.empty((n, m))
    x[0] = rng.normal(size=m) / np.sqrt(1.0 - phi**2)
    for i in range(1, n):
        x[i] = phi * x[i - 1] + rng.normal(size=m)
    return x


def pmk_pvalues(test: str, y: np.ndarray, lags: int = 0) -> np.ndarray:
    """The oracle: pymannkendall's test on each pixel (column), NaN dropped by it."""
    func = PMK[test]
    kwargs = {"lag": lags} if lags and test in ("hamed_rao", "yue_wang") else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its sqrt of a negative variance
        return np.array([func(y[:, j], **kwargs).p for j in range(y.shape[1])])


def assert_pvalues_match(test: str, t: np.ndarray, y: np.ndarray, want: np.ndarray, **kw):
    got = regression.theil_sen_mann_kendall(t, y, test=test, **kw)["mk_pvalue"]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=test)
    ok = ~np.isnan(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=P_RTOL, atol=P_ATOL, err_msg=test)


@pytest.mark.parametrize("test", mannkendall.TESTS)
@pytest.mark.parametrize("phi", [0.0, 0.3, 0.6, 0.9])
def test_every_variant_equals_pymannkendall_on_ar1_series(test: str, phi: float) -> None:
    """Regular series (t = 1..n, pymannkendall's time axis), AR(1) noise with several phi
    and a random trend, lengths 5-40: the p-value of every test equals pymannkendall's."""
    rng = np.random.default_rng(int(phi * 10))
    for n in (5, 12, 21, 40):
        t = np.arange(1.0, n + 1)
        y = ar1(n, 60, phi, rng) + rng.normal(0, 0.1, 60) * t[:, None]
        assert_pvalues_match(test, t, y, pmk_pvalues(test, y))


@pytest.mark.parametrize("test", ["original", "hamed_rao", "yue_wang"])
def test_ties_equal_pymannkendall(test: str) -> None:
    """Values rounded to 0.1 (many ties in the values and in the ranks of the detrended
    series): tie corrections and average ranks as pymannkendall's."""
    rng = np.random.default_rng(1)
    for n in (8, 21):
        t = np.arange(1.0, n + 1)
        y = np.round(ar1(n, 150, 0.5, rng) + 0.05 * t[:, None], 1)
        assert_pvalues_match(test, t, y, pmk_pvalues(test, y))


@pytest.mark.parametrize("test", ["prewhiten", "trend_free_prewhiten"])
def test_ties_in_prewhitened_series_equal_pymannkendall(test: str) -> None:
    """Repeated pairs of values give exact ties in the pre-whitened series. (Rounded data
    would also give ties that only the last bit of r1 decides, which no two
    implementations share: 0.9 - 0.9 r1 = 1.3 - 0.3 r1 at r1 = -2/3.)"""
    rng = np.random.default_rng(2)
    n, m = 21, 150
    t = np.arange(1.0, n + 1)
    y = ar1(n, m, 0.4, rng) + 0.05 * t[:, None]
    y[[12, 13]] = y[[4, 5]]  # (x_4, x_5) = (x_12, x_13): whitened x_5 = whitened x_13
    y[17] = y[2]
    assert_pvalues_match(test, t, y, pmk_pvalues(test, y))


@pytest.mark.parametrize("lags", [1, 3, 100])
@pytest.mark.parametrize("test", ["hamed_rao", "yue_wang"])
def test_lag_limits_equal_pymannkendall(test: str, lags: int) -> None:
    """lags = N counts lags 1..N as pymannkendall's lag=N; more lags than the series has
    (where pymannkendall fails with an IndexError) count all n - 1."""
    rng = np.random.default_rng(3)
    n = 15
    t = np.arange(1.0, n + 1)
    y = ar1(n, 80, 0.7, rng)
    want = pmk_pvalues(test, y, lags=min(lags, n - 1))
    assert_pvalues_match(test, t, y, want, lags=lags)


@pytest.mark.parametrize("test", mannkendall.TESTS)
def test_trailing_missing_values_equal_pymannkendall(test: str) -> None:
    """pymannkendall drops NaN; where only the last values are missing its positions
    1..n of the remaining values are their times, and every test agrees."""
    rng = np.random.default_rng(4)
    n, m = 21, 120
    t = np.arange(1.0, n + 1)
    y = ar1(n, m, 0.5, rng) + rng.normal(0, 0.05, m) * t[:, None]
    cut = rng.integers(n - 12, n + 1, m)
    y[np.arange(n)[:, None] >= cut] = np.nan
    assert_pvalues_match(test, t, y, pmk_pvalues(test, y))


def pmk_with_own_times(test: str, t: np.ndarray, x: np.ndarray) -> float:
    """pymannkendall's test body built from its own functions, with one change: the
    detrended series is x_i - beta t_i at each value's time (pymannkendall subtracts beta
    times the positions 1..n of the values left after dropping NaN, so a gap in the
    middle shifts its trend line; its Sen slope beta uses the original positions)."""
    private = {name: getattr(pmk_module, f"__{name}") for name in ("acf", "mk_score")}
    variance_s, z_score = getattr(pmk_module, "__variance_s"), getattr(pmk_module, "__z_score")
    ok = ~np.isnan(x)
    tv, xv, n = t[ok], x[ok], int(ok.sum())
    slope = pmk.sens_slope(x).slope  # t = 1..n: the original positions are the times
    s, var_s = private["mk_score"](xv, n), variance_s(xv, n)
    detrended = xv - tv * slope
    if test == "hamed_rao":
        from scipy.stats import norm, rankdata

        acf = private["acf"](rankdata(detrended), nlags=n - 1)
        bound = norm.ppf(1 - 0.05 / 2) / np.sqrt(n)
        sni = sum(
            (n - i) * (n - i - 1) * (n - i - 2) * acf[i]
            for i in range(1, n)
            if not -bound <= acf[i] <= bound
        )
        var_s *= 1 + (2 / (n * (n - 1) * (n - 2))) * sni
    elif test == "yue_wang":
        var_s *= 1 + 2 * (1 - 1 / n) * private["acf"](detrended, nlags=1)[1]
    else:  # trend_free_prewhiten
        r1 = private["acf"](detrended, nlags=1)[1]
        white = detrended[1:] - detrended[:-1] * r1 + tv[1:] * slope
        s, var_s = private["mk_score"](white, n - 1), variance_s(white, n - 1)
    z = z_score(s, var_s)
    return 2 * (1 - pmk_module.norm.cdf(abs(z)))


@pytest.mark.parametrize("test", ["hamed_rao", "yue_wang", "trend_free_prewhiten"])
def test_missing_values_anywhere_detrend_by_time(test: str) -> None:
    """Missing values at the start and in the middle: the detrending tests use each
    value's own time (pymannkendall's steps otherwise, built from its functions)."""
    rng = np.random.default_rng(5)
    n, m = 21, 100
    t = np.arange(1.0, n + 1)
    y = ar1(n, m, 0.5, rng) + rng.normal(0, 0.05, m) * t[:, None]
    y[rng.random((n, m)) < 0.2] = np.nan
    with np.errstate(invalid="ignore"):
        want = np.array([pmk_with_own_times(test, t, y[:, j]) for j in range(m)])
    assert_pvalues_match(test, t, y, want)


def test_prewhiten_missing_values_anywhere_equal_pymannkendall() -> None:
    """Pre-whitening does not detrend: NaN anywhere, pymannkendall's own function."""
    rng = np.random.default_rng(6)
    n, m = 21, 100
    t = 1995.0 + np.arange(n)  # and the time axis does not matter to it
    y = ar1(n, m, 0.6, rng)
    y[rng.random((n, m)) < 0.2] = np.nan
    assert_pvalues_match("prewhiten", t, y, pmk_pvalues("prewhiten", y))


def test_negative_corrected_variance_gives_nan_like_pymannkendall() -> None:
    """pymannkendall issue #29: Hamed-Rao's corrected variance can be negative; the
    p-value is then NaN there and here (and z = 0, p = 1, when S = 0)."""
    series = [0.35257984, 0.38692909, 0.39669828, 0.36296244, 0.42035612, 0.39374964,
              0.41100085, 0.43182076, 0.40815853, 0.45394297, 0.41584767, 0.47399517]  # fmt: skip
    y = np.array(series)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(pmk.hamed_rao_modification_test(series).p)
    got = regression.theil_sen_mann_kendall(np.arange(1.0, 13), y, test="hamed_rao")
    assert np.isnan(got["mk_pvalue"][0]) and np.isfinite(got["sen_slope"][0])
    constant = np.full((6, 1), 0.5)
    got = regression.theil_sen_mann_kendall(np.arange(6.0), constant, test="yue_wang")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its 0 / 0 autocorrelation
        want = pmk.yue_wang_modification_test(constant[:, 0]).p
    assert got["mk_pvalue"][0] == 1.0 == want


@pytest.mark.parametrize("test", mannkendall.TESTS)
def test_a_pixel_alone_equals_the_pixel_in_a_block(test: str) -> None:
    """Bit-identical p-values whether a pixel is fitted alone, in a block of 2, or among
    300 (the trend stage's windows and tiles cut the raster anywhere)."""
    rng = np.random.default_rng(7)
    n, m = 21, 300
    t = 1995.5 + np.arange(n)
    y = ar1(n, m, 0.6, rng) + 0.02 * (t[:, None] - 2000)
    y[rng.random((n, m)) < 0.1] = np.nan
    whole = regression.theil_sen_mann_kendall(t, y, test=test)["mk_pvalue"]
    for j in (0, 17, 299):
        alone = regression.theil_sen_mann_kendall(t, y[:, j : j + 1], test=test)
        assert alone["mk_pvalue"][0] == whole[j] or np.isnan(whole[j])
    pair = regression.theil_sen_mann_kendall(t, y[:, 40:42], test=test)["mk_pvalue"]
    np.testing.assert_array_equal(pair, whole[40:42])


def test_unknown_test_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown test"):
        regression.theil_sen_mann_kendall(np.arange(5.0), np.zeros((5, 2)), test="sen")


def test_size_on_trend_free_ar1_pixels() -> None:
    """10,000 trend-free AR(1) pixels (phi = 0.5, n = 21 yearly values, fixed seed): how
    often p < 0.05. The original test is fooled by the autocorrelation (about 22 %);
    pre-whitening holds the level (about 5.5 %); Yue-Wang (lag 1) removes part of the
    excess (about 14 %: r1 of 21 values is biased low, E r1 ~ 0.38); Hamed-Rao with
    pymannkendall's filter barely changes it (about 23 %: the lag-1 autocorrelation of
    21 ranks rarely passes the 1.96 / sqrt(21) = 0.43 filter); trend-free pre-whitening
    over-rejects (about 25 %; Bayazit and Onoz 2007)."""
    rng = np.random.default_rng(17)
    n, m = 21, 10_000
    t = np.arange(1.0, n + 1)
    y = ar1(n, m, 0.5, rng)
    rate = {
        test: float(np.mean(regression.theil_sen_mann_kendall(t, y, test=test)["mk_pvalue"] < 0.05))
        for test in mannkendall.TESTS
    }
    assert 0.18 < rate["original"] < 0.27
    assert 0.04 < rate["prewhiten"] < 0.07
    assert 0.10 < rate["yue_wang"] < rate["original"] - 0.05
    assert 0.18 < rate["hamed_rao"] < 0.28
    assert rate["trend_free_prewhiten"] > rate["prewhiten"] + 0.1

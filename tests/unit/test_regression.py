"""eotrend.stats.regression against oracles, pixel by pixel: scipy.stats.linregress,
scipy's Student t, scipy.stats.theilslopes, a direct O(n^2) Mann-Kendall test with ties;
hand-computed dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from eotrend.stats.regression import (
    ROBUST_NAMES,
    STAT_NAMES,
    decimal_year,
    ols,
    slope_interval,
    student_t_pvalue,
    theil_sen_mann_kendall,
)
from support.oracles import linregress_per_pixel, mann_kendall_oracle, robust_per_pixel

RTOL = 1e-9
P_ATOL = 1e-12


def assert_matches_scipy(t: np.ndarray, y: np.ndarray, min_obs: int = 3) -> dict:
    """Every statistic equal to the oracle within RTOL of its natural scale per pixel.

    The scale of slope and intercept is the pixel's spread of y over spread of t (and that
    times the mean |t| plus |mean y| for the intercept), of rvalue 1: a statistic near zero
    is only known to that absolute precision, by scipy as much as by ols.
    """
    got = ols(t, y, min_obs=min_obs)
    want = linregress_per_pixel(t, y, min_obs)
    assert list(got) == list(STAT_NAMES)
    scale_slope = np.ones(y.shape[1])
    scale_intercept = np.ones(y.shape[1])
    for j in range(y.shape[1]):
        valid = ~np.isnan(y[:, j])
        if valid.sum() >= 2 and np.ptp(t[valid]) > 0:
            ratio = (np.std(y[valid, j]) or 1.0) / np.std(t[valid])
            scale_slope[j] = ratio
            scale_intercept[j] = abs(np.mean(y[valid, j])) + ratio * np.mean(np.abs(t[valid]))
    scales = {"slope": scale_slope, "intercept": scale_intercept, "rvalue": 1.0}
    for name in STAT_NAMES:
        assert got[name].dtype == np.float64
        assert got[name].shape == y.shape[1:]
        np.testing.assert_array_equal(np.isnan(got[name]), np.isnan(want[name]), err_msg=name)
        ok = ~np.isnan(want[name])
        # An absolute floor: a p-value near 0 (n = 3, an almost perfect fit) is known to
        # about 1e-16 absolute by both, not to RTOL relative.
        floor = P_ATOL if name == "pvalue" else 0.0
        tol = RTOL * np.maximum(np.abs(want[name]), scales.get(name, 0.0))[ok] + floor
        err = np.abs(got[name][ok] - want[name][ok])
        assert np.all(err <= tol), f"{name}: worst {np.max(err / np.maximum(tol, 1e-300))} x tol"
    return got


def years_around_2000(n: int, rng: np.random.Generator) -> np.ndarray:
    return 2000.0 + np.sort(rng.uniform(-5, 15, n))


def test_random_stack_with_scattered_nan_and_edge_pixels() -> None:
    rng = np.random.default_rng(1)
    n, m = 21, 400
    t = years_around_2000(n, rng)
    y = 0.4 + 0.01 * (t[:, None] - 2000) * rng.normal(size=m) + rng.normal(0, 0.05, (n, m))
    y[rng.random((n, m)) < 0.2] = np.nan
    y[:, 0] = np.nan  # all missing
    y[:, 1] = np.nan
    y[[2, 9, 17], 1] = [0.3, 0.5, 0.4]  # exactly min_obs valid values
    y[:, 2] = np.nan
    y[[3, 4], 2] = [0.3, 0.5]  # one fewer than min_obs
    y[:, 3] = np.where(rng.random(n) < 0.3, np.nan, 0.625)  # constant y (exact mean)
    got = assert_matches_scipy(t, y)
    assert np.all(np.isnan([got[k][0] for k in STAT_NAMES[:-1]])) and got["nobs"][0] == 0
    assert got["nobs"][1] == 3 and np.isfinite(got["slope"][1])
    assert got["nobs"][2] == 2 and np.isnan(got["slope"][2])
    assert got["slope"][3] == 0.0 and got["intercept"][3] == 0.625 and np.isnan(got["rvalue"][3])


def test_no_variance_in_time_gives_nan() -> None:
    t = np.array([2001.0, 2001.0, 2001.0, 2002.0, 2003.0])
    y = np.array([[0.1, 0.2, 0.3, np.nan, np.nan], [0.1, 0.2, 0.3, 0.4, 0.5]]).T
    got = ols(t, y)
    assert got["nobs"].tolist() == [3.0, 5.0]
    assert all(np.isnan(got[k][0]) for k in STAT_NAMES[:-1])
    assert np.isfinite(got["slope"][1])
    assert_matches_scipy(t, y)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_perfect_fit(sign: float) -> None:
    t = 2000.0 + np.arange(10.0)
    y = np.repeat((1.0 + sign * 0.5 * np.arange(10.0))[:, None], 3, axis=1)
    y[[1, 6], 1] = np.nan
    got = assert_matches_scipy(t, y)
    np.testing.assert_array_equal(got["rvalue"], sign)
    np.testing.assert_array_equal(got["stderr"], 0.0)
    np.testing.assert_array_equal(got["intercept_stderr"], 0.0)
    assert np.all(got["pvalue"] < 1e-50)  # scipy keeps t finite (1e-20 guard)
    np.testing.assert_allclose(got["slope"], sign * 0.5, rtol=1e-15)


def test_two_observations_like_scipy() -> None:
    t = np.array([2000.0, 2001.5, 2003.0])
    y = np.array([[0.2, np.nan, 0.7], [0.3, 0.3, np.nan], [np.nan, np.nan, 0.4]]).T
    got = assert_matches_scipy(t, y, min_obs=2)
    assert got["pvalue"].tolist()[:2] == [0.0, 1.0]
    assert got["stderr"].tolist()[:2] == [0.0, 0.0]
    assert abs(got["rvalue"][0]) == pytest.approx(1.0, abs=1e-15)
    assert np.isnan(got["rvalue"][1]) and got["slope"][1] == 0.0


@pytest.mark.parametrize("spread", [1e-3, 1e-6, 1e-9])
def test_large_time_offset_and_tiny_variance(spread: float) -> None:
    rng = np.random.default_rng(2)
    n, m = 25, 200
    t = decimal_year([date(1995, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 7300, n)])
    y = 0.7 + spread * (0.05 * (t[:, None] - 2005) + rng.normal(size=(n, m)))
    y[rng.random((n, m)) < 0.1] = np.nan
    assert_matches_scipy(t, y)


def test_float32_input_and_trailing_shape() -> None:
    rng = np.random.default_rng(3)
    t = years_around_2000(12, rng)
    y = rng.normal(size=(12, 5, 7)).astype(np.float32)
    y[rng.random(y.shape) < 0.1] = np.nan
    got = ols(t, y)
    assert all(v.shape == (5, 7) and v.dtype == np.float64 for v in got.values())
    flat = ols(t, y.reshape(12, -1).astype(np.float64))
    for name in STAT_NAMES:
        np.testing.assert_array_equal(got[name].ravel(), flat[name])
    assert_matches_scipy(t, y.reshape(12, -1).astype(np.float64))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 30),
    m=st.integers(1, 40),
    nan_fraction=st.sampled_from([0.0, 0.1, 0.5, 0.9]),
    min_obs=st.integers(2, 5),
    offset=st.sampled_from([0.0, 1995.0, 2010.5]),
    duplicate_times=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_shapes_and_nan_patterns(
    n: int,
    m: int,
    nan_fraction: float,
    min_obs: int,
    offset: float,
    duplicate_times: bool,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    t = offset + (rng.integers(0, 8, n) if duplicate_times else rng.uniform(0, 20, n))
    t = t.astype(np.float64)
    y = rng.normal(size=(n, m)) + rng.normal(size=m) * (t[:, None] - offset)
    y[rng.random((n, m)) < nan_fraction] = np.nan
    assert_matches_scipy(t, y, min_obs=min_obs)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="min_obs"):
        ols(np.arange(3.0), np.zeros((3, 2)), min_obs=1)
    with pytest.raises(ValueError, match="t must be"):
        ols(np.arange(3.0), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="finite"):
        ols(np.array([0.0, np.nan, 2.0]), np.zeros((3, 2)))


def test_decimal_year_hand_computed() -> None:
    got = decimal_year(
        [
            datetime(2020, 7, 2),  # leap year: 183 days gone of 366
            date(2021, 1, 1),
            datetime(2021, 12, 31, 12),  # 364.5 days gone of 365
            datetime(2021, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),  # 00:00 UTC
            datetime(2019, 3, 1, 6, tzinfo=UTC),  # 59.25 days gone of 365
        ]
    )
    assert got.dtype == np.float64
    assert got.tolist() == [2020.5, 2021.0, 2021 + 364.5 / 365, 2021.0, 2019 + 59.25 / 365]
    with pytest.raises(TypeError):
        decimal_year(["2020-01-01"])  # type: ignore[list-item]


def test_chunking_never_changes_a_pixel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bit-identical statistics whatever the chunk width (1-wide pieces included), so any
    block decomposition of a raster gives the same file."""
    rng = np.random.default_rng(4)
    n, m = 21, 301
    t = years_around_2000(n, rng)
    y = (0.5 + 0.01 * t[:, None] + rng.normal(0, 0.02, (n, m))).astype(np.float32)
    y[rng.random((n, m)) < 0.1] = np.nan
    y[:, 5] = np.nan
    whole = ols(t, y)
    robust = theil_sen_mann_kendall(t, y)
    for name in STAT_NAMES:
        single = np.concatenate([ols(t, y[:, j : j + 1])[name] for j in range(m)])
        np.testing.assert_array_equal(single, whole[name], err_msg=name)
    for width in (2, 3, 64):
        monkeypatch.setattr("eotrend.stats.regression._CHUNK_VALUES", width * n)
        monkeypatch.setattr(
            "eotrend.stats.regression._ROBUST_CHUNK_VALUES", width * n * (n - 1) // 2
        )
        for a, b in ((0, m), (0, 1), (7, 8), (100, 301)):
            part, part_robust = ols(t, y[:, a:b]), theil_sen_mann_kendall(t, y[:, a:b])
            for name in STAT_NAMES:
                np.testing.assert_array_equal(part[name], whole[name][a:b], err_msg=name)
            for name in ROBUST_NAMES:
                np.testing.assert_array_equal(part_robust[name], robust[name][a:b], err_msg=name)


def test_repeated_times() -> None:
    """Bands sharing a date: a pixel valid only on those bands has no variance in time."""
    t = np.array([2001.0, 2001.0, 2002.0, 2002.0, 2003.5])
    y = np.array(
        [
            [0.1, 0.3, np.nan, np.nan, np.nan],  # two values, one time
            [0.1, 0.3, 0.2, np.nan, np.nan],  # two times
            [np.nan, np.nan, 0.2, 0.25, np.nan],
            [0.1, 0.3, 0.2, 0.6, 0.4],
        ]
    ).T
    got = assert_matches_scipy(t, y, min_obs=2)
    assert np.isnan(got["slope"][[0, 2]]).all() and np.isfinite(got["slope"][[1, 3]]).all()


# -- Student t ---------------------------------------------------------------------------


def test_student_t_pvalue_equals_scipy() -> None:
    t = np.concatenate([[0.0, 1e-300, 1e-7], np.logspace(-3, 10.5, 2000), [np.inf, -3.0]])
    for nu in [*range(1, 60), 99, 100, 250, 1001]:
        df = np.full(t.shape, float(nu))
        got = student_t_pvalue(t, df)
        want = 2.0 * special.stdtr(df, -np.abs(t))
        assert got.dtype == np.float64
        # scipy rounds 1 - 2e-11 to 1 near t = 0 for nu = 1 (hence 1e-10) and flushes
        # p-values in the subnormal range (below 2e-308) to 0.
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300, err_msg=f"df {nu}")
    got = student_t_pvalue(np.array([[2.0, np.nan], [2.0, 2.0]]), np.array([3.0, np.nan]))
    assert got.shape == (2, 2)
    assert np.isnan(got[0, 1]) and np.isnan(got[1, 1]) and got[1, 0] == got[0, 0]
    with pytest.raises(ValueError, match="whole"):
        student_t_pvalue(np.array([1.0]), np.array([2.5]))
    with pytest.raises(ValueError, match="whole"):
        student_t_pvalue(np.array([1.0]), np.array([0.0]))


# -- Theil-Sen and Mann-Kendall -----------------------------------------------------------


def assert_robust_matches(t: np.ndarray, y: np.ndarray, min_obs: int = 3) -> dict:
    got = theil_sen_mann_kendall(t, y, min_obs=min_obs)
    want = robust_per_pixel(t, y, min_obs)
    assert list(got) == list(ROBUST_NAMES)
    for name in ROBUST_NAMES:
        assert got[name].dtype == np.float64 and got[name].shape == y.shape[1:]
        np.testing.assert_allclose(got[name], want[name], rtol=RTOL, atol=1e-300, err_msg=name)
    return got


def test_robust_on_a_stack_with_ties_nan_and_edge_pixels() -> None:
    rng = np.random.default_rng(6)
    n, m = 21, 300
    t = 1995.5 + np.arange(n)
    y = 0.4 + 0.01 * (t[:, None] - 2000) * rng.normal(size=m) + rng.normal(0, 0.05, (n, m))
    y[:, : m // 2] = np.round(y[:, : m // 2], 1)  # many ties
    y[rng.random((n, m)) < 0.2] = np.nan
    y[:, 0] = np.nan  # all missing
    y[:, 1] = np.nan
    y[[2, 9, 17], 1] = [0.3, 0.5, 0.4]  # exactly min_obs valid values
    y[:, 2] = np.nan
    y[[3, 4], 2] = [0.3, 0.5]  # one fewer than min_obs
    y[:, 3] = np.where(rng.random(n) < 0.3, np.nan, 0.1)  # constant: all pairs tied
    got = assert_robust_matches(t, y)
    assert np.isnan([got[k][0] for k in ROBUST_NAMES]).all()
    assert np.isfinite([got[k][1] for k in ROBUST_NAMES]).all()
    assert np.isnan([got[k][2] for k in ROBUST_NAMES]).all()
    assert got["sen_slope"][3] == 0.0 and got["mk_tau"][3] == 0.0 and got["mk_pvalue"][3] == 1.0


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 25),
    m=st.integers(1, 30),
    nan_fraction=st.sampled_from([0.0, 0.2, 0.6]),
    min_obs=st.integers(2, 4),
    decimals=st.sampled_from([None, 1, 2]),
    duplicate_times=st.booleans(),
    shuffled=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_robust_random_shapes_ties_and_time_orders(
    n: int,
    m: int,
    nan_fraction: float,
    min_obs: int,
    decimals: int | None,
    duplicate_times: bool,
    shuffled: bool,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    t = 2000.0 + (rng.integers(0, 6, n) if duplicate_times else np.arange(n) * 0.5)
    if shuffled:
        t = rng.permutation(t)
    y = rng.normal(size=(n, m)) + rng.normal(size=m) * (t[:, None] - 2000.0)
    if decimals is not None:
        y = np.round(y, decimals)
    y[rng.random((n, m)) < nan_fraction] = np.nan
    assert_robust_matches(t.astype(np.float64), y, min_obs=min_obs)


def test_mann_kendall_oracle_hand_computed() -> None:
    # 1 2 2 3: S = 5 (one tied pair), var = (4*3*13 - 2*1*9) / 18 = 7.667, z = 4 / 2.769
    tau, p = mann_kendall_oracle(np.array([1.0, 2.0, 2.0, 3.0]))
    assert tau == pytest.approx(5 / 6)
    assert p == pytest.approx(2 * stats.norm.sf(4 / np.sqrt(138 / 18)))


# -- confidence intervals of the slopes ------------------------------------------------


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_ols_slope_interval_equals_scipy(level: float) -> None:
    """slope -+ t_(n-2)(1 - (1 - level) / 2) * stderr with scipy.stats.linregress' stderr
    and scipy.stats.t.ppf, per pixel; NaN with fewer than 3 observations."""
    rng = np.random.default_rng(8)
    n, m = 15, 200
    t = years_around_2000(n, rng)
    y = 0.01 * t[:, None] * rng.normal(size=m) + rng.normal(0, 0.1, (n, m))
    y[rng.random((n, m)) < 0.3] = np.nan
    y[2:, 0] = np.nan  # two values
    fit = ols(t, y, min_obs=2)
    low, high = slope_interval(fit["slope"], fit["stderr"], fit["nobs"], level)
    assert np.isnan(low[0]) and np.isnan(high[0])
    for j in range(1, m):
        ok = ~np.isnan(y[:, j])
        res = stats.linregress(t[ok], y[ok, j])
        half = stats.t.ppf(1 - (1 - level) / 2, ok.sum() - 2) * res.stderr
        assert low[j] == pytest.approx(res.slope - half, rel=1e-9, abs=1e-12)
        assert high[j] == pytest.approx(res.slope + half, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("level", [0.9, 0.95])
def test_sen_slope_interval_equals_theilslopes(level: float) -> None:
    """theilslopes' low_slope and high_slope (Sen 1968 eq. 2.6 with ties in t and y,
    ranks rounded half to even), exactly: ties in y (rounded values), repeated dates
    (ties in t), NaN, short series."""
    rng = np.random.default_rng(9)
    n, m = 18, 300
    t = 2000.0 + np.sort(rng.integers(0, 14, n)).astype(np.float64)  # repeated years
    y = rng.normal(size=(n, m)) + rng.normal(0, 0.2, m) * (t[:, None] - 2000)
    y[:, : m // 2] = np.round(y[:, : m // 2], 1)
    y[rng.random((n, m)) < 0.2] = np.nan
    y[4:, 0] = np.nan
    got = theil_sen_mann_kendall(t, y, ci=level)
    for j in range(m):
        ok = ~np.isnan(y[:, j])
        if ok.sum() < 3 or np.ptp(t[ok]) == 0:
            assert np.isnan(got["sen_slope_low"][j])
            continue
        res = stats.theilslopes(y[ok, j], t[ok], alpha=level)
        assert got["sen_slope_low"][j] == res.low_slope
        assert got["sen_slope_high"][j] == res.high_slope

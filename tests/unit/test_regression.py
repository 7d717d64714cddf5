"""eotrend.regression against scipy.stats.linregress, pixel by pixel, and hand-computed dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from eotrend.regression import STAT_NAMES, decimal_year, ols

RTOL = 1e-9


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
        tol = RTOL * np.maximum(np.abs(want[name]), scales.get(name, 0.0))[ok]
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

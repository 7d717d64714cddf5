"""Seasonal Kendall (eotrend.stats.seasonal) against pymannkendall's seasonal_test and
seasonal_sens_slope; Pettitt (eotrend.stats.breaks) against pyhomogeneity's pettitt_test and a
direct double sum; Benjamini-Hochberg q-values (eotrend.stats.fdr) against statsmodels."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyhomogeneity
import pymannkendall as pmk
import pytest
from statsmodels.stats.multitest import multipletests

from eotrend.stats import breaks, fdr, regression, seasonal


def test_seasonal_equals_pymannkendall_on_a_regular_monthly_series() -> None:
    """A monthly series of 8 years (cells = years x 12 months, row-major: the regular
    series pymannkendall's seasonal_test(x, period=12) expects), 20 % of cells missing,
    values rounded to 0.1 (ties within seasons), a seasonal cycle and a trend."""
    rng = np.random.default_rng(0)
    years, period, m = 8, 12, 200
    cycle = np.repeat(2001 + np.arange(years), period)
    season = np.tile(np.arange(period), years)
    y = (
        np.sin(season * np.pi / 6)[:, None]
        + rng.normal(0, 0.3, m) * (cycle - 2001)[:, None]
        + rng.normal(size=(years * period, m))
    )
    y = np.round(y, 1)
    y[rng.random(y.shape) < 0.2] = np.nan
    got = seasonal.seasonal_kendall(cycle, season, y)
    for j in range(m):
        test = pmk.seasonal_test(y[:, j], period=period)
        assert got["seasonal_pvalue"][j] == pytest.approx(test.p, rel=1e-9, abs=1e-14)
        assert got["seasonal_tau"][j] == test.Tau
        assert got["seasonal_sen_slope"][j] == pmk.seasonal_sens_slope(y[:, j], period).slope


def test_irregular_dates_map_to_cells_by_month_with_medians() -> None:
    """Per-scene dates: several scenes in one month of one year count as their median
    (Hirsch et al. use one value per season and year); the oracle is pymannkendall on the
    regular series of those medians. December counts with the next year's DJF."""
    rng = np.random.default_rng(1)
    moments, cells_of = [], []
    for year in range(2016, 2022):
        for month in (1, 4, 7, 10):
            for day in sorted(rng.choice(np.arange(1, 29), rng.integers(1, 4), replace=False)):
                moments.append(datetime(year, month, int(day), 10, tzinfo=UTC))
                cells_of.append((year - 2016) * 4 + (month - 1) // 3)
    y = rng.normal(size=(len(moments), 50)) + 0.1 * np.array([m.year for m in moments])[:, None]
    y[rng.random(y.shape) < 0.15] = np.nan
    groups = [[1], [4], [7], [10]]
    cycle, season = seasonal.cells(moments, groups)
    assert cycle.tolist() == [m.year for m in moments] and season.max() == 3
    got = seasonal.seasonal_kendall(cycle, season, y)
    cells_of = np.array(cells_of)
    for j in range(50):
        regular = np.full(24, np.nan)
        for c in range(24):
            values = y[cells_of == c, j]
            if np.isfinite(values).any():
                regular[c] = np.nanmedian(values)
        want = pmk.seasonal_test(regular, period=4)
        assert got["seasonal_pvalue"][j] == pytest.approx(want.p, rel=1e-9, abs=1e-14)
        assert got["seasonal_sen_slope"][j] == pmk.seasonal_sens_slope(regular, 4).slope
    december = [datetime(2019, 12, 15, tzinfo=UTC), datetime(2020, 2, 1, tzinfo=UTC)]
    assert seasonal.cells(december, "season")[0].tolist() == [2020, 2020]
    assert seasonal.cells(december, [[11, 12, 1]])[1].tolist() == [0, -1]


def test_bad_season_groups() -> None:
    with pytest.raises(ValueError, match="more than one group"):
        seasonal.month_groups([[1, 2], [2, 3]])
    with pytest.raises(ValueError, match="1-12"):
        seasonal.month_groups([[13]])


def pettitt_oracle(t: np.ndarray, x: np.ndarray) -> tuple[float, float, float]:
    """Pettitt from its definition: U_k = sum_{i<=k} sum_{j>k} sign(x_i - x_j), a double
    loop over the valid values; (time after the change, p capped at 1, mean shift)."""
    ok = ~np.isnan(x)
    tv, xv = t[ok], x[ok]
    n = xv.size
    u = [sum(np.sign(xv[i] - xv[j]) for i in range(k) for j in range(k, n)) for k in range(1, n)]
    k = int(np.argmax(np.abs(u))) + 1  # values in the first segment
    big_k = abs(u[k - 1])
    p = min(1.0, 2 * np.exp(-6 * big_k**2 / (n**3 + n**2)))
    if big_k == 0:
        return np.nan, p, np.nan
    return tv[k], p, xv[k:].mean() - xv[:k].mean()


def test_pettitt_equals_its_definition_and_pyhomogeneity() -> None:
    """Steps of random size at random years in noise rounded to 0.1 (ties), 15 % NaN."""
    rng = np.random.default_rng(2)
    n, m = 20, 150
    t = 2000.0 + np.arange(n)
    y = rng.normal(size=(n, m)) + rng.normal(0, 1.5, m) * (
        t[:, None] >= rng.integers(2003, 2017, m)
    )
    y = np.round(y, 1)
    y[rng.random(y.shape) < 0.15] = np.nan
    y[:, 0] = 0.4  # constant: no change
    got = breaks.pettitt(t, y)
    for j in range(m):
        want = pettitt_oracle(t, y[:, j])
        assert got["break_time"][j] == pytest.approx(want[0], nan_ok=True)
        assert got["break_pvalue"][j] == pytest.approx(want[1], rel=1e-12)
        assert got["break_shift"][j] == pytest.approx(want[2], rel=1e-9, abs=1e-12, nan_ok=True)
        peer = pyhomogeneity.pettitt_test(y[:, j], sim=None)
        if peer.U > 0:  # its cp: the 1-based position of the last value before the change
            after = np.flatnonzero(~np.isnan(y[:, j]) & (np.arange(n) >= peer.cp))[0]
            assert got["break_time"][j] == t[after]
            assert got["break_pvalue"][j] == pytest.approx(min(1.0, peer.p), rel=1e-12)
    assert np.isnan(got["break_time"][0]) and got["break_pvalue"][0] == 1.0


def test_qvalues_equal_statsmodels_and_keep_nan() -> None:
    """Benjamini-Hochberg q-values of float32 p-values with ties and NaN, computed in
    chunks, equal statsmodels multipletests(method="fdr_bh") number for number."""
    rng = np.random.default_rng(3)
    p = (rng.random(20_000) ** 3).astype(np.float32)
    p[:300] = np.float32(0.25)  # ties
    p[rng.random(p.size) < 0.1] = np.nan
    ok = np.isfinite(p)
    want = multipletests(p[ok].astype(np.float64), method="fdr_bh")[1].astype(np.float32)
    whole = fdr.qvalues(p)
    np.testing.assert_array_equal(whole[ok], want)
    assert np.isnan(whole[~ok]).all()
    pieces = fdr.QValues([p[:7000], p[7000:]])  # tiles, as the gather builds it
    np.testing.assert_array_equal(pieces(p[7000:]), whole[7000:])
    assert pieces.count == ok.sum()


def test_fdr_keeps_false_discoveries_near_alpha_on_a_field_with_true_trends() -> None:
    """10,000 pixels of 21 yearly values, 5 % with a true trend (0.15 per year in N(0, 1)
    noise): p < 0.05 calls about 475 trend-free pixels significant (5 %); q < alpha_FDR
    keeps the false-discovery proportion near alpha_FDR (about 0.06 at 0.05, 0.10 at
    0.10) while finding most true trends."""
    rng = np.random.default_rng(3)
    n, m = 21, 10_000
    t = np.arange(float(n))
    y = rng.normal(size=(n, m))
    true = rng.random(m) < 0.05
    y[:, true] += 0.15 * t[:, None]
    p = regression.ols(t, y)["pvalue"]
    assert 0.04 < np.mean(p[~true] < 0.05) < 0.06
    q = fdr.qvalues(p)
    for alpha in (0.05, 0.10):
        found = q < alpha
        proportion = np.count_nonzero(found & ~true) / np.count_nonzero(found)
        assert proportion < 1.5 * alpha
        assert np.count_nonzero(found & true) > 0.6 * np.count_nonzero(true)

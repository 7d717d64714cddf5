"""Seasonal Kendall test and seasonal Sen slope (Hirsch, Slack and Smith 1982), per pixel.

Seasons: every observation belongs to a season by its calendar month, and to a cycle
(its year). ``month`` makes 12 seasons (January .. December); ``season`` makes DJF, MAM,
JJA, SON with December counted in the next year's winter (as the stack stage's seasonal
composites); a list of month groups makes one season per group (e.g.
``[[6, 7, 8, 9]]``: June to September only; months in no group are left out). A group
that runs over the year's end (``[11, 12, 1, 2]``) counts its months before January with
the next year.

A pixel's value of a (cycle, season) cell is its valid value there, or the median of its
valid values when the cell holds several observations (per-scene series: Hirsch et al.
use one value per season and year). Then, with the cells of each season in cycle order:

- ``seasonal_pvalue``: two-sided p of ``S = sum_g S_g`` with ``var S = sum_g var S_g``
  (each the Mann-Kendall score of season g over the cycles, variance corrected for ties
  within the season), ``z = (S - sign S) / sqrt(var S)`` (pymannkendall's
  ``seasonal_test`` on the regular cycles x seasons series, no covariance between
  seasons).
- ``seasonal_tau``: ``S / sum_g n_g (n_g - 1) / 2``.
- ``seasonal_sen_slope``: the median, over all seasons, of the slopes
  ``(x_j - x_i) / (cycle_j - cycle_i)`` of pairs of cells of the same season: value per
  year (pymannkendall's ``seasonal_sens_slope``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from eotrend.stats import mannkendall, regression

SEASONAL_NAMES = ("seasonal_sen_slope", "seasonal_tau", "seasonal_pvalue")
# The named season definitions: month groups.
NAMED = {
    "month": tuple((m,) for m in range(1, 13)),
    "season": ((12, 1, 2), (3, 4, 5), (6, 7, 8), (9, 10, 11)),
}
# Pairs x pixels per chunk (float64 slopes), as the robust statistics.
_CHUNK_VALUES = 2**18


def month_groups(seasons: str | Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    """The month groups of a season definition ("month", "season" or a list of groups).

    Raises:
        ValueError: an unknown name, a month outside 1..12, or a month in two groups.
    """
    if isinstance(seasons, str):
        if seasons not in NAMED:
            raise ValueError(f"unknown seasons {seasons!r}; expected month, season or groups")
        return NAMED[seasons]
    groups = tuple(tuple(int(m) for m in group) for group in seasons)
    months = [m for group in groups for m in group]
    if not groups or not all(groups) or not all(1 <= m <= 12 for m in months):
        raise ValueError(f"seasons {seasons!r}: give non-empty groups of months 1-12")
    if len(set(months)) != len(months):
        raise ValueError(f"seasons {seasons!r}: a month is in more than one group")
    return groups


def cells(
    moments: Sequence[datetime], seasons: str | Sequence[Sequence[int]]
) -> tuple[np.ndarray, np.ndarray]:
    """The (cycle, season) cell of every observation.

    Returns:
        cycle (n,) int64 (year; a month before the wrap of its group, as December in DJF,
        counts with the next year) and season (n,) int64 (index of its month group, -1
        for a month in no group).
    """
    groups = month_groups(seasons)
    where: dict[int, tuple[int, int]] = {}
    for g, group in enumerate(groups):
        wrap = next((i for i in range(1, len(group)) if group[i] < group[i - 1]), len(group))
        for i, month in enumerate(group):
            where[month] = (g, 1 if i < wrap < len(group) else 0)
    cycle = np.empty(len(moments), dtype=np.int64)
    season = np.empty(len(moments), dtype=np.int64)
    for i, moment in enumerate(moments):
        g, shift = where.get(moment.month, (-1, 0))
        cycle[i], season[i] = moment.year + shift, g
    return cycle, season


def seasonal_kendall(
    cycle: np.ndarray, season: np.ndarray, y: np.ndarray, *, min_obs: int = 3
) -> dict[str, np.ndarray]:
    """Seasonal Kendall test and seasonal Sen slope of every pixel (module docstring).

    Args:
        cycle, season: (n,) the cell of each observation (:func:`cells`; season -1 = left
            out).
        y: (n, ...) observations, NaN = missing; any float dtype.
        min_obs: fewest valid cells for a pixel to get statistics (>= 2).

    Returns:
        A dict keyed by :data:`SEASONAL_NAMES` of float64 arrays of shape ``y.shape[1:]``;
        NaN with fewer than ``min_obs`` valid cells or no two valid cells in one season.
    """
    y = np.asarray(y)
    cycle, season = np.asarray(cycle), np.asarray(season)
    if cycle.shape != (y.shape[0],) or season.shape != cycle.shape:
        raise ValueError(f"cycle and season must be ({y.shape[0]},)")
    if min_obs < 2:
        raise ValueError(f"min_obs must be at least 2, got {min_obs}")
    flat = y.reshape(y.shape[0], -1)
    m = flat.shape[1]
    keys = sorted({(int(g), int(c)) for g, c in zip(season, cycle, strict=True) if g >= 0})
    seasons = sorted({g for g, _ in keys})
    # Cells grouped by season, in cycle order: (rows of the cell matrix, cycles) per season.
    layout = []
    for g in seasons:
        mine = [i for i, key in enumerate(keys) if key[0] == g]
        layout.append((np.array(mine), np.array([keys[i][1] for i in mine], dtype=np.float64)))
    total_pairs = sum(c.size * (c.size - 1) // 2 for _, c in layout)
    out = np.full((len(SEASONAL_NAMES), m), np.nan)
    width = max(2, _CHUNK_VALUES // max(total_pairs, 1))
    for a in range(0, m, width):
        b = min(a + width, m)
        matrix = _cell_values(flat[:, a:b], season, cycle, keys)  # (cells, k)
        out[:, a:b] = _seasonal_chunk(matrix.T.copy(), layout, min_obs)
    return {name: out[i].reshape(y.shape[1:]) for i, name in enumerate(SEASONAL_NAMES)}


def _cell_values(
    y: np.ndarray, season: np.ndarray, cycle: np.ndarray, keys: list[tuple[int, int]]
) -> np.ndarray:
    """(cells, k) float64: each cell's value (the median of its valid observations)."""
    out = np.empty((len(keys), y.shape[1]))
    for i, (g, c) in enumerate(keys):
        rows = np.flatnonzero((season == g) & (cycle == c))
        if rows.size == 1:
            out[i] = y[rows[0]]
        else:
            block = y[rows].astype(np.float64)
            out[i] = np.nan
            some = ~np.all(np.isnan(block), axis=0)
            out[i, some] = np.nanmedian(block[:, some], axis=0)
    return out


def _seasonal_chunk(
    values: np.ndarray, layout: list[tuple[np.ndarray, np.ndarray]], min_obs: int
) -> np.ndarray:
    """The seasonal statistics of ``values`` (k pixels, cells) -> (3, k)."""
    k = values.shape[0]
    s = np.zeros(k)
    var_s = np.zeros(k)
    denominator = np.zeros(k)
    slopes = []
    for columns, cycles in layout:
        x = values[:, columns]
        pair = mannkendall.pairs(columns.size)
        nobs = np.count_nonzero(~np.isnan(x), axis=1)
        dy = pair.differences(x)
        s_g, var_g, _ = mannkendall.score(dy, nobs, pair.incidence)
        # Season by season, in pymannkendall's order (the same float sums).
        s = s + s_g
        var_s = var_s + var_g
        denominator = denominator + 0.5 * nobs * (nobs - 1)
        slopes.append(dy / (cycles[pair.second] - cycles[pair.first]))
    slopes = np.concatenate(slopes, axis=1) if slopes else np.empty((k, 0))
    count = np.count_nonzero(~np.isnan(slopes), axis=1)
    slope = regression.sorted_median(slopes, count)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = s / denominator
    p = mannkendall.two_sided_p(mannkendall.z_score(s, var_s))
    result = np.stack([slope, tau, p])
    cells_valid = np.count_nonzero(~np.isnan(values), axis=1)
    result[:, (count == 0) | (cells_valid < min_obs)] = np.nan
    return result

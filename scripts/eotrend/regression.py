"""Per-pixel ordinary least squares of value on time, vectorised over pixels.

:func:`ols` gives, for every pixel at once, the statistics of :func:`scipy.stats.linregress`
(same definitions, same edge cases) using only that pixel's valid (non-NaN) observations.
:func:`decimal_year` turns dates into the time axis the trend stage regresses on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import numpy as np
from scipy import special

STAT_NAMES = ("slope", "intercept", "rvalue", "pvalue", "stderr", "intercept_stderr", "nobs")

# scipy.stats.linregress adds this to 1 -/+ r so that a perfect fit gives a finite t.
_TINY = 1.0e-20


def ols(t: np.ndarray, y: np.ndarray, *, min_obs: int = 3) -> dict[str, np.ndarray]:
    """Regress ``y`` on ``t`` for every pixel, ignoring that pixel's missing values.

    The statistics are those of :func:`scipy.stats.linregress` (two-sided p-value) computed
    on the pixel's valid observations only:

    - ``slope``: units of y per unit of t (e.g. NDVI per year when t is in decimal years).
    - ``intercept``: value of y at t = 0 (year 0 for decimal years: an extrapolation).
    - ``rvalue``: Pearson correlation, clamped to [-1, 1].
    - ``pvalue``: two-sided p-value of slope = 0, Student t with nobs - 2 degrees of freedom.
    - ``stderr``: standard error of the slope; ``intercept_stderr``: of the intercept.
    - ``nobs``: number of valid observations (a whole number stored as float64).

    Edge cases follow scipy: exactly two observations give pvalue 0 (1 if both values are
    equal) and zero standard errors; a constant y gives slope 0, intercept = the value and
    NaN rvalue, pvalue and standard errors; a perfect fit gives rvalue +-1 and stderr 0 (to
    rounding) and a pvalue near 0. Where scipy raises (all valid times equal) or the pixel has fewer
    than ``min_obs`` valid values, every statistic but ``nobs`` is NaN.

    Sums are taken after shifting each pixel by its first valid observation and then
    centring (two passes, float64), so decimal years around 2000 and y with a tiny spread
    lose no precision, and constant series are detected exactly.

    Memory: besides the input, at most about ``17 * n + 250`` bytes per pixel: two float64
    working copies of ``y`` and a boolean mask of its shape, then per-pixel float64 vectors
    (measured peak for n = 21: 445 bytes per pixel).

    Args:
        t: (n,) time of each observation, finite; converted to float64.
        y: (n, ...) observations, NaN = missing; any float dtype, computed in float64.
            The trailing shape (e.g. pixels, or rows x columns) is kept in the outputs.
        min_obs: minimum number of valid observations for a pixel to get statistics (>= 2).

    Returns:
        A dict keyed by :data:`STAT_NAMES` (in that order) of float64 arrays of shape
        ``y.shape[1:]``.
    """
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y)
    if t.ndim != 1 or y.ndim < 1 or y.shape[0] != t.shape[0]:
        raise ValueError(f"t must be (n,) and y (n, ...); got t {t.shape} and y {y.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError("t must be finite")
    if min_obs < 2:
        raise ValueError(f"min_obs must be at least 2, got {min_obs}")
    n, out_shape = y.shape[0], y.shape[1:]
    y = y.reshape(n, -1)
    m = y.shape[1]

    valid = ~np.isnan(y)
    nobs = np.count_nonzero(valid, axis=0)
    # Shift by the first valid observation: exact zeros for constant series and for pixels
    # whose valid times coincide, and small numbers to sum.
    first = valid.argmax(axis=0)
    cols = np.arange(m)
    t0 = t[first]
    y0 = y[first, cols].astype(np.float64)

    dy = np.zeros((n, m))
    np.subtract(y, y0, out=dy, where=valid)
    dt = np.subtract.outer(t, t0)
    dt *= valid
    with np.errstate(invalid="ignore", divide="ignore"):
        count = nobs.astype(np.float64)
        tm = dt.sum(axis=0) / count
        ym = dy.sum(axis=0) / count
        # Second pass: centre per pixel; missing values stay exactly 0.
        dt -= tm
        dt *= valid
        dy -= ym
        dy *= valid
        ssxm = np.einsum("ij,ij->j", dt, dt) / count
        ssym = np.einsum("ij,ij->j", dy, dy) / count
        ssxym = np.einsum("ij,ij->j", dt, dy) / count
        del dt, dy, valid

        r = ssxym / np.sqrt(ssxm * ssym)
        np.clip(r, -1.0, 1.0, out=r)
        flat = ssym == 0.0  # constant y: dy and so ssxym are exactly 0, r is undefined
        r[flat] = np.nan
        slope = ssxym / ssxm
        xmean = t0 + tm
        intercept = (y0 + ym) - slope * xmean

        df = count - 2.0
        tstat = r * np.sqrt(df / ((1.0 - r + _TINY) * (1.0 + r + _TINY)))
        pvalue = 2.0 * special.stdtr(df, -np.abs(tstat))
        stderr = np.sqrt((1.0 - r**2) * ssym / ssxm / df)
        intercept_stderr = stderr * np.sqrt(ssxm + xmean**2)

    two = nobs == 2
    pvalue[two] = np.where(flat[two], 1.0, 0.0)
    stderr[two] = 0.0
    intercept_stderr[two] = 0.0

    stats = {
        "slope": slope,
        "intercept": intercept,
        "rvalue": r,
        "pvalue": pvalue,
        "stderr": stderr,
        "intercept_stderr": intercept_stderr,
    }
    undefined = (nobs < min_obs) | (ssxm == 0.0)
    for value in stats.values():
        value[undefined] = np.nan
    stats["nobs"] = count
    return {name: stats[name].reshape(out_shape) for name in STAT_NAMES}


def decimal_year(dates: Sequence[datetime | date]) -> np.ndarray:
    """Dates as decimal years: year + (day of year - 1 + fraction of day) / days in year.

    A :class:`~datetime.date` is taken at 00:00. Time-zone-aware datetimes are converted to
    UTC first; naive ones are taken as UTC. Example: 2020-07-02T00:00 -> 2020.5 (2020 is a
    leap year: 183 / 366).

    Returns:
        (n,) float64 decimal years.
    """
    out = np.empty(len(dates), dtype=np.float64)
    for i, d in enumerate(dates):
        if isinstance(d, datetime):
            if d.tzinfo is not None:
                d = d.astimezone(UTC)
            start = datetime(d.year, 1, 1, tzinfo=d.tzinfo)
        elif isinstance(d, date):
            start = date(d.year, 1, 1)
        else:
            raise TypeError(f"expected a date or datetime, got {type(d).__name__}: {d!r}")
        days_in_year = 366 if _is_leap(d.year) else 365
        out[i] = d.year + (d - start).total_seconds() / 86400.0 / days_in_year
    return out


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)

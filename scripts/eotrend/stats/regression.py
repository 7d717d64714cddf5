"""Per-pixel trend statistics of value on time, vectorised over pixels.

:func:`ols` gives, for every pixel at once, the statistics of :func:`scipy.stats.linregress`
(same definitions, same edge cases) using only that pixel's valid (non-NaN) observations.
:func:`theil_sen_mann_kendall` gives the robust alternatives: the Theil-Sen slope and
intercept of :func:`scipy.stats.theilslopes` and the Mann-Kendall trend test (or a
variant for serially correlated series, from :mod:`eotrend.stats.mannkendall`) and, on request,
Sen's rank interval of the slope;
:func:`slope_interval` is the Student t interval of the least-squares slope.
:func:`student_t_pvalue` is the two-sided Student t p-value both use, and
:func:`decimal_year` turns dates into the time axis the trend stage regresses on.

Pixels are processed in chunks of a few thousand inside these functions so that the
temporaries stay in the CPU cache; a pixel's result does not depend on the chunking (nor on
the other pixels), so any block decomposition of a raster gives identical numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, date, datetime

import numpy as np

from eotrend.stats import mannkendall

STAT_NAMES = ("slope", "intercept", "rvalue", "pvalue", "stderr", "intercept_stderr", "nobs")
ROBUST_NAMES = ("sen_slope", "sen_intercept", "mk_tau", "mk_pvalue")
INTERVAL_NAMES = ("slope_low", "slope_high")
SEN_INTERVAL_NAMES = ("sen_slope_low", "sen_slope_high")

# scipy.stats.linregress adds this to 1 -/+ r so that a perfect fit gives a finite t.
_TINY = 1.0e-20
# Values of (observations x pixels) per chunk: about 1 MB per float64 temporary, which keeps
# the few temporaries of a chunk in a 1-2 MB L2 cache (measured: 4x faster than whole blocks).
_CHUNK_VALUES = 2**17
# Pairs x pixels per chunk of the robust statistics (each pair value is float64).
_ROBUST_CHUNK_VALUES = 2**18


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
    rounding) and a pvalue near 0. Where scipy raises (all valid times equal) or the pixel
    has fewer than ``min_obs`` valid values, every statistic but ``nobs`` is NaN.

    Sums are taken after shifting each pixel by its first valid observation and then
    centring (two passes, float64), so decimal years around 2000 and y with a tiny spread
    lose no precision, and constant series and coinciding times give exact zeros.

    Memory: besides the input and the outputs (7 float64 per pixel), the sums of 6 float64
    per pixel and chunk temporaries of about 4 MB.

    Args:
        t: (n,) time of each observation, finite; converted to float64.
        y: (n, ...) observations, NaN = missing; any float dtype (float32 is not copied
            whole: chunks are converted to float64 as they are used). The trailing shape
            (e.g. pixels, or rows x columns) is kept in the outputs.
        min_obs: minimum number of valid observations for a pixel to get statistics (>= 2).

    Returns:
        A dict keyed by :data:`STAT_NAMES` (in that order) of float64 arrays of shape
        ``y.shape[1:]``.
    """
    t, y, out_shape = _check(t, y, min_obs)
    count, tmean, ymean, stt, syy, sty = _centred_sums(t, y)
    with np.errstate(invalid="ignore", divide="ignore"):
        # linregress's ssxm, ssym, ssxym: (co)variances with divisor n (np.cov, bias=1).
        ssxm, ssym, ssxym = stt / count, syy / count, sty / count
        r = ssxym / np.sqrt(ssxm * ssym)
        np.clip(r, -1.0, 1.0, out=r)
        flat = ssym == 0.0  # constant y: the centred values and so ssxym are exactly 0
        r[flat] = np.nan
        slope = ssxym / ssxm
        intercept = ymean - slope * tmean
        df = count - 2.0
        tstat = r * np.sqrt(df / ((1.0 - r + _TINY) * (1.0 + r + _TINY)))
        pvalue = student_t_pvalue(tstat, np.where(count > 2, df, np.nan))
        stderr = np.sqrt((1.0 - r**2) * ssym / ssxm / df)
        intercept_stderr = stderr * np.sqrt(ssxm + tmean**2)

    two = count == 2
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
    undefined = (count < min_obs) | (stt == 0.0)
    for value in stats.values():
        value[undefined] = np.nan
    stats["nobs"] = count
    return {name: stats[name].reshape(out_shape) for name in STAT_NAMES}


def _check(t: np.ndarray, y: np.ndarray, min_obs: int) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Validate the arguments; return t as float64 (n,), y as (n, pixels) and y's pixel shape."""
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y)
    if t.ndim != 1 or y.ndim < 1 or y.shape[0] != t.shape[0]:
        raise ValueError(f"t must be (n,) and y (n, ...); got t {t.shape} and y {y.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError("t must be finite")
    if min_obs < 2:
        raise ValueError(f"min_obs must be at least 2, got {min_obs}")
    if y.dtype.kind != "f":
        y = y.astype(np.float64)
    return t, y.reshape(t.shape[0], -1), y.shape[1:]


def _chunks(m: int, width: int) -> list[tuple[int, int]]:
    """``[start, stop)`` column ranges of ``width`` covering ``m`` columns, none 1 wide.

    numpy sums a lone column along axis 0 pairwise but a wider chunk column by column, which
    rounds differently: the last chunk is widened to 2 by overlapping its neighbour (the
    overlapped column is computed twice, identically), so results never depend on chunking.
    """
    width = max(2, width)
    ranges = [(a, min(a + width, m)) for a in range(0, m, width)]
    if m >= 2 and ranges[-1][1] - ranges[-1][0] == 1:
        ranges[-1] = (m - 2, m)
    return ranges


def _centred_sums(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per pixel of ``y`` (n, m): count, mean t, mean y and the centred sums of squares and
    products Stt, Syy, Sty over the valid observations; each (m,) float64. Stt is exactly 0
    where the valid times all coincide.

    y is shifted by one of the pixel's own observations before its mean is taken (a constant
    series then gives exact zeros, and the sums are of small numbers), then centred on that
    mean: two passes. t is centred on its overall mean, then on each pixel's mean.
    """
    n, m = y.shape
    if m == 1:  # a lone column would be summed differently (see _chunks)
        return tuple(s[:1] for s in _centred_sums(t, np.repeat(y, 2, axis=1)))
    out = np.empty((6, m))
    t_ref = float(t.mean())
    tc = t - t_ref
    width = max(2, _CHUNK_VALUES // n)
    missing_buf = np.empty((n, width), dtype=bool)
    valid_buf = np.empty((n, width), dtype=bool)
    w_buf, d_buf, e_buf = (np.empty((n, width)) for _ in range(3))
    for a, b in _chunks(m, width):
        k = b - a
        chunk = y[:, a:b]
        missing = np.isnan(chunk, out=missing_buf[:, :k])
        valid = np.logical_not(missing, out=valid_buf[:, :k])
        w = w_buf[:, :k]
        np.copyto(w, valid)  # 0/1 weights
        count = w.sum(axis=0)
        # The largest valid value (any of the pixel's values would do; NaN if none).
        y0 = np.fmax.reduce(chunk, axis=0).astype(np.float64)
        d = d_buf[:, :k]
        np.subtract(chunk, y0, out=d)
        np.copyto(d, 0.0, where=missing)
        with np.errstate(invalid="ignore", divide="ignore"):
            dm = d.sum(axis=0) / count
            tm = np.einsum("i,ij->j", tc, w) / count
        # Second pass: centre per pixel; missing values stay exactly 0 in d (and are
        # weighted by 0 in the sums with e).
        d -= dm
        d *= w
        e = np.subtract.outer(tc, tm, out=e_buf[:, :k])
        out[0, a:b] = count
        out[1, a:b] = t_ref + tm
        out[2, a:b] = y0 + dm
        out[3, a:b] = np.einsum("ij,ij,ij->j", e, e, w)
        out[4, a:b] = np.einsum("ij,ij->j", d, d)
        out[5, a:b] = np.einsum("ij,ij->j", e, d)
    values, group = np.unique(t, return_inverse=True)
    if values.size < n:  # repeated times: pixels whose valid values share one time
        times_seen = np.zeros(m, dtype=np.int64)
        for g in range(values.size):
            times_seen += np.any(~np.isnan(y[group == g]), axis=0)
        out[3, times_seen < 2] = 0.0
    # (With distinct times, a pixel with one valid value has e exactly 0 already.)
    return tuple(out)


def student_t_pvalue(tstat: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Two-sided p-value ``2 P(T > |tstat|)`` of Student's t with whole ``df`` degrees of
    freedom, elementwise: ``2 * scipy.special.stdtr(df, -abs(tstat))``, about 5x faster.

    For a whole ``df`` the distribution function is a finite sum (Abramowitz and Stegun
    26.7.3-4) in ``x = df / (df + t**2)``: where ``x > 1/2`` the p-value is 1 minus that
    sum; where ``x <= 1/2`` (large |t|, small p) it is the remainder of the sum's infinite
    series, all terms positive, so small p-values keep full relative precision. The rare
    values of the first kind whose p falls below 1e-4 (cancellation; only for large df) are
    computed with scipy. Relative error below 1e-11 (tested against scipy).

    Args:
        tstat: t statistics, any float array; NaN gives NaN.
        df: degrees of freedom, whole numbers >= 1 or NaN (-> NaN), broadcastable to tstat.

    Returns:
        float64 array of the broadcast shape.
    """
    tstat, df = np.broadcast_arrays(
        np.abs(np.asarray(tstat, dtype=np.float64)), np.asarray(df, dtype=np.float64)
    )
    p = np.full(tstat.shape, np.nan)
    ok = ~np.isnan(tstat) & ~np.isnan(df)
    if not np.all((df[ok] >= 1) & (df[ok] == np.floor(df[ok])) & np.isfinite(df[ok])):
        raise ValueError("df must be whole numbers >= 1 (or NaN)")
    index = np.flatnonzero(ok)
    dfi = df.ravel()[index].astype(np.int64)
    flat = tstat.ravel()
    for nu in np.flatnonzero(np.bincount(dfi)):
        where = index[dfi == nu]
        p.ravel()[where] = _pvalue_whole_df(int(nu), flat[where])
    return p


def _pvalue_whole_df(nu: int, t: np.ndarray) -> np.ndarray:
    """Two-sided Student t p-value for one whole ``nu`` >= 1 and ``t`` >= 0 (1-D)."""
    if nu == 1:  # Cauchy
        return (2.0 / math.pi) * np.arctan2(1.0, t)
    p = np.empty_like(t)
    with np.errstate(invalid="ignore"):
        t2 = t * t
        x = nu / (nu + t2)  # cos^2 of the angle atan(t / sqrt(nu))
        y = np.where(np.isinf(t), 1.0, t2 / (nu + t2))  # its sin^2
    m, odd = divmod(nu, 2)

    def ratio(k: int) -> float:
        """coefficient[k + 1] / coefficient[k] of the series below."""
        return (2 * k + 2) / (2 * k + 3) if odd else (2 * k + 1) / (2 * k + 2)

    # Odd nu: A = (2/pi) (theta + sin cos sum_k d_k x^k); even nu: A = sin sum_k c_k x^k,
    # sums over k < m; over all k >= 0 either makes A exactly 1, so p = 1 - A is the
    # series' remainder from k = m on.
    head = np.flatnonzero(x > 0.5)
    if head.size:
        coefs = np.cumprod([1.0] + [ratio(k) for k in range(m - 1)])
        s = _horner(coefs, x[head])
        if odd:
            ph = (2.0 / math.pi) * (
                np.arctan2(math.sqrt(nu), t[head]) - np.sqrt(x[head] * y[head]) * s
            )
        else:
            ph = 1.0 - np.sqrt(y[head]) * s
        lost = np.flatnonzero(ph < 1.0e-4)  # 1 - A cancelled: hand these few to scipy
        if lost.size:
            ph[lost] = 2.0 * _special().stdtr(nu, -t[head[lost]])
        p[head] = ph
    tail = np.flatnonzero(x <= 0.5)
    if tail.size:
        xt = x[tail]
        xmax = float(xt.max())
        # Terms fall by at least x each: stop when the rest is below 1e-17 of the sum.
        terms = 1 if xmax == 0.0 else math.ceil(math.log(1e-17 * (1.0 - xmax)) / math.log(xmax))
        lead = math.prod(ratio(k) for k in range(m))  # coefficient m
        rel = np.cumprod([1.0] + [ratio(m + j) for j in range(terms - 1)])
        with np.errstate(under="ignore"):
            s = lead * xt**m * _horner(rel, xt)
        if odd:
            p[tail] = (2.0 / math.pi) * np.sqrt(xt * y[tail]) * s
        else:
            p[tail] = np.sqrt(y[tail]) * s
    return p


def _special():
    """scipy.special, imported when first needed: the import takes 0.3-0.5 s, as long as
    the trend command's whole fit, and ordinary least squares does not need it."""
    from scipy import special

    return special


def _horner(coefs: Sequence[float], x: np.ndarray) -> np.ndarray:
    """``sum_k coefs[k] * x**k``."""
    acc = np.full_like(x, coefs[-1])
    for c in coefs[-2::-1]:
        acc *= x
        acc += c
    return acc


def theil_sen_mann_kendall(
    t: np.ndarray,
    y: np.ndarray,
    *,
    min_obs: int = 3,
    test: str = "original",
    lags: int = 0,
    ci: float = 0.0,
) -> dict[str, np.ndarray]:
    """Robust trend of ``y`` on ``t`` for every pixel, ignoring that pixel's missing values.

    - ``sen_slope``: Theil-Sen slope, the median of the slopes of all pairs of valid
      observations with different times (units of y per unit of t), as
      :func:`scipy.stats.theilslopes`.
    - ``sen_intercept``: ``median(y) - sen_slope * median(t)`` over the valid observations
      (theilslopes' default, ``method="separate"``).
    - ``mk_tau``: Mann-Kendall tau, ``S / (nobs (nobs - 1) / 2)`` with
      ``S = sum_{i<j} sign(y_j - y_i)`` over valid observations in time order (bands with
      equal times keep their order in ``y``).
    - ``mk_pvalue``: two-sided p-value of the Mann-Kendall ``test`` (see
      :mod:`eotrend.stats.mannkendall`); for ``original``: normal approximation with
      continuity correction, ``z = (S - sign(S)) / sqrt(var S)``, the variance corrected for
      ties in y (``(n (n-1) (2n+5) - sum_g t_g (t_g-1) (2 t_g+5)) / 18``), as Hipel and
      McLeod (1994) and pymannkendall's ``original_test`` (which computes p as
      ``2 (1 - Phi(|z|))``; here ``2 Phi(-|z|)``, the same but exact for small p).
    - with ``ci``: ``sen_slope_low``, ``sen_slope_high``, the rank-based confidence
      interval of the Theil-Sen slope at level ``ci`` (Sen 1968, eq. 2.6), exactly as
      theilslopes' ``low_slope``/``high_slope``: with ``z = Phi^-1((1 - ci) / 2)``,
      ``sigma^2 = (n (n-1) (2n+5) - ties in t - ties in y) / 18`` and N pair slopes sorted,
      the slopes of ranks ``max(round((N + z sigma) / 2) - 1, 0)`` and
      ``min(round((N - z sigma) / 2), N - 1)`` (0-based, round half to even).

    Pixels with fewer than ``min_obs`` valid values, or whose valid times are all equal, get
    NaN. Cost: O(n**2) per pixel (all pairs: 210 for n = 21); memory: chunks of about 20 MB
    besides the outputs.

    Args:
        t: (n,) time of each observation, finite.
        y: (n, ...) observations, NaN = missing; any float dtype.
        min_obs: minimum number of valid observations (>= 2).
        test: the Mann-Kendall test of ``mk_pvalue``: one of
            :data:`eotrend.stats.mannkendall.TESTS`.
        lags: autocorrelation lags of the hamed_rao and yue_wang tests (0 = the test's
            own: all for hamed_rao, 1 for yue_wang).
        ci: confidence level of the Sen slope interval, in (0, 1); 0 = no interval.

    Returns:
        A dict keyed by :func:`robust_names` of float64 arrays of shape ``y.shape[1:]``.
    """
    if test not in mannkendall.TESTS:
        raise ValueError(f"unknown test {test!r}; expected one of {mannkendall.TESTS}")
    if not 0.0 <= ci < 1.0:
        raise ValueError(f"ci must be in [0, 1), got {ci}")
    t, y, out_shape = _check(t, y, min_obs)
    order = np.argsort(t, kind="stable")
    t = t[order]
    n, m = y.shape
    pair = mannkendall.pairs(n)  # all pairs in time order
    dt = t[pair.second] - t[pair.first]
    distinct = dt > 0  # the pairs Theil-Sen uses
    names = robust_names(ci)
    out = np.full((len(names), m), np.nan)
    width = max(2, _ROBUST_CHUNK_VALUES // max(pair.first.size, 1))
    for a, b in _chunks(m, width):
        values = np.array(y[order, a:b].T, dtype=np.float64, order="C")  # (k, n)
        out[:, a:b] = _robust_chunk(values, t, pair, dt, distinct, test, lags, ci)
    nobs = np.count_nonzero(~np.isnan(y), axis=0)
    out[:, nobs < min_obs] = np.nan
    return {name: out[i].reshape(out_shape) for i, name in enumerate(names)}


def robust_names(ci: float = 0.0) -> tuple[str, ...]:
    """Names of :func:`theil_sen_mann_kendall`'s statistics: :data:`ROBUST_NAMES`, then
    the Sen slope interval with ``ci``."""
    return ROBUST_NAMES + (SEN_INTERVAL_NAMES if ci else ())


def _robust_chunk(
    values: np.ndarray,
    t: np.ndarray,
    pair: mannkendall.Pairs,
    dt: np.ndarray,
    distinct: np.ndarray,
    test: str,
    lags: int,
    ci: float,
) -> np.ndarray:
    """The robust statistics of ``values`` (k pixels, n times, float64) -> (names, k)."""
    valid = ~np.isnan(values)
    nobs = np.count_nonzero(valid, axis=1)
    dy = pair.differences(values)  # (k, pairs), NaN where either is missing
    # Comparisons with NaN are False: invalid pairs count nowhere.
    s, var_s, ties_y = mannkendall.score(dy, nobs, pair.incidence)
    n = nobs.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = s / (0.5 * n * (n - 1.0))

    all_distinct = bool(distinct.all())
    tied_t = None if all_distinct or not ci else (dt == 0) & ~np.isnan(dy)
    if all_distinct:
        slopes = np.divide(dy, dt, out=dy)
        count = nobs * (nobs - 1) // 2
    else:
        slopes = dy[:, distinct] / dt[distinct]
        count = np.count_nonzero(~np.isnan(slopes), axis=1)
    sen_slope = sorted_median(slopes, count)  # sorts slopes (NaN last)
    sen_intercept = sorted_median(values.copy(), nobs) - sen_slope * sorted_median(
        np.where(valid, t, np.nan), nobs
    )
    _, mk_p = mannkendall.modified_pvalue(test, values, t, sen_slope, s, var_s, lags=lags)
    rows = [sen_slope, sen_intercept, tau, mk_p]
    if ci:
        ties = ties_y
        if tied_t is not None:  # ties in time (bands sharing a date)
            ties = ties + mannkendall.tie_correction(tied_t, pair.incidence)
        rows += sen_interval(slopes, count, nobs, ties, ci)
    result = np.stack(rows)
    result[:, count == 0] = np.nan  # all valid times equal (or fewer than 2 values)
    return result


def sen_interval(
    slopes: np.ndarray,
    count: np.ndarray,
    nobs: np.ndarray,
    ties: np.ndarray,
    level: float,
) -> list[np.ndarray]:
    """scipy.stats.theilslopes' (low_slope, high_slope) of each row of the sorted
    ``slopes`` (k, N) with ``count`` valid slopes; ``ties``: the tie corrections of t and
    y added (see :func:`theil_sen_mann_kendall`)."""
    from scipy import special

    alpha = 1.0 - level if level > 0.5 else level  # theilslopes' reading of its alpha
    z = float(special.ndtri(alpha / 2.0))
    n = nobs.astype(np.float64)
    with np.errstate(invalid="ignore"):
        sigma = np.sqrt(1 / 18.0 * (n * (n - 1.0) * (2.0 * n + 5.0) - ties))
        upper = np.minimum(np.round((count - z * sigma) / 2.0), count - 1)
        lower = np.maximum(np.round((count + z * sigma) / 2.0) - 1, 0)
    ok = np.isfinite(sigma) & (count > 0)
    pick = np.arange(slopes.shape[0])
    bounds = []
    for rank in (lower, upper):
        index = np.where(ok, rank, 0).astype(np.int64)
        bounds.append(np.where(ok, slopes[pick, index], np.nan))
    return bounds


def slope_interval(
    slope: np.ndarray, stderr: np.ndarray, nobs: np.ndarray, level: float
) -> tuple[np.ndarray, np.ndarray]:
    """Confidence interval of the least-squares slope at ``level``:
    ``slope -+ |t_(nobs-2)((1 - level) / 2)| * stderr`` (Student t quantile, as
    ``scipy.stats.t.ppf``; the interval of scipy's linregress documentation). NaN with
    fewer than 3 observations.

    Args:
        slope, stderr: as :func:`ols` gives them; nobs: valid observations (float64).
        level: confidence level in (0, 1).

    Returns:
        (low, high), float64 arrays of slope's shape.
    """
    from scipy import special

    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    df = np.where(nobs > 2, nobs - 2.0, np.nan)
    half = np.full(df.shape, np.nan)
    for value in np.unique(df[np.isfinite(df)]):
        half[df == value] = -special.stdtrit(value, (1.0 - level) / 2.0)
    width = half * stderr
    return slope - width, slope + width


def sorted_median(rows: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Median of the ``count`` non-NaN values of each row of ``rows`` (k, p), as np.median
    (mean of the two middle values for an even count); sorts ``rows`` in place (NaN last)."""
    if rows.shape[1] == 0:
        return np.full(rows.shape[0], np.nan)
    rows.sort(axis=1)
    lo = np.maximum(count - 1, 0) // 2
    hi = np.maximum(count, 1) // 2
    pick = np.arange(rows.shape[0])
    low, high = rows[pick, lo], rows[pick, hi]
    return np.where(lo == hi, low, (low + high) / 2.0)


def decimal_year(dates: Sequence[datetime | date]) -> np.ndarray:
    """Dates as decimal years: year + (day of year - 1 + fraction of day) / days in year.

    A :class:`~datetime.date` is taken at 00:00. Time-zone-aware datetimes are converted to
    UTC first; naive ones are taken as UTC. Example: 2020-07-02T00:00 -> 2020.5 (2020 is a
    leap year: 183 / 366).

    Returns:
        (n,) float64 decimal years.
    """
    dates = list(dates)
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

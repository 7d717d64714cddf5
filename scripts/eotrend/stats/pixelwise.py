"""Per-pixel trend statistics of a block of a stack: what the trend stage computes.

:func:`fit` takes a (bands, rows, cols) block and the time of each band and returns every
statistic the :class:`Options` ask for, per pixel, vectorised (least squares from
:mod:`eotrend.stats.regression`, the Mann-Kendall family, seasonal Kendall, Pettitt
breaks); pixels are fitted :data:`PIECE_PIXELS` at a time. Each pixel's statistics depend
on that pixel alone. Reading the stack and writing the maps is the stage's job
(:mod:`eotrend.stages.trend`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from eotrend.core.errors import InputError
from eotrend.stats import breaks, mannkendall, regression, seasonal
from eotrend.stats import fdr as fdr_module

log = logging.getLogger(__name__)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Pixels fitted at a time inside a window: bounds the float64 statistics (13 per pixel).
PIECE_PIXELS = 2**16


@dataclass(frozen=True)
class Options:
    """What the trend stage computes beyond least squares (the config's ``trend`` keys).

    Attributes:
        robust: Theil-Sen slope and intercept, Mann-Kendall tau and p
            (:data:`regression.ROBUST_NAMES`).
        test: the Mann-Kendall test of ``mk_pvalue`` (:data:`mannkendall.TESTS`); other
            than ``original`` it implies ``robust``.
        lags: autocorrelation lags of hamed_rao and yue_wang (0 = the test's own: all
            for hamed_rao, 1 for yue_wang).
        ci: confidence level of the slope intervals (slope_low/high, and
            sen_slope_low/high with the robust bands); 0 = none.
        seasons: "none", "month", "season" or month groups (:mod:`eotrend.stats.seasonal`).
        breaks: "none" or "pettitt" (:mod:`eotrend.stats.breaks`).
        fdr: add the ``qvalue`` band: Benjamini-Hochberg q-values of ``fdr_pvalue`` over
            the map (:mod:`eotrend.stats.fdr`).
        fdr_alpha: alpha_FDR of the maps (q below it is significant).
        fdr_pvalue: the band whose p-values the q-values control: pvalue, mk_pvalue or
            seasonal_pvalue.
    """

    robust: bool = False
    test: str = "original"
    lags: int = 0
    ci: float = 0.0
    seasons: str | tuple[tuple[int, ...], ...] = "none"
    breaks: str = "none"
    fdr: bool = False
    fdr_alpha: float = fdr_module.DEFAULT_ALPHA
    fdr_pvalue: str = "pvalue"

    @property
    def mann_kendall(self) -> bool:
        """Whether the robust (Theil-Sen / Mann-Kendall) bands are computed."""
        return self.robust or self.test != "original"

    @property
    def seasonal(self) -> bool:
        return self.seasons != "none"

    @property
    def pairwise(self) -> bool:
        """Whether some statistic costs O(n**2) per pixel (all pairs of bands)."""
        return self.mann_kendall or self.seasonal or self.breaks != "none"

    def names(self) -> tuple[str, ...]:
        """Band names of the output, in order (see :func:`trend`)."""
        names = regression.STAT_NAMES
        if self.ci:
            names += regression.INTERVAL_NAMES
        if self.mann_kendall:
            names += regression.robust_names(self.ci)
        if self.seasonal:
            names += seasonal.SEASONAL_NAMES
        if self.breaks != "none":
            names += breaks.BREAK_NAMES
        if self.fdr:
            names += (fdr_module.QVALUE,)
        return names

    def tags(self) -> dict[str, str]:
        """Dataset tags recording the options (FDR_* tags tell the gather what to fill)."""
        tags = {"ROBUST": "yes" if self.mann_kendall else "no"}
        if self.mann_kendall:
            tags["MK_TEST"] = self.test
            if self.test in ("hamed_rao", "yue_wang"):
                default = "all" if self.test == "hamed_rao" else "1"
                tags["MK_LAGS"] = str(self.lags) if self.lags else default
        if self.ci:
            tags["CI_LEVEL"] = repr(self.ci)
        if self.seasonal:
            tags["SEASONS"] = json.dumps(seasonal.month_groups(self.seasons))
        if self.breaks != "none":
            tags["BREAKS"] = self.breaks
        if self.fdr:
            tags |= {
                "FDR_METHOD": fdr_module.METHOD,
                "FDR_ALPHA": repr(self.fdr_alpha),
                "FDR_PVALUE": self.fdr_pvalue,
            }
        return tags

    def check(self, time_unit: str) -> None:
        """Raise InputError for settings that contradict each other."""
        if self.test not in mannkendall.TESTS:
            raise InputError(
                "trend.test", f"is {self.test!r}", f"Use one of {', '.join(mannkendall.TESTS)}."
            )
        if self.seasonal:
            try:
                seasonal.month_groups(self.seasons)
            except ValueError as error:
                raise InputError("trend.seasons", str(error), "Fix the month groups.") from error
        if self.seasonal and time_unit != "year":
            raise InputError(
                "trend.seasons",
                f"needs time_unit year (the seasonal Sen slope is per year), not {time_unit}",
                "Set trend.time_unit: year, or trend.seasons: none.",
            )
        if self.fdr and self.fdr_pvalue not in self.names():
            raise InputError(
                "trend.fdr.pvalue",
                f"names the band {self.fdr_pvalue}, which these settings do not produce",
                "Use pvalue; mk_pvalue needs robust: true (or a test); seasonal_pvalue needs "
                "seasons.",
            )
        if not 0.0 <= self.ci < 1.0 or not 0.0 < self.fdr_alpha < 1.0:
            raise InputError(
                "trend.ci / trend.fdr.alpha",
                f"are {self.ci} and {self.fdr_alpha}",
                "Give ci in [0, 1) (0 = none) and fdr.alpha in (0, 1).",
            )


def stat_names(robust: bool) -> tuple[str, ...]:
    """Band names of the output: :data:`regression.STAT_NAMES`, then the robust ones."""
    return Options(robust=robust).names()


def time_axis(moments: list[datetime], unit: str) -> np.ndarray:
    """Time values (n,) float64: decimal years, or days since 1970-01-01 (UTC)."""
    if unit == "year":
        return regression.decimal_year(moments)
    if unit == "day":
        return np.array([(m - EPOCH).total_seconds() / 86400.0 for m in moments])
    raise ValueError(f"unknown time unit {unit!r}; expected year or day")


def fit(
    t: np.ndarray,
    values: np.ndarray,
    *,
    min_obs: int,
    robust: bool = False,
    options: Options | None = None,
    cells: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The statistics of every pixel of ``values``.

    Args:
        t: (n,) time of each band, float64.
        values: (n, rows, cols) stack window, NaN = missing, float32 or float64.
        min_obs: fewest valid values for a pixel to get statistics.
        robust: add the Theil-Sen and Mann-Kendall statistics (when ``options`` is None).
        options: what to compute; None = ``Options(robust=robust)``.
        cells: (cycle, season) of each band (:func:`seasonal.cells`), with seasons.

    Returns:
        (len(options.names()), rows, cols) float32, bands in that order; the qvalue band
        (with fdr) is NaN: q-values need the whole map (:class:`fdr.QValues`).
    """
    options = Options(robust=robust) if options is None else options
    if options.seasonal and cells is None:
        raise ValueError("seasons need the cells of the bands")
    n, rows, cols = values.shape
    flat = values.reshape(n, -1)
    names = options.names()
    out = np.full((len(names), rows * cols), np.nan, dtype=np.float32)
    for a in range(0, flat.shape[1], PIECE_PIXELS):
        piece = flat[:, a : a + PIECE_PIXELS]
        stats = regression.ols(t, piece, min_obs=min_obs)
        if options.ci:
            low, high = regression.slope_interval(
                stats["slope"], stats["stderr"], stats["nobs"], options.ci
            )
            stats |= {"slope_low": low, "slope_high": high}
        if options.mann_kendall:
            stats |= regression.theil_sen_mann_kendall(
                t, piece, min_obs=min_obs, test=options.test, lags=options.lags, ci=options.ci
            )
        if options.seasonal:
            stats |= seasonal.seasonal_kendall(*cells, piece, min_obs=min_obs)
        if options.breaks != "none":
            stats |= breaks.pettitt(t, piece, min_obs=min_obs)
        for i, name in enumerate(names):
            if name != fdr_module.QVALUE:
                out[i, a : a + PIECE_PIXELS] = stats[name]
    return out.reshape(len(names), rows, cols)

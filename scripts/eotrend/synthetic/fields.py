"""The truth fields: the physical value of each water variable at any place and time
(:func:`water_truth`) and its linear trend (:func:`trend_truth`).

Each variable is a model of a few smooth fields on the sphere (weighted sums of plane
waves, wavelengths 40-200 km, with fixed random parameters); all but PAR (which follows the
sun) and IWV (the season) change linearly in time around :data:`REFERENCE_YEAR`.
"""

from __future__ import annotations

import zlib

import numpy as np

from eotrend.synthetic import swath as sw
from eotrend.synthetic.wfr_format import BANDS

LOG10_VARIABLES: tuple[str, ...] = (
    "CHL_OC4ME", "CHL_NN", "TSM_NN", "ADG443_NN", "KD490_M07", "chlor_a", "ADG443_LSD",
)  # fmt: skip
"""Variables stored as log10 of the physical value (units ``lg(re ...)`` in satpy's
``olci_l2.yaml`` and SNAP; chlor_a and ADG443_LSD: the generator's Collection 4 names,
unverified)."""
WATER_VARIABLES: tuple[str, ...] = (
    *(f"{b}_reflectance" for b in BANDS),
    *LOG10_VARIABLES,
    "PAR",
    "T865",
    "A865",
    "IWV",
    "FPH",
)
"""Every variable name :func:`water_truth` accepts."""

REFERENCE_YEAR = 2020.0
"""Reference epoch of the linear trends in :func:`water_truth` (decimal year)."""


def _days_j2000(decimal_years: np.ndarray | float) -> np.ndarray:
    """Days since 2000-01-01T12:00 UTC of decimal years (inverse of
    :func:`eotrend.synthetic.spec.decimal_year`)."""
    t = np.asarray(decimal_years, dtype=np.float64)
    year = np.floor(t)
    first = (year - 1970).astype("int64").astype("datetime64[Y]").astype("datetime64[D]")
    following = (year - 1969).astype("int64").astype("datetime64[Y]").astype("datetime64[D]")
    first_days = first.astype(np.int64).astype(np.float64)
    length = (following - first).astype(np.int64).astype(np.float64)
    return first_days + (t - year) * length - sw.J2000_UNIX_S / 86400.0


_FIELD_COMPONENTS = 3


def _field_params(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fixed random parameters of the smooth field ``name``: directions (K, 3), wave
    numbers (K,) in rad per unit-vector length (wavelengths 40-200 km), phases, weights."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    dirs = rng.standard_normal((_FIELD_COMPONENTS, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    kappa = 2.0 * np.pi * sw.EARTH_RADIUS_M / rng.uniform(40e3, 200e3, _FIELD_COMPONENTS)
    phase = rng.uniform(0.0, 2.0 * np.pi, _FIELD_COMPONENTS)
    weight = rng.uniform(0.5, 1.0, _FIELD_COMPONENTS)
    return dirs, kappa, phase, weight / weight.sum()


_FIELDS = {
    n: _field_params(n)
    for n in ("turb", "chl", "cdom", "slope1", "slope2", "aer", "ang", "wv", "alt")
}
# Reflectance model per band: base = a + c * turb + d * chl (dimensionless rho_w).
# Oa21 straddles zero (as real 1020 nm rho_w does): negative where turb < -0.5 in 2020.
_REFL_A = (.020, .022, .026, .034, .040, .052, .048, .044, .043, .042, .036, .020, .018,
           .012, .011, .001)  # fmt: skip
_REFL_C = (.006, .007, .008, .010, .012, .016, .015, .014, .014, .013, .012, .008, .007,
           .005, .004, .002)  # fmt: skip
_REFL_D = (-.004, -.004, -.004, -.003, -.001, .002, .001, -.001, 0.0, .001, .004, .001, .001,
           0.0, 0.0, 0.0)  # fmt: skip
# log10 products: (a0, {field: coefficient}, b0, b1, slope field); log10 = a + b (t - 2020),
# b = b0 + b1 * slope field.
_LOG10_MODEL = {
    "CHL_OC4ME": (0.45, {"chl": 0.55}, 0.020, 0.015, "slope1"),
    "CHL_NN": (0.50, {"chl": 0.45, "turb": 0.10}, 0.020, 0.015, "slope2"),
    "TSM_NN": (1.00, {"turb": 0.45}, 0.030, 0.020, "slope1"),
    "ADG443_NN": (-0.70, {"cdom": 0.40}, 0.010, 0.010, "slope2"),
    "KD490_M07": (-0.30, {"turb": 0.35, "chl": 0.10}, 0.015, 0.010, "slope1"),
}
# Collection 4: chlor_a is the same OC4Me algorithm as CHL_OC4ME; ADG443_LSD a second
# retrieval of ADG443_NN's quantity. Same truth (a reprocessing shift is not modelled).
_LOG10_MODEL["chlor_a"] = _LOG10_MODEL["CHL_OC4ME"]
_LOG10_MODEL["ADG443_LSD"] = _LOG10_MODEL["ADG443_NN"]
FPH_SLOPE = 0.003
"""Linear trend of FPH (fluorescence peak height), mW.m-2.sr-1.nm-1 per year."""


class _Truth:
    """The truth model at fixed points; caches the unit vectors and the smooth fields.

    Args:
        lon, lat: degrees, broadcastable; all outputs have their broadcast shape (float64).
    """

    def __init__(self, lon: np.ndarray, lat: np.ndarray) -> None:
        lon, lat = np.broadcast_arrays(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
        lam, phi = np.radians(lon), np.radians(lat)
        cos_phi = np.cos(phi)
        self.lon, self.lat = lon, lat
        self._xyz = (cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi))
        self._xyz32 = tuple(c.astype(np.float32) for c in self._xyz)
        self._cache: dict[str, np.ndarray] = {}

    def field(self, name: str) -> np.ndarray:
        """Smooth field in [-1, 1] (float32: weighted sum of plane waves on the sphere).

        Evaluated in float32 for speed (SIMD cosine): the values carry a jitter of about
        1e-4, far below every product's packing step.
        """
        if name not in self._cache:
            dirs, kappa, phase, weight = _FIELDS[name]
            x, y, z = self._xyz32
            acc = np.zeros(x.shape, np.float32)
            for k in range(_FIELD_COMPONENTS):
                d = (dirs[k] * kappa[k]).astype(np.float32)
                arg = x * d[0]
                arg += y * d[1]
                arg += z * d[2]
                arg += np.float32(phase[k])
                np.cos(arg, out=arg)
                arg *= np.float32(weight[k])
                acc += arg
            self._cache[name] = acc
        return self._cache[name]

    def reflectance_slope(self, i: int) -> np.ndarray:
        """d rho_w / dt of band index ``i`` (per year), in [1e-3, 5e-3]."""
        alpha = i / (len(BANDS) - 1)
        mix = (1.0 - alpha) * self.field("slope1") + alpha * self.field("slope2")
        return 3e-3 + 2e-3 * mix

    def reflectance(self, i: int, t: np.ndarray | float) -> np.ndarray:
        """rho_w of band index ``i`` at decimal year ``t``."""
        base = _REFL_A[i] + _REFL_C[i] * self.field("turb") + _REFL_D[i] * self.field("chl")
        return base + self.reflectance_slope(i) * (np.asarray(t) - REFERENCE_YEAR)

    def log10_slope(self, name: str) -> np.ndarray:
        """d log10(value) / dt (per year) of a log10 product."""
        _, _, b0, b1, slope_field = _LOG10_MODEL[name]
        return b0 + b1 * self.field(slope_field)

    def log10_value(self, name: str, t: np.ndarray | float) -> np.ndarray:
        """log10 of a log10 product's physical value at decimal year ``t``."""
        a0, terms, _, _, _ = _LOG10_MODEL[name]
        a = a0 + sum(coef * self.field(f) for f, coef in terms.items())
        return a + self.log10_slope(name) * (np.asarray(t) - REFERENCE_YEAR)

    def cos_sza(self, t: np.ndarray | float) -> np.ndarray:
        """cos(Sun zenith angle) at decimal year ``t`` (UTC)."""
        return sw.cos_solar_zenith(*self._xyz, _days_j2000(t))

    def value(self, variable: str, t: np.ndarray | float) -> np.ndarray:
        """Physical value of ``variable`` (see :func:`water_truth`)."""
        if variable.endswith("_reflectance") and variable[:4] in BANDS:
            return self.reflectance(BANDS.index(variable[:4]), t)
        if variable in _LOG10_MODEL:
            return 10.0 ** self.log10_value(variable, t)
        dt = np.asarray(t, dtype=np.float64) - REFERENCE_YEAR
        if variable == "PAR":
            mu = np.clip(self.cos_sza(t), 0.0, None)
            return 2100.0 * mu**1.2 * (0.93 + 0.05 * self.field("aer"))
        if variable == "T865":
            return 0.10 + 0.06 * self.field("aer") + 0.002 * dt
        if variable == "A865":
            return 1.2 + 0.5 * self.field("ang") + 0.0 * dt
        if variable == "IWV":
            season = np.cos(2.0 * np.pi * (np.asarray(t) % 1.0 - 0.55))
            return 20.0 + 10.0 * self.field("wv") + 6.0 * np.sin(np.radians(self.lat)) * season
        if variable == "FPH":
            return 0.25 + 0.12 * self.field("chl") + FPH_SLOPE * dt
        raise ValueError(f"unknown water variable {variable!r}; known: {WATER_VARIABLES}")

    def slope(self, variable: str) -> np.ndarray:
        """Linear trend per year (see :func:`trend_truth`)."""
        if variable.endswith("_reflectance") and variable[:4] in BANDS:
            return self.reflectance_slope(BANDS.index(variable[:4]))
        if variable in _LOG10_MODEL:
            return self.log10_slope(variable)
        if variable == "T865":
            return np.full(self.lon.shape, 0.002)
        if variable == "A865":
            return np.zeros(self.lon.shape)
        if variable == "FPH":
            return np.full(self.lon.shape, FPH_SLOPE)
        raise ValueError(
            f"{variable!r} has no linear trend (PAR follows the sun, IWV the "
            "season); trends exist for reflectances, log10 products, T865, A865, FPH"
        )


def water_truth(
    variable: str, lon: np.ndarray, lat: np.ndarray, t: np.ndarray | float
) -> np.ndarray:
    """Physical value (float64) of a water variable at lon/lat (degrees) and decimal year t.

    Inputs broadcast together. Smooth in space (wavelengths 40-200 km). Models:

    * ``OaNN_reflectance``: ``base(lon, lat) + slope(lon, lat) * (t - 2020)``, base about
      0.003-0.07 by band, slope in [1e-3, 5e-3] per year (:func:`trend_truth`).
    * CHL_OC4ME, CHL_NN (mg.m-3), TSM_NN (g.m-3), ADG443_NN, KD490_M07 (m-1): physical
      value (not log10) with ``log10(value) = a(lon, lat) + b(lon, lat) * (t - 2020)``.
    * PAR (µEinstein.m-2.s-1): ``2100 cos(SZA)^1.2`` x a smooth factor, SZA from the time
      of day in ``t``; T865: about 0.04-0.16 + 0.002 (t - 2020); A865: 0.7-1.7;
      IWV (kg.m-2): 10-30 + a seasonal term.
    * Collection 4: chlor_a = CHL_OC4ME, ADG443_LSD = ADG443_NN (same models);
      FPH (mW.m-2.sr-1.nm-1): 0.13-0.37 + 0.003 (t - 2020).
    """
    return _Truth(lon, lat).value(variable, t)


def trend_truth(variable: str, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Per-year linear trend of a variable at lon/lat (float64).

    Reflectances: d value / dt. log10 products: d log10(value) / dt. T865: 0.002; A865: 0;
    FPH: 0.003. PAR and IWV have no linear trend (ValueError).
    """
    return _Truth(lon, lat).slope(variable)

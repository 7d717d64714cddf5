"""The values the water pixels of a block get before packing: the truth of
:mod:`eotrend.synthetic.fields`, corrupted where a reader must reject it through the flags,
fill where the product failed, and their error estimates.

* Values: :func:`eotrend.synthetic.fields.water_truth` at the scene's decimal year
  (:func:`eotrend.synthetic.spec.scene_decimal_year`, from ``sensing_start``) on clear
  water pixels, exactly (up to packing). Water products are fill over LAND and on INVALID
  pixels; IWV is also valid over land. Each product also has its own failures (fill +
  flag): CHL_OC4ME on OC4ME_FAIL, CHL_NN/TSM_NN/ADG443_NN on OCNN_FAIL, KD490_M07 on
  KDM_FAIL, PAR on PAR_FAIL, T865/A865 on AC_FAIL, IWV on WV_FAIL (Collection 4: chlor_a
  on CHLOR_A_FAIL, KD490_M07 on KD_FAIL, ADG443_LSD on IOP_LSD_FAIL; the classic names
  stand for the renamed flags in the code, :data:`eotrend.synthetic.wfr_format.LAYOUT_NAMES`).
* Corruptions a reader must reject through the flags: under CLOUD the values exist but are
  biased (reflectance +0.03..0.13, log10 products +0.3, T865 +0.6, A865 -0.6, PAR x0.6,
  FPH +0.2), on the 4-pixel CLOUD_MARGIN ring around clouds (its inner 2 pixels also
  CLOUD_AMBIGUOUS) slightly biased (reflectance +0.004, log10 +0.05, T865 +0.05, FPH
  +0.02); in AC_FAIL
  patches the blue (Oa01-03) and NIR (Oa16-21) reflectances are shifted down by 0.05/0.03,
  which makes them negative (RWNEG_Oxx, bits >= 2^40). ANNOT_TAU06 (T865 > 0.6),
  ANNOT_ANGSTROM (A865 < 0.7) and ANNOT_ABSO_D (AC_FAIL patches) set bits 32-39
  (Collection 4: ANNOT_HIGH_AOT and ANNOT_ALPHA on the same bits; no ANNOT_ABSO_D);
  HISOLZEN marks SZA > 70 deg (at the scene start time). RWNEG also occurs on clear water
  where the truth itself is negative (Oa21 around 2020 and earlier, where the turbidity
  field is low). COASTLINE, TURBID_ATM, TIDAL, SNOW_ICE, glint, CLOUD_SHADOW, BRDF_OOR and
  the other flags are never set.
"""

from __future__ import annotations

import numpy as np

from eotrend.synthetic.packing import _LOG10_PACKING
from eotrend.synthetic.spec import SceneSpec
from eotrend.synthetic.surface import _Block
from eotrend.synthetic.wfr_format import BANDS

_BLUE = ("Oa01", "Oa02", "Oa03")
_NIR = ("Oa16", "Oa17", "Oa18", "Oa21")


class _BlockValues:
    """Physical values (before packing) of the water variables in one block."""

    def __init__(self, blk: _Block, t: float, spec: SceneSpec) -> None:
        self.blk, self.t, self.spec = blk, t, spec
        self.truth = blk.truth
        self.valid = blk.water & ~blk.invalid
        cloud_refl = 0.03 + 0.1 * blk.strength
        self.refl_bias = np.where(blk.cloud, cloud_refl, np.where(blk.margin, 0.004, 0.0))
        self.log_bias = np.where(blk.cloud, 0.3, np.where(blk.margin, 0.05, 0.0))

    def reflectance(self, i: int) -> np.ndarray:
        """rho_w of band index i as written: truth + cloud bias + AC_FAIL shift (+ noise)."""
        value = self.truth.reflectance(i, self.t) + self.refl_bias
        if self.spec.reflectance_noise:  # its own stream: the same whichever files are made
            rng = np.random.default_rng([self.spec.seed, 200, self.blk.r0, i])
            value += rng.normal(0.0, self.spec.reflectance_noise, value.shape)
        if BANDS[i] in _BLUE:
            value -= 0.05 * self.blk.ac_fail
        elif BANDS[i] in _NIR:
            value -= 0.03 * self.blk.ac_fail
        return value

    def log10(self, name: str) -> np.ndarray:
        """log10 of a log10 product as written (truth + cloud bias)."""
        return self.truth.log10_value(name, self.t) + self.log_bias

    def linear(self, name: str) -> np.ndarray:
        """PAR, T865, A865, IWV or FPH as written."""
        value = self.truth.value(name, self.t)
        c, m = self.blk.cloud, self.blk.margin
        if name == "PAR":
            return value * np.where(c, 0.6, 1.0)
        if name == "T865":
            return value + np.where(c, 0.6, np.where(m, 0.05, 0.0))
        if name == "A865":
            return value - np.where(c, 0.6, 0.0)
        if name == "FPH":
            return value + np.where(c, 0.2, np.where(m, 0.02, 0.0))
        return value

    def valid_of(self, name: str) -> np.ndarray:
        """Where ``name`` has a value (elsewhere it is fill)."""
        fails = self.blk.fails
        if name == "IWV":
            return ~self.blk.invalid & ~fails["WV_FAIL"]
        extra = {
            "CHL_OC4ME": fails["OC4ME_FAIL"], "CHL_NN": fails["OCNN_FAIL"],
            "TSM_NN": fails["OCNN_FAIL"], "ADG443_NN": fails["OCNN_FAIL"],
            "KD490_M07": fails["KDM_FAIL"], "PAR": fails["PAR_FAIL"],
            "T865": self.blk.ac_fail, "A865": self.blk.ac_fail,
            "chlor_a": fails["OC4ME_FAIL"], "ADG443_LSD": fails.get("IOP_LSD_FAIL"),
        }.get(name)  # fmt: skip
        return self.valid if extra is None else self.valid & ~extra


def _error_of(name: str, value: np.ndarray, values: _BlockValues) -> np.ndarray:
    """Error estimate (physical, or log10 units for log10 products) of a variable."""
    if name.endswith("_reflectance"):
        err = np.abs(value)
        err *= 0.02
        err += 0.0004
        return err
    if name in _LOG10_PACKING:
        return 0.08 + 0.04 * values.truth.field("cdom")
    return {
        "PAR": 0.05 * value + 5.0,
        "T865": 0.01 + 0.1 * np.abs(value),
        "A865": np.full(value.shape, 0.1),
        "IWV": 1.0 + 0.05 * value,
        "FPH": 0.01 + 0.05 * np.abs(value),
    }[name]

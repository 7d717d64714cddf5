"""Which pixels of a scene are valid, per variable, from the product's quality flags.

Flags are always decoded through the file's own ``flag_masks``/``flag_meanings`` (two WQSF
bit layouts exist). A dataset's ``quality`` setting is a preset or an explicit rule.

Presets follow SNAP's recommended per-product masks (``WQSF_<product>_RECOM`` of s3tbx
``OlciLevel2WProductFactory``, github.com/senbox-org/s3tbx), so that each variable is
judged by the flags that concern its own retrieval:

* reflectances, T865/A865 (W_AER), and variables without a mask of their own: the
  ocean-colour part (WATER or INLAND_WATER; none of CLOUD, CLOUD_AMBIGUOUS,
  CLOUD_MARGIN, INVALID, COSMETIC, SATURATED, SUSPECT, HISOLZEN, HIGHGLINT, SNOW_ICE)
  and the open-water part (none of AC_FAIL, WHITECAPS, ADJAC, RWNEG_O2..O8);
* CHL_OC4ME, KD490_M07, PAR: the same plus their failure flag (OC4ME_FAIL, KDM_FAIL,
  PAR_FAIL);
* CHL_NN, TSM_NN, ADG443_NN: the ocean-colour part and not OCNN_FAIL only. The
  neural-net retrievals are meant for the turbid and coastal waters where AC_FAIL and
  RWNEG are common: the reflectance mask would drop exactly those pixels;
* IWV: not MEGLINT and not WV_FAIL (no surface requirement).

A preset names flags a file may not define (another baseline or processor): those are
left out and reported (:attr:`VariableRule.unapplied`). A flag named in an explicit rule
that the file lacks is an error naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eotrend.core.errors import InputError
from eotrend.sentinel3 import reader

# s3tbx OlciLevel2WProductFactory: oceanColourExpression and openWaterExpression.
OCEAN_COLOUR_EXCLUDE = (
    "CLOUD",
    "CLOUD_AMBIGUOUS",
    "CLOUD_MARGIN",
    "INVALID",
    "COSMETIC",
    "SATURATED",
    "SUSPECT",
    "HISOLZEN",
    "HIGHGLINT",
    "SNOW_ICE",
)
OPEN_WATER_EXCLUDE = ("AC_FAIL", "WHITECAPS", "ADJAC", *(f"RWNEG_O{b}" for b in range(2, 9)))
WATER_SURFACE = ("WATER", "INLAND_WATER")
# A product's own failure flags (s3tbx masks; LFR: ESA's OLCI land flags page,
# sentinel.esa.int).
PRODUCT_FLAGS: dict[str, tuple[str, ...]] = {
    "CHL_OC4ME": ("OC4ME_FAIL",),
    "CHL_NN": ("OCNN_FAIL",),
    "TSM_NN": ("OCNN_FAIL",),
    "ADG443_NN": ("OCNN_FAIL",),
    "KD490_M07": ("KDM_FAIL",),
    "PAR": ("PAR_FAIL",),
    "IWV": ("MEGLINT", "WV_FAIL"),
    "OGVI": ("OGVI_FAIL",),
    "GIFAPAR": ("GIFAPAR_FAIL",),
    "OTCI": ("OTCI_FAIL",),
    # Collection 4 (files of the real 004 manifest in stactools-packages/sentinel3): the
    # variable names are the synthetic generator's (unverified); chlor_a.nc is the OC4Me
    # chlorophyll, iop_lsd.nc pairs with IOP_LSD_FAIL (inferred).
    "chlor_a": ("OC4ME_FAIL",),
    "ADG443_LSD": ("IOP_LSD_FAIL",),
}
NEURAL_NET = ("CHL_NN", "TSM_NN", "ADG443_NN")
LAND_EXCLUDE = (
    "INVALID",
    "CLOUD",
    "CLOUD_AMBIGUOUS",
    "CLOUD_MARGIN",
    "SNOW_ICE",
    "COSMETIC",
    "SATURATED",
    "SUSPECT",
    "HISOLZEN",
)
PRESETS = ("water", "land", "none")
RULE_KEYS = ("require", "require_any", "exclude")


@dataclass(frozen=True)
class Rule:
    """Flags that must all be set (``require``), of which one must be set
    (``require_any``, when not empty), and that must all be clear (``exclude``)."""

    require: tuple[str, ...] = ()
    require_any: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, list[str]]:
        return {key: list(getattr(self, key)) for key in RULE_KEYS}


@dataclass(frozen=True)
class VariableRule:
    """The rule one variable is judged by in one file, and the preset flags that file
    does not define (left out; empty for explicit rules, which must match the file)."""

    rule: Rule
    unapplied: tuple[str, ...] = field(default=())


def check_setting(setting: str | dict) -> None:
    """InputError unless ``setting`` is a preset name or an explicit rule."""
    if isinstance(setting, str) and setting not in PRESETS:
        raise InputError(
            f"quality = {setting!r}",
            "is not a quality preset",
            f"Use one of {', '.join(PRESETS)} or an explicit rule (require, require_any, exclude).",
        )


def preset_rule(preset: str, variable: str, product_masks: bool = True) -> Rule:
    """The rule of ``variable`` under ``preset`` (see the module docstring); without
    ``product_masks`` a variable's own failure flags are left out."""
    check_setting(preset)
    own = PRODUCT_FLAGS.get(variable, ()) if product_masks else ()
    if preset == "none":
        return Rule(exclude=own)
    if preset == "land":
        return Rule(require=("LAND",), exclude=(*LAND_EXCLUDE, *own))
    if variable == "IWV":
        return Rule(exclude=own)
    if variable in NEURAL_NET:
        return Rule(require_any=WATER_SURFACE, exclude=(*OCEAN_COLOUR_EXCLUDE, *own))
    return Rule(
        require_any=WATER_SURFACE, exclude=(*OCEAN_COLOUR_EXCLUDE, *OPEN_WATER_EXCLUDE, *own)
    )


def variable_rule(
    setting: str | dict,
    variable: str,
    masks: dict[str, np.uint64],
    product_masks: bool = True,
    where: Path | str = "",
) -> VariableRule:
    """The rule ``variable`` is judged by in the flag file ``where`` with flag ``masks``.

    Presets leave out the flags to exclude that the file does not define (reported as
    ``unapplied``); a surface they require (LAND; WATER or INLAND_WATER) that the file
    cannot express is an InputError naming ``where``, since without it land would pass
    for water. An explicit rule is used as written, with the variable's own failure
    flags added when ``product_masks`` (those the file defines).
    """
    if isinstance(setting, str):
        rule = preset_rule(setting, variable, product_masks)
        reader.flag_mask(masks, list(rule.require), where)
        if rule.require_any and not any(name in masks for name in rule.require_any):
            reader.flag_mask(masks, list(rule.require_any), where)
        missing = tuple(
            name for name in dict.fromkeys([*rule.require_any, *rule.exclude]) if name not in masks
        )

        def present(names):
            return tuple(n for n in names if n in masks)

        kept = Rule(rule.require, present(rule.require_any), present(rule.exclude))
        return VariableRule(kept, missing)
    own = PRODUCT_FLAGS.get(variable, ()) if product_masks else ()
    explicit = {key: tuple(setting.get(key, ())) for key in RULE_KEYS}
    extra = tuple(name for name in own if name in masks and name not in explicit["exclude"])
    return VariableRule(
        Rule(explicit["require"], explicit["require_any"], explicit["exclude"] + extra)
    )


def valid_by_flags(
    flags: np.ndarray, masks: dict[str, np.uint64], rule: Rule, where: Path
) -> np.ndarray:
    """Boolean array, the shape of ``flags`` (uint64): every ``require`` flag set, one of
    ``require_any`` set (when given), no ``exclude`` flag set. A name the file does not
    define is an InputError naming ``where``."""
    required = reader.flag_mask(masks, list(rule.require), where)
    valid = (flags & required) == required
    if rule.require_any:
        valid &= (flags & reader.flag_mask(masks, list(rule.require_any), where)) != 0
    valid &= (flags & reader.flag_mask(masks, list(rule.exclude), where)) == 0
    return valid

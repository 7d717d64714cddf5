"""Which pixels of a scene are valid, per variable, from the product's quality flags.

Flags are always decoded by name through the file's own ``flag_masks``/``flag_meanings``:
bit numbers move between baselines, and Collection 4 renames flags. A dataset's
``quality`` setting is a preset or an explicit rule.

Presets follow SNAP's recommended per-product masks (``WQSF_<product>_RECOM`` of s3tbx
``OlciLevel2WProductFactory``, github.com/senbox-org/s3tbx), so that each variable is
judged by the flags that concern its own retrieval:

* reflectances, T865/A865 (W_AER), and variables without a mask of their own: the
  ocean-colour part (WATER or INLAND_WATER; none of CLOUD, CLOUD_AMBIGUOUS,
  CLOUD_MARGIN, CLOUD_SHADOW, INVALID, COSMETIC, SATURATED, SUSPECT, HISOLZEN, HIGHGLINT,
  SNOW_ICE) and the open-water part (none of AC_FAIL, WHITECAPS, ADJAC, BRDF_OOR,
  RWNEG_O2..O8);
* CHL_OC4ME, KD490_M07, PAR: the same plus their failure flag (OC4ME_FAIL, KDM_FAIL,
  PAR_FAIL); Collection 4 names the first two CHLOR_A_FAIL and KD_FAIL, and its chlor_a
  and kd_490 are judged like CHL_OC4ME and KD490_M07;
* CHL_NN, TSM_NN, ADG443_NN: the ocean-colour part and not OCNN_FAIL only. The
  neural-net retrievals are meant for the turbid and coastal waters where AC_FAIL and
  RWNEG are common: the reflectance mask would drop exactly those pixels;
* IWV: not MEGLINT and not WV_FAIL (no surface requirement).

CLOUD_SHADOW and BRDF_OOR exist only in Collection 4 WQSF tables (a real one: SNAP's test
description of S3B_OL_2_WFR____20221216T131616 in github.com/senbox-org/optical-toolbox,
copied in tests/data/real-flag-tables). No public document defining them or saying which
products they concern was found, and SNAP's recommended masks, unchanged for Collection 4,
name neither; eotrend's choice, from their names and that product's own descriptions:

* CLOUD_SHADOW joins the cloud flags of the ocean-colour part: a water pixel in a cloud's
  shadow misses the direct sunlight, so its signal, and every water product derived from
  it, is biased low, a contamination by cloud like that of CLOUD_MARGIN pixels;
* BRDF_OOR (read as "BRDF correction out of range": the name is not spelled out there)
  joins the open-water part, the reliability of the
  reflectances: that product calls its reflectances "BRDF-corrected water remote-sensing
  reflectance" (and its FPH "derived from BRDF-corrected reflectances"), so where the
  correction is out of range a reflectance is not corrected like its neighbours in time
  and space, which a trend must not mix.

A preset names flags a file may not define (another baseline or processor): those are
left out and reported (:attr:`VariableRule.unapplied`); a renamed failure flag counts as
present under any of its names (:data:`RENAMED_FLAGS`) and is reported, when the file has
none of them, as ``OC4ME_FAIL or CHLOR_A_FAIL``. A flag named in an explicit rule that the
file lacks is an error naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eotrend.core.errors import InputError
from eotrend.sentinel3 import reader

# s3tbx OlciLevel2WProductFactory: oceanColourExpression and openWaterExpression, plus
# CLOUD_SHADOW and BRDF_OOR of Collection 4 (module docstring).
OCEAN_COLOUR_EXCLUDE = (
    "CLOUD",
    "CLOUD_AMBIGUOUS",
    "CLOUD_MARGIN",
    "CLOUD_SHADOW",
    "INVALID",
    "COSMETIC",
    "SATURATED",
    "SUSPECT",
    "HISOLZEN",
    "HIGHGLINT",
    "SNOW_ICE",
)
OPEN_WATER_EXCLUDE = (
    "AC_FAIL",
    "WHITECAPS",
    "ADJAC",
    "BRDF_OOR",
    *(f"RWNEG_O{b}" for b in range(2, 9)),
)
WATER_SURFACE = ("WATER", "INLAND_WATER")
# Failure flags a baseline renamed: the names one flag has had, oldest first. The real
# WQSF tables (SNAP's test descriptions in github.com/senbox-org/optical-toolbox, copied in
# tests/data/real-flag-tables): Collection 4 keeps the bits of OC4ME_FAIL (19) and KDM_FAIL
# (21) of the 2024 table under the names CHLOR_A_FAIL and KD_FAIL.
CHL_FAIL = ("OC4ME_FAIL", "CHLOR_A_FAIL")
KD_FAIL = ("KDM_FAIL", "KD_FAIL")
RENAMED_FLAGS: tuple[tuple[str, ...], ...] = (CHL_FAIL, KD_FAIL)
_ALIASES = {name: names for names in RENAMED_FLAGS for name in names}
# A product's own failure flags (s3tbx masks; LFR: ESA's OLCI land flags page,
# sentinel.esa.int), every name of a renamed one: a file defines one of them.
PRODUCT_FLAGS: dict[str, tuple[str, ...]] = {
    "CHL_OC4ME": CHL_FAIL,
    "CHL_NN": ("OCNN_FAIL",),
    "TSM_NN": ("OCNN_FAIL",),
    "ADG443_NN": ("OCNN_FAIL",),
    "KD490_M07": KD_FAIL,
    "PAR": ("PAR_FAIL",),
    "IWV": ("MEGLINT", "WV_FAIL"),
    "OGVI": ("OGVI_FAIL",),
    "GIFAPAR": ("GIFAPAR_FAIL",),
    "OTCI": ("OTCI_FAIL",),
    # Collection 4. chlor_a and kd_490 are the chlorophyll ("log10 scaled Algal pigment
    # concentration (OC4_OLCI, MuBR, CI and NDCI blend)") and the diffuse attenuation
    # ("(Jamet et al 2012) Attenuation coefficient") of the real Collection 4 product that
    # SNAP describes (optical-toolbox, S3B_OL_2_WFR____20221216T131616.json), which has
    # neither CHL_OC4ME nor KD490_M07: CHLOR_A_FAIL and KD_FAIL are theirs (inferred from the
    # renames; which files hold them is not said there: eotrend reads names from the
    # files). A 2024 product has kd_490 beside KD490_M07 (S3B_OL_2_WFR____20240806T055947
    # there); its KDM_FAIL, M07's failure, is applied to it: its own is not documented.
    # ADG443_LSD is the synthetic generator's name in iop_lsd.nc (not a real one: the real
    # product has acdm_443, aphy_443, ...), whose failures it flags with IOP_LSD_FAIL.
    "chlor_a": CHL_FAIL,
    "kd_490": KD_FAIL,
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
    """The rule of ``variable`` under ``preset`` (see the module docstring), naming every
    flag the preset may use in any baseline (both names of a renamed failure flag);
    :func:`variable_rule` keeps those a file defines. Without ``product_masks`` a
    variable's own failure flags are left out."""
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
    ``unapplied``; a renamed failure flag of which the file defines no name as
    ``OC4ME_FAIL or CHLOR_A_FAIL``); a surface they require (LAND; WATER or INLAND_WATER)
    that the file cannot express is an InputError naming ``where``, since without it land
    would pass for water. An explicit rule is used as written, with the variable's own
    failure flags added when ``product_masks`` (under the names the file defines).
    """
    if isinstance(setting, str):
        rule = preset_rule(setting, variable, product_masks)
        reader.flag_mask(masks, list(rule.require), where)
        if rule.require_any and not any(name in masks for name in rule.require_any):
            reader.flag_mask(masks, list(rule.require_any), where)
        missing: dict[str, None] = {}
        for name in dict.fromkeys([*rule.require_any, *rule.exclude]):
            names = _ALIASES.get(name, (name,))
            if not any(alias in masks for alias in names):
                missing[" or ".join(names)] = None

        def present(names):
            return tuple(n for n in names if n in masks)

        kept = Rule(rule.require, present(rule.require_any), present(rule.exclude))
        return VariableRule(kept, tuple(missing))
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

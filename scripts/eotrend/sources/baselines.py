"""Plan-level checks of a dataset's scenes by processing baseline, before any scene job.

The archive holds products of several processing baselines (the name's last three
digits, ESA's OLCI naming convention). They differ in their files and flags: Collection 4
(baseline 004) has no chl_oc4me.nc (CHL_OC4ME) but chlor_a.nc, fluorescence.nc and
iop_lsd.nc (the real 004 manifest in stactools-packages/sentinel3, tests/data-files), and
a WQSF carries the flags its baseline defines. The download checkpoint calls
:func:`check_scenes` once it knows the scenes, so that a setting that cannot work on some
of them fails at once, as one clear message, instead of as a crash of one scene job deep
in the run.

For each baseline among the scenes with status ``ok``, ONE product (the first in
sensing order, read from the cache) is opened, which is enough because the file set and
the flag definitions are those of the baseline:

* every configured variable must resolve (:func:`eotrend.sentinel3.reader.variable_file`). One
  missing in a baseline, when the products of another baseline have it or when its
  baseline replaced its file (CHL_OC4ME in 004), is an InputError naming the dataset,
  the baseline, how many scenes have it, the variable and what to use instead (for
  CHL_OC4ME on 004: the variables of chlor_a.nc; else the variables that baseline's
  files offer). One that no baseline's product has (a misspelling, the wrong product
  type) is the same error, with the closest name the files offer;
* the dataset's quality setting is resolved per variable against that product's flag
  masks (:func:`eotrend.sentinel3.quality.variable_rule`): preset flags the baseline's WQSF does
  not define are logged once per dataset (they are left out of the preset); a flag of
  an explicit rule that the WQSF lacks is an error naming the file;
* a variable whose file units disagree with the column name eotrend gives it without
  reading the file (:func:`eotrend.sentinel3.extract.value_column`) is a warning: its columns
  would differ between scenes inside and outside the swath.

A series crossing baselines, all variables available, is a warning naming the baselines
and their scene counts: a reprocessing can shift values.
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter
from pathlib import Path

import numpy as np

from eotrend.core.errors import InputError
from eotrend.sentinel3 import layout, quality, reader
from eotrend.sentinel3.extract import value_column
from eotrend.sources.scenelist import Entry

log = logging.getLogger(__name__)

# Files that hold coordinates, ancillary data or flags, not variables a user extracts.
NOT_VALUE_FILES = frozenset(
    {
        "geo_coordinates.nc",
        "tie_geo_coordinates.nc",
        "time_coordinates.nc",
        "tie_meteo.nc",
        "instrument_data.nc",
        "wqsf.nc",
        "lqsf.nc",
    }
)


def check_scenes(name: str, dataset: dict, entries: list[Entry]) -> None:
    """Check a sentinel3 dataset's configured variables and quality setting against one
    product of each baseline among its ``ok`` scenes (see the module docstring).

    Args:
        name: the dataset's name in the config.
        dataset: its validated config (``kind``, ``variables``, ``quality``,
            ``product_masks``).
        entries: the manifest entries of its scenes.

    Raises:
        InputError: a variable is missing from a baseline's products (all such are named
            in the one message), or an explicit quality rule names a flag a baseline's
            flag file lacks.
    """
    if dataset["kind"] != "sentinel3":
        return
    scenes = sorted(
        (e for e in entries if e.status == "ok" and e.baseline),
        key=lambda e: (e.sensing_start, e.name),
    )
    counts = Counter(e.baseline for e in scenes)
    samples = {}
    for entry in scenes:
        if entry.baseline not in samples and Path(entry.path).is_dir():
            samples[entry.baseline] = Path(entry.path)
    variables = list(dataset["variables"])
    missing = []
    for variable in variables:
        lacking = []
        for baseline, product in sorted(samples.items()):
            try:
                path = reader.variable_file(product, variable)
            except InputError:
                lacking.append(_missing(baseline, counts, len(scenes), product, variable))
            else:
                _check_units(name, baseline, path, variable)
        missing += lacking
    if missing:
        raise InputError(
            f"datasets.{name}.variables",
            "; ".join(missing),
            "Ask for a variable the products have, or restrict the dataset's dates (start, "
            "end) to scenes of the other baselines.",
        )
    _check_quality(name, dataset, samples, counts, variables)
    if len(counts) > 1:
        log.warning(
            "dataset %s: its %d scenes come from %d processing baselines: %s. A reprocessing "
            "can shift values: compare the baselines over a common period before reading a "
            "trend across them, or restrict the dates to one baseline",
            name,
            len(scenes),
            len(counts),
            ", ".join(f"{layout.collection(b)}: {_scenes(counts[b])}" for b in sorted(counts)),
        )


def _scenes(count: int) -> str:
    """``1 scene``, ``3 scenes``."""
    return f"{count} scene" if count == 1 else f"{count} scenes"


def _missing(baseline: str, counts: Counter, total: int, product: Path, variable: str) -> str:
    """What the message says about a variable missing from a baseline's products."""
    where = (
        f"{variable} is not in the {layout.collection(baseline)} products, "
        f"{counts[baseline]} of the {total} scenes (checked in {product.name})"
    )
    replaced = reader.replacement(product, variable)
    if replaced is not None and replaced[1]:
        new, held = replaced
        old = layout.VARIABLE_FILES[variable]
        return f"{where}: {old} was replaced by {new}, which holds {', '.join(held)}"
    offered = [
        v
        for path in sorted(product.glob("*.nc"))
        if path.name not in NOT_VALUE_FILES
        for v in reader.file_variables(path)
    ]
    close = difflib.get_close_matches(variable, offered, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{where}{hint}; its files offer {', '.join(offered) or 'no variables'}"


def _check_units(name: str, baseline: str, path: Path, variable: str) -> None:
    """Warn when the file's units make the variable's column differ from the one scenes
    outside the swath get (named without reading a file)."""
    units = reader.variable_units(path, variable)
    from_file, documented = value_column(variable, units), value_column(variable)
    if from_file != documented:
        log.warning(
            "dataset %s: %s of %s products has units %r: its column is %s in scenes read "
            "from their files but %s in scenes outside the swath, so the time series "
            "splits it in two columns",
            name,
            variable,
            layout.collection(baseline),
            units,
            from_file,
            documented,
        )


def _check_quality(
    name: str, dataset: dict, samples: dict[str, Path], counts: Counter, variables: list[str]
) -> None:
    """Resolve each variable's quality rule against each baseline's flag masks: log the
    preset flags a baseline does not define (once for the dataset); an explicit rule's
    flag the flag file lacks is an InputError naming the file and the baseline."""
    setting = dataset["quality"]
    lacking: dict[str, dict[str, None]] = {}
    for baseline, product in sorted(samples.items()):
        path, masks = reader.read_flag_masks(product)
        lacking[baseline] = {}
        for variable in variables:
            try:
                rule = quality.variable_rule(
                    setting, variable, masks, dataset["product_masks"], path
                )
                lacking[baseline].update(dict.fromkeys(rule.unapplied))
                quality.valid_by_flags(np.zeros(0, np.uint64), masks, rule.rule, path)
            except InputError as error:
                raise InputError(
                    error.path,
                    f"{error.problem} ({layout.collection(baseline)}: "
                    f"{_scenes(counts[baseline])} of dataset {name})",
                    error.hint,
                ) from None
    # A preset flag no product of the series defines (e.g. Collection 4's CLOUD_SHADOW in
    # a series of older products) masks the series alike: worth a note. One that some
    # baselines define and others not makes the masks differ along the series: a warning.
    nowhere = set.intersection(*(set(flags) for flags in lacking.values())) if lacking else set()
    if nowhere:
        log.info(
            "dataset %s: quality preset %r: no product defines %s: applied without them",
            name,
            setting,
            ", ".join(flag for flag in next(iter(lacking.values())) if flag in nowhere),
        )
    differing = [
        f"{layout.collection(baseline)} products define no "
        + ", ".join(flag for flag in flags if flag not in nowhere)
        for baseline, flags in lacking.items()
        if set(flags) - nowhere
    ]
    if differing:
        log.warning(
            "dataset %s: quality preset %r: %s: applied without them, so the masks differ "
            "along the series",
            name,
            setting,
            "; ".join(differing),
        )

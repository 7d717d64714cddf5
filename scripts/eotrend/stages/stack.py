"""The stack stage: dated single-band rasters -> one multi-band GeoTIFF in date order.

Inputs are grouped (the tiles of an Earth Engine export become one mosaic), ordered by
their parsed dates, checked for alignment (or warped onto a reference grid), optionally
composited per period, and processed in row blocks that workers read themselves, so
memory is bounded by the block size whatever the number of inputs.

Without a composite every acquisition is a band. Inputs dated with a time of day
(Sentinel-3 scene grids: the manifest's sensing start) are labelled by that time to the
second, so several scenes of one UTC day are kept: on the real archive that is normal.
Sentinel-3B flies in Sentinel-3A's orbit 140 degrees out of phase (ESA, "Sentinel-3
orbit", sentinel.esa.int/web/sentinel/missions/sentinel-3/satellite-description/orbit),
so both pass over most places on many days, and an AOI can straddle two adjacent
~3-minute frames of one pass (duration field 0179 of the name, ESA's OLCI naming
convention). Two frames of one pass are two acquisitions seconds apart, each band
holding its part of the AOI; the ``daily`` composite merges the scenes of a UTC day (both
satellites, both frames) into one band. Inputs dated by day only (yearly exports) are
labelled by date, and two on one date still need a composite.

Blocks are one row of output tiles (256 rows; fewer when the memory budget is small),
or the whole raster at once, without worker processes, when it is small. Workers hand
their blocks over as .npy files in a temporary folder ($TMPDIR), at most ``workers + 1``
at a time, and this process compresses them into the GeoTIFF (with ``threads`` CPUs)
as they complete.
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from eotrend.core import provenance
from eotrend.core.atomic import atomic_path
from eotrend.core.errors import InputError, OutputError
from eotrend.engine.limits import plan_workers
from eotrend.engine.pool import Task, iter_tasks
from eotrend.geo import dates as dt
from eotrend.geo import mosaic, raster
from eotrend.geo.mosaic import Source
from eotrend.sentinel3 import passes

log = logging.getLogger(__name__)

REDUCERS = ("max", "min", "mean", "median", "count", "first", "last")
TILE = 256
"""Output tile size (pixels) and rows per block; smaller only when the budget is tight."""
BLOCK_BYTES = 256 * 2**20
"""The most memory a block takes in a task, whatever the raster's size."""
SINGLE_BLOCK_BYTES = 256 * 2**20
"""A stack whose whole-raster block takes at most this is made in this process: starting
worker processes would cost more than they save."""
_POLL_SECONDS = 0.02


@dataclass(frozen=True)
class Band:
    """One output band.

    Attributes:
        label: the acquisition (``2021-06-04T00:10:16Z``, or ``2019-07-02`` for inputs
            dated by day) or the period (``2021-06-04``, ``2019-03``, ``2019``, ...).
        date: the acquisition time (to the second), or the middle of the period (UTC).
        description: the band description: the label of an acquisition, the ISO date of
            ``date`` for a composite.
        inputs: the inputs the band reduces (one without a composite).
    """

    label: str
    date: datetime
    description: str
    inputs: tuple[Source, ...]

    @property
    def sources(self) -> tuple[str, ...]:
        """The input files of the band (every tile of a tiled export), as strings."""
        return tuple(str(path) for source in self.inputs for path in source.files)


def resolve_inputs(inputs: list[str | Path], variable: str | None = None) -> list[Path]:
    """GeoTIFF paths from files and folders (a folder gives <variable>.tif, or all *.tif)."""
    paths: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            paths.extend([item / f"{variable}.tif"] if variable else sorted(item.glob("*.tif")))
        else:
            paths.append(item)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise InputError(
            missing[0],
            f"does not exist ({len(missing)} input(s) missing)",
            "Check the input list or the dataset's `files` glob.",
        )
    if not paths:
        raise InputError(None, "no input rasters were given", "Check the dataset's inputs.")
    return paths


def covered_inputs(paths: list[Path], min_coverage: float) -> list[Path]:
    """``paths`` without the scene grids whose pass observes less than ``min_coverage``
    of the AOI. A grid's COVERAGE tag (written by extract) is the fraction of the AOI
    its scene observes; consecutive frames of one pass (SCENE tags,
    :mod:`eotrend.sentinel3.passes`) add up, so an AOI split between two frames stays in. Files
    without the tags (GeoTIFF series) are kept. InputError when nothing is left."""
    if min_coverage <= 0:
        return paths
    infos = [raster.read_info(path).tags for path in paths]
    tagged = [i for i, tags in enumerate(infos) if "COVERAGE" in tags and "SCENE" in tags]
    if not tagged:
        return paths
    names = [infos[i]["SCENE"] for i in tagged]
    starts = [datetime.fromisoformat(infos[i]["ACQUISITION_DATETIME"]) for i in tagged]
    total = pass_totals(names, starts, [float(infos[i]["COVERAGE"]) for i in tagged])
    left_out = {tagged[k] for k, value in enumerate(total) if value < min_coverage}
    for i in sorted(left_out):
        log.info(
            "%s: left out, its pass observes %.1f %% of the AOI (min_coverage %g)",
            infos[i]["SCENE"],
            100 * total[tagged.index(i)],
            min_coverage,
        )
    kept = [path for i, path in enumerate(paths) if i not in left_out]
    if not kept:
        raise InputError(
            None,
            f"no scene observes min_coverage={min_coverage:g} of the AOI",
            "Lower the dataset's min_coverage, or check the AOI against the scenes.",
        )
    return kept


def pass_totals(names: list[str], starts: list[datetime], coverage: list[float]) -> list[float]:
    """Per scene (product ``names``, sensing ``starts``, the fraction of the AOI each
    observes): the fraction its whole pass observes, the frames of one pass added up
    (:mod:`eotrend.sentinel3.passes`). A scene grid enters a stack when its pass observes
    at least ``min_coverage``."""
    return passes.pass_coverage(passes.pass_groups(names, starts), coverage)


def read_dates(
    sources: list[Source],
    dates_from: str,
    regex: str = dt.DEFAULT_NAME_REGEX,
    date_format: str | None = None,
) -> list[tuple[Source, datetime, bool]]:
    """(source, date, timed) for every input, sorted by date (then name); an error lists
    every undated input. ``timed``: the date carries a time of day.

    ``dates_from`` "filename" reads the source's name (for tiles ``<prefix>.tif``) with
    ``date_format`` (a strptime pattern; timed when it has %H, %M or %S) when given, else
    with ``regex`` (a day at most); "metadata" reads the metadata of the (first) file, see
    :func:`eotrend.geo.dates.acquisition_from_metadata`.
    """
    if dates_from not in ("filename", "metadata"):
        raise InputError("dates.from", f"unknown value {dates_from!r}", "Use filename or metadata.")
    dated, undated = [], []
    for source in sources:
        if dates_from == "metadata":
            first = source.files[0]
            found = dt.acquisition_from_metadata(raster.read_info(first).tags, first)
            moment, timed = found if found else (None, False)
        elif date_format:
            moment = dt.date_from_format(source.name, date_format)
            timed = dt.format_has_time(date_format)
        else:
            moment, timed = dt.date_from_name(source.name, regex), False
        (dated if moment else undated).append((source, moment, timed))
    if undated:
        names = ", ".join(str(s) for s, _, _ in undated)
        where = {
            "metadata": "metadata items " + ", ".join(dt.METADATA_KEYS),
            "format": f"file name with the format {date_format!r}",
            "regex": f"file name regex {regex!r}",
        }["metadata" if dates_from == "metadata" else "format" if date_format else "regex"]
        raise InputError(
            names,
            f"{'has' if len(undated) == 1 else 'have'} no date readable from the {where}",
            "Fix the names or set the dataset's `dates` settings.",
        )
    return sorted(dated, key=lambda item: (item[1], str(item[0])))


def check_alignment(
    paths: list[Path],
    labels: list[str] | None = None,
    *,
    reference: raster.RasterInfo | None = None,
    dtype: bool = True,
) -> raster.RasterInfo:
    """The common grid of all inputs; the first input that differs is an error.

    Only band 1 of each input is stacked: a warning names inputs with more bands.

    Args:
        paths: the rasters to compare (files or VRTs).
        labels: how to name each in errors (default: the paths).
        reference: the grid to compare with (default: the first input's).
        dtype: also require one data type.

    Raises:
        InputError: naming the first offending input, the difference and what to do.
    """
    labels = labels or [str(p) for p in paths]
    infos = [raster.read_info(path) for path in paths]
    for info, label in zip(infos, labels, strict=True):
        if info.count > 1:
            log.warning("%s has %d bands: only band 1 is stacked", label, info.count)
    against = reference.path if reference else labels[0]
    reference = reference or infos[0]
    for info, label in zip(infos, labels, strict=True):
        problem = mosaic.grid_difference(info, reference, dtype=dtype)
        if problem:
            raise InputError(
                label,
                f"does not align with {against}: {problem}",
                "Reproject the inputs onto one grid (gdalwarp), or name a raster on the "
                "wanted grid to warp every input onto (--align REFERENCE.tif).",
            )
    return reference


def plan_bands(dated: list[tuple[Source, datetime, bool]], period: str) -> list[Band]:
    """Group inputs (as :func:`read_dates` gives them, in date order) into output bands.

    period "none": one band per acquisition; two inputs at one time (to the second), or
    on one date when dated by day only, are an error. Otherwise one band per period.
    """
    groups: dict[str | datetime, tuple[str, datetime, list[Source]]] = {}
    for source, moment, timed in dated:
        label, middle = dt.period_of(moment, period, timed)
        key = middle if period == "none" else label
        if period == "none" and key in groups:
            same = "acquisition time" if timed else "date"
            raise InputError(
                str(source),
                f"has the same {same} ({groups[key][0]}) as {groups[key][2][0]}",
                "It is one acquisition twice (e.g. its NR and NT copies): remove one, or set "
                "a composite period (daily) to combine them."
                if timed
                else "Remove one, or set a composite period (e.g. year) to combine them.",
            )
        groups.setdefault(key, (label, middle, []))[2].append(source)
    bands = []
    for label, middle, members in groups.values():
        description = label if period == "none" else middle.date().isoformat()
        bands.append(Band(label, middle, description, tuple(members)))
    return bands


def reduce_stack(values: np.ndarray, reducer: str) -> np.ndarray:
    """NaN-aware reduction over axis 0 of (n, rows, cols): NaN never enters a result;
    cells with no value are NaN (count gives 0)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells are expected
        if reducer in ("max", "min", "mean", "median"):
            return getattr(np, f"nan{reducer}")(values, axis=0)
    if reducer == "count":
        return np.sum(~np.isnan(values), axis=0).astype(values.dtype)
    if reducer in ("first", "last"):
        ordered = values if reducer == "first" else values[::-1]
        has = ~np.isnan(ordered)
        index = np.argmax(has, axis=0)
        picked = np.take_along_axis(ordered, index[None], axis=0)[0]
        return np.where(has.any(axis=0), picked, np.nan)
    raise ValueError(f"unknown reducer {reducer!r}; expected one of {REDUCERS}")


def read_layer(
    path: str, row0: int, nrows: int, nodata: float | None, threads: int | None = None
) -> np.ndarray:
    """Rows [row0, row0 + nrows) of band 1 -> (nrows, width) float32 or float64 (as
    :func:`eotrend.geo.raster.read_window`), NaN where the file's nodata or ``nodata`` is;
    ``threads`` decode tiles in parallel (None: GDAL's setting)."""
    if path.endswith(".vrt"):
        threads = None  # GDAL's VRT driver has no NUM_THREADS open option (it warns)
    try:
        layer = raster.read_window(path, row0, nrows, bands=[1], threads=threads)[0]
    except RuntimeError as error:  # GDAL: a damaged file (its message names the file)
        raise InputError(
            path,
            f"cannot be read at rows {row0}-{row0 + nrows - 1}, the file is damaged "
            f"({str(error).strip() or 'GDAL read error'})",
            "Export or download it again.",
        ) from error
    if nodata is not None and not np.isnan(nodata):
        layer[layer == layer.dtype.type(nodata)] = np.nan  # compared as the values are held
    return layer


def read_block(
    bands: list[tuple[str, ...]],
    row0: int,
    nrows: int,
    reducer: str | None,
    nodata: float | None,
    out: np.ndarray,
    threads: int | None = None,
) -> None:
    """Fill ``out`` ((nbands, nrows, width) float32) with rows [row0, row0 + nrows) of
    every output band, NaN where missing.

    Args:
        bands: per output band, the rasters to read (files, or VRT mosaics or warps).
        row0, nrows: the rows, 0-based.
        reducer: how a band's rasters are combined (see :func:`reduce_stack`); None: one
            raster per band, copied.
        nodata: an input value that counts as missing, besides each file's own nodata.
        out: where the values go.
        threads: CPUs that decode each input's tiles (None: GDAL's setting, 1 in workers).
    """
    for k, paths in enumerate(bands):
        if reducer is None:
            out[k] = read_layer(paths[0], row0, nrows, nodata, threads)
        else:
            layers = np.stack([read_layer(p, row0, nrows, nodata, threads) for p in paths])
            out[k] = reduce_stack(layers, reducer)
            del layers


def stack_block_task(
    bands: list[tuple[str, ...]],
    row0: int,
    nrows: int,
    width: int,
    reducer: str | None,
    nodata: float | None,
    dest: str,
    gate: tuple[str, int, int],
) -> str:
    """Worker task: :func:`read_block` into the .npy file ``dest`` ((nbands, nrows,
    width) float32); returns ``dest``.

    The block travels as a file because the engine keeps every task's result until its
    pool ends: returned arrays would hold the whole stack in the parent.

    Args:
        bands, row0, nrows, reducer, nodata: as for :func:`read_block`.
        width: raster width, pixels.
        dest: the .npy file to write.
        gate: (file, blocks, process id): first wait until the file holds a count of
            written blocks >= ``blocks`` (back-pressure, see :func:`_write_stack`); stop if
            the process ``process id`` (the parent) is gone.
    """
    _wait_for_written(*gate)
    shape = (len(bands), nrows, width)
    try:
        out = np.lib.format.open_memmap(dest, mode="w+", dtype=np.float32, shape=shape)
        # Reserve the disk space now: a mapped file that outgrows a full disk kills the
        # process with SIGBUS, which would look like a crash, not like a full disk.
        with open(dest, "r+b") as handle:
            os.posix_fallocate(handle.fileno(), 0, os.fstat(handle.fileno()).st_size)
    except OSError as error:
        raise OutputError(
            Path(dest).parent,
            f"has no room for a block of {_float32_mb(shape):.0f} MB ({error.strerror})",
            "Free space in the temporary folder, or point TMPDIR at a larger one.",
        ) from error
    read_block(bands, row0, nrows, reducer, nodata, out)
    out.flush()
    return dest


def _float32_mb(shape: tuple[int, ...]) -> float:
    """Size in MB of a float32 array of ``shape``."""
    return 4 * float(np.prod(shape)) / 2**20


def _wait_for_written(path: str, blocks: int, parent: int) -> None:
    """Sleep until the number in ``path`` is at least ``blocks`` (see :func:`_write_stack`)."""
    while _read_count(path) < blocks:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            raise RuntimeError(f"the stacking process {parent} is gone") from None
        time.sleep(_POLL_SECONDS)


def _read_count(path: str) -> int:
    try:
        return int(Path(path).read_text())
    except (OSError, ValueError):
        return 0


def _publish_count(path: Path, count: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(str(count))
    os.replace(tmp, path)  # readers never see a half-written number


def block_bytes_per_row(width: int, nbands: int, group: int, composite: bool) -> int:
    """Memory (bytes) one row of a block takes in a task: the output row of every band
    (float32), the input being read (up to float64), and for composites the ``group``
    inputs of a band and the reducer's copies of them (float64 at most)."""
    return 4 * width * (nbands + 2 + (4 * group if composite else 0))


def plan_blocks(
    height: int, width: int, nbands: int, group: int, composite: bool, budget_bytes: int
) -> tuple[int, int]:
    """Rows per block and the output tile size.

    A block takes at most ``min(budget_bytes, BLOCK_BYTES)`` (see
    :func:`block_bytes_per_row`). One block covers the whole raster when it also fits
    :data:`SINGLE_BLOCK_BYTES`; otherwise a block is one row of 256-pixel output tiles, or,
    when that does not fit, of smaller tiles (a multiple of 16, at least 16): no tile ever
    spans two blocks, so each is compressed once.

    Returns:
        (rows, tile): rows per block (``height`` for a single block) and tile size.
    """
    per_row = block_bytes_per_row(width, nbands, group, composite)
    cap = min(budget_bytes, BLOCK_BYTES)
    if per_row * height <= min(cap, SINGLE_BLOCK_BYTES):
        return height, TILE
    rows = max(16, min(TILE, cap // per_row) // 16 * 16)
    return rows, rows


def stack(
    inputs: list[str | Path],
    output: Path,
    dates_csv: Path,
    *,
    variable: str | None = None,
    dates_from: str = "filename",
    regex: str = dt.DEFAULT_NAME_REGEX,
    date_format: str | None = None,
    period: str = "none",
    reducer: str = "max",
    nodata: float | None = None,
    align: str | Path | None = None,
    resampling: str = "nearest",
    threads: int | None = None,
    mem_mb: float | None = None,
    tags: dict[str, str] | None = None,
    min_coverage: float = 0.0,
) -> list[Band]:
    """Write the stack of ``inputs`` to ``output`` and the band table to ``dates_csv``.

    The output is a tiled (256 x 256, pixel-interleaved), DEFLATE-compressed (level 1,
    floating-point predictor) float32 GeoTIFF with NaN nodata, one band per acquisition
    (or period), band description = :attr:`Band.description`, band metadata DATE (ISO
    8601, UTC, to the second), PERIOD (:attr:`Band.label`), SOURCES (file names) and
    UNIT (the inputs' unit, :func:`common_unit`, when they give one), dataset metadata
    ``tags``.

    Args:
        inputs: GeoTIFF files or folders (see :func:`resolve_inputs`); the tiles of an
            Earth Engine export (``<prefix>-<row>-<col>.tif``) are mosaicked first.
        output, dates_csv: files to write (atomically).
        variable: in folders, the file ``<variable>.tif``.
        dates_from, regex, date_format: how dates are read (see :func:`read_dates`).
        period, reducer: composite per period ("none": one band per acquisition;
            "daily": per UTC day; year, month, season), see :func:`plan_bands`.
        nodata: an input value that counts as missing, besides each file's own nodata
            (Earth Engine exports carry none unless the user set it).
        align: a raster whose grid every input is warped onto (GDAL warp, ``resampling``)
            when not already on it; None: inputs must share one grid (and data type).
        resampling: a method of :data:`eotrend.geo.mosaic.RESAMPLINGS` for ``align``;
            "nearest" keeps the input values, "average" suits coarser grids.
        threads, mem_mb: worker processes and memory (MB) the job may use.
        tags: dataset metadata (provenance).
        min_coverage: scene grids (COVERAGE tag) whose pass observes less than this of
            the AOI are left out (see :func:`covered_inputs`).

    Returns:
        The output bands, in date order.
    """
    if reducer not in REDUCERS:
        raise InputError("composite.reducer", f"unknown reducer {reducer!r}", f"Use {REDUCERS}.")
    if align is not None and resampling not in mosaic.RESAMPLINGS:
        raise InputError(
            "align.resampling", f"unknown method {resampling!r}", f"Use {mosaic.RESAMPLINGS}."
        )
    # VRTs and blocks in transit go to the node-local temporary folder ($TMPDIR): only
    # this job's processes read them.
    with tempfile.TemporaryDirectory(prefix="eotrend-stack-") as tmp:
        paths, origins = split_batch_grids(resolve_inputs(inputs, variable), variable, Path(tmp))
        sources = mosaic.group_tiles(covered_inputs(paths, min_coverage))
        dated = read_dates(sources, dates_from, regex, date_format)
        bands = plan_bands(dated, period)
        reads = _prepare_reads([s for s, _, _ in dated], Path(tmp), nodata, align, resampling)
        labels = [str(s) for s, _, _ in dated]
        if align is None:
            info = check_alignment(list(reads.values()), labels)
        else:
            info = check_alignment(
                list(reads.values()), labels, reference=raster.read_info(align), dtype=False
            )
        log.info(
            "%d inputs (%d tiled exports) -> %d bands (%s to %s), period %s%s",
            len(dated),
            sum(s.tiled for s, _, _ in dated),
            len(bands),
            bands[0].label,
            bands[-1].label,
            period,
            "" if period == "none" else f", reducer {reducer}",
        )
        unit = common_unit(list(reads.values()), labels)
        band_paths = [tuple(str(reads[s]) for s in band.inputs) for band in bands]
        _write_stack(
            output,
            bands,
            band_paths,
            info,
            reducer=None if period == "none" else reducer,
            nodata=nodata,
            tmp=Path(tmp),
            threads=threads,
            mem_mb=mem_mb,
            tags=tags,
            origins=origins,
            unit=unit,
        )
        write_dates_csv(dates_csv, bands, origins)
    return bands


def common_unit(paths: list[Path], labels: list[str]) -> str | None:
    """The unit of the inputs' values (:func:`eotrend.geo.raster.band_unit` of each; a
    scene grid's UNIT is its product's units attribute), which the stack's bands carry.
    None when no input gives one, or only some do (logged: the stack cannot vouch for
    the others).

    Raises:
        InputError: two inputs give different units (one variable has one unit).
    """
    units = [raster.band_unit(raster.read_info(path)) for path in paths]
    known = [(label, unit) for label, unit in zip(labels, units, strict=True) if unit]
    for label, unit in known[1:]:
        if unit != known[0][1]:
            raise InputError(
                label,
                f"its values are in {unit!r}, those of {known[0][0]} in {known[0][1]!r}",
                "Stack rasters of one variable in one unit (convert the others first).",
            )
    if known and len(known) < len(units):
        log.warning(
            "%d of %d inputs give no unit (e.g. %s), the others %r: the stack gets none",
            len(units) - len(known),
            len(units),
            labels[units.index(None)],
            known[0][1],
        )
        return None
    return known[0][1] if known else None


def split_batch_grids(
    paths: list[Path], variable: str | None, tmp: Path
) -> tuple[list[Path], dict[str, str]]:
    """``paths`` with each batch's grids (a multi-band file whose bands carry VARIABLE,
    :mod:`eotrend.sentinel3.batches`) replaced by one VRT per band of ``variable``, named
    by its scene, whose metadata is the band's (SCENE, ACQUISITION_DATETIME, COVERAGE).

    Returns the paths and, per VRT, where its band comes from (``<file>#<band>``), for
    the band table."""
    out: list[Path] = []
    origins: dict[str, str] = {}
    for path in paths:
        info = raster.read_info(path)
        if info.count == 1 or not any("VARIABLE" in m for m in info.band_metadata):
            out.append(path)
            continue
        if variable is None:
            raise InputError(path, "holds the grids of several variables", "Give --variable.")
        for number, metadata in enumerate(info.band_metadata, start=1):
            if metadata.get("VARIABLE") == variable:
                vrt = mosaic.band_vrt(path, number, tmp / f"{metadata['SCENE']}.vrt", metadata)
                origins[str(vrt)] = f"{path}#{number}"
                out.append(vrt)
    if not out:
        raise InputError(
            None, f"no input holds variable {variable!r}", "Check the dataset's variables."
        )
    return out, origins


def _prepare_reads(
    sources: list[Source],
    tmp: Path,
    nodata: float | None,
    align: str | Path | None,
    resampling: str,
) -> dict[Source, Path]:
    """What to read for each source: the file, a VRT mosaic of its tiles, or a warp of
    either onto the ``align`` grid (VRTs are written into ``tmp``)."""
    reference = None if align is None else raster.read_info(align)
    reads = {}
    for k, source in enumerate(sources):
        path = source.files[0]
        if len(source.files) > 1:
            path = mosaic.build_mosaic(source, tmp / f"{k}.mosaic.vrt", nodata)
        if reference is not None:
            info = raster.read_info(path)
            if mosaic.grid_difference(info, reference, dtype=False):
                path = mosaic.warp_to_grid(
                    path, tmp / f"{k}.warp.vrt", reference, resampling=resampling, nodata=nodata
                )
        reads[source] = path
    return reads


def _write_stack(
    output: Path,
    bands: list[Band],
    band_paths: list[tuple[str, ...]],
    info: raster.RasterInfo,
    *,
    reducer: str | None,
    nodata: float | None,
    tmp: Path,
    threads: int | None,
    mem_mb: float | None,
    tags: dict[str, str] | None,
    origins: dict[str, str],
    unit: str | None = None,
) -> None:
    """Read, reduce and write the stack by row blocks (see :func:`stack`); ``origins``
    names the file and band behind each temporary VRT; every band's UNIT is ``unit``
    (none when None).

    Workers write their blocks as .npy files into ``tmp``; this process writes them into
    the GeoTIFF as they complete and deletes them.

    Back-pressure: the engine submits every task at once, and workers read blocks several
    times faster than DEFLATE compresses them here, so finished blocks would pile up (up
    to the whole stack). This process therefore publishes its count of written blocks in
    the file ``tmp/written``, and the task of block ``j`` starts reading only once
    ``j - workers`` blocks are written: at most ``workers + 1`` blocks exist at any time.
    Tasks start in submission order, so the oldest unwritten block can always proceed.
    """
    group = max(len(paths) for paths in band_paths)
    composite = reducer is not None
    probe = plan_workers(info.height, threads=threads, mem_mb=mem_mb, task_mem_mb=1)
    budget = probe.bytes_per_worker()
    rows, tile = plan_blocks(info.height, info.width, len(bands), group, composite, budget)
    writer = raster.GeoTiffWriter(
        output,
        width=info.width,
        height=info.height,
        count=len(bands),
        transform=info.transform,
        crs_wkt=info.crs_wkt,
        dtype="float32",
        nodata=float("nan"),
        descriptions=[b.description for b in bands],
        band_metadata=band_metadata(bands, origins, unit),
        tags=tags or {},
        block=tile,
        level=1,  # 2-3 x faster than DEFLATE's default 6, 5 % larger on NDVI-like floats
        threads=probe.workers,  # compression is the bottleneck: it gets the job's CPUs
    )
    with writer:
        if rows >= info.height:
            log.info("one block of %d x %d pixels, read in this process", info.height, info.width)
            block = np.empty((len(bands), info.height, info.width), dtype=np.float32)
            read_block(band_paths, 0, info.height, reducer, nodata, block, probe.workers)
            writer.write_rows(0, block)
            filled = _bands_with_data(block)
        else:
            per_row = block_bytes_per_row(info.width, len(bands), group, composite)
            task_mb = per_row * rows / 2**20
            if task_mb * 2**20 > budget:
                _warn_smallest_block(rows, len(bands), task_mb, probe.memory_budget_mb)
            starts = range(0, info.height, rows)
            plan = plan_workers(
                len(starts), threads=threads, mem_mb=mem_mb, task_mem_mb=task_mb + 100
            )
            tasks = _block_tasks(band_paths, info, starts, rows, reducer, nodata, tmp, plan.workers)
            log.info("%d blocks of %d rows (tiles of %d pixels)", len(tasks), rows, tile)
            filled = np.zeros(len(bands), dtype=bool)
            results = iter_tasks(stack_block_task, tasks, plan, label="row blocks", logger=log)
            for written, (index, dest) in enumerate(results, start=1):
                block = np.load(dest, mmap_mode="r")
                writer.write_rows(tasks[index].args[1], block)
                filled |= _bands_with_data(block)
                del block
                Path(dest).unlink()
                _publish_count(tmp / "written", written)
    _warn_empty(bands, filled)


def band_metadata(
    bands: list[Band], origins: dict[str, str], unit: str | None = None
) -> list[dict[str, str]]:
    """The metadata of each band of a stack: DATE (ISO 8601, UTC), PERIOD (its label),
    SOURCES (the inputs' file names, ';'-joined; a scene's name for a band of a batch's
    grids, whose temporary VRT is in ``origins``) and UNIT (when ``unit`` is given)."""
    return [
        {
            "DATE": b.date.isoformat(),
            "PERIOD": b.label,
            "SOURCES": ";".join(Path(s).stem if s in origins else Path(s).name for s in b.sources),
            **({"UNIT": unit} if unit else {}),
        }
        for b in bands
    ]


def _block_tasks(
    band_paths: list[tuple[str, ...]],
    info: raster.RasterInfo,
    starts: range,
    rows: int,
    reducer: str | None,
    nodata: float | None,
    tmp: Path,
    workers: int,
) -> list[Task]:
    """One :func:`stack_block_task` per block of ``rows`` rows starting at ``starts``;
    block ``j`` waits for block ``j - workers`` to be written (see :func:`_write_stack`)."""
    return [
        Task(
            f"rows {r}-{min(r + rows, info.height) - 1}",
            (
                band_paths,
                r,
                min(rows, info.height - r),
                info.width,
                reducer,
                nodata,
                str(tmp / f"block{j}.npy"),
                (str(tmp / "written"), j - workers, os.getpid()),
            ),
        )
        for j, r in enumerate(starts)
    ]


def _warn_smallest_block(rows: int, nbands: int, task_mb: float, budget_mb: int | None) -> None:
    """Blocks cannot get smaller than ``rows``: say what the job needs, in case it is
    killed for memory."""
    log.warning(
        "the smallest block (%d rows of %d bands) takes %.0f MB, more than the memory budget "
        "leaves a worker (%s MB for the job): this stack needs about %.0f MB; raise mem_mb to "
        "that if the job is killed for memory",
        rows,
        nbands,
        task_mb,
        budget_mb,
        2 * task_mb + 200,
    )


def _bands_with_data(block: np.ndarray) -> np.ndarray:
    """Which bands of a (bands, rows, cols) block hold at least one value (bool array)."""
    return np.isfinite(block).any(axis=(1, 2))


def _warn_empty(bands: list[Band], filled: np.ndarray) -> None:
    """Log the bands without a single value (inputs that are all nodata)."""
    empty = [band for band, has in zip(bands, filled, strict=True) if not has]
    for band in empty:
        log.warning(
            "band %s holds no value: every pixel of %s is nodata",
            band.label,
            ", ".join(band.sources),
        )
    if empty and len(empty) == len(bands):
        log.warning(
            "every band of the stack is empty: its trend will be NaN everywhere (check the "
            "inputs and the nodata setting)"
        )


def write_dates_csv(path: Path, bands: list[Band], origins: dict[str, str]) -> None:
    """The band table: band (1-based), label (:attr:`Band.label`), date (ISO 8601, UTC),
    sources (';'-separated; ``<file>#<band>`` for a band of a batch's grids, see
    :func:`split_batch_grids`)."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as handle:
        table = csv.writer(handle)
        table.writerow(["band", "label", "date", "sources"])
        for number, band in enumerate(bands, start=1):
            sources = ";".join(origins.get(s, s) for s in band.sources)
            table.writerow([number, band.label, band.date.isoformat(), sources])


def run(
    *,
    rasters: list[str],
    raster: str,
    dates: str,
    dates_from: str,
    regex: str,
    date_format: str,
    period: str,
    reducer: str,
    nodata: float | None,
    align: str,
    resampling: str,
    min_coverage: float,
    grids: list[str] = (),
    variable: str | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> None:
    """Rule ``stack`` (and ``python -m eotrend stack``): stack ``grids`` (a sentinel3
    dataset's batch grids, :mod:`eotrend.sentinel3.batches`) or else ``rasters``
    (GeoTIFF files) into ``raster``, with the band table ``dates`` (CSV).

    The remaining arguments are the dataset's ``dates``, ``composite``, ``nodata`` and
    ``align`` settings (see :func:`stack`); empty ``regex``, ``date_format`` and ``align``
    mean "not set". The digest of these settings is written as provenance.
    """
    settings = {
        "dates_from": dates_from,
        "regex": regex,
        "date_format": date_format,
        "period": period,
        "reducer": reducer,
        "nodata": nodata,
        "align": align,
        "resampling": resampling,
        "min_coverage": min_coverage,
    }
    stack(
        list(grids) or list(rasters),
        Path(raster),
        Path(dates),
        variable=variable,
        dates_from=dates_from,
        regex=regex or dt.DEFAULT_NAME_REGEX,
        date_format=date_format or None,
        period=period,
        reducer=reducer,
        nodata=nodata,
        align=align or None,
        resampling=resampling,
        threads=threads,
        mem_mb=mem_mb,
        tags=provenance.tags(provenance.settings_digest(settings)),
        min_coverage=min_coverage,
    )

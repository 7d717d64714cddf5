"""Equivalence of two revisions: the same workloads through the old and the new code, and
every output compared.

    python bench/equivalence.py                    # 9aae0f8 against this working tree
    python bench/equivalence.py --new-rev REV      # two revisions
    python bench/equivalence.py --only olci --only series
    python bench/run.py --only equivalence         # the default comparison (prints the
                                                   # summary; the exit status is run.py's)

The old revision is checked out with ``git worktree add`` into a temporary folder (removed
afterwards). The new code is a copy of this working tree as it is at the start (tracked
files with their uncommitted edits, untracked files that are not ignored), or a second
worktree with --new-rev. Everything runs in the temporary folder: nothing is written into
this repository's results/, logs/, benchmarks/ or .snakemake/.

Workloads (about five minutes in all on 2 busy cores):

* demo: ``snakemake --cores 2`` in each tree with its own config.yaml (synthetic data, no
  network); every file under results/ compared.
* olci: one full-size 4091 x 4865 synthetic OLCI WFR product whose water is the demo AOI,
  through locate and extract: the 16 reflectances, CHL_OC4ME, TSM_NN and the angles on
  locate's window with the water flags; and as extract_bench's command (no angles, no
  flags, the window located by extract itself).
* series: 21 yearly 707 x 1033 rasters (stack_bench's size) through stack, trend (OLS),
  trend with every statistic (robust, Hamed-Rao, intervals, monthly seasons, Pettitt,
  FDR) and trend in two row tiles gathered.

The inputs of olci and series are generated once, by the old tree's code, and given to
both trees. Each tree runs its stage commands the way it supports: ``python -m eotrend
<stage>`` (PYTHONPATH=<tree>/scripts) when it has scripts/eotrend/__main__.py, else
``python <tree>/scripts/<stage>.py``.

Comparisons: the lists of files are equal; byte-identical files are equal; otherwise CSV
and Parquet tables by pandas (same columns, dtypes and rows, floats exactly equal, else
the largest absolute difference), GeoTIFFs by GDAL (size, geotransform, CRS, metadata of
every domain, then per band type, nodata, description, offset/scale/unit, block size,
overviews, metadata and pixels), JSON by content, PNG figures by decoded pixels (a
difference is only a warning: a figure's text can move a pixel without any result
changing), anything else by bytes. Ignored when they differ, and listed as such in the
summary: provenance (the GeoTIFF tags in RASTER_PROVENANCE, the digests of a scene's
done.json in JSON_PROVENANCE), run times (TIMING_COLUMNS) and Snakemake's time stamp of
a directory output.

Exit status 0 only when every workload ran in both trees and every output is equal.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OLD_REV = "9aae0f8"
PYTHON = sys.executable
# Provenance (the code and settings that made a file), expected to differ between revisions.
RASTER_PROVENANCE = {"EOTREND_VERSION", "EOTREND_CONFIG_DIGEST"}
JSON_PROVENANCE = {"done.json": {"config", "code"}}
# Table columns that measure the run, not its result: a scene's wall time in a batch table.
TIMING_COLUMNS = {"seconds"}
# Snakemake's marker of a directory output; its content is a time stamp.
MARKERS = {".snakemake_timestamp"}
# Outputs that moved on purpose, old path pattern -> new path (re.sub): since issue 22 a
# dataset's quicklooks are drawn in one job into its quicklooks/ folder.
MOVED = {r"^(.*)/scenes/([^/]+)/quicklook\.png$": r"\1/quicklooks/\2.png"}
# GDAL derives this metadata domain from the file's path.
SKIPPED_DOMAINS = {"DERIVED_SUBDATASETS"}
VARIABLES = [
    *(f"Oa{band:02d}_reflectance" for band in (*range(1, 13), 16, 17, 18, 21)),
    "CHL_OC4ME",
    "TSM_NN",
]
EVERY_STATISTIC = [
    "--robust", "--test", "hamed_rao", "--ci", "0.95", "--seasons", "month",
    "--breaks", "pettitt", "--fdr",
]  # fmt: skip
SHOWN = 20  # differences listed per workload


class CommandError(RuntimeError):
    """A command of a workload failed."""


def run(command: list[str | Path], *, cwd: Path, env: dict[str, str]) -> None:
    """Run ``command``; CommandError with the end of its stderr if it fails."""
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        shown = " ".join(str(part) for part in command[:6])
        raise CommandError(f"`{shown} ...` exit {done.returncode}:\n{done.stderr[-2000:]}")


# -- the two trees -------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    """One checkout of the code: where it is and how its stage commands run."""

    name: str  # "old" or "new"
    root: Path
    origin: str  # what it was made from, for the summary

    @property
    def packaged(self) -> bool:
        """Whether its stages run as ``python -m eotrend <stage>`` (else scripts/<stage>.py)."""
        return (self.root / "scripts" / "eotrend" / "__main__.py").is_file()

    def env(self) -> dict[str, str]:
        """The environment of its commands: this virtualenv first on PATH (Snakemake runs
        rule scripts with the first python there) and no library but the tree's own."""
        env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
        env["PATH"] = os.pathsep.join([str(Path(PYTHON).parent), env.get("PATH", "")])
        if self.packaged:
            env["PYTHONPATH"] = str(self.root / "scripts")
        return env

    def stage(self, stage: str, *args: str | Path | int, cwd: Path) -> None:
        """Run one stage command of this tree in ``cwd``."""
        if self.packaged:
            command = [PYTHON, "-m", "eotrend", stage]
        else:
            command = [PYTHON, self.root / "scripts" / f"{stage}.py"]
        run([*command, *map(str, args)], cwd=cwd, env=self.env())

    def describe(self) -> str:
        form = "python -m eotrend <stage>" if self.packaged else "python scripts/<stage>.py"
        return f"{self.name} = {self.origin}, runs `{form}`"


def git(*args: str) -> str:
    """The output of a git command in this repository."""
    done = subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True)
    return done.stdout.decode()


@contextlib.contextmanager
def worktree(name: str, rev: str, path: Path) -> Iterator[Tree]:
    """``rev`` checked out at ``path`` (a detached worktree), removed on exit."""
    git("worktree", "add", "--detach", str(path), rev)
    try:
        yield Tree(name, path, f"{rev} ({git('rev-parse', '--short', rev).strip()}, worktree)")
    finally:
        git("worktree", "remove", "--force", str(path))


def snapshot(path: Path) -> Tree:
    """A copy of this working tree at ``path``: tracked files as they are now (deleted
    ones left out), untracked files that are not ignored."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, path / name)
    head = git("rev-parse", "--short", "HEAD").strip()
    changes = len(git("status", "--porcelain").splitlines())
    return Tree("new", path, f"this working tree (HEAD {head}, {changes} uncommitted changes)")


# -- the workloads -------------------------------------------------------------------------


def olci_inputs(tree: Tree, folder: Path) -> None:
    """The demo AOI and one full-size synthetic OLCI product whose water is its polygons,
    centred on the seed polygon as bench/common.py's full_scene."""
    shutil.copy(tree.root / "data" / "demo" / "aoi.geojson", folder / "aoi.geojson")
    tree.stage(
        "synthetic", "olci", "-o", "olci", "--centre", "-60.9", "-3.45",
        "--date", "2020-06-01T13:50", "--rows", 4091, "--columns", 4865,
        "--water", "aoi.geojson", "--seed", 1, cwd=folder,
    )  # fmt: skip


def olci(tree: Tree, inputs: Path, out: Path) -> Path:
    """locate, then extract on locate's window, then extract locating the window itself."""
    product, aoi = next(inputs.glob("olci/*.SEN3")), inputs / "aoi.geojson"
    tree.stage("locate", product, aoi, "-o", "vertices.csv", "--window", "window.json", cwd=out)
    tree.stage(
        "extract", product, aoi, "-o", "pixels.parquet", "--stats", "stats.csv",
        "--grid-dir", "grid", "--window", "window.json", "--variables", *VARIABLES,
        "--angles", "--workers", 2, cwd=out,
    )  # fmt: skip
    tree.stage(
        "extract", product, aoi, "-o", "cmd.parquet", "--stats", "cmd.csv",
        "--grid-dir", "cmd_grid", "--variables", *VARIABLES, "--quality", "none",
        "--workers", 2, cwd=out,
    )  # fmt: skip
    return out


def series_inputs(tree: Tree, folder: Path) -> None:
    """21 yearly 707 x 1033 rasters like an Earth Engine maximum-NDVI export."""
    tree.stage(
        "synthetic", "series", "-o", "series", "--years", 1995, 2015,
        "--width", 1033, "--height", 707, "--seed", 1, cwd=folder,
    )  # fmt: skip


def series(tree: Tree, inputs: Path, out: Path) -> Path:
    """stack (inputs in reverse name order), then trend three ways."""
    rasters = sorted(inputs.glob("series/*.tif"), reverse=True)
    tree.stage(
        "stack", *rasters, "-o", "stack.tif", "--dates-csv", "stack_dates.csv",
        "--workers", 2, cwd=out,
    )  # fmt: skip
    tree.stage("trend", "stack.tif", "-o", "trend.tif", "--workers", 2, cwd=out)
    tree.stage("trend", "stack.tif", "-o", "all.tif", *EVERY_STATISTIC, "--workers", 2, cwd=out)
    for tile in ("1-of-2", "2-of-2"):
        tree.stage("trend", "stack.tif", "-o", f"tile{tile}.tif", "--tile", tile, cwd=out)
    tree.stage("trend", "--gather", "tile1-of-2.tif", "tile2-of-2.tif", "-o", "tiles.tif", cwd=out)
    return out


def demo(tree: Tree, inputs: Path, out: Path) -> Path:
    """``snakemake --cores 2`` in the tree (a temporary copy) with its own config.yaml."""
    run(
        [Path(PYTHON).parent / "snakemake", "--cores", "2", "--quiet"],
        cwd=tree.root,
        env=tree.env(),
    )
    return tree.root / "results"


@dataclass(frozen=True)
class Workload:
    """Commands run in each tree: ``run(tree, inputs, out)`` returns the folder whose files
    are compared; ``inputs(tree, folder)``, if any, writes the shared inputs once."""

    run: Callable[[Tree, Path, Path], Path]
    inputs: Callable[[Tree, Path], None] | None = None


WORKLOADS = {
    "demo": Workload(demo),
    "olci": Workload(olci, olci_inputs),
    "series": Workload(series, series_inputs),
}


# -- comparing outputs ---------------------------------------------------------------------


@dataclass
class Report:
    """What one workload found."""

    files: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    differences: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ignored: collections.Counter = field(default_factory=collections.Counter)


def short(value: object, width: int = 70) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def array_difference(old: np.ndarray, new: np.ndarray) -> str | None:
    """None when the arrays are equal (NaN where NaN, every other value exactly), else
    how many values differ and the largest absolute difference."""
    if old.shape != new.shape:
        return f"shape {old.shape} vs {new.shape}"
    floating = old.dtype.kind in "fc"
    if np.array_equal(old, new, equal_nan=floating):
        return None
    both_nan = np.isnan(old) & np.isnan(new) if floating else False
    differ = ~((old == new) | both_nan)
    finite = differ & np.isfinite(old) & np.isfinite(new)
    text = f"{np.count_nonzero(differ)} of {old.size} values differ"
    if finite.any():
        gap = np.abs(old[finite].astype(np.float64) - new[finite].astype(np.float64))
        text += f", max abs difference {gap.max():.6g}"
    if np.count_nonzero(finite) < np.count_nonzero(differ):
        text += f", {np.count_nonzero(differ) - np.count_nonzero(finite)} NaN or inf in one only"
    return text


def column_difference(old, new) -> str | None:
    """None when two pandas columns of one dtype hold the same values, else what differs."""
    if old.dtype.kind in "biuf":
        return array_difference(old.to_numpy(), new.to_numpy())
    same = ((old == new) | (old.isna() & new.isna())).to_numpy(dtype=bool, na_value=False)
    if same.all():
        return None
    first = int(np.flatnonzero(~same)[0])
    return (
        f"{np.count_nonzero(~same)} of {len(same)} values differ, first at row {first}: "
        f"{short(old.iloc[first], 40)} vs {short(new.iloc[first], 40)}"
    )


def compare_frames(old, new, name: str, report: Report) -> None:
    """Two pandas DataFrames: columns, dtypes, index, then the values column by column."""
    if list(old.columns) != list(new.columns):
        report.differences.append(f"{name}: columns {list(old.columns)} vs {list(new.columns)}")
        return
    if not old.index.equals(new.index):
        report.differences.append(f"{name}: index (rows) {len(old)} vs {len(new)}")
        return
    for column in old.columns:
        if old[column].dtype != new[column].dtype:
            report.differences.append(
                f"{name}: column {column} dtype {old[column].dtype} vs {new[column].dtype}"
            )
            continue
        problem = column_difference(old[column], new[column])
        if problem and column in TIMING_COLUMNS:
            report.ignored[f"timing column {column!r}"] += 1
        elif problem:
            report.differences.append(f"{name}: column {column}: {problem}")


def compare_csv(old: Path, new: Path, name: str, report: Report) -> None:
    import pandas as pd

    compare_frames(pd.read_csv(old), pd.read_csv(new), name, report)


def compare_parquet(old: Path, new: Path, name: str, report: Report) -> None:
    import pandas as pd

    compare_frames(pd.read_parquet(old), pd.read_parquet(new), name, report)


def metadata(item) -> dict[str, dict]:
    """Every metadata domain of a GDAL dataset or band (XML domains as one text)."""
    found = {}
    for domain in item.GetMetadataDomainList() or []:
        if domain not in SKIPPED_DOMAINS:
            items = item.GetMetadata(domain)
            found[domain] = items if isinstance(items, dict) else {"xml": "".join(items)}
    return found


def compare_metadata(old: dict, new: dict, where: str, report: Report) -> None:
    """Metadata items, provenance tags ignored (and counted) when they differ."""
    for domain in sorted(old.keys() | new.keys()):
        left, right = old.get(domain, {}), new.get(domain, {})
        for key in sorted(left.keys() | right.keys()):
            if left.get(key) == right.get(key):
                continue
            if key in RASTER_PROVENANCE:
                report.ignored[f"GeoTIFF tag {key}"] += 1
            else:
                report.differences.append(
                    f"{where} metadata {domain or '(default)'}/{key}: "
                    f"{short(left.get(key))} vs {short(right.get(key))}"
                )


def dataset_properties(ds) -> dict[str, object]:
    return {
        "size": (ds.RasterXSize, ds.RasterYSize, ds.RasterCount),
        "geotransform": ds.GetGeoTransform(can_return_null=True),
        "CRS": ds.GetProjection(),
    }


def band_properties(band) -> dict[str, object]:
    from osgeo import gdal

    return {
        "type": gdal.GetDataTypeName(band.DataType),
        "nodata": repr(band.GetNoDataValue()),  # repr: NaN equals NaN
        "description": band.GetDescription(),
        "offset/scale/unit": (band.GetOffset(), band.GetScale(), band.GetUnitType()),
        "block size": band.GetBlockSize(),
        "overviews": band.GetOverviewCount(),
    }


def compare_properties(old: dict, new: dict, where: str, report: Report) -> None:
    for key, value in old.items():
        if value != new[key]:
            report.differences.append(f"{where} {key}: {short(value)} vs {short(new[key])}")


def compare_rasters(old_path: Path, new_path: Path, name: str, report: Report) -> None:
    """Two rasters: the dataset's properties and metadata, then band by band."""
    from osgeo import gdal

    gdal.UseExceptions()
    # Both datasets stay referenced while their bands are read (GDAL 3.6 crashes if a
    # dataset is collected while one of its bands is in use).
    old, new = gdal.Open(str(old_path)), gdal.Open(str(new_path))
    compare_properties(dataset_properties(old), dataset_properties(new), name, report)
    compare_metadata(metadata(old), metadata(new), name, report)
    if old.RasterCount != new.RasterCount:
        return
    for index in range(1, old.RasterCount + 1):
        old_band, new_band = old.GetRasterBand(index), new.GetRasterBand(index)
        where = f"{name} band {index}"
        compare_properties(band_properties(old_band), band_properties(new_band), where, report)
        compare_metadata(metadata(old_band), metadata(new_band), where, report)
        problem = array_difference(old_band.ReadAsArray(), new_band.ReadAsArray())
        if problem:
            report.differences.append(f"{where} pixels: {problem}")


def compare_json(old: Path, new: Path, name: str, report: Report) -> None:
    """JSON by content, the provenance keys of JSON_PROVENANCE ignored when they differ."""
    left, right = json.loads(old.read_text()), json.loads(new.read_text())
    if isinstance(left, dict) and isinstance(right, dict):
        for key in JSON_PROVENANCE.get(old.name, ()):
            if left.get(key) != right.get(key):
                report.ignored[f"{old.name} key {key!r}"] += 1
            left.pop(key, None)
            right.pop(key, None)
        keys = sorted(k for k in left.keys() | right.keys() if left.get(k) != right.get(k))
        if keys:
            report.differences.append(f"{name}: keys {keys} differ")
    elif left != right:
        report.differences.append(f"{name}: content differs")


def compare_png(old: Path, new: Path, name: str, report: Report) -> None:
    """Figures by decoded pixels; a difference is a warning, not a failure."""
    from PIL import Image

    with Image.open(old) as left, Image.open(new) as right:
        a, b = np.asarray(left), np.asarray(right)
    if a.shape != b.shape:
        report.warnings.append(f"{name}: image {a.shape} vs {b.shape}")
    elif not np.array_equal(a, b):
        changed = np.any(a != b, axis=-1) if a.ndim == 3 else a != b
        report.warnings.append(f"{name}: {np.count_nonzero(changed)} of {changed.size} pixels")


def compare_bytes(old: Path, new: Path, name: str, report: Report) -> None:
    report.differences.append(
        f"{name}: bytes differ ({old.stat().st_size} vs {new.stat().st_size} bytes)"
    )


COMPARERS = {
    ".csv": compare_csv,
    ".parquet": compare_parquet,
    ".tif": compare_rasters,
    ".tiff": compare_rasters,
    ".json": compare_json,
    ".png": compare_png,
}


def compare_file(old: Path, new: Path, name: str, report: Report) -> None:
    if filecmp.cmp(old, new, shallow=False):
        return
    if old.name in MARKERS:
        report.ignored[f"Snakemake marker {old.name}"] += 1
        return
    COMPARERS.get(old.suffix.lower(), compare_bytes)(old, new, name, report)


def compare_folders(old: Path, new: Path, report: Report) -> None:
    """Every file under ``old`` and ``new``: the same names, then each pair."""
    old_files = {moved(p.relative_to(old).as_posix()): p for p in old.rglob("*") if p.is_file()}
    new_files = {
        p.relative_to(new).as_posix(): p
        for p in new.rglob("*")
        if p.is_file() and p.name not in MARKERS
    }
    report.differences += [f"{name}: only in old" for name in sorted(old_files.keys() - new_files)]
    report.differences += [f"{name}: only in new" for name in sorted(new_files.keys() - old_files)]
    for name in sorted(old_files.keys() & new_files.keys()):
        report.files += 1
        if old_files[name].relative_to(old).as_posix() != name:
            report.ignored["moved on purpose (MOVED), compared at the new path"] += 1
        compare_file(old_files[name], new_files[name], name, report)


def moved(name: str) -> str:
    """An old output's path where the new code writes it (:data:`MOVED`)."""
    for pattern, replacement in MOVED.items():
        name = re.sub(pattern, replacement, name)
    return name


# -- running it all ------------------------------------------------------------------------


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_workload(name: str, trees: tuple[Tree, Tree], inputs: Path, scratch: Path) -> Report:
    """Run workload ``name`` in both trees and compare what they wrote."""
    report = Report()
    outputs = []
    for tree in trees:
        out = scratch / "work" / name / tree.name
        out.mkdir(parents=True)
        start = time.perf_counter()
        try:
            outputs.append(WORKLOADS[name].run(tree, inputs, out))
        except CommandError as error:
            report.differences.append(f"failed in {tree.name}: {error}")
        report.seconds[tree.name] = time.perf_counter() - start
        progress(f"{name}: {tree.name} ran in {report.seconds[tree.name]:.1f} s")
    if len(outputs) == 2:
        compare_folders(*outputs, report)
    return report


def summary(name: str, report: Report) -> list[str]:
    """The lines of one workload in the summary."""
    ok = not report.differences
    times = ", ".join(f"{tree} {seconds:.1f} s" for tree, seconds in report.seconds.items())
    verdict = "all equal" if ok else f"{len(report.differences)} DIFFERENCES"
    lines = [f"{name}: {report.files} files compared, {verdict} ({times})"]
    lines += [f"  - {text}" for text in report.differences[:SHOWN]]
    if len(report.differences) > SHOWN:
        lines.append(f"  ... and {len(report.differences) - SHOWN} more")
    lines += [f"  warning (PNG, not a failure): {text}" for text in report.warnings]
    lines += [
        f"  ignored, differs as expected: {what} in {count} file(s)"
        for what, count in sorted(report.ignored.items())
    ]
    return lines


def equivalence(old_rev: str, new_rev: str | None, names: list[str]) -> tuple[str, bool]:
    """Run the workloads ``names`` through ``old_rev`` and the new code (``new_rev``, or
    this working tree when None); (the summary, whether everything is equal)."""
    start = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="eotrend-equivalence-") as tmp,
        contextlib.ExitStack() as trees_in_use,
    ):
        scratch = Path(tmp)
        old = trees_in_use.enter_context(worktree("old", old_rev, scratch / "old"))
        if new_rev:
            new = trees_in_use.enter_context(worktree("new", new_rev, scratch / "new"))
        else:
            new = snapshot(scratch / "new")
        lines = [old.describe(), new.describe()]
        reports = {}
        for name in names:
            inputs = scratch / "inputs" / name
            inputs.mkdir(parents=True)
            if WORKLOADS[name].inputs:
                made = time.perf_counter()
                WORKLOADS[name].inputs(old, inputs)
                progress(f"{name}: inputs made by old in {time.perf_counter() - made:.1f} s")
            reports[name] = run_workload(name, (old, new), inputs, scratch)
    ok = all(not report.differences for report in reports.values())
    for name, report in reports.items():
        lines += summary(name, report)
    load = f"load {os.getloadavg()[0]:.2f} on {len(os.sched_getaffinity(0))} CPUs"
    lines.append(f"wall time {time.perf_counter() - start:.0f} s ({load} at the end)")
    lines.append("EQUIVALENT" if ok else "NOT EQUIVALENT")
    return "\n".join(lines), ok


def main() -> str:
    """The default comparison's summary (for bench/run.py)."""
    return equivalence(OLD_REV, None, list(WORKLOADS))[0]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-rev", default=OLD_REV, help="old revision (default: %(default)s)")
    parser.add_argument("--new-rev", help="new revision (default: this working tree)")
    parser.add_argument(
        "--only", choices=list(WORKLOADS), action="append", help="run only this workload"
    )
    args = parser.parse_args()
    text, equal = equivalence(args.old_rev, args.new_rev, args.only or list(WORKLOADS))
    print(text)
    sys.exit(0 if equal else 1)

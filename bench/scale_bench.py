"""Thousands of scenes (issue 16): whole `snakemake --cores 2` runs of today's per-scene
design and of the working tree's design, side by side in one run, on the same data.

* today: the workflow at commit c0e31a1 (per-scene locate, extract and quicklook jobs),
  checked out once as a git worktree in bench/out/scale/today;
* batched: the working tree (this repository). When its schema has the dataset key
  ``scenes_per_job``, its runs set it (``--scenes-per-job``, default 50 as in the
  schema); otherwise it runs as its config stands.

Each run has its own work folder under bench/out/scale/runs (made afresh: config.yaml
written here, results/, logs/, benchmarks/, .snakemake/) and runs the tree's Snakefile
(``snakemake -s <tree>/Snakefile``, the venv's python first on PATH, the tree's
default workflow profile). Data (bench/scale_data.py, made once under
bench/out/scale/data): ``small``, N synthetic 128 x 129 OLCI WFR scenes, one a day, one
lake as the AOI, variable Oa08_reflectance; ``full``, M full-size 4091 x 4865 scenes on
the published 27-vertex polygon, variables Oa08_reflectance and TSM_NN, whose pixels are
identical (hard links to one generated product; only names and manifests differ). Both
from the local source, quality water, min_coverage 0 (every scene enters the stack and
the time series), grid EPSG:4326 at 0.003 deg.

Measured per design and data set: scenes, jobs run (snakemake's "N of N steps"), the
wall time of the whole run (download checkpoint through trend and every final target)
and per scene, the largest max_pss of the run's benchmark files, the peak RSS of the
run's largest process (/usr/bin/time -v, the kernel's ru_maxrss over the process tree)
and of all its processes together (psutil, sampled every 0.1 s: a shorter peak can be
missed), then the wall time of ``snakemake -n`` with everything done and of a no-op
rerun (``snakemake --cores 2`` again, nothing to do). Today's design costs seconds per
scene, so by default it runs on the first K scenes (``--today-scenes``, 60 small and 6
full) and its row for N (or M) scenes is extrapolated from K (wall times times N/K),
except its jobs and ``snakemake -n``, which are measured on all N scenes after the
download checkpoint alone (nothing else done). The batched design then also runs on
the same K scenes, and the two designs' ``timeseries.csv`` (pandas ``equals``) and
stack and trend GeoTIFF arrays (GDAL-read, ``numpy.array_equal`` with NaNs equal; tags
not compared: they carry the config digest; table columns naming a run's folder left
out) must be equal before any table is printed. The extrapolation counts the run's fixed
costs (checkpoint, stack, trend, plots) N/K times: an upper bound. A second table sums
the benchmark files by rule.

The per-job floor: a throwaway Snakefile in bench/out/scale/floor runs 100 jobs of a
``script:`` that only imports eotrend's heavy imports (numpy, netCDF4, osgeo.gdal,
pandas) and touches its output, and 100 of one that imports nothing: the wall time per
job on 2 cores, the cost any design with one job per scene pays per scene. Every snakemake
command also pays snakemake's start-up, measured as the floor's no-op rerun: with Slurm's
client installed, the Slurm executor plugin runs ``scontrol show config`` when snakemake
starts, whatever the executor, which waits up to 10 s when no controller answers (timed
and printed when ``scontrol`` is on PATH; it inflates the dry and no-op runs alike).

Goals (issue 16, on 2 cores): full-size locate + extract + grid of 2 variables <= 1.0 s
wall per scene (here: the whole run per scene, stack, trend and plots included);
small <= 0.3 s per scene; ``snakemake -n`` at 2,000 scenes <= 30 s; no-op rerun <= 30 s.

    python bench/scale_bench.py                                  # 2000 small, 200 full
    python bench/scale_bench.py --small 30 --full 2 --today-scenes all   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import scale_data
from common import OUT, REPO, SEED, load_average, table

SCALE = OUT / "scale"
TODAY = SCALE / "today"
TODAY_COMMIT = "c0e31a1"
RUNS = SCALE / "runs"
FLOOR = SCALE / "floor"
BIN = REPO / ".venv" / "bin"
TIME = Path("/usr/bin/time")
GOAL_PER_SCENE = {"small": 0.3, "full": 1.0}  # s of wall time per scene
GOAL_DRY, GOAL_NOOP = 30.0, 30.0  # s, at 2,000 scenes
FLOOR_JOBS = 100
HEAVY = "import netCDF4\nimport numpy\nimport pandas\nfrom osgeo import gdal\n\n"
FLOOR_SNAKEFILE = f"""\
JOBS = range({FLOOR_JOBS})


rule heavy_all:
    input:
        expand("heavy/{{i}}.txt", i=JOBS),


rule empty_all:
    input:
        expand("empty/{{i}}.txt", i=JOBS),


rule heavy:
    output:
        "heavy/{{i}}.txt",
    script:
        "heavy.py"


rule empty:
    output:
        "empty/{{i}}.txt",
    script:
        "empty.py"
"""


@dataclass
class Run:
    """One whole workflow run and what was measured on it (seconds, MB)."""

    design: str
    data: str
    scenes: int
    folder: Path
    jobs: int = 0
    wall: float = 0.0
    max_pss: float = 0.0
    rss_largest: float = 0.0
    rss_all: float = 0.0
    dry: float = 0.0
    noop: float = 0.0
    rules: dict[str, tuple[int, float, float]] = field(default_factory=dict)
    """rule -> (benchmark files, sum of their wall s, largest max_pss MB)."""


def environment() -> dict[str, str]:
    """The runs' environment: the venv first on PATH (snakemake runs ``script:`` rules
    with the first python there)."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def today_tree() -> Path:
    """Today's design: commit c0e31a1 as a worktree (added once, never removed)."""
    if not (TODAY / "Snakefile").is_file():
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(TODAY), TODAY_COMMIT],
            check=True,
        )
    return TODAY


def has_scenes_per_job(tree: Path) -> bool:
    """Whether the tree's config schema has the dataset key ``scenes_per_job``."""
    import yaml

    schema = yaml.safe_load((tree / "schemas" / "config.schema.yaml").read_text())
    return "scenes_per_job" in schema["$defs"]["dataset"]["properties"]


def dataset(data: str, scenes: int) -> dict:
    """The dataset config of the first ``scenes`` scenes of ``data`` (small or full)."""
    grid = {"crs": "EPSG:4326", "resolution": 0.003, "max_distance_m": 400}
    common = {"kind": "sentinel3", "quality": "water", "min_coverage": 0.0, "grid": grid}
    if data == "small":
        return {
            **common,
            "aoi": str(scale_data.LAKE),
            "start": scale_data.SMALL_START.date().isoformat(),
            "end": scale_data.small_end(scenes),
            "source": {"type": "local", "local": {"path": str(scale_data.SMALL)}},
            "variables": ["Oa08_reflectance"],
        }
    return {
        **common,
        "aoi": str(SEED),
        "start": scale_data.full_start().date().isoformat(),
        "end": scale_data.full_end(scenes),
        "source": {"type": "local", "local": {"path": str(scale_data.FULL)}},
        "variables": ["Oa08_reflectance", "TSM_NN"],
    }


def prepare(tree: Path, folder: Path, data: str, scenes: int, per_job: int | None) -> list:
    """A fresh work folder with its config.yaml; the snakemake command that runs there."""
    import yaml

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    cfg = dataset(data, scenes)
    if per_job is not None:
        cfg["scenes_per_job"] = per_job
    (folder / "config.yaml").write_text(yaml.safe_dump({"datasets": {data: cfg}}))
    return [str(BIN / "snakemake"), "-s", str(tree / "Snakefile")]


def run_logged(args: list[str], folder: Path, log: str) -> tuple[float, str]:
    """Run a command in ``folder``, its output to ``folder/log``; (wall s, output)."""
    start = time.perf_counter()
    with open(folder / log, "w") as out:
        result = subprocess.run(args, cwd=folder, env=environment(), stdout=out, stderr=out)
    wall = time.perf_counter() - start
    text = (folder / log).read_text()
    if result.returncode:
        tail = "\n".join(text.splitlines()[-30:])
        raise RuntimeError(f"{' '.join(args)} failed in {folder} (see {log}):\n{tail}")
    return wall, text


def run_measured(args: list[str], folder: Path, log: str) -> tuple[float, str, float, float]:
    """:func:`run_logged` under /usr/bin/time -v, the RSS of all processes sampled;
    (wall s, output, peak RSS MB of the largest process, peak of the sum MB)."""
    import psutil

    usage = folder / f"{log}.time"
    start = time.perf_counter()
    with open(folder / log, "w") as out:
        process = subprocess.Popen(
            [str(TIME), "-v", "-o", str(usage), *args],
            cwd=folder,
            env=environment(),
            stdout=out,
            stderr=out,
        )
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            root = psutil.Process(process.pid)
            while not done.wait(0.1):
                peak[0] = max(peak[0], tree_rss(root))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        process.wait()
        done.set()
        sampler.join()
    wall = time.perf_counter() - start
    text = (folder / log).read_text()
    if process.returncode:
        tail = "\n".join(text.splitlines()[-30:])
        raise RuntimeError(f"{' '.join(args)} failed in {folder} (see {log}):\n{tail}")
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", usage.read_text())
    return wall, text, int(found[1]) / 1024, peak[0] / 2**20


def tree_rss(root) -> int:
    """Sum of the RSS (bytes) of every process below the psutil Process ``root``."""
    import psutil

    total = 0
    with contextlib.suppress(psutil.NoSuchProcess):
        for child in root.children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                total += child.memory_info().rss
    return total


def steps_done(output: str) -> int:
    """Jobs a snakemake run finished: the last "N of M steps" line."""
    found = re.findall(r"(\d+) of (\d+) steps", output)
    return int(found[-1][0]) if found else 0


def planned_jobs(output: str) -> int:
    """Jobs a dry run would run: the total of its job stats table."""
    found = re.search(r"^total\s+(\d+)", output, re.MULTILINE)
    return int(found[1]) if found else 0


def assert_nothing_to_do(output: str, what: str) -> None:
    if "Nothing to be done" not in output:
        raise RuntimeError(f"{what} found work to do: the run before it did not finish")


def benchmark_rules(folder: Path, data: str) -> dict[str, tuple[int, float, float]]:
    """Per rule (the benchmark file's folder under benchmarks/<data>, or its name for
    files directly there): (files, sum of wall s, largest max_pss MB)."""
    rules: dict[str, tuple[int, float, float]] = {}
    root = folder / "benchmarks" / data
    for path in sorted(root.rglob("*.tsv")):
        relative = path.relative_to(root)
        rule = relative.parts[0] if len(relative.parts) > 1 else relative.stem
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        wall = sum(float(row["s"]) for row in rows)
        pss = max((_number(row.get("max_pss")) for row in rows), default=0.0)
        count, total, largest = rules.get(rule, (0, 0.0, 0.0))
        rules[rule] = (count + 1, total + wall, max(largest, pss))
    return rules


def _number(text: str | None) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0  # "NA" or "-": a job too short to sample


def workflow_run(
    design: str, tree: Path, data: str, scenes: int, per_job: int | None, folder: Path
) -> Run:
    """The whole run, then ``snakemake -n`` and a no-op rerun, in a fresh folder."""
    base = prepare(tree, folder, data, scenes, per_job)
    run = Run(design, data, scenes, folder)
    run.wall, output, run.rss_largest, run.rss_all = run_measured(
        [*base, "--cores", "2"], folder, "run.log"
    )
    run.jobs = steps_done(output)
    run.dry, output = run_logged([*base, "-n"], folder, "dry_run.log")
    assert_nothing_to_do(output, "snakemake -n")
    run.noop, output = run_logged([*base, "--cores", "2"], folder, "noop.log")
    assert_nothing_to_do(output, "the no-op rerun")
    run.rules = benchmark_rules(folder, data)
    run.max_pss = max((pss for _, _, pss in run.rules.values()), default=0.0)
    return run


def dry_run_at(tree: Path, data: str, scenes: int, folder: Path) -> tuple[int, float]:
    """Today's DAG at all ``scenes``: the download checkpoint alone, then ``snakemake
    -n``; (jobs it plans, its wall s)."""
    base = prepare(tree, folder, data, scenes, None)
    run_logged([*base, "--cores", "2", f"results/{data}/manifest.csv"], folder, "download.log")
    wall, output = run_logged([*base, "-n"], folder, "dry_run.log")
    return planned_jobs(output), wall


def assert_same_outputs(one: Run, other: Run) -> None:
    """The time series tables equal (pandas) and every stack and trend GeoTIFF's arrays
    equal (NaNs equal), band by band; AssertionError naming the file otherwise."""
    import numpy as np
    import pandas as pd
    from osgeo import gdal

    gdal.UseExceptions()
    name = "timeseries.csv"
    tables = [pd.read_csv(run.folder / "results" / run.data / name) for run in (one, other)]
    named = {  # provenance: columns naming a run's folder
        column
        for run, frame in zip((one, other), tables, strict=True)
        for column in frame.columns
        if frame[column].astype(str).str.contains(str(run.folder), regex=False).any()
    }
    tables = [frame.drop(columns=[c for c in named if c in frame.columns]) for frame in tables]
    assert tables[0].equals(tables[1]), f"{name} differs between {one.folder} and {other.folder}"
    rasters = sorted(
        path.relative_to(one.folder)
        for folder in ("stack", "trend")
        for path in (one.folder / "results" / one.data / folder).glob("*.tif")
    )
    assert rasters, f"no stack or trend GeoTIFFs in {one.folder}"
    for relative in rasters:
        arrays = []
        for run in (one, other):
            ds = gdal.Open(str(run.folder / relative))
            arrays.append(ds.ReadAsArray())
            ds = None
        same = arrays[0].shape == arrays[1].shape and np.array_equal(
            arrays[0], arrays[1], equal_nan=True
        )
        assert same, f"{relative} differs between {one.folder} and {other.folder}"


def floor() -> tuple[list[tuple[str, ...]], str]:
    """Rows of the per-job floor (script, jobs, total s, s per job, s per job less the
    no-op rerun's) and a line on snakemake's own start-up: the no-op rerun of the floor's
    Snakefile, and ``scontrol show config`` when Slurm's client is installed (the Slurm
    executor plugin runs it at import, in every snakemake command, whatever the
    executor)."""
    FLOOR.mkdir(parents=True, exist_ok=True)
    (FLOOR / "Snakefile").write_text(FLOOR_SNAKEFILE)
    touch = "open(snakemake.output[0], 'w').close()\n"
    (FLOOR / "heavy.py").write_text(HEAVY + touch)
    (FLOOR / "empty.py").write_text(touch)
    rows, noops = [], []
    for rule, label in (("heavy", "imports numpy, netCDF4, osgeo.gdal, pandas"), ("empty", "")):
        for path in ("heavy", "empty", ".snakemake"):
            shutil.rmtree(FLOOR / path, ignore_errors=True)
        args = [str(BIN / "snakemake"), "--cores", "2", f"{rule}_all"]
        wall, output = run_logged(args, FLOOR, f"{rule}.log")
        noop, output_noop = run_logged(args, FLOOR, f"{rule}_noop.log")
        assert_nothing_to_do(output_noop, "the floor's no-op rerun")
        noops.append(noop)
        jobs = steps_done(output) - 1  # the target rule
        rows.append(
            (
                f"`script:` that {label or 'imports nothing'}",
                str(jobs),
                f"{wall:.1f}",
                f"{wall / jobs:.3f}",
                f"{(wall - noop) / jobs:.3f}",
            )
        )
    line = f"snakemake start-up (no-op rerun of the floor Snakefile): {min(noops):.1f} s"
    scontrol = shutil.which("scontrol")
    if scontrol:
        start = time.perf_counter()
        subprocess.run([scontrol, "show", "config"], capture_output=True, timeout=60)
        line += (
            f"; `scontrol show config`, which the Slurm executor plugin runs whenever "
            f"snakemake starts, took {time.perf_counter() - start:.1f} s now (up to 10 s "
            "when no Slurm controller answers)"
        )
    return rows, line


def make_data(small: int, full: int) -> str:
    """Make the scenes that are missing; a line saying what that cost."""
    made_small, small_s = scale_data.small_scenes(small)
    made_full, full_s = scale_data.full_scenes(full)
    parts = []
    for label, made, seconds in (("small", made_small, small_s), ("full", made_full, full_s)):
        cost = f" in {seconds:.1f} s ({seconds / made:.3f} s per scene)" if made else ""
        parts.append(f"{made} {label} scenes made{cost}")
    return "data: " + "; ".join(parts) + f" (bench/out/scale/data, {scale_data.__name__}.py)"


def _cell(seconds: float, goal: float | None = None) -> str:
    text = f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"
    if goal is not None:
        text += " ✓" if seconds <= goal else " ✗"
    return text


def row(run: Run, label: str, goal: float) -> tuple[str, ...]:
    return (
        run.design,
        run.data,
        label,
        str(run.jobs),
        _cell(run.wall),
        _cell(run.wall / run.scenes, goal),
        f"{run.max_pss:.0f}",
        f"{run.rss_largest:.0f} / {run.rss_all:.0f}",
        _cell(run.dry, GOAL_DRY),
        _cell(run.noop, GOAL_NOOP),
    )


def extrapolated(run: Run, scenes: int, jobs: int, dry: float, goal: float) -> tuple[str, ...]:
    factor = scenes / run.scenes
    return (
        run.design,
        run.data,
        f"{scenes} (measured on {run.scenes}, extrapolated)",
        f"{jobs + 1} (planned, checkpoint included)",
        f"≈ {_cell(run.wall * factor)}",
        _cell(run.wall / run.scenes, goal),
        "-",
        "-",
        f"{_cell(dry, GOAL_DRY)} (measured at {scenes}, after the checkpoint only)",
        f"≈ {_cell(run.noop * factor, GOAL_NOOP)}",
    )


def compare(data: str, scenes: int, today_scenes: int, per_job: int) -> tuple[list, list]:
    """Both designs on ``data``; (rows of the main table, runs whose rules are listed)."""
    today, batched = today_tree(), REPO
    batched_per_job = per_job if has_scenes_per_job(batched) else None
    goal = GOAL_PER_SCENE[data]
    today_run = workflow_run(
        "today", today, data, today_scenes, None, RUNS / f"today-{data}-{today_scenes}"
    )
    rows, runs = [row(today_run, str(today_scenes), goal)], [today_run]
    if today_scenes < scenes:
        jobs, dry = dry_run_at(today, data, scenes, RUNS / f"today-{data}-{scenes}-dag")
        rows.append(extrapolated(today_run, scenes, jobs, dry, goal))
        batched_k = workflow_run(
            "batched",
            batched,
            data,
            today_scenes,
            batched_per_job,
            RUNS / f"batched-{data}-{today_scenes}",
        )
        assert_same_outputs(today_run, batched_k)
        rows.append(row(batched_k, str(today_scenes), goal))
        runs.append(batched_k)
    batched_run = workflow_run(
        "batched", batched, data, scenes, batched_per_job, RUNS / f"batched-{data}-{scenes}"
    )
    if today_scenes == scenes:
        assert_same_outputs(today_run, batched_run)
    rows.append(row(batched_run, str(scenes), goal))
    return rows, [*runs, batched_run]


def main(
    small: int = 2000,
    full: int = 200,
    today_scenes: tuple[int | None, int | None] = (60, 6),
    scenes_per_job: int = 50,
    data: tuple[str, ...] = ("small", "full"),
) -> str:
    """Run everything; the tables. ``today_scenes``: (small, full) scenes today's
    design runs on (None = all)."""
    counts = {"small": small, "full": full}
    today_counts = {
        name: min(count, k) if k else count
        for (name, count), k in zip(counts.items(), today_scenes, strict=True)
    }
    data_line = make_data(small if "small" in data else 0, full if "full" in data else 0)
    load_before = load_average()
    floor_rows, startup = floor()
    rows, runs = [], []
    for name in data:
        new_rows, new_runs = compare(name, counts[name], today_counts[name], scenes_per_job)
        rows += new_rows
        runs += new_runs
    header = (
        "design",
        "data",
        "scenes",
        "jobs",
        "total s",
        "s per scene (goal: small 0.3, full 1.0)",
        "max_pss MB (benchmarks)",
        "peak RSS MB largest / all processes",
        "`snakemake -n` s (goal 30)",
        "no-op rerun s (goal 30)",
    )
    rule_rows = [
        (
            run.design,
            run.data,
            str(run.scenes),
            rule,
            str(count),
            f"{total:.1f}",
            f"{total / count:.2f}",
            f"{pss:.0f}",
        )
        for run in runs
        for rule, (count, total, pss) in run.rules.items()
    ]
    batched_label = (
        f"scenes_per_job {scenes_per_job}"
        if has_scenes_per_job(REPO)
        else "no scenes_per_job key yet: runs as it stands"
    )
    title = (
        f"thousands of scenes, whole `snakemake --cores 2` runs: today = {TODAY_COMMIT} "
        f"(per-scene jobs), batched = the working tree ({batched_label}); {load_before} "
        f"before, {load_average()} after; outputs of both designs equal (timeseries.csv, "
        "stack and trend arrays)"
    )
    floor_header = (
        "per-job floor (2 cores)",
        "jobs",
        "total s",
        "s per job",
        "s per job, start-up off",
    )
    rules_header = ("design", "data", "scenes", "rule", "jobs", "sum s", "mean s", "max_pss MB")
    return (
        f"{title}\n{data_line}\n\n{table(rows, header)}\n\n"
        f"time by rule (benchmark files)\n\n{table(rule_rows, rules_header)}\n\n"
        f"{table(floor_rows, floor_header)}\n{startup}\n"
    )


def parse_today(text: str) -> tuple[int | None, int | None]:
    """``--today-scenes``: ``all``, ``K`` (both data sets) or ``K_SMALL,K_FULL``."""
    if text == "all":
        return (None, None)
    parts = [int(part) for part in text.split(",")]
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"expected all, K or K_SMALL,K_FULL, got {text!r}")
    return (parts[0], parts[1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=2000, help="small scenes (default 2000)")
    parser.add_argument("--full", type=int, default=200, help="full-size scenes (default 200)")
    parser.add_argument(
        "--today-scenes",
        type=parse_today,
        default=(60, 6),
        help="scenes today's design runs on: all, K, or K_SMALL,K_FULL (default 60,6)",
    )
    parser.add_argument(
        "--scenes-per-job", type=int, default=50, help="the batched design's scenes_per_job"
    )
    parser.add_argument(
        "--data", choices=("small", "full"), action="append", help="one data set only"
    )
    args = parser.parse_args()
    print(
        main(
            args.small,
            args.full,
            args.today_scenes,
            args.scenes_per_job,
            tuple(args.data or ("small", "full")),
        )
    )

"""The real snakemake killed mid-run (a lost node), then rerun; and rules given little memory.

A run is killed outright (SIGKILL to snakemake and every job it runs) while a job is
working. What the user then does, and what is checked:

1. ``snakemake`` refuses to start: the killed run's lock is still there, and the message
   says to use ``--unlock``;
2. ``snakemake --unlock``, then ``snakemake`` again: it completes, redoes only the jobs that
   had not finished (their outputs are the only ones rewritten), and the outputs equal a
   clean run's (arrays, tables, bytes).

After the kill, every file under a final name is complete (outputs are written under a
temporary name and renamed), and the rerun removes the temporaries the kill left.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from eotrend.geo import raster
from eotrend.synthetic.series import write_yearly_series
from support.commands import BIN, REPO, command_env, snakemake
from support.compare import assert_same_raster
from support.configs import base_config

pytestmark = [pytest.mark.workflow, pytest.mark.slow, pytest.mark.timeout(600)]

CONFIG = base_config(
    "sentinel3_synthetic",
    "geotiff_synthetic",
    river={
        "source": {"synthetic": {"years": [2019, 2020]}},
        "scenes_per_job": 2,  # two batches: the kill lands in one of them
    },
)
# The data products (the figures are left out: they are drawn from these).
TARGETS = [
    "results/river/trend/Oa08_reflectance.tif",
    "results/river/trend/TSM_NN.tif",
    "results/river/timeseries.csv",
    "results/ndvi/trend/ndvi_max.tif",
]
JOB_HEADER = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")


def project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "aoi.geojson").write_bytes((REPO / "data/demo/aoi.geojson").read_bytes())
    (folder / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    return folder


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory) -> Path:
    workdir = project(tmp_path_factory.mktemp("clean"))
    result = snakemake(workdir, *TARGETS)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir


def jobs(log: str) -> dict[int, tuple[str, list[str]]]:
    """jobid -> (rule, outputs) of every job a snakemake log started."""
    found, rule, outputs = {}, None, []
    for line in log.splitlines():
        header = JOB_HEADER.match(line)
        if header:
            rule, outputs = header.group(1), []
        elif rule and line.strip().startswith("output: "):
            outputs = line.strip().removeprefix("output: ").split(", ")
        elif rule and line.strip().startswith("jobid: "):
            found[int(line.split(":")[1])] = (rule, outputs)
            rule = None
    return found


def finished(log: str) -> set[int]:
    return {int(m) for m in re.findall(r"Finished jobid: (\d+)", log)}


def files(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (relative name -> mtime in ns)."""
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()
    }


def assert_complete(path: Path) -> None:
    """The file reads completely with the reader of its kind."""
    if path.suffix == ".tif":
        info = raster.read_info(path)
        raster.read_rows(path, 0, info.height)
    elif path.suffix == ".parquet":
        pq.read_table(path)
    elif path.suffix == ".json":
        json.loads(path.read_text())
    elif path.suffix == ".csv":
        assert path.read_text().endswith("\n")


def kill_mid_job(workdir: Path, after: int, moment: float) -> str:
    """Run snakemake until ``after`` jobs finished and a scenes (batch) job has run for
    ``moment`` seconds, then SIGKILL it with every job (its process group); returns its
    output so far."""
    command = [
        str(BIN / "snakemake"),
        *("--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)),
        *("--cores", "2", *TARGETS),
    ]
    process = subprocess.Popen(
        command,
        cwd=workdir,
        env=command_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines, armed = [], False
    for line in process.stdout:
        lines.append(line)
        if len(finished("".join(lines))) >= after and JOB_HEADER.match(line.strip()):
            armed = line.strip().endswith("scenes:")
        if armed and line.strip().startswith("resources:"):
            time.sleep(moment)  # into the job's work (a batch of two takes about 2 s)
            os.killpg(process.pid, signal.SIGKILL)
            break
    lines.append(process.stdout.read())  # what it said before it died
    process.wait()
    process.stdout.close()
    assert armed, "the run ended before a scenes job could be killed:\n" + "".join(lines)
    deadline = time.monotonic() + 20
    while _group_alive(process.pid):
        assert time.monotonic() < deadline, "processes of the killed run are still alive"
        time.sleep(0.1)
    return "".join(lines)


def _group_alive(group: int) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == group:
                    return True
            except ProcessLookupError:
                continue
    return False


def test_killed_run_reruns_only_unfinished_jobs(clean_run, tmp_path):
    workdir = project(tmp_path / "killed")
    # The clean run's product cache (the same synthetic products): the downloads make
    # none again, the jobs after them are the ones killed and rerun.
    shutil.copytree(clean_run / "resources/products", workdir / "resources/products")
    first = kill_mid_job(workdir, after=2, moment=random.Random(0).uniform(0.3, 0.9))
    started, done = jobs(first), finished(first)
    done_outputs = {o for j in done for o in started[j][1]}
    assert done_outputs and set(started) - done

    # No partial file under a final name: what exists is complete.
    results = workdir / "results"
    before = files(results)
    existed = {o for _, outputs in started.values() for o in outputs if (workdir / o).exists()}
    for name in before:
        if not any(part.startswith(".") for part in Path(name).parts):
            assert_complete(results / name)

    # Scenes a batch finished before the kill (stamped) are not redone by the rerun.
    stamped = [p.parent for p in (workdir / "resources/scenes").glob("river/*/done.json")]
    kept = {p: p.stat().st_mtime_ns for d in stamped for p in d.rglob("*") if p.is_file()}

    refused = snakemake(workdir, *TARGETS)
    assert refused.returncode != 0
    assert "--unlock" in refused.stdout + refused.stderr
    unlocked = snakemake(workdir, "--unlock")
    assert unlocked.returncode == 0, unlocked.stderr[-3000:]
    rerun = snakemake(workdir, *TARGETS)
    assert rerun.returncode == 0, rerun.stderr[-5000:]

    redone = {o for _, outputs in jobs(rerun.stdout + rerun.stderr).values() for o in outputs}
    assert not redone & done_outputs, "finished jobs ran again"
    for job, (rule, outputs) in started.items():
        # A job may finish just as the kill comes, before it is reported: then it is complete.
        if job not in done:
            assert set(outputs) <= redone or set(outputs) <= existed, rule
    after = files(results)
    assert {p: p.stat().st_mtime_ns for p in kept} == kept, "finished scenes were redone"
    for name in done_outputs:
        path = str(Path(name).relative_to("results"))
        # Directory outputs list no files here; temp() outputs are gone once used.
        if path in before and path in after:
            assert after[path] == before[path], f"{name} was rewritten"

    # Equal to the clean run; nothing hidden left behind.
    # Snakemake's own marker of a finished directory output (.snakemake_timestamp) is not
    # ours: a job killed between our atomic rename and Snakemake touching it leaves a
    # complete grid folder without one, which the rerun rightly keeps.
    clean = files(clean_run / "results")
    ours = sorted(name for name in after if not name.endswith(".snakemake_timestamp"))
    assert ours == sorted(name for name in clean if not name.endswith(".snakemake_timestamp"))
    for name in ours:
        if "/batches/" in name:  # a record of what each run did (statuses, seconds)
            continue
        a, b = clean_run / "results" / name, results / name
        if a.suffix == ".tif":
            assert_same_raster(a, b)
        else:
            assert a.read_bytes() == b.read_bytes(), name


def test_rules_given_little_memory_adapt_and_write_the_same(tmp_path):
    """``--set-resources`` gives stack and the trend tiles a small mem_mb: the jobs cut their
    work smaller (the stack into row blocks on one worker) and write what a run with the
    default resources writes."""
    inputs = write_yearly_series(tmp_path / "in", years=range(2001, 2013), width=1000, height=700)
    config = base_config("geotiff_local", series={"files": str(inputs[0].parent / "*.tif")})
    runs = {}
    for name, extra in (
        ("default", []),
        ("small", ["--set-resources", "stack:mem_mb=60", "trend_tile:mem_mb=700"]),
    ):
        workdir = tmp_path / name
        workdir.mkdir()
        (workdir / "config.yaml").write_text(yaml.safe_dump(config))
        result = snakemake(workdir, "results/series/trend/ndvi_max.tif", *extra)
        assert result.returncode == 0, result.stderr[-5000:]
        runs[name] = workdir
    log = (runs["small"] / "logs/series/stack/ndvi_max.log").read_text()
    assert "3 blocks of 256 rows" in log and "1 worker (limited by memory)" in log
    for product in ("stack/ndvi_max.tif", "trend/ndvi_max.tif"):
        assert_same_raster(
            runs["default"] / "results/series" / product, runs["small"] / "results/series" / product
        )

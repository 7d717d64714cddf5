"""The workflow through profiles/slurm on a real local Slurm (tests/slurm/cluster.sh up).

Skipped, with the reason, where no Slurm controller answers. Every snakemake run is
under a hard timeout: a status-check misconfiguration otherwise waits forever.
"""

from __future__ import annotations

import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from eotrend.geo import raster
from support.commands import BIN, REPO, command_env, snakemake
from support.configs import base_config

pytestmark = [pytest.mark.slurm, pytest.mark.timeout(1500)]


def slurm_available() -> str:
    """Why the Slurm tests cannot run here ('' when they can)."""
    if shutil.which("sbatch") is None:
        return "no sbatch on PATH: start a cluster with `bash tests/slurm/cluster.sh up`"
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, check=False)
    if "UP" not in ping.stdout:
        return "no Slurm controller answers: `bash tests/slurm/cluster.sh up`"
    return ""


if reason := slurm_available():
    pytestmark.append(pytest.mark.skip(reason=reason))

CONFIG = base_config(
    "sentinel3_synthetic",
    "geotiff_synthetic",
    river={
        "source": {"synthetic": {"seed": 4, "years": [2019, 2020], "rows": 300, "columns": 257}},
        "variables": ["Oa08_reflectance"],
    },
    ndvi={"source": {"synthetic": {"years": [2001, 2008], "width": 50, "height": 30}}},
)
PROFILES = [
    "--profile",
    str(REPO / "profiles" / "slurm"),
    "--profile",
    str(REPO / "tests" / "slurm" / "profile"),
]


def project(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "data" / "demo" / "aoi.geojson", folder / "aoi.geojson")
    (folder / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    return folder


def slurm_run(workdir: Path, *args: str, seconds: int = 600) -> subprocess.CompletedProcess:
    """snakemake through the Slurm profiles, killed (-k) if it outlives ``seconds``."""
    command = [
        "timeout",
        "-k",
        "15",
        str(seconds),
        str(BIN / "snakemake"),
        "--snakefile",
        str(REPO / "Snakefile"),
        "--directory",
        str(workdir),
        *PROFILES,
        *args,
    ]
    return subprocess.run(
        command, cwd=workdir, env=command_env(), capture_output=True, text=True, check=False
    )


def queue_state() -> str:
    """What Slurm's queue and node say now: why a run's jobs wait, for a failure's message."""
    lines = []
    for command in (["squeue", "--all", "-o", "%i %j %T %r %M"], ["sinfo", "-N", "-o", "%N %T %E"]):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        lines.append(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}")
    return "\n".join(lines)


def jobs_since(start: datetime, workdir: Path) -> pd.DataFrame:
    """sacct's job records (allocations only) started after ``start`` from ``workdir``
    (other runs may share the cluster)."""
    out = subprocess.run(
        [
            "sacct",
            "-X",
            "--parsable2",
            "--noheader",
            "--starttime",
            start.strftime("%Y-%m-%dT%H:%M:%S"),
            "--format=JobID,Comment%60,AllocCPUS,ReqMem,State,WorkDir%4096",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split("|", 5) for line in out.strip().splitlines() if line]
    own = [row[:5] for row in rows if Path(row[5]).resolve() == workdir.resolve()]
    return pd.DataFrame(own, columns=["job", "rule", "cpus", "mem", "state"])


def read_all(path: Path) -> np.ndarray:
    return raster.read_rows(path, 0, raster.read_info(path).height)


# The outputs compared with a local run's; the local run makes only these (it is the
# oracle), the Slurm run these and the quicklooks: every kind of job the tests below look
# at (a batch of scenes, a dataset's figures, stacks, trend tiles and their gathering),
# not the rest of rule all, whose jobs would only queue one after the other.
COMPARED = [
    "results/river/trend/Oa08_reflectance.tif",
    "results/ndvi/trend/ndvi_max.tif",
    "results/river/stack/Oa08_reflectance.tif",
]
TABLE = "results/river/timeseries.csv"
QUICKLOOKS = "results/river/quicklooks"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The config run through Slurm and meanwhile locally (the compared outputs: the
    Slurm run mostly waits for its jobs); sacct's records of the Slurm run's jobs."""
    local = project(tmp_path_factory.mktemp("local"))
    cluster = project(tmp_path_factory.mktemp("slurm"))
    with ThreadPoolExecutor(1) as pool:
        local_run = pool.submit(snakemake, local, *COMPARED, TABLE)
        start = datetime.now()
        result = slurm_run(cluster, *COMPARED, TABLE, QUICKLOOKS)
        local_result = local_run.result()
    assert result.returncode == 0, result.stderr[-5000:] + queue_state()
    assert local_result.returncode == 0, local_result.stderr[-3000:]
    return local, cluster, jobs_since(start, cluster)


def test_outputs_equal_a_local_run(runs):
    local, cluster, _ = runs
    for target in COMPARED:
        np.testing.assert_array_equal(read_all(cluster / target), read_all(local / target))
    pd.testing.assert_frame_equal(pd.read_csv(cluster / TABLE), pd.read_csv(local / TABLE))


def test_jobs_ask_for_what_the_rules_say(runs):
    _, _, jobs = runs
    assert (jobs["state"] == "COMPLETED").all(), jobs
    trend = jobs[jobs["rule"].str.startswith("rule_trend_tile_")]
    assert len(trend) == 2  # one tile per dataset/variable
    # set-threads 2 -> 2 CPUs; mem_mb = (1000 + 1000 * threads) * attempt = 3000 MB
    assert (trend["cpus"] == "2").all() and (trend["mem"] == "3000M").all(), trend


def test_per_scene_work_is_one_job_per_batch_and_quicklooks_one_per_dataset(runs):
    _, cluster, jobs = runs
    scenes = pd.read_csv(cluster / "results/river/batches/0000/stats.csv")["scene"].nunique()
    assert scenes == 4
    # 4 scenes, scenes_per_job 50 by default: one batch job locates and extracts them all.
    batches = jobs[jobs["rule"].str.startswith("rule_scenes")]
    assert len(batches) == 1, jobs
    assert (batches["cpus"] == "2").all(), batches  # set-threads: scenes=2
    # 4 quicklooks of one dataset: one job draws them all.
    quicklooks = jobs[jobs["rule"].str.contains("quicklook")]
    assert len(quicklooks) == 1, jobs


def test_the_pool_sees_the_slurm_allocation(runs):
    _, cluster, _ = runs
    log = next((cluster / "logs/ndvi/trend").glob("*-of-*.log")).read_text()
    assert "slurm_cpus_per_task=2" in log


def test_a_job_killed_for_memory_is_retried_with_more(runs, tmp_path):
    """The first attempt gets 60 MB and is killed by Slurm (OverMemoryKill); the retry
    asks for more, as every rule's mem_mb grows with the attempt. On a copy of the
    finished Slurm run, its ndvi trend tile asked for again: that job is what runs."""
    workdir = tmp_path / "project"
    shutil.copytree(runs[1], workdir, symlinks=True)
    tile = "results/ndvi/trend/tiles/ndvi_max_1-of-1.tif"
    start = datetime.now()
    result = slurm_run(
        workdir,
        tile,
        "--set-resources",
        "trend_tile:mem_mb=60 if attempt == 1 else 3000",
    )
    assert result.returncode == 0, result.stderr[-5000:] + queue_state()
    assert (workdir / tile).is_file()
    jobs = jobs_since(start, workdir)
    assert jobs["rule"].str.startswith("rule_trend_tile_").all(), jobs
    assert jobs["state"].str.contains("OUT_OF_ME|FAILED|CANCELLED", regex=True).any(), jobs
    assert (jobs["state"] == "COMPLETED").sum() == 1, jobs
    assert set(jobs["mem"]) == {"60M", "3000M"}, jobs

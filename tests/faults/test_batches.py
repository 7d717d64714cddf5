"""Scenes processed in batches (rule scenes, eotrend.stages.scenes) by the real snakemake.

What a user relied on with one job per scene, and what is checked here:

* the outputs are those of the per-scene commands (python -m eotrend locate and extract, run
  on one scene each, as the workflow did before batches) and do not depend on the batch
  size (tables equal, arrays equal); the batches' declared files hold exactly the scenes'
  own files (support.batches reads them with pandas and GDAL);
* a rerun redoes only the scenes not done, or done with other inputs (their batch table
  says which: done = made now, kept = left as it was; kept files keep their mtime);
* a corrupt scene inside a batch fails the batch naming that scene and why, after the
  other scenes were made; once the product is fixed, the rerun makes only that scene;
* pool workers killed mid-batch (as the OOM killer would) change nothing in the outputs.

The killed-snakemake case is in test_workflow_faults.py (its run has two batches).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from support.batches import assert_batches_hold_the_scenes, scene_cache
from support.commands import BIN, REPO, command_env, snakemake
from support.compare import assert_same_raster, assert_same_table
from support.configs import base_dataset
from support.stages import stage
from support.worker_killer import run_killing

pytestmark = [pytest.mark.workflow, pytest.mark.slow, pytest.mark.timeout(900)]

RECOVERED = ("a worker process died", "killed its worker when run alone")
DATASET = "lake"
CONFIG = {
    "datasets": {
        DATASET: base_dataset(
            "sentinel3_synthetic",
            source={"synthetic": {"seed": 11, "rows": 300, "columns": 257}},
            scenes_per_job=4,
        )
    }
}
TARGETS = [f"results/{DATASET}/timeseries.csv", f"results/{DATASET}/stack/TSM_NN.tif"]
SCENE_FILES = ("vertices.csv", "window.json", "pixels.parquet", "stats.csv")


def project(folder: Path, **settings) -> Path:
    """A project folder: the demo AOI and CONFIG with ``settings`` for the dataset."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "data/demo/aoi.geojson", folder / "aoi.geojson")
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    config["datasets"][DATASET].update(settings)
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def with_products(workdir: Path, finished: Path) -> Path:
    """``workdir`` with the product cache of the ``finished`` run (same config, same
    synthetic products): its download makes none again."""
    products = f"resources/products/{DATASET}"
    shutil.copytree(finished / products, workdir / products)
    return workdir


def run_ok(workdir: Path, *args: str) -> None:
    result = snakemake(workdir, *TARGETS, *args)
    assert result.returncode == 0, result.stderr[-5000:]


def scene_dirs(workdir: Path) -> list[Path]:
    return sorted(scene_cache(workdir, DATASET).iterdir())


def statuses(workdir: Path) -> dict[str, str]:
    """scene -> status over every batch table."""
    tables = sorted((workdir / f"results/{DATASET}/batches").glob("*.csv"))
    table = pd.concat([pd.read_csv(t) for t in tables])
    return dict(zip(table["scene"], table["status"], strict=True))


def assert_same_file(a: Path, b: Path) -> None:
    """Equal tables (CSV, Parquet: values, dtypes, column order) or JSON documents."""
    if a.suffix == ".parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(a), pd.read_parquet(b))
    elif a.suffix == ".json":
        assert json.loads(a.read_text()) == json.loads(b.read_text()), a.name
    else:
        assert_same_table(a, b)


def assert_same_outputs(a: Path, b: Path) -> None:
    """Every per-scene output and the series' table and stack are equal."""
    names = [d.name for d in scene_dirs(a)]
    assert names == [d.name for d in scene_dirs(b)] and len(names) == 6
    for name in names:
        for leaf in SCENE_FILES:
            assert_same_file(scene_cache(a, DATASET) / name / leaf,
                             scene_cache(b, DATASET) / name / leaf)  # fmt: skip
        for grid in sorted((scene_cache(a, DATASET) / name / "grid").glob("*.tif")):
            assert_same_raster(grid, b / grid.relative_to(a))
    for workdir in (a, b):
        assert_batches_hold_the_scenes(workdir, DATASET, ["Oa08_reflectance", "TSM_NN"])
    assert_same_table(a / TARGETS[0], b / TARGETS[0])
    assert_same_raster(a / TARGETS[1], b / TARGETS[1])


@pytest.fixture(scope="module")
def batched(tmp_path_factory) -> Path:
    """A finished run in two batches (4 + 2 scenes)."""
    workdir = project(tmp_path_factory.mktemp("batched"))
    run_ok(workdir)
    return workdir


def test_outputs_equal_the_per_scene_commands_and_any_batch_size(batched, tmp_path):
    pairs = with_products(project(tmp_path / "pairs", scenes_per_job=2), batched)
    run_ok(pairs)
    assert len(list((pairs / f"results/{DATASET}/batches").glob("*.csv"))) == 3
    assert len(list((batched / f"results/{DATASET}/batches").glob("*.csv"))) == 2
    assert_same_outputs(batched, pairs)
    # The per-scene commands on the first and last scenes, in their own processes.
    product_dir = batched / f"resources/products/{DATASET}"
    for scene in (scene_dirs(batched)[0], scene_dirs(batched)[-1]):
        out = tmp_path / scene.name
        out.mkdir()
        product, aoi = product_dir / f"{scene.name}.SEN3", batched / "aoi.geojson"
        located = stage("locate", product, aoi, "-o", out / "vertices.csv",
                        "--window", out / "window.json", cwd=out)  # fmt: skip
        assert located.returncode == 0, located.stderr
        extracted = stage(
            *("extract", product, aoi, "-o", out / "pixels.parquet", "--stats"),
            *(out / "stats.csv", "--window", out / "window.json", "--grid-dir", out / "grid"),
            *("--variables", "Oa08_reflectance", "TSM_NN"),
            cwd=out,
        )
        assert extracted.returncode == 0, extracted.stderr
        for leaf in SCENE_FILES:
            assert_same_file(scene / leaf, out / leaf)
        for grid in sorted((scene / "grid").glob("*.tif")):
            assert_same_raster(grid, out / "grid" / grid.name)


def test_a_rerun_redoes_only_unfinished_or_changed_scenes(batched, tmp_path):
    workdir = tmp_path / "rerun"
    shutil.copytree(batched, workdir, symlinks=True)
    first, *rest = scene_dirs(workdir)
    mtimes = {p: p.stat().st_mtime_ns for d in rest for p in d.rglob("*") if p.is_file()}
    # Unfinished: what a run killed inside the scene leaves: no stamp, none of the batch's
    # outputs (Snakemake removes a killed job's), no series yet.
    (first / "done.json").unlink()
    for name in (f"results/{DATASET}/batches/0000.csv", *TARGETS):
        (workdir / name).unlink()
    shutil.rmtree(workdir / f"results/{DATASET}/batches/0000")
    other_batch = workdir / f"results/{DATASET}/batches/0001.csv"
    other_mtime = other_batch.stat().st_mtime_ns
    run_ok(workdir)
    redone = pd.read_csv(workdir / f"results/{DATASET}/batches/0000.csv")
    kept = set(redone["scene"]) - {first.name}
    assert first.name in set(redone["scene"]) and len(kept) == 3
    assert dict(zip(redone["scene"], redone["status"], strict=True)) == {
        first.name: "done",
        **dict.fromkeys(kept, "kept"),
    }
    assert other_batch.stat().st_mtime_ns == other_mtime  # the finished batch did not run
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes
    assert_same_outputs(batched, workdir)
    # Changed: another config redoes every scene.
    config = yaml.safe_load((workdir / "config.yaml").read_text())
    config["datasets"][DATASET]["grid"] = {"resolution": 0.004}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    run_ok(workdir)
    assert set(statuses(workdir).values()) == {"done"}


def test_a_corrupt_scene_fails_its_batch_naming_it_and_the_rest_is_kept(batched, tmp_path):
    workdir = tmp_path / "corrupt"
    shutil.copytree(batched, workdir, symlinks=True)
    shutil.rmtree(workdir / "results")
    shutil.rmtree(scene_cache(workdir, DATASET))
    victim = scene_dirs(batched)[1].name
    band = workdir / f"resources/products/{DATASET}/{victim}.SEN3/Oa08_reflectance.nc"
    original = band.read_bytes()
    band.write_bytes(original[: len(original) // 2])
    failed = snakemake(workdir, *TARGETS, "--keep-going")  # the other batch runs too
    assert failed.returncode != 0
    log = (workdir / f"logs/{DATASET}/batches/0000.log").read_text()
    error = next(line for line in log.splitlines() if line.startswith("error: "))
    assert "1 of 4 scenes failed" in error and victim in error and "damaged" in error
    assert str(band) in error or band.name in error
    done = {d.name for d in scene_dirs(workdir) if (d / "done.json").is_file()}
    assert len(done) == 5 and victim not in done  # the other batch ran, this one's others too
    band.write_bytes(original)
    run_ok(workdir)
    redone = pd.read_csv(workdir / f"results/{DATASET}/batches/0000.csv")
    assert list(redone.loc[redone["status"] == "done", "scene"]) == [victim]
    assert (redone["status"] != "failed").all()
    assert_same_outputs(batched, workdir)


def test_workers_killed_mid_batch_change_nothing(batched, tmp_path):
    """Two kills of busy scene workers: the batch recovers (its log says so) and the
    outputs equal the clean run's. Random moments: seeds are tried until a kill hit."""
    for seed in range(4):
        workdir = with_products(project(tmp_path / f"killed{seed}", scenes_per_job=6), batched)
        # The download first: its own workers are not the ones to kill here.
        assert snakemake(workdir, "--until", "download").returncode == 0
        command = [
            str(BIN / "snakemake"),
            *("--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)),
            *("--cores", "2", *TARGETS),
        ]
        result, killed = run_killing(
            command, cwd=workdir, env=command_env(), seed=seed, kills=2, chance=0.2
        )
        assert result.returncode == 0, result.stderr[-5000:]
        log = (workdir / f"logs/{DATASET}/batches/0000.log").read_text()
        if killed and any(text in log for text in RECOVERED):
            break
    else:
        pytest.fail("no kill hit a busy scene worker in 4 runs")
    assert_same_outputs(batched, workdir)

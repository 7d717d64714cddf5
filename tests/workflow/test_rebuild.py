"""Snakemake's promise of a minimal rebuild, read from the real job plan: after a finished
run, an edit plans exactly the rules that read the edited key.

The oracle is Snakemake itself (`snakemake -n` of the edited config) against the rules
each key belongs to, worked out by hand from the rules: a figure key (`quicklooks`)
plans figure jobs only, a trend key the trends that read it and the dataset's figure job
(every map and chart of a dataset, the lake trend maps too, is drawn by one job,
figures_<dataset>; the per-pixel trend reads every trend key; the lake-level trends, rule
lakes, read min_obs, time_unit, test, lags, ci, seasons, fdr.alpha, fdr.pvalue and
lake_statistic, not robust, breaks or fdr.enabled), a key written out with its schema
default nothing at all; an extraction key (`quality`) reruns the scenes; a deleted batch
file its batch. Every file under results/ is a declared output: Snakemake's own
`--delete-all-output` lists it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from eotrend.core import provenance
from support.commands import finished_run, snakemake, undeclared_results
from support.configs import base_config

pytestmark = pytest.mark.workflow

# The figure jobs of the river dataset: its maps and charts (lake trend maps included) in
# one job, its quicklooks.
FIGURES = {"figures_river", "quicklooks"}
PIXEL_TREND = {"trend_tile", "trend"}
LAKE_TREND = {"lakes"}
TREND = PIXEL_TREND | LAKE_TREND

# Two batches of three scenes, so that a batch's rerun can be told from the dataset's.
BASE = base_config(
    "sentinel3_synthetic",
    river={"variables": ["Oa08_reflectance"], "quicklooks": 1, "scenes_per_job": 3},
)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished run of BASE (once for the module)."""
    return finished_run(tmp_path_factory.mktemp("rebuild"), BASE)


def edited(workdir: Path, name: str, **changes) -> Path:
    """BASE with the river dataset's keys changed, written as ``<name>.yaml``."""
    config = yaml.safe_load(yaml.safe_dump(BASE))
    config["datasets"]["river"].update(changes)
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def planned(workdir: Path, configfile: Path) -> dict[str, int]:
    """Rule -> jobs of the dry run of ``configfile`` (Snakemake's job stats table);
    empty when there is nothing to do."""
    result = snakemake(workdir, "-n", "--configfile", str(configfile))
    assert result.returncode == 0, result.stderr[-5000:]
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:", 1)[1].split("\ntotal", 1)[0].splitlines()
    jobs = {}
    for line in table:
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            jobs[parts[0]] = int(parts[1])
    assert jobs, text[-3000:]
    return jobs


def test_a_key_written_with_its_default_changes_nothing(finished):
    defaults = edited(
        finished,
        "defaults",
        quality="water",
        quicklooks=1,
        min_coverage=0.9,
        product_masks=True,
        grid={"crs": "EPSG:4326", "resolution": 0.003, "max_distance_m": 400, "margin": 2},
        trend={"min_obs": 3, "robust": False, "time_unit": "year", "lake_statistic": "median"},
    )
    assert planned(finished, defaults) == {}


def test_a_figure_key_plans_figure_jobs_only(finished):
    jobs = planned(finished, edited(finished, "figures", quicklooks=3))
    assert jobs == {"quicklooks": 1, "all": 1}


@pytest.mark.parametrize(
    ("trend", "trends"),
    [
        ({"robust": True}, PIXEL_TREND),
        ({"min_obs": 4}, TREND),
        ({"lake_statistic": "mean"}, LAKE_TREND),
    ],
    ids=["robust", "min_obs", "lake_statistic"],
)
def test_a_trend_key_plans_the_trends_that_read_it_and_their_figures_only(finished, trend, trends):
    """The trends that read the key, and the dataset's one figure job (its maps, time
    series and lake maps show the trends); the quicklooks do not (they show the scenes)."""
    jobs = planned(finished, edited(finished, "trend", trend=trend))
    assert set(jobs) & TREND == trends, jobs
    assert set(jobs) - {"all"} <= TREND | FIGURES, jobs
    assert jobs["figures_river"] == 1 and "quicklooks" not in jobs, jobs


def test_a_quality_key_reruns_every_scene_and_what_follows(finished, tmp_path):
    """A real run in a copy: the checkpoint, then every scene redone (none kept), then the
    series and the trend made again."""
    workdir = tmp_path / "copy"
    shutil.copytree(finished, workdir, symlinks=True)
    config = edited(workdir, "quality", quality="land")
    trend = workdir / "results/river/trend/Oa08_reflectance.tif"
    before = trend.stat().st_mtime_ns
    result = snakemake(workdir, "--configfile", str(config))
    assert result.returncode == 0, result.stderr[-5000:]
    batches = pd.concat(pd.read_csv(p) for p in (workdir / "results/river/batches").glob("*.csv"))
    assert len(batches) == 6 and set(batches["status"]) == {"done"}, batches
    assert trend.stat().st_mtime_ns > before


def test_the_scene_stamp_covers_the_extraction_path_only():
    """The modules a scene's stamp digests: the extraction path (worked out by hand from
    the imports), not the figures or the other stages."""
    closure = provenance._closure("eotrend.stages.scenes")
    for needed in ("eotrend.sentinel3.extract", "eotrend.sentinel3.locate", "eotrend.geo.grids"):
        assert needed in closure
    for other in ("eotrend.stages.report", "eotrend.stages.trend", "eotrend.stats.regression"):
        assert other not in closure


def test_a_deleted_batch_file_reruns_only_its_batch_and_comes_back(finished, tmp_path):
    """The second batch's pixel table deleted: the plan holds that batch alone (and what
    reads it), the run redoes none of its scenes (the scene cache holds them: all kept)
    and writes the same table again; the first batch is not touched."""
    workdir = tmp_path / "copy"
    shutil.copytree(finished, workdir, symlinks=True)
    batches = workdir / "results/river/batches"
    deleted = batches / "0001/pixels.parquet"
    before = pd.read_parquet(deleted)
    untouched = {p: p.stat().st_mtime_ns for p in (batches / "0000").iterdir()}
    deleted.unlink()
    jobs = planned(workdir, workdir / "config.yaml")
    assert jobs.get("scenes") == 1 and "download" not in jobs, jobs
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    pd.testing.assert_frame_equal(pd.read_parquet(deleted), before)
    assert set(pd.read_csv(batches / "0001.csv")["status"]) == {"kept"}
    assert {p: p.stat().st_mtime_ns for p in untouched} == untouched


def test_every_file_under_results_is_a_declared_output(finished):
    """Snakemake's dry run of --delete-all-output names every file the run left under
    results/ (a quicklook through its folder, a directory() output)."""
    assert undeclared_results(finished, minimum=21) == []

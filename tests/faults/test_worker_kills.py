"""Pool workers killed with SIGKILL at random moments, in every stage that uses the engine.

Each stage runs as a command twice on the same inputs: once undisturbed, once while a
:class:`support.worker_killer.WorkerKiller` kills busy workers from outside (as the OOM
killer would). The disturbed run must finish with outputs identical to the clean run's
(arrays, tables, bytes). A run whose every worker is killed must stop with one message
naming the task that killed its worker, and leave nothing under the output's name.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from eotrend.synthetic.series import write_yearly_series
from support.commands import REPO, command_env, run
from support.compare import assert_same_raster, assert_same_table, assert_same_tree
from support.configs import DROP, base_config
from support.scenes import small_scene, write_polygons
from support.stages import error_line, stage, stage_args
from support.worker_killer import run_killing

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

RECOVERED = ("a worker process died", "killed its worker when run alone")
VARIABLES = [f"Oa{b:02d}_reflectance" for b in (1, 2, 3, 4, 5, 6, 7, 8)] + ["TSM_NN", "CHL_OC4ME"]


@dataclass(frozen=True)
class Inputs:
    """What the stages read, made once for the module."""

    scene: Path
    many: Path  # nine small polygons spread over the scene: several locate tasks
    large: Path  # one polygon over most of the scene: big extraction reads
    window: Path  # locate's window of `large`
    series: list[Path]
    stack: Path
    config: Path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Inputs:
    root = tmp_path_factory.mktemp("inputs")
    scene = small_scene(root, -60.0, -3.0, rows=1000, columns=1025)
    # 9 x 160 vertices: more than one locate task of TASK_VERTICES.
    turn = np.linspace(0.0, 2.0 * np.pi, 160, endpoint=False)
    circles = [
        [list(zip(x + 0.08 * np.cos(turn), y + 0.08 * np.sin(turn), strict=True))]
        for x in (-60.9, -60.0, -59.1)
        for y in (-3.9, -3.0, -2.1)
    ]
    many = write_polygons(root / "many.geojson", circles)
    large = write_polygons(
        root / "large.geojson", [[[(-61.0, -4.0), (-59.0, -4.0), (-59.0, -2.0), (-61.0, -2.0)]]]
    )
    window = root / "w.json"
    located = stage("locate", scene, large, "-o", root / "v.csv", "--window", window, cwd=root)
    assert located.returncode == 0, located.stderr
    # Big enough that --mem-mb 240 cuts the stack into row blocks shared by two workers.
    series = write_yearly_series(root / "series", years=range(2001, 2013), width=1000, height=1400)
    stacked = stage("stack", *series, "-o", root / "stack.tif", cwd=root)
    assert stacked.returncode == 0, stacked.stderr
    shutil.copy(REPO / "data" / "demo" / "aoi.geojson", root / "aoi.geojson")
    # The schema's default scene size and variables.
    config = base_config(
        "sentinel3_synthetic",
        river={
            "aoi": str(root / "aoi.geojson"),
            "source": {"synthetic": {"years": [2019, 2020], "rows": DROP, "columns": DROP}},
            "variables": DROP,
        },
    )
    (root / "config.yaml").write_text(yaml.safe_dump(config))
    return Inputs(scene, many, large, window, series, root / "stack.tif", root / "config.yaml")


@dataclass(frozen=True)
class Stage:
    """A stage command writing into a folder, and how two such folders are compared."""

    name: str
    args: Callable[[Inputs, Path], list]
    compare: Callable[[Path, Path], None]


def compare_download(a: Path, b: Path) -> None:
    assert (a / "manifest.csv").read_text() == (b / "manifest.csv").read_text()
    assert_same_tree(a / "resources", b / "resources")


def compare_extract(a: Path, b: Path) -> None:
    # Byte equality: Parquet and CSV writers are deterministic, and a frame comparison of
    # 600 000 rows takes seconds.
    assert_same_tree(a, b)


STAGES = [
    Stage(
        "download",
        lambda i, out: [i.config, "river", "-o", out / "manifest.csv", "--workers", 2],
        compare_download,
    ),
    Stage(
        "locate",
        lambda i, out: [i.scene, i.many, "-o", out / "v.csv", "--window", out / "w.json"],
        lambda a, b: assert_same_tree(a, b),
    ),
    Stage(
        "extract",
        lambda i, out: [
            *(i.scene, i.large, "-o", out / "pixels.parquet", "--stats", out / "stats.csv"),
            *("--window", i.window, "--angles", "--variables"),
            *VARIABLES,
        ],
        compare_extract,
    ),
    Stage(
        "stack",
        lambda i, out: [*i.series, "-o", out / "stack.tif", "--mem-mb", 240],
        lambda a, b: (
            assert_same_raster(a / "stack.tif", b / "stack.tif"),
            assert_same_table(a / "stack_dates.csv", b / "stack_dates.csv"),
        ),
    ),
    Stage(
        "trend",
        lambda i, out: [i.stack, "-o", out / "trend.tif", "--chunk-rows", 64],
        lambda a, b: assert_same_raster(a / "trend.tif", b / "trend.tif"),
    ),
]


def command(step: Stage, inputs: Inputs, out: Path) -> list[str]:
    """The stage's command writing into ``out`` (run there: the download cache is relative)."""
    out.mkdir()
    return stage_args(step.name, *step.args(inputs, out), "--workers", 2)


@pytest.mark.parametrize("step", STAGES, ids=[s.name for s in STAGES])
def test_killed_workers_do_not_change_the_results(step, inputs, tmp_path):
    env = command_env()
    clean = run(command(step, inputs, tmp_path / "clean"), cwd=tmp_path / "clean")
    assert clean.returncode == 0, clean.stderr
    # Random moments: a kill may land after the last task; try other seeds until one made
    # the engine recover (two kills are always survivable with two workers).
    for seed in range(4):
        out = tmp_path / f"killed{seed}"
        result, killed = run_killing(
            command(step, inputs, out), cwd=out, env=env, seed=seed, kills=2
        )
        assert result.returncode == 0, result.stderr[-5000:]
        if killed and any(text in result.stderr for text in RECOVERED):
            break
    else:
        pytest.fail(f"no kill hit a busy worker of {step.name} in 4 runs")
    step.compare(tmp_path / "clean", out)


@pytest.mark.parametrize("step", STAGES, ids=[s.name for s in STAGES])
def test_a_task_killing_every_worker_stops_the_run_naming_it(step, inputs, tmp_path):
    out = tmp_path / "out"
    # Every busy worker dies at once: each task kills its worker every time it runs.
    result, killed = run_killing(
        command(step, inputs, out), cwd=out, env=command_env(), seed=0, kills=None, chance=1.0
    )
    line = error_line(
        result,
        *("task '", "killed its worker process twice", "SIGKILL", "mem_mb"),
        "Each task was estimated to need",  # how much memory it needs
    )
    assert len(killed) >= 3, line  # the crowded round, then the task alone twice
    # Nothing under a final name (a product folder killed half-written stays hidden under
    # its temporary name in the cache).
    hidden = [p for p in out.rglob("*") if any(s.startswith(".") for s in p.relative_to(out).parts)]
    finals = set(out.rglob("*")) - set(hidden)
    assert [p for p in finals if p.is_file() or p.suffix == ".SEN3"] == []

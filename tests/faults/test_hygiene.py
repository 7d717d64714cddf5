"""Input hygiene: names from users never reach a shell, archives and manifests cannot write
outside their folders, and credentials appear in no output, log or message."""

from __future__ import annotations

import io
import re
import stat
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import shapely
import yaml

from eotrend.synthetic.product import write_product
from eotrend.synthetic.series import write_yearly_series
from eotrend.synthetic.spec import SceneSpec
from support.commands import REPO, snakemake
from support.configs import DROP, base_config, base_dataset
from support.fake_cdse import FakeCdse, products_from_specs
from support.scenes import square_ring, write_polygons
from support.stages import error_line, stage

pytestmark = pytest.mark.timeout(300)

# Each would create a file named PWNED* if it ever went through a shell.
HOSTILE = "x $(touch PWNED1) `touch PWNED2`; touch PWNED3 'q\" && touch PWNED4 #"


def test_no_rule_or_script_runs_a_shell():
    """Rules run scripts (``script:``), never ``shell:`` or ``run:``, and no script starts a
    process through a shell: file, dataset and feature names cannot be interpreted."""
    rules = [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]
    directive = re.compile(r"^\s+(shell|run):", re.MULTILINE)
    assert [p.name for p in rules if directive.search(p.read_text())] == []
    calls = re.compile(r"shell\s*=\s*True|os\.system\(|os\.popen\(|subprocess\.")
    scripts = sorted((REPO / "scripts").rglob("*.py"))
    assert [str(p) for p in scripts if calls.search(p.read_text())] == []


@pytest.mark.workflow
@pytest.mark.slow
def test_hostile_file_and_feature_names_pass_through_the_workflow(tmp_path):
    workdir = tmp_path / "project"
    folder = workdir / f"in {HOSTILE}"
    write_yearly_series(
        folder, years=range(2001, 2006), width=30, height=20, name=f"{HOSTILE} {{year}}.tif"
    )
    aoi = write_polygons(
        workdir / f"aoi {HOSTILE}.geojson",
        [[[(-60.95, -3.45), (-60.85, -3.45), (-60.85, -3.35), (-60.95, -3.35)]]],
        [f"lake {HOSTILE}"],
    )
    config = base_config(
        "geotiff_local",
        "sentinel3_synthetic",
        series={"variable": "ndvi", "files": f"{folder.name}/*.tif"},
        river={
            "aoi": aoi.name,
            "source": {
                "synthetic": {
                    "years": [2020, 2020],
                    "rows": 240,
                    "columns": 257,
                    "seed": DROP,  # the schema's defaults
                    "scenes_per_year": DROP,
                }
            },
            "variables": DROP,
        },
    )
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "results/series/trend/ndvi.tif", "results/river/timeseries.csv")
    assert result.returncode == 0, result.stderr[-5000:]
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))
    table = pd.read_csv(workdir / "results/river/timeseries.csv")
    assert set(table["feature"]) == {f"lake {HOSTILE}"}
    dates = pd.read_csv(workdir / "results/series/stack/ndvi_dates.csv")
    assert all(HOSTILE in sources for sources in dates["sources"])


def evil_zips(folder: Path) -> dict[str, str]:
    """Product zips that try to write outside their product folder; name -> what the
    manifest must say about it."""
    made = {}
    members = {
        101: ("../evil.txt", "unsafe member path"),
        102: ("/tmp/eotrend-evil.txt", "unsafe member path"),
        103: ("{top}/link", "symbolic link"),
        104: ("elsewhere/evil.txt", "outside the product folder"),
    }
    for orbit, (member, problem) in members.items():
        spec = SceneSpec(
            -60.9,
            -3.4,
            datetime(2020, 6, 1, 13, 50, tzinfo=UTC),
            rows=120,
            columns=129,
            relative_orbit=orbit,
        )
        zipped = write_product(spec, folder / "made", zip=True)
        top = zipped.name.removesuffix(".zip")
        buffer = io.BytesIO(zipped.read_bytes())
        with zipfile.ZipFile(buffer, "a", zipfile.ZIP_STORED) as archive:
            info = zipfile.ZipInfo(member.format(top=top))
            if "link" in member:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, "/etc/passwd")
            else:
                archive.writestr(info, b"gotcha")
        (folder / "archive").mkdir(exist_ok=True)
        (folder / "archive" / zipped.name).write_bytes(buffer.getvalue())
        made[top.removesuffix(".SEN3")] = problem
    return made


def test_product_archives_cannot_write_outside_their_folder(tmp_path):
    made = evil_zips(tmp_path)
    aoi = write_polygons(
        tmp_path / "aoi.geojson",
        [[[(-60.95, -3.45), (-60.85, -3.45), (-60.85, -3.35), (-60.95, -3.35)]]],
    )
    cache = tmp_path / "work" / "cache"
    dataset = base_dataset(
        "sentinel3_local",
        aoi=str(aoi),
        source={
            "local": {"path": str(tmp_path / "archive")},
            "cache": str(cache),
            "on_failure": "skip",
        },
    )
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"datasets": {"river": dataset}}))
    result = stage(
        "download", tmp_path / "config.yaml", "river", "-o", tmp_path / "m.csv", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = pd.read_csv(tmp_path / "m.csv").set_index("name")
    for name, problem in made.items():
        assert manifest.loc[name, "status"] == "failed"
        assert problem in manifest.loc[name, "reason"]
        assert not (cache / f"{name}.SEN3").exists()
    assert not list(tmp_path.rglob("evil.txt")) and not Path("/tmp/eotrend-evil.txt").exists()
    assert not [p for p in cache.rglob("*") if p.is_symlink()]
    assert [p.name for p in (cache / ".partial").iterdir() if not p.name.endswith(".lock")] == []


def test_frozen_manifest_names_cannot_leave_the_cache(tmp_path, monkeypatch):
    manifest = tmp_path / "frozen.csv"
    row = {
        "name": "../../escaped",
        "sensing_start": "2020-06-01T13:50:00+00:00",
        "sensing_stop": "2020-06-01T13:50:11+00:00",
        "platform": "S3A",
        "source_id": "abc",
        "size": 1,
        "checksum": "",
        "path": "",
        "status": "ok",
        "reason": "",
    }
    pd.DataFrame([row]).to_csv(manifest, index=False)
    aoi = write_polygons(tmp_path / "aoi.geojson", [[[(0, 0), (1, 0), (1, 1)]]])
    dataset = {
        "kind": "sentinel3",
        "aoi": str(aoi),
        "source": {
            "type": "manifest",
            "manifest": {"path": str(manifest)},
            "cache": str(tmp_path / "a" / "b" / "cache"),
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"datasets": {"river": dataset}}))
    monkeypatch.setenv("CDSE_USERNAME", "someone")
    monkeypatch.setenv("CDSE_PASSWORD", "something")
    result = stage(
        "download", tmp_path / "config.yaml", "river", "-o", tmp_path / "m.csv", cwd=tmp_path
    )
    error_line(result, manifest, "'../../escaped', which is not a Sentinel-3 OLCI product name")
    assert not list(tmp_path.rglob("escaped*"))


USERNAME = "hygiene-user-7f3a"
PASSWORD = "hygiene-Pa55-q9!Z"
WRONG = "wrong-Pa55-x1!Y"


def test_refused_credentials_are_never_shown(tmp_path):
    """A wrong password: one clear message naming where the credentials came from, and
    neither the password tried nor the username in any output, log or file."""
    x, y = -60.9, -3.4
    ring = square_ring(x, y, 0.05)
    aoi = write_polygons(tmp_path / "aoi.geojson", [[ring]], ["lake"])
    spec = SceneSpec(x, y, datetime(2020, 7, 1, 13, 50, tzinfo=UTC), rows=120, columns=129)
    products = products_from_specs(tmp_path / "src", [spec], water=shapely.Polygon(ring))
    with FakeCdse(USERNAME, PASSWORD) as fake:
        fake.add(*products)
        dataset = base_dataset(
            "sentinel3_cdse",
            aoi=str(aoi),
            end="2020-12-31",
            source={"cdse": fake.settings(retries=0), "cache": "cache"},
        )
        (tmp_path / "config.yaml").write_text(yaml.safe_dump({"datasets": {"lake": dataset}}))
        result = stage(
            "download",
            tmp_path / "config.yaml",
            "lake",
            "-o",
            tmp_path / "m.csv",
            cwd=tmp_path,
            env={"CDSE_USERNAME": USERNAME, "CDSE_PASSWORD": WRONG, "NETRC": "/nonexistent"},
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "CDSE_USERNAME/CDSE_PASSWORD" in result.stderr
    secrets = [USERNAME, WRONG, PASSWORD]
    assert not [s for s in secrets if s in result.stdout + result.stderr]
    written = [p for p in tmp_path.rglob("*") if p.is_file() and "src" not in p.parts]
    assert not [p for p in written if any(s.encode() in p.read_bytes() for s in secrets)]

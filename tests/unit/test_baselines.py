"""Collection 4 across the chain: the new variables extracted by name, and the download
stage's plan-level check of the scenes' processing baselines (eotrend.sources.baselines), run
as a function and as the real download command on a folder of 003 and 004 products.

Facts: the baseline is the product name's last three digits (ESA's OLCI naming
convention); baseline 004 products have no chl_oc4me.nc (CHL_OC4ME) but chlor_a.nc,
fluorescence.nc and iop_lsd.nc (the real 004 manifest in stactools-packages/sentinel3);
IOP_LSD_FAIL is not in the 2018 WQSF table, the 003 test product's, but in the Collection 4
one (tests/data/real-flag-tables). Oracles: netCDF4's own decoding and variable listing, names and
flags typed from those sources, csv and pandas.
"""

from __future__ import annotations

import csv
import logging
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np
import pytest
import shapely
import yaml

from eotrend.core.errors import InputError
from eotrend.geo.aoi import read_aoi
from eotrend.sentinel3.extract import extract_scene, value_column
from eotrend.sentinel3.locate import window_for
from eotrend.sources.baselines import check_scenes
from eotrend.sources.entries import product_entry
from eotrend.sources.local import local_products
from eotrend.synthetic.product import write_product
from eotrend.synthetic.spec import SceneSpec
from support.commands import run
from support.configs import base_dataset
from support.scenes import WHEN, write_polygons

LAKE = [(-60.05, -3.05), (-59.95, -3.05), (-59.95, -2.95), (-60.05, -2.95)]
WHEN_004 = datetime(2026, 3, 1, 13, 50, tzinfo=UTC)
FILES_003 = {"wqsf.nc", "Oa08_reflectance.nc", "tsm_nn.nc", "chl_oc4me.nc", "w_aer.nc"}
FILES_004 = {"wqsf.nc", "Oa08_reflectance.nc", "tsm_nn.nc", "chlor_a.nc", "fluorescence.nc"}
# Coordinate, ancillary and flag files: no variables a user extracts.
NOT_VALUES = {"geo_coordinates.nc", "tie_geo_coordinates.nc", "wqsf.nc"}


def spec(when: datetime, **kw) -> SceneSpec:
    return SceneSpec(
        centre_lon=-60.0, centre_lat=-3.0, sensing_start=when, rows=240, columns=257, **kw
    )


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A folder with a baseline-003 product (classic WQSF, 2020) and a baseline-004 one
    (Collection 4 WQSF, 2026) over the same lake, which is their inland water."""
    root = tmp_path_factory.mktemp("archive")
    water = shapely.Polygon(LAKE)
    old = write_product(spec(WHEN), root / "products", water=water, files=FILES_003)
    new = write_product(
        spec(WHEN_004, baseline="004"),
        root / "products",
        water=water,
        files=FILES_004,
    )
    aoi = write_polygons(root / "aoi.geojson", [[LAKE]], ["lake"])
    return root / "products", old, new, aoi


def dataset(folder: Path, aoi: Path, variables: list[str], quality="water") -> dict:
    """A local-source dataset over the 003 and 004 scenes (schema defaults spelled out)."""
    return base_dataset(
        "sentinel3_local",
        aoi=str(aoi),
        end="2026-12-31",
        variables=variables,
        quality=quality,
        product_masks=True,
        source={"local": {"path": str(folder)}, "on_failure": "fail"},
    )


def entries_of(folder: Path, aoi: Path) -> list:
    return local_products(folder, "2020-01-01", "2026-12-31", read_aoi(aoi))


def variables_of(path: Path) -> list[str]:
    with netCDF4.Dataset(path) as ds:
        return list(ds.variables)


# --- extraction by name ------------------------------------------------------------------


def test_collection4_variables_are_extracted_by_name(archive):
    """chlor_a (log10) and FPH (linear) of a 004 product: physical values at the kept
    pixels equal netCDF4's own decoding (10 ** for log10); columns named from the units,
    the same names a scene outside the swath gets."""
    _, _, product, aoi = archive
    features = read_aoi(aoi)
    variables = ["chlor_a", "FPH"]
    result = extract_scene(
        product, features, window_for(product, aoi), variables, "none", product_masks=False
    )
    pixels = result.pixels.to_pandas()
    assert len(pixels) > 50
    assert result.columns == {"chlor_a": "chlor_a_mg.m-3", "FPH": "FPH"}
    assert result.units == {"chlor_a": "mg.m-3", "FPH": "mW.m-2.sr-1.nm-1"}
    rows, cols = pixels["row"].to_numpy(), pixels["col"].to_numpy()
    for filename, variable, log10 in (("chlor_a.nc", "chlor_a", True), ("fluorescence.nc", "FPH",
                                                                         False)):  # fmt: skip
        with netCDF4.Dataset(product / filename) as ds:
            want = np.ma.filled(ds[variable][:].astype(np.float64), np.nan)[rows, cols]
        if log10:
            want = 10.0**want
        got = pixels[result.columns[variable]].to_numpy(np.float64)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7, equal_nan=True)
        assert np.isfinite(got).mean() > 0.5, variable
        assert value_column(variable) == result.columns[variable]  # outside-swath name
    outside = extract_scene(product, features, None, variables, "none")
    assert outside.columns == result.columns and outside.note == "outside_swath"


# --- the plan-level check ------------------------------------------------------------------


def test_chl_oc4me_on_collection4_scenes_is_one_clear_error(archive):
    """Baseline 004 replaced chl_oc4me.nc by chlor_a.nc: one error naming the
    dataset, the baseline, its scene count, the product checked and what chlor_a.nc holds
    (listed here with netCDF4); the same for a series of 004 scenes only."""
    folder, _, new, aoi = archive
    entries = entries_of(folder, aoi)
    assert sorted(e.baseline for e in entries) == ["003", "004"]
    with pytest.raises(InputError) as failure:
        check_scenes("river", dataset(folder, aoi, ["TSM_NN", "CHL_OC4ME"]), entries)
    held = ", ".join(variables_of(new / "chlor_a.nc"))
    assert str(failure.value) == (
        "datasets.river.variables: CHL_OC4ME is not in the baseline 004 (Collection 4) "
        f"products, 1 of the 2 scenes (checked in {new.name}): chl_oc4me.nc was replaced by "
        f"chlor_a.nc, which holds {held}. Ask for a variable the products have, or restrict "
        "the dataset's dates (start, end) to scenes of the other baselines."
    )
    only_004 = [e for e in entries if e.baseline == "004"]  # Collection 4 alone: same error
    with pytest.raises(InputError, match=r"CHL_OC4ME is not in the baseline 004.*1 of the 1"):
        check_scenes("river", dataset(folder, aoi, ["CHL_OC4ME"]), only_004)


def test_a_variable_one_baseline_lacks_lists_what_its_files_offer(archive):
    """A variable the 003 products have and the 004 ones lack (no w_aer.nc written
    there): the error lists every variable of the 004 product's value files (netCDF4)."""
    folder, _, new, aoi = archive
    offered = [
        v
        for path in sorted(new.glob("*.nc"))
        if path.name not in NOT_VALUES
        for v in variables_of(path)
    ]
    assert "chlor_a" in offered and "FPH" in offered
    with pytest.raises(InputError) as failure:
        check_scenes("river", dataset(folder, aoi, ["T865"]), entries_of(folder, aoi))
    message = str(failure.value)
    assert "T865 is not in the baseline 004 (Collection 4) products, 1 of the 2 scenes" in message
    assert f"its files offer {', '.join(offered)}." in message
    assert "baseline 003" not in message  # the 003 product has w_aer.nc


def test_crossing_baselines_warns_once_with_the_scene_counts(archive, caplog):
    """All variables available in both baselines: one warning with each baseline's
    count (a reprocessing can shift values), and one naming the Collection 4 flags of the
    water preset that the 003 product's 2018 WQSF table lacks (tests/data/real-flag-tables):
    its masks differ from the 004 product's."""
    folder, _, _, aoi = archive
    caplog.set_level(logging.INFO)
    check_scenes(
        "river", dataset(folder, aoi, ["Oa08_reflectance", "TSM_NN"]), entries_of(folder, aoi)
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert warnings[0] == (
        "dataset river: quality preset 'water': baseline 003 (Collection 3) products define "
        "no CLOUD_SHADOW, BRDF_OOR: applied without them, so the masks differ along the series"
    )
    assert warnings[1].startswith(
        "dataset river: its 2 scenes come from 2 processing baselines: baseline 003 "
        "(Collection 3): 1 scene, baseline 004 (Collection 4): 1 scene. A reprocessing can "
        "shift values"
    )


def test_only_ok_scenes_on_disk_count(archive, caplog):
    """A skipped 004 scene neither fails a CHL_OC4ME series nor makes it cross baselines:
    no warning; one note names the Collection 4 flags no product of the series defines
    (the masks are alike along it)."""
    folder, _, _, aoi = archive
    entries = local_products(folder, "2020-01-01", "2021-12-31", read_aoi(aoi))
    assert [(e.baseline, e.status) for e in entries] == [("003", "ok"), ("004", "skipped")]
    caplog.set_level(logging.INFO)
    check_scenes("river", dataset(folder, aoi, ["CHL_OC4ME"]), entries)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in caplog.records if "quality preset" in r.getMessage()] == [
        "dataset river: quality preset 'water': no product defines CLOUD_SHADOW, BRDF_OOR: "
        "applied without them"
    ]


def test_an_explicit_flag_a_baseline_lacks_is_an_error_naming_the_file(archive):
    """IOP_LSD_FAIL is a flag of the 2024 and Collection 4 tables (bit 29): a 003
    product with the 2018 table does not define it."""
    folder, old, _, aoi = archive
    rule = {"require": [], "require_any": ["WATER", "INLAND_WATER"], "exclude": ["IOP_LSD_FAIL"]}
    with pytest.raises(InputError) as failure:
        check_scenes("river", dataset(folder, aoi, ["TSM_NN"], rule), entries_of(folder, aoi))
    message = str(failure.value)
    assert message.startswith(f"{old / 'wqsf.nc'}: has no flag IOP_LSD_FAIL")
    assert "(baseline 003 (Collection 3): 1 scene of dataset river)" in message


def test_preset_flags_a_baseline_lacks_are_logged_once(archive, tmp_path, caplog):
    """A WQSF without RWNEG_O2..O8 (another processor's flag set): the water preset is
    applied without them (and without the Collection 4 flags) and the log says so once,
    for the dataset."""
    folder, old, _, aoi = archive
    copy = Path(shutil.copytree(old, tmp_path / old.name))
    dropped = [f"RWNEG_O{b}" for b in range(2, 9)]
    with netCDF4.Dataset(copy / "wqsf.nc", "a") as ds:
        var = ds["WQSF"]
        pairs = zip(var.flag_meanings.split(), np.asarray(var.flag_masks), strict=True)
        kept = [(n, m) for n, m in pairs if n not in dropped]
        var.flag_meanings = " ".join(n for n, _ in kept)
        var.flag_masks = np.array([m for _, m in kept], dtype=np.uint64)
    # The edited file no longer matches its manifest's size: listed as it is.
    entries = [e for e in entries_of(folder, aoi) if e.baseline == "004"] + [product_entry(copy)]
    caplog.set_level(logging.WARNING)
    check_scenes("river", dataset(folder, aoi, ["Oa08_reflectance", "TSM_NN"]), entries)
    messages = [r.getMessage() for r in caplog.records if "quality preset" in r.getMessage()]
    assert messages == [
        "dataset river: quality preset 'water': baseline 003 (Collection 3) products define "
        f"no CLOUD_SHADOW, BRDF_OOR, {', '.join(dropped)}: applied without them, so the "
        "masks differ along the series"
    ]


def test_file_units_that_would_split_a_column_warn(archive, tmp_path, caplog):
    """A chlor_a stored linear (its storage in real 004 files is unverified) would be
    named chlor_a inside the swath but chlor_a_mg.m-3 outside: the check says so."""
    _, _, new, aoi = archive
    copy = Path(shutil.copytree(new, tmp_path / new.name))
    with netCDF4.Dataset(copy / "chlor_a.nc", "a") as ds:
        ds["chlor_a"].units = "mg.m-3"
    caplog.set_level(logging.WARNING)
    check_scenes("river", dataset(tmp_path, aoi, ["chlor_a"]), [product_entry(copy)])
    (message,) = [r.getMessage() for r in caplog.records]
    assert "chlor_a of baseline 004 (Collection 4) products has units 'mg.m-3'" in message
    assert "its column is chlor_a in scenes read" in message
    assert "but chlor_a_mg.m-3 in scenes outside the swath" in message


def test_a_variable_no_product_has_stops_before_the_scenes(archive):
    """Not a matter of baselines (an LFR variable asked of WFR products, a misspelling):
    one error before any scene job, naming the variable, what the files offer and the
    closest name (difflib's oracle: TSM_NNN is one letter from TSM_NN)."""
    folder, _, _, aoi = archive
    with pytest.raises(InputError) as raised:
        check_scenes("river", dataset(folder, aoi, ["OTCI"]), entries_of(folder, aoi))
    text = str(raised.value)
    assert "OTCI is not in the baseline 003 (Collection 3) products" in text
    assert "OTCI is not in the baseline 004 (Collection 4) products" in text
    assert "its files offer" in text and "TSM_NN" in text
    with pytest.raises(InputError, match=r"TSM_NNN is not in .*\(did you mean TSM_NN\?\)"):
        check_scenes("river", dataset(folder, aoi, ["TSM_NNN"]), entries_of(folder, aoi))


# --- the download command -------------------------------------------------------------------


def download(folder: Path, aoi: Path, variables: list[str], work: Path):
    """``python -m eotrend download`` on a config whose source is the local folder."""
    config = {"datasets": {"river": dataset(folder, aoi, variables)}}
    config["datasets"]["river"]["source"]["cache"] = str(work / "cache")
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    manifest = work / "manifest.csv"
    command = [sys.executable, "-m", "eotrend", "download"]
    result = run([*command, str(path), "river", "-o", str(manifest)], work)
    return result, manifest


def baselines_in(manifest: Path) -> list[tuple[str, str]]:
    with open(manifest, newline="") as handle:
        return [(row["name"][-3:], row["baseline"]) for row in csv.DictReader(handle)]


def test_download_stops_at_once_for_chl_oc4me_on_collection4(archive, tmp_path):
    """The real command: exit 1 with the one baseline message, no traceback, before any
    scene job; the manifest is written first and its baseline column is the names'."""
    folder, _, new, aoi = archive
    result, manifest = download(folder, aoi, ["CHL_OC4ME"], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    for needle in ("datasets.river.variables: CHL_OC4ME", "baseline 004 (Collection 4)",
                   "1 of the 2 scenes", new.name, "chl_oc4me.nc was replaced by chlor_a.nc",
                   "which holds chlor_a, chlor_a_err"):  # fmt: skip
        assert needle in errors[0], (needle, errors[0])
    assert baselines_in(manifest) == [("003", "003"), ("004", "004")]  # the record exists


def test_download_warns_for_a_series_crossing_baselines(archive, tmp_path):
    """The real command on a series crossing 003 and 004: success with one warning about
    the crossing and one about the Collection 4 flags the 003 product lacks; the
    manifest's baseline column read as text (leading zeros kept)."""
    folder, _, _, aoi = archive
    result, manifest = download(folder, aoi, ["Oa08_reflectance", "TSM_NN"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    warnings = [line for line in result.stderr.splitlines() if " WARNING " in line]
    assert len(warnings) == 2, warnings
    assert "baseline 003 (Collection 3) products define no CLOUD_SHADOW, BRDF_OOR" in warnings[0]
    assert (
        "2 processing baselines: baseline 003 (Collection 3): 1 scene, baseline 004 "
        "(Collection 4): 1 scene" in warnings[1]
    )
    assert baselines_in(manifest) == [("003", "003"), ("004", "004")]

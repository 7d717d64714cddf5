"""The manifest: written atomically in sensing order, read back exactly (a frozen source)."""

from __future__ import annotations

import csv

import pytest

from eotrend.core.errors import InputError
from eotrend.sources.scenelist import COLUMNS, Entry, read_entries, read_manifest, write_manifest


def entry(name: str, start: str, **fields) -> Entry:
    values = {
        "sensing_stop": start,
        "platform": name[:3],
        "source_id": "",
        "size": 10,
        "checksum": "",
        "path": f"cache/{name}.SEN3",
        "status": "ok",
    }
    return Entry(name=name, sensing_start=start, **(values | fields))


ENTRIES = [
    entry("S3B_b", "2020-06-01T10:00:00+00:00", checksum="0123abcd", source_id="42"),
    entry("S3A_a", "2020-01-01T10:00:00+00:00", status="skipped", reason="duplicate of S3A_x"),
    entry("S3A_c", "2020-06-01T10:00:00+00:00", status="failed", path="", reason="HTTP 500, x"),
]


def test_round_trip_in_sensing_order(tmp_path):
    path = tmp_path / "m.csv"
    write_manifest(path, ENTRIES)
    back = read_entries(path)
    assert [e.name for e in back] == ["S3A_a", "S3A_c", "S3B_b"]  # by time, then name
    assert sorted(back, key=lambda e: e.name) == sorted(ENTRIES, key=lambda e: e.name)
    assert back[2].checksum == "0123abcd" and back[2].source_id == "42"  # text stays text
    assert back[0].checksum == "" and back[1].path == ""  # empty stays empty, not NaN
    assert list(read_manifest(path).columns) == COLUMNS
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]  # no temporary file left


def test_empty_manifest_has_the_header(tmp_path):
    write_manifest(tmp_path / "m.csv", [])
    assert (tmp_path / "m.csv").read_text().strip() == ",".join(COLUMNS)
    assert read_entries(tmp_path / "m.csv") == []


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace(",reason", ",why"), r"lacks the column\(s\) reason"),
        (lambda t: t.replace(",ok,", ",fine,"), r"line 4: unknown status 'fine'"),
        (lambda t: t.replace(",10,", ",ten,", 1), r"line 2: size 'ten' is not an integer"),
        (lambda t: t.replace("S3A_a", "S3B_b"), "lists S3B_b more than once"),
    ],
)
def test_bad_frozen_manifests_are_named(tmp_path, edit, message):
    path = tmp_path / "m.csv"
    write_manifest(path, ENTRIES)
    path.write_text(edit(path.read_text()))
    with pytest.raises(InputError, match=message) as failure:
        read_entries(path)
    assert str(path) in str(failure.value)


def test_missing_frozen_manifest(tmp_path):
    with pytest.raises(InputError, match=r"does not exist.*earlier eotrend run"):
        read_entries(tmp_path / "nope.csv")


# Real product names: one in sen3r's notebooks (collection 002, github.com/hybam-dev/sen3r)
# and the stactools-packages/sentinel3 Collection 4 product; a GeoTIFF of a series has no
# baseline.
NAME_002 = (
    "S3A_OL_2_WFR____20191104T135002_20191104T135302_20191124T134508_0179_051_124_3060_MAR_O_NT_002"
)
NAME_004 = (
    "S3B_OL_2_WFR____20260301T234556_20260301T234856_20260303T033944_0179_117_187_2520_MAR_O_NT_004"
)
BASELINES = [
    entry(NAME_002, "2019-11-04T13:50:02+00:00"),
    entry(NAME_004, "2026-03-01T23:45:56+00:00"),
    entry("ndvi_2001", "2001-01-01", platform="synthetic", path="series/ndvi_2001.tif"),
]


def test_baseline_column_is_the_name_s_collection(tmp_path):
    """The class ID's last three digits (ESA's OLCI naming convention) are the baseline:
    002 and 004 here, nothing for a GeoTIFF; written as text (leading zeros kept)."""
    path = tmp_path / "m.csv"
    write_manifest(path, BASELINES)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["baseline"] for r in rows] == ["", "002", "004"]  # sensing order
    assert COLUMNS[-1] == "baseline"
    assert {e.name: e.baseline for e in read_entries(path)} == {
        NAME_002: "002",
        NAME_004: "004",
        "ndvi_2001": "",
    }


def test_manifest_of_an_earlier_run_without_the_baseline_column_is_read(tmp_path):
    """Frozen manifests written before the column existed still work; the baseline is
    derived from the names."""
    path = tmp_path / "m.csv"
    write_manifest(path, BASELINES)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[c for c in COLUMNS if c != "baseline"])
        writer.writeheader()
        writer.writerows([{k: v for k, v in r.items() if k != "baseline"} for r in rows])
    assert "baseline" not in path.read_text()
    back = read_entries(path)
    assert sorted(back, key=lambda e: e.name) == sorted(BASELINES, key=lambda e: e.name)
    assert [e.baseline for e in back] == ["", "002", "004"]

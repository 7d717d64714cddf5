"""The manifest: written atomically in sensing order, read back exactly (a frozen source)."""

from __future__ import annotations

import pytest

from eotrend.errors import InputError
from eotrend.manifest import COLUMNS, Entry, read_entries, read_manifest, write_manifest


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

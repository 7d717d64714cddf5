"""The CDSE object store as a source, against a real S3 server on loopback (moto in server
mode, tests/support/local_s3.py) and the loopback catalogue (tests/support/fake_cdse.py).

The facts: the catalogue's ``S3Path`` names the product folder in the ``eodata`` bucket
(CDSE docs, documentation.dataspace.copernicus.eu: APIs/S3, APIs/OData); the store needs S3
keys, not the OData account; S3 answers ``Range`` reads and throttles with 503
``SlowDown``. The oracles: the S3 server's own request log (which objects and how many
bytes it sent), the product's bytes, and the outputs of locate and extract on a whole
local copy of the product (arrays and tables must be equal whichever way the bytes came).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from eotrend.core.credentials import CredentialsError
from eotrend.sentinel3.remote import REMOTE_MARKER
from eotrend.sources.cdse.cache import install_zip
from eotrend.synthetic.spec import SceneSpec
from support.cdse import (
    PASSWORD,
    USERNAME,
    assert_cache_sound,
    assert_no_secrets,
    dataset,
    run,
    stem,
)
from support.chunks import chunk_extents
from support.fake_cdse import FakeCdse, FakeProduct, products_from_specs
from support.local_s3 import LocalS3
from support.scenes import write_polygons

REPO = Path(__file__).resolve().parents[2]
LAKE = (-60.9, -3.4)
FILES = {"wqsf.nc", "Oa08_reflectance.nc", "Oa01_reflectance.nc", "tsm_nn.nc"}
NEEDED = ["xfdumanifest.xml", "geo_coordinates.nc", "tie_geo_coordinates.nc", "wqsf.nc"]
VARIABLES = ("Oa08_reflectance", "TSM_NN")


@pytest.fixture(scope="module")
def s3():
    with LocalS3() as server:
        yield server


@pytest.fixture(scope="module")
def products(tmp_path_factory, s3) -> list[FakeProduct]:
    """Two products (240 x 257: four 64-row chunk rows), uploaded to the store at their
    catalogue S3Path."""
    folder = tmp_path_factory.mktemp("s3src")
    ring = [(-60.93, -3.43), (-60.87, -3.43), (-60.87, -3.37), (-60.93, -3.37)]
    import shapely

    specs = [
        SceneSpec(*LAKE, datetime(2020, m, 1, 13, 50, tzinfo=UTC), rows=240, columns=257, seed=m)
        for m in (3, 6)
    ]
    made = products_from_specs(folder, specs, water=shapely.Polygon(ring), files=FILES)
    for product in made:
        s3.upload_folder(folder / product.name, s3_key(product))
    return made


def s3_key(product: FakeProduct) -> str:
    return product.entity(False)["S3Path"].removeprefix("/eodata/")


@pytest.fixture(scope="module")
def aoi(tmp_path_factory) -> Path:
    ring = [(-60.92, -3.42), (-60.88, -3.42), (-60.88, -3.38), (-60.92, -3.38)]
    return write_polygons(tmp_path_factory.mktemp("aoi") / "aoi.geojson", [[ring]], ["lake"])


@pytest.fixture
def fake(tmp_path, caplog, monkeypatch, s3):
    """The catalogue; S3 keys in the environment, the OData account's not (the object
    store needs none); afterwards no secret of either in any file or log."""
    caplog.set_level(logging.DEBUG)
    for name in ("CDSE_USERNAME", "CDSE_PASSWORD", "CDSE_TOTP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    monkeypatch.setenv("CDSE_S3_ACCESS_KEY", s3.access)
    monkeypatch.setenv("CDSE_S3_SECRET_KEY", s3.secret)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    s3.reset()
    with FakeCdse(USERNAME, PASSWORD) as server:
        yield server
    server.issued.extend([s3.access, s3.secret])
    assert_no_secrets(tmp_path, caplog.text, server)
    assert_cache_sound(tmp_path / "cache")


def s3_cfg(tmp_path, fake, s3, aoi, fetch, **settings) -> dict:
    cfg = dataset(tmp_path, fake, aoi, fetch=fetch, s3_endpoint=s3.endpoint, **settings)
    cfg["variables"] = list(VARIABLES)
    return cfg


def objects_read(s3: LocalS3) -> list[str]:
    """The objects GET requests read (bucket listings aside), in order."""
    return [
        r["path"].rpartition("/")[2]
        for r in s3.requests()
        if r["method"] == "GET" and r["path"].count("/") > 2
    ]


def test_s3_files_fetches_the_needed_files_with_s3_keys_only(tmp_path, fake, s3, products, aoi):
    """No OData account, no OData download: the files the dataset reads come from the
    store, byte for byte (their MD5s verified against the manifest)."""
    fake.add(*products)
    result = run(tmp_path, s3_cfg(tmp_path, fake, s3, aoi, "s3_files"))
    assert (result.status == "ok").all()
    assert fake.logins == 0 and not [r for r in fake.requests if r.host == "download"]
    wanted = [*NEEDED, "Oa08_reflectance.nc", "tsm_nn.nc"]
    for product in products:
        row = result.loc[stem(product)]
        assert row.fetch == "s3_files"
        served = product.files()
        assert row.fetched_bytes == sum(len(served[n]) for n in wanted)
        for name in wanted:
            assert (tmp_path / "cache" / product.name / name).read_bytes() == served[name]
    assert sorted(objects_read(s3)) == sorted(wanted * 2)


@pytest.mark.slow  # about 15 s: not in make test-quick
def test_s3_windows_outputs_equal_whole_copies_and_read_only_the_window(
    tmp_path, fake, s3, products, aoi
):
    """locate and extract (the real commands) on a product read from the store give the
    same vertex table, window, pixel table and statistics as on the whole product from
    its zip and on the per-file copy (s3_files); the store is read in ranges of at most
    16 KiB (s3_block_kib: HDF5 metadata) or of whole chunks (each range larger than that
    starts where a chunk starts and ends where a chunk ends, per the file's own chunk
    index read with h5py), only files the dataset reads. (Bytes per scene against the
    chunk floor: tests/unit/test_remote_floor.py, bench/fetch_bench.py.)"""
    product = products[0]
    fake.add(product)
    result = run(tmp_path, s3_cfg(tmp_path, fake, s3, aoi, "s3_windows", s3_block_kib=16))
    row = result.loc[stem(product)]
    windowed = tmp_path / "cache" / product.name
    assert row.status == "ok" and row.fetch == "s3_windows"
    assert sorted(p.name for p in windowed.iterdir()) == sorted([NEEDED[0], REMOTE_MARKER])
    assert row.fetched_bytes == len(product.files()[NEEDED[0]])
    whole_zip = tmp_path / "zip.zip"
    whole_zip.write_bytes(product.data)
    (tmp_path / "zipcache" / ".partial").mkdir(parents=True)
    whole = install_zip(whole_zip, tmp_path / "zipcache", stem(product))
    (tmp_path / "perfile").mkdir()
    run(tmp_path / "perfile", s3_cfg(tmp_path / "perfile", fake, s3, aoi, "s3_files"))
    per_file = tmp_path / "perfile" / "cache" / product.name
    s3.reset()
    outputs = {}
    for label, folder in (("whole", whole), ("files", per_file), ("s3", windowed)):
        outputs[label] = locate_and_extract(folder, aoi, tmp_path / label, s3)
        if label == "s3":
            read = s3.requests()
    for label in ("files", "s3"):
        assert outputs[label]["vertices"].equals(outputs["whole"]["vertices"])
        assert outputs[label]["window"] == outputs["whole"]["window"]
        pd.testing.assert_frame_equal(outputs[label]["pixels"], outputs["whole"]["pixels"])
        pd.testing.assert_frame_equal(outputs[label]["stats"], outputs["whole"]["stats"])
    assert len(outputs["whole"]["pixels"]) > 10  # the lake is observed
    sent = {}
    for request in (r for r in read if r["path"].count("/") > 2):
        name = request["path"].rpartition("/")[2]
        sent[name] = sent.get(name, 0) + request["sent"]
        assert request["method"] != "GET" or request["range"], request  # ranges only
    served = product.files()
    assert set(sent) <= {*NEEDED, "Oa08_reflectance.nc", "tsm_nn.nc"}
    extents = {name: chunk_extents(per_file / name) for name in sent if name.endswith(".nc")}
    for request in read:
        if request["method"] == "GET" and request["sent"] > 16 * 1024:
            first, last = map(int, request["range"].removeprefix("bytes=").split("-"))
            starts, ends = extents[request["path"].rpartition("/")[2]]
            assert first in starts and last + 1 in ends, request
    assert "Oa01_reflectance.nc" not in sent and served  # a file the dataset does not read


def locate_and_extract(product: Path, aoi: Path, out: Path, s3: LocalS3) -> dict:
    """The locate and extract commands on one product (their own processes, with the S3
    keys in their environment like a compute node's job); their outputs read back."""
    out.mkdir()
    env = {
        "CDSE_S3_ACCESS_KEY": s3.access,
        "CDSE_S3_SECRET_KEY": s3.secret,
        "PATH": "/usr/bin",
        "PYTHONPATH": str(REPO / "scripts"),
    }
    commands = [
        ["locate", product, aoi, "-o", out / "v.csv", "--window", out / "w.json"],
        [
            "extract",
            product,
            aoi,
            "-o",
            out / "p.parquet",
            "--stats",
            out / "s.csv",
            "--window",
            out / "w.json",
            "--variables",
            *VARIABLES,
        ],
    ]
    for command in commands:
        done = subprocess.run(
            [sys.executable, "-m", "eotrend", *map(str, command)],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    return {
        "vertices": pd.read_csv(out / "v.csv"),
        "window": (out / "w.json").read_text(),
        "pixels": pd.read_parquet(out / "p.parquet"),
        "stats": pd.read_csv(out / "s.csv"),
    }


def test_wrong_s3_keys_fail_with_a_clear_message_never_echoing_them(
    tmp_path, fake, s3, products, aoi, monkeypatch
):
    fake.add(products[0])
    monkeypatch.setenv("CDSE_S3_ACCESS_KEY", "AKIAWRONGKEY7Q2X")
    monkeypatch.setenv("CDSE_S3_SECRET_KEY", "wrong-secret-8Vd3kL0p")
    with pytest.raises(CredentialsError) as failure:
        run(tmp_path, s3_cfg(tmp_path, fake, s3, aoi, "s3_files"))
    message = str(failure.value)
    assert "refused" in message and "CDSE_S3_ACCESS_KEY/CDSE_S3_SECRET_KEY" in message
    assert "does not exist in our records" in message  # the S3 error, keys scrubbed
    assert "AKIAWRONGKEY7Q2X" not in message and "wrong-secret-8Vd3kL0p" not in message
    fake.issued.extend(["AKIAWRONGKEY7Q2X", "wrong-secret-8Vd3kL0p"])  # grepped afterwards


def test_keys_from_a_credentials_profile(tmp_path, fake, s3, products, aoi, monkeypatch):
    """Without the environment variables, the [cdse] profile of an ~/.aws/credentials-
    style file (never [default], which may belong to another service)."""
    fake.add(products[0])
    monkeypatch.delenv("CDSE_S3_ACCESS_KEY")
    monkeypatch.delenv("CDSE_S3_SECRET_KEY")
    credentials = tmp_path.parent / f"{tmp_path.name}-credentials"
    credentials.write_text(
        f"[default]\naws_access_key_id = other\naws_secret_access_key = other\n"
        f"[cdse]\naws_access_key_id = {s3.access}\naws_secret_access_key = {s3.secret}\n"
    )
    credentials.chmod(0o600)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    result = run(tmp_path, s3_cfg(tmp_path, fake, s3, aoi, "s3_files"))
    assert (result.status == "ok").all()


def test_throttling_503_slowdown_is_retried(tmp_path, fake, s3, products, aoi):
    fake.add(products[0])
    s3.slow_down(3)
    result = run(tmp_path, s3_cfg(tmp_path, fake, s3, aoi, "s3_files", backoff_s=0.05))
    assert (result.status == "ok").all()
    statuses = [r["status"] for r in s3.requests()]
    assert statuses[:3] == [503, 503, 503] and statuses.count(503) == 3


def test_a_file_the_manifest_lists_but_the_store_lacks(tmp_path, fake, s3, products, aoi):
    product = products[1]
    fake.add(product)
    s3.client().delete_object(Bucket="eodata", Key=f"{s3_key(product)}/tsm_nn.nc")
    try:
        result = run(tmp_path, s3_cfg(tmp_path, fake, s3, aoi, "s3_files", on_failure="skip"))
    finally:
        s3.client().put_object(
            Bucket="eodata", Key=f"{s3_key(product)}/tsm_nn.nc", Body=product.files()["tsm_nn.nc"]
        )
    row = result.loc[stem(product)]
    assert row.status == "failed"
    assert "lacks tsm_nn.nc, which the product's own xfdumanifest.xml lists" in row.reason


def test_a_file_failing_its_manifest_md5_in_the_store(tmp_path, fake, s3, products, aoi):
    product = products[1]
    fake.add(product)
    key = f"{s3_key(product)}/wqsf.nc"
    good = product.files()["wqsf.nc"]
    bad = good[:100] + bytes([good[100] ^ 0xFF]) + good[101:]
    s3.client().put_object(Bucket="eodata", Key=key, Body=bad)
    try:
        result = run(tmp_path, s3_cfg(tmp_path, fake, s3, aoi, "s3_files", on_failure="skip"))
    finally:
        s3.client().put_object(Bucket="eodata", Key=key, Body=good)
    row = result.loc[stem(product)]
    assert row.status == "failed"
    assert "wqsf.nc of" in row.reason and "does not match its MD5 in xfdumanifest.xml" in row.reason
    assert objects_read(s3).count("wqsf.nc") == 2
    assert not (tmp_path / "cache" / product.name / "wqsf.nc").exists()

"""The CDSE client's tests over the loopback service (:mod:`support.fake_cdse`): its one
account, the checks every such test ends with (no secret anywhere, a sound cache), the
config of a cdse dataset pointed at the service, and the download stage run in-process."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from eotrend.core.config import load_dataset
from eotrend.sources.cdse.cache import PARTIAL, check_product
from eotrend.sources.scenelist import read_entries
from eotrend.stages.download import run as download
from support.configs import base_dataset
from support.fake_cdse import FakeCdse, FakeProduct

USERNAME = "eotrend-user-7f3a9c"
PASSWORD = "pw-S3cret-93xQ!"


@contextlib.contextmanager
def checked_fake(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeCdse]:
    """The loopback service with one account, credentials in the environment; afterwards
    no secret anywhere and a sound cache (the body of the tests' ``fake`` fixtures)."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("CDSE_USERNAME", USERNAME)
    monkeypatch.setenv("CDSE_PASSWORD", PASSWORD)
    monkeypatch.delenv("CDSE_TOTP", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    with FakeCdse(USERNAME, PASSWORD) as server:
        yield server
    assert_no_secrets(tmp_path, caplog.text, server)
    assert_cache_sound(tmp_path / "cache")


def assert_no_secrets(folder: Path, log_text: str, server: FakeCdse) -> None:
    secrets = [USERNAME, PASSWORD, *server.issued]
    for path in [p for p in folder.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        leaked = [s for s in secrets if s.encode() in data]
        assert not leaked, f"secret in {path}"
    assert not [s for s in secrets if s in log_text], "secret in a log record"


def assert_cache_sound(cache: Path) -> None:
    """Final names hold only verified files (every file a product folder holds matches its
    manifest's size and MD5; per-file fetches leave partial products); unfinished data
    only in .partial."""
    if not cache.exists():
        return
    for path in cache.iterdir():
        if path.name == PARTIAL:
            continue
        assert path.name.endswith(".SEN3") and path.is_dir(), path
        assert check_product(path, md5=True, needs=()) is None, path


def dataset(
    tmp_path: Path, fake: FakeCdse, aoi: Path, *, on_failure="fail", fetch="zip", **settings
) -> dict:
    """The validated config of a cdse dataset pointed at ``fake`` (whole zips unless told)."""
    lake = base_dataset(
        "sentinel3_cdse",
        aoi=str(aoi),
        source={
            "cache": str(tmp_path / "cache"),
            "on_failure": on_failure,
            "cdse": fake.settings(fetch=fetch, **settings),
        },
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"datasets": {"lake": lake}}))
    return load_dataset(path, "lake")


def run(tmp_path: Path, cfg: dict) -> pd.DataFrame:
    """The download stage's command (manifest written even when it then fails)."""
    manifest = tmp_path / "manifest.csv"
    download(dataset="lake", settings=cfg, manifest=str(manifest), threads=2)
    return table(manifest)


def table(manifest: Path) -> pd.DataFrame:
    return pd.DataFrame([dataclasses.asdict(e) for e in read_entries(manifest)]).set_index("name")


def stem(product: FakeProduct) -> str:
    return product.name.removesuffix(".SEN3")

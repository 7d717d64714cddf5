"""Opening a product's files wherever they are: in the cache folder, or in the object store.

A product fetched with ``source.cdse.fetch: s3_windows`` is a cache folder holding only its
``xfdumanifest.xml`` and :data:`REMOTE_MARKER`, a small JSON record of where the rest is:
the S3 endpoint, bucket and key of the ``.SEN3`` folder, region, the profile naming the
keys and the read block size (never the keys: they come from the environment or the
credentials file of the process that reads, :func:`eotrend.core.credentials.find_s3_keys`).
The reader (:mod:`eotrend.sentinel3.reader`) asks here instead of the file system:

* :func:`has_file` - the file is in the folder, or the manifest of a folder with a marker
  lists it;
* :func:`netcdf_files` - the ``.nc`` files in the folder and those listed remotely;
* :func:`open_dataset` - ``netCDF4.Dataset`` for a file on disk; otherwise h5netcdf (its
  netCDF4-like legacy API on h5py) over an s3fs file. The file is read in byte ranges
  through a block cache, so a windowed read costs the HDF5 metadata it walks and the
  chunks the window touches, not the file (netCDF-4, i.e. HDF5, per ESA's OLCI Level-2
  data formats page on sentinel.esa.int; deflated, hence chunked).

Why h5netcdf over fsspec/s3fs and not GDAL's ``/vsis3/``: the reader needs the variables'
own attributes exactly as netCDF4 gives them (``flag_masks`` as uint64, ``_FillValue``,
``valid_min``/``max``, ``scale_factor``, ``units``) and stored values never cast (uint64
WQSF); h5netcdf returns those (tests/unit/test_remote_reads.py
checks every variable against netCDF4), while GDAL's netCDF/HDF5 drivers would be a
second reader with its own attribute and dtype mapping (and GDAL 3.6's HDF5 driver does
not read /vsis3/).

Every remote file logs, when closed, the requests and bytes it cost (:data:`STATS` adds
them up per process).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import netCDF4
import numpy as np

from eotrend.core.credentials import find_s3_keys
from eotrend.core.errors import EotrendError

log = logging.getLogger(__name__)
# fsspec logs every block it fetches at INFO: this module logs one line per file instead.
logging.getLogger("fsspec").setLevel(logging.WARNING)

REMOTE_MARKER = ".eotrend-remote.json"
MANIFEST = "xfdumanifest.xml"
STATS = {"requests": 0, "bytes": 0}
"""Range requests and bytes read from the object store by this process so far."""


class RemoteError(EotrendError):
    """The object store refused or failed a read (the message says which file and why)."""


@dataclass(frozen=True)
class RemoteProduct:
    """Where a product's files are in the object store (no secrets).

    Attributes:
        endpoint: the S3 endpoint URL. bucket: the bucket (``eodata``). key: the key of
        the ``.SEN3`` folder, without the bucket. region: the region name the endpoint
        expects (``default`` at CDSE). profile: the credentials-file profile of the keys.
        block_kib: the read block size of windowed reads, KiB.
    """

    endpoint: str
    bucket: str
    key: str
    region: str = "default"
    profile: str = "cdse"
    block_kib: int = 64

    def url(self, name: str) -> str:
        """The s3fs path of one file of the product (``bucket/key/name``)."""
        return f"{self.bucket}/{self.key}/{name}"


def write_marker(folder: Path, remote: RemoteProduct) -> None:
    """Record in a product folder where its files are read from (atomically)."""
    from eotrend.core.atomic import atomic_path

    with atomic_path(folder / REMOTE_MARKER) as tmp:
        Path(tmp).write_text(json.dumps(asdict(remote), indent=1), encoding="utf-8")


_REMOTES: dict[str, RemoteProduct] = {}


def remote_of(folder: Path) -> RemoteProduct | None:
    """The object-store record of a product folder, or None (its files are local).
    Records are remembered once read (a folder without one is looked at again)."""
    key = str(folder)
    if key in _REMOTES:
        return _REMOTES[key]
    path = Path(folder) / REMOTE_MARKER
    if not path.is_file():
        return None
    try:
        remote = RemoteProduct(**json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as error:
        raise RemoteError(
            f"{path} is not a record of an object-store product ({error}); delete the "
            "product folder and run the download stage again"
        ) from None
    _REMOTES[key] = remote
    return remote


@functools.lru_cache(maxsize=256)
def _listed(folder: str) -> frozenset[str]:
    from eotrend.sentinel3.layout import listed_files

    return frozenset(listed_files(Path(folder) / MANIFEST))


def has_file(path: Path) -> bool:
    """Whether a product file exists: on disk, or listed by the manifest of a product
    folder whose files are read from the object store."""
    path = Path(path)
    if path.is_file():
        return True
    folder = path.parent
    return remote_of(folder) is not None and path.name in _listed(str(folder))


def netcdf_files(folder: Path) -> list[Path]:
    """The ``.nc`` files of a product folder (on disk, or listed remotely), by name."""
    names = {p.name for p in Path(folder).glob("*.nc")}
    if remote_of(folder) is not None:
        names |= {n for n in _listed(str(folder)) if n.endswith(".nc") and "/" not in n}
    return [Path(folder) / n for n in sorted(names)]


@contextlib.contextmanager
def open_dataset(path: Path) -> Iterator[object]:
    """A product's netCDF file opened for reading, with netCDF4's API (closed after).

    On disk: ``netCDF4.Dataset``. Otherwise, in a product folder with a remote record:
    h5netcdf over an s3fs file read in blocks of ``block_kib``. A file in neither place
    is opened on disk (netCDF4's OSError says it is missing).

    Raises:
        RemoteError: the object store refused the keys or the file, or could not be read.
        CredentialsError: no object-store keys.
    """
    path = Path(path)
    remote = None if path.is_file() else remote_of(path.parent)
    if remote is None:
        with netCDF4.Dataset(path) as ds:
            yield ds
        return
    import h5netcdf.legacyapi

    handle = _open_remote(remote, path.name)
    counted = handle.cache.fetcher
    try:
        with h5netcdf.legacyapi.Dataset(handle, "r") as ds:
            yield _Dataset(ds)
    finally:
        handle.close()
        STATS["requests"] += counted.requests
        STATS["bytes"] += counted.bytes
        log.info(
            "read %s from %s: %d range requests, %.1f kB",
            path.name,
            remote.endpoint,
            counted.requests,
            counted.bytes / 1e3,
        )


class _Counting:
    """Wraps an s3fs file's range fetcher, counting its requests and bytes."""

    def __init__(self, fetch) -> None:
        self._fetch, self.requests, self.bytes = fetch, 0, 0

    def __call__(self, start: int, end: int) -> bytes:
        data = self._fetch(start, end)
        self.requests += 1
        self.bytes += len(data)
        return data


def _open_remote(remote: RemoteProduct, name: str):
    """An s3fs file object of one product file, block-cached, its fetches counted."""
    keys, filesystem = filesystem_for(remote.endpoint, remote.region, remote.profile)
    url = remote.url(name)
    try:
        handle = filesystem.open(
            url, "rb", block_size=remote.block_kib * 1024, cache_type="blockcache"
        )
    except (OSError, ValueError) as error:
        raise RemoteError(describe_failure(error, keys, url, remote.endpoint)) from None
    handle.cache.fetcher = _Counting(handle.cache.fetcher)
    return handle


def filesystem_for(endpoint: str, region: str, profile: str, retries: int = 5):
    """(keys, s3fs filesystem) for an endpoint, path-style addressing (one per process
    and endpoint). Raises CredentialsError when no keys are found."""
    keys = find_s3_keys(profile)
    return keys, _filesystem(endpoint, region, keys.access, keys.secret, retries)


@functools.lru_cache(maxsize=8)
def _filesystem(endpoint: str, region: str, access: str, secret: str, retries: int):
    import s3fs

    return s3fs.S3FileSystem(
        key=access,
        secret=secret,
        endpoint_url=endpoint,
        client_kwargs={"region_name": region},
        config_kwargs={
            "s3": {"addressing_style": "path"},
            "retries": {"max_attempts": retries + 1, "mode": "standard"},
        },
        use_listings_cache=False,
        skip_instance_cache=True,
    )


def describe_failure(error: Exception, keys, url: str, endpoint: str) -> str:
    """A message for a failed object-store request: what, where, and what to do; the keys
    never quoted (library messages are scrubbed of them)."""
    text = keys.scrub(f"{type(error).__name__}: {error}")
    if isinstance(error, PermissionError):
        return (
            f"the object store at {endpoint} refused s3://{url} to the S3 keys from "
            f"{keys.source} ({text}); check the keys (made in the CDSE S3 keys manager) "
            "and that they have not expired"
        )
    if isinstance(error, FileNotFoundError):
        return f"the object store at {endpoint} has no s3://{url} ({text})"
    return f"reading s3://{url} from {endpoint} failed ({text})"


def _attribute(value):
    """An attribute as netCDF4 gives it: netCDF text attributes (NC_CHAR) come from
    h5py as bytes, netCDF4 decodes them to str."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8")
    return value


class _Variable:
    """An h5netcdf variable with the netCDF4 calls the reader makes (values are raw)."""

    def __init__(self, var) -> None:
        self._var = var

    def getncattr(self, name: str):
        return _attribute(self._var.getncattr(name))

    def set_auto_maskandscale(self, value: bool) -> None:
        """h5netcdf never masks or scales: nothing to switch off."""

    def __getitem__(self, key):
        return self._var[key]

    def __getattr__(self, name: str):
        return getattr(self._var, name)


class _Dataset:
    """An h5netcdf legacy-API dataset whose variables are :class:`_Variable` s."""

    def __init__(self, ds) -> None:
        self._ds = ds

    @property
    def variables(self):
        return self._ds.variables

    def __getitem__(self, name: str) -> _Variable:
        return _Variable(self._ds[name])

    def getncattr(self, name: str):
        return _attribute(self._ds.getncattr(name))

    def __getattr__(self, name: str):
        return getattr(self._ds, name)

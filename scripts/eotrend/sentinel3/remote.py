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
  netCDF4-like legacy API on h5py) over a :class:`RemoteFile`, read in byte ranges: a
  windowed read costs the HDF5 metadata it walks and the chunks the window touches, not
  the file (netCDF-4, i.e. HDF5, per ESA's OLCI Level-2 data formats page on
  sentinel.esa.int; deflated, hence chunked). Chunks are fetched whole and exactly (their
  places come from the file's chunk index), metadata in ranges of ``block_kib``.

Each byte once: inside :func:`shared_reads` (a scene of the scenes stage, a locate or
extract command) every open of an object shares the ranges fetched so far, so the
metadata walked again at each open and the geo-coordinate chunks that locate and then
extract read cost one fetch. Bytes are counted where they are fetched (:class:`Reads`:
the scenes stage records them per scene in its batch table).

Why h5netcdf over fsspec/s3fs and not GDAL's ``/vsis3/``: the reader needs the variables'
own attributes exactly as netCDF4 gives them (``flag_masks`` as uint64, ``_FillValue``,
``valid_min``/``max``, ``scale_factor``, ``units``) and stored values never cast (uint64
WQSF); h5netcdf returns those (tests/unit/test_remote_reads.py
checks every variable against netCDF4), while GDAL's netCDF/HDF5 drivers would be a
second reader with its own attribute and dtype mapping (and GDAL 3.6's HDF5 driver does
not read /vsis3/).

Every remote file logs, when closed, the requests and bytes it fetched (:data:`STATS`
adds them up per process).
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import io
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
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
PREFETCH_FRACTION = 0.5
"""A read touching at least this fraction of a variable's chunks fetches them from the
chunk index first (:meth:`_Variable._prefetch`)."""
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
        block_kib: the smallest range fetched, KiB (:class:`RemoteFile`).
    """

    endpoint: str
    bucket: str
    key: str
    region: str = "default"
    profile: str = "cdse"
    block_kib: int = 8

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
    h5netcdf over a :class:`RemoteFile` of the object (see :func:`shared_reads`). A file
    in neither place is opened on disk (netCDF4's OSError says it is missing).

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

    reads = _SESSION[-1] if _SESSION else Reads()
    handle = RemoteFile(remote, path.name, reads)
    try:
        with h5netcdf.legacyapi.Dataset(handle, "r") as ds:
            yield _Dataset(ds, handle)
    finally:
        log.info(
            "read %s from %s: %d range requests, %.1f kB",
            path.name,
            remote.endpoint,
            handle.requests,
            handle.fetched / 1e3,
        )


@dataclass
class Reads:
    """What remote files fetched while this record was active (:func:`shared_reads`):
    the byte ranges of each object (kept, so that no byte is fetched twice), requests
    and bytes in all and per file name."""

    requests: int = 0
    bytes: int = 0
    files: dict[str, list[int]] = field(default_factory=dict)
    _objects: dict[str, _Object] = field(default_factory=dict, repr=False)

    def count(self, name: str, size: int) -> None:
        self.requests += 1
        self.bytes += size
        entry = self.files.setdefault(name, [0, 0])
        entry[0] += 1
        entry[1] += size
        STATS["requests"] += 1
        STATS["bytes"] += size


_SESSION: list[Reads] = []


@contextlib.contextmanager
def shared_reads() -> Iterator[Reads]:
    """Within: every remote file opened shares what was fetched of its object, so each
    byte is fetched once however often the file is opened (locate and extract of a
    scene, the HDF5 metadata each open walks again). Yields the record of the requests
    and bytes fetched inside (the cost of a scene). The fetched bytes are kept in memory
    until the end: a scene's are the compressed chunks its pixels lie in."""
    reads = Reads()
    _SESSION.append(reads)
    try:
        yield reads
    finally:
        _SESSION.remove(reads)


class _Object:
    """The size of one remote object and the byte ranges fetched of it (sorted, disjoint:
    start -> bytes)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.starts: list[int] = []
        self.blocks: dict[int, bytes] = {}

    def missing(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of [start, end) not fetched yet."""
        gaps = []
        index = max(0, bisect.bisect_right(self.starts, start) - 1)
        for first in self.starts[index:]:
            if first >= end:
                break
            last = first + len(self.blocks[first])
            if last <= start:
                continue
            if first > start:
                gaps.append((start, first))
            start = max(start, last)
        if start < end:
            gaps.append((start, end))
        return gaps

    def next_start(self, offset: int) -> int:
        """The start of the first fetched range after ``offset`` (the size if none)."""
        index = bisect.bisect_right(self.starts, offset)
        return self.starts[index] if index < len(self.starts) else self.size

    def add(self, start: int, data: bytes) -> None:
        """Keep a fetched range (it must not overlap a kept one)."""
        bisect.insort(self.starts, start)
        self.blocks[start] = data

    def copy(self, start: int, out: memoryview) -> None:
        """Fill ``out`` with the bytes from ``start`` (all fetched)."""
        index = bisect.bisect_right(self.starts, start) - 1
        done = 0
        while done < len(out):
            first = self.starts[index]
            block = self.blocks[first]
            offset = start + done - first
            take = min(len(block) - offset, len(out) - done)
            out[done : done + take] = block[offset : offset + take]
            done += take
            index += 1


class RemoteFile(io.RawIOBase):
    """One object of the store as a read-only, seekable file for h5py (h5netcdf).

    HDF5 reads a netCDF-4 file in two kinds of pieces: its metadata (superblock, object
    headers, attributes, chunk-index B-tree nodes: reads of at most a few KiB, spread over
    the file) and whole chunks (one read per chunk, of the chunk's compressed size), per
    HDF5's file format specification. A read of at least ``block_kib`` is fetched exactly;
    a smaller one fetches ``block_kib`` from where it starts (the next metadata is often
    right after). Ranges already fetched (in this scene, :func:`shared_reads`) are never
    fetched again.
    """

    def __init__(self, remote: RemoteProduct, name: str, reads: Reads) -> None:
        super().__init__()
        self._remote, self._name, self._reads = remote, name, reads
        self._keys, self._fs = filesystem_for(remote.endpoint, remote.region, remote.profile)
        self._url = remote.url(name)
        self._block = remote.block_kib * 1024
        self._position = 0
        self.requests = self.fetched = 0
        key = f"{remote.endpoint}/{self._url}"
        self._object = reads._objects.get(key)
        if self._object is None:
            try:
                size = int(self._fs.info(self._url)["size"])
            except (OSError, ValueError) as error:
                raise RemoteError(self._failure(error)) from None
            self._object = reads._objects[key] = _Object(size)

    def _failure(self, error: Exception) -> str:
        return describe_failure(error, self._keys, self._url, self._remote.endpoint)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._object.size}
        self._position = base[whence] + offset
        return self._position

    def readinto(self, buffer) -> int:
        out = memoryview(buffer).cast("B")
        start = self._position
        end = min(start + len(out), self._object.size)
        if end <= start:
            return 0
        for first, last in self._object.missing(start, end):
            if last == end and last - first < self._block:  # metadata: read ahead
                last = min(first + self._block, self._object.next_start(first))
            self._fetch(first, last)
        self._object.copy(start, out[: end - start])
        self._position = end
        return end - start

    def prefetch(self, ranges: list[tuple[int, int]]) -> None:
        """Fetch byte ranges (start, size) not fetched yet, ranges less than ``block_kib``
        apart in one request."""
        merged: list[list[int]] = []
        for start, size in sorted(ranges):
            if merged and start - merged[-1][1] <= self._block:
                merged[-1][1] = max(merged[-1][1], start + size)
            else:
                merged.append([start, start + size])
        for start, end in merged:
            for first, last in self._object.missing(start, min(end, self._object.size)):
                self._fetch(first, last)

    def _fetch(self, start: int, end: int) -> None:
        try:
            data = self._fs.cat_file(self._url, start=start, end=end)
        except (OSError, ValueError) as error:
            raise RemoteError(self._failure(error)) from None
        if len(data) != end - start:
            raise RemoteError(
                f"reading s3://{self._url} from {self._remote.endpoint} failed (asked for "
                f"bytes {start}-{end - 1}, got {len(data)} bytes)"
            )
        self._object.add(start, data)
        self.requests += 1
        self.fetched += len(data)
        self._reads.count(self._name, len(data))


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
    """An h5netcdf variable with the netCDF4 calls the reader makes (values are raw).

    Reading a rectangle first fetches the chunks it lies in, found in the file's chunk
    index (HDF5's ``H5Dget_chunk_info_by_coord``, through h5py), in as few requests as
    their places in the file allow (:meth:`RemoteFile.prefetch`); HDF5 then reads them
    from memory."""

    def __init__(self, var, handle: RemoteFile) -> None:
        self._var, self._handle = var, handle

    def getncattr(self, name: str):
        return _attribute(self._var.getncattr(name))

    def set_auto_maskandscale(self, value: bool) -> None:
        """h5netcdf never masks or scales: nothing to switch off."""

    def __getitem__(self, key):
        self._prefetch(key)
        return self._var[key]

    def _prefetch(self, key) -> None:
        """Before a read of most of the variable's chunks (the whole tie-point grid), fetch
        them in as few requests as their places allow: one walk of the chunk index
        (HDF5's ``H5Dchunk_iter``) costs less than a request per chunk then. A read of a
        few chunks is left to HDF5 (a request per chunk, of its exact size): the index
        walk would cost more than it saves."""
        dataset = self._var._h5ds
        chunks = dataset.chunks
        if chunks is None or not isinstance(key, tuple) or len(key) != dataset.ndim:
            return
        if not all(isinstance(k, slice) and k.step in (None, 1) for k in key):
            return
        spans = []
        for k, size, chunk in zip(key, dataset.shape, chunks, strict=True):
            start, stop, _ = k.indices(size)
            if stop <= start:
                return
            spans.append((start // chunk, (stop - 1) // chunk + 1))
        touched = math.prod(b - a for a, b in spans)
        every = math.prod(
            -(-size // chunk) for size, chunk in zip(dataset.shape, chunks, strict=True)
        )
        if touched < PREFETCH_FRACTION * every:
            return
        ranges = []

        def keep(info) -> None:
            index = [o // c for o, c in zip(info.chunk_offset, chunks, strict=True)]
            if all(a <= i < b for i, (a, b) in zip(index, spans, strict=True)) and info.size:
                ranges.append((info.byte_offset, info.size))

        dataset.id.chunk_iter(keep)
        self._handle.prefetch(ranges)

    def __getattr__(self, name: str):
        return getattr(self._var, name)


class _Dataset:
    """An h5netcdf legacy-API dataset whose variables are :class:`_Variable` s."""

    def __init__(self, ds, handle: RemoteFile) -> None:
        self._ds, self._handle = ds, handle

    @property
    def variables(self):
        return self._ds.variables

    def __getitem__(self, name: str) -> _Variable:
        return _Variable(self._ds[name], self._handle)

    def getncattr(self, name: str):
        return _attribute(self._ds.getncattr(name))

    def __getattr__(self, name: str):
        return getattr(self._ds, name)

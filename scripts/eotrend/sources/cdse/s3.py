"""The CDSE object store as a source.

The ``eodata`` bucket at ``https://eodata.dataspace.copernicus.eu``, read with S3 keys:
https://documentation.dataspace.copernicus.eu/APIs/S3.html; the catalogue's ``S3Path``:
https://documentation.dataspace.copernicus.eu/APIs/OData.html.

``fetch: s3_files`` puts the files the dataset needs into the cache like the Nodes mode
(:mod:`eotrend.sources.cdse.perfile`: manifest first, each file checked against its manifest
size and MD5); ``fetch: s3_windows`` fetches only the manifest and records where the rest
is (:func:`eotrend.sentinel3.remote.write_marker`): the scenes jobs (locate, extract)
then read the chunks of their window remotely (:mod:`eotrend.sentinel3.remote`).

The keys come from the environment or a credentials-file profile
(:func:`eotrend.core.credentials.find_s3_keys`), looked up by the process that uses them: the
download stage (its object-store fetches run on threads, :func:`eotrend.sources.cdse.transfer.
fetch_all`) and each locate or extract job; never passed to another process, never logged
(messages from the S3 library are scrubbed of them). A
refused key fails the run at once (every product would fail). Throttling (503 SlowDown)
and dropped connections are retried by the S3 client (standard retry mode) and then here
with the source's back-off, resuming a file where it stopped (S3 honours ``Range``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from eotrend.core.credentials import CredentialsError
from eotrend.sentinel3.remote import RemoteProduct, describe_failure, filesystem_for, write_marker
from eotrend.sources.cdse.jobs import FetchJob, FetchResult, GaveUpError
from eotrend.sources.cdse.perfile import fetch_product_files
from eotrend.sources.cdse.settings import Settings

log = logging.getLogger(__name__)

CHUNK = 1 << 20


def remote_product(job: FetchJob, settings: Settings) -> RemoteProduct:
    """Where ``job``'s product folder is in the object store.

    Raises:
        ValueError: the catalogue lists no ``S3Path``, or one outside the bucket.
    """
    path = job.s3_path.strip("/")
    bucket, _, key = path.partition("/")
    if not key or bucket != settings.s3_bucket:
        raise ValueError(
            f"the catalogue's S3Path of {job.name} ({job.s3_path!r}) is not in the bucket "
            f"{settings.s3_bucket!r} (source.cdse.s3_bucket)"
        )
    return RemoteProduct(
        settings.s3_endpoint,
        bucket,
        key,
        settings.s3_region,
        settings.s3_profile,
        settings.s3_block_kib,
    )


class S3Store:
    """A product's files in the object store (see :class:`eotrend.sources.cdse.perfile.Store`)."""

    def __init__(self, remote: RemoteProduct, settings: Settings) -> None:
        self._remote, self._settings = remote, settings
        self._keys, self._fs = filesystem_for(
            remote.endpoint, remote.region, remote.profile, settings.retries
        )
        self._sizes: dict[str, int] | None = None
        self.where = f"s3://{remote.bucket}/{remote.key}"

    def _failure(self, error: Exception, name: str) -> str:
        return describe_failure(error, self._keys, self._remote.url(name), self._remote.endpoint)

    def sizes(self) -> dict[str, int]:
        """File name -> size of the product folder's objects (listed once)."""
        if self._sizes is None:
            prefix = f"{self._remote.bucket}/{self._remote.key}"
            try:
                found = self._fs.ls(prefix, detail=True)
            except PermissionError as error:
                raise CredentialsError(self._failure(error, "")) from None
            except OSError as error:
                raise GaveUpError(self._failure(error, "")) from None
            self._sizes = {
                item["name"].rpartition("/")[2]: int(item.get("size") or 0)
                for item in found
                if item.get("type") == "file"
            }
        return self._sizes

    def get(self, name: str, part: Path, size: int) -> int:
        """Append the rest of object ``name`` to ``part`` (resuming at its size), retried
        with back-off; an attempt that made progress does not use up a retry."""
        settings, attempt, received = self._settings, 0, 0
        while True:
            offset = part.stat().st_size if part.exists() else 0
            before = received
            try:
                with (
                    self._fs.open(self._remote.url(name), "rb", cache_type="none") as source,
                    open(part, "ab") as sink,
                ):
                    source.seek(offset)
                    while block := source.read(CHUNK):
                        sink.write(block)
                        received += len(block)
                return received
            except PermissionError as error:
                raise CredentialsError(self._failure(error, name)) from None
            except OSError as error:
                if received > before:
                    attempt = 0
                attempt += 1
                if attempt > settings.retries:
                    raise GaveUpError(
                        f"gave up after {attempt} attempts: {self._failure(error, name)}"
                    ) from None
                wait = min(settings.backoff_s * 2 ** (attempt - 1), settings.max_wait_s)
                log.warning("%s: %s; retry %d in %.1f s", name, type(error).__name__, attempt, wait)
                time.sleep(wait)


def fetch_from_store(job: FetchJob, settings: Settings) -> FetchResult:
    """Worker task: ``job``'s product from the object store (``s3_files`` or
    ``s3_windows``). Never raises for the product's own failure.

    Raises:
        CredentialsError: no keys, or the store refused them.
    """
    try:
        remote = remote_product(job, settings)
    except ValueError as error:
        return FetchResult(job.name, False, str(error))
    store = S3Store(remote, settings)

    def finish(folder: Path) -> None:
        write_marker(folder, remote)

    return fetch_product_files(job, store, finish=finish if job.fetch == "s3_windows" else None)

"""Whole-product zips: one download per product, checked against the catalogue's size and
MD5 when listed, unzipped and checked against the product's own manifest
(:mod:`eotrend.sources.cdse.cache`)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from eotrend.sources.cdse.cache import (
    PARTIAL,
    ProductError,
    check_product,
    install_zip,
    md5_of,
    product_lock,
    product_path,
)
from eotrend.sources.cdse.http import (
    TransientError,
)
from eotrend.sources.cdse.jobs import FetchJob, FetchResult, GaveUpError
from eotrend.sources.cdse.resumable import get_rest, with_token
from eotrend.sources.cdse.settings import Settings
from eotrend.sources.cdse.tokens import TokenClient

log = logging.getLogger(__name__)


def fetch(job: FetchJob, tokens: TokenClient, settings: Settings) -> FetchResult:
    """Download, verify and install one product's zip (a worker task). Never raises for a
    product's own failure: it is returned with its reason.

    A file that disagrees with the catalogue's size or MD5 is not thrown away at once: if
    every zip member's CRC-32 and every MD5 its own ``xfdumanifest.xml`` lists verify, it
    is installed and the disagreement returned as a warning. Whether the catalogue's MD5
    describes the zip the service builds for a ``.SEN3`` product (stored unzipped) is
    unverified: if it does not, rejecting the zip would download the
    same bytes again and again. A file that fails its own checks is downloaded again,
    unless the service sent exactly the same bytes last time (retrying will not help).

    Raises:
        CredentialsError: the download service refused a fresh token, or answered 403.
    """
    began = time.monotonic()
    cache = Path(job.cache)
    with product_lock(cache, job.name):
        if check_product(product_path(cache, job.name)) is None:
            return FetchResult(job.name, True, "already in the cache")
        part = cache / PARTIAL / f"{job.name}.zip.part"
        resumed = part.stat().st_size if part.exists() else 0
        received = 0
        rejected = ""  # MD5 of the last file that failed its own checks
        url = f"{settings.download_url}/Products({job.product_id})/$value"

        def attempt(token: str) -> str:
            nonlocal received, rejected
            received += get_rest(url, part, job.size, token, settings, tokens.source, job.name)
            disagreement = _catalogue_disagreement(job, part)
            try:
                install_zip(part, cache, job.name, require_md5=bool(disagreement))
            except ProductError as error:
                # Damaged bytes the catalogue's MD5 vouches for are the service's own
                # product, and an unsafe zip stays unsafe: both final. Otherwise the
                # transfer may have damaged it.
                if not error.corrupt or (job.md5 and not disagreement):
                    raise
                reason = f"{disagreement}; {error}" if disagreement else str(error)
                digest = md5_of(part)
                part.unlink(missing_ok=True)
                if digest == rejected:
                    raise ProductError(
                        f"{reason}; the service sent the same bytes twice (MD5 {digest}), "
                        "so downloading again will not help"
                    ) from None
                rejected = digest
                raise TransientError(reason) from None
            return (
                f"{disagreement}, but every zip member's CRC-32 and every MD5 in the "
                "product's own xfdumanifest.xml verify: accepted"
                if disagreement
                else ""
            )

        try:
            warning = with_token(attempt, tokens, settings, job.name)
        except ProductError as error:
            part.unlink(missing_ok=True)
            seconds = time.monotonic() - began
            return FetchResult(job.name, False, str(error), received, resumed, seconds)
        except GaveUpError as error:
            seconds = time.monotonic() - began
            return FetchResult(job.name, False, str(error), received, resumed, seconds)
        part.unlink(missing_ok=True)
        seconds = time.monotonic() - began
        return FetchResult(job.name, True, "", received, resumed, seconds, warning)


def _catalogue_disagreement(job: FetchJob, part: Path) -> str:
    """How the finished file disagrees with the catalogue's size or MD5 (those it lists),
    or "" when it agrees."""
    size = part.stat().st_size
    if job.size and size != job.size:
        return f"got {size} bytes, the catalogue lists {job.size}"
    if job.md5:
        digest = md5_of(part)
        if digest != job.md5:
            return f"MD5 mismatch (catalogue {job.md5}, downloaded {digest})"
    return ""

"""What a transfer is given and what becomes of it: the job, its result, giving up."""

from __future__ import annotations

from dataclasses import dataclass

from eotrend.core.errors import EotrendError


class GaveUpError(EotrendError):
    """A transfer still failed after the configured retries (its partial bytes are kept)."""


@dataclass(frozen=True)
class FetchJob:
    """One product to put into ``cache`` (a folder path).

    size (bytes) and md5 are the catalogue's (of the zip): 0 and "" when it lists none.
    ``fetch`` is the mode (:data:`eotrend.sources.cdse.settings.FETCH_MODES`); ``variables``
    the dataset's variables (the per-file modes fetch only their files); ``s3_path`` the
    catalogue's ``S3Path`` (the S3 modes).
    """

    name: str
    product_id: str
    cache: str
    size: int = 0
    md5: str = ""
    fetch: str = "zip"
    variables: tuple[str, ...] = ()
    s3_path: str = ""


@dataclass(frozen=True)
class FetchResult:
    """What became of a :class:`FetchJob`.

    Attributes:
        ok: the product (or the files the dataset needs) is in the cache, verified.
        reason: why not (when not ok), or a note ("already in the cache").
        received: bytes received in this run (0 when it was already in the cache).
        resumed: bytes an earlier run had left in ``.partial`` that this one resumed from.
        seconds: time spent, s.
        warning: why an installed product deserves a look ("" when none), e.g. a zip
            accepted on its own checks although the catalogue's MD5 disagrees.
    """

    name: str
    ok: bool
    reason: str = ""
    received: int = 0
    resumed: int = 0
    seconds: float = 0.0
    warning: str = ""

"""Per-file downloads through the OData Nodes API.

The API: CDSE's OData page, https://documentation.dataspace.copernicus.eu/APIs/OData.html.

``<download_url>/Products(<Id>)/Nodes(<Name>.SEN3)/Nodes`` lists the files of the product
folder, ``{"result": [{"Id", "Name", "ContentLength", "ChildrenNumber", "Nodes": {"uri"}},
...]}`` (no login needed); ``.../Nodes(<Name>.SEN3)/Nodes(<file>)/$value`` streams one
file (sent with the Bearer token, like the product's ``$value``). Node names are sent
unquoted (a quoted name is ``DAT-ZIP-104`` "Malformed OData request path").

Whether a file's ``$value`` honours ``Range`` is unverified: a 206 from the right offset is
appended, a 200 restarts the file (:func:`eotrend.sources.cdse.resumable.get_rest`). What to
fetch and how it is verified: :mod:`eotrend.sources.cdse.perfile`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from eotrend.sources.cdse.http import (
    RETRY_STATUSES,
    TransientError,
    describe,
    request,
    retry_after_s,
    with_retries,
)
from eotrend.sources.cdse.jobs import FetchJob, FetchResult
from eotrend.sources.cdse.perfile import fetch_product_files
from eotrend.sources.cdse.resumable import get_rest, with_token
from eotrend.sources.cdse.settings import CdseError, Settings
from eotrend.sources.cdse.tokens import TokenClient

log = logging.getLogger(__name__)


def folder_url(settings: Settings, job: FetchJob) -> str:
    """The Nodes URL of a product's ``.SEN3`` folder."""
    return f"{settings.download_url}/Products({job.product_id})/Nodes({job.name}.SEN3)"


class NodesStore:
    """A product's files over the Nodes API (see :class:`eotrend.sources.cdse.perfile.Store`)."""

    def __init__(self, job: FetchJob, tokens: TokenClient, settings: Settings) -> None:
        self._job, self._tokens, self._settings = job, tokens, settings
        self._root = folder_url(settings, job)
        self._sizes: dict[str, int] | None = None
        self.where = f"the OData Nodes of {job.name}"

    def sizes(self) -> dict[str, int]:
        """File name -> ``ContentLength`` of the product folder's listing (fetched once)."""
        if self._sizes is None:
            self._sizes = list_nodes(f"{self._root}/Nodes", self._settings, self._job.name)
        return self._sizes

    def get(self, name: str, part: Path, size: int) -> int:
        url = f"{self._root}/Nodes({name})/$value"
        what = f"{name} of {self._job.name}"
        settings, source = self._settings, self._tokens.source
        return with_token(
            lambda token: get_rest(url, part, size, token, settings, source, what),
            self._tokens,
            settings,
            what,
        )


def list_nodes(url: str, settings: Settings, name: str) -> dict[str, int]:
    """The ``result`` of a Nodes listing as file name -> size (0 when not given).

    Raises:
        CdseError: refused (e.g. 404: the product has no such folder) or not a listing.
    """

    def get() -> dict[str, int]:
        with request(
            "GET", url, timeout=settings.timeout_s, trusted=settings.trusted_hosts
        ) as response:
            if response.status in RETRY_STATUSES:
                raise TransientError(describe(response), retry_after_s(response))
            if response.status != 200:
                raise CdseError(f"the Nodes listing of {name} was refused: {describe(response)}")
            try:
                nodes = json.loads(response.read())["result"]
                return {str(n["Name"]): int(n.get("ContentLength") or 0) for n in nodes}
            except (KeyError, TypeError, ValueError) as error:
                raise CdseError(
                    f"the Nodes listing of {name} at {url} is not a Nodes result "
                    f"({type(error).__name__}: {error})"
                ) from None

    return with_retries(get, settings, f"Nodes listing of {name}")


def fetch_files(job: FetchJob, tokens: TokenClient, settings: Settings) -> FetchResult:
    """Worker task: the files of ``job``'s product that its dataset needs, over Nodes."""
    try:
        return fetch_product_files(job, NodesStore(job, tokens, settings))
    except CdseError as error:
        return FetchResult(job.name, False, str(error))

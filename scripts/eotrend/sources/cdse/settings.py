"""The ``source.cdse`` settings (schemas/config.schema.yaml) and the real services' URLs
(CDSE docs, documentation.dataspace.copernicus.eu: APIs/OData, APIs/Token, APIs/S3). No
secrets: credentials come from eotrend.core.credentials."""

from __future__ import annotations

from dataclasses import dataclass, fields
from urllib.parse import urlsplit

from eotrend.core.errors import EotrendError

CATALOGUE_URL = "https://catalogue.dataspace.copernicus.eu/odata/v1"
DOWNLOAD_URL = "https://download.dataspace.copernicus.eu/odata/v1"
TOKEN_URL = (
    "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"
)
S3_ENDPOINT = "https://eodata.dataspace.copernicus.eu"  # bucket eodata (CDSE docs, APIs/S3)
MAX_PAGE = 1000  # the service's largest $top (CDSE docs, APIs/OData)
FETCH_MODES = ("files", "zip", "s3_files", "s3_windows")
"""How a product's bytes are fetched: ``files`` = the files the dataset needs, over the
OData Nodes API; ``zip`` = the whole product zip over OData; ``s3_files`` = the files the
dataset needs, from the object store into the cache; ``s3_windows`` = only the manifest
into the cache, the locate and extract jobs reading their windows from the object store."""


class CdseError(EotrendError):
    """The catalogue, token or download service failed in a way retrying did not fix."""


@dataclass(frozen=True)
class Settings:
    """The ``source.cdse`` config block (see schemas/config.schema.yaml). No secrets.

    URLs without a trailing slash; times in seconds.
    """

    catalogue_url: str = CATALOGUE_URL
    download_url: str = DOWNLOAD_URL
    token_url: str = TOKEN_URL
    client_id: str = "cdse-public"
    product_type: str = "OL_2_WFR___"
    max_concurrent: int = 4
    page_size: int = MAX_PAGE
    retries: int = 5
    backoff_s: float = 10.0
    max_wait_s: float = 300.0
    timeout_s: float = 60.0
    fetch: str = "files"
    s3_endpoint: str = S3_ENDPOINT
    s3_bucket: str = "eodata"
    s3_region: str = "default"
    s3_profile: str = "cdse"
    s3_block_kib: int = 8

    @property
    def uses_odata(self) -> bool:
        """Whether products come over OData (a CDSE account is needed)."""
        return self.fetch in ("files", "zip")

    @classmethod
    def from_config(cls, block: dict) -> Settings:
        """Settings from a validated config block (unknown keys ignored)."""
        values = {f.name: block[f.name] for f in fields(cls) if f.name in block}
        for key in ("catalogue_url", "download_url", "s3_endpoint"):
            if key in values:
                values[key] = values[key].rstrip("/")
        return cls(**values)

    @property
    def trusted_hosts(self) -> frozenset[str]:
        """Host names of the configured services (the token may be sent there)."""
        urls = (self.catalogue_url, self.download_url, self.token_url)
        return frozenset(urlsplit(u).hostname or "" for u in urls)

"""Provenance written into every raster output: software version and config digest."""

from __future__ import annotations

from eotrend import __version__


def tags(config_digest: str | None = None, **extra: str) -> dict[str, str]:
    """GeoTIFF metadata items naming what made a file (values are strings)."""
    items = {"EOTREND_VERSION": __version__}
    if config_digest:
        items["EOTREND_CONFIG_DIGEST"] = config_digest
    items.update({key.upper(): str(value) for key, value in extra.items()})
    return items

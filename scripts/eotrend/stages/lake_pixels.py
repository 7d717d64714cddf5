"""The lake_pixels stage (rule ``lake_pixels``): a sentinel3 dataset's pixel tables (every
batch's) as one table partitioned by feature, so that one lake's pixels of every scene
read back without reading the others' (:mod:`eotrend.sentinel3.partition`)."""

from __future__ import annotations

import logging

from eotrend.geo.aoi import read_aoi
from eotrend.sentinel3.partition import write_feature_pixels

log = logging.getLogger(__name__)


def run(*, pixels: list[str], aoi: str, lake_pixels: str, aoi_id: str | None = None) -> None:
    """Write ``lake_pixels`` (Parquet) from the pixel tables ``pixels`` (the batches'),
    sorted by feature in the order of the AOI file ``aoi`` (features named by its
    attribute ``aoi_id``), then time, scene, row and col; memory bounded by
    :data:`eotrend.sentinel3.partition.BLOCK_ROWS` rows."""
    features = [feature.name for feature in read_aoi(aoi, aoi_id)]
    index = write_feature_pixels(list(pixels), features, lake_pixels)
    log.info(
        "%d rows of %d features (%d with pixels) in %s",
        sum(rows for _, rows in index.values()),
        len(index),
        sum(rows > 0 for _, rows in index.values()),
        lake_pixels,
    )

"""Field significance: false-discovery-rate control over a map of p-values.

Benjamini and Hochberg (1995) q-values over the valid (finite) p-values of a map: with the
m valid p-values sorted, ``q_(i) = min_{j >= i} min(1, m p_(j) / j)``; a pixel is
significant at false-discovery rate alpha_FDR where ``q < alpha_FDR``. The definitions are
statsmodels' ``multipletests(method="fdr_bh")`` number for number. Wilks (2016, BAMS 97,
2263-2273) shows that for spatially correlated fields ``alpha_FDR = 2 alpha_global``
controls the global test level alpha_global: the default alpha_FDR = 0.10 stands for
alpha_global = 0.05.

A map is written in row tiles, so :class:`QValues` works in two passes over the p band:
the valid p-values of every tile are gathered and sorted once (4 bytes each, float32 as
the band stores them), the q-value of each sorted position computed (4 bytes more), and
then each tile's q-values looked up: 8 bytes per valid pixel, 392 MB for 7000 x 7000.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

METHOD = "Benjamini-Hochberg"
# Name of the band of q-values.
QVALUE = "qvalue"
DEFAULT_ALPHA = 0.10
# The slope whose test gives each p-value that q-values can control (what maps show).
SLOPE_OF = {"pvalue": "slope", "mk_pvalue": "sen_slope", "seasonal_pvalue": "seasonal_sen_slope"}
# Sorted positions whose q-values are computed (float64) at a time.
_CHUNK = 2**22


class QValues:
    """Benjamini-Hochberg q-values of a map of p-values, built from all its pieces.

    Args:
        pieces: the map's p-values in any pieces and order (NaN = no test), any float
            dtype; stored as ``dtype``.
        dtype: float32 for a map (the p band's type, 4 bytes per pixel); float64 for a
            table of p-values, whose q-values are then statsmodels' to the last bit.
    """

    def __init__(self, pieces: Iterable[np.ndarray], dtype: type = np.float32) -> None:
        self.dtype = np.dtype(dtype)
        kept = [np.asarray(p, dtype=self.dtype).ravel() for p in pieces]
        kept = [p[np.isfinite(p)] for p in kept]
        self.sorted_p = np.sort(np.concatenate(kept)) if kept else np.empty(0, self.dtype)
        del kept
        m = self.sorted_p.size
        self.sorted_q = np.empty(m, dtype=self.dtype)
        running = np.inf
        # From the largest p down: q_i = min(raw_i, q_(i+1)), raw_i = p_i / (i / m).
        for stop in range(m, 0, -_CHUNK):
            start = max(0, stop - _CHUNK)
            ecdf = np.arange(start + 1, stop + 1) / float(m)
            raw = self.sorted_p[start:stop].astype(np.float64) / ecdf
            q = np.minimum(np.minimum.accumulate(raw[::-1])[::-1], running)
            running = float(q[0])
            np.minimum(q, 1.0, out=q)
            self.sorted_q[start:stop] = q

    @property
    def count(self) -> int:
        """Number of valid p-values (m)."""
        return int(self.sorted_p.size)

    def __call__(self, p: np.ndarray) -> np.ndarray:
        """The q-value of each of ``p`` (values of the map) -> ``dtype``, NaN where p is."""
        p = np.asarray(p, dtype=self.dtype)
        q = np.full(p.shape, np.nan, dtype=self.dtype)
        ok = np.isfinite(p)
        # Tied p-values share the q-value of the last of them.
        index = np.searchsorted(self.sorted_p, p[ok], side="right") - 1
        q[ok] = self.sorted_q[index]
        return q


def qvalues(p: np.ndarray, dtype: type = np.float32) -> np.ndarray:
    """Benjamini-Hochberg q-values of one array of p-values -> ``dtype`` of its shape."""
    return QValues([p], dtype)(p)


class TileFiller:
    """Fills the qvalue band of the row tiles of one map as they are gathered.

    Reads the p band named by the tiles' FDR_PVALUE tag from every tile (one band at a
    time), builds the map's :class:`QValues`, and then replaces the qvalue band of each
    tile's block by the q-values of its p band.

    Args:
        infos: the tiles (:class:`eotrend.geo.raster.RasterInfo`), in order; their bands and
            tags are the first tile's.
    """

    def __init__(self, infos: list) -> None:
        from eotrend.geo import raster

        first = infos[0]
        self.q_band = first.descriptions.index(QVALUE)
        self.p_band = first.descriptions.index(first.tags["FDR_PVALUE"])
        self.table = QValues(
            raster.read_rows(info.path, 0, info.height, bands=[self.p_band + 1])[0]
            for info in infos
        )

    @staticmethod
    def wanted(info) -> bool:
        """Whether the tiles of ``info`` carry a qvalue band to fill."""
        return QVALUE in info.descriptions and "FDR_PVALUE" in info.tags

    def __call__(self, block: np.ndarray) -> np.ndarray:
        """``block`` (bands, rows, cols) with its qvalue band filled (in place)."""
        block[self.q_band] = self.table(block[self.p_band])
        return block

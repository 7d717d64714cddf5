"""Where things are in a scene, block of rows by block of rows: the surface class of each
pixel, clouds and their margin, invalid pixels and the retrieval failures (procedural,
seeded by the scene), and the pixel counts the manifest summarises.

Surface: LAND everywhere except a wavy "sea" strip along the right swath edge (WATER),
two procedural lakes and every pixel whose centre lies in the ``water`` polygons
(INLAND_WATER; tested with shapely ``contains_xy`` in lon/lat, so a polygon is not split
at the antimeridian). WATER, INLAND_WATER and LAND are mutually exclusive, which is why
SNAP selects water with ``WATER or INLAND_WATER`` (its OLCI Level-2 reader,
``OlciLevel2WProductFactory`` in github.com/senbox-org/s3tbx).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely

from eotrend.synthetic import swath as sw
from eotrend.synthetic.fields import _Truth
from eotrend.synthetic.geometry import _swath
from eotrend.synthetic.spec import SceneSpec, scene_decimal_year

MARGIN_PX = 4
"""Width of the CLOUD_MARGIN ring around clouds, pixels (Chebyshev distance)."""
AMBIGUOUS_PX = 2
"""Width of the inner part of that ring also flagged CLOUD_AMBIGUOUS, pixels."""
TURBID_LOG10_TSM = 1.1
"""log10 TSM_NN (g.m-3, i.e. 12.6 g.m-3) above which the atmospheric correction starts
failing (AC_FAIL), at a rate rising by 1 per 0.5 in log10 TSM to at most 0.8."""


def _noise_grid(spec: SceneSpec, stream: int, cell: int) -> np.ndarray:
    """Coarse smooth Gaussian noise (unit std) for bilinear sampling at ``cell`` pixels."""
    rng = np.random.default_rng([spec.seed, stream])
    grid = rng.standard_normal((spec.rows // cell + 3, spec.columns // cell + 3))
    kernel = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
    for axis in (0, 1):
        grid = np.apply_along_axis(np.convolve, axis, grid, kernel, mode="same")
    return grid / grid.std()


def _sample(grid: np.ndarray, cell: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Bilinear value of a noise grid at pixel (rows x cols), shape (len(rows), len(cols))."""
    fr, fc = rows / cell, cols / cell
    i, j = np.floor(fr).astype(np.int64), np.floor(fc).astype(np.int64)
    wr, wc = (fr - i)[:, None], fc - j
    by_row = grid[i] * (1.0 - wr) + grid[i + 1] * wr
    return by_row[:, j] * (1.0 - wc) + by_row[:, j + 1] * wc


@dataclass
class _Features:
    """Per-scene procedural features: noise grids, cloud thresholds, lakes, sea shore."""

    spec: SceneSpec
    water: object | None
    cloud_grid: np.ndarray = field(init=False)
    ac_grid: np.ndarray = field(init=False)
    oc4me_grid: np.ndarray = field(init=False)
    ocnn_grid: np.ndarray = field(init=False)
    cloud_level: float = field(init=False)
    lakes: list[tuple[float, ...]] = field(init=False)
    shore_phase: float = field(init=False)

    CLOUD_CELL = 40
    PATCH_CELL = 20

    def __post_init__(self) -> None:
        spec = self.spec
        self.cloud_grid = _noise_grid(spec, 1, self.CLOUD_CELL)
        self.ac_grid = _noise_grid(spec, 2, self.PATCH_CELL)
        self.oc4me_grid = _noise_grid(spec, 3, self.PATCH_CELL)
        self.ocnn_grid = _noise_grid(spec, 4, self.PATCH_CELL)
        self.cloud_level = self._cloud_level()
        rng = np.random.default_rng([spec.seed, 5])
        self.shore_phase = float(rng.uniform(0, 2 * np.pi))
        self.lakes = [
            (rng.uniform(-0.6, 0.3), rng.uniform(-0.6, 0.6), rng.uniform(0.08, 0.16),
             rng.uniform(0.7, 1.4), rng.uniform(0, 2 * np.pi), float(rng.integers(3, 6)))
            for _ in range(2)
        ]  # fmt: skip
        if self.water is not None:
            shapely.prepare(self.water)

    def _cloud_level(self) -> float:
        """Cloud-field level above which a pixel is CLOUD: its (1 - cloud_fraction) quantile."""
        cf = self.spec.cloud_fraction
        if cf <= 0.0:
            return np.inf
        rows, cols = np.arange(0, self.spec.rows, 4), np.arange(0, self.spec.columns, 4)
        return float(np.quantile(_sample(self.cloud_grid, self.CLOUD_CELL, rows, cols), 1.0 - cf))


def _dilate(mask: np.ndarray, n: int) -> np.ndarray:
    """Boolean dilation by a (2n + 1) x (2n + 1) square (no wrap-around at the edges)."""
    rows = mask.copy()
    for k in range(1, n + 1):
        rows[k:] |= mask[:-k]
        rows[:-k] |= mask[k:]
    out = rows.copy()
    for k in range(1, n + 1):
        out[:, k:] |= rows[:, :-k]
        out[:, :-k] |= rows[:, k:]
    return out


def _as_geometry(water) -> object | None:
    """A single shapely geometry (union) from a geometry, a list of them or None."""
    if water is None:
        return None
    if isinstance(water, shapely.Geometry):
        return water
    parts = list(water)
    return shapely.union_all(parts) if parts else None


@dataclass
class _Block:
    """Everything known about rows r0:r1 (arrays of shape (r1 - r0, columns))."""

    r0: int
    lon: np.ndarray
    lat: np.ndarray
    surface: np.ndarray  # uint8: 0 land, 1 sea (WATER), 2 inland (INLAND_WATER)
    cloud: np.ndarray
    ambiguous: np.ndarray
    margin: np.ndarray
    strength: np.ndarray  # 0..1 cloud optical strength
    invalid: np.ndarray
    ac_fail: np.ndarray
    fails: dict[str, np.ndarray]
    truth: _Truth

    @property
    def water(self) -> np.ndarray:
        """WATER or INLAND_WATER."""
        return self.surface > 0


def _block(spec: SceneSpec, feat: _Features, r0: int, r1: int, index: int) -> _Block:
    """Geometry, surface, clouds and failures of rows r0:r1."""
    g = _swath(spec)
    rows, cols = np.arange(r0, r1), np.arange(spec.columns)
    lon, lat = sw.lonlat(g, rows, cols)
    surface = _surface(spec, feat, rows, cols, lon, lat)
    water = surface > 0
    truth = _Truth(lon, lat)
    # CLOUD above a level of a smooth field; CLOUD_MARGIN the ring of MARGIN_PX pixels
    # around it, whose inner AMBIGUOUS_PX pixels are also CLOUD_AMBIGUOUS. Computed on the
    # block plus a halo so that rings continue across block boundaries.
    h0, h1 = max(r0 - MARGIN_PX, 0), min(r1 + MARGIN_PX, spec.rows)
    cf = _sample(feat.cloud_grid, feat.CLOUD_CELL, np.arange(h0, h1), cols)
    cloud_halo = cf >= feat.cloud_level
    inner = slice(r0 - h0, r0 - h0 + (r1 - r0))
    cloud = cloud_halo[inner]
    strength = np.clip((cf[inner] - feat.cloud_level) / 0.5, 0.0, 1.0) * cloud
    rng = np.random.default_rng([spec.seed, 100, index])
    noise = rng.random((6, r1 - r0, spec.columns), dtype=np.float32)
    # The atmospheric correction fails more often the more turbid the water (bright NIR
    # breaks its black-pixel assumption): AC_FAIL, and the RWNEG flags of the bands it
    # drives below zero, are common exactly where TSM is high.
    log_tsm = truth.log10_value("TSM_NN", scene_decimal_year(spec))
    turbid = noise[5] < np.clip((log_tsm - TURBID_LOG10_TSM) / 0.5, 0.0, 0.8)
    invalid = noise[0] < 2e-4
    segment_row = spec.rows // 3
    if r0 <= segment_row < r1:
        c0 = spec.columns // 4
        invalid[segment_row - r0, c0 : c0 + max(8, spec.columns // 50)] = True
    patches = {
        "ac": _sample(feat.ac_grid, feat.PATCH_CELL, rows, cols) > 2.0,
        "oc4me": _sample(feat.oc4me_grid, feat.PATCH_CELL, rows, cols) > 2.0,
        "ocnn": _sample(feat.ocnn_grid, feat.PATCH_CELL, rows, cols) > 2.2,
    }
    fails = {
        "OC4ME_FAIL": water & (patches["oc4me"] | (noise[1] < 0.01)),
        "OCNN_FAIL": water & (patches["ocnn"] | (noise[2] < 0.01)),
        "KDM_FAIL": water & (noise[3] < 0.005),
        "PAR_FAIL": water & (noise[4] < 0.003),
        "WV_FAIL": (noise[4] > 0.998),
    }
    if spec.baseline == "004":  # a stream of its own: 002/003 draws stay as they were
        lsd = np.random.default_rng([spec.seed, 101, index]).random((r1 - r0, spec.columns))
        fails["IOP_LSD_FAIL"] = water & (lsd < 0.01)
    return _Block(
        r0=r0, lon=lon, lat=lat, surface=surface, cloud=cloud,
        ambiguous=_dilate(cloud_halo, AMBIGUOUS_PX)[inner] & ~cloud,
        margin=_dilate(cloud_halo, MARGIN_PX)[inner] & ~cloud, strength=strength,
        invalid=invalid, ac_fail=water & (patches["ac"] | turbid), fails=fails, truth=truth,
    )  # fmt: skip


def _surface(
    spec: SceneSpec,
    feat: _Features,
    rows: np.ndarray,
    cols: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
) -> np.ndarray:
    """Surface class (uint8, (len(rows), len(cols))): 0 land, 1 sea, 2 inland water."""
    g = _swath(spec)
    x = sw.across_track_position(g, cols)
    y = (rows - g.middle_row) / max(g.middle_row, 1.0)
    shore = 0.7 + 0.08 * np.sin(2.0 * np.pi * 0.8 * y + feat.shore_phase)
    surface = np.where(x[None, :] > shore[:, None], 1, 0).astype(np.uint8)
    aspect = g.nadir_column / max(g.middle_row, 1.0)
    for cx, cy, ax, stretch, psi, lobes in feat.lakes:
        ay = ax * aspect * stretch
        ci = np.nonzero(np.abs(x - cx) < 1.3 * ax)[0]
        ri = np.nonzero(np.abs(y - cy) < 1.3 * ay)[0]
        if ci.size == 0 or ri.size == 0:
            continue
        dx = (x[ci] - cx)[None, :] / ax
        dy = (y[ri] - cy)[:, None] / ay
        radius = 1.0 + 0.2 * np.sin(lobes * np.arctan2(dy, dx) + psi)
        inside = dx * dx + dy * dy < radius * radius
        sub = surface[ri[:, None], ci[None, :]]
        surface[ri[:, None], ci[None, :]] = np.where(inside, 2, sub)
    if feat.water is not None:
        x0, y0, x1, y1 = shapely.bounds(feat.water)
        box = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
        if box.any():
            hit = shapely.contains_xy(feat.water, lon[box], lat[box])
            sub = surface[box]
            sub[hit] = 2
            surface[box] = sub
    return surface


@dataclass
class _Summary:
    """Pixel counts for the manifest's classification and quality summaries."""

    total: int = 0
    sea: int = 0
    inland: int = 0
    land: int = 0
    cloud: int = 0
    invalid: int = 0


def _count(summary: _Summary, blk: _Block) -> None:
    """Add a block's pixels to the summary."""
    summary.total += blk.surface.size
    summary.land += int(np.count_nonzero(blk.surface == 0))
    summary.sea += int(np.count_nonzero(blk.surface == 1))
    summary.inland += int(np.count_nonzero(blk.surface == 2))
    summary.cloud += int(np.count_nonzero(blk.cloud))
    summary.invalid += int(np.count_nonzero(blk.invalid))

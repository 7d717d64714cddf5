"""Integer storage of physical values: dtype, scale, offset and fill of each variable.

Every field is stored as an integer with scale, offset, valid range and fill (ESA's OLCI
Level-2 products description, sentinel.esa.int,
https://sentinel.esa.int/web/sentinel/technical-guides/sentinel-3-olci/level-2/products-description);
``scale_factor``/``add_offset`` are float32 attributes. Values of real files where known:
reflectances from sen3r's dumps of 2019 collection-002 files (github.com/hybam-dev/sen3r);
lat/lon, angles and IWV from ESA's EOPF mappings of real files (github.com/CSC-DPR/eopf-cpm);
the ``lg(re ...)`` units of the log10 products from satpy's ``olci_l2.yaml`` and SNAP
(s3tbx); the rest is the generator's choice:

=================  ======  =========  ==========  =====  ====================  ===========
variable           dtype   scale      offset      fill   units                 range
=================  ======  =========  ==========  =====  ====================  ===========
OaNN_reflectance   uint16  1.8311106e-05  -0.2    65535  (none)                -0.2..1.0
CHL_OC4ME, CHL_NN  uint8   0.015      -2.0        255    lg(re mg.m-3)         log -2..1.81
TSM_NN             uint8   0.02       -2.0        255    lg(re g.m-3)          log -2..3.08
ADG443_NN          uint8   0.015      -3.0        255    lg(re m-1)            log -3..0.81
KD490_M07          uint8   0.015      -2.0        255    lg(re m-1)            log -2..1.81
PAR                uint16  0.05       0           65535  µEinstein.m-2.s-1     0..3276.7
T865               uint16  1e-4       0           65535  (none)                0..6.5534
A865               uint16  1e-4       -1.0        65535  (none)                -1..5.5534
IWV                uint8   0.3        0           255    kg.m-2                0..76.2
chlor_a (004)      uint8   0.015      -2.0        255    lg(re mg.m-3)         log -2..1.81
ADG443_LSD (004)   uint8   0.015      -3.0        255    lg(re m-1)            log -3..0.81
FPH (004)          uint16  1e-4       -1.0        65535  mW.m-2.sr-1.nm-1      -1..5.5534
=================  ======  =========  ==========  =====  ====================  ===========

The ``_err`` variables: reflectance errors as the reflectances; log10 product errors are
uint8 0.005/0 in log10 units (units ``lg(re ...)`` like the product); PAR_err as PAR,
T865_err/A865_err uint16 1e-4/0, IWV_err uint8 0.1/0, FPH_err uint16 1e-4/0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class _Packing:
    """Integer storage of a physical value: raw = round((value - offset) / scale)."""

    dtype: str
    scale: float
    offset: float
    fill: int | None

    def pack(self, values: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """Pack float64 values (clipped to the valid raw range); fill where not ``valid``."""
        info = np.iinfo(self.dtype)
        lo = info.min + (1 if self.fill == info.min else 0)
        hi = info.max - (1 if self.fill == info.max else 0)
        tmp = np.subtract(values, self.offset)
        tmp /= self.scale
        np.rint(tmp, out=tmp)
        np.clip(tmp, lo, hi, out=tmp)
        raw = tmp.astype(self.dtype)
        if valid is not None:
            np.copyto(raw, self.dtype_fill, where=~valid)
        return raw

    @property
    def dtype_fill(self):
        """The fill value as a numpy scalar of the storage dtype."""
        return np.dtype(self.dtype).type(self.fill)

    def attrs(self) -> dict[str, object]:
        """scale_factor / add_offset attributes (float32, as in real files)."""
        out: dict[str, object] = {"scale_factor": np.float32(self.scale)}
        if self.offset != 0.0:
            out["add_offset"] = np.float32(self.offset)
        return out


def _p32(dtype: str, scale: float, offset: float, fill: int) -> _Packing:
    """A packing whose scale/offset are exactly the float32 values written to the file."""
    return _Packing(dtype, float(np.float32(scale)), float(np.float32(offset)), fill)


REFLECTANCE_PACKING = _p32("uint16", 1.8311106e-05, -0.2, 65535)
# raw values below this decode to a negative reflectance (raw * scale + offset < 0)
_REFLECTANCE_ZERO_RAW = int(np.ceil(-REFLECTANCE_PACKING.offset / REFLECTANCE_PACKING.scale))
_LOG10_PACKING = {
    "CHL_OC4ME": (_p32("uint8", 0.015, -2.0, 255), "lg(re mg.m-3)"),
    "CHL_NN": (_p32("uint8", 0.015, -2.0, 255), "lg(re mg.m-3)"),
    "TSM_NN": (_p32("uint8", 0.02, -2.0, 255), "lg(re g.m-3)"),
    "ADG443_NN": (_p32("uint8", 0.015, -3.0, 255), "lg(re m-1)"),
    "KD490_M07": (_p32("uint8", 0.015, -2.0, 255), "lg(re m-1)"),
    "chlor_a": (_p32("uint8", 0.015, -2.0, 255), "lg(re mg.m-3)"),
    "ADG443_LSD": (_p32("uint8", 0.015, -3.0, 255), "lg(re m-1)"),
}
_LOG10_ERR_PACKING = _p32("uint8", 0.005, 0.0, 255)
_LINEAR_PACKING = {
    "PAR": (
        _p32("uint16", 0.05, 0.0, 65535),
        _p32("uint16", 0.05, 0.0, 65535),
        "µEinstein.m-2.s-1",
    ),
    "T865": (_p32("uint16", 1e-4, 0.0, 65535), _p32("uint16", 1e-4, 0.0, 65535), None),
    "A865": (_p32("uint16", 1e-4, -1.0, 65535), _p32("uint16", 1e-4, 0.0, 65535), None),
    "IWV": (_p32("uint8", 0.3, 0.0, 255), _p32("uint8", 0.1, 0.0, 255), "kg.m-2"),
    "FPH": (
        _p32("uint16", 1e-4, -1.0, 65535),
        _p32("uint16", 1e-4, 0.0, 65535),
        "mW.m-2.sr-1.nm-1",
    ),
}
_LATLON = _Packing("int32", 1e-6, 0.0, -2147483648)
_ZENITH = _Packing("uint32", 1e-6, 0.0, 4294967295)
_AZIMUTH = _Packing("int32", 1e-6, 0.0, -2147483648)


def _pack_lon(lon: np.ndarray) -> np.ndarray:
    """int32 micro-degrees in [-180e6, 180e6): a value rounding to +180 deg wraps."""
    raw = np.rint(lon * 1e6)
    return np.where(raw >= 180_000_000, raw - 360_000_000, raw).astype(np.int32)


def _pack_lat(lat: np.ndarray) -> np.ndarray:
    """int32 micro-degrees."""
    return np.rint(lat * 1e6).astype(np.int32)

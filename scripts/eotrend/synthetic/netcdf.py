"""netCDF-4 files and variables as the real products have them: the global attributes,
deflated and chunked variables written raw, the attributes of packed variables.

The global attributes are the set, order and formats of real files (the attribute-only
netCDF copies of real products in stactools-packages/sentinel3, ``tests/data-files``;
sen3r's dumps of 2019 files, github.com/hybam-dev/sen3r). Chunk shapes and the deflate
level are the generator's choice: no public source gives the real ones.
"""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np

from eotrend.synthetic.packing import _Packing
from eotrend.synthetic.spec import (
    SceneSpec,
    _absolute_orbit,
    _creation,
    _iso_us,
    _start,
    _stop,
    product_name,
)
from eotrend.synthetic.wfr_format import _FILES, IPF_VERSION, TIE_STEP

BLOCK_ROWS = 64
"""Rows computed and written at a time; also the chunk height. Fixed: output depends on it."""
CHUNK_COLUMNS = 512
DEFLATE_LEVEL = 4
CHUNK_CACHE_BYTES = 1 << 20


def _global_attrs(spec: SceneSpec, title: str) -> dict[str, object]:
    """The global attributes of real files, in the order they list them."""
    created = _creation(spec).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "absolute_orbit_number": np.uint32(_absolute_orbit(spec)),
        "ac_subsampling_factor": np.uint16(TIE_STEP),
        "al_subsampling_factor": np.uint16(1),
        "comment": " ",
        "contact": "ops@eumetsat.int",
        "creation_time": created,
        "history": f"  {created}: PUGCoreProcessor JobOrder.synthetic.xml (eotrend "
                   f"synthetic OLCI generator, seed {spec.seed}, layout {spec.layout})",
        "institution": "MAR",
        "netCDF_version": "4.2 of Jul  5 2012 17:07:43 $",
        "product_name": product_name(spec),
        "references": "S3IPF PDS 004.3 - i2r3 - Product Data Format Specification - OLCI "
                      "Level 2 Marine, S3IPF PDS 002 - i1r7 - Product Data Format "
                      "Specification - Product Structures, S3IPF DPM 008 - OLCI Level 2 "
                      "Marine Detailed Processing Model",
        "resolution": "[ 270 294 ]",
        "source": f"IPF-OL-2 {IPF_VERSION[spec.baseline]}",
        "start_time": _iso_us(_start(spec)),
        "stop_time": _iso_us(_stop(spec)),
        "title": f"OLCI Level 2 WATER Product, {title} Data Set",
    }  # fmt: skip


def _open(folder: Path, name: str, spec: SceneSpec, dims: dict[str, int]) -> netCDF4.Dataset:
    """Create one netCDF-4 file with its dimensions and global attributes."""
    ds = netCDF4.Dataset(folder / name, "w", format="NETCDF4")
    ds.setncatts(_global_attrs(spec, _FILES[name].title))
    for dim, size in dims.items():
        ds.createDimension(dim, size)
    return ds


def _variable(
    ds: netCDF4.Dataset,
    name: str,
    dtype: str,
    dims: tuple[str, ...],
    fill: int | None,
    chunks: tuple[int, ...],
    attrs: dict[str, object],
) -> netCDF4.Variable:
    """Create a deflated, chunked variable written raw (no automatic mask/scale)."""
    var = ds.createVariable(
        name,
        dtype,
        dims,
        zlib=True,
        complevel=DEFLATE_LEVEL,
        shuffle=True,
        chunksizes=chunks,
        fill_value=False if fill is None else fill,
    )
    var.setncatts(attrs)
    var.set_auto_maskandscale(False)
    # Blocks cover whole chunks, which HDF5 then writes straight through; a big per-variable
    # cache would only hold ~60 variables' finished chunks in memory.
    var.set_var_chunk_cache(size=CHUNK_CACHE_BYTES, nelems=67, preemption=1.0)
    return var


def _packed_attrs(
    packing: _Packing, long_name: str, units: str | None, extra: dict[str, object] | None = None
) -> dict[str, object]:
    """Attributes of a packed variable: scale/offset, long_name, units, valid range."""
    kind = np.dtype(packing.dtype).type
    info = np.iinfo(packing.dtype)
    lo = info.min + (1 if packing.fill == info.min else 0)
    hi = info.max - (1 if packing.fill == info.max else 0)
    attrs: dict[str, object] = {**packing.attrs(), "long_name": long_name}
    if units is not None:
        attrs["units"] = units
    attrs.update({"valid_min": kind(lo), "valid_max": kind(hi)})
    attrs.update(extra or {})
    return attrs

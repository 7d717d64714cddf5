"""Chunk layouts of a product's netCDF files: rewrite a product with another chunking, and
the chunk floor of a scene (the compressed bytes of the chunks its pixels touch).

netCDF-4 files are HDF5 files whose variables are stored in chunks, each deflated on its
own (Unidata's netCDF-4 chunking and HDF5's chunked-storage documentation), so a reader of
a few pixels pays at least the compressed size of the chunks those pixels lie in: the
floor an object-store read can approach. The chunking of real OLCI products is not
documented, so the tests and the bench rewrite a synthetic product with several.

The floor is computed here from the file's own chunk index (h5py's
``DatasetID.get_chunk_info_by_coord``, HDF5's ``H5Dget_chunk_info_by_coord``), independently
of eotrend's reader.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

import h5py
import netCDF4
import numpy as np

IMAGE_DIMS = ("rows", "columns")
BLOCK_ROWS = 512


def rechunk(
    product: Path, dest_dir: Path, chunks: tuple[int, int] | None, files: Iterable[str] = ()
) -> Path:
    """A copy of ``product`` in ``dest_dir`` whose image variables (dims rows x columns) in
    ``files`` (all ``.nc`` files when empty) are stored in ``chunks`` (rows, columns), or in
    the netCDF library's default chunking when None; same values, attributes, fill values,
    deflate level and shuffle. The manifest's sizes and MD5s are those of the new files."""
    dest = Path(dest_dir) / product.name
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    names = set(files) or {p.name for p in product.glob("*.nc")}
    for path in sorted(product.iterdir()):
        if path.name in names:
            _rewrite(path, dest / path.name, chunks)
        else:
            shutil.copyfile(path, dest / path.name)
    _update_manifest(dest / "xfdumanifest.xml", [dest / n for n in sorted(names)])
    return dest


def _rewrite(src: Path, dst: Path, chunks: tuple[int, int] | None) -> None:
    with netCDF4.Dataset(src) as old, netCDF4.Dataset(dst, "w", format="NETCDF4") as new:
        new.setncatts({k: old.getncattr(k) for k in old.ncattrs()})
        for name, dim in old.dimensions.items():
            new.createDimension(name, None if dim.isunlimited() else len(dim))
        for name, var in old.variables.items():
            var.set_auto_maskandscale(False)
            filters = var.filters() or {}
            image = var.dimensions == IMAGE_DIMS
            fill = var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else False
            kwargs = {}
            if image and chunks is not None:
                kwargs["chunksizes"] = tuple(
                    min(c, n) for c, n in zip(chunks, var.shape, strict=True)
                )
            elif not image and var.chunking() != "contiguous":
                kwargs["chunksizes"] = tuple(var.chunking())
            out = new.createVariable(
                name,
                var.dtype,
                var.dimensions,
                zlib=bool(filters.get("zlib")),
                complevel=filters.get("complevel", 4),
                shuffle=bool(filters.get("shuffle")),
                fill_value=fill,
                **kwargs,
            )
            out.setncatts({k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"})
            out.set_auto_maskandscale(False)
            if var.ndim == 2:
                for row in range(0, var.shape[0], BLOCK_ROWS):
                    out[row : row + BLOCK_ROWS] = var[row : row + BLOCK_ROWS]
            else:
                out[...] = var[...]


def _update_manifest(manifest: Path, paths: list[Path]) -> None:
    """Set each file's size and MD5 in the manifest's byteStream entries."""
    text = manifest.read_text(encoding="utf-8")
    for path in paths:
        data = path.read_bytes()
        pattern = re.compile(
            r'(<byteStream[^>]*size=")\d+("[^>]*>\s*<fileLocation[^>]*href="\./'
            + re.escape(path.name)
            + r'"/>\s*<checksum checksumName="MD5">)[0-9a-f]+(</checksum>)'
        )
        text, count = pattern.subn(
            lambda m, d=data: f"{m[1]}{len(d)}{m[2]}{hashlib.md5(d).hexdigest()}{m[3]}", text
        )
        assert count == 1, f"{path.name} is not listed once in {manifest}"
    manifest.write_text(text, encoding="utf-8")


def chunk_shape(path: Path, variable: str) -> tuple[int, ...] | None:
    """The chunk shape of a variable (None: contiguous), from the file's HDF5 layout."""
    with h5py.File(path, "r") as f:
        return f[variable].chunks


def chunks_touched(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray) -> set:
    """The chunk indices (chunk row, chunk column) of chunk ``shape`` holding the pixels."""
    return set(
        zip(
            (np.asarray(rows) // shape[0]).tolist(),
            (np.asarray(cols) // shape[1]).tolist(),
            strict=True,
        )
    )


def floor_bytes(path: Path, variable: str, rows=None, cols=None) -> int:
    """The compressed bytes of the chunks of ``variable`` in ``path`` holding the pixels
    (``rows``, ``cols``; every chunk when None), from the file's chunk index."""
    with h5py.File(path, "r") as f:
        dsid = f[variable].id
        shape = f[variable].chunks
        if shape is None:
            return dsid.get_storage_size()
        if rows is None:
            return sum(dsid.get_chunk_info(i).size for i in range(dsid.get_num_chunks()))
        return sum(
            dsid.get_chunk_info_by_coord((r * shape[0], c * shape[1])).size
            for r, c in chunks_touched(shape, rows, cols)
        )


def scene_floor(
    product: Path, reads: Mapping[str, Iterable[str]], rows: np.ndarray, cols: np.ndarray
) -> dict[str, int]:
    """Per file, the compressed bytes of the chunks a scene must read at least: for
    ``tie_geo_coordinates.nc`` its whole longitude and latitude (the tie-point grid), for
    every other file in ``reads`` (file name -> variables) the chunks holding the pixels."""
    floor = {"tie_geo_coordinates.nc": sum(
        floor_bytes(product / "tie_geo_coordinates.nc", v) for v in ("longitude", "latitude")
    )}  # fmt: skip
    for name, variables in reads.items():
        floor[name] = sum(floor_bytes(product / name, v, rows, cols) for v in variables)
    return floor


def chunk_extents(path: Path) -> tuple[set[int], set[int]]:
    """(starts, ends): the byte offsets where the chunks of every chunked variable of a
    netCDF-4 file begin and end (end = offset + compressed size), from its chunk index."""
    starts, ends = set(), set()

    def visit(name, item):
        if isinstance(item, h5py.Dataset) and item.chunks is not None:
            dsid = item.id
            for index in range(dsid.get_num_chunks()):
                info = dsid.get_chunk_info(index)
                starts.add(info.byte_offset)
                ends.add(info.byte_offset + info.size)

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return starts, ends

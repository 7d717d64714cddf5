"""Synthetic Sentinel-3 OLCI Level-2 WFR products with a known truth.

:func:`write_product` writes a ``.SEN3`` folder (and optionally its stored zip) that
follows real WFR products: the name of ESA's naming convention
(:mod:`eotrend.synthetic.spec`); their file sets, sampling and WQSF tables in their exact
attribute order (:mod:`eotrend.synthetic.wfr_format`); their dimensions, global attributes
and variables (:mod:`eotrend.synthetic.netcdf`, :mod:`eotrend.synthetic.images`), tie-point
grids (:mod:`eotrend.synthetic.tie_files`), packing and log10 products
(:mod:`eotrend.synthetic.packing`); and the manifest with real sizes and MD5s
(:mod:`eotrend.synthetic.xfdu`). Each module names its public sources. The same
:class:`eotrend.synthetic.spec.SceneSpec` and arguments always give byte-identical files.

What the pixels hold: the geometry of :mod:`eotrend.synthetic.geometry`; the surface,
clouds and failures of :mod:`eotrend.synthetic.surface`; the values of
:mod:`eotrend.synthetic.pixel_values` (the truth of :mod:`eotrend.synthetic.fields`,
corrupted under clouds and in failures).

Collection 4 (``baseline="004"``, IPF-OL-2 08.00; the real 004 manifest in
stactools-packages/sentinel3): the file set of the real 004 manifest
(:func:`eotrend.synthetic.wfr_format.baseline_files`): no ``chl_oc4me.nc``; ``chlor_a.nc``
("OC4Me algorithm Chlorophyll concentration"), ``fluorescence.nc`` ("Fluorescence Peak
Height") and ``iop_lsd.nc`` (a second IOP set) instead, with the manifest's data object IDs
(``chlor_aData``, ``fluoData``, ``iopLsdData``) and texts, and the manifest's
``processingBaseline`` OL__L2M.004.00.00, and the WQSF table of a real Collection 4
product (``layout="collection4"``, :data:`eotrend.synthetic.wfr_format.WQSF_LAYOUTS`:
CHLOR_A_FAIL and KD_FAIL where older tables have OC4ME_FAIL and KDM_FAIL; BRDF_OOR and
CLOUD_SHADOW, which the generator never sets); another table with baseline 004, or that
one with another baseline, is refused. The variables inside the three new files are the
generator's choice (no real file seen: the 004 netCDF files in stactools-packages/sentinel3
are copies of other files), which readers must find by name like any other. SNAP's
description of a real Collection 4 product (github.com/senbox-org/optical-toolbox,
``opttbx-sentinel3-reader/src/test/resources/eu/esa/opt/dataio/s3/S3B_OL_2_WFR____20221216T131616.json``)
confirms ``chlor_a`` and ``FPH`` as variable names (which file holds each is not said) but
names the error estimates ``_unc``, has ``kd_490`` and no ``KD490_M07``, and IOP variables
``acdm_443``, ``aphy_443``, ``bbp_443`` ... instead of the generator's ``ADG443_LSD``:

* chlor_a.nc: ``chlor_a`` (+ ``chlor_a_err``), log10 packed like CHL_OC4ME, with the
  CHL_OC4ME truth model (the same OC4Me algorithm) and its failures (CHLOR_A_FAIL);
* fluorescence.nc: ``FPH`` (+ ``FPH_err``), linear fluorescence peak height
  (mW.m-2.sr-1.nm-1: 0.13-0.37 + 0.003 (t - 2020)), valid on every clear water pixel;
* iop_lsd.nc: ``ADG443_LSD`` (+ ``ADG443_LSD_err``), log10 packed like ADG443_NN, with the
  ADG443_NN truth model; fill (and IOP_LSD_FAIL set) on about 1 % of the water pixels.

File titles of the new files are the generator's choice too (the real 004 stubs in
stactools-packages/sentinel3 carry wrong titles); so is ``trsp.nc`` keeping ``KD490_M07``
(failures: KD_FAIL) in 004 products. Products of baselines 002 and 003 are byte-identical
to those of the generator before Collection 4 existed in it.

Not generated (documented deviations): ``tie_meteo.nc`` and ``instrument_data.nc`` (their
dims and variables are partly unverified); a baseline other than 002/003/004 is refused.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from eotrend.core.atomic import atomic_path
from eotrend.synthetic.images import _write_images
from eotrend.synthetic.spec import SceneSpec, _creation, product_name
from eotrend.synthetic.surface import _as_geometry
from eotrend.synthetic.tie_files import _write_tie_geo, _write_tie_geometries, _write_time
from eotrend.synthetic.wfr_format import baseline_files
from eotrend.synthetic.xfdu import MANIFEST, _manifest_xml, _md5

ALWAYS_WRITTEN: frozenset[str] = frozenset({"geo_coordinates.nc", "tie_geo_coordinates.nc"})
"""Files written whatever ``files`` says (plus ``xfdumanifest.xml``)."""


def _resolve_files(files: Iterable[str] | None, baseline: str) -> frozenset[str]:
    """The netCDF files to write: the baseline's default set, or ``files`` plus the
    mandatory ones (ValueError for a file the baseline does not have)."""
    known = baseline_files(baseline)
    if files is None:
        return frozenset(known)
    if isinstance(files, str):
        raise TypeError("files must be an iterable of file names, not a single string")
    wanted = set(files) - {MANIFEST}
    unknown = sorted(wanted - set(known))
    if unknown:
        raise ValueError(
            f"cannot generate {unknown} for baseline {baseline}; known files: {list(known)}"
        )
    return frozenset(wanted | ALWAYS_WRITTEN)


def _write_folder(
    spec: SceneSpec, folder: Path, files: frozenset[str], water: object | None
) -> None:
    """Write every file of the product into the (new, empty) ``folder``."""
    tie_lat, tie_lon, summary = _write_images(spec, folder, files, water)
    _write_tie_geo(spec, folder, tie_lat, tie_lon)
    if "tie_geometries.nc" in files:
        _write_tie_geometries(spec, folder)
    if "time_coordinates.nc" in files:
        _write_time(spec, folder)
    entries = [
        (f, (folder / f).stat().st_size, _md5(folder / f))
        for f in baseline_files(spec.baseline)
        if f in files
    ]
    (folder / MANIFEST).write_text(_manifest_xml(spec, entries, summary), encoding="utf-8")


def _write_zip(folder: Path, zip_path: Path, when: datetime) -> None:
    """Stored (uncompressed) zip of ``folder`` under one top-level ``<folder name>/``."""
    stamp = (max(when.year, 1980), when.month, when.day, when.hour, when.minute, when.second)
    root = folder.name
    with atomic_path(zip_path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        info = zipfile.ZipInfo(f"{root}/", date_time=stamp)
        info.external_attr = (0o40755 << 16) | 0x10
        zf.writestr(info, b"")
        for path in sorted(folder.iterdir(), key=lambda p: p.name):
            info = zipfile.ZipInfo(f"{root}/{path.name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o100644 << 16
            with open(path, "rb") as src, zf.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def write_product(
    spec: SceneSpec,
    dest_dir: str | os.PathLike[str],
    *,
    water=None,
    files: Iterable[str] | None = None,
    zip: bool = False,
) -> Path:
    """Write ``<dest_dir>/<product_name(spec)>`` (a ``.SEN3`` folder); return its path.

    Args:
        spec: the scene.
        dest_dir: folder to write into (created if missing).
        water: None, or a shapely (Multi)Polygon or a list of them in lon/lat (EPSG:4326):
            pixels whose centre lies inside are INLAND_WATER (procedural lakes and a sea
            strip are always drawn too).
        files: None for the baseline's file set (:func:`baseline_files`), or the netCDF
            file names to write (of that set); geo_coordinates.nc, tie_geo_coordinates.nc
            and xfdumanifest.xml always are.
        zip: also write ``<dest_dir>/<name>.zip`` (stored, single top-level ``<name>/``)
            and return its path instead.

    The folder is written under a temporary name next to the destination and renamed when
    complete; an existing product of the same name is replaced. Output bytes depend only
    on the arguments.
    """
    names = _resolve_files(files, spec.baseline)
    geometry = _as_geometry(water)
    name = product_name(spec)
    final = Path(dest_dir) / name
    with atomic_path(final) as tmp:
        tmp.mkdir()
        _write_folder(spec, tmp, names, geometry)
        old = None
        if final.exists():
            old = final.with_name(f".{name}.replaced-{os.getpid()}")
            os.replace(final, old)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    if zip:
        zip_path = final.with_name(name + ".zip")
        _write_zip(final, zip_path, _creation(spec))
        return zip_path
    return final

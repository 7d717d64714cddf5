"""The image files (dims ``rows`` x ``columns``): reflectances, water products, geo
coordinates and WQSF, computed and written in one pass over blocks of rows with every
requested file open.
"""

from __future__ import annotations

from pathlib import Path

import netCDF4
import numpy as np

from eotrend.synthetic.netcdf import (
    BLOCK_ROWS,
    CHUNK_COLUMNS,
    _open,
    _packed_attrs,
    _variable,
)
from eotrend.synthetic.packing import (
    _LATLON,
    _LINEAR_PACKING,
    _LOG10_ERR_PACKING,
    _LOG10_PACKING,
    _REFLECTANCE_ZERO_RAW,
    REFLECTANCE_PACKING,
    _pack_lat,
    _pack_lon,
)
from eotrend.synthetic.pixel_values import _BlockValues, _error_of
from eotrend.synthetic.spec import SceneSpec, scene_decimal_year
from eotrend.synthetic.surface import _Block, _block, _count, _Features, _Summary
from eotrend.synthetic.wfr_format import _RWNEG, BANDS, LAYOUT_NAMES, TIE_STEP, WQSF_LAYOUTS

_LONG_NAMES = {
    "CHL_OC4ME": "Chlorophyll-a concentration (OC4Me algorithm), log10 scaled",
    "CHL_NN": "Chlorophyll-a concentration (Neural Net), log10 scaled",
    "TSM_NN": "Total suspended matter concentration (Neural Net), log10 scaled",
    "ADG443_NN": "CDOM + detritus absorption at 443 nm (Neural Net), log10 scaled",
    "KD490_M07": "Diffuse attenuation coefficient at 490 nm (Morel 2007), log10 scaled",
    "PAR": "Photosynthetically Active Radiation",
    "T865": "Aerosol optical thickness at 865 nm",
    "A865": "Aerosol Angstrom exponent at 865 nm",
    "IWV": "Integrated water vapour column",
    "chlor_a": "Chlorophyll-a concentration (OC4Me algorithm), log10 scaled",
    "ADG443_LSD": "CDOM + detritus absorption at 443 nm (LSD), log10 scaled",
    "FPH": "Fluorescence peak height",
}
_PRODUCT_FILES = {
    "chl_oc4me.nc": ("CHL_OC4ME",), "chl_nn.nc": ("CHL_NN",), "tsm_nn.nc": ("TSM_NN",),
    "iop_nn.nc": ("ADG443_NN",), "trsp.nc": ("KD490_M07",), "par.nc": ("PAR",),
    "w_aer.nc": ("T865", "A865"), "iwv.nc": ("IWV",),
    "chlor_a.nc": ("chlor_a",), "fluorescence.nc": ("FPH",), "iop_lsd.nc": ("ADG443_LSD",),
}  # fmt: skip


class _ImageWriter:
    """Open image files (dims rows x columns) and write them block by block."""

    def __init__(self, spec: SceneSpec, folder: Path, files: frozenset[str]) -> None:
        self.spec, self.folder, self.files = spec, folder, files
        self.chunks = (min(BLOCK_ROWS, spec.rows), min(CHUNK_COLUMNS, spec.columns))
        self.datasets: dict[str, netCDF4.Dataset] = {}
        self.vars: dict[str, netCDF4.Variable] = {}
        dims = {"columns": spec.columns, "rows": spec.rows}
        for name in sorted(files):
            if name in ("tie_geo_coordinates.nc", "tie_geometries.nc", "time_coordinates.nc"):
                continue
            self.datasets[name] = ds = _open(folder, name, spec, dims)
            self._define(name, ds)

    def _image(self, ds, name, packing, long_name, units, extra=None) -> None:
        """Define one (rows, columns) packed variable."""
        self.vars[name] = _variable(
            ds,
            name,
            packing.dtype,
            ("rows", "columns"),
            packing.fill,
            self.chunks,
            _packed_attrs(packing, long_name, units, extra),
        )

    def _define(self, name: str, ds: netCDF4.Dataset) -> None:
        """Define the variables of file ``name``."""
        if name == "geo_coordinates.nc":
            self._define_geo(ds)
        elif name == "wqsf.nc":
            self._define_wqsf(ds)
        elif name.endswith("_reflectance.nc"):
            band = name[:4]
            var = f"{band}_reflectance"
            std = (
                "surface_ratio_of_upwelling_radiance_emerging_from_sea_water_to_"
                "downwelling_radiative_flux_in_air"
            )
            self._image(
                ds,
                var,
                REFLECTANCE_PACKING,
                f"Reflectance for OLCI acquisition band {band}",
                None,
                {"standard_name": std, "ancillary_variables": f"{var}_err"},
            )
            self._image(
                ds,
                f"{var}_err",
                REFLECTANCE_PACKING,
                f"Error estimates for reflectance for OLCI acquisition band {band}",
                None,
            )
        else:
            for var in _PRODUCT_FILES[name]:
                if var in _LOG10_PACKING:
                    packing, units = _LOG10_PACKING[var]
                    err_packing, err_units = _LOG10_ERR_PACKING, units
                else:
                    packing, err_packing, units = _LINEAR_PACKING[var]
                    err_units = units
                self._image(
                    ds, var, packing, _LONG_NAMES[var], units, {"ancillary_variables": f"{var}_err"}
                )
                self._image(
                    ds,
                    f"{var}_err",
                    err_packing,
                    f"Error estimates for {_LONG_NAMES[var]}",
                    err_units,
                )

    def _define_geo(self, ds: netCDF4.Dataset) -> None:
        """latitude, longitude (int32 1e-6) and altitude (int16) as in real files
        (:mod:`eotrend.synthetic.packing`)."""
        for var, long_name, std, units, limit in (
            ("latitude", "DEM corrected latitude", "latitude", "degrees_north", 90_000_000),
            ("longitude", "DEM corrected longitude", "longitude", "degrees_east", 180_000_000),
        ):
            self.vars[var] = _variable(
                ds, var, "int32", ("rows", "columns"), _LATLON.fill, self.chunks,
                {"scale_factor": 1e-6, "long_name": long_name, "standard_name": std,
                 "units": units, "valid_min": np.int32(-limit), "valid_max": np.int32(limit)},
            )  # fmt: skip
        self.vars["altitude"] = _variable(
            ds, "altitude", "int16", ("rows", "columns"), -32768, self.chunks,
            {"long_name": "DEM corrected altitude", "standard_name": "altitude", "units": "m",
             "valid_min": np.int16(-1000), "valid_max": np.int16(9000)},
        )  # fmt: skip

    def _define_wqsf(self, ds: netCDF4.Dataset) -> None:
        """WQSF uint64, flag_masks/flag_meanings in the layout's file order, no fill."""
        layout = WQSF_LAYOUTS[self.spec.layout]
        self.vars["WQSF"] = _variable(
            ds, "WQSF", "uint64", ("rows", "columns"), None, self.chunks,
            {"long_name": "Classification, quality and science flags for Water pixels",
             "flag_masks": np.array([1 << bit for _, bit in layout], dtype=np.uint64),
             "flag_meanings": " ".join(n for n, _ in layout)},
        )  # fmt: skip

    def wants(self, var: str) -> bool:
        """Whether variable ``var`` is being written."""
        return var in self.vars

    def write(self, var: str, r0: int, raw: np.ndarray) -> None:
        """Write a block of raw values starting at row ``r0``."""
        self.vars[var][r0 : r0 + raw.shape[0], :] = raw

    def close(self) -> None:
        """Close every file (flushes the data)."""
        for ds in self.datasets.values():
            ds.close()


class _FlagSet:
    """WQSF of one block, built with the layout's masks."""

    def __init__(self, layout: str, shape: tuple[int, int]) -> None:
        self.mask = {n: np.uint64(1 << b) for n, b in WQSF_LAYOUTS[layout]}
        self.names = LAYOUT_NAMES[layout]
        self.bits = np.zeros(shape, dtype=np.uint64)

    def set(self, name: str, where: np.ndarray) -> None:
        """OR flag ``name`` (its classic name: the layout's own name for it is used, and
        nothing is set when the layout has no such flag) into the pixels where ``where``
        is true."""
        name = self.names.get(name, name)
        if name is not None:
            np.bitwise_or(self.bits, self.mask[name], out=self.bits, where=where)


def _write_block(
    spec: SceneSpec, out: _ImageWriter, blk: _Block, t: float, flags_wanted: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Compute and write every requested image variable of one block.

    Returns the packed (lat, lon) int32 block (the tie grid takes its columns 64 j).
    """
    lat_raw, lon_raw = _pack_lat(blk.lat), _pack_lon(blk.lon)
    values = _BlockValues(blk, t, spec)
    if out.wants("latitude"):
        out.write("latitude", blk.r0, lat_raw)
        out.write("longitude", blk.r0, lon_raw)
        alt = np.where(blk.surface == 1, 0.0, 250.0 + 200.0 * values.truth.field("alt"))
        out.write("altitude", blk.r0, np.rint(alt).astype(np.int16))
    flags = _FlagSet(spec.layout, blk.lon.shape) if flags_wanted else None
    _write_reflectances(out, values, flags)
    _write_log10_products(out, values)
    _write_linear_products(out, values, flags)
    if flags is not None:
        _surface_flags(flags, blk, values, t)
        out.write("WQSF", blk.r0, flags.bits)
    return lat_raw, lon_raw


def _write_reflectances(out: _ImageWriter, values: _BlockValues, flags: _FlagSet | None) -> None:
    """The 16 OaNN_reflectance (+ _err) blocks, and the RWNEG flags of the packed values."""
    for i, band in enumerate(BANDS):
        var = f"{band}_reflectance"
        if not (out.wants(var) or flags is not None):
            continue
        rho = values.reflectance(i)
        rho_raw = REFLECTANCE_PACKING.pack(rho, values.valid)
        if flags is not None:  # negative as stored (fill 65535 is never below zero_raw)
            flags.set(_RWNEG[i][0], rho_raw < _REFLECTANCE_ZERO_RAW)
        if out.wants(var):
            out.write(var, values.blk.r0, rho_raw)
            err = _error_of(var, rho, values)
            out.write(f"{var}_err", values.blk.r0, REFLECTANCE_PACKING.pack(err, values.valid))


def _write_log10_products(out: _ImageWriter, values: _BlockValues) -> None:
    """The log10 products (CHL_OC4ME, CHL_NN, TSM_NN, ADG443_NN, KD490_M07; chlor_a,
    ADG443_LSD) (+ _err) blocks, packed as log10."""
    for name, (packing, _) in _LOG10_PACKING.items():
        if out.wants(name):
            log_value = values.log10(name)
            valid = values.valid_of(name)
            out.write(name, values.blk.r0, packing.pack(log_value, valid))
            err = _error_of(name, log_value, values)
            out.write(f"{name}_err", values.blk.r0, _LOG10_ERR_PACKING.pack(err, valid))


def _write_linear_products(out: _ImageWriter, values: _BlockValues, flags: _FlagSet | None) -> None:
    """PAR, T865, A865, IWV, FPH (+ _err) blocks; ANNOT_TAU06 / ANNOT_ANGSTROM from the
    aerosol."""
    for name, (packing, err_packing, _) in _LINEAR_PACKING.items():
        aerosol_flags = flags is not None and name in ("T865", "A865")
        if not (out.wants(name) or aerosol_flags):
            continue
        value = values.linear(name)
        valid = values.valid_of(name)
        if flags is not None and aerosol_flags:
            flag = "ANNOT_TAU06" if name == "T865" else "ANNOT_ANGSTROM"
            hit = value > 0.6 if name == "T865" else value < 0.7
            flags.set(flag, valid & hit)
        if out.wants(name):
            out.write(name, values.blk.r0, packing.pack(value, valid))
            err = _error_of(name, value, values)
            out.write(f"{name}_err", values.blk.r0, err_packing.pack(err, valid))


def _surface_flags(flags: _FlagSet, blk: _Block, values: _BlockValues, t: float) -> None:
    """Classification, cloud, failure and annotation flags of one block."""
    flags.set("INVALID", blk.invalid)
    flags.set("LAND", blk.surface == 0)
    flags.set("WATER", blk.surface == 1)
    flags.set("INLAND_WATER", blk.surface == 2)
    flags.set("CLOUD", blk.cloud)
    flags.set("CLOUD_AMBIGUOUS", blk.ambiguous)
    flags.set("CLOUD_MARGIN", blk.margin)
    flags.set("HISOLZEN", values.truth.cos_sza(t) < np.cos(np.radians(70.0)))
    flags.set("AC_FAIL", blk.ac_fail)
    flags.set("ANNOT_ABSO_D", blk.ac_fail)
    for name, where in blk.fails.items():
        flags.set(name, where)


def _write_images(
    spec: SceneSpec, folder: Path, files: frozenset[str], water: object | None
) -> tuple[np.ndarray, np.ndarray, _Summary]:
    """Write every requested (rows, columns) file; return the packed tie lat/lon grids."""
    feat = _Features(spec, water)
    out = _ImageWriter(spec, folder, files)
    t = scene_decimal_year(spec)
    n_tie = (spec.columns - 1) // TIE_STEP + 1
    tie_lat = np.empty((spec.rows, n_tie), np.int32)
    tie_lon = np.empty((spec.rows, n_tie), np.int32)
    summary = _Summary()
    try:
        for index, r0 in enumerate(range(0, spec.rows, BLOCK_ROWS)):
            r1 = min(spec.rows, r0 + BLOCK_ROWS)
            blk = _block(spec, feat, r0, r1, index)
            lat_raw, lon_raw = _write_block(spec, out, blk, t, "wqsf.nc" in files)
            tie_lat[r0:r1], tie_lon[r0:r1] = lat_raw[:, ::TIE_STEP], lon_raw[:, ::TIE_STEP]
            _count(summary, blk)
    finally:
        out.close()
    return tie_lat, tie_lon, summary

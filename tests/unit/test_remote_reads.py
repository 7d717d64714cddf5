"""Reading a product's netCDF files from the object store gives what netCDF4 gives on disk.

The fact: OLCI L2 files are netCDF-4 (deflated, chunked HDF5; ESA's OLCI Level-2 data
formats page) whose readers need the stored values never cast (WQSF is uint64) and the
attributes as stored (``flag_masks`` uint64, ``_FillValue``, ``scale_factor``,
``valid_min``/``max``, ``units``). The oracle: netCDF4 on the same bytes on disk. The
store is a real S3 server on loopback (moto, tests/support/local_s3.py); the remote side is
h5netcdf over s3fs (eotrend.sentinel3.remote.open_dataset).
"""

from __future__ import annotations

from datetime import UTC, datetime

import netCDF4
import numpy as np
import pytest

from eotrend.sentinel3 import remote
from eotrend.synthetic.product import write_product
from eotrend.synthetic.spec import SceneSpec
from support.local_s3 import LocalS3

KEY = "Sentinel-3/OLCI/OL_2_WFR___/2020/06/01"


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """(local product folder, remote product folder with only the manifest and marker)."""
    spec = SceneSpec(-60.9, -3.4, datetime(2020, 6, 1, 13, 50, tzinfo=UTC), rows=130, columns=129)
    local = write_product(spec, tmp_path_factory.mktemp("local"))
    with LocalS3() as s3:
        s3.upload_folder(local, f"{KEY}/{local.name}")
        folder = tmp_path_factory.mktemp("remote") / local.name
        folder.mkdir()
        (folder / remote.MANIFEST).write_bytes((local / remote.MANIFEST).read_bytes())
        record = remote.RemoteProduct(s3.endpoint, s3.bucket, f"{KEY}/{local.name}")
        remote.write_marker(folder, record)
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("CDSE_S3_ACCESS_KEY", s3.access)
            patch.setenv("CDSE_S3_SECRET_KEY", s3.secret)
            yield local, folder


def _attributes(var) -> dict[str, np.ndarray]:
    return {name: np.asarray(var.getncattr(name)) for name in var.ncattrs()}


def test_every_variable_of_every_file_reads_as_netcdf4_reads_it(stored):
    local, folder = stored
    files = remote.netcdf_files(folder)
    assert [p.name for p in files] == sorted(p.name for p in local.glob("*.nc"))
    for path in files:
        with netCDF4.Dataset(local / path.name) as disk, remote.open_dataset(path) as ds:
            assert list(ds.variables) == list(disk.variables), path.name
            for name, want in disk.variables.items():
                want.set_auto_maskandscale(False)
                got = ds[name]
                got_attrs, want_attrs = _attributes(got), _attributes(want)
                assert got_attrs.keys() == want_attrs.keys(), f"{path.name}:{name}"
                for attr, value in want_attrs.items():
                    assert got_attrs[attr].dtype == value.dtype, f"{path.name}:{name}.{attr}"
                    np.testing.assert_array_equal(got_attrs[attr], value)
                assert got.dtype == want.dtype, f"{path.name}:{name}"
                np.testing.assert_array_equal(np.asarray(got[:]), want[:])


def test_a_window_reads_only_part_of_a_file(stored):
    """A 10 x 10 window of WQSF: the values netCDF4 reads, for fewer bytes than the file."""
    local, folder = stored
    before = remote.STATS["bytes"]
    with remote.open_dataset(folder / "wqsf.nc") as ds:
        got = np.asarray(ds["WQSF"][60:70, 50:60])
    with netCDF4.Dataset(local / "wqsf.nc") as disk:
        var = disk["WQSF"]
        var.set_auto_maskandscale(False)
        np.testing.assert_array_equal(got, var[60:70, 50:60])
        assert got.dtype == np.uint64
    assert 0 < remote.STATS["bytes"] - before <= (local / "wqsf.nc").stat().st_size

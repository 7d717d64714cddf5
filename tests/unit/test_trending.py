"""The trend stage on small stacks written by the tests: every output band against the
per-pixel oracles (scipy.stats.linregress, theilslopes, a direct Mann-Kendall test),
identical files for any worker count and block size, the file's metadata, errors."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from osgeo import gdal, osr

from eotrend import __version__
from eotrend.core.errors import InputError
from eotrend.geo import raster
from eotrend.stages import trend as trending
from eotrend.stats import pixelwise, regression
from support.oracles import linregress_per_pixel, robust_per_pixel

gdal.UseExceptions()

TRANSFORM = (500000.0, 30.0, 0.0, 9600000.0, 0.0, -30.0)
NAMES = regression.STAT_NAMES + regression.ROBUST_NAMES


def utm20s() -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32720)
    return srs.ExportToWkt()


def moments_of(n: int) -> list[datetime]:
    """Yearly dates, one a leap day, one at noon: decimal years that are not whole."""
    out = [datetime(1995 + i, 7, 2, tzinfo=UTC) for i in range(n)]
    out[1] = datetime(1996, 2, 29, 12, tzinfo=UTC)
    return out


def random_stack(n: int = 21, height: int = 37, width: int = 45, seed: int = 0) -> np.ndarray:
    """A trend plus noise, 10 % NaN, quantised in part (ties), and edge pixels: all NaN,
    exactly 3 (min_obs) valid values, 2 valid values, a constant series."""
    rng = np.random.default_rng(seed)
    years = np.arange(n)[:, None, None]
    data = (
        0.5 + rng.normal(0, 0.01, (height, width)) * years + rng.normal(0, 0.02, (n, height, width))
    )
    data[:, :, : width // 3] = np.round(data[:, :, : width // 3], 2)
    data[rng.random(data.shape) < 0.1] = np.nan
    data[:, 0, 0] = np.nan
    data[:, 0, 1] = np.nan
    data[[0, n // 2, n - 1], 0, 1] = [0.3, 0.5, 0.4]
    data[:, 0, 2] = np.nan
    data[[1, 2], 0, 2] = [0.3, 0.5]
    data[:, 0, 3] = 0.25
    return data.astype(np.float32)


def write_stack(path: Path, data: np.ndarray, moments: list[datetime] | None = None) -> Path:
    """A stack as the stack stage writes it (dated bands), with 16 x 16 tiles so that a
    small stack has many tiles."""
    moments = moments_of(data.shape[0]) if moments is None else moments
    raster.write_geotiff(
        path,
        data,
        transform=TRANSFORM,
        crs_wkt=utm20s(),
        nodata=float("nan"),
        descriptions=[m.date().isoformat() for m in moments],
        band_metadata=[{"DATE": m.isoformat()} for m in moments],
        block=16,
    )
    return path


def read_all(path: Path) -> np.ndarray:
    return raster.read_rows(path, 0, raster.read_info(path).height)


def assert_bands_match_oracles(got: np.ndarray, t: np.ndarray, data: np.ndarray, robust: bool):
    """Each band equals the oracle's value rounded to float32 (within the oracle's 1e-9
    plus one float32 rounding), pixel by pixel."""
    n = data.shape[0]
    y = data.reshape(n, -1).astype(np.float64)
    want = linregress_per_pixel(t, y, 3)
    if robust:
        want |= robust_per_pixel(t, y, 3)
    for i, name in enumerate(NAMES[: got.shape[0]]):
        band = got[i].ravel().astype(np.float64)
        np.testing.assert_array_equal(np.isnan(band), np.isnan(want[name]), err_msg=name)
        ok = ~np.isnan(band)
        # float32 keeps 24 bits: 6e-8 relative, and slope near 0 to its natural scale.
        scale = {"slope": 0.01, "sen_slope": 0.01, "intercept": 1.0, "sen_intercept": 1.0}
        tol = 1.2e-7 * np.maximum(np.abs(want[name][ok]), scale.get(name, 0.0)) + 1e-300
        err = np.abs(band[ok] - want[name][ok])
        assert np.all(err <= tol), f"{name}: worst {np.max(err / tol):.2f} x tolerance"


def test_every_band_equals_the_oracles(tmp_path: Path) -> None:
    data = random_stack()
    stack = write_stack(tmp_path / "stack.tif", data)
    trending.trend(stack, tmp_path / "trend.tif", robust=True, threads=1)
    got = read_all(tmp_path / "trend.tif")
    assert got.shape == (11, 37, 45) and got.dtype == np.float32
    t = regression.decimal_year(moments_of(21))
    assert_bands_match_oracles(got, t, data, robust=True)
    # and exactly the float64 statistics of the library, rounded once
    want = pixelwise.fit(t, data, min_obs=3, robust=True)
    np.testing.assert_array_equal(got, want)
    nobs = got[NAMES.index("nobs")]
    assert nobs[0, :3].tolist() == [0.0, 3.0, 2.0]
    assert np.isnan(got[:6, 0, 0]).all() and np.isfinite(got[:6, 0, 1]).all()
    assert np.isnan(got[:6, 0, 2]).all()
    assert got[NAMES.index("slope"), 0, 3] == 0.0 and np.isnan(got[NAMES.index("rvalue"), 0, 3])


def test_identical_for_any_workers_and_block_size(tmp_path: Path, monkeypatch) -> None:
    data = random_stack(height=40, width=50, seed=1)
    stack = write_stack(tmp_path / "stack.tif", data)
    runs = {
        "one window, this process": {"threads": 1},
        "2 workers, 7-row blocks": {"threads": 2, "chunk_rows": 7},
        "1 worker, 16-row blocks": {"threads": 1, "chunk_rows": 16},
    }
    for i, kwargs in enumerate(runs.values()):
        trending.trend(stack, tmp_path / f"out{i}.tif", robust=True, **kwargs)
    # the planner's own windows: whole tiles, cut into columns as well
    monkeypatch.setattr(trending, "INLINE_MAX_VALUES", 0)
    monkeypatch.setattr(trending, "MAX_WINDOW_BYTES", 16 * 16 * 200)
    windows = trending.plan_windows(
        raster.read_info(stack), bytes_per_pixel=200, budget_bytes=2**30, workers=2
    )
    assert len(windows) > 8 and any(ncols < 50 for *_, ncols in windows)
    trending.trend(stack, tmp_path / "out3.tif", robust=True, threads=2)
    first = (tmp_path / "out0.tif").read_bytes()
    for i in range(1, 4):
        np.testing.assert_array_equal(
            read_all(tmp_path / f"out{i}.tif"), read_all(tmp_path / "out0.tif")
        )
        assert (tmp_path / f"out{i}.tif").read_bytes() == first  # the COG layout is canonical


def test_output_file(tmp_path: Path) -> None:
    data = random_stack(n=6, height=20, width=30)
    stack = write_stack(tmp_path / "stack.tif", data)
    trending.trend(stack, tmp_path / "trend.tif", time_unit="day", tags={"EXTRA": "x"})
    info = raster.read_info(tmp_path / "trend.tif")
    assert info.descriptions == regression.STAT_NAMES
    assert info.transform == TRANSFORM and info.crs_wkt == raster.read_info(stack).crs_wkt
    assert info.dtype == "float32" and np.isnan(info.nodata)
    assert info.tags["TIME_UNIT"] == "day" and info.tags["MIN_OBS"] == "3"
    assert info.tags["ROBUST"] == "no" and info.tags["EXTRA"] == "x"
    assert info.tags["EOTREND_VERSION"] == __version__
    assert info.tags["DATES"].split(",") == [m.isoformat() for m in moments_of(6)]
    structure = gdal.Open(str(tmp_path / "trend.tif")).GetMetadata("IMAGE_STRUCTURE")
    assert structure["LAYOUT"] == "COG" and structure["COMPRESSION"] == "ZSTD"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.tif", "trend.tif"]
    # days since 1970: the same regression on another time axis
    t = pixelwise.time_axis(moments_of(6), "day")
    assert t[0] == (datetime(1995, 7, 2, tzinfo=UTC) - pixelwise.EPOCH).days
    np.testing.assert_array_equal(
        read_all(tmp_path / "trend.tif"), pixelwise.fit(t, data, min_obs=3, robust=False)
    )


def test_deflate_and_plain_outputs(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack.tif", random_stack(n=5, height=10, width=12))
    trending.trend(stack, tmp_path / "d.tif", compress="DEFLATE", cog=False)
    structure = gdal.Open(str(tmp_path / "d.tif")).GetMetadata("IMAGE_STRUCTURE")
    assert structure["COMPRESSION"] == "DEFLATE" and "LAYOUT" not in structure
    trending.trend(stack, tmp_path / "z.tif")
    np.testing.assert_array_equal(read_all(tmp_path / "d.tif"), read_all(tmp_path / "z.tif"))


def test_stack_without_dates_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "undated.tif"
    raster.write_geotiff(
        path, random_stack(n=4, height=5, width=5), transform=TRANSFORM, crs_wkt=""
    )
    with pytest.raises(InputError, match=r"undated\.tif: bands 1, 2, 3, 4 carry no DATE"):
        trending.trend(path, tmp_path / "out.tif")
    assert not (tmp_path / "out.tif").exists()
    with pytest.raises(InputError, match="min_obs"):
        trending.trend(path, tmp_path / "out.tif", min_obs=1)


def test_fewer_bands_than_min_obs_warns_and_gives_nan(tmp_path: Path, caplog) -> None:
    data = random_stack(n=3, height=6, width=7)
    stack = write_stack(tmp_path / "stack.tif", data)
    with caplog.at_level(logging.WARNING, logger="eotrend"):
        trending.trend(stack, tmp_path / "out.tif", min_obs=4)
    assert "3 bands, fewer than min_obs=4" in caplog.text
    got = read_all(tmp_path / "out.tif")
    assert np.isnan(got[:-1]).all()
    np.testing.assert_array_equal(got[-1], np.count_nonzero(~np.isnan(data), axis=0))


@settings(max_examples=200, deadline=None)
@given(
    height=st.integers(1, 3000),
    width=st.integers(1, 3000),
    count=st.integers(1, 40),
    tile=st.sampled_from([(16, 16), (256, 256), (512, 1), (512, 8)]),
    budget_mb=st.sampled_from([0.001, 0.5, 8, 64, 4096]),
    workers=st.integers(1, 8),
)
def test_windows_cover_the_stack_once_in_whole_tiles(
    height: int,
    width: int,
    count: int,
    tile: tuple[int, int],
    budget_mb: float,
    workers: int,
) -> None:
    tile = (width, tile[1]) if tile[0] == 512 else tile  # strips: full-width blocks
    info = raster.RasterInfo("s.tif", width, height, count, "float32", TRANSFORM, "", None,
                             (), (), {}, tile)  # fmt: skip
    per_pixel = 8 * count + 28
    budget = int(budget_mb * 2**20)
    windows = trending.plan_windows(
        info, bytes_per_pixel=per_pixel, budget_bytes=budget, workers=workers
    )
    covered = np.zeros((height, width), dtype=np.int8)
    for r, nr, c, nc in windows:
        covered[r : r + nr, c : c + nc] += 1
    assert (covered == 1).all()
    if len(windows) == 1:
        assert (
            count * height * width <= trending.INLINE_MAX_VALUES
            or height * width * per_pixel > budget
        )
        return
    cap = min(budget, trending.MAX_WINDOW_BYTES)
    tile_w, tile_h = min(tile[0], width), min(tile[1], height)
    if tile_h * tile_w * per_pixel <= cap:  # whole tiles within the budget
        for r, nr, c, nc in windows:
            assert r % tile_h == 0 and (nr % tile_h == 0 or r + nr == height)
            assert c % tile_w == 0 and (nc % tile_w == 0 or c + nc == width)
            assert nr * nc * per_pixel <= cap
        tiles = -(-height // tile_h) * -(-width // tile_w)
        assert len(windows) >= min(trending.WINDOWS_PER_WORKER * workers, tiles) or workers == 1


def test_command_line(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack.tif", random_stack(n=8, height=12, width=20))
    script = ["-m", "eotrend", "trend"]
    done = subprocess.run(
        [sys.executable, *script, str(stack), "-o", str(tmp_path / "t.tif"), "--robust",
         "--workers", "2", "--chunk-rows", "5", "--min-obs", "4"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    info = raster.read_info(tmp_path / "t.tif")
    assert info.descriptions == NAMES and info.tags["ROBUST"] == "yes"
    assert info.tags["MIN_OBS"] == "4"
    failed = subprocess.run(
        [sys.executable, *script, str(tmp_path / "nope.tif"), "-o", str(tmp_path / "u.tif")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert failed.returncode == 1
    assert failed.stderr.startswith("error: ") and "nope.tif: file not found" in failed.stderr


EVERYTHING = pixelwise.Options(
    robust=True,
    test="hamed_rao",
    ci=0.95,
    seasons="season",
    breaks="pettitt",
    fdr=True,
    fdr_pvalue="mk_pvalue",
)


def test_every_option_writes_its_bands_and_the_qvalues_of_the_map(tmp_path: Path) -> None:
    """Every statistic of the options in its band (the library's float64 values rounded
    once to float32), in the documented order; the qvalue band holds the
    Benjamini-Hochberg q-values of the written mk_pvalue band over all valid pixels
    (statsmodels multipletests, fdr_bh); tags record the options."""
    from statsmodels.stats.multitest import multipletests

    from eotrend.stats import breaks, seasonal

    data = random_stack(n=21, height=30, width=35, seed=3)
    moments = [datetime(1995 + i // 4, 1 + 3 * (i % 4), 10, tzinfo=UTC) for i in range(21)]
    stack = write_stack(tmp_path / "stack.tif", data, moments)
    trending.trend(stack, tmp_path / "all.tif", options=EVERYTHING, threads=1)
    info = raster.read_info(tmp_path / "all.tif")
    names = EVERYTHING.names()
    assert info.descriptions == names and names[:7] == regression.STAT_NAMES
    assert names[7:9] == ("slope_low", "slope_high") and names[-1] == "qvalue"
    assert info.tags["MK_TEST"] == "hamed_rao" and info.tags["FDR_PVALUE"] == "mk_pvalue"
    assert info.tags["CI_LEVEL"] == "0.95" and info.tags["BREAKS"] == "pettitt"
    got = read_all(tmp_path / "all.tif")
    t = regression.decimal_year(moments)
    y = data.reshape(21, -1)
    want = regression.ols(t, y)
    want["slope_low"], want["slope_high"] = regression.slope_interval(
        want["slope"], want["stderr"], want["nobs"], 0.95
    )
    want |= regression.theil_sen_mann_kendall(t, y, test="hamed_rao", ci=0.95)
    want |= seasonal.seasonal_kendall(*seasonal.cells(moments, "season"), y)
    want |= breaks.pettitt(t, y)
    for i, name in enumerate(names[:-1]):
        np.testing.assert_array_equal(got[i].ravel(), want[name].astype(np.float32), name)
    p = got[names.index("mk_pvalue")].ravel()
    ok = np.isfinite(p)
    q = multipletests(p[ok].astype(np.float64), method="fdr_bh")[1].astype(np.float32)
    np.testing.assert_array_equal(got[-1].ravel()[ok], q)
    assert np.isnan(got[-1].ravel()[~ok]).all()


def test_every_option_identical_for_workers_blocks_and_tiles(tmp_path: Path, monkeypatch) -> None:
    """With every option on, the same file from one process, 2 workers on 7-row blocks,
    3 row tiles gathered (the q-values then need every tile's p-values), and a fit too
    large to hold its statistics for the q-values (written plain, then gathered)."""

    data = random_stack(n=12, height=40, width=50, seed=4)
    stack = write_stack(tmp_path / "stack.tif", data)
    options = pixelwise.Options(**{**EVERYTHING.__dict__, "seasons": "month"})
    trending.trend(stack, tmp_path / "a.tif", options=options, threads=1)
    trending.trend(stack, tmp_path / "b.tif", options=options, threads=2, chunk_rows=7)
    tiles = [tmp_path / f"tile{i}.tif" for i in (1, 2, 3)]
    for i, tile in enumerate(tiles, 1):
        trending.fit_tile(stack, tile, f"{i}-of-3", options=options, threads=1)
    assert np.isnan(read_all(tiles[0])[-1]).all()  # a tile leaves the q-values to the gather
    trending.gather(tiles, tmp_path / "c.tif")
    monkeypatch.setattr(trending, "QVALUE_MEMORY_BYTES", 0)
    trending.trend(stack, tmp_path / "d.tif", options=options, threads=2, chunk_rows=16)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("tile")) == [
        "a.tif", "b.tif", "c.tif", "d.tif", "stack.tif"
    ]  # fmt: skip
    first = (tmp_path / "a.tif").read_bytes()
    for name in ("b.tif", "c.tif", "d.tif"):
        assert (tmp_path / name).read_bytes() == first, name
    assert np.isfinite(read_all(tmp_path / "a.tif")[-1]).sum() > 1000


def test_contradicting_options_name_the_setting(tmp_path: Path) -> None:
    stack = write_stack(tmp_path / "stack.tif", random_stack(n=5, height=6, width=7))
    cases = [
        (pixelwise.Options(seasons="month"), "day", "trend.seasons: needs time_unit year"),
        (pixelwise.Options(fdr=True, fdr_pvalue="mk_pvalue"), "year", "trend.fdr.pvalue"),
        (pixelwise.Options(seasons=((1, 2), (2,))), "year", "more than one group"),
    ]
    for options, unit, message in cases:
        with pytest.raises(InputError, match=message):
            trending.trend(stack, tmp_path / "out.tif", options=options, time_unit=unit)
    assert not (tmp_path / "out.tif").exists()


def test_command_line_options(tmp_path: Path) -> None:
    """The command's flags reach the fit: bands and tags of --test, --ci, --seasons,
    --breaks and --fdr."""
    stack = write_stack(tmp_path / "stack.tif", random_stack(n=8, height=12, width=20))
    script = ["-m", "eotrend", "trend"]
    done = subprocess.run(
        [sys.executable, *script, str(stack), "-o", str(tmp_path / "t.tif"), "--test",
         "yue_wang", "--ci", "0.9", "--seasons", "month", "--breaks", "pettitt", "--fdr",
         "--fdr-pvalue", "seasonal_pvalue"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    info = raster.read_info(tmp_path / "t.tif")
    assert info.descriptions == pixelwise.Options(
        test="yue_wang", ci=0.9, seasons="month", breaks="pettitt", fdr=True,
        fdr_pvalue="seasonal_pvalue",
    ).names()  # fmt: skip
    assert info.tags["MK_TEST"] == "yue_wang" and info.tags["MK_LAGS"] == "1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.tif", "t.tif"]


def test_maps_grey_by_qvalue_with_fdr(tmp_path: Path) -> None:
    """With a qvalue band the maps call a pixel significant where q < alpha_FDR (not
    p < 0.05), show the slope the controlled p-value tests, and say so; both figures
    are written."""
    from eotrend.stages import report as plotting

    data = random_stack(n=15, height=20, width=24, seed=5)
    stack = write_stack(tmp_path / "stack.tif", data)
    options = pixelwise.Options(robust=True, fdr=True, fdr_alpha=0.2, fdr_pvalue="mk_pvalue")
    trending.trend(stack, tmp_path / "q.tif", options=options)
    trending.trend(stack, tmp_path / "p.tif")
    for name in ("q", "p"):
        info = raster.read_info(tmp_path / f"{name}.tif")
        bands = read_all(tmp_path / f"{name}.tif")
        significant, pname, words = plotting._significance(info, bands)
        if name == "q":
            q = bands[info.descriptions.index("qvalue")]
            np.testing.assert_array_equal(significant, q < 0.2)
            assert pname == "mk_pvalue" and plotting.SLOPE_OF[pname] == "sen_slope"
            assert "q ≥ 0.2" in words and "Benjamini-Hochberg" in words
        else:
            np.testing.assert_array_equal(significant, bands[3] < 0.05)
            assert pname == "pvalue" and words == "grey: p ≥ 0.05"
        plotting.trend_map(tmp_path / f"{name}.tif", tmp_path / f"{name}_map.png", title="t")
        plotting.significance_map(tmp_path / f"{name}.tif", tmp_path / f"{name}_sig.png", title="t")
        assert (tmp_path / f"{name}_map.png").stat().st_size > 1000

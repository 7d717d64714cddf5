"""The bad-input corpus: every input a user can get wrong, run through the real command.

Each case writes its bad input (next to good ones) into its own folder and runs the stage
command a user would. The expected behaviour is either

- one clear error: exit status 1, a single line ``error: <file>: <what is wrong>. <what
  to do>`` on stderr that names the file, and no traceback; or
- a documented outcome: the command succeeds and says what it skipped or why a result is
  empty (a warning in the log, a ``failed`` row with its reason in the manifest).

Config files are also checked through ``snakemake -n``: it must stop at once naming the
setting.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import netCDF4
import numpy as np
import pandas as pd
import pytest
import yaml

from eotrend.geo import raster
from eotrend.geo.aoi import read_aoi
from eotrend.sentinel3 import locate as locating
from eotrend.stats import regression
from eotrend.synthetic.product import write_product
from eotrend.synthetic.series import write_yearly_series
from eotrend.synthetic.spec import SceneSpec
from support.commands import snakemake
from support.configs import base_dataset
from support.scenes import WHEN, small_scene, write_polygons
from support.stages import error_line, stage, warnings_of

pytestmark = pytest.mark.timeout(300)

LAKE = [[(-60.05, -3.05), (-59.95, -3.05), (-59.95, -2.95), (-60.05, -2.95)]]
BOWTIE = [(-60.05, -3.05), (-59.95, -2.95), (-59.95, -3.05), (-60.05, -2.95)]


@dataclass(frozen=True)
class Base:
    """Good inputs the cases start from (never modified: cases copy what they break)."""

    product: Path
    aoi: Path
    window: Path
    series: list[Path]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Base:
    root = tmp_path_factory.mktemp("good")
    product = small_scene(root / "products", -60.0, -3.0)
    aoi = write_polygons(root / "aoi.geojson", [LAKE], ["lake"])
    window = root / "window.json"
    locating.locate_to_files(product, read_aoi(aoi), root / "vertices.csv", window)
    series = write_yearly_series(root / "series", years=range(2001, 2007), width=30, height=20)
    return Base(product, aoi, window, series)


# --- making bad inputs ------------------------------------------------------------------


def copy_product(base: Base, folder: Path) -> Path:
    return Path(shutil.copytree(base.product, folder / base.product.name))


def truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def zero_middle(path: Path) -> Path:
    """Overwrite 2000 bytes in the middle third: same size, damaged content."""
    data = bytearray(path.read_bytes())
    data[len(data) // 3 : len(data) // 3 + 2000] = bytes(2000)
    path.write_bytes(bytes(data))
    return path


def set_attribute(path: Path, variable: str, name: str, value) -> Path:
    with netCDF4.Dataset(path, "a") as ds:
        ds[variable].setncattr(name, value)
    return path


def geojson(path: Path, features: list[dict]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


def feature(name: str | None, geometry: dict | None) -> dict:
    return {"type": "Feature", "properties": {"name": name}, "geometry": geometry}


def polygon(*rings) -> dict:
    return {"type": "Polygon", "coordinates": [[list(p) for p in [*r, r[0]]] for r in rings]}


def geotiff(path: Path, *, epsg: int = 32720, size=(30, 20), origin=(500000.0, 9600000.0), **kw):
    """A single-band float32 GeoTIFF of ones (``kw``: nodata, value, tags)."""
    width, height = size
    data = np.full((height, width), kw.get("value", 1.0), np.float32)
    transform = (origin[0], 30.0, 0.0, origin[1], 0.0, -30.0)
    raster.write_geotiff(
        path,
        data,
        transform=transform,
        crs_wkt=f"EPSG:{epsg}",
        nodata=kw.get("nodata", float("nan")),
        tags=kw.get("tags"),
    )
    return path


def text_file(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def copies(base: Base, folder: Path) -> list[Path]:
    """The good series copied into ``folder/in``."""
    (folder / "in").mkdir()
    return [Path(shutil.copy(p, folder / "in" / p.name)) for p in base.series]


def config(folder: Path, dataset: dict, name: str = "river") -> Path:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump({"datasets": {name: dataset}}))
    return path


# --- the cases --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A bad input: ``make(base, folder)`` writes it and returns (stage, arguments, needles);
    needles are what the error line must hold (the file first), or None when the command
    must succeed, and then ``check(folder, result)`` checks what it says and wrote."""

    name: str
    make: Callable[[Base, Path], tuple[str, list, list | None]]
    check: Callable[[Path, object], None] | None = None


def extract(product: Path, aoi: Path, folder: Path, *extra) -> list:
    return [product, aoi, "-o", folder / "pixels.parquet", "--stats", folder / "stats.csv", *extra]


def product_case(file: str, damage: Callable[[Path], Path], command: str, needles: list[str]):
    """A product with one file damaged, read by locate or extract."""

    def make(base: Base, folder: Path):
        product = copy_product(base, folder)
        damage(product / file)
        if command == "locate":
            args = [product, base.aoi, "-o", folder / "v.csv"]
        else:
            args = extract(product, base.aoi, folder, "--window", base.window)
        return command, args, [product / file, *needles]

    return make


def missing_file(file: str, command: str, needles: list[str]):
    def make(base: Base, folder: Path):
        product = copy_product(base, folder)
        (product / file).unlink()
        if command == "locate":
            return "locate", [product, base.aoi, "-o", folder / "v.csv"], [product, *needles]
        return (
            "extract",
            extract(product, base.aoi, folder, "--window", base.window),
            [
                product,
                *needles,
            ],
        )

    return make


def other_flag_layout(base: Base, folder: Path):
    product = copy_product(base, folder)
    with netCDF4.Dataset(product / "wqsf.nc") as ds:
        meanings = ds["WQSF"].getncattr("flag_meanings")
    renamed = meanings.replace("INLAND_WATER", "LAKE").replace(" WATER ", " SEA ")
    set_attribute(product / "wqsf.nc", "WQSF", "flag_meanings", renamed)
    args = extract(product, base.aoi, folder, "--window", base.window)
    return "extract", args, [product / "wqsf.nc", "has no flag", "WATER", "Known flags: "]


def flag_lengths_differ(base: Base, folder: Path):
    product = copy_product(base, folder)
    with netCDF4.Dataset(product / "wqsf.nc") as ds:
        meanings = ds["WQSF"].getncattr("flag_meanings")
    set_attribute(product / "wqsf.nc", "WQSF", "flag_meanings", meanings.rsplit(" ", 1)[0])
    args = extract(product, base.aoi, folder, "--window", base.window)
    return "extract", args, [product / "wqsf.nc", "different lengths", "download it again"]


def fill_only(base: Base, folder: Path):
    product = copy_product(base, folder)
    with netCDF4.Dataset(product / "Oa08_reflectance.nc", "a") as ds:
        variable = ds["Oa08_reflectance"]
        variable.set_auto_maskandscale(False)
        variable[:] = np.full(variable.shape, variable.getncattr("_FillValue"), variable.dtype)
    args = extract(product, base.aoi, folder, "--window", base.window, "--quality", "none")
    return "extract", args, None


def check_fill_only(folder: Path, result) -> None:
    product = next(folder.glob("*.SEN3"))
    (warning,) = [w for w in warnings_of(result) if "only fill" in w]
    assert str(product / "Oa08_reflectance.nc") in warning
    stats = pd.read_csv(folder / "stats.csv")
    assert (stats["count"] > 0).all() and (stats["Oa08_reflectance_count"] == 0).all()


def unknown_variable(base: Base, folder: Path):
    args = extract(base.product, base.aoi, folder, "--window", base.window, "--variables", "NOPE")
    return "extract", args, [base.product, "has no variable 'NOPE'"]


def window_of_another_scene(base: Base, folder: Path):
    window = folder / "window.json"
    window.write_text(json.dumps({"window": {"row0": 0, "row1": 900, "col0": 0, "col1": 257}}))
    args = extract(base.product, base.aoi, folder, "--window", window)
    # Every file read fails alike: whichever task reports first names its own file.
    needles = [base.product, ".nc: variable", "does not hold the window", "run locate again"]
    return "extract", args, needles


def window_not_json(base: Base, folder: Path):
    window = folder / "window.json"
    window.write_text("{'window': ")
    args = extract(base.product, base.aoi, folder, "--window", window)
    return "extract", args, [window, "is not a window file"]


def not_a_product(base: Base, folder: Path):
    fake = folder / "S3A_OL_2_WFR____fake.SEN3"
    fake.write_text("")
    return "locate", [fake, base.aoi, "-o", folder / "v.csv"], [fake, "is not a folder"]


def aoi_case(content: list[dict] | str | None, needles: list[str]):
    """The good product located with a bad AOI file: GeoJSON of ``content`` features, or
    ``content`` as text, or no file at all (None)."""

    def make(base: Base, folder: Path):
        aoi = folder / "aoi.geojson"
        if isinstance(content, str):
            aoi.write_text(content)
        elif content is not None:
            geojson(aoi, content)
        return "locate", [base.product, aoi, "-o", folder / "v.csv"], [aoi, *needles]

    return make


def across_antimeridian(base: Base, folder: Path):
    product = write_product(
        SceneSpec(centre_lon=180.0, centre_lat=-17.0, sensing_start=WHEN, rows=240, columns=257),
        folder,
    )
    aoi = geojson(
        folder / "fiji.geojson",
        [
            feature(
                "dateline",
                polygon([(179.95, -17.05), (-179.95, -17.05), (-179.95, -16.95), (179.95, -16.95)]),
            )
        ],
    )
    return "extract", extract(product, aoi, folder, "--quality", "none"), None


def check_across_antimeridian(folder: Path, result) -> None:
    pixels = pd.read_parquet(folder / "pixels.parquet")
    assert (pixels["lon"] > 179.95).any() and (pixels["lon"] < -179.95).any()
    # The polygon is 0.1 degree wide, not 359.9: every pixel lies within it.
    assert pixels["lon"].abs().min() >= 179.95 - 1e-9
    assert len(pixels) > 50


def series_case(change: Callable[[list[Path], Path], tuple[list, list]], *extra):
    """The good series with one file changed; ``change`` returns (inputs, needles)."""

    def make(base: Base, folder: Path):
        inputs, needles = change(copies(base, folder), folder)
        return "stack", [*inputs, "-o", folder / "stack.tif", *extra], needles

    return make


def replace_third(files, folder, **kw):
    geotiff(files[2], **kw)
    return files, [files[2], "does not align with"]


def metadata_dates(files, folder):
    dated = []
    for year in range(2001, 2001 + len(files)):
        text = "sometime in 2003" if year == 2003 else f"{year}-07-01"
        dated.append(geotiff(folder / f"scene{year - 2000}.tif", tags={"DATE": text}))
    return dated, [dated[2], "metadata item DATE = 'sometime in 2003' is not a date"]


def all_nodata(base: Base, folder: Path):
    inputs = [
        geotiff(folder / f"empty_{y}.tif", value=-9999.0, nodata=-9999.0) for y in range(2001, 2007)
    ]
    return "stack", [*inputs, "-o", folder / "stack.tif"], None


def check_all_nodata(folder: Path, result) -> None:
    warnings = warnings_of(result)
    assert any("band 2003-01-01 holds no value" in w and "empty_2003.tif" in w for w in warnings)
    assert any("every band of the stack is empty" in w for w in warnings)
    fitted = stage("trend", folder / "stack.tif", "-o", folder / "trend.tif", cwd=folder)
    assert fitted.returncode == 0, fitted.stderr
    bands = raster.read_rows(folder / "trend.tif", 0, 20)
    assert np.isnan(bands[: regression.STAT_NAMES.index("nobs")]).all()
    assert (bands[regression.STAT_NAMES.index("nobs")] == 0).all()


def fewer_bands_than_min_obs(base: Base, folder: Path):
    return "stack", [*base.series[:2], "-o", folder / "stack.tif"], None


def check_fewer_bands(folder: Path, result) -> None:
    fitted = stage("trend", folder / "stack.tif", "-o", folder / "trend.tif", cwd=folder)
    assert fitted.returncode == 0, fitted.stderr
    warning = "stack.tif has 2 bands, fewer than min_obs=3: every pixel will be NaN"
    assert any(warning in line for line in warnings_of(fitted)), fitted.stderr
    assert np.isnan(raster.read_rows(folder / "trend.tif", 0, 20)[0]).all()


def config_case(text: str | None, needles: list[str], dataset: str = "river"):
    """download.py on a bad config file (None: no file at all)."""

    def make(base: Base, folder: Path):
        path = folder / "config.yaml"
        if text is not None:
            path.write_text(text.replace("AOI", str(base.aoi)))
        return "download", [path, dataset, "-o", folder / "manifest.csv"], [path, *needles]

    return make


def local_source(damage: Callable[[Base, Path], str], on_failure: str = "fail"):
    """download.py on a local folder holding a good product and a damaged one; ``damage``
    writes the damaged one and returns the words its manifest reason must hold."""

    def make(base: Base, folder: Path):
        archive = folder / "archive"
        archive.mkdir()
        shutil.copytree(base.product, archive / base.product.name)
        reason = damage(base, archive)
        dataset = base_dataset(
            "sentinel3_local",
            aoi=str(base.aoi),
            source={
                "local": {"path": str(archive)},
                "cache": str(folder / "cache"),
                "on_failure": on_failure,
            },
        )
        args = [config(folder, dataset), "river", "-o", folder / "manifest.csv"]
        (folder / "reason").write_text(reason)
        needles = (
            None if on_failure == "skip" else ["dataset river: 1 of 2 products failed", reason]
        )
        return "download", args, needles

    return make


def damaged_other_product(base: Base, archive: Path) -> str:
    """A second product (another orbit) with a truncated band file."""
    spec = SceneSpec(
        centre_lon=-60.0,
        centre_lat=-3.0,
        sensing_start=WHEN,
        rows=240,
        columns=257,
        relative_orbit=200,
    )
    product = write_product(spec, archive)
    truncate(product / "Oa08_reflectance.nc")
    return "damaged product: Oa08_reflectance.nc has"


def truncated_zip(base: Base, archive: Path) -> str:
    spec = SceneSpec(
        centre_lon=-60.0,
        centre_lat=-3.0,
        sensing_start=WHEN,
        rows=240,
        columns=257,
        relative_orbit=200,
    )
    zipped = write_product(spec, archive / "zips", zip=True)
    shutil.rmtree(zipped.with_suffix(""))  # keep only the zip
    truncate(zipped)
    return "is not a valid zip"


def check_skipped(folder: Path, result) -> None:
    manifest = pd.read_csv(folder / "manifest.csv")
    failed = manifest[manifest["status"] == "failed"]
    assert len(failed) == 1 and (manifest["status"] == "ok").sum() == 1
    assert (folder / "reason").read_text() in failed["reason"].iloc[0]
    assert any("failed and are left out (on_failure: skip)" in w for w in warnings_of(result))


CASES = [
    # Sentinel-3 products
    Case(
        "truncated netCDF (band)",
        product_case(
            "Oa08_reflectance.nc", truncate, "extract", ["damaged", "Download the product again"]
        ),
    ),
    Case(
        "corrupt netCDF (geo coordinates)",
        product_case(
            "geo_coordinates.nc", zero_middle, "locate", ["damaged", "Download the product again"]
        ),
    ),
    Case(
        "corrupt netCDF (flags)",
        product_case("wqsf.nc", zero_middle, "extract", ["damaged", "Download the product again"]),
    ),
    Case(
        "truncated tie-point grid",
        product_case(
            "tie_geo_coordinates.nc", truncate, "locate", ["tie-point grid", "Download it again"]
        ),
    ),
    Case(
        "broken product manifest",
        product_case(
            "xfdumanifest.xml", truncate, "locate", ["is not valid XML", "Download the product"]
        ),
    ),
    Case(
        "product without a band file",
        missing_file(
            "Oa08_reflectance.nc", "extract", ["has no Oa08_reflectance.nc", "download it again"]
        ),
    ),
    Case(
        "product without geo coordinates",
        missing_file(
            "geo_coordinates.nc", "locate", ["missing geo_coordinates.nc", "Download the product"]
        ),
    ),
    Case("product with another flag layout", other_flag_layout),
    Case("flag meanings and masks differ", flag_lengths_differ),
    Case("fill-only variable", fill_only, check_fill_only),
    Case("unknown variable", unknown_variable),
    Case("window of another scene", window_of_another_scene),
    Case("window file not JSON", window_not_json),
    Case("product path not a folder", not_a_product),
    # AOI files
    Case(
        "AOI not a vector file",
        aoi_case("lake, -60, -3", ["cannot be read as a vector file", "Give a GeoJSON"]),
    ),
    Case("AOI file missing", aoi_case(None, ["cannot be read as a vector file"])),
    Case("AOI empty feature collection", aoi_case([], ["holds no features"])),
    Case(
        "AOI self-intersecting polygon",
        aoi_case(
            [feature("bowtie", polygon(BOWTIE))],
            ["feature 'bowtie' (row 1): has an invalid polygon (Self-intersection", "make_valid"],
        ),
    ),
    Case(
        "AOI hole outside its polygon",
        aoi_case(
            [feature("holey", polygon(*LAKE, [(-59.9, -2.9), (-59.8, -2.9), (-59.8, -2.8)]))],
            ["feature 'holey' (row 1): has an invalid polygon", "make_valid"],
        ),
    ),
    Case(
        "AOI of points",
        aoi_case(
            [feature("gauge", {"type": "Point", "coordinates": [-60.0, -3.0]})],
            ["feature 'gauge' (row 1): is a Point, not a polygon", "buffer points or lines"],
        ),
    ),
    Case(
        "AOI of lines",
        aoi_case(
            [feature("river", {"type": "LineString", "coordinates": [[-60.1, -3], [-59.9, -3]]})],
            ["feature 'river' (row 1): is a LineString, not a polygon"],
        ),
    ),
    Case(
        "AOI feature without geometry",
        aoi_case([feature("ghost", None)], ["feature 'ghost' (row 1): has no geometry"]),
    ),
    Case(
        "AOI duplicate feature names",
        aoi_case(
            [feature("lake", polygon(*LAKE))] * 2,
            ["duplicate id 'lake' (rows 1, 2)", "unique, non-empty `name`"],
        ),
    ),
    Case("AOI across the antimeridian", across_antimeridian, check_across_antimeridian),
    # GeoTIFF series
    Case(
        "GeoTIFF in another CRS",
        series_case(lambda files, folder: replace_third(files, folder, epsg=32721)),
    ),
    Case(
        "GeoTIFF of another size",
        series_case(lambda files, folder: replace_third(files, folder, size=(31, 20))),
    ),
    Case(
        "GeoTIFF with another transform",
        series_case(
            lambda files, folder: replace_third(files, folder, origin=(500015.0, 9600000.0))
        ),
    ),
    Case(
        "GeoTIFF without a date",
        series_case(
            lambda files, folder: (
                [*files, Path(shutil.copy(files[0], folder / "in" / "ndvi_max_final.tif"))],
                [folder / "in" / "ndvi_max_final.tif", "no date readable from the file name"],
            )
        ),
    ),
    Case(
        "GeoTIFF with an impossible date",
        series_case(
            lambda files, folder: (
                [*files, Path(shutil.copy(files[0], folder / "in" / "ndvi_2009_13.tif"))],
                [folder / "in" / "ndvi_2009_13.tif", "matches the date regex", "not as a date"],
            ),
            "--date-regex",
            r"(?P<year>\d{4})_(?P<month>\d{2})",
        ),
    ),
    Case(
        "GeoTIFF with an unreadable date tag",
        series_case(metadata_dates, "--dates-from", "metadata"),
    ),
    Case(
        "GeoTIFFs with duplicate dates",
        series_case(
            lambda files, folder: (
                [*files, Path(shutil.copy(files[0], folder / "in" / "ndvi_max_2001_v2.tif"))],
                ["has the same date (2001-01-01)", "composite period"],
            )
        ),
    ),
    Case(
        "GeoTIFF that is not one",
        series_case(
            lambda files, folder: (
                [*files[:2], text_file(files[2], "not a raster"), *files[3:]],
                [files[2], "GDAL cannot open it as a raster"],
            )
        ),
    ),
    Case(
        "truncated GeoTIFF",
        series_case(
            lambda files, folder: (
                [*files[:2], truncate(files[2]), *files[3:]],
                [files[2], "damaged", "Export or download it again"],
            )
        ),
    ),
    Case(
        "GeoTIFF missing",
        series_case(
            lambda files, folder: (
                [*files, folder / "in" / "ndvi_max_2007.tif"],
                [folder / "in" / "ndvi_max_2007.tif", "does not exist"],
            )
        ),
    ),
    Case("all-nodata stack", all_nodata, check_all_nodata),
    Case("stack with fewer bands than min_obs", fewer_bands_than_min_obs, check_fewer_bands),
    # Config files
    Case("config missing", config_case(None, ["cannot be read (No such file"])),
    Case("config not YAML", config_case("datasets: [\n", ["is not valid YAML"])),
    Case("config not a mapping", config_case("- river\n", ["is not a mapping of settings"])),
    Case(
        "config with a wrong type",
        config_case(
            "datasets:\n  river:\n    kind: sentinel3\n    aoi: AOI\n    trend: {min_obs: five}\n",
            ["datasets.river.trend.min_obs: 'five' is not of type 'integer'"],
        ),
    ),
    Case(
        "config with an unknown key",
        config_case(
            "datasets:\n  river:\n    kind: sentinel3\n    aoi: AOI\n    variabels: [TSM_NN]\n",
            [
                "datasets.river: 'variabels' is not a setting here (did you mean 'variables'?)",
                "valid: kind, start, end, aoi,",
            ],
        ),
    ),
    Case(
        "config with a string for a list",
        config_case(
            "datasets:\n  river:\n    kind: sentinel3\n    aoi: AOI\n    variables: TSM_NN\n",
            ["datasets.river.variables: 'TSM_NN' is not of type 'array'"],
        ),
    ),
    Case(
        "config with an unknown source",
        config_case(
            "datasets:\n  river:\n    kind: sentinel3\n    aoi: AOI\n    source: {type: ftp}\n",
            ["datasets.river.source.type: 'ftp' is not one of"],
        ),
    ),
    Case(
        "config without the dataset",
        config_case(
            "datasets:\n  river:\n    kind: sentinel3\n    aoi: AOI\n",
            ["has no dataset 'lake'", "Known: river"],
            dataset="lake",
        ),
    ),
    # Local products, as the download stage finds them
    Case("local product with a truncated file", local_source(damaged_other_product)),
    Case("local product zip truncated", local_source(truncated_zip)),
    Case(
        "damaged local product skipped", local_source(damaged_other_product, "skip"), check_skipped
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, base, tmp_path):
    command, args, needles = case.make(base, tmp_path)
    result = stage(command, *args, cwd=tmp_path)
    if needles is None:
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Traceback" not in result.stderr
        case.check(tmp_path, result)
    else:
        error_line(result, *needles)


def test_trend_of_an_all_nodata_stack_warns(base, tmp_path):
    inputs = [
        geotiff(tmp_path / f"empty_{y}.tif", value=-9999.0, nodata=-9999.0)
        for y in range(2001, 2007)
    ]
    assert stage("stack", *inputs, "-o", tmp_path / "s.tif", cwd=tmp_path).returncode == 0
    fitted = stage("trend", tmp_path / "s.tif", "-o", tmp_path / "t.tif", cwd=tmp_path)
    assert fitted.returncode == 0
    assert any("no pixel has" in w for w in warnings_of(fitted)), fitted.stderr


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"trend": {"min_obs": "five"}}, "'five' is not of type 'integer'"),
        (
            {"grid": {"resolutoin": 0.01}},
            "'resolutoin' is not a setting here (did you mean 'resolution'?)",
        ),
    ],
    ids=["wrong type", "misspelt nested key"],
)
def test_snakemake_stops_at_once_on_a_bad_config(change, named, base, tmp_path):
    dataset = {"kind": "sentinel3", "aoi": str(base.aoi), **change}
    config(tmp_path, dataset)
    result = snakemake(tmp_path, "-n", timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert named in out and "Traceback" not in out


def test_snakemake_names_a_bad_aoi_without_a_traceback(tmp_path):
    """Through the workflow, the AOI is checked when Snakemake parses the workflow, before
    any job: one line names the setting, the file and the feature (a point the test
    wrote), and no job ran (no download log)."""
    geojson(tmp_path / "aoi.geojson", [feature("gauge", {"type": "Point", "coordinates": [0, 0]})])
    config(tmp_path, {"kind": "sentinel3", "aoi": "aoi.geojson"})
    result = snakemake(tmp_path, "results/river/manifest.csv", timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in out
    (line,) = [line for line in out.splitlines() if line.startswith("invalid config: ")]
    assert line.startswith("invalid config: datasets.river.aoi: aoi.geojson: 1 problem in 1 of")
    assert "feature 'gauge' (row 1): is a Point, not a polygon" in line
    assert not (tmp_path / "logs").exists()


def test_relative_paths_are_named_as_given(base, tmp_path):
    """Errors quote a path as the user wrote it, ``..`` included."""
    (tmp_path / "aoi.geojson").write_text("not a vector file")
    (tmp_path / "work").mkdir()
    result = stage("locate", base.product, "../aoi.geojson", "-o", "v.csv", cwd=tmp_path / "work")
    error_line(result, "error: ../aoi.geojson: cannot be read as a vector file")


def test_a_damaged_local_product_outside_the_period_is_only_skipped(base, tmp_path):
    """Products outside the dataset's dates are not opened: their damage cannot fail a run."""
    spec = SceneSpec(
        centre_lon=-60.0,
        centre_lat=-3.0,
        sensing_start=WHEN.replace(year=2019),
        rows=240,
        columns=257,
    )
    (tmp_path / "archive").mkdir()
    shutil.copytree(base.product, tmp_path / "archive" / base.product.name)
    old = write_product(spec, tmp_path / "archive")
    truncate(old / "xfdumanifest.xml")
    dataset = base_dataset(
        "sentinel3_local", aoi=str(base.aoi), source={"local": {"path": str(tmp_path / "archive")}}
    )
    path = config(tmp_path, dataset)
    result = stage("download", path, "river", "-o", tmp_path / "m.csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = pd.read_csv(tmp_path / "m.csv")
    assert list(manifest["status"]) == ["skipped", "ok"]
    assert manifest["reason"].iloc[0] == "sensed outside 2020-01-01..2020-12-31"

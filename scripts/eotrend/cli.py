"""One command line for every stage: ``python -m eotrend <stage> ... --help``.

Arguments are parsed here and nowhere else. Each command maps its options to the keyword
arguments of a stage function in :mod:`eotrend.stages` (or, for the single-scene
commands locate and extract, of :mod:`eotrend.sentinel3`); a rule script hands
Snakemake's named input, output, params and wildcards to the same function through
:func:`run_rule`. Option defaults are the config schema's (:func:`schema_default`), so a
command and the workflow behave alike when neither is told otherwise.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from eotrend.core.config import schema_default
from eotrend.core.logs import setup_logging, user_errors

if TYPE_CHECKING:
    from eotrend.geo.aoi import Feature

PROG = "python -m eotrend"


# -- options shared by several commands ------------------------------------------------


def _aoi(parser: argparse.ArgumentParser) -> None:
    """The AOI file and the attribute naming its features (the dataset keys aoi, aoi_id)."""
    parser.add_argument("aoi", help="polygon vector file (GeoJSON, GeoPackage, Shapefile, KML)")
    parser.add_argument(
        "--aoi-id",
        metavar="COLUMN",
        default=schema_default("aoi_id"),
        help="the AOI attribute holding each feature's id (default: the first of name, Name, "
        "NAME, id, ID a feature has, else its index)",
    )


def _workers(parser: argparse.ArgumentParser) -> None:
    """``--workers``, ``--mem-mb`` and ``--verbose`` of commands that run a worker pool."""
    parser.add_argument(
        "--workers",
        type=int,
        help="maximum worker processes (default: what CPUs, cgroup, SLURM and memory allow)",
    )
    parser.add_argument(
        "--mem-mb",
        type=float,
        help="memory budget of the whole command in MB (default: what the machine has free)",
    )
    _verbose(parser)


def _verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")


ANGLES = ("SZA", "SAA", "OZA", "OAA")


def _grid(parser: argparse.ArgumentParser) -> None:
    """The grid's CRS, resolution and reach of the nearest valid pixel (the config's
    ``grid`` keys)."""
    parser.add_argument(
        "--grid-crs", default=schema_default("grid.crs"), help="grid CRS (default: %(default)s)"
    )
    parser.add_argument(
        "--resolution",
        type=float,
        default=schema_default("grid.resolution"),
        help="grid cell size in CRS units (default: %(default)s)",
    )
    parser.add_argument(
        "--max-distance",
        type=float,
        default=schema_default("grid.max_distance_m"),
        help="a cell takes the nearest valid pixel within this many metres (default: %(default)s)",
    )


def _extraction(parser: argparse.ArgumentParser) -> None:
    """What to extract from a scene and how to judge and grid it (the dataset keys
    variables, quality, product_masks and grid)."""
    parser.add_argument(
        "--variables",
        nargs="+",
        default=schema_default("variables"),
        help="product variables to extract, e.g. Oa08_reflectance TSM_NN CHL_OC4ME SZA "
        "(default: %(default)s)",
    )
    parser.add_argument("--angles", action="store_true", help="also extract " + " ".join(ANGLES))
    parser.add_argument(
        "--quality",
        default=schema_default("quality"),
        choices=["water", "land", "none"],
        help="flag preset deciding which pixels are valid (default: %(default)s); "
        "--require/--require-any/--exclude replace it by an explicit rule",
    )
    parser.add_argument("--require", nargs="+", metavar="FLAG", help="flags that must all be set")
    parser.add_argument(
        "--require-any", nargs="+", metavar="FLAG", help="flags of which one must be set"
    )
    parser.add_argument("--exclude", nargs="+", metavar="FLAG", help="flags that must be clear")
    parser.add_argument(
        "--no-product-masks",
        dest="product_masks",
        action="store_false",
        default=schema_default("product_masks"),
        help="keep product values where the product's own failure flag is set "
        "(e.g. CHL_OC4ME under OC4ME_FAIL)",
    )
    _grid(parser)


def _extraction_settings(args: argparse.Namespace) -> dict:
    """The dataset-shaped extraction settings of :func:`_extraction`'s options."""
    explicit = args.require or args.require_any or args.exclude
    quality = (
        {
            "require": args.require or [],
            "require_any": args.require_any or [],
            "exclude": args.exclude or [],
        }
        if explicit
        else args.quality
    )
    return {
        "variables": list(dict.fromkeys(args.variables + (list(ANGLES) if args.angles else []))),
        "quality": quality,
        "product_masks": args.product_masks,
        "grid": {
            "crs": args.grid_crs,
            "resolution": args.resolution,
            "max_distance_m": args.max_distance,
            "margin": schema_default("grid.margin"),
        },
    }


# -- the commands ------------------------------------------------------------------------


def _download_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="workflow config file (YAML)")
    parser.add_argument("dataset", help="name of the dataset in the config")
    parser.add_argument("-o", "--output", required=True, help="scene list to write (CSV)")
    _workers(parser)


def _download(args: argparse.Namespace) -> None:
    from eotrend.core.config import load_dataset
    from eotrend.stages import download

    download.run(
        dataset=args.dataset,
        settings=load_dataset(args.config, args.dataset),
        manifest=args.output,
        threads=args.workers,
        mem_mb=args.mem_mb,
    )


def _plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="workflow config file (YAML)")
    parser.add_argument("dataset", help="name of the dataset in the config")
    parser.add_argument("-o", "--output", required=True, help="download plan to write (text)")


def _plan(args: argparse.Namespace) -> None:
    from eotrend.core.config import load_dataset
    from eotrend.stages import plan

    text = plan.run(
        dataset=args.dataset, settings=load_dataset(args.config, args.dataset), plan=args.output
    )
    print(text, end="")


def _scenes_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", help="scene list of the download stage (CSV)")
    _aoi(parser)
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        help="batch table to write (CSV); the batch's other outputs go to the folder of the "
        "same name without .csv (stats.csv, pixels.parquet, windows.json, grids.tif)",
    )
    parser.add_argument(
        "--scenes-dir", required=True, help="work folder of each scene (<dir>/<scene>/)"
    )
    parser.add_argument(
        "--no-grids",
        action="store_true",
        help="grid no scene, no grids.tif (the config's grid extent feature or none)",
    )
    _extraction(parser)
    _workers(parser)


def _scenes(args: argparse.Namespace) -> None:
    from eotrend.stages import scenes

    settings = _extraction_settings(args)
    if args.no_grids:
        settings["grid"] = None
    scenes.run(
        aoi=args.aoi,
        aoi_id=args.aoi_id,
        table=args.output,
        **scenes.batch_outputs(args.output, gridded=not args.no_grids),
        scenes=scenes.jobs_from_manifest(args.manifest, args.scenes_dir),
        threads=args.workers,
        mem_mb=args.mem_mb,
        **settings,
    )


def _locate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("product", help="unzipped .SEN3 product folder")
    _aoi(parser)
    parser.add_argument("-o", "--output", required=True, help="vertex table to write (CSV)")
    parser.add_argument("--window", help="also write the extraction window (JSON)")
    _workers(parser)


def _locate(args: argparse.Namespace) -> None:
    from eotrend.sentinel3.locate import locate_to_files
    from eotrend.sentinel3.remote import shared_reads

    product, features = _product_and_aoi(args)
    with shared_reads():
        locate_to_files(
            product,
            features,
            args.output,
            args.window,
            threads=args.workers,
            mem_mb=args.mem_mb,
        )


def _product_and_aoi(args: argparse.Namespace) -> tuple[Path, list[Feature]]:
    """The product folder (checked first: a wrong folder is the likelier mistake) and the
    AOI's features, read once for the whole command."""
    from eotrend.geo.aoi import read_aoi
    from eotrend.sentinel3.reader import open_product

    product = open_product(args.product).path
    return product, read_aoi(args.aoi, args.aoi_id)


def _extract_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("product", help="unzipped .SEN3 product folder")
    _aoi(parser)
    parser.add_argument("-o", "--output", required=True, help="pixel table to write (Parquet)")
    parser.add_argument("--stats", help="per-feature statistics to write (CSV)")
    parser.add_argument("--grid-dir", help="folder for one GeoTIFF per variable on the grid")
    parser.add_argument("--window", help="locate's window.json (default: locate here)")
    _extraction(parser)
    _workers(parser)


def _extract(args: argparse.Namespace) -> None:
    from eotrend.sentinel3.remote import shared_reads

    settings = _extraction_settings(args)
    with shared_reads():
        _extract_scene(args, settings)


def _extract_scene(args: argparse.Namespace, settings: dict) -> None:
    from eotrend.core import provenance
    from eotrend.sentinel3.extract import extract_to_files
    from eotrend.sentinel3.locate import TieGrid, extraction_window, read_window

    product, features = _product_and_aoi(args)
    if args.window:
        window, tie = read_window(args.window), None
    else:  # the window from the tie grid, which extract then uses too
        tie = TieGrid.read(product)
        window = extraction_window(product, features, tie)
    extract_to_files(
        product,
        features,
        window,
        args.output,
        args.stats,
        args.grid_dir,
        settings["variables"],
        settings["quality"],
        settings["grid"],
        product_masks=settings["product_masks"],
        threads=args.workers,
        mem_mb=args.mem_mb,
        provenance=provenance.tags(),
        tie=tie,
    )


def _timeseries_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stats", nargs="+", help="per-scene statistics tables (CSV)")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        help="time series to write: Parquet for a .parquet name, else CSV",
    )
    parser.add_argument(
        "--pixels", nargs="+", default=[], help="the scenes' pixel tables: merge frames of a pass"
    )
    parser.add_argument(
        "--min-coverage",
        type=float,
        default=schema_default("min_coverage"),
        help="fraction of a feature a scene must observe to enter the series (default: "
        "%(default)s)",
    )
    _verbose(parser)


def _timeseries(args: argparse.Namespace) -> None:
    from eotrend.stages import timeseries

    timeseries.run(
        stats=args.stats, pixels=args.pixels, table=args.output, min_coverage=args.min_coverage
    )


def _lake_pixels_arguments(parser: argparse.ArgumentParser) -> None:
    _aoi(parser)
    parser.add_argument("pixels", nargs="+", help="the batches' (or scenes') pixel tables")
    parser.add_argument(
        "-o", "--output", required=True, help="pixel table partitioned by feature to write"
    )
    _verbose(parser)


def _lake_pixels(args: argparse.Namespace) -> None:
    from eotrend.stages import lake_pixels

    lake_pixels.run(pixels=args.pixels, aoi=args.aoi, aoi_id=args.aoi_id, lake_pixels=args.output)


def _lake_grids_arguments(parser: argparse.ArgumentParser) -> None:
    from eotrend.geo.dates import PERIODS
    from eotrend.stages.stack import REDUCERS

    parser.add_argument("pixels", help="pixel table partitioned by feature (lake-pixels)")
    parser.add_argument("stats", nargs="+", help="the batches' (or scenes') statistics (CSV)")
    parser.add_argument("--aoi", required=True, help="the polygon file of the pixel table")
    parser.add_argument(
        "--aoi-id",
        metavar="COLUMN",
        default=schema_default("aoi_id"),
        help="the AOI attribute holding each feature's id (default: as locate's)",
    )
    parser.add_argument("--variable", required=True, help="variable, e.g. TSM_NN")
    parser.add_argument("--stacks", required=True, help="folder of the features' stacks")
    parser.add_argument("--trends", required=True, help="folder of the features' trends")
    _grid(parser)
    parser.add_argument(
        "--margin",
        type=int,
        default=schema_default("grid.margin"),
        help="cells around each feature's bounding box (default: %(default)s)",
    )
    parser.add_argument(
        "--min-coverage",
        type=float,
        default=schema_default("min_coverage"),
        help="fraction of a feature a scene's pass must observe (default: %(default)s)",
    )
    parser.add_argument(
        "--period", choices=PERIODS, default=schema_default("composite.period"),
        help="composite per period (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--reducer", choices=REDUCERS, default=schema_default("composite.reducer"),
        help="how a period is reduced (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--min-obs",
        type=int,
        default=schema_default("trend.min_obs"),
        help="fewest valid values for a fit (default: %(default)s)",
    )
    parser.add_argument(
        "--robust", action="store_true", default=schema_default("trend.robust"),
        help="add Theil-Sen slope and intercept and the Mann-Kendall test",
    )  # fmt: skip
    _workers(parser)


def _lake_grids(args: argparse.Namespace) -> None:
    from eotrend.stages import lake_grids

    # The trend keys not given as options take the schema's defaults.
    keys = ("time_unit", "test", "lags", "ci", "seasons", "breaks")
    settings = {key: schema_default(f"trend.{key}") for key in keys}
    settings["fdr"] = {k: schema_default(f"trend.fdr.{k}") for k in ("enabled", "alpha", "pvalue")}
    settings.update(min_obs=args.min_obs, robust=args.robust)
    lake_grids.run(
        lake_pixels=args.pixels,
        stats=args.stats,
        aoi=args.aoi,
        aoi_id=args.aoi_id,
        stacks=args.stacks,
        trends=args.trends,
        variable=args.variable,
        grid={
            "crs": args.grid_crs,
            "resolution": args.resolution,
            "max_distance_m": args.max_distance,
            "margin": args.margin,
        },
        min_coverage=args.min_coverage,
        period=args.period,
        reducer=args.reducer,
        settings=settings,
        threads=args.workers,
        mem_mb=args.mem_mb,
    )


def _stack_arguments(parser: argparse.ArgumentParser) -> None:
    from eotrend.geo.dates import PERIODS
    from eotrend.geo.mosaic import RESAMPLINGS
    from eotrend.stages.stack import REDUCERS

    parser.add_argument("inputs", nargs="+", help="GeoTIFF files, or folders of them")
    parser.add_argument("-o", "--output", required=True, help="stack GeoTIFF to write")
    parser.add_argument(
        "--dates-csv", help="band table to write (default: <output without .tif>_dates.csv)"
    )
    parser.add_argument("--variable", help="in folders, stack <variable>.tif")
    parser.add_argument(
        "--dates-from",
        choices=["filename", "metadata"],
        default=schema_default("dates.from"),
        help="where each input's date is read (default: %(default)s)",
    )
    names = parser.add_mutually_exclusive_group()
    names.add_argument(
        "--date-regex",
        default=schema_default("dates.regex"),
        help="regex with named groups year[, month, day] (default: the first 19xx or 20xx)",
    )
    names.add_argument(
        "--date-format",
        default=schema_default("dates.format"),
        help="strptime pattern found anywhere in the name, e.g. %%Y%%m%%d or %%Y%%j",
    )
    parser.add_argument(
        "--period",
        choices=PERIODS,
        default=schema_default("composite.period"),
        help="composite per period; daily merges the scenes of one UTC day (default: "
        "%(default)s, one band per acquisition)",
    )
    parser.add_argument(
        "--reducer",
        choices=REDUCERS,
        default=schema_default("composite.reducer"),
        help="how a period is reduced (default: %(default)s)",
    )
    parser.add_argument(
        "--nodata",
        type=float,
        default=schema_default("nodata"),
        help="input value that counts as missing, besides each file's own nodata",
    )
    parser.add_argument(
        "--align",
        metavar="REFERENCE.tif",
        default=schema_default("align.reference"),
        help="warp inputs that are not on this raster's grid onto it (default: inputs must align)",
    )
    parser.add_argument(
        "--resampling",
        choices=RESAMPLINGS,
        default=schema_default("align.resampling"),
        help="resampling of --align (default: %(default)s, which keeps input values)",
    )
    parser.add_argument(
        "--min-coverage",
        type=float,
        default=schema_default("min_coverage"),
        help="leave out scene grids whose pass observes less than this fraction of the AOI "
        "(their COVERAGE tag; files without it are kept; default: %(default)s)",
    )
    _workers(parser)


def _stack(args: argparse.Namespace) -> None:
    from eotrend.stages import stack

    stack.run(
        rasters=args.inputs,
        raster=args.output,
        dates=args.dates_csv or f"{args.output.removesuffix('.tif')}_dates.csv",
        variable=args.variable,
        dates_from=args.dates_from,
        regex=args.date_regex,
        date_format=args.date_format,
        period=args.period,
        reducer=args.reducer,
        nodata=args.nodata,
        align=args.align,
        resampling=args.resampling,
        min_coverage=args.min_coverage,
        threads=args.workers,
        mem_mb=args.mem_mb,
    )


def _trend_arguments(parser: argparse.ArgumentParser) -> None:
    from eotrend.stages.trend import COMPRESSIONS

    def default(key: str) -> object:
        return schema_default(f"trend.{key}")

    parser.add_argument(
        "inputs", nargs="+", help="the stack made by the stack stage (bands dated); "
        "with --gather, the tiles"
    )  # fmt: skip
    parser.add_argument("-o", "--output", required=True, help="statistics GeoTIFF to write")
    parser.add_argument(
        "--min-obs",
        type=int,
        default=default("min_obs"),
        help="fewest valid values for a fit (default: %(default)s)",
    )
    parser.add_argument(
        "--robust",
        action="store_true",
        default=default("robust"),
        help="add Theil-Sen slope and intercept and the Mann-Kendall test (about 10x slower)",
    )
    parser.add_argument(
        "--test",
        choices=["original", "hamed_rao", "yue_wang", "prewhiten", "trend_free_prewhiten"],
        default=default("test"),
        help="Mann-Kendall test of mk_pvalue (implies --robust unless original)",
    )
    parser.add_argument(
        "--lags",
        type=int,
        default=default("lags"),
        help="lags of hamed_rao / yue_wang (default %(default)s: all / 1)",
    )
    parser.add_argument(
        "--ci",
        type=float,
        default=default("ci"),
        help="confidence level of slope intervals, e.g. 0.95 (default %(default)s: none)",
    )
    parser.add_argument(
        "--seasons", choices=["none", "month", "season"], default=default("seasons")
    )
    parser.add_argument("--breaks", choices=["none", "pettitt"], default=default("breaks"))
    parser.add_argument(
        "--fdr",
        action="store_true",
        default=default("fdr.enabled"),
        help="add Benjamini-Hochberg q-values",
    )
    parser.add_argument(
        "--fdr-alpha",
        type=float,
        default=default("fdr.alpha"),
        help="alpha_FDR of the maps (default: %(default)s)",
    )
    parser.add_argument(
        "--fdr-pvalue",
        choices=["pvalue", "mk_pvalue", "seasonal_pvalue"],
        default=default("fdr.pvalue"),
    )
    parser.add_argument(
        "--time-unit",
        choices=["year", "day"],
        default=default("time_unit"),
        help="unit of time of the slope (default: %(default)s)",
    )
    parser.add_argument(
        "--compress",
        choices=COMPRESSIONS,
        default=COMPRESSIONS[0],
        help="codec of the output (default: %(default)s, the fastest; DEFLATE for old readers)",
    )
    parser.add_argument(
        "--chunk-rows",
        type=int,
        help="rows per block (default: planned from the memory budget and the workers)",
    )
    parser.add_argument("--tile", help="fit only this row tile, e.g. 2-of-3")
    parser.add_argument("--gather", action="store_true", help="gather row tiles into -o")
    _workers(parser)


def _trend(args: argparse.Namespace) -> None:
    from eotrend.stages import trend

    if args.gather:
        trend.run_gather(
            tiles=args.inputs, raster=args.output, compress=args.compress, threads=args.workers
        )
        return
    if len(args.inputs) != 1:
        raise SystemExit(f"{PROG} trend: error: give one stack (or --gather with the tiles)")
    settings = {
        "min_obs": args.min_obs,
        "time_unit": args.time_unit,
        "robust": args.robust,
        "test": args.test,
        "lags": args.lags,
        "ci": args.ci,
        "seasons": args.seasons,
        "breaks": args.breaks,
        "fdr": {"enabled": args.fdr, "alpha": args.fdr_alpha, "pvalue": args.fdr_pvalue},
    }
    trend.run_tile(
        stack=args.inputs[0],
        tile=args.output,
        settings=settings,
        scatteritem=args.tile,
        compress=args.compress,
        chunk_rows=args.chunk_rows,
        threads=args.workers,
        mem_mb=args.mem_mb,
    )


def _lakes_arguments(parser: argparse.ArgumentParser) -> None:
    from eotrend.geo.dates import PERIODS
    from eotrend.stages.lakes import STATISTICS
    from eotrend.stages.stack import REDUCERS
    from eotrend.stats.mannkendall import TESTS

    def default(key: str) -> object:
        return schema_default(f"trend.{key}")

    parser.add_argument("table", help="time series of the timeseries stage (Parquet or CSV)")
    _aoi(parser)
    parser.add_argument("--variable", required=True, help="variable, e.g. TSM_NN")
    parser.add_argument("-o", "--output", required=True, help="trend table to write (CSV)")
    parser.add_argument(
        "--geopackage", help="polygons with the trends to write (default: -o with .gpkg)"
    )
    parser.add_argument(
        "--pixels", nargs="+", default=[], help="pixel tables whose metadata give the unit"
    )
    parser.add_argument(
        "--statistic",
        choices=STATISTICS,
        default=default("lake_statistic"),
        help="per-scene statistic fitted (default: %(default)s)",
    )
    parser.add_argument(
        "--period",
        choices=PERIODS,
        default=schema_default("composite.period"),
        help="reduce each lake's series per period first (default: %(default)s)",
    )
    parser.add_argument(
        "--reducer",
        choices=REDUCERS,
        default=schema_default("composite.reducer"),
        help="how a period is reduced (default: %(default)s)",
    )
    parser.add_argument(
        "--min-obs",
        type=int,
        default=default("min_obs"),
        help="fewest observations for a fit (default: %(default)s)",
    )
    parser.add_argument(
        "--time-unit", choices=["year", "day"], default=default("time_unit"), help="of the slope"
    )
    parser.add_argument(
        "--test", choices=TESTS, default=default("test"), help="Mann-Kendall test of mk_pvalue"
    )
    parser.add_argument("--lags", type=int, default=default("lags"), help="of hamed_rao/yue_wang")
    parser.add_argument(
        "--ci", type=float, default=default("ci"), help="level of slope intervals (0: none)"
    )
    parser.add_argument(
        "--seasons", choices=["none", "month", "season"], default=default("seasons")
    )
    parser.add_argument(
        "--fdr-alpha",
        type=float,
        default=default("fdr.alpha"),
        help="significant: q below this (default: %(default)s)",
    )
    parser.add_argument(
        "--fdr-pvalue",
        choices=["pvalue", "mk_pvalue", "seasonal_pvalue"],
        default=default("fdr.pvalue"),
        help="the p-values whose q-values decide (default: %(default)s)",
    )
    _verbose(parser)


def _lakes(args: argparse.Namespace) -> None:
    from eotrend.stages import lakes

    lakes.run(
        table=args.table,
        aoi=args.aoi,
        aoi_id=args.aoi_id,
        trends=args.output,
        geopackage=args.geopackage or f"{args.output.removesuffix('.csv')}.gpkg",
        variable=args.variable,
        pixels=args.pixels,
        statistic=args.statistic,
        period=args.period,
        reducer=args.reducer,
        min_obs=args.min_obs,
        time_unit=args.time_unit,
        test=args.test,
        lags=args.lags,
        ci=args.ci,
        seasons=args.seasons,
        fdr_alpha=args.fdr_alpha,
        fdr_pvalue=args.fdr_pvalue,
    )


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    from eotrend.stages.report import KINDS

    parser.add_argument("kind", choices=KINDS)
    parser.add_argument(
        "source", help="trend GeoTIFF, time series or scene list (CSV), lake GeoPackage, or product"
    )
    parser.add_argument("-o", "--output", required=True, help="PNG to write")
    parser.add_argument("--title", default="", help="figure title")
    parser.add_argument("--aoi", help="polygon file drawn on maps (and the quicklook)")
    parser.add_argument("--variable", help="variable of the time series")
    parser.add_argument("--unit", help="unit of the variable's values (time series)")
    parser.add_argument("--robust", action="store_true", help="also draw the Theil-Sen line")
    parser.add_argument("--table", help="time series table (coverage)")
    parser.add_argument("--window", help="locate's window.json (quicklook)")
    parser.add_argument("--pixels", help="extract's pixel table (quicklook)")
    _verbose(parser)


def _report(args: argparse.Namespace) -> None:
    from eotrend.stages import report

    report.run(
        kind=args.kind,
        source=args.source,
        figure=args.output,
        title=args.title,
        aoi=args.aoi,
        variable=args.variable,
        table=args.table,
        window=args.window,
        pixels=args.pixels,
        robust=args.robust,
        unit=args.unit,
    )


def _summary_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", help="scene list of the download stage (CSV)")
    parser.add_argument("--table", required=True, help="time series table (CSV)")
    parser.add_argument("-o", "--output", required=True, help="summary table to write (CSV)")
    _verbose(parser)


def _summary(args: argparse.Namespace) -> None:
    from eotrend.stages import summary

    summary.run(source=args.manifest, table=args.table, summary=args.output)


def _utc_datetime(text: str) -> datetime:
    """An ISO 8601 date-time read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _synthetic_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", required=True)
    olci = kinds.add_parser("olci", help="one Sentinel-3 OLCI L2 WFR product")
    olci.add_argument("-o", "--output", required=True, help="folder to write into")
    olci.add_argument(
        "--centre",
        nargs=2,
        type=float,
        required=True,
        metavar=("LON", "LAT"),
        help="swath centre in degrees",
    )
    olci.add_argument(
        "--date", required=True, type=_utc_datetime, help="sensing start, ISO 8601, UTC"
    )
    olci.add_argument("--rows", type=int, default=4091, help="image rows (default: 4091)")
    olci.add_argument(
        "--columns", type=int, default=4865, help="image columns, 64*k+1 (default: 4865)"
    )
    olci.add_argument("--water", help="polygon file: water where its polygons are")
    olci.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    olci.add_argument("--zip", action="store_true", help="also write <name>.zip (stored)")
    series = kinds.add_parser("series", help="a yearly GeoTIFF series")
    series.add_argument("-o", "--output", required=True, help="folder to write into")
    series.add_argument(
        "--years",
        nargs=2,
        type=int,
        default=[1995, 2015],
        metavar=("FIRST", "LAST"),
        help="years (default: 1995 2015)",
    )
    series.add_argument("--width", type=int, default=1033, help="pixels (default: 1033)")
    series.add_argument("--height", type=int, default=707, help="pixels (default: 707)")
    series.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    _verbose(parser)


def _synthetic(args: argparse.Namespace) -> None:
    if args.kind == "olci":
        import shapely

        from eotrend.geo.aoi import read_aoi
        from eotrend.synthetic.product import write_product
        from eotrend.synthetic.spec import SceneSpec

        water = (
            shapely.union_all([f.geometry for f in read_aoi(args.water, ids=False)])
            if args.water
            else None
        )
        spec = SceneSpec(
            centre_lon=args.centre[0],
            centre_lat=args.centre[1],
            sensing_start=args.date,
            rows=args.rows,
            columns=args.columns,
            seed=args.seed,
        )
        path = write_product(spec, args.output, water=water, zip=args.zip)
    else:
        from eotrend.synthetic.series import write_yearly_series

        first, last = args.years
        path = write_yearly_series(
            args.output,
            years=range(first, last + 1),
            width=args.width,
            height=args.height,
            seed=args.seed,
        )
    print(path)


# name: (arguments, call, one-line help, usage examples)
COMMANDS: dict[str, tuple[Callable, Callable, str, str]] = {
    "download": (
        _download_arguments,
        _download,
        "find a dataset's scenes, fill the product cache, write the scene list",
        "python -m eotrend download config.yaml DATASET -o results/DATASET/manifest.csv",
    ),
    "plan": (
        _plan_arguments,
        _plan,
        "before the download: the products and what each fetch mode would move",
        "python -m eotrend plan config.yaml DATASET -o results/DATASET/download_plan.txt",
    ),
    "scenes": (
        _scenes_arguments,
        _scenes,
        "locate, extract and grid every scene of a scene list (one batch)",
        "python -m eotrend scenes manifest.csv aoi.geojson -o batch.csv --scenes-dir scenes "
        "--variables TSM_NN",
    ),
    "locate": (
        _locate_arguments,
        _locate,
        "map every AOI vertex onto one scene's pixel grid (exact nearest pixel centre)",
        "python -m eotrend locate PRODUCT.SEN3 aoi.geojson -o vertices.csv --window window.json",
    ),
    "extract": (
        _extract_arguments,
        _extract,
        "the pixels of one scene inside each AOI polygon, statistics and grids",
        "python -m eotrend extract PRODUCT.SEN3 aoi.geojson -o pixels.parquet --stats stats.csv "
        "--grid-dir grid --variables Oa08_reflectance TSM_NN",
    ),
    "timeseries": (
        _timeseries_arguments,
        _timeseries,
        "per-scene statistics as one table in time order",
        "python -m eotrend timeseries scenes/*/stats.csv -o timeseries.csv "
        "--pixels scenes/*/pixels.parquet",
    ),
    "stack": (
        _stack_arguments,
        _stack,
        "dated single-band GeoTIFFs as one multi-band GeoTIFF in date order",
        "python -m eotrend stack ndvi_*.tif -o stack.tif --period year --reducer max",
    ),
    "trend": (
        _trend_arguments,
        _trend,
        "per-pixel regression of a stack's values on time",
        "python -m eotrend trend stack.tif -o trend.tif --robust",
    ),
    "lakes": (
        _lakes_arguments,
        _lakes,
        "the trend of each AOI feature's per-scene statistic, q-values over the features",
        "python -m eotrend lakes timeseries.csv aoi.geojson --variable TSM_NN -o TSM_NN_trends.csv",
    ),
    "lake-pixels": (
        _lake_pixels_arguments,
        _lake_pixels,
        "every batch's pixels as one table partitioned by feature (one lake reads fast)",
        "python -m eotrend lake-pixels aoi.geojson batches/*/pixels.parquet -o lake_pixels.parquet",
    ),
    "lake-grids": (
        _lake_grids_arguments,
        _lake_grids,
        "each feature's stack and per-pixel trend on a grid of its own",
        "python -m eotrend lake-grids lake_pixels.parquet batches/*/stats.csv --aoi aoi.geojson "
        "--variable TSM_NN --stacks stacks --trends trends",
    ),
    "report": (
        _report_arguments,
        _report,
        "one figure: trend map, significance, time series, coverage or quicklook",
        "python -m eotrend report trend-map trend.tif -o map.png --aoi aoi.geojson",
    ),
    "summary": (
        _summary_arguments,
        _summary,
        "the run summary of a sentinel3 dataset (scenes found, skipped, extracted)",
        "python -m eotrend summary manifest.csv --table timeseries.csv -o summary.csv",
    ),
    "synthetic": (
        _synthetic_arguments,
        _synthetic,
        "deterministic demo data: an OLCI product or a yearly GeoTIFF series",
        "python -m eotrend synthetic series -o series --years 1995 2015",
    ),
}


def parser(stage: str | None = None) -> argparse.ArgumentParser:
    """The command line: one subcommand per stage, each with its own ``--help``. ``stage``
    None builds every stage's options; a stage's name only that stage's, and "" none (its
    options import its modules, matplotlib for a figure: the others are not paid for)."""
    top = argparse.ArgumentParser(
        prog=PROG,
        description="eotrend: polygon extractions and per-pixel trends from satellite time "
        "series. The workflow (snakemake) runs these stages; each also runs by hand.",
    )
    stages = top.add_subparsers(dest="stage", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    for name, (arguments, call, summary, example) in COMMANDS.items():
        sub = stages.add_parser(
            name,
            help=summary,
            description=f"{summary}.\n\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if stage in (None, name):
            arguments(sub)
        sub.set_defaults(call=call)
    return top


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: ``sys.argv[1:]``), set up logging to stderr and run the
    stage; a user error ends with one ``error:`` line and exit status 1."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser(argv[0] if argv and argv[0] in COMMANDS else "").parse_args(argv)
    setup_logging(verbose=getattr(args, "verbose", False))
    with user_errors():
        args.call(args)


def run_rule(snakemake, stage: Callable[..., object]) -> None:
    """Run ``stage`` for a Snakemake rule: its log file set up, and its keyword arguments
    taken by name from the rule's wildcards, input, output and params (a name must occur
    once among them), plus ``threads`` and ``mem_mb``; names the stage does not take are
    left out. A user error ends the job with one ``error:`` line in the log. Ends the
    process's garbage collection (:func:`skip_collection_at_exit`): the job's process ends
    with the stage."""
    setup_logging(snakemake.log[0])
    kwargs = rule_arguments(snakemake, stage)
    with user_errors():
        stage(**kwargs)
    skip_collection_at_exit()


def skip_collection_at_exit() -> None:
    """Spare a process that is about to end the interpreter's full collection at exit.

    With numpy, pandas, pyarrow, scipy and GDAL loaded, that collection walks every
    object the modules hold and takes about 0.2 s: a tenth of a small extract command.
    :func:`gc.freeze` moves them out of the collector's reach; they are still freed by
    reference counting and the process's end, and ``atexit`` handlers still run. Call it
    only when the process ends next (``python -m eotrend``, a rule's script): objects
    frozen are never collected.
    """
    gc.freeze()


def rule_arguments(snakemake, stage: Callable[..., object]) -> dict:
    """The keyword arguments :func:`run_rule` passes to ``stage`` (see there).

    Raises:
        TypeError: a name occurs twice, or the stage needs an argument the rule lacks
            (mistakes in the rule, not the user's).
    """
    values: dict[str, object] = {}
    origin: dict[str, str] = {}
    for where in ("wildcards", "input", "output", "params"):
        for key, value in getattr(snakemake, where).items():
            if key in values:
                raise TypeError(
                    f"rule {snakemake.rule}: {key} is in both {origin[key]} and {where}"
                )
            # Snakemake's named lists of files become plain lists.
            values[key] = list(value) if isinstance(value, list) else value
            origin[key] = where
    values["threads"] = snakemake.threads
    values["mem_mb"] = snakemake.resources.get("mem_mb")
    accepted = inspect.signature(stage).parameters
    missing = [
        name
        for name, parameter in accepted.items()
        if parameter.default is inspect.Parameter.empty and name not in values
    ]
    if missing:
        raise TypeError(f"rule {snakemake.rule} gives {stage.__qualname__} no {', '.join(missing)}")
    return {key: value for key, value in values.items() if key in accepted}

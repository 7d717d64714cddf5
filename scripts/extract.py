"""extract: the pixels of a Sentinel-3 OLCI scene inside each AOI polygon.

Reads only the pixel window that covers the polygons (from locate's window.json, or
located here), keeps every pixel whose centre lies inside a polygon in lon/lat, and
writes the pixel table (Parquet: scene, time, feature, row, col, lon, lat, variables in
physical units, flags, valid), per-feature statistics (CSV) and, with --grid-dir, one
GeoTIFF per variable on the dataset's regular grid. log10 products come out in physical
units, their column named with the unit (TSM_NN -> TSM_NN_g.m-3). Angles (SZA, SAA, OZA,
OAA) are variables too, interpolated from the tie-point grid.

    python scripts/extract.py PRODUCT.SEN3 AOI_FILE -o pixels.parquet [--stats stats.csv]
        [--grid-dir DIR] [--variables Oa08_reflectance TSM_NN] [--angles] [--quality water]
        [--window window.json] [--workers N]
"""

import argparse

DEFAULT_GRID = {"crs": "EPSG:4326", "resolution": 0.003, "max_distance_m": 400, "margin": 2}
ANGLES = ["SZA", "SAA", "OZA", "OAA"]


def main(
    product: str,
    aoi: str,
    pixels: str,
    stats: str | None = None,
    *,
    window_json: str | None = None,
    grid_dir: str | None = None,
    variables: list[str],
    quality: str | dict = "water",
    grid: dict | None = None,
    product_masks: bool = True,
    threads: int | None = None,
    mem_mb: float | None = None,
    digest: str | None = None,
) -> None:
    """Extract one scene; the window comes from locate's JSON, or is located here."""
    from eotrend.core import provenance
    from eotrend.sentinel3 import locate as locating
    from eotrend.sentinel3.extract import extract_to_files

    window = locating.read_window(window_json) if window_json else locating.window_for(product, aoi)
    extract_to_files(
        product,
        aoi,
        window,
        pixels,
        stats,
        grid_dir,
        variables,
        quality,
        {**DEFAULT_GRID, **(grid or {})},
        product_masks=product_masks,
        threads=threads,
        mem_mb=mem_mb,
        provenance=provenance.tags(digest),
    )


def parse_args(argv=None) -> argparse.Namespace:
    from eotrend.core.logs import workers_argument

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("product", help="unzipped .SEN3 product folder")
    parser.add_argument("aoi", help="polygon vector file (GeoJSON, GeoPackage, Shapefile, KML)")
    parser.add_argument("-o", "--output", required=True, help="pixel table to write (Parquet)")
    parser.add_argument("--stats", help="per-feature statistics to write (CSV)")
    parser.add_argument("--grid-dir", help="folder for one GeoTIFF per variable on the grid")
    parser.add_argument("--window", help="locate's window.json (default: locate here)")
    parser.add_argument(
        "--variables",
        nargs="+",
        default=["Oa08_reflectance"],
        help="product variables to extract, e.g. Oa08_reflectance TSM_NN CHL_OC4ME SZA "
        "(default: Oa08_reflectance)",
    )
    parser.add_argument("--angles", action="store_true", help="also extract " + " ".join(ANGLES))
    parser.add_argument(
        "--quality",
        default="water",
        choices=["water", "land", "none"],
        help="flag preset deciding which pixels are valid (default: water); "
        "--require/--require-any/--exclude replace it by an explicit rule",
    )
    parser.add_argument("--require", nargs="+", metavar="FLAG", help="flags that must all be set")
    parser.add_argument(
        "--require-any", nargs="+", metavar="FLAG", help="flags of which one must be set"
    )
    parser.add_argument("--exclude", nargs="+", metavar="FLAG", help="flags that must be clear")
    parser.add_argument(
        "--no-product-masks",
        action="store_true",
        help="keep product values where the product's own failure flag is set "
        "(e.g. CHL_OC4ME under OC4ME_FAIL)",
    )
    parser.add_argument(
        "--grid-crs", default=DEFAULT_GRID["crs"], help="grid CRS (default: %(default)s)"
    )
    parser.add_argument(
        "--resolution",
        type=float,
        default=DEFAULT_GRID["resolution"],
        help="grid cell size in CRS units (default: %(default)s)",
    )
    parser.add_argument(
        "--max-distance",
        type=float,
        default=DEFAULT_GRID["max_distance_m"],
        help="a cell takes the nearest valid pixel within this many metres (default: %(default)s)",
    )
    workers_argument(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    from eotrend.core.logs import setup_logging, user_errors

    if "snakemake" in globals():
        setup_logging(snakemake.log[0])
        dataset = snakemake.params.dataset
        with user_errors():
            main(
                snakemake.params.product,
                snakemake.input.aoi,
                snakemake.output.pixels,
                snakemake.output.stats,
                window_json=snakemake.input.window,
                grid_dir=snakemake.output.grid,
                variables=dataset["variables"],
                quality=dataset["quality"],
                grid=dataset["grid"],
                product_masks=dataset["product_masks"],
                threads=snakemake.threads,
                mem_mb=snakemake.resources.mem_mb,
                digest=snakemake.params.digest,
            )
    else:
        args = parse_args()
        setup_logging(verbose=args.verbose)
        explicit = args.require or args.require_any or args.exclude
        with user_errors():
            main(
                args.product,
                args.aoi,
                args.output,
                args.stats,
                window_json=args.window,
                grid_dir=args.grid_dir,
                variables=list(dict.fromkeys(args.variables + (ANGLES if args.angles else []))),
                quality={
                    "require": args.require or [],
                    "require_any": args.require_any or [],
                    "exclude": args.exclude or [],
                }
                if explicit
                else args.quality,
                grid={
                    "crs": args.grid_crs,
                    "resolution": args.resolution,
                    "max_distance_m": args.max_distance,
                },
                product_masks=not args.no_product_masks,
                threads=args.workers,
                mem_mb=args.mem_mb,
            )

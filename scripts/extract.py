"""extract: the pixels of a Sentinel-3 OLCI scene inside each AOI polygon.

Writes the pixel table (Parquet: scene, time, feature, row, col, lon, lat, variables in
physical units, flags, valid), per-feature statistics (CSV) and, with --grid-dir, one
GeoTIFF per variable on the dataset's regular grid.

    python scripts/extract.py PRODUCT.SEN3 AOI_FILE -o pixels.parquet --stats stats.csv \
        [--grid-dir DIR] [--variables Oa08_reflectance TSM_NN] [--quality water]
"""

import argparse
import json

DEFAULT_GRID = {"crs": "EPSG:4326", "resolution": 0.003, "max_distance_m": 400, "margin": 2}


def main(
    product: str,
    aoi: str,
    pixels: str,
    stats: str,
    *,
    window_json: str | None = None,
    grid_dir: str | None = None,
    variables: list[str],
    quality="water",
    grid: dict | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
    digest: str | None = None,
) -> None:
    """Extract one scene; the window comes from locate's JSON, or is located here."""
    from eotrend import locating, olci, provenance
    from eotrend.extraction import extract_to_files

    if window_json:
        with open(window_json, encoding="utf-8") as handle:
            bounds = json.load(handle)["window"]
        window = olci.Window(**bounds) if bounds else None
    else:
        window = locating.window_for(product, aoi)
    extract_to_files(
        product,
        aoi,
        window,
        pixels,
        stats,
        grid_dir,
        variables,
        quality,
        grid or DEFAULT_GRID,
        threads=threads,
        mem_mb=mem_mb,
        provenance=provenance.tags(digest),
    )


def parse_args(argv=None) -> argparse.Namespace:
    from eotrend.cli import workers_argument

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("product", help="unzipped .SEN3 product folder")
    parser.add_argument("aoi", help="polygon vector file (GeoJSON, GeoPackage, Shapefile, KML)")
    parser.add_argument("-o", "--output", required=True, help="pixel table to write (Parquet)")
    parser.add_argument("--stats", required=True, help="per-feature statistics to write (CSV)")
    parser.add_argument("--grid-dir", help="folder for one GeoTIFF per variable on the grid")
    parser.add_argument(
        "--variables",
        nargs="+",
        default=["Oa08_reflectance"],
        help="product variables to extract (default: Oa08_reflectance)",
    )
    parser.add_argument(
        "--quality",
        default="water",
        choices=["water", "land", "none"],
        help="flag preset deciding which pixels are valid (default: water)",
    )
    parser.add_argument(
        "--resolution",
        type=float,
        default=DEFAULT_GRID["resolution"],
        help="grid cell size in degrees (default: %(default)s)",
    )
    workers_argument(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    from eotrend.cli import setup_logging, user_errors

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
                threads=snakemake.threads,
                mem_mb=snakemake.resources.mem_mb,
                digest=snakemake.params.digest,
            )
    else:
        args = parse_args()
        setup_logging(verbose=args.verbose)
        with user_errors():
            main(
                args.product,
                args.aoi,
                args.output,
                args.stats,
                grid_dir=args.grid_dir,
                variables=args.variables,
                quality=args.quality,
                grid={**DEFAULT_GRID, "resolution": args.resolution},
                threads=args.workers,
                mem_mb=args.mem_mb,
            )

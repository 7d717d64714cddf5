"""locate: map every vertex of every AOI polygon onto a Sentinel-3 OLCI scene's pixel grid.

Writes one row per vertex (feature, part, ring, vertex, lon, lat, row, col, distance_m,
in_swath): the exact great-circle nearest pixel centre, ties to the lowest row, then
column; in_swath is false for vertices farther than about one pixel from every pixel
centre. With --window, also the pixel window that extraction reads.

    python scripts/locate.py PRODUCT.SEN3 AOI_FILE -o vertices.csv [--window window.json]
"""

import argparse


def main(
    product: str,
    aoi: str,
    vertices: str,
    window: str | None = None,
    *,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> None:
    """Locate the AOI's vertices in ``product``; write the tables."""
    from eotrend.sentinel3.locate import locate_to_files

    locate_to_files(product, aoi, vertices, window, threads=threads, mem_mb=mem_mb)


def parse_args(argv=None) -> argparse.Namespace:
    from eotrend.core.logs import workers_argument

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("product", help="unzipped .SEN3 product folder")
    parser.add_argument("aoi", help="polygon vector file (GeoJSON, GeoPackage, Shapefile, KML)")
    parser.add_argument("-o", "--output", required=True, help="vertex table to write (CSV)")
    parser.add_argument("--window", help="also write the extraction window (JSON)")
    workers_argument(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    from eotrend.core.logs import setup_logging, user_errors

    if "snakemake" in globals():
        setup_logging(snakemake.log[0])
        with user_errors():
            main(
                snakemake.params.product,
                snakemake.input.aoi,
                snakemake.output.vertices,
                snakemake.output.window,
                threads=snakemake.threads,
                mem_mb=snakemake.resources.mem_mb,
            )
    else:
        args = parse_args()
        setup_logging(verbose=args.verbose)
        with user_errors():
            main(
                args.product,
                args.aoi,
                args.output,
                args.window,
                threads=args.workers,
                mem_mb=args.mem_mb,
            )

"""timeseries: the per-scene statistics of a dataset as one table in time order.

One row per scene and feature: several scenes of one day (S3A and S3B) each keep their
row, with their own sensing time. A feature that consecutive frames of one pass each see
in part gets one row for the pass (statistics over the pixels of every frame; needs the
pixel tables, --pixels). A feature a scene observes less than --min-coverage of keeps
its row, noted low_coverage, without statistics.

python scripts/timeseries.py scenes/*/stats.csv -o timeseries.csv \\
    --pixels scenes/*/pixels.parquet --min-coverage 0.9
"""

import argparse


def main(
    stats: list[str],
    output: str,
    *,
    pixels: list[str] | None = None,
    min_coverage: float = 0.0,
) -> None:
    """Concatenate per-scene statistics tables, merged per pass and judged by coverage
    (see :func:`eotrend.stages.timeseries.collect_statistics`), sorted by time and feature."""
    from eotrend.stages.timeseries import collect_statistics

    collect_statistics(stats, output, min_coverage=min_coverage, pixel_paths=pixels)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stats", nargs="+", help="per-scene statistics tables (CSV)")
    parser.add_argument("-o", "--output", required=True, help="time series table to write")
    parser.add_argument(
        "--pixels", nargs="+", help="the scenes' pixel tables (Parquet): merge frames of a pass"
    )
    parser.add_argument(
        "--min-coverage",
        type=float,
        default=0.0,
        help="fraction of a feature a scene must observe to enter the series (default: 0)",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    from eotrend.core.logs import setup_logging, user_errors

    if "snakemake" in globals():
        setup_logging(snakemake.log[0])
        with user_errors():
            main(
                list(snakemake.params.stats),  # made by the batches (the inputs)
                snakemake.output.table,
                pixels=list(snakemake.params.pixels),
                min_coverage=snakemake.params.min_coverage,
            )
    else:
        args = parse_args()
        setup_logging()
        with user_errors():
            main(args.stats, args.output, pixels=args.pixels, min_coverage=args.min_coverage)

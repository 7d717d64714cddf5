"""timeseries: the per-scene statistics of a dataset as one table in time order.

python scripts/timeseries.py scenes/*/stats.csv -o timeseries.csv
"""

import argparse


def main(stats: list[str], output: str) -> None:
    """Concatenate per-scene statistics tables, sorted by time and feature."""
    from eotrend.extraction import collect_statistics

    collect_statistics(stats, output)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stats", nargs="+", help="per-scene statistics tables (CSV)")
    parser.add_argument("-o", "--output", required=True, help="time series table to write")
    return parser.parse_args(argv)


if __name__ == "__main__":
    from eotrend.cli import setup_logging, user_errors

    if "snakemake" in globals():
        setup_logging(snakemake.log[0])
        with user_errors():
            main(list(snakemake.input.stats), snakemake.output.table)
    else:
        args = parse_args()
        setup_logging()
        with user_errors():
            main(args.stats, args.output)

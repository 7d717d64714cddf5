"""report: figures and the run summary of a dataset's results.

    python scripts/report.py trend-map TREND.tif -o map.png [--aoi AOI_FILE] [--title T]
    python scripts/report.py significance TREND.tif -o pvalues.png [--aoi AOI_FILE]
    python scripts/report.py timeseries TIMESERIES.csv --variable V -o plot.png [--robust]
    python scripts/report.py coverage MANIFEST.csv --table TIMESERIES.csv -o coverage.png
    python scripts/report.py quicklook PRODUCT.SEN3 --aoi AOI --window window.json \\
        --pixels pixels.parquet -o quicklook.png
    python scripts/report.py summary MANIFEST.csv --table TIMESERIES.csv -o summary.csv
"""

import argparse

KINDS = ("trend-map", "significance", "timeseries", "coverage", "quicklook", "summary")


def main(
    kind: str,
    source: str,
    output: str,
    *,
    title: str = "",
    aoi: str | None = None,
    variable: str | None = None,
    table: str | None = None,
    window: str | None = None,
    pixels: str | None = None,
    robust: bool = False,
) -> None:
    """Draw one figure (or write the summary table) from ``source``."""
    from eotrend.stages import report as plotting

    if kind == "trend-map":
        plotting.trend_map(source, output, title=title, aoi_path=aoi)
    elif kind == "significance":
        plotting.significance_map(source, output, title=title, aoi_path=aoi)
    elif kind == "timeseries":
        plotting.feature_timeseries(source, variable, output, title=title, robust=robust)
    elif kind == "coverage":
        plotting.coverage(source, table, output, title=title)
    elif kind == "quicklook":
        plotting.quicklook(source, aoi, window, pixels, output, title=title)
    else:
        from eotrend.stages.summary import run_summary

        run_summary(source, table, output)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("source", help="trend GeoTIFF, time series or manifest (CSV), or product")
    parser.add_argument("-o", "--output", required=True, help="PNG (or CSV) to write")
    parser.add_argument("--title", default="", help="figure title")
    parser.add_argument("--aoi", help="polygon file drawn on maps")
    parser.add_argument("--variable", help="variable of the time series")
    parser.add_argument("--robust", action="store_true", help="also draw the Theil-Sen line")
    parser.add_argument("--table", help="time series table (coverage, summary)")
    parser.add_argument("--window", help="locate's window.json (quicklook)")
    parser.add_argument("--pixels", help="extract's pixel table (quicklook)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    from eotrend.core.logs import setup_logging, user_errors

    if "snakemake" in globals():
        setup_logging(snakemake.log[0])
        inputs, params, wildcards = snakemake.input, snakemake.params, snakemake.wildcards
        about = [wildcards.get(key) for key in ("variable", "scene") if wildcards.get(key)]
        title = f"{wildcards.dataset}: {' '.join([*about, params.what])}"
        with user_errors():
            # A quicklook's product lives in the cache (a param), other sources are inputs.
            source = params.get("source") or inputs.source
            main(
                params.kind,
                source,
                snakemake.output[0],
                title=title,
                aoi=inputs.get("aoi") or None,
                variable=snakemake.wildcards.get("variable"),
                table=inputs.get("table"),
                window=params.get("window"),
                pixels=params.get("pixels"),
                robust=params.get("robust", False),
            )
    else:
        args = parse_args()
        setup_logging()
        with user_errors():
            main(
                args.kind,
                args.source,
                args.output,
                title=args.title,
                aoi=args.aoi,
                variable=args.variable,
                table=args.table,
                window=args.window,
                pixels=args.pixels,
                robust=args.robust,
            )

"""download: find a dataset's scenes or files, put them in the product cache, and write
the manifest (one row per scene: name, sensing times, path, size, checksum, status).

    python scripts/download.py config.yaml DATASET -o results/DATASET/manifest.csv

The cdse source (and a frozen manifest whose products must be fetched) reads the
Copernicus Data Space credentials from CDSE_USERNAME/CDSE_PASSWORD (CDSE_TOTP for
two-factor accounts) or from ~/.netrc ($NETRC); with source.cdse.fetch s3_files or
s3_windows it reads the object-store keys instead (CDSE_S3_ACCESS_KEY/CDSE_S3_SECRET_KEY
or the [cdse] profile of ~/.aws/credentials). They are never written anywhere.
When products fail, the manifest is written first (failed rows with their reasons);
with source.on_failure: fail the command then exits with status 1. Then one product of
each processing baseline among the scenes is checked against the dataset's variables
and quality setting (eotrend.sources.baselines): a variable that a baseline's products lack
(CHL_OC4ME in Collection 4) stops the command with one message.
"""

import argparse


def main(
    name: str,
    dataset: dict,
    manifest: str,
    *,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> None:
    """Collect the dataset's entries from its source, write ``manifest``, then fail
    (DownloadError) if products failed and the source's ``on_failure`` is ``fail``, and
    (InputError) if a configured variable or quality flag does not fit the scenes of one
    of their processing baselines."""
    from eotrend.sources.baselines import check_scenes
    from eotrend.sources.collect import check_failures, collect
    from eotrend.sources.scenelist import write_manifest

    entries = collect(name, dataset, threads=threads, mem_mb=mem_mb)
    write_manifest(manifest, entries)
    check_failures(name, entries, dataset["source"]["on_failure"])
    check_scenes(name, dataset, entries)


def parse_args(argv=None) -> argparse.Namespace:
    from eotrend.core.logs import workers_argument

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("config", help="workflow config file (YAML)")
    parser.add_argument("dataset", help="name of the dataset in the config")
    parser.add_argument("-o", "--output", required=True, help="manifest CSV to write")
    workers_argument(parser)
    return parser.parse_args(argv)


if __name__ == "__main__":
    from eotrend.core.logs import setup_logging, user_errors

    if "snakemake" in globals():
        setup_logging(snakemake.log[0])
        with user_errors():
            main(
                snakemake.wildcards.dataset,
                snakemake.params.dataset,
                snakemake.output.manifest,
                threads=snakemake.threads,
                mem_mb=snakemake.resources.mem_mb,
            )
    else:
        args = parse_args()
        setup_logging(verbose=args.verbose)
        with user_errors():
            from eotrend.core.config import load_dataset

            main(
                args.dataset,
                load_dataset(args.config, args.dataset),
                args.output,
                threads=args.workers,
                mem_mb=args.mem_mb,
            )

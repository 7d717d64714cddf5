"""The download stage (checkpoint ``download``): find a dataset's scenes or files, put
them in the product cache, and write the scene list (manifest.csv: one row per scene with
name, sensing times, path, size, checksum, status).

The cdse source (and a frozen manifest whose products must be fetched) reads the
Copernicus Data Space credentials from CDSE_USERNAME/CDSE_PASSWORD (CDSE_TOTP for
two-factor accounts) or from ~/.netrc ($NETRC); with ``source.cdse.fetch`` s3_files or
s3_windows it reads the object-store keys instead (CDSE_S3_ACCESS_KEY/CDSE_S3_SECRET_KEY
or the [cdse] profile of ~/.aws/credentials). They are never written anywhere. When
products fail, the scene list is written first (failed rows with their reasons); with
``source.on_failure: fail`` the stage then fails. Then one product of each processing
baseline among the scenes is checked against the dataset's variables and quality setting
(:mod:`eotrend.sources.baselines`): a variable that a baseline's products lack (CHL_OC4ME
in Collection 4) stops the stage with one message.
"""

from __future__ import annotations

from collections import Counter

import shapely

from eotrend.core.errors import InputError
from eotrend.geo.aoi import read_aoi
from eotrend.sources.baselines import check_scenes
from eotrend.sources.collect import check_failures, collect
from eotrend.sources.scenelist import write_manifest


def run(
    *,
    dataset: str,
    settings: dict,
    manifest: str,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> None:
    """Collect dataset ``dataset``'s scenes from its source and write ``manifest``.

    Args:
        dataset: the dataset's name (in messages and the cache layout).
        settings: the dataset's validated config (schema defaults filled in).
        manifest: the scene list to write (CSV).
        threads, mem_mb: the job's CPUs and memory budget (MB) for the worker pool.

    Raises:
        DownloadError: products failed and ``source.on_failure`` is ``fail``.
        InputError: the AOI file has problems (all listed, before anything is fetched:
            :func:`~eotrend.geo.aoi.read_aoi`); a configured variable or quality flag does
            not fit the scenes of one of their processing baselines.
    """
    if settings["kind"] == "sentinel3":  # every problem of the AOI file before any fetch
        read_aoi(settings["aoi"], settings.get("aoi_id"))
    entries = collect(dataset, settings, threads=threads, mem_mb=mem_mb)
    write_manifest(manifest, entries)
    check_failures(dataset, entries, settings["source"]["on_failure"])
    check_some_scene(dataset, settings, entries)
    check_scenes(dataset, settings, entries)


def check_some_scene(dataset: str, settings: dict, entries: list) -> None:
    """InputError, at the checkpoint, when every scene a sentinel3 dataset's source found
    was left out (or none was found): the AOI's bounds, the dates, how many scenes were
    found and why they were left out (the scene list, already written, says it per
    scene). Failed products are not this check's business: ``source.on_failure`` decides
    about them (:func:`~eotrend.sources.collect.check_failures`)."""
    if settings["kind"] != "sentinel3" or any(e.status in ("ok", "failed") for e in entries):
        return
    west, south, east, north = shapely.union_all(
        [f.geometry for f in read_aoi(settings["aoi"], ids=False)]
    ).bounds
    reasons = Counter(f"{e.status}: {e.reason}" for e in entries)
    why = "; ".join(f"{count} {reason}" for reason, count in sorted(reasons.items()))
    raise InputError(
        f"datasets.{dataset}",
        f"no usable scene of {settings['start']}..{settings['end']} over the AOI "
        f"{settings['aoi']} (lon {west:.4f}..{east:.4f}, lat {south:.4f}..{north:.4f}): "
        f"{len(entries)} scenes found" + (f" ({why})" if why else ""),
        "Check that the AOI is in lon/lat and where you expect it, and the dates; the scene "
        "list (manifest.csv) gives each scene's reason.",
    )

"""Scene batches: locate, extract and grid many scenes in one job, the scenes being the
tasks of one process pool.

A per-scene job pays an interpreter start, Snakemake's script wrapper and the heavy
imports (about a second) before reads that take milliseconds on a small window; a batch
pays them once. What per-scene jobs gave is kept:

* each scene is worked on in its own folder (vertices.csv, window.json, pixels.parquet,
  stats.csv, grid/, log.txt, each written atomically), a cache outside the rule's outputs
  like the product cache: Snakemake deletes a failed job's outputs, the cache keeps
  the scenes that finished;
* a scene is marked done by :data:`STAMP`, written after its outputs, which records what
  made them: the product, the AOI file's digest, the extraction settings' digest and the
  digest of the code on the extraction path. A rerun of the batch (Snakemake reruns it
  when it failed, was killed, an output is missing, or its scene list or settings
  changed) redoes only scenes without a current stamp;
* one scene's failure (an error, or a worker it kills twice) is reported by name after
  the other scenes finished; the batch then fails with the list, and a rerun redoes just
  the failed scenes.

What later rules read are the batch's declared outputs, gathered from the scene folders
(:mod:`eotrend.sentinel3.batches`): the batch table, the statistics, the pixel table, the
extraction windows and the grids.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from eotrend.core import provenance
from eotrend.core.atomic import atomic_path, write_text
from eotrend.core.errors import EotrendError
from eotrend.engine.limits import plan_workers
from eotrend.engine.pool import Task, WorkerCrashError, iter_tasks
from eotrend.geo.aoi import Feature, read_aoi
from eotrend.sentinel3 import batches
from eotrend.sentinel3.memory import scene_task_mb
from eotrend.sentinel3.remote import shared_reads

log = logging.getLogger(__name__)

STAMP = "done.json"
"""File in a scene's folder that marks its outputs complete and says what made them."""

SCENE_FILES = ("window.json", "pixels.parquet", "stats.csv", "grid")
"""What a scene's folder must hold besides its stamp for the batch's outputs (``grid``,
the scene's grids, only when the batch grids its scenes: :attr:`SceneSettings.grid`)."""

TABLE_COLUMNS = ("scene", "status", "seconds", "message", "remote_requests", "remote_bytes")
"""The batch table: one row per scene; status done (made now), kept (its stamp was
current) or failed (message says why); the range requests and bytes the scene read from
the object store (``fetch: s3_windows``; 0 for products in the cache), counted where they
are fetched (:func:`eotrend.sentinel3.remote.shared_reads`)."""


@dataclass(frozen=True)
class SceneJob:
    """One scene of a batch: its name, product folder and work folder."""

    name: str
    product: str
    folder: str

    @property
    def log(self) -> Path:
        """The scene's own log (copied into the batch's log once the scene is done)."""
        return Path(self.folder) / "log.txt"


@dataclass(frozen=True)
class SceneSettings:
    """What extraction needs from the dataset config (see extract.py); ``grid`` None:
    the scenes are not gridded (grid extent feature or none)."""

    variables: list[str]
    quality: str | dict
    grid: dict | None
    product_masks: bool
    aoi_id: str | None = None

    @property
    def digest(self) -> str:
        """The digest of these settings (in each scene's stamp and provenance tags).
        ``aoi_id`` counts only when set: scenes done before it existed stay current."""
        settings = {
            "variables": self.variables,
            "quality": self.quality,
            "grid": self.grid,
            "product_masks": self.product_masks,
        }
        if self.aoi_id is not None:
            settings["aoi_id"] = self.aoi_id
        return provenance.settings_digest(settings)


class BatchError(EotrendError):
    """Scenes of a batch failed (the message lists them and why)."""


def file_digest(path: str | Path) -> str:
    """SHA-256 (16 hex digits) of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def scene_files(gridded: bool) -> tuple[str, ...]:
    """The :data:`SCENE_FILES` a scene's folder holds when its batch grids its scenes
    (``gridded``) or not."""
    return SCENE_FILES if gridded else tuple(f for f in SCENE_FILES if f != "grid")


def is_current(job: SceneJob, stamp: dict, gridded: bool = True) -> bool:
    """Whether the scene's folder holds its outputs (:func:`scene_files`), made from
    exactly ``stamp``'s inputs."""
    folder = Path(job.folder)
    try:
        found = json.loads((folder / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return found == stamp and all((folder / name).exists() for name in scene_files(gridded))


def run_batch(
    jobs: list[SceneJob],
    aoi: str | Path,
    settings: SceneSettings,
    table_out: str | Path,
    *,
    threads: int | None = None,
    mem_mb: float | None = None,
    features: int,
) -> pd.DataFrame:
    """Process the scenes of a batch that are not current; write the batch table.
    ``features``: the AOI's, for the memory a scene takes in a worker.

    Returns the table (see :data:`TABLE_COLUMNS`, scenes in the given order).

    Raises:
        BatchError: some scenes failed (after all others finished; the table is then
            not written, so Snakemake sees the batch as not done).
    """
    # What a scene's outputs depend on besides its product: the AOI's content, the
    # extraction settings and the code on the extraction path (not the rest of the config,
    # not the figures' code).
    stamp = {
        "aoi": file_digest(aoi),
        "config": settings.digest,
        "code": provenance.code_digest(__name__),
    }
    rows = {}
    todo = []
    for job in jobs:
        if is_current(job, {"product": job.product, **stamp}, settings.grid is not None):
            rows[job.name] = (job.name, "kept", 0.0, "", 0, 0)
        else:
            todo.append(job)
    log.info("%d scenes: %d current, %d to process", len(jobs), len(jobs) - len(todo), len(todo))
    tasks = [Task(job.name, (asdict(job), str(aoi), asdict(settings), stamp)) for job in todo]
    task_mb = scene_task_mb(features)
    plan = plan_workers(len(tasks), threads=threads, mem_mb=mem_mb, task_mem_mb=task_mb)
    for index, result in iter_tasks(
        process_scene, tasks, plan, label="scenes", logger=log, crashes="yield"
    ):
        name = todo[index].name
        if isinstance(result, WorkerCrashError):
            result = ("failed", 0.0, str(result), 0, 0)
        rows[name] = (name, *result)
        _copy_scene_log(todo[index])
    table = pd.DataFrame([rows[job.name] for job in jobs], columns=list(TABLE_COLUMNS))
    failed = table[table["status"] == "failed"]
    if len(failed):
        listing = "; ".join(
            f"{s}: {m}" for s, m in zip(failed["scene"], failed["message"], strict=True)
        )
        raise BatchError(
            f"{len(failed)} of {len(table)} scenes failed ({listing}). The other scenes' "
            "outputs are kept: fix the cause (each scene's log is in this job's log) and run "
            "again; only these scenes are redone."
        )
    with atomic_path(table_out) as tmp:
        table.to_csv(tmp, index=False)
    return table


def gather_outputs(
    jobs: list[SceneJob],
    variables: list[str],
    stats: Path,
    pixels: Path,
    windows: Path,
    grids: Path | None,
) -> None:
    """Write the batch's declared outputs from its scenes' folders
    (:mod:`eotrend.sentinel3.batches`); no grids when ``grids`` is None."""
    folders = [Path(job.folder) for job in jobs]
    batches.write_stats([f / "stats.csv" for f in folders], stats)
    batches.write_pixels([f / "pixels.parquet" for f in folders], pixels)
    batches.write_windows({job.name: Path(job.folder) / "window.json" for job in jobs}, windows)
    if grids is not None:
        batches.write_grids([f / "grid" for f in folders], variables, grids)


def _copy_scene_log(job: SceneJob) -> None:
    """The scene's own log, into this job's log (the rule's declared log)."""
    try:
        text = job.log.read_text(encoding="utf-8").rstrip()
    except OSError:
        return
    log.info("log of %s:\n%s", job.name, text or "(empty)")


def process_scene(
    job: dict, aoi: str, settings: dict, stamp: dict
) -> tuple[str, float, str, int, int]:
    """Locate, extract and grid one scene (a pool task); its log goes to its own file.

    Locate and extract share what they read of a product in the object store (each byte
    is fetched once per scene: :func:`eotrend.sentinel3.remote.shared_reads`).

    Returns (status done or failed, seconds, message, object-store range requests,
    object-store bytes): an error fails this scene only.
    """
    job = SceneJob(**job)
    folder = Path(job.folder)
    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    handler = _scene_log(job.log)
    try:
        with shared_reads() as reads:
            status, message = _process_scene(job, folder, aoi, settings, stamp)
        if reads.requests:
            logging.getLogger("eotrend").info(
                "%s read %d range requests, %d bytes from the object store (%s)",
                job.name,
                reads.requests,
                reads.bytes,
                ", ".join(f"{name} {b}" for name, (_, b) in sorted(reads.files.items())),
            )
        return status, time.perf_counter() - start, message, reads.requests, reads.bytes
    finally:
        _close_log(handler)


def _process_scene(
    job: SceneJob, folder: Path, aoi: str, settings: dict, stamp: dict
) -> tuple[str, str]:
    """The body of :func:`process_scene`: (status, message). Locate and extract share
    the AOI (read once per process) and the scene's tie grid."""
    from eotrend.sentinel3.extract import extract_to_files
    from eotrend.sentinel3.locate import TieGrid, locate_to_files
    from eotrend.sentinel3.reader import open_product

    try:
        (folder / STAMP).unlink(missing_ok=True)
        features = _features(aoi, settings["aoi_id"])
        tie = TieGrid.read(open_product(job.product).path)
        window = locate_to_files(
            job.product, features, folder / "vertices.csv", folder / "window.json",
            threads=1, tie=tie,
        )  # fmt: skip
        extract_to_files(
            job.product,
            features,
            window,
            folder / "pixels.parquet",
            folder / "stats.csv",
            None if settings["grid"] is None else folder / "grid",
            settings["variables"],
            settings["quality"],
            settings["grid"],
            product_masks=settings["product_masks"],
            threads=1,
            provenance=provenance.tags(stamp["config"]),
            tie=tie,
        )
        write_text(folder / STAMP, json.dumps({"product": job.product, **stamp}, indent=1))
        return "done", ""
    except EotrendError as error:
        logging.getLogger("eotrend").error("%s", error)
        return "failed", str(error)
    except Exception as error:  # a bug: its traceback goes to the scene's log
        logging.getLogger("eotrend").exception("unexpected error")
        return "failed", f"{type(error).__name__}: {error} (traceback in {job.log})"


def _features(aoi: str, aoi_id: str | None) -> list[Feature]:
    """The batch's AOI, read once per process for all its scenes (5,000 lakes take 0.3 s
    to read); read again when the file has changed (its size or time)."""
    stat = Path(aoi).stat()
    return list(_read_features(aoi, aoi_id, stat.st_mtime_ns, stat.st_size))


@functools.lru_cache(maxsize=1)
def _read_features(aoi: str, aoi_id: str | None, *_version: int) -> tuple[Feature, ...]:
    return tuple(read_aoi(aoi, aoi_id))


def _scene_log(path: Path) -> logging.Handler:
    """Send this process's log records to ``path`` (truncated) until :func:`_close_log`."""
    from eotrend.core.logs import LOG_FORMAT

    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


def _close_log(handler: logging.Handler) -> None:
    logging.getLogger().removeHandler(handler)
    handler.close()


def run(
    *,
    aoi: str,
    table: str,
    stats: str,
    pixels: str,
    windows: str,
    scenes: list[dict],
    variables: list[str],
    quality: str | dict,
    product_masks: bool,
    grids: str | None = None,
    grid: dict | None = None,
    aoi_id: str | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> pd.DataFrame:
    """Run one batch of scenes (rules ``scenes`` and ``scenes_without_grids``) and write
    its outputs.

    Args:
        aoi: the AOI vector file.
        table: the batch table to write (CSV: scene, status, seconds, message).
        stats, pixels, windows, grids: the batch's statistics (CSV), pixel table
            (Parquet), extraction windows (JSON) and grids (GeoTIFF) to write, see
            :mod:`eotrend.sentinel3.batches`; ``grids`` None: the scenes are not gridded.
        scenes: one dict per scene with the :class:`SceneJob` fields (name, product,
            folder: its work folder).
        variables, quality, product_masks: the dataset's extraction settings.
        grid: the dataset's grid (crs, resolution, max_distance_m, margin), given with
            ``grids`` and only then.
        aoi_id: the AOI attribute that names each feature (None: ``name``, else the
            index; :func:`~eotrend.geo.aoi.read_aoi`).
        threads, mem_mb: the job's CPUs and memory budget (MB).
    """
    settings = SceneSettings(
        variables=list(variables),
        quality=quality,
        grid=grid,
        product_masks=product_masks,
        aoi_id=aoi_id,
    )
    if (grids is None) != (grid is None):
        raise ValueError("give the grid settings with the grids output, and only then")
    jobs = [SceneJob(**scene) for scene in scenes]
    features = len(read_aoi(aoi, aoi_id))  # the AOI's problems once, not once per scene
    done = run_batch(jobs, aoi, settings, table, threads=threads, mem_mb=mem_mb, features=features)
    gather_outputs(
        jobs,
        settings.variables,
        Path(stats),
        Path(pixels),
        Path(windows),
        None if grids is None else Path(grids),
    )
    return done


def batch_outputs(table: str | Path, gridded: bool = True) -> dict[str, str]:
    """The workflow's names of a batch's outputs besides its table ``<batch>.csv``:
    ``<batch>/stats.csv``, ``pixels.parquet``, ``windows.json`` and (``gridded``)
    ``grids.tif``."""
    folder = Path(table).with_suffix("")
    outputs = {
        "stats": str(folder / "stats.csv"),
        "pixels": str(folder / "pixels.parquet"),
        "windows": str(folder / "windows.json"),
    }
    if gridded:
        outputs["grids"] = str(folder / "grids.tif")
    return outputs


def jobs_from_manifest(manifest: str | Path, scenes_dir: str | Path) -> list[dict]:
    """The :class:`SceneJob` dicts of every usable (ok) scene of a scene list, each
    worked on in ``scenes_dir/<scene>/``."""
    from eotrend.sources.scenelist import read_entries

    return [
        {"name": entry.name, "product": entry.path, "folder": str(Path(scenes_dir) / entry.name)}
        for entry in read_entries(manifest)
        if entry.status == "ok"
    ]

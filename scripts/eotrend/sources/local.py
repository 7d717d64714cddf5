"""The ``local`` source: ``.SEN3`` folders and zips on disk (zips unzipped into the cache)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from eotrend.core.errors import InputError
from eotrend.engine.limits import plan_workers
from eotrend.engine.pool import Task, run_tasks
from eotrend.geo.aoi import Feature
from eotrend.sentinel3 import layout
from eotrend.sources.cdse.cache import (
    ProductError,
    check_product,
    install_zip,
    product_lock,
    product_path,
)
from eotrend.sources.entries import folder_entry, in_period, name_entry, product_entry
from eotrend.sources.scenelist import Entry, folder_size

log = logging.getLogger(__name__)


def zip_product_name(path: Path) -> str | None:
    """The product name of ``<name>.SEN3.zip`` or ``<name>.zip``, or None."""
    name = path.name.removesuffix(".zip").removesuffix(".SEN3")
    return name if path.name.endswith(".zip") and layout.PRODUCT_NAME.match(name) else None


def unzip_task(zip_path: str, cache: str, name: str) -> str:
    """Worker task: put a local product zip into the cache (unless there); returns ""
    or why it could not be used."""
    cache_path = Path(cache)
    with product_lock(cache_path, name):
        if check_product(product_path(cache_path, name)) is None:
            return ""
        try:
            install_zip(Path(zip_path), cache_path, name)
        except ProductError as error:
            return str(error)
    return ""


def local_products(
    folder: str | Path,
    start: str,
    end: str,
    aoi: list[Feature] | None = None,
    *,
    cache: str | Path | None = None,
    threads: int | None = None,
    mem_mb: float | None = None,
) -> list[Entry]:
    """Every product under ``folder`` (recursively) sensed within [start, end]: ``.SEN3``
    folders, and with ``cache`` also ``<name>.SEN3.zip``/``<name>.zip`` files.

    Folders and files whose name is not a product name are ignored; a zip whose product is
    also there as a folder is ignored. Zips sensed within the period are unzipped (safely,
    verified) into ``cache``; one that cannot be is listed as failed with the reason, and
    so is a damaged folder (see :func:`folder_entry`). Products outside the period or (with
    ``aoi``) whose footprint misses the AOI are listed as skipped with the reason.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            folder,
            "is not a folder",
            "Set source.local.path to the folder holding your .SEN3 products.",
        )
    outside = f"sensed outside {start}..{end}"
    entries = []
    folders = [
        path
        for path in sorted(folder.rglob("*.SEN3"))
        if path.is_dir() and layout.PRODUCT_NAME.match(path.name)
    ]
    as_folders = {path.name.removesuffix(".SEN3") for path in folders}
    for path in folders:
        # The period is read from the name, so that products outside it are not opened.
        entry = name_entry(path.name.removesuffix(".SEN3"), "skipped", outside, path)
        if in_period(datetime.fromisoformat(entry.sensing_start), start, end):
            entry = folder_entry(path, aoi)
        else:
            entry = replace(entry, size=folder_size(path))
        entries.append(entry)
    zips = {}
    if cache is not None:
        for path in sorted(folder.rglob("*.zip")):
            name = zip_product_name(path)
            if path.is_file() and name and name not in as_folders:
                zips.setdefault(name, path)
    wanted = []
    for name, path in zips.items():
        entry = name_entry(name, "skipped", outside, path, path.stat().st_size)
        if in_period(datetime.fromisoformat(entry.sensing_start), start, end):
            wanted.append((name, path))
        else:
            entries.append(entry)
    todo = [
        (name, path)
        for name, path in wanted
        if check_product(product_path(cache, name)) is not None
    ]
    problems = {}
    if todo:
        tasks = [Task(name, (str(path), str(cache), name)) for name, path in todo]
        plan = plan_workers(len(tasks), threads=threads, mem_mb=mem_mb, task_mem_mb=150)
        done = run_tasks(unzip_task, tasks, plan, label="unzip", logger=log, inline_single=True)
        problems = {name: problem for (name, _), problem in zip(todo, done, strict=True)}
    for name, path in wanted:
        if problems.get(name):
            entries.append(name_entry(name, "failed", problems[name], "", path.stat().st_size))
        else:
            entries.append(product_entry(product_path(cache, name), aoi=aoi))
    if not entries:
        raise InputError(
            folder,
            "holds no .SEN3 product folder or zip",
            "Put the products (folders or zips) there, or point source.local.path elsewhere.",
        )
    return entries

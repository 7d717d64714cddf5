"""Per-file fetching of one product, whatever the store (OData Nodes or the object store).

The product's ``xfdumanifest.xml`` comes first (checked against the store's size and
parsed); then each file the dataset needs (:func:`eotrend.sentinel3.layout.needed_files`)
that the cache lacks: streamed to ``<cache>/.partial/<name>.SEN3/<file>.part``, checked
against the size and MD5 the manifest lists (as the real manifests in
tests/data/real-manifests do; available even when the catalogue lists no checksum) and
renamed into ``<cache>/<name>.SEN3/`` in one step. Every file under a product's final name
is thus verified; the folder may hold only some of the product's files (a partial
product), and a later run that needs another variable fetches just that file.

A file that fails its MD5 is fetched again once (the transfer may have damaged it); the
same bytes twice end it (the store's copy is bad). A file the manifest lists that the
store does not have fails the product with that reason.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from eotrend.core.errors import InputError
from eotrend.sentinel3.layout import (
    MANIFEST,
    Listed,
    ManifestError,
    candidate_files,
    listed_files,
    needed_files,
    product_baseline,
)
from eotrend.sentinel3.reader import file_variables
from eotrend.sentinel3.remote import REMOTE_MARKER
from eotrend.sources.cdse.cache import (
    PARTIAL,
    ProductError,
    check_product,
    md5_of,
    product_lock,
    product_path,
)
from eotrend.sources.cdse.jobs import FetchJob, FetchResult, GaveUpError

log = logging.getLogger(__name__)


class Store(Protocol):
    """Where a product's files come from.

    ``where`` names the product's place in messages; ``sizes()`` maps the product's
    file names to their sizes in bytes (0 = not given), as the store lists them;
    ``get(name, part, size)`` appends the rest of file ``name`` (``size`` bytes, 0 =
    unknown) to ``part`` and returns the bytes received (raising GaveUpError, ProductError
    or CredentialsError).
    """

    where: str

    def sizes(self) -> dict[str, int]: ...

    def get(self, name: str, part: Path, size: int) -> int: ...


@dataclass
class _Run:
    """Counters of one product's fetch."""

    received: int = 0
    resumed: int = 0


def scene_files(folder: Path, variables: tuple[str, ...]) -> list[str]:
    """The files of a cached product that a dataset with ``variables`` reads: the needed
    files plus, for each variable the map does not know, the local file holding it."""
    listed = listed_files(folder / MANIFEST)
    files, unresolved = needed_files(listed, variables, product_baseline(folder.name))
    for variable in unresolved:
        holder = _local_holder(folder, variable, listed)
        if holder:
            files.append(holder)
    return list(dict.fromkeys(files))


def _local_holder(folder: Path, variable: str, listed: dict[str, Listed]) -> str | None:
    """The listed file present in ``folder`` that holds ``variable``, or None."""
    for name in candidate_files(variable, listed, ()):
        path = folder / name
        if path.is_file():
            try:
                if variable in file_variables(path):
                    return name
            except InputError:
                continue
    return None


def fetch_product_files(
    job: FetchJob, store: Store, *, finish: Callable[[Path], None] | None = None
) -> FetchResult:
    """Put the files of ``job``'s product that its dataset needs into the cache (a worker
    task); never raises for the product's own failure, which is returned with its reason.

    With ``finish`` (the object-store windowed mode) only the manifest is fetched, then
    ``finish(folder)`` is called (it records where the rest is read from).
    """
    began = time.monotonic()
    cache = Path(job.cache)
    folder = product_path(cache, job.name)
    run = _Run()
    with product_lock(cache, job.name):
        try:
            if not (folder / MANIFEST).is_file():
                _fetch_manifest(job, store, folder, run)
            listed = listed_files(folder / MANIFEST)
            if finish is not None:
                finish(folder)
            else:
                _fetch_needed(job, store, folder, listed, run)
        except ManifestError as error:
            return _failed(job, f"{store.where}: {error}", run, began)
        except (ProductError, GaveUpError) as error:
            return _failed(job, str(error), run, began)
    seconds = time.monotonic() - began
    note = "" if run.received else "already in the cache"
    return FetchResult(job.name, True, note, run.received, run.resumed, seconds)


def _failed(job: FetchJob, reason: str, run: _Run, began: float) -> FetchResult:
    return FetchResult(job.name, False, reason, run.received, run.resumed, time.monotonic() - began)


def _fetch_manifest(job: FetchJob, store: Store, folder: Path, run: _Run) -> None:
    """Fetch and install the product's manifest (its size from the store's listing)."""
    size = store.sizes().get(MANIFEST)
    if size is None:
        raise ProductError(f"{store.where} has no {MANIFEST}")
    part = _part(job, MANIFEST)
    for attempt in (1, 2):
        _get(store, MANIFEST, part, size, run)
        problem = ""
        if size and part.stat().st_size != size:
            problem = f"{MANIFEST} has {part.stat().st_size} bytes, the store lists {size}"
        else:
            try:
                listed_files(part)
            except ManifestError as error:
                problem = str(error)
        if not problem:
            break
        part.unlink(missing_ok=True)
        if attempt == 2:
            raise ProductError(f"{store.where}: {problem} (fetched twice)")
    _install(part, folder, MANIFEST)


def _fetch_needed(
    job: FetchJob, store: Store, folder: Path, listed: dict[str, Listed], run: _Run
) -> None:
    """Fetch the needed files the folder lacks, then look for the unknown variables."""
    files, unresolved = needed_files(listed, job.variables, product_baseline(job.name))
    for name in files:
        _ensure(job, store, folder, listed, name, run)
    for variable in unresolved:
        if _local_holder(folder, variable, listed):
            continue
        looked = [n for n in listed if (folder / n).is_file()]
        for name in candidate_files(variable, listed, looked):
            _ensure(job, store, folder, listed, name, run)
            if variable in file_variables(folder / name):
                log.info("%s: variable %s is in %s", job.name, variable, name)
                break
        else:
            log.warning(
                "%s: no file of the product holds variable %s (every listed file looked into)",
                job.name,
                variable,
            )


def _ensure(
    job: FetchJob, store: Store, folder: Path, listed: dict[str, Listed], name: str, run: _Run
) -> None:
    """Make ``folder/name`` a verified copy of the listed file (fetching it if needed)."""
    item = listed.get(name)
    if item is None:
        if name == MANIFEST:
            return
        raise ProductError(
            f"the xfdumanifest.xml of {job.name} does not list {name}, which the dataset "
            "needs: is the product of another type (WFR or LFR)?"
        )
    path = folder / name
    if path.is_file() and (item.size is None or path.stat().st_size == item.size):
        return
    sizes = store.sizes()
    if name not in sizes:
        raise ProductError(
            f"{store.where} lacks {name}, which the product's own xfdumanifest.xml lists"
        )
    part = _part(job, name)
    rejected = ""
    while True:
        _get(store, name, part, item.size or sizes[name], run)
        got = part.stat().st_size
        if item.size is not None and got != item.size:
            part.unlink()
            raise ProductError(
                f"{name} of {job.name}: the store sent {got} bytes, xfdumanifest.xml lists "
                f"{item.size}"
            )
        if not item.md5:
            break
        digest = md5_of(part)
        if digest == item.md5:
            break
        part.unlink()
        if digest == rejected:
            raise ProductError(
                f"{name} of {job.name} does not match its MD5 in xfdumanifest.xml "
                f"({item.md5}); the store sent the same bytes twice (MD5 {digest}), so "
                "fetching again will not help"
            )
        log.warning("%s: %s does not match its MD5 in xfdumanifest.xml; again", job.name, name)
        rejected = digest
    _install(part, folder, name)


def _get(store: Store, name: str, part: Path, size: int, run: _Run) -> None:
    if part.exists():
        run.resumed += part.stat().st_size
    part.parent.mkdir(parents=True, exist_ok=True)
    run.received += store.get(name, part, size)


def _part(job: FetchJob, name: str) -> Path:
    return Path(job.cache) / PARTIAL / f"{job.name}.SEN3" / f"{name}.part"


def _install(part: Path, folder: Path, name: str) -> None:
    """Rename a verified file into the product folder (one step)."""
    folder.mkdir(parents=True, exist_ok=True)
    os.replace(part, folder / name)


def cache_problem(folder: Path, mode: str, variables: tuple[str, ...]) -> str | None:
    """What a dataset fetching with ``mode`` still lacks of a cached product, or None.

    ``zip``: the whole product (:func:`eotrend.sources.cdse.cache.check_product`); the
    per-file modes: the files the dataset reads (:func:`scene_files`; an unknown variable
    counts as lacking while a listed file is missing that may hold it); ``s3_windows``:
    the manifest and the record of where the rest is read from.
    """
    if mode == "zip":
        return check_product(folder)
    if not (folder / MANIFEST).is_file():
        return "not in the cache"
    if mode == "s3_windows":
        return check_product(folder, needs=(MANIFEST, REMOTE_MARKER))
    try:
        listed = listed_files(folder / MANIFEST)
    except ManifestError as error:
        return str(error)
    files, unresolved = needed_files(listed, variables, product_baseline(folder.name))
    for variable in unresolved:
        holder = _local_holder(folder, variable, listed)
        candidates = candidate_files(variable, listed, ())
        if holder is None and any(not (folder / n).is_file() for n in candidates):
            return f"no file present holds variable {variable}"
        files += [holder] if holder else []
    return check_product(folder, needs=files)


def fetch_record(folder: Path, mode: str, variables: tuple[str, ...], zip_size: int) -> dict:
    """The manifest's ``fetch``, ``files`` and ``fetched_bytes`` of a cached product
    (see :class:`eotrend.sources.scenelist.Entry`); ``zip_size`` is the catalogue's size of the zip
    (0 = unknown: the unzipped size is given instead)."""
    if mode == "zip":
        size = zip_size or sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        return {"fetch": mode, "files": "", "fetched_bytes": size}
    listed = listed_files(folder / MANIFEST)
    names = scene_files(folder, variables)
    sizes = {
        n: (folder / n).stat().st_size if (folder / n).is_file() else listed[n].size or 0
        for n in names
    }
    fetched = sizes[MANIFEST] if mode == "s3_windows" else sum(sizes.values())
    files = ";".join(f"{n}={b}" for n, b in sizes.items())
    return {"fetch": mode, "files": files, "fetched_bytes": fetched}


def record_needs(fetch: str, files: str) -> tuple[str, ...] | None:
    """The files a manifest row's product must have in the cache (its ``files`` column;
    None = the whole product)."""
    if fetch in ("", "zip") or not files:
        return None
    names = tuple(part.partition("=")[0] for part in files.split(";") if part)
    return (MANIFEST, REMOTE_MARKER) if fetch == "s3_windows" else names

"""The product cache: one ``<name>.SEN3`` folder per product, verified against the
product's own ``xfdumanifest.xml`` (sizes and MD5s, as in tests/data/real-manifests), a
lock per product, and safe unzipping.

A product folder under its final name holds only verified files; everything partial lives
in ``<cache>/.partial``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from eotrend.core.errors import EotrendError
from eotrend.sentinel3.layout import MANIFEST, REQUIRED_FILES, ManifestError, listed_files

PARTIAL = ".partial"  # folder of the cache holding unfinished downloads and locks
CHUNK = 1 << 20  # bytes read and written at a time


class ProductError(EotrendError):
    """A product zip or folder that cannot be used.

    Args:
        message: what is wrong (names the product).
        corrupt: True when a new download may fix it (damaged bytes), False when it will
            not (an unsafe or misshapen zip).
    """

    def __init__(self, message: str, corrupt: bool = False) -> None:
        super().__init__(message)
        self.corrupt = corrupt

    def __reduce__(self):
        return (type(self), (str(self), self.corrupt))


def product_path(cache: str | Path, name: str) -> Path:
    """Where product ``name`` (without ``.SEN3``) lives in the cache."""
    return Path(cache) / f"{name}.SEN3"


def check_product(
    folder: Path,
    *,
    md5: bool = False,
    complete: bool = True,
    require_md5: bool = False,
    needs: Iterable[str] | None = None,
) -> str | None:
    """What is wrong with a product folder, or None when it is complete.

    Checks the required files and every file its ``xfdumanifest.xml`` lists, with the
    listed size, and with ``md5`` also the listed MD5 (``checksum checksumName="MD5"``;
    reads every byte). With ``require_md5`` (implies ``md5``) a listed
    file without an MD5 is a problem too: nothing listed goes unverified. With ``complete``
    false, listed files may be missing (users delete the bands they do not need), but
    those present must still have their listed size (a truncated copy fails). With
    ``needs`` (file names; the per-file fetch modes, :mod:`eotrend.sentinel3.layout`)
    exactly those must be there, and the other listed files may be missing.
    """
    if not folder.is_dir():
        return "not in the cache"
    required = REQUIRED_FILES if needs is None else tuple(dict.fromkeys((MANIFEST, *needs)))
    missing = [n for n in required if not (folder / n).is_file()]
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        listed = listed_files(folder / MANIFEST)
    except ManifestError as error:
        return str(error)
    for item in listed.values():
        path = folder / item.name
        if not path.is_file():
            if not complete or needs is not None:
                continue
            return f"missing {item.name} (listed in xfdumanifest.xml)"
        if item.size is not None and path.stat().st_size != item.size:
            return f"{item.name} has {path.stat().st_size} bytes, xfdumanifest.xml says {item.size}"
        if require_md5 and not item.md5:
            return f"{item.name} has no MD5 in xfdumanifest.xml"
        if (md5 or require_md5) and item.md5 and md5_of(path) != item.md5:
            return f"{item.name} does not match its MD5 in xfdumanifest.xml"
    return None


def md5_of(path: Path) -> str:
    """The MD5 of a file's bytes (lower-case hex)."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def product_lock(cache: Path, name: str) -> Iterator[None]:
    """Hold the cache's lock on product ``name`` (other jobs wait for it)."""
    folder = cache / PARTIAL
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def member_problem(info: zipfile.ZipInfo, top: str) -> str | None:
    """Why a zip member may not be extracted, or None."""
    name = info.filename
    parts = name.replace("\\", "/").split("/")
    if name.startswith(("/", "\\")) or ":" in parts[0] or ".." in parts or "\\" in name:
        return f"unsafe member path {name!r}"
    if stat.S_ISLNK(info.external_attr >> 16):
        return f"symbolic link {name!r}"
    if parts[0] != top:
        return f"member {name!r} outside the product folder {top}/"
    return None


def install_zip(zip_path: Path, cache: Path, name: str, *, require_md5: bool = False) -> Path:
    """Unzip product ``name`` into the cache: checked member names, CRCs and the product's
    own manifest (sizes and MD5s; with ``require_md5`` every listed file must have an MD5,
    see :func:`check_product`), then renamed into ``<cache>/<name>.SEN3`` in one step.
    Returns that path.

    Raises:
        ProductError: an unsafe or misshapen zip (``corrupt=False``) or damaged bytes
            (``corrupt=True``). Nothing is left under the final name either way.
    """
    top = f"{name}.SEN3"
    final = product_path(cache, name)
    staging = Path(tempfile.mkdtemp(prefix=f"{name}.", dir=cache / PARTIAL))
    try:
        try:
            with zipfile.ZipFile(zip_path) as archive:
                members = archive.infolist()
                problems = [p for p in (member_problem(i, top) for i in members) if p]
                if problems:
                    raise ProductError(f"{zip_path.name}: {problems[0]}; refused to unzip it")
                for info in members:
                    target = staging / info.filename
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    # Reading each member to its end checks its CRC-32 (BadZipFile otherwise).
                    with archive.open(info) as source, open(target, "wb") as sink:
                        shutil.copyfileobj(source, sink, CHUNK)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as error:
            raise ProductError(f"{zip_path.name} is not a valid zip ({error})", True) from None
        folder = staging / top
        problem = check_product(folder, md5=True, require_md5=require_md5)
        if problem:
            raise ProductError(f"{top} from {zip_path.name} is incomplete: {problem}", True)
        if final.exists():  # an unverified leftover: moved aside, then removed
            stale = staging / f".stale-{top}"
            os.replace(final, stale)
        os.replace(folder, final)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)

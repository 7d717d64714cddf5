"""Atomic outputs: write under a temporary name in the same folder, rename when complete.

A crash, a kill or a full disk therefore never leaves a partial file under a final name;
a full disk (or quota) is reported as an :class:`~eotrend.core.errors.OutputError` naming the
output. Temporary files left by a killed process are hidden (``.<name>.XXXXXXXX``) and
removed when the output is next completed.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from eotrend.core.errors import EotrendError, OutputError

_NO_ROOM_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_NO_ROOM_WORDS = ("no space left on device", "disk quota exceeded")
# GDAL reports a failed write as "Write error" without its cause: a write that failed
# with less than this left on the device failed for lack of room.
_NEARLY_FULL_BYTES = 2**20
_NO_ROOM_HINT = (
    "Free space there (or raise the quota), or write the outputs to a larger disk; "
    "nothing was left under this name, so a rerun starts this output afresh."
)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; rename it to ``final`` on success.

    The temporary name keeps the file's suffix (GDAL and pandas choose formats by it)
    unless ``suffix`` is given. On an exception the temporary file or folder is removed
    and the exception propagates (as an OutputError when the disk was full); ``final`` is
    left untouched. On success, temporary versions of ``final`` left by killed processes
    are removed: an output has one writer at a time (Snakemake's jobs, the cache's
    products).
    """
    final = Path(final)
    suffix = final.suffix if suffix is None else suffix
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent)
    except OSError as error:
        raise OutputError(
            final, f"cannot be written ({error.strerror})", "Check the folder and the disk."
        ) from error
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # the caller creates it (some writers refuse to overwrite)
    try:
        yield tmp
        if tmp.is_dir() and final.is_dir():
            shutil.rmtree(final)  # a folder cannot replace a non-empty folder
        os.replace(tmp, final)
    except BaseException as error:
        # A user error says what it means already; any other may mean a full disk.
        room = None if isinstance(error, EotrendError) else _no_room(error, final.parent)
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        if isinstance(error, OutputError) and Path(error.path).is_relative_to(tmp):
            # An output inside this folder output: named by the folder's final name.
            raise OutputError(final, error.problem, error.hint) from error
        if room:
            raise OutputError(final, f"cannot be written: {room}", _NO_ROOM_HINT) from error
        raise
    _remove_leftovers(final, suffix)


def _remove_leftovers(final: Path, suffix: str) -> None:
    """Remove temporary versions of ``final`` that a killed process left behind.

    Only a process killed outright (SIGKILL, a lost node) leaves one; they are hidden, and
    removed once ``final`` is complete.
    """
    name = re.compile(re.escape(f".{final.name}.") + r"[a-z0-9_]{8}" + re.escape(suffix))
    for path in final.parent.glob(f".{glob.escape(final.name)}.*"):
        if name.fullmatch(path.name):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _no_room(error: BaseException, folder: Path) -> str | None:
    """Why ``error`` means there was no room to write in ``folder``, or None if it does not."""
    if isinstance(error, OSError) and error.errno in _NO_ROOM_ERRNOS:
        cause = os.strerror(error.errno)
    elif any(words in str(error).lower() for words in _NO_ROOM_WORDS):
        cause = str(error)
    elif isinstance(error, RuntimeError) and _free_bytes(folder) < _NEARLY_FULL_BYTES:
        cause = f"{_free_bytes(folder)} bytes free after the write failed: {error}"
    else:
        return None
    return f"no space left in {folder} ({cause})"


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 2**63


def write_text(final: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``final`` atomically (UTF-8)."""
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")

"""Logging into a rule's log file (or stderr) and user errors as one clear line: the same
set-up for a stage run by its rule script and by ``python -m eotrend <stage>``."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from eotrend.core.errors import EotrendError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_path: str | None = None, *, verbose: bool = False) -> None:
    """Send log records to ``log_path`` (a rule's log file) or to stderr.

    With a log file, file descriptor 2 is redirected to it as well, so that messages
    written by pool workers and C libraries (which do not go through ``logging``) land
    in the same file instead of a SLURM log that is deleted on success.
    """
    level = logging.DEBUG if verbose else logging.INFO
    if log_path:
        stream = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        os.dup2(stream.fileno(), 2)
        sys.stderr = stream
    else:
        stream = sys.stderr
    logging.basicConfig(stream=stream, level=level, format=LOG_FORMAT, force=True)
    logging.captureWarnings(True)
    # An error raised while an object is closed (e.g. a GDAL dataset failing to flush to a
    # full disk) is printed as "Exception ignored in ..." with a traceback-like tail: it
    # becomes one log line, so that a user error stays the one message that stands out.
    sys.unraisablehook = _log_unraisable


def _log_unraisable(unraisable) -> None:
    """Log an exception Python could not raise (in a destructor, e.g. a GDAL dataset
    failing to flush when it is closed)."""
    logging.getLogger("eotrend").warning(
        "ignored while closing %r: %s: %s",
        unraisable.object,
        type(unraisable.exc_value).__name__,
        unraisable.exc_value,
    )


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn an :class:`EotrendError` into one clear line and exit status 1.

    Other exceptions are bugs: they keep their traceback.
    """
    try:
        yield
    except EotrendError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None

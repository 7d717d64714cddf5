"""Acquisition dates of rasters: from file names, from GDAL metadata, and per period.

Inputs are always ordered by these parsed dates, never by file name.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from eotrend.errors import InputError

DEFAULT_NAME_REGEX = r"(?P<year>(19|20)\d{2})"
# Metadata items that carry a date, in order of preference.
METADATA_KEYS = ("ACQUISITION_DATETIME", "DATE", "TIFFTAG_DATETIME")
PERIODS = ("none", "year", "month", "season")


def date_from_name(path: str | Path, regex: str = DEFAULT_NAME_REGEX) -> datetime | None:
    """The date in a file name: named groups year and optionally month, day (UTC).

    The regex is searched in the file name (not the folder). Returns None when it does
    not match.
    """
    match = re.search(regex, Path(path).name)
    if not match:
        return None
    parts = match.groupdict()
    try:
        return datetime(
            int(parts["year"]), int(parts.get("month") or 1), int(parts.get("day") or 1), tzinfo=UTC
        )
    except (KeyError, ValueError) as error:
        raise InputError(
            path,
            f"matches the date regex {regex!r} but not as a date ({error})",
            "The regex needs a named group year (and optionally month, day).",
        ) from error


def date_from_metadata(tags: dict[str, str]) -> datetime | None:
    """The date in a raster's metadata items (ISO 8601 or 'YYYY:MM:DD HH:MM:SS'), UTC."""
    for key in METADATA_KEYS:
        text = tags.get(key)
        if text:
            text = text.strip().replace("Z", "+00:00")
            if re.match(r"^\d{4}:\d{2}:\d{2}", text):  # TIFF's own format
                text = text.replace(":", "-", 2)
            parsed = datetime.fromisoformat(text)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None


def period_of(moment: datetime, period: str) -> tuple[str, datetime]:
    """The period a date belongs to: a label and the date that stands for it.

    year -> ("2019", 2019-07-02), month -> ("2019-03", 2019-03-16), season (DJF, MAM,
    JJA, SON; December counts with the next year's winter) -> ("2019-DJF", 2019-01-15),
    none -> the date itself. The representative date is the middle of the period, so a
    trend on composites has the same time axis as on single dates.
    """
    if period == "none":
        return moment.date().isoformat(), moment
    if period == "year":
        return f"{moment.year}", datetime(moment.year, 7, 2, tzinfo=UTC)
    if period == "month":
        return f"{moment:%Y-%m}", datetime(moment.year, moment.month, 16, tzinfo=UTC)
    if period == "season":
        year = moment.year + (moment.month == 12)
        name, middle = {
            12: ("DJF", 1),
            1: ("DJF", 1),
            2: ("DJF", 1),
            3: ("MAM", 4),
            4: ("MAM", 4),
            5: ("MAM", 4),
            6: ("JJA", 7),
            7: ("JJA", 7),
            8: ("JJA", 7),
            9: ("SON", 10),
            10: ("SON", 10),
            11: ("SON", 10),
        }[moment.month]
        return f"{year}-{name}", datetime(year, middle, 15, tzinfo=UTC)
    raise ValueError(f"unknown period {period!r}; expected one of {PERIODS}")

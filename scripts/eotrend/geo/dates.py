"""Acquisition dates of rasters: from file names, from GDAL metadata, and per period.

Inputs are always ordered by these parsed dates, never by file name. A file name is read
either with a regular expression (named groups ``year`` and optionally ``month``, ``day``)
or with a strptime pattern (e.g. ``%Y%m%d``) searched anywhere in the name.

Each reader also says whether its source carries a time of day ("timed"): a pattern
with %H/%M/%S, a metadata item with a time (Sentinel-3 scene grids carry the manifest's
sensing start). Without a composite, a timed input is one acquisition,
labelled by its sensing time to the second (``2021-06-04T00:10:16Z``), so the scenes of
one day (S3A and S3B, adjacent frames of one pass) stay apart; an untimed input is
labelled by its date (``2019-07-02``), and two on one date need a composite.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eotrend.core.errors import InputError

DEFAULT_NAME_REGEX = r"(?P<year>(19|20)\d{2})"
# Metadata items that carry a date, in order of preference.
METADATA_KEYS = ("ACQUISITION_DATETIME", "DATE", "TIFFTAG_DATETIME")
PERIODS = ("none", "daily", "year", "month", "season")
# strptime directives allowed in a date format, and the text each matches in a file name.
# Widths are fixed (zero-padded numbers), as in file names.
FORMAT_DIRECTIVES = {
    "Y": r"\d{4}",
    "y": r"\d{2}",
    "m": r"\d{2}",
    "d": r"\d{2}",
    "j": r"\d{3}",
    "H": r"\d{2}",
    "M": r"\d{2}",
    "S": r"\d{2}",
    "b": r"[A-Za-z]{3}",
    "B": r"[A-Za-z]+",
    "%": "%",
}


def check_regex(regex: str) -> re.Pattern[str]:
    """The compiled date regex; a syntax error or a missing ``year`` group is an error."""
    try:
        pattern = re.compile(regex)
    except re.error as error:
        raise InputError(
            "dates.regex",
            f"{regex!r} is not a valid regular expression ({error})",
            "Fix it (Python re syntax).",
        ) from error
    if "year" not in pattern.groupindex:
        raise InputError(
            "dates.regex",
            f"{regex!r} has no named group year",
            "Write the year as (?P<year>\\d{4}); month and day groups are optional.",
        )
    return pattern


def format_regex(date_format: str) -> str:
    """The regex matching what the strptime pattern ``date_format`` reads in a file name.

    Raises:
        InputError: a directive outside :data:`FORMAT_DIRECTIVES`, or no year (%Y, %y).
    """
    parts, i = [], 0
    while i < len(date_format):
        char = date_format[i]
        if char != "%":
            parts.append(re.escape(char))
            i += 1
            continue
        directive = date_format[i + 1 : i + 2]
        if directive not in FORMAT_DIRECTIVES:
            raise InputError(
                "dates.format",
                f"{date_format!r}: %{directive} is not supported in file names",
                "Use " + ", ".join(f"%{d}" for d in FORMAT_DIRECTIVES) + ".",
            )
        parts.append(FORMAT_DIRECTIVES[directive])
        i += 2
    if not re.search(r"%[Yy]", date_format.replace("%%", "")):
        raise InputError("dates.format", f"{date_format!r} has no year (%Y or %y)", "Add the year.")
    return "".join(parts)


def format_has_time(date_format: str) -> bool:
    """Whether a strptime pattern reads a time of day (%H, %M or %S)."""
    return bool(re.search(r"%[HMS]", date_format.replace("%%", "")))


def date_from_name(path: str | Path, regex: str = DEFAULT_NAME_REGEX) -> datetime | None:
    """The date in a file name: named groups year and optionally month, day (UTC; no time
    of day).

    The regex is searched in the file name (not the folder). Returns None when it does
    not match.
    """
    match = check_regex(regex).search(Path(path).name)
    if not match:
        return None
    parts = match.groupdict()
    try:
        return datetime(
            int(parts["year"]), int(parts.get("month") or 1), int(parts.get("day") or 1), tzinfo=UTC
        )
    except ValueError as error:
        raise InputError(
            path,
            f"matches the date regex {regex!r} but not as a date ({error})",
            "The regex needs a named group year (and optionally month, day).",
        ) from error


def date_from_format(path: str | Path, date_format: str) -> datetime | None:
    """The date in a file name read with a strptime pattern, e.g. ``%Y%m%d`` (UTC).

    The first substring of the file name (not the folder) that has the pattern's shape
    (fixed-width numbers, see :data:`FORMAT_DIRECTIVES`) and parses as a valid date wins:
    in ``LC08_231062_20190305_20200829.tif``, ``%Y%m%d`` reads 2019-03-05. Returns None
    when no substring parses.
    """
    # A lookahead finds overlapping candidates: "x2019030512" tries 20190305, 01903051...
    candidates = re.finditer(f"(?=({format_regex(date_format)}))", Path(path).name)
    for match in candidates:
        try:
            return datetime.strptime(match.group(1), date_format).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def acquisition_from_metadata(
    tags: dict[str, str], source: str | Path | None = None
) -> tuple[datetime, bool] | None:
    """The date in a raster's metadata items (ISO 8601 or 'YYYY:MM:DD HH:MM:SS'), UTC, and
    whether the item gives a time of day (``2019-07-02T10:30:00Z``: True, ``2019-07-02``:
    False).

    Returns None when no item of :data:`METADATA_KEYS` is set. An item that is set but is
    not a date is an InputError naming ``source`` (the raster) and the item.
    """
    for key in METADATA_KEYS:
        raw = tags.get(key)
        if raw:
            text = raw.strip().replace("Z", "+00:00")
            if re.match(r"^\d{4}:\d{2}:\d{2}", text):  # TIFF's own format
                text = text.replace(":", "-", 2)
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError as error:
                raise InputError(
                    source or key,
                    f"metadata item {key} = {raw!r} is not a date",
                    "Set it to an ISO 8601 date (e.g. 2019-07-02 or 2019-07-02T10:30:00Z), "
                    "or read the dates from the file names.",
                ) from error
            moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
            return moment.astimezone(UTC), bool(re.search(r"\d[T ]\d", text))
    return None


def date_from_metadata(tags: dict[str, str], source: str | Path | None = None) -> datetime | None:
    """The date of :func:`acquisition_from_metadata` alone (None when there is none)."""
    found = acquisition_from_metadata(tags, source)
    return None if found is None else found[0]


def round_to_second(moment: datetime) -> datetime:
    """``moment`` rounded to the nearest second, as product names round the sensing start
    (tests/data/real-manifests: startTime 00:10:15.867265 -> 001016 in the name)."""
    return (moment + timedelta(microseconds=500_000)).replace(microsecond=0)


def acquisition_label(moment: datetime, timed: bool) -> str:
    """An acquisition's label: its UTC time to the second (``2021-06-04T00:10:16Z``) when
    ``timed``, else its date (``2021-06-04``)."""
    if not timed:
        return moment.date().isoformat()
    return round_to_second(moment.astimezone(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def period_of(moment: datetime, period: str, timed: bool = False) -> tuple[str, datetime]:
    """The period a date belongs to: a label and the date that stands for it.

    none -> the acquisition itself: (:func:`acquisition_label`, the moment, rounded to
    the second when ``timed``); daily (UTC days) -> ("2019-03-05", 2019-03-05T12:00Z);
    year -> ("2019", 2019-07-02), month -> ("2019-03", 2019-03-16), season (DJF, MAM, JJA,
    SON; December counts with the next year's winter) -> ("2019-DJF", 2019-01-15). The
    representative date of a composite is the middle of its period, so a trend on
    composites has the same time axis as on single dates.
    """
    if period == "none":
        return acquisition_label(moment, timed), round_to_second(moment) if timed else moment
    if period == "daily":
        day = moment.astimezone(UTC)
        return day.date().isoformat(), datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
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

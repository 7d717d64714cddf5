"""Dates from names, metadata and periods, against hand-written values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eotrend.core.errors import InputError
from eotrend.geo.dates import (
    acquisition_from_metadata,
    acquisition_label,
    date_from_format,
    date_from_metadata,
    date_from_name,
    format_has_time,
    period_of,
    round_to_second,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_date_from_name():
    assert date_from_name("ndvi_max_1995.tif") == datetime(1995, 1, 1, tzinfo=UTC)
    regex = r"(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})"
    assert date_from_name("/x/2021/S2_20210315_B4.tif", regex) == datetime(2021, 3, 15, tzinfo=UTC)
    assert date_from_name("nodate.tif") is None


def test_date_regex_errors_name_the_setting():
    with pytest.raises(InputError, match=r"dates.regex.*no named group year"):
        date_from_name("a_2020.tif", r"(?P<yr>\d{4})")
    with pytest.raises(InputError, match=r"dates.regex.*not a valid regular expression"):
        date_from_name("a_2020.tif", r"(?P<year>\d{4}")
    with pytest.raises(InputError, match=r"a_2020_13\.tif.*not as a date"):
        date_from_name("a_2020_13.tif", r"(?P<year>\d{4})_(?P<month>\d{2})")


@pytest.mark.parametrize(
    ("name", "date_format", "expected"),
    [
        # Landsat collection name: acquisition date first, then processing date.
        ("LC08_L2SP_231062_20190305_20200829_02_T1_SR_B4.TIF", "%Y%m%d", utc(2019, 3, 5)),
        # 20201340 has the shape of %Y%m%d but month 13: the next candidate wins.
        ("x_20201340_20200105.tif", "%Y%m%d", utc(2020, 1, 5)),
        ("MOD13Q1.A2019123.h12v10.tif", "A%Y%j", utc(2019, 5, 3)),
        ("ndvi_2003-06.tif", "%Y-%m", utc(2003, 6, 1)),
        ("scene_05Mar2021.tif", "%d%b%Y", utc(2021, 3, 5)),
        ("S2_20200105T103421_B04.tif", "%Y%m%dT%H%M%S", utc(2020, 1, 5, 10, 34, 21)),
        ("/data/2021/ndvi.tif", "%Y", None),  # the folder is not searched
        ("ndvi_99.tif", "%Y", None),
    ],
)
def test_date_from_format(name, date_format, expected):
    assert date_from_format(name, date_format) == expected


@pytest.mark.parametrize(("date_format", "problem"), [("%Y%U", "%U"), ("%m%d", "no year")])
def test_date_format_errors_name_the_setting(date_format, problem):
    with pytest.raises(InputError, match=f"dates.format.*{problem}"):
        date_from_format("a_20200105.tif", date_format)


def test_date_from_metadata():
    assert date_from_metadata({"DATE": "2019-07-02"}) == datetime(2019, 7, 2, tzinfo=UTC)
    assert date_from_metadata({"TIFFTAG_DATETIME": "2019:07:02 10:30:00"}) == datetime(
        2019, 7, 2, 10, 30, tzinfo=UTC
    )
    assert date_from_metadata({"ACQUISITION_DATETIME": "2019-07-02T10:30:00+02:00"}) == datetime(
        2019, 7, 2, 8, 30, tzinfo=UTC
    )
    assert date_from_metadata({}) is None


@pytest.mark.parametrize(
    ("moment", "period", "label", "middle"),
    [
        (datetime(2019, 3, 5, tzinfo=UTC), "year", "2019", datetime(2019, 7, 2, tzinfo=UTC)),
        (datetime(2019, 3, 5, tzinfo=UTC), "month", "2019-03", datetime(2019, 3, 16, tzinfo=UTC)),
        (
            datetime(2019, 12, 5, tzinfo=UTC),
            "season",
            "2020-DJF",
            datetime(2020, 1, 15, tzinfo=UTC),
        ),
        (datetime(2019, 8, 5, tzinfo=UTC), "season", "2019-JJA", datetime(2019, 7, 15, tzinfo=UTC)),
    ],
)
def test_periods(moment, period, label, middle):
    assert period_of(moment, period) == (label, middle)


def test_metadata_says_whether_it_has_a_time_of_day():
    """A scene grid's ACQUISITION_DATETIME is the manifest's sensing start with
    microseconds (2021-06-04T00:10:15.867265Z in tests/data/real-manifests): a time of
    day; an Earth Engine style DATE of a day is not."""
    assert acquisition_from_metadata({"ACQUISITION_DATETIME": "2021-06-04T00:10:15.867265Z"}) == (
        datetime(2021, 6, 4, 0, 10, 15, 867265, tzinfo=UTC),
        True,
    )
    assert acquisition_from_metadata({"DATE": "2019-07-02"}) == (utc(2019, 7, 2), False)
    assert acquisition_from_metadata({"TIFFTAG_DATETIME": "2019:07:02 10:30:00"})[1] is True
    assert acquisition_from_metadata({"DATE": "2019-07-02T00:00:00"}) == (utc(2019, 7, 2), True)
    assert acquisition_from_metadata({}) is None
    assert [format_has_time(f) for f in ("%Y%m%dT%H%M%S", "%Y%m%d", "%Y%%H")] == [
        True,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("start", "name_field"),
    [
        # A real manifest's start and its product name field (tests/data/real-manifests),
        # and the rounding example 13:50:01.88 -> 135002.
        (datetime(2021, 6, 4, 0, 10, 15, 867265, tzinfo=UTC), "20210604T001016"),
        (datetime(2019, 11, 4, 13, 50, 1, 880000, tzinfo=UTC), "20191104T135002"),
        (datetime(2020, 12, 31, 23, 59, 59, 500000, tzinfo=UTC), "20210101T000000"),
    ],
)
def test_acquisition_label_rounds_like_product_names(start, name_field):
    """A scene is labelled by its sensing start rounded to the nearest second, as its
    product name is (so the label and the name agree), in ISO 8601 UTC."""
    expected = datetime.strptime(name_field, "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    assert round_to_second(start) == expected
    assert acquisition_label(start, True) == expected.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert acquisition_label(start, False) == start.date().isoformat()


def test_none_and_daily_periods():
    """none: a timed acquisition is itself (to the second), a day stays a day; daily: the
    UTC day, represented by its middle (12:00 UTC), as months by the 16th."""
    moment = datetime(2021, 6, 4, 23, 59, 59, 700000, tzinfo=UTC)
    assert period_of(moment, "none", True) == ("2021-06-05T00:00:00Z", utc(2021, 6, 5))
    assert period_of(utc(2021, 6, 4), "none") == ("2021-06-04", utc(2021, 6, 4))
    assert period_of(moment, "daily") == ("2021-06-04", utc(2021, 6, 4, 12))
    assert period_of(moment, "daily", True) == ("2021-06-04", utc(2021, 6, 4, 12))

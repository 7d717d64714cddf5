"""Dates from names, metadata and periods, against hand-written values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from eotrend.dates import date_from_metadata, date_from_name, period_of


def test_date_from_name():
    assert date_from_name("ndvi_max_1995.tif") == datetime(1995, 1, 1, tzinfo=UTC)
    regex = r"(?P<year>\d{4})(?P<month>\d{2})(?P<day>\d{2})"
    assert date_from_name("/x/2021/S2_20210315_B4.tif", regex) == datetime(2021, 3, 15, tzinfo=UTC)
    assert date_from_name("nodate.tif") is None


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

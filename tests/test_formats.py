"""Dates, plurals and counters in the reader's language."""

import datetime as dt

import pytest
from django.utils import formats, translation

NOV_3 = dt.datetime(2026, 11, 3, 9, 5, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("SHORT_DATE_FORMAT", "2026-11-03"),
        ("SHORT_DATETIME_FORMAT", "2026-11-03 09:05"),
        ("DATE_FORMAT", "2026년 11월 3일"),
    ],
)
def test_korean_dates_zero_padded_where_numeric(name, written):
    with translation.override("ko"):
        assert formats.date_format(NOV_3, name) == written

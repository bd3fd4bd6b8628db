"""When the next NHIS general check-up is due (every two years for adults, by birth-year parity)."""

import datetime as dt

import pytest

from records.checkups import due_year

D = dt.date


@pytest.mark.parametrize(
    ("birth", "last", "today", "expected"),
    [
        # Born in an even year: checked in even years.
        (D(1990, 7, 2), None, D(2026, 12, 1), 2026),  # due this year, not yet had
        (D(1990, 7, 2), D(2026, 5, 3), D(2026, 12, 1), 2028),  # had this year's
        (D(1990, 7, 2), D(2024, 5, 3), D(2025, 3, 1), 2026),  # odd year: next even one
        (D(1990, 7, 2), D(2022, 5, 3), D(2026, 1, 2), 2026),  # skipped 2024: due now
        # Born in an odd year: odd years.
        (D(1971, 3, 9), D(2025, 9, 9), D(2026, 12, 1), 2027),
        (D(1971, 3, 9), None, D(2026, 12, 1), 2027),
        # Turning 20: the first cycle year from the year of their 20th birthday.
        (D(2006, 11, 30), None, D(2026, 1, 5), 2026),
        (D(2007, 1, 1), None, D(2026, 1, 5), 2027),
        # A child: none.
        (D(2019, 4, 10), None, D(2026, 12, 1), None),
    ],
)
def test_due_year(birth, last, today, expected):
    assert due_year(birth, last, today) == expected

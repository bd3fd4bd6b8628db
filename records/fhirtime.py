"""FHIR dates and times as Python datetimes (a module of its own so that the readers of
resources, records.projection and records.prescriptions, share it without importing each
other)."""

import datetime as dt

from django.utils.dateparse import parse_datetime

KST = dt.timezone(dt.timedelta(hours=9))


def parse_fhir_datetime(value) -> dt.datetime | None:
    """A FHIR date, dateTime or instant as an aware datetime; partial dates start at the start."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) == 4:
        value = f"{value}-01-01"
    elif len(value) == 7:
        value = f"{value}-01"
    if len(value) == 10:
        try:
            return dt.datetime.fromisoformat(value).replace(tzinfo=KST)
        except ValueError:
            return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        # FHIR allows a leap second (:60), which Python's datetimes do not: the second before.
        leap = value[16:19] == ":60" and value[:16] + ":59" + value[19:]
        if not leap:
            return None
        return parse_fhir_datetime(leap)
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=KST)
    return parsed


def storable(moment: dt.datetime | None) -> dt.datetime | None:
    """`moment`, or None outside years 2–9998: what a timestamp column holds and every page
    can work with — shown in any time zone, a year taken off or added (year 1 east of
    Greenwich was stored as a date BC, which the driver cannot read back; 9999 shown in KST,
    or a year before year 1, overflowed Python's dates)."""
    if moment is None:
        return None
    try:
        year = moment.astimezone(dt.UTC).year
    except OverflowError:
        return None
    return moment if 2 <= year <= 9998 else None

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
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=KST)
    return parsed


def storable(moment: dt.datetime | None) -> dt.datetime | None:
    """`moment`, or None when it has no instant in UTC within years 1–9999 (the first hours
    of year 1 east of Greenwich, the last of 9999 west of it): what a timestamp column can
    hold and be read back from (PostgreSQL would store the first as a date BC, which the
    driver then cannot read)."""
    if moment is None:
        return None
    try:
        moment.astimezone(dt.UTC)
    except OverflowError:
        return None
    return moment

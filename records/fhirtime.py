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

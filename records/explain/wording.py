"""Deterministic wording of one result: where it stands against the lab's range, how it
changed, whether results can be compared, and when it was last measured.

Pure functions of values and records (no queries), so that their tables of cases are tested
one line each (tests/test_explain_wording.py). The thresholds are fixed and written here:

- "a little" above or below: within 10 % of the bound it passed; "far": more than 50 % past
  it (with a bound of 0, measured against the range's width). Far outside, or flagged critical
  by the lab (HH, LL, AA), is URGENT: the sentence asks the reader to contact their clinician.
- "steady" over the last year: the latest within 5 % of the first result of the 365 days
  before it.
"""

import datetime as dt
from decimal import Decimal

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from records.explain.base import ATTENTION, INFO, URGENT, Sentence
from records.ranges import reference_range
from records.units import display_unit, unit_suffix

LITTLE = 0.10
FAR = 0.50
STEADY = 0.05
YEAR = dt.timedelta(days=365)
# v3 ObservationInterpretation codes a lab uses for a critical value.
CRITICAL_CODES = {"HH", "LL", "AA"}

IN, A_LITTLE_ABOVE, ABOVE, FAR_ABOVE = "in", "a_little_above", "above", "far_above"
A_LITTLE_BELOW, BELOW, FAR_BELOW, NO_RANGE = "a_little_below", "below", "far_below", "no_range"


def number(value) -> str:
    """A value as sent (a Decimal keeps its digits), else up to two decimals, no trailing 0."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.2f}".rstrip("0").rstrip(".")


def position(value: float, low: float | None, high: float | None) -> str:
    """Where `value` stands against a range (bounds inclusive: a value at a bound is in)."""
    if low is None and high is None:
        return NO_RANGE
    if high is not None and value > high:
        ref = abs(high) if high else (high - low if low is not None and high > low else 1)
        excess = (value - high) / ref
        return A_LITTLE_ABOVE if excess <= LITTLE else ABOVE if excess <= FAR else FAR_ABOVE
    if low is not None and value < low:
        ref = abs(low) if low else (high - low if high is not None and high > low else 1)
        deficit = (low - value) / ref
        return A_LITTLE_BELOW if deficit <= LITTLE else BELOW if deficit <= FAR else FAR_BELOW
    return IN


def critical(resource: dict | None) -> bool:
    """Whether the lab flagged the value critical (HH, LL, AA, or the word in its text)."""
    for concept in (resource or {}).get("interpretation") or []:
        if not isinstance(concept, dict):
            continue
        for coding in concept.get("coding") or []:
            if isinstance(coding, dict) and coding.get("code") in CRITICAL_CODES:
                return True
        if "critical" in str(concept.get("text", "")).lower():
            return True
    return False


def value_text(record) -> str:
    """ "6.3%", "125/82 mmHg"."""
    text = number(record.value_num)
    if record.value_num2 is not None:
        text += "/" + number(record.value_num2)
    return text + unit_suffix(record.unit)


def date_text(when: dt.datetime) -> str:
    return formats.date_format(timezone.localtime(when), "DATE_FORMAT")


def range_sentence(record) -> Sentence:
    """The latest value against the range its lab sent, in words."""
    rr = reference_range(record.resource)
    low, high = rr.bounds()
    where = position(record.value_num, low, high)
    unit = unit_suffix(record.unit)
    values = {
        "value": value_text(record),
        "high": f"{number(rr.high)}{unit}" if rr.high is not None else "",
        "low": f"{number(rr.low)}{unit}" if rr.low is not None else "",
        "range": f"{rr.words()}{unit}",
    }
    texts = {
        IN: _("Within the range the lab uses: %(value)s (range %(range)s)."),
        A_LITTLE_ABOVE: _("A little above the range the lab uses: %(value)s vs up to %(high)s."),
        ABOVE: _("Above the range the lab uses: %(value)s vs up to %(high)s."),
        FAR_ABOVE: _("Far above the range the lab uses: %(value)s vs up to %(high)s."),
        A_LITTLE_BELOW: _("A little below the range the lab uses: %(value)s vs at least %(low)s."),
        BELOW: _("Below the range the lab uses: %(value)s vs at least %(low)s."),
        FAR_BELOW: _("Far below the range the lab uses: %(value)s vs at least %(low)s."),
        NO_RANGE: _(
            "The institution sent no reference range with this value (%(value)s); your "
            "clinician judges it."
        ),
    }
    if where == NO_RANGE and rr.text:
        text = _("%(value)s; the lab's range: %(text)s.") % {
            "value": values["value"],
            "text": rr.text,
        }
    else:
        text = texts[where] % values
    tone = INFO if where in (IN, NO_RANGE) else URGENT if where.startswith("far") else ATTENTION
    return Sentence(text, (record,), tone)


def urgent_sentence(record) -> Sentence | None:
    """The prompt to contact a clinician, for a value flagged critical or far outside."""
    if critical(record.resource):
        return Sentence(
            _(
                "The lab flagged this value as critical. Please contact your clinician or the "
                "institution about it soon; do not wait for your next visit."
            ),
            (record,),
            URGENT,
        )
    low, high = reference_range(record.resource).bounds()
    if record.value_num is not None and position(record.value_num, low, high).startswith("far"):
        return Sentence(
            _(
                "This value is far outside the lab's range. Please contact your clinician about "
                "it; only they can say what it means for you."
            ),
            (record,),
            URGENT,
        )
    return None


def comparable_key(record) -> tuple:
    """What two results must share to be set side by side: the unit as people write it."""
    return (display_unit(record.unit),)


def _same_code(a, b) -> bool:
    codes_a = {a.code_value, a.code_alt} - {""}
    codes_b = {b.code_value, b.code_alt} - {""}
    return bool(codes_a & codes_b)


def comparable(points: list) -> tuple[list, list]:
    """The points comparable with the latest (same unit and a shared code) and the rest."""
    latest = points[-1]
    same, other = [], []
    for point in points:
        if comparable_key(point) == comparable_key(latest) and _same_code(point, latest):
            same.append(point)
        else:
            other.append(point)
    return same, other


def comparability_sentence(points: list) -> Sentence | None:
    """Whether results from different institutions (or units, or codes) can be compared."""
    same, other = comparable(points)
    latest = points[-1]
    if other:
        names = sorted({p.source.display_name for p in other})
        units = sorted({display_unit(p.unit) or "—" for p in other})
        return Sentence(
            _(
                "Some results (from %(institutions)s, in %(units)s) use a different unit or test "
                "code than the latest (%(unit)s): they are not directly comparable, and the "
                "changes below leave them out."
            )
            % {
                "institutions": ", ".join(names),
                "units": ", ".join(units),
                "unit": display_unit(latest.unit) or "—",
            },
            tuple(other),
            ATTENTION,
        )
    sources = {p.source_id for p in same}
    if len(sources) < 2:
        return None
    ranges = {}
    for point in same:
        words = reference_range(point.resource).words()
        if words:
            ranges.setdefault(point.source.display_name, words)
    if len(set(ranges.values())) > 1:
        return Sentence(
            _(
                "Results from %(count)s institutions use the same test code and unit, so they "
                "can be set side by side; but their labs use different ranges (%(ranges)s), so "
                "compare each with its own lab's range."
            )
            % {
                "count": len(sources),
                "ranges": "; ".join(f"{name} {words}" for name, words in sorted(ranges.items())),
            },
            tuple(same),
        )
    return Sentence(
        _(
            "Results from %(count)s institutions use the same test code and unit, so they can "
            "be set side by side."
        )
        % {"count": len(sources)},
        tuple(same),
    )


def _change(latest, previous) -> str:
    diff = latest.value_num - previous.value_num
    return number(abs(round(diff, 4))) + unit_suffix(latest.unit)


def previous_sentence(points: list) -> Sentence | None:
    """The change since the previous comparable result."""
    same, _other = comparable(points)
    if len(same) < 2:
        return None
    latest, previous = same[-1], same[-2]
    values = {
        "change": _change(latest, previous),
        "previous": value_text(previous),
        "date": date_text(previous.effective),
    }
    if latest.value_num2 is not None or previous.value_num2 is not None:
        text = _("The previous result was %(previous)s on %(date)s.") % values
    elif latest.value_num > previous.value_num:
        text = _("Up by %(change)s since the previous result (%(previous)s on %(date)s).") % values
    elif latest.value_num < previous.value_num:
        text = (
            _("Down by %(change)s since the previous result (%(previous)s on %(date)s).") % values
        )
    else:
        text = _("The same as the previous result (%(previous)s on %(date)s).") % values
    return Sentence(text, (latest, previous))


def year_sentence(points: list) -> Sentence | None:
    """Rising, falling or steady over the 365 days up to the latest comparable result (with
    at least three results in them: two are the change since the previous one)."""
    same, _other = comparable(points)
    latest = same[-1]
    window = [p for p in same if p.effective and p.effective >= latest.effective - YEAR]
    if len(window) < 3:
        return None
    first = window[0]
    base = abs(first.value_num) or 1
    relative = (latest.value_num - first.value_num) / base
    values = {
        "count": len(window),
        "first": value_text(first),
        "latest": value_text(latest),
        "change": _change(latest, first),
    }
    if abs(relative) < STEADY:
        text = (
            ngettext(
                "Over the last year: steady (%(count)s result, %(first)s to %(latest)s).",
                "Over the last year: steady (%(count)s results, %(first)s to %(latest)s).",
                len(window),
            )
            % values
        )
    elif relative > 0:
        text = (
            ngettext(
                "Over the last year: rising, by %(change)s (%(count)s result, %(first)s to "
                "%(latest)s).",
                "Over the last year: rising, by %(change)s (%(count)s results, %(first)s to "
                "%(latest)s).",
                len(window),
            )
            % values
        )
    else:
        text = (
            ngettext(
                "Over the last year: falling, by %(change)s (%(count)s result, %(first)s to "
                "%(latest)s).",
                "Over the last year: falling, by %(change)s (%(count)s results, %(first)s to "
                "%(latest)s).",
                len(window),
            )
            % values
        )
    return Sentence(text, tuple(window))


def ago(when: dt.datetime, today: dt.date) -> str:
    """ "today", "12 days ago", "3 months ago", "2 years ago"."""
    days = (today - timezone.localtime(when).date()).days
    if days <= 0:
        return _("today")
    if days < 60:
        return ngettext("%(n)s day ago", "%(n)s days ago", days) % {"n": days}
    months = days * 12 // 365
    if months < 24:
        return ngettext("%(n)s month ago", "%(n)s months ago", months) % {"n": months}
    years = days // 365
    return ngettext("%(n)s year ago", "%(n)s years ago", years) % {"n": years}


def last_measured_sentence(record, today: dt.date) -> Sentence:
    return Sentence(
        _("Last measured on %(date)s at %(institution)s (%(ago)s).")
        % {
            "date": date_text(record.effective),
            "institution": record.source.display_name,
            "ago": ago(record.effective, today),
        },
        (record,),
    )

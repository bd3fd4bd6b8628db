"""Deterministic wording of one result: where it stands against the lab's range, how it
changed, whether results can be compared, and when it was last measured.

Pure functions of values and records (no queries), so that their tables of cases are tested
one line each (tests/test_explain_wording.py). The thresholds are fixed and written here:

- "a little" above or below: within 10 % of the bound it passed; "far": more than 50 % past
  it (with a bound of 0, measured against the range's width). Far outside, or flagged critical
  by the lab (HH, LL, AA), is URGENT: the sentence asks the reader to contact their clinician.
- past a critical limit: the content library's general adult critical limits of a test, or
  limits for urgent review of a vital sign (records/explain/content/*.json, each with its
  source), in the units they are written for: a value past them is URGENT too, whatever the
  lab's range. A value in another unit is left to the rules above.
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
    """A value as sent: a Decimal keeps its digits; a float its significant digits (up to 12,
    so that 0.1 + 0.2 is "0.3"), never in exponent form, no trailing 0 (0.004 is "0.004")."""
    if isinstance(value, Decimal | int):
        return str(value)
    return format(Decimal(f"{value:.12g}"), "f")


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


def _past(value, limits: dict) -> str | None:
    """ "below" or "above" when `value` is past one of `limits`' bounds, else None."""
    if value is None:
        return None
    if ("below" in limits and value < limits["below"]) or (
        "at_most" in limits and value <= limits["at_most"]
    ):
        return "below"
    if ("above" in limits and value > limits["above"]) or (
        "at_least" in limits and value >= limits["at_least"]
    ):
        return "above"
    return None


def past_limit(record, limits: dict | None) -> bool:
    """Whether the record's value (or a blood pressure's second value) is past the critical
    limits, when its unit is one the limits are written for."""
    if not limits or record.value_num is None:
        return False
    if display_unit(record.unit) not in {display_unit(u) for u in limits["units"]}:
        return False
    if _past(record.value_num, limits):
        return True
    second = limits.get("second")
    return bool(second and _past(record.value_num2, second))


def _bound_words(limits: dict) -> str:
    parts = []
    if "below" in limits:
        parts.append(_("below %(n)s") % {"n": number(limits["below"])})
    if "at_most" in limits:
        parts.append(_("%(n)s or lower") % {"n": number(limits["at_most"])})
    if "above" in limits:
        parts.append(_("above %(n)s") % {"n": number(limits["above"])})
    if "at_least" in limits:
        parts.append(_("%(n)s or higher") % {"n": number(limits["at_least"])})
    return _(" or ").join(parts)


def limit_words(limits: dict) -> str:
    """ "below 2.8 or above 6.2 mmol/L"; a blood pressure's: "systolic below 90 or 180 or
    higher, diastolic 120 or higher mmHg"."""
    unit = unit_suffix(limits["units"][0])
    if "second" in limits:
        text = _("systolic %(first)s, diastolic %(second)s") % {
            "first": _bound_words(limits),
            "second": _bound_words(limits["second"]),
        }
    else:
        text = _bound_words(limits)
    return text + unit


def _guide_position(value, guide: dict) -> str | None:
    if value is None:
        return None
    if "low" in guide and value < guide["low"]:
        return BELOW
    if ("high" in guide and value > guide["high"]) or (
        "below" in guide and value >= guide["below"]
    ):
        return ABOVE
    return IN


def guide_position(record, guide: dict | None) -> str | None:
    """IN, ABOVE or BELOW against a vital sign's general adult guide (a blood pressure: above
    when either value is), or None when there is no guide for the record's unit."""
    if not guide or record.value_num is None:
        return None
    if display_unit(record.unit) not in {display_unit(u) for u in guide["units"]}:
        return None
    where = _guide_position(record.value_num, guide)
    second = guide.get("second")
    if second and record.value_num2 is not None:
        other = _guide_position(record.value_num2, second)
        if ABOVE in (where, other):
            return ABOVE
        if BELOW in (where, other):
            return BELOW
    return where


def _guide_bounds(guide: dict) -> str:
    if "low" in guide and "high" in guide:
        return f"{number(guide['low'])}–{number(guide['high'])}"
    if "low" in guide:
        return _("%(n)s or higher") % {"n": number(guide["low"])}
    if "high" in guide:
        return _("%(n)s or lower") % {"n": number(guide["high"])}
    return _("below %(n)s") % {"n": number(guide["below"])}


def guide_words(guide: dict) -> str:
    """ "60–100/min"; a blood pressure's: "systolic below 120, diastolic below 80 mmHg"."""
    unit = unit_suffix(guide["units"][0])
    if "second" in guide:
        return (
            _("systolic %(first)s, diastolic %(second)s")
            % {"first": _guide_bounds(guide), "second": _guide_bounds(guide["second"])}
            + unit
        )
    return _guide_bounds(guide) + unit


def value_text(record) -> str:
    """ "6.3%", "125/82 mmHg"."""
    text = number(record.value_num)
    if record.value_num2 is not None:
        text += "/" + number(record.value_num2)
    return text + unit_suffix(record.unit)


def date_text(when: dt.datetime) -> str:
    return formats.date_format(timezone.localtime(when), "DATE_FORMAT")


def range_sentence(record, limits: dict | None = None, guide: dict | None = None) -> Sentence:
    """The latest value against the range its lab sent, in words. A value the lab flagged
    critical, or past the critical `limits` (records.explain.content.Entry.critical), is never
    "a little" past the range, nor worded as within it, and is URGENT. A vital sign sent with
    no range is set against its general adult `guide` (Entry.guide), if any."""
    rr = reference_range(record.resource)
    low, high = rr.bounds()
    where = position(record.value_num, low, high)
    flagged = critical(record.resource)
    past = past_limit(record, limits)
    if flagged or past:
        where = {A_LITTLE_ABOVE: ABOVE, A_LITTLE_BELOW: BELOW}.get(where, where)
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
    if where == NO_RANGE and past:
        text = _(
            "%(value)s is outside the general adult limits (%(limits)s); your clinician "
            "interprets it for you."
        ) % {"value": values["value"], "limits": limit_words(limits)}
    elif where == NO_RANGE and not rr.text and guide_position(record, guide):
        where = guide_position(record, guide)
        text = {
            IN: _(
                "Within the general adult guide (%(guide)s): %(value)s. Your clinician "
                "interprets it for you."
            ),
            ABOVE: _(
                "Above the general adult guide (%(guide)s): %(value)s. Your clinician "
                "interprets it for you."
            ),
            BELOW: _(
                "Below the general adult guide (%(guide)s): %(value)s. Your clinician "
                "interprets it for you."
            ),
        }[where] % {"value": values["value"], "guide": guide_words(guide)}
    elif where == IN and flagged:
        text = (
            _("The lab flagged this value as critical: %(value)s (the lab's range %(range)s).")
            % values
        )
    elif where == IN and past:
        text = _(
            "Within the lab's range (%(range)s), but past the general critical limits "
            "(%(limits)s): %(value)s."
        ) % {**values, "limits": limit_words(limits)}
    elif where == NO_RANGE and rr.text:
        text = _("%(value)s; the lab's range: %(text)s.") % {
            "value": values["value"],
            "text": rr.text,
        }
    else:
        text = texts[where] % values
    if flagged or past or where.startswith("far"):
        tone = URGENT
    else:
        tone = INFO if where in (IN, NO_RANGE) else ATTENTION
    return Sentence(text, (record,), tone)


def urgent_sentence(record, limits: dict | None = None) -> Sentence | None:
    """The prompt to contact a clinician, for a value flagged critical, past the critical
    `limits`, or far outside the lab's range."""
    if critical(record.resource):
        return Sentence(
            _(
                "The lab flagged this value as critical. Please contact your clinician or the "
                "institution about it soon; do not wait for your next visit."
            ),
            (record,),
            URGENT,
        )
    if past_limit(record, limits):
        return Sentence(
            _(
                "This value is past the general adult limits for urgent attention (%(limits)s). "
                "Please contact your clinician or the institution about it soon; only they can "
                "say what it means for you."
            )
            % {"limits": limit_words(limits)},
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
    """The points comparable with the latest (same unit and a shared code) and the rest:
    comparable_key and _same_code against the latest, with the latest's unit and codes read
    once (a series can hold thousands of points)."""
    latest = points[-1]
    (unit,) = comparable_key(latest)
    codes = {latest.code_value, latest.code_alt} - {""}
    same, other = [], []
    for point in points:
        if display_unit(point.unit) == unit and (
            point.code_value in codes or point.code_alt in codes
        ):
            same.append(point)
        else:
            other.append(point)
    return same, other


def comparability_sentence(points: list, split: tuple | None = None) -> Sentence | None:
    """Whether results from different institutions (or units, or codes) can be compared.
    `split`: comparable(points), when the caller has it (it reads every point)."""
    same, other = split or comparable(points)
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
    return number(abs(diff)) + unit_suffix(latest.unit)


def _step(diff, unit) -> str:
    if diff > 0:
        return _("up by %(change)s") % {"change": number(diff) + unit}
    if diff < 0:
        return _("down by %(change)s") % {"change": number(-diff) + unit}
    return _("unchanged")


def _pair_changes(latest, previous) -> str:
    """A blood pressure's change, each value on its own: "systolic down by 6 mmHg, diastolic
    up by 6 mmHg"."""
    unit = unit_suffix(latest.unit)
    return _("systolic %(first)s, diastolic %(second)s") % {
        "first": _step(latest.value_num - previous.value_num, unit),
        "second": _step(latest.value_num2 - previous.value_num2, unit),
    }


def _trend(first, latest, unit) -> str:
    """ "steady", "rising, by 12 mmHg", "falling, by 3 mmHg" (STEADY: within 5 %)."""
    relative = (latest - first) / (abs(first) or 1)
    if abs(relative) < STEADY:
        return _("steady")
    change = number(abs(latest - first)) + unit
    if relative > 0:
        return _("rising, by %(change)s") % {"change": change}
    return _("falling, by %(change)s") % {"change": change}


def previous_sentence(points: list, split: tuple | None = None) -> Sentence | None:
    """The change since the previous comparable result (`split`: comparable(points))."""
    same, _other = split or comparable(points)
    if len(same) < 2:
        return None
    latest, previous = same[-1], same[-2]
    values = {
        "change": _change(latest, previous),
        "previous": value_text(previous),
        "date": date_text(previous.effective),
    }
    if latest.value_num2 is not None and previous.value_num2 is not None:
        text = _("Since the previous result (%(previous)s on %(date)s): %(changes)s.") % {
            **values,
            "changes": _pair_changes(latest, previous),
        }
    elif latest.value_num2 is not None or previous.value_num2 is not None:
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


def year_sentence(points: list, split: tuple | None = None) -> Sentence | None:
    """Rising, falling or steady over the 365 days up to the latest comparable result (with
    at least three results in them: two are the change since the previous one). `split`:
    comparable(points)."""
    same, _other = split or comparable(points)
    latest = same[-1]
    window = [p for p in same if p.effective and p.effective >= latest.effective - YEAR]
    if len(window) < 3:
        return None
    first = window[0]
    if first.value_num2 is not None and latest.value_num2 is not None:
        unit = unit_suffix(latest.unit)
        text = ngettext(
            "Over the last year: systolic %(first_trend)s, diastolic %(second_trend)s "
            "(%(count)s result, %(first)s to %(latest)s).",
            "Over the last year: systolic %(first_trend)s, diastolic %(second_trend)s "
            "(%(count)s results, %(first)s to %(latest)s).",
            len(window),
        ) % {
            "first_trend": _trend(first.value_num, latest.value_num, unit),
            "second_trend": _trend(first.value_num2, latest.value_num2, unit),
            "count": len(window),
            "first": value_text(first),
            "latest": value_text(latest),
        }
        return Sentence(text, tuple(window))
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

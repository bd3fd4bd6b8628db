from django import template
from django.template.defaultfilters import urlencode
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext

from records import charts, queries, ranges, units
from records.codes import record_name, status_label
from records.forms import RecordFilterForm
from records.narrative import sanitise_html
from records.units import display_unit

register = template.Library()


@register.filter
def status(code: str) -> str:
    """A FHIR status code in words (translated)."""
    return status_label(code)


@register.filter
def reference_range(resource: dict) -> str:
    """The first reference range of a resource in words: "4.0–6.0", "≤ 40" or "≥ 40"."""
    return ranges.reference_range(resource).words()


@register.filter
def sanitised_html(html: str) -> str:
    """A note's HTML after nh3's allow-list (no script, event handler, style or image)."""
    # Safe because nh3 has just removed everything outside its allow-list.
    return mark_safe(sanitise_html(html or ""))  # nosemgrep: mark-safe-on-non-literal  # noqa: S308  # nosec B308 B703


@register.filter
def unit(code: str) -> str:
    """A stored unit (UCUM code or a hospital's text) as people write it: "mm[Hg]" → "mmHg"."""
    return display_unit(code)


@register.filter
def unit_suffix(code: str) -> str:
    """What follows a number for this unit: " mmHg", "%" (no space) or ""."""
    return units.unit_suffix(code)


@register.filter
def name(record) -> str:
    """A record's name: a vital sign's in the reader's language, else the source's."""
    return record_name(record)


@register.filter
def result_flag(record) -> str:
    """H, L or '' for a result against its reference range (the resource must be loaded)."""
    return charts.flag(record)


CODE_FILTER_LENGTH = RecordFilterForm.base_fields["code"].max_length


@register.simple_tag
def timeline_codes(codes: list[str]) -> str:
    """The timeline's `code` filter for all of `codes`, URL-encoded; "" if it is longer than
    the timeline's filter reads (many products of one ingredient), which would be an error."""
    value = ",".join(queries.code_token(code) for code in codes)
    return urlencode(value) if len(value) <= CODE_FILTER_LENGTH else ""


@register.simple_tag(takes_context=True)
def values_rows(context, points) -> str:
    """The rows of a chart's values table, each value linked to its record: the patient's own
    page, or the share's record page under the link's token (none in a share's preview)."""
    if not context.get("share_mode"):
        link = reverse("record_detail", args=[charts.CODE])
    elif context.get("token"):
        link = reverse("share_record", args=[context["token"], charts.CODE])
    else:
        link = ""
    built = getattr(points, "rows", "")  # kept with a read model (records.readmodels.Points)
    if built and link:
        start, end = charts.ROW_LINK.split(charts.CODE)
        url_start, url_end = link.split(charts.CODE)
        if end == url_end:  # /…/<code>/ in both: only the start differs
            # The cached rows were escaped when built (charts.values_rows); only a URL changes.
            safe = built.replace(f'href="{start}', f'href="{url_start}')
            return mark_safe(safe)  # nosemgrep: mark-safe-on-non-literal  # noqa: S308  # nosec B308 B703
    return charts.values_rows(points, link=link)


@register.simple_tag
def medication_counts(line) -> str:
    """How many entries of each kind an ingredient's line holds (records.medications
    Ingredient.kinds), in the order a course goes: "2 prescriptions, 2 dispensings, 1 reported
    as taken"."""
    told = {
        "prescription": lambda n: ngettext(
            "%(counter)s prescription", "%(counter)s prescriptions", n
        ),
        "dispensing": lambda n: ngettext("%(counter)s dispensing", "%(counter)s dispensings", n),
        "statement": lambda n: ngettext(
            "%(counter)s reported as taken", "%(counter)s reported as taken", n
        ),
    }
    return ", ".join(
        told[kind](line.kinds[kind]) % {"counter": line.kinds[kind]}
        for kind in told
        if line.kinds.get(kind)
    )


@register.simple_tag
def medication_history(entries) -> str:
    """An ingredient's prescriptions and dispensings (records.medications.Entry), newest
    first, each linked to its record: built here, not by a loop in the template, because a
    long history (thousands of entries at 20,000 records) through the template engine was most
    of a cold medications page (0.85 s). Every value from outside is escaped."""
    link_start, link_end = reverse("record_detail", args=[charts.CODE]).split(charts.CODE)
    kinds = {
        "dispensing": gettext("dispensed"),
        "prescription": gettext("prescribed"),
        "statement": gettext("reported as taken"),  # a MedicationStatement
    }
    # A request that is no course to take says what it is instead (prescriptions.order_of).
    orders = {
        "do-not-perform": gettext("not to be taken"),
        "proposal": gettext("proposed, not ordered"),
    }
    draft = gettext("draft, not ordered")
    no_date = gettext("no date")
    words: dict = {}  # each status's label and each supply's "N days", translated once

    def said(key, make):
        if key not in words:
            words[key] = make()
        return words[key]

    items = []
    for entry in entries:
        record = entry.record
        kind = orders.get(entry.order) or (draft if record.status == "draft" else kinds[entry.kind])
        parts = [kind, entry.product, entry.dose]
        if entry.days:
            parts.append(
                said(
                    entry.days,
                    lambda n=entry.days: (
                        ngettext("%(counter)s day", "%(counter)s days", n) % {"counter": n}
                    ),
                )
            )
        parts += [entry.where, record.source.display_name]
        parts.append(said(("status", record.status), lambda s=record.status: str(status_label(s))))
        items.append(
            HISTORY_ITEM.format(
                href=escape(f"{link_start}{record.code}{link_end}"),
                date=escape(charts.short_date(entry.start) if entry.start else no_date),
                text=escape(" · ".join(str(part) for part in parts if part)),
            )
        )
    # Each value was escaped above.
    return mark_safe("".join(items))  # nosemgrep: mark-safe-on-non-literal  # noqa: S308  # nosec B308 B703


HISTORY_ITEM = '<li><a href="{href}">{date}</a> · {text}</li>'

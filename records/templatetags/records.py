from django import template
from django.urls import reverse
from django.utils.safestring import mark_safe

from records import charts, ranges, units
from records.codes import record_name, status_label
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

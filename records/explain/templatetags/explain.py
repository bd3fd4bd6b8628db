"""Explanations on pages that already hold the records: `{% explanation_for points %}` renders
the explanation of a test's or vital sign's results (records.explain.base.Explanation) with no
query of its own — the page's records are the explainer's input, so a share's page explains
only what its scope holds."""

from django import template

from records.explain import explainer
from records.models import Category

register = template.Library()


@register.inclusion_tag("explain/_explanation.html", takes_context=True)
def explanation_for(context, points, heading_id="explanation"):
    """Nothing on a share's pages unless the patient chose to include explanations when they
    created the share (Share.include_explanations): the page says share_mode and has the share.
    """
    dated = [p for p in points or [] if p.effective and p.value_num is not None]
    if context.get("share_mode") and not getattr(
        context.get("share"), "include_explanations", False
    ):
        dated = []
    return {
        "explanation": explainer().series(dated) if dated else None,
        "heading_id": heading_id,
        "share_mode": context.get("share_mode", False),
        "token": context.get("token", ""),
    }


@register.inclusion_tag("explain/_explanation.html", takes_context=True)
def explanation_of_record(context, record):
    """One record on its detail page: a diagnosis or medication by its entry, a result by its
    range (its trend is on the test's page). Nothing for other kinds, nor in a share's view
    unless the patient chose to include explanations."""
    explanation = None
    shared = context.get("share_mode")
    if not shared or getattr(context.get("share"), "include_explanations", False):
        if record.category in (Category.CONDITION, Category.MEDICATION):
            explanation = explainer().record(record)
        elif record.category in (Category.LAB, Category.VITAL) and (
            record.value_num is not None and record.effective
        ):
            explanation = explainer().series([record])
    return {
        "explanation": explanation,
        "heading_id": "record-explanation",
        "share_mode": shared,
        "token": context.get("token", ""),
    }


LINKED_AT_MOST = 4


@register.inclusion_tag("explain/_sentence_links.html", takes_context=True)
def sentence_links(context, sentence):
    """The links of one sentence to the records it is built from: all of them, or for a
    sentence over many (a year of daily readings: hundreds of links, most of a cold page's
    rendering) the first and the latest, with "…" between; the sentence gives the count."""
    records = sentence.records
    if len(records) > LINKED_AT_MOST:
        records = (records[0], None, records[-1])
    return {
        "records": records,
        "share_mode": context.get("share_mode", False),
        "token": context.get("token", ""),
    }

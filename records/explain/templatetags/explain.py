"""Explanations on pages that already hold the records: `{% explanation_for points %}` renders
the explanation of a test's or vital sign's results (records.explain.base.Explanation) with no
query of its own — the page's records are the explainer's input, so a share's page explains
only what its scope holds."""

from django import template

from records.explain import explainer

register = template.Library()


@register.inclusion_tag("explain/_explanation.html", takes_context=True)
def explanation_for(context, points, heading_id="explanation"):
    dated = [p for p in points or [] if p.effective and p.value_num is not None]
    return {
        "explanation": explainer().series(dated) if dated else None,
        "heading_id": heading_id,
        "share_mode": context.get("share_mode", False),
        "token": context.get("token", ""),
    }


@register.inclusion_tag("explain/_sentence_links.html", takes_context=True)
def sentence_links(context, sentence):
    """The links of one sentence to the records it is built from."""
    return {
        "records": sentence.records,
        "share_mode": context.get("share_mode", False),
        "token": context.get("token", ""),
    }

from django import template

from records.codes import status_label

register = template.Library()


@register.filter
def status(code: str) -> str:
    """A FHIR status code in words (translated)."""
    return status_label(code)

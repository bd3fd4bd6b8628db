from django import template
from django.utils.translation import gettext as _

from records.models import Category

register = template.Library()


@register.filter
def access_what(what: str) -> str:
    """What a recipient looked at, in the reader's language (stored as a stable key:
    a category, "summary", "lab <code>", "record <category>" or "SMART Health Link")."""
    if what in Category.values:
        return Category(what).label
    if what == "summary":
        return _("Summary")
    if what.startswith("lab "):
        return _("Lab trend %(code)s") % {"code": what.removeprefix("lab ")}
    if what.startswith("record ") and what.removeprefix("record ") in Category.values:
        return _("A record: %(category)s") % {
            "category": Category(what.removeprefix("record ")).label
        }
    if what == "SMART Health Link":
        return _("SMART Health Link")
    return what

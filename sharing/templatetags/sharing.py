from django import template
from django.urls import get_script_prefix, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from records.models import Category
from sharing import delegation

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


# --- Whose record it is: the band and the switcher (sharing.delegation) ---------------------


def _own_path(request, url: str) -> str:
    """`url` without the /for/<code> prefix of the page it is reversed on."""
    prefix = getattr(request, "for_prefix", None)
    if prefix and url.startswith(prefix + "/"):
        return request.own_script_prefix.rstrip("/") + url[len(prefix) :]
    return url


@register.simple_tag(takes_context=True)
def own_url(context, name, *args, **kwargs):
    """Like {% url %}, but always the user's own page, also on a page for someone they act
    for (whose links keep that person): the account, logging out, "back to me"."""
    return _own_path(context.get("request"), reverse(name, args=args, kwargs=kwargs))


@register.simple_tag(takes_context=True)
def for_url(context, patient_code, name="dashboard"):
    """The page `name` of the record of the person whose code is `patient_code`."""
    request = context.get("request")
    own_prefix = getattr(request, "own_script_prefix", None) or get_script_prefix()
    path = _own_path(request, reverse(name))[len(own_prefix.rstrip("/")) :]
    return own_prefix.rstrip("/") + delegation.prefix_for(patient_code) + path


@register.inclusion_tag("sharing/_acting_band.html", takes_context=True)
def acting_band(context):
    """The band naming whose record the page shows (name and colour), with the switcher:
    only for someone who acts for others (the patient's own pages cost no query: the people
    come from the session)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if request is None or user is None or not user.is_authenticated:
        return {"show": False}
    grant = getattr(request, "delegation", None)
    people = delegation.remembered(request)
    if grant is None and not people:
        return {"show": False}
    current = None
    if grant is not None:
        current = {
            "code": str(grant.patient.code),
            "name": delegation.display_name(grant.patient),
            "kind": grant.kind,
            "colour": delegation.band_colour(grant.patient.code),
            "expires_at": grant.expires_at,
            "may_share": grant.may_share or grant.may_manage,
            "may_manage": grant.may_manage,
        }
    return {
        "show": True,
        "request": request,
        "current": current,
        "people": people,
        "me_url": _own_path(request, reverse("dashboard")),
    }


DELEGATE_PAGES = {
    "dashboard": _lazy("Dashboard"),
    "dashboard_sources": _lazy("Dashboard"),
    "timeline": _lazy("Timeline"),
    "search": _lazy("Search"),
    "labs": _lazy("Lab results"),
    "lab_detail": _lazy("A lab trend"),
    "vitals": _lazy("Vital signs"),
    "medications": _lazy("Medications"),
    "summary": _lazy("Summary"),
    "category": _lazy("A kind of records"),
    "record_detail": _lazy("A record"),
    "share_list": _lazy("Shares"),
    "share_detail": _lazy("A share"),
}


@register.filter
def delegate_page(name: str) -> str:
    """The page someone acting for the patient opened, in words (stored as its route name,
    never its URL's codes)."""
    return str(DELEGATE_PAGES.get(name, _("A page of your record")))

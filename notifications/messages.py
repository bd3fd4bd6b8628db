"""The in-app message of each kind, written when shown, in the reader's language, from the
notification's plain values."""

import re

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from notifications.models import Kind, Notification

SEASON = re.compile(r"^\d{4}[–-]\d{4}$")  # an influenza season, "2025–2026"


def localised(value) -> str:
    """A value written in several languages ({"en": …, "ko": …}) in the reader's, else as is."""
    if isinstance(value, dict):
        language = (get_language() or "en").split("-")[0]
        return str(value.get(language) or value.get("en") or next(iter(value.values()), ""))
    return str(value)


def message(notification: Notification) -> str:
    p = notification.params or {}
    whose = localised(p.get("whose", ""))
    if notification.kind == Kind.VACCINATION_DUE:
        dose = p.get("dose", "")
        values = {"vaccine": localised(p.get("vaccine", "")), "dose": dose}
        if isinstance(dose, str) and SEASON.match(dose):
            text = _("%(vaccine)s for the %(dose)s season is due.") % values
        elif isinstance(dose, str) and dose.startswith("after-"):
            # A repeated adult dose (Td every ten years): named by the last one's day.
            values["day"] = dose.removeprefix("after-")
            text = _("%(vaccine)s is due again (last dose %(day)s).") % values
        elif not isinstance(dose, int):
            text = _("%(vaccine)s is due.") % values
        elif p.get("state") == "overdue":
            text = _("%(vaccine)s, dose %(dose)s, is overdue.") % values
        else:
            text = _("%(vaccine)s, dose %(dose)s, is due.") % values
    elif notification.kind == Kind.CHECKUP_DUE:
        text = _("Your national health check-up is due in %(year)s.") % {"year": p.get("year", "")}
    elif notification.kind == Kind.NEW_RESULTS:
        text = _("New records arrived from %(institution)s.") % {
            "institution": p.get("institution", "")
        }
    elif notification.kind == Kind.SYNC_FAILED:
        text = _("The update from %(institution)s failed; open it to see what it needs.") % {
            "institution": p.get("institution", "")
        }
    elif notification.kind == Kind.SHARE_OPENED:
        text = _("%(name)s opened the records you shared with “%(label)s”.") % {
            "name": p.get("name", ""),
            "label": p.get("label", ""),
        }
    else:
        text = str(Kind(notification.kind).label) if notification.kind in Kind.values else ""
    return f"{whose}: {text}" if whose else text

"""Form rules shared by several apps' forms."""

from django.utils.translation import gettext_lazy as _


def check_date_range(form, cleaned: dict) -> dict:
    """A `date_from`…`date_to` pair whose end is not before its start."""
    start, end = cleaned.get("date_from"), cleaned.get("date_to")
    if start and end and start > end:
        form.add_error("date_to", _("The end date is before the start date."))
    return cleaned

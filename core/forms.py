"""Form rules shared by several apps' forms."""

import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def check_date_range(form, cleaned: dict) -> dict:
    """A `date_from`…`date_to` pair whose end is not before its start."""
    start, end = cleaned.get("date_from"), cleaned.get("date_to")
    if start and end and start > end:
        form.add_error("date_to", _("The end date is before the start date."))
    return cleaned


def check_birth_date(birth_date: dt.date) -> dt.date:
    """A person's birth date as typed: not in the future, not before 1900 (the identity step's
    and the family registry's forms alike). Raises a ValidationError in words."""
    if birth_date > timezone.localdate():
        raise forms.ValidationError(_("The birth date cannot be in the future."))
    if birth_date < dt.date(1900, 1, 1):
        raise forms.ValidationError(_("Check the birth date: it is before 1900."))
    return birth_date

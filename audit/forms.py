import datetime as dt

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.models import Action, ActorKind
from core.forms import check_date_range

EARLIEST = dt.date.min + dt.timedelta(days=1)
LATEST = dt.date.max - dt.timedelta(days=1)


class ActivityFilterForm(forms.Form):
    """Filters of "Who saw my data" and /api/v1/audit-events/ (all optional, all validated)."""

    who = forms.ChoiceField(
        label=_("Who"), required=False, choices=[("", _("Anyone")), *ActorKind.choices]
    )
    action = forms.ChoiceField(
        label=_("What"), required=False, choices=[("", _("Anything")), *Action.choices]
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        return check_date_range(self, super().clean())

    def apply(self, events):
        """The events narrowed by the valid filters (invalid input narrows nothing)."""
        if not self.is_valid():
            return events
        data = self.cleaned_data
        if data["who"]:
            events = events.filter(actor_kind=data["who"])
        if data["action"]:
            events = events.filter(action=data["action"])
        tz = timezone.get_current_timezone()
        # A local day's bounds on the calendar's first or last days fall outside the datetime
        # range (in UTC, or one day on); no event is that old or that new: they bound nothing.
        if data["date_from"] and data["date_from"] > EARLIEST:
            start = dt.datetime.combine(data["date_from"], dt.time.min, tzinfo=tz)
            events = events.filter(created__gte=start)
        if data["date_to"] and data["date_to"] < LATEST:
            end = dt.datetime.combine(
                data["date_to"] + dt.timedelta(days=1), dt.time.min, tzinfo=tz
            )
            events = events.filter(created__lt=end)
        return events

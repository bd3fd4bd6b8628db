"""The patient's forms for caregivers: the invitation and the renewal."""

import datetime as dt

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from institutions.queries import sources_for
from records.forms import limit_to_sources
from sharing import caregivers
from sharing.forms import SHAREABLE, label_field, purpose_field, sources_field

DURATION_CHOICES = [
    ("7d", _("7 days")),
    ("30d", _("30 days")),
    ("90d", _("3 months")),
    ("180d", _("6 months")),
    ("365d", _("1 year")),
]
DURATION = {"7d": 7, "30d": 30, "90d": 90, "180d": 180, "365d": 365}

RIGHTS_CHOICES = [
    (caregivers.Rights.READ, _("Read only")),
    (caregivers.Rights.SHARE, _("Read and share with a doctor")),
    (
        caregivers.Rights.MANAGE,
        _("Read, share and manage: link institutions, sync, import and export"),
    ),
]


def _until(choice: str) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=DURATION[choice])


class DurationForm(forms.Form):
    duration = forms.ChoiceField(
        label=_("For how long"),
        choices=DURATION_CHOICES,
        initial="30d",
        help_text=_("You can renew it, or end it at any moment."),
    )

    def expires_at(self) -> dt.datetime:
        return _until(self.cleaned_data["duration"])


class InviteForm(DurationForm):
    email = forms.EmailField(
        label=_("Their e-mail address"),
        help_text=_("They log in, or sign up, with this address to accept."),
    )
    label = label_field(_("Their name"), _('For example "Kim Jiwoo, my son".'))
    purpose = purpose_field(
        _("Why (optional)"), _('For example "helps me with my hospital visits".')
    )
    rights = forms.ChoiceField(
        label=_("What they may do"),
        choices=RIGHTS_CHOICES,
        initial=caregivers.Rights.READ,
        widget=forms.RadioSelect,
    )
    categories = forms.MultipleChoiceField(
        label=_("Which kinds of records"),
        choices=SHAREABLE,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: all of them."),
    )
    sources = sources_field()
    field_order = ["email", "label", "purpose", "rights", "categories", "sources", "duration"]

    def __init__(self, *args, actor, patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.patient = patient
        limit_to_sources(self.fields["sources"], sources_for(actor))

    def clean_email(self):
        email = self.cleaned_data["email"]
        if email.lower() == self.patient.email.lower():
            raise ValidationError(_("That is your own address."))
        return email

import datetime as dt

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from institutions.queries import sources_for
from records import readmodels
from records.forms import limit_to_sources
from records.models import Category
from sharing import domain

EXPIRY_CHOICES = [
    ("1h", _("1 hour")),
    ("1d", _("1 day")),
    ("7d", _("7 days")),
    ("30d", _("30 days")),
]
EXPIRY = {
    "1h": dt.timedelta(hours=1),
    "1d": dt.timedelta(days=1),
    "7d": dt.timedelta(days=7),
    "30d": dt.timedelta(days=30),
}
SHAREABLE = [
    (value, label) for value, label in Category.choices if value not in ("patient", "other")
]


# The fields a share (ShareForm) and a caregiver's invitation (sharing.caregivers_forms.InviteForm)
# both ask, each worded for its form: whom it is for, why, and from which institutions. 200
# characters: the `label` and `purpose` columns of Share and Delegation.


def label_field(label, help_text) -> forms.CharField:
    return forms.CharField(label=label, max_length=200, help_text=help_text)


def purpose_field(label, help_text) -> forms.CharField:
    return forms.CharField(label=label, max_length=200, required=False, help_text=help_text)


def sources_field() -> forms.ModelMultipleChoiceField:
    """The patient's institutions, by code; the form offers its own with limit_to_sources."""
    return forms.ModelMultipleChoiceField(
        label=_("From which institutions"),
        queryset=None,
        required=False,
        to_field_name="code",
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: all of them."),
    )


class ShareForm(forms.Form):
    label = label_field(_("Who is it for?"), _('For example "Dr. Kim, Seoul Clinic".'))
    purpose = purpose_field(_("Purpose"), _('For example "second opinion on my diabetes".'))
    categories = forms.MultipleChoiceField(
        label=_("What to share"),
        choices=SHAREABLE,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one kind of record to share.")},
    )
    sources = sources_field()
    date_from = forms.DateField(
        label=_("Records from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("Records until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    expires = forms.ChoiceField(label=_("The link works for"), choices=EXPIRY_CHOICES, initial="1d")
    passcode = forms.CharField(
        label=_("Passcode (optional)"),
        required=False,
        min_length=4,
        max_length=50,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("Tell it to the recipient separately, not with the link."),
    )
    allow_download = forms.BooleanField(
        label=_("The recipient may download the records"), required=False
    )
    notify_on_open = forms.BooleanField(
        label=_("E-mail me when the link is opened"), required=False
    )
    include_explanations = forms.BooleanField(
        label=_("Include the plain-language explanations"),
        required=False,
        help_text=_(
            "The recipient also sees what your results mean in plain words, as you do. Off by "
            "default: explanations are for you, and the clinician reads the results themselves."
        ),
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        scope = actor.scope if actor is not None else None
        if actor is not None and not actor.may_manage:
            # A delegate who may share but not manage: the institutions of what they see.
            sources = readmodels.sources(actor)
        else:
            sources = sources_for(actor)
        if scope is not None and scope.source_ids:
            sources = sources.filter(pk__in=scope.source_ids)
        limit_to_sources(self.fields["sources"], sources)
        if scope is not None and scope.categories:
            # A delegate shares only the kinds of records their grant opens.
            self.fields["categories"].choices = [
                (value, label) for value, label in SHAREABLE if value in scope.categories
            ]

    def clean(self):
        # The share's terms are the domain's (create_share enforces them too): shown here
        # under their fields. The expiry is one of EXPIRY_CHOICES, capped in expires_at().
        cleaned = super().clean()
        try:
            domain.check_dates(cleaned.get("date_from"), cleaned.get("date_to"))
        except ValidationError as refused:
            self.add_error("date_to", refused)
        if self.actor is not None and not self.errors:
            try:
                domain.within_scope(
                    self.actor,
                    categories=cleaned.get("categories") or [],
                    sources=cleaned.get("sources") or [],
                    date_from=cleaned.get("date_from"),
                    date_to=cleaned.get("date_to"),
                )
            except ValidationError as refused:
                for field, errors in refused.error_dict.items():
                    self.add_error(field, errors)
        if "expires" in cleaned:
            try:
                domain.check_expiry(self.expires_at())
            except ValidationError as refused:
                self.add_error("expires", refused)
        return cleaned

    def expires_at(self):
        delta = min(
            EXPIRY[self.cleaned_data["expires"]], dt.timedelta(days=settings.PHR_SHARE_MAX_DAYS)
        )
        return timezone.now() + delta


class PasscodeForm(forms.Form):
    passcode = forms.CharField(
        label=_("Passcode"),
        max_length=50,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
    )


class RecipientForm(forms.Form):
    name = forms.CharField(
        label=_("Your name"),
        max_length=200,
        help_text=_("The patient sees who opened their records."),
    )

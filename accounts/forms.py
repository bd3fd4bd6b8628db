import re

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.domain import normalize_phone
from accounts.models import Sex
from core.forms import check_birth_date


class IdentityVerificationForm(forms.Form):
    """The mock 본인인증 step: the patient confirms who they are.

    In production this is a carrier (PASS) or certificate verification whose result arrives
    from the provider; the mock accepts what the patient confirms, so every later step
    (finding the patient at institutions by the identifier) runs for real.
    """

    full_name = forms.CharField(label=_("Full name"), max_length=100)
    birth_date = forms.DateField(
        label=_("Birth date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices)
    phone = forms.CharField(
        label=_("Mobile phone"),
        max_length=20,
        help_text=_("The number registered in your name, e.g. 010-1234-5678."),
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    confirm = forms.BooleanField(
        label=_("I confirm that these details are mine and correct."), required=True
    )

    def clean_full_name(self):
        name = self.cleaned_data["full_name"].strip()
        if len(name) < 2:
            raise forms.ValidationError(_("Enter your full name as on your ID card."))
        return name

    def clean_birth_date(self):
        return check_birth_date(self.cleaned_data["birth_date"])

    def clean_phone(self):
        phone = normalize_phone(self.cleaned_data["phone"])
        if not re.fullmatch(r"01[016789]\d{7,8}", phone):
            raise forms.ValidationError(_("Enter a Korean mobile number such as 010-1234-5678."))
        return phone


class DeleteAccountForm(forms.Form):
    confirm = forms.BooleanField(
        label=_(
            "I understand that my records, linked institutions and shares are deleted for good."
        ),
        required=True,
    )

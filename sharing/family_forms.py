"""The form a parent fills in to add a child (the family registry checks it)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Sex
from core.forms import check_birth_date


class AddChildForm(forms.Form):
    full_name = forms.CharField(
        label=_("Child's full name"),
        max_length=100,
        help_text=_("As on the resident registration, e.g. 김하은."),
    )
    birth_date = forms.DateField(
        label=_("Child's birth date"), widget=forms.DateInput(attrs={"type": "date"})
    )
    sex = forms.ChoiceField(
        label=_("Child's sex"), choices=[(Sex.FEMALE, Sex.FEMALE.label), (Sex.MALE, Sex.MALE.label)]
    )
    confirm = forms.BooleanField(
        label=_(
            "I am this child's parent or legal guardian, and I consent to PHR checking the "
            "family registry for it."
        ),
        required=True,
    )

    def clean_full_name(self):
        name = self.cleaned_data["full_name"].strip()
        if len(name) < 2:
            raise forms.ValidationError(_("Enter the child's full name as registered."))
        return name

    def clean_birth_date(self):
        return check_birth_date(self.cleaned_data["birth_date"])

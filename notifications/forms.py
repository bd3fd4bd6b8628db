from django import forms
from django.utils.translation import gettext_lazy as _

from notifications.models import Kind


class PreferencesForm(forms.Form):
    """Two boxes per kind: in PHR, by e-mail."""

    def __init__(self, *args, current: dict, **kwargs):
        super().__init__(*args, **kwargs)
        self.rows = []
        for kind in Kind:
            chosen = current[kind.value]
            in_app = forms.BooleanField(label=_("in PHR"), required=False, initial=chosen.in_app)
            email = forms.BooleanField(label=_("by e-mail"), required=False, initial=chosen.email)
            self.fields[f"{kind.value}_in_app"] = in_app
            self.fields[f"{kind.value}_email"] = email
            self.rows.append((kind, f"{kind.value}_in_app", f"{kind.value}_email"))

    def choices(self) -> dict[str, tuple[bool, bool]]:
        data = self.cleaned_data
        return {kind.value: (data[a], data[e]) for kind, a, e in self.rows}

    def bound_rows(self):
        return [(kind.label, self[a], self[e]) for kind, a, e in self.rows]

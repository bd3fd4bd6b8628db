from django import forms
from django.utils.translation import gettext_lazy as _

from core.forms import check_date_range
from records.models import Category
from records.queries import Filters


def limit_to_sources(field, sources) -> None:
    """A source choice (single or multiple) offering only `sources` (a scoped queryset), by
    name."""
    field.queryset = sources
    field.label_from_instance = lambda source: source.display_name


class RecordFilterForm(forms.Form):
    """Filters of the timeline, search and the records API (all optional, all validated)."""

    category = forms.ChoiceField(
        label=_("Category"), required=False, choices=[("", _("All categories")), *Category.choices]
    )
    source = forms.ModelChoiceField(
        label=_("Institution"),
        required=False,
        queryset=None,
        to_field_name="code",
        empty_label=_("All institutions"),
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    code = forms.CharField(required=False, max_length=300, widget=forms.HiddenInput)

    def __init__(self, *args, sources, **kwargs):
        """`sources`: the sources the reader's records came from (records.readmodels.sources)."""
        super().__init__(*args, **kwargs)
        limit_to_sources(self.fields["source"], sources)

    def clean(self):
        return check_date_range(self, super().clean())

    def filters(self) -> Filters:
        data = self.cleaned_data if self.is_valid() else {}
        source = data.get("source")
        return Filters(
            category=data.get("category", ""),
            source=source.pk if source else None,
            code=data.get("code", ""),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            text=(data.get("q") or "").strip(),
        )

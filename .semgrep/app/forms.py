# A form, an export and a template tag the unscoped-patient-query rule must catch
# (tests/test_tools.py runs semgrep on them). Never imported.
# ruff: noqa


class SourceChoiceForm(forms.Form):
    def __init__(self, *args, patient, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = Source.objects.filter(patient=patient)


class ScopedSourceChoiceForm(forms.Form):
    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["source"].queryset = queries.sources_for(actor)

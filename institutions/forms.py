from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from institutions.models import INSTITUTION_TYPES


class DirectorySearchForm(forms.Form):
    q = forms.CharField(label=_("Name"), required=False, max_length=100)
    region = forms.CharField(label=_("Region"), required=False, max_length=100)
    type_code = forms.ChoiceField(
        label=_("Type"), required=False, choices=[("", _("All types")), *INSTITUTION_TYPES]
    )


class ConsentForm(forms.Form):
    agree = forms.BooleanField(
        label=_("I consent to PHR receiving my records from this institution as described above."),
        required=True,
        error_messages={"required": _("Tick the box to give your consent, or go back.")},
    )


class UnlinkForm(forms.Form):
    purge = forms.TypedChoiceField(
        label=_("What should happen to the records already received?"),
        choices=[
            ("false", _("Keep them in PHR (no new records will arrive)")),
            ("true", _("Delete them from PHR now")),
        ],
        coerce=lambda value: value == "true",
        widget=forms.RadioSelect,
        initial="false",
    )
    # Deleting asks first: the confirmation page echoes the number of records it deletes,
    # and only that number deletes them (a sync may have brought more in the meantime).
    confirm = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def purge_confirmed(self, count: int) -> bool:
        """Whether the records may go now: nothing to delete, or this count was confirmed."""
        return count == 0 or self.cleaned_data.get("confirm") == count


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("FHIR file"),
        help_text=_("A FHIR R4 Bundle (JSON) or NDJSON file exported from another app."),
    )
    # Asked only when the review finds the file (or its records) already imported.
    decision = forms.ChoiceField(
        label=_("This file is already (partly) in PHR. What should happen?"),
        required=False,
        choices=[
            ("import", _("Import it anyway: records already in PHR are not stored twice")),
            ("replace", _("Replace the earlier import with this file: its records are deleted")),
        ],
        widget=forms.RadioSelect,
    )
    # Asked only when the file is about someone else than the verified identity, or nobody.
    confirm = forms.BooleanField(
        label=_("I have checked this file and want it imported into my records."),
        required=False,
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.PHR_UPLOAD_MAX_BYTES:
            raise forms.ValidationError(
                _("The file is too large: the limit is %(limit)d MB.")
                % {"limit": settings.PHR_UPLOAD_MAX_BYTES // 2**20}
            )
        return upload

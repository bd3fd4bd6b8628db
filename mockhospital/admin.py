import json

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from mockhospital import domain, faults
from mockhospital.models import MockInstitution, MockPatient


class MockInstitutionForm(forms.ModelForm):
    class Meta:
        model = MockInstitution
        fields = [
            "slug",
            "name",
            "name_en",
            "hira_number",
            "type_code",
            "region",
            "profile",
            "client_id",
            "client_secret",
            "token_lifetime",
            "supports_everything",
            "search_handling",
            "default_page_size",
            "max_page_size",
            "seed",
            "patient_size",
            "history_years",
            "knows_fraction",
            "clock",
            "faults",
            "fault_seed",
        ]
        help_texts = {
            "faults": _('JSON, e.g. {"error_rate": 0.2, "latency_ms": 100}. Keys: %(keys)s.')
            % {
                "keys": ", ".join(
                    [*faults.RATES, faults.INVALID_RATE, *faults.SETTINGS, *faults.CHOICES]
                )
            },
        }

    def clean_faults(self):
        try:
            return faults.clean(self.cleaned_data["faults"] or {})
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None


@admin.register(MockInstitution)
class MockInstitutionAdmin(admin.ModelAdmin):
    form = MockInstitutionForm
    list_display = ["slug", "name", "type_code", "profile", "clock", "active_faults"]
    actions = ["advance_30_days", "clear_faults"]

    @admin.display(description=_("faults"))
    def active_faults(self, obj):
        return json.dumps(obj.faults) if obj.faults else "—"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        faults.reset_counter(obj)  # a new fault setting starts a new deterministic sequence

    @admin.action(description=_("Advance the clock by 30 days (new visits, amendments)"))
    def advance_30_days(self, request, queryset):
        for institution in queryset:
            result = domain.advance_clock(institution=institution, days=30)
            self.message_user(
                request,
                _("%(slug)s: %(created)d resources created, %(amended)d amended.")
                % {"slug": institution.slug, **result},
                messages.SUCCESS,
            )

    @admin.action(description=_("Clear faults"))
    def clear_faults(self, request, queryset):
        for institution in queryset:
            domain.set_faults(institution=institution, settings={})


@admin.register(MockPatient)
class MockPatientAdmin(admin.ModelAdmin):
    list_display = ["patient_id", "institution", "source", "size", "generated_until"]
    list_filter = ["institution", "source"]
    list_select_related = ["institution"]
    readonly_fields = ["identifier", "seed", "history_start", "generated_until"]

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import PatientProfile, User
from audit.admin import AuditedReadsAdmin


@admin.register(User)
class UserAdmin(AuditedReadsAdmin, BaseUserAdmin):
    patient_path = "pk"

    ordering = ["email"]
    list_display = ["email", "is_staff", "is_active", "date_joined"]
    search_fields = ["email"]
    readonly_fields = ["code", "date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["email", "password", "code"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        (_("Dates"), {"fields": ["date_joined", "last_login"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "password1", "password2"]})]


@admin.register(PatientProfile)
class PatientProfileAdmin(AuditedReadsAdmin):
    list_display = ["user", "identity_verified_at"]
    search_fields = ["user__email"]
    list_select_related = ["user"]
    # Operators see whether a patient is verified, not who they are.
    fields = ["user", "identity_verified_at"]
    readonly_fields = ["user", "identity_verified_at"]

    patient_path = "user_id"

    def has_add_permission(self, request):
        return False

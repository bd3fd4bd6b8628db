from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Staff read the whole log; nobody edits it (the model and a trigger refuse it anyway)."""

    list_display = ["created", "action", "actor_kind", "actor_label", "patient_id", "ip"]
    list_filter = ["action", "actor_kind"]
    search_fields = ["actor_label", "object_id"]
    date_hierarchy = "created"
    show_full_result_count = False  # COUNT(*) over years of events is slow and not needed

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

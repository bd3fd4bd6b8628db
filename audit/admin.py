import operator

from django.contrib import admin

from audit import domain
from audit.models import Action, ActorKind, AuditEvent


class AuditedReadsAdmin(admin.ModelAdmin):
    """An admin over patients' data: every object an operator opens is an audit event the
    patient sees on "Who saw my data", and every list page an operator reads is an event too
    (filed under no patient: a list shows many).

    `patient_path` names the attribute holding the patient's id on an object ("pk" for a user,
    "user_id" for a profile, "source.patient_id" for a sync run); it is required.
    """

    patient_path: str

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not getattr(cls, "patient_path", ""):
            raise TypeError(f"{cls.__name__} must set patient_path.")

    def patient_id_of(self, obj) -> int:
        return operator.attrgetter(self.patient_path)(obj)

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            domain.record(
                action=Action.STAFF_VIEWED,
                request=request,
                actor_kind=ActorKind.STAFF,
                patient=self.patient_id_of(obj),
                obj=obj,
            )
        return obj

    def changelist_view(self, request, extra_context=None):
        domain.record(
            action=Action.STAFF_VIEWED,
            request=request,
            actor_kind=ActorKind.STAFF,
            extra={"list": self.model._meta.label_lower},
        )
        return super().changelist_view(request, extra_context)


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

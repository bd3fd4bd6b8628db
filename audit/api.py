"""GET /api/v1/audit-events/: the patient's own audit events, the same as "Who saw my data"."""

from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError

from audit import queries
from audit.forms import ActivityFilterForm
from audit.models import Action, ActorKind, AuditEvent
from core.pagination import DefaultCursorPagination


class AuditEventSerializer(serializers.ModelSerializer):
    action_label = serializers.CharField(source="get_action_display", read_only=True)
    actor = serializers.CharField(source="get_actor_kind_display", read_only=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created",
            "action",
            "action_label",
            "actor_kind",
            "actor",
            "actor_label",
            "object_type",
            "object_id",
            "ip",
            "user_agent",
            "extra",
        ]
        read_only_fields = fields


class NewestFirst(DefaultCursorPagination):
    ordering = ("-created", "-id")


@extend_schema(
    parameters=[
        OpenApiParameter("who", OpenApiTypes.STR, enum=ActorKind.values, description="actor kind"),
        OpenApiParameter("action", OpenApiTypes.STR, enum=Action.values),
        OpenApiParameter("date_from", OpenApiTypes.DATE),
        OpenApiParameter("date_to", OpenApiTypes.DATE),
    ],
    responses={200: AuditEventSerializer(many=True), 400: OpenApiTypes.OBJECT},
)
class AuditEventList(generics.ListAPIView):
    """Events about the logged-in patient's data and account, newest first."""

    serializer_class = AuditEventSerializer
    pagination_class = NewestFirst

    def get_queryset(self):
        form = ActivityFilterForm(self.request.query_params)
        if not form.is_valid():
            raise ValidationError(form.errors)
        return form.apply(queries.events_for(self.request.actor))

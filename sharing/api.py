"""REST API for the patient's shares (GET|POST /shares/, revoke, reissue, accesses).

The token appears in the response to POST (and reissue) only: it is stored nowhere else.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from institutions.queries import sources_for
from sharing import domain, queries
from sharing.forms import SHAREABLE
from sharing.models import Share, ShareAccess


class PatientSourceField(serializers.SlugRelatedField):
    """A source by its id, among the requesting patient's own sources only."""

    def get_queryset(self):
        return sources_for(getattr(self.context.get("request"), "actor", None))


class ShareSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="code", read_only=True)
    state = serializers.CharField(read_only=True)
    sources = PatientSourceField(slug_field="code", many=True, required=False)
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=SHAREABLE), allow_empty=False
    )
    passcode = serializers.CharField(
        write_only=True, required=False, allow_blank=True, min_length=4, max_length=50
    )
    has_passcode = serializers.BooleanField(read_only=True)

    class Meta:
        model = Share
        fields = [
            "id",
            "label",
            "purpose",
            "categories",
            "sources",
            "date_from",
            "date_to",
            "expires_at",
            "passcode",
            "has_passcode",
            "allow_download",
            "notify_on_open",
            "state",
            "created",
            "revoked_at",
        ]
        read_only_fields = ["state", "created", "revoked_at"]

    # The share's terms are the domain's (create_share enforces them too); shown here under
    # their fields, the expiry beside the other fields' errors.
    def validate_expires_at(self, value):
        try:
            domain.check_expiry(value)
        except DjangoValidationError as refused:
            raise serializers.ValidationError(refused.messages) from None
        return value

    def validate(self, data):
        try:
            domain.check_dates(data.get("date_from"), data.get("date_to"))
        except DjangoValidationError as refused:
            raise serializers.ValidationError({"date_to": refused.messages}) from None
        actor = getattr(self.context.get("request"), "actor", None)
        if actor is not None:
            # Someone acting for the patient shares within their own grant only.
            try:
                domain.within_scope(
                    actor,
                    categories=data.get("categories") or [],
                    sources=data.get("sources") or [],
                    date_from=data.get("date_from"),
                    date_to=data.get("date_to"),
                )
            except DjangoValidationError as refused:
                raise serializers.ValidationError(refused.message_dict) from None
        return data


class CreatedShareSerializer(ShareSerializer):
    url = serializers.CharField(read_only=True)
    shlink = serializers.CharField(read_only=True, allow_null=True)

    class Meta(ShareSerializer.Meta):
        fields = [*ShareSerializer.Meta.fields, "url", "shlink"]


class AccessSerializer(serializers.ModelSerializer):
    class Meta:
        model = ShareAccess
        fields = ["at", "action", "recipient_name", "what", "ip"]


class ShareViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ShareSerializer
    lookup_field = "code"
    lookup_url_kwarg = "id"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Share.objects.none()
        return queries.shares_for(self.request.actor).prefetch_related("sources")

    def _with_url(self, share, token):
        share.url = domain.share_url(token, request=self.request)
        share.shlink = getattr(share, "shlink", None)
        return CreatedShareSerializer(share, context=self.get_serializer_context()).data

    @extend_schema(responses={201: CreatedShareSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        share, token = domain.create_share(
            actor=request.actor,
            label=data["label"],
            purpose=data.get("purpose", ""),
            categories=data["categories"],
            sources=data.get("sources", []),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            expires_at=data["expires_at"],
            passcode=data.get("passcode", ""),
            allow_download=data.get("allow_download", False),
            notify_on_open=data.get("notify_on_open", False),
            request=request,
        )
        return Response(self._with_url(share, token), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=ShareSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, *args, **kwargs):
        share = self.get_object()
        domain.revoke_share(share=share, request=request)
        return Response(ShareSerializer(share, context=self.get_serializer_context()).data)

    @extend_schema(
        request=None,
        responses={
            200: CreatedShareSerializer,
            409: OpenApiResponse(
                OpenApiTypes.OBJECT, description="Revoked or expired: it gets no new link."
            ),
        },
    )
    @action(detail=True, methods=["post"])
    def reissue(self, request, *args, **kwargs):
        """New links (web and SMART Health Link); the old ones answer 404. 409 when the share
        is revoked or expired."""
        share = self.get_object()
        try:
            token = domain.reissue_share(share=share, request=request)
        except domain.NotReissuable as refused:
            return Response({"detail": refused.message}, status=status.HTTP_409_CONFLICT)
        return Response(self._with_url(share, token))

    @extend_schema(responses=AccessSerializer(many=True))
    @action(detail=True, methods=["get"])
    def accesses(self, request, *args, **kwargs):
        share = queries.share_for(request.actor, self.kwargs["id"])
        page = self.paginate_queryset(share.accesses.all())
        return self.get_paginated_response(AccessSerializer(page, many=True).data)

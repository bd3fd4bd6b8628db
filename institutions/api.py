"""REST API for the directory, a patient's sources, their sync runs and file imports.

Every object is looked up through the access-scoped queries (institutions.queries); another
patient's ids answer 404. The views call the same domain functions as the HTML pages.
"""

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from institutions import domain, imports, queries
from institutions.issues import CODES as ISSUE_CODES
from institutions.models import Institution, Source, SyncIssue, SyncRun
from records.fhirfile import NotFHIR


class InstitutionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="code", read_only=True)
    type = serializers.CharField(source="get_type_code_display", read_only=True)

    class Meta:
        model = Institution
        fields = ["id", "name", "name_en", "hira_number", "type_code", "type", "region"]


class SyncRunSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="code", read_only=True)
    source = serializers.UUIDField(source="source.code", read_only=True)
    progress = serializers.IntegerField(read_only=True)
    created = serializers.IntegerField(source="created_count", read_only=True)
    error = serializers.CharField(
        source="reason", read_only=True, help_text="Why the run failed, in the request's language."
    )

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "source",
            "status",
            "trigger",
            "progress",
            "total",
            "fetched",
            "created",
            "updated",
            "unchanged",
            "invalid",
            "error",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class SyncIssueSerializer(serializers.ModelSerializer):
    message = serializers.CharField(
        read_only=True, help_text="The problem in words, in the request's language."
    )
    code = serializers.ChoiceField(choices=ISSUE_CODES, read_only=True)
    params = serializers.JSONField(
        read_only=True, help_text="What the message names: FHIR element and type names."
    )

    class Meta:
        model = SyncIssue
        fields = [
            "resource_type",
            "resource_id",
            "display",
            "effective",
            "code",
            "params",
            "message",
        ]
        read_only_fields = fields


class UnlinkQuerySerializer(serializers.Serializer):
    purge = serializers.BooleanField(default=False)
    confirm = serializers.IntegerField(required=False, min_value=0, max_value=2**31)


class SourceSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="code", read_only=True)
    institution = serializers.SlugRelatedField(
        slug_field="code", queryset=queries.directory(), allow_null=True, required=True
    )
    consent = serializers.BooleanField(write_only=True)
    name = serializers.CharField(source="display_name", read_only=True)

    class Meta:
        model = Source
        fields = [
            "id",
            "kind",
            "institution",
            "name",
            "status",
            "consent",
            "consent_at",
            "consent_version",
            "last_synced_at",
            "created",
        ]
        read_only_fields = [
            "kind",
            "status",
            "consent_at",
            "consent_version",
            "last_synced_at",
            "created",
        ]

    def validate_consent(self, value):
        if value is not True:
            raise serializers.ValidationError("Consent is required to link an institution.")
        return value

    def validate_institution(self, value):
        if value is None:
            raise serializers.ValidationError("Choose an institution (files go to /imports/).")
        return value


class InstitutionViewSet(viewsets.ReadOnlyModelViewSet):
    """The directory: active institutions, searchable with ?q= (name), ?region=, ?type_code=."""

    serializer_class = InstitutionSerializer
    lookup_field = "code"
    lookup_url_kwarg = "id"

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str),
            OpenApiParameter("region", str),
            OpenApiParameter("type_code", str),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def get_queryset(self):
        params = self.request.query_params
        return queries.directory(
            q=params.get("q", ""),
            region=params.get("region", ""),
            type_code=params.get("type_code", ""),
        )


class SourceViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """The patient's sources. POST links an institution (with consent) and starts a sync."""

    serializer_class = SourceSerializer
    lookup_field = "code"
    lookup_url_kwarg = "id"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no patient
            return Source.objects.none()
        return queries.sources_for(self.request.actor)

    @extend_schema(
        responses={
            201: SourceSerializer,
            422: inline_serializer("LinkProblem", {"detail": serializers.CharField()}),
        }
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            source = domain.link_institution(
                patient=queries.managing_patient(request.actor, user=request.user),
                institution=serializer.validated_data["institution"],
                request=request,
            )
        except domain.LinkError as exc:
            return Response({"detail": str(exc)}, status=422)
        return Response(self.get_serializer(source).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            OpenApiParameter("purge", bool, description="also delete its records"),
            OpenApiParameter(
                "confirm",
                int,
                description="with purge: the number of records it deletes, as the 409 answer "
                "gave it (nothing is deleted unless it matches)",
            ),
        ],
        responses={
            204: None,
            409: inline_serializer(
                "PurgeNotConfirmed",
                {"detail": serializers.CharField(), "records": serializers.IntegerField()},
            ),
        },
    )
    def destroy(self, request, *args, **kwargs):
        source = self.get_object()
        params = UnlinkQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        purge = params.validated_data["purge"]
        if source.status == "active":
            count = source.records.count() if purge else 0
            if count and params.validated_data.get("confirm") != count:
                # One request used to delete every record: the first answers with the count,
                # and only a request that repeats it deletes them.
                detail = domain.purge_warning(source=source, count=count)
                repeat = _("Repeat the request with confirm=%(count)s.") % {"count": count}
                return Response(
                    {"detail": f"{detail} {repeat}", "records": count},
                    status=status.HTTP_409_CONFLICT,
                )
            domain.unlink_source(source=source, purge=purge, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: SyncRunSerializer})
    @action(detail=True, methods=["post"])
    def sync(self, request, *args, **kwargs):
        source = self.get_object()
        if source.status != "active":
            return Response({"detail": "This source is unlinked."}, status=status.HTTP_409_CONFLICT)
        run, _created = domain.trigger_sync(source=source, request=request)
        return Response(SyncRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class SyncRunViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = SyncRunSerializer
    lookup_field = "code"
    lookup_url_kwarg = "id"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return SyncRun.objects.none()
        return queries.runs_for(self.request.actor)

    @extend_schema(responses=SyncIssueSerializer(many=True))
    @action(detail=True, methods=["get"])
    def issues(self, request, *args, **kwargs):
        """The resources the run could not keep, and why (in the request's language)."""
        run = self.get_object()  # through runs_for: another patient's run is a 404
        page = self.paginate_queryset(run.issues.all())
        return self.get_paginated_response(SyncIssueSerializer(page, many=True).data)


class ImportRequestSerializer(serializers.Serializer):
    file = serializers.FileField()
    decision = serializers.ChoiceField(
        choices=[imports.IMPORT_ANYWAY, imports.REPLACE],
        required=False,
        help_text="For a file (or records) already imported: import anyway, or replace the "
        "earlier import(s).",
    )
    confirm = serializers.BooleanField(
        required=False,
        default=False,
        help_text="For a file about someone else than the verified identity, or about nobody: "
        "the patient has checked it and wants it imported.",
    )


class ImportView(APIView):
    """Upload a FHIR Bundle (JSON) or NDJSON file as a new source; it is imported by a worker.

    A file already imported (or whose records PHR already holds), or one whose Patient is not
    the account's verified identity (or that has no Patient), answers 409 with what was found
    and stores nothing; send it again with `decision` and/or `confirm`.
    """

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": ImportRequestSerializer},
        responses={
            202: SourceSerializer,
            # `file` for a file that cannot be read; `detail` when the request itself is refused
            # before the view (NUL bytes or invalid UTF-8: core.middleware.HostileInputMiddleware).
            400: inline_serializer(
                "ImportProblem",
                {
                    "file": serializers.ListField(required=False),
                    "detail": serializers.CharField(required=False),
                },
            ),
            409: inline_serializer(
                "ImportNeedsConfirmation",
                {
                    "detail": serializers.CharField(),
                    "already_imported": serializers.ListField(child=serializers.DictField()),
                    "records_already_stored": serializers.IntegerField(),
                    "records_in_file": serializers.IntegerField(),
                    "already_stored_in": serializers.ListField(child=serializers.DictField()),
                    "identity": serializers.DictField(),
                },
            ),
        },
    )
    def post(self, request):
        if request.FILES.get("file") is None:
            return Response({"file": ["Send the file in the multipart field 'file'."]}, status=400)
        serializer = ImportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        try:
            source = domain.import_file(
                patient=queries.managing_patient(request.actor, user=request.user),
                filename=upload.name,
                data=upload.read(),
                request=request,
                decision=serializer.validated_data.get("decision", ""),
                identity_confirmed=serializer.validated_data["confirm"],
            )
        except NotFHIR as exc:
            return Response({"file": [str(exc)]}, status=400)
        except domain.ImportNeedsConfirmation as exc:
            return Response(
                {
                    "detail": _(
                        "Nothing was stored. Send the file again with 'decision' (import or "
                        "replace) for a file already imported, and 'confirm' for a file that is "
                        "not about your verified identity."
                    ),
                    **imports.review_as_data(exc.review),
                },
                status=status.HTTP_409_CONFLICT,
            )
        return Response(SourceSerializer(source).data, status=status.HTTP_202_ACCEPTED)

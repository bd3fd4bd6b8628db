"""REST API over the patient's records: list with filters, detail with the raw resource, lab
series, the summary and the FHIR export. All through records.queries (the access-scoped
queries); another patient's ids answer 404."""

from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiTypes, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view, renderer_classes
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.utils import encoders
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from records import charts, export, fhirjson, queries, readmodels
from records.forms import RecordFilterForm
from records.models import Category, Record
from records.units import display_unit


class FHIRJSONRenderer(JSONRenderer):
    media_type = "application/fhir+json"
    format = "fhir"


class _DecimalEncoder(encoders.JSONEncoder):
    """DRF's encoder, but a resource's decimals are written with their digits (DRF's makes
    them floats: 125.00 would read 125.0)."""

    def encode(self, o) -> str:
        return fhirjson.dumps(o, fallback=self.default)


class ResourceJSONRenderer(JSONRenderer):
    encoder_class = _DecimalEncoder


class RecordSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="code", read_only=True)
    code = serializers.CharField(source="code_value", read_only=True)
    value = serializers.FloatField(source="value_num", read_only=True, allow_null=True)
    value2 = serializers.FloatField(source="value_num2", read_only=True, allow_null=True)
    source = serializers.UUIDField(source="source.code", read_only=True)
    institution = serializers.CharField(source="source.display_name", read_only=True)
    # `unit` is what the hospital sent (a UCUM code such as "mm[Hg]"); this is how a person
    # writes it ("mmHg"), for clients that show the value.
    unit_display = serializers.SerializerMethodField()

    class Meta:
        model = Record
        fields = [
            "id",
            "resource_type",
            "resource_id",
            "category",
            "code_system",
            "code",
            "display",
            "effective",
            "status",
            "value",
            "value2",
            "unit",
            "unit_display",
            "source",
            "institution",
        ]
        read_only_fields = fields

    def get_unit_display(self, record: Record) -> str:
        return display_unit(record.unit)


class RecordDetailSerializer(RecordSerializer):
    resource = serializers.JSONField(read_only=True)

    class Meta(RecordSerializer.Meta):
        fields = [*RecordSerializer.Meta.fields, "resource"]
        read_only_fields = fields


class KeysetPagination(BasePagination):
    """Keyset pages on (effective DESC, id DESC) through records.queries.page (O(1) per page)."""

    page_size, max_page_size = 50, 200

    def paginate_queryset(self, queryset, request, view=None):
        try:
            size = min(
                int(request.query_params.get("page_size", self.page_size)), self.max_page_size
            )
        except ValueError:
            raise ValidationError({"page_size": ["A whole number, at most 200."]}) from None
        rows, self.next_cursor = queries.page(
            queryset, after=request.query_params.get("cursor", ""), size=max(size, 1)
        )
        self.request = request
        return rows

    def get_paginated_response(self, data):
        next_url = None
        if self.next_cursor:
            next_url = replace_query_param(
                self.request.build_absolute_uri(), "cursor", self.next_cursor
            )
        return Response({"next": next_url, "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "properties": {"next": {"type": "string", "nullable": True}, "results": schema},
        }


FILTER_PARAMETERS = [
    OpenApiParameter("category", str, enum=Category.values),
    OpenApiParameter("source", OpenApiTypes.UUID),
    OpenApiParameter("code", str),
    OpenApiParameter("date_from", OpenApiTypes.DATE),
    OpenApiParameter("date_to", OpenApiTypes.DATE),
    OpenApiParameter("q", str, description="words or codes"),
    OpenApiParameter("cursor", str),
    OpenApiParameter("page_size", int),
]


def _filters(request):
    params = request.query_params.copy()
    if "q" not in params and "text" in params:
        params["q"] = params["text"]
    form = RecordFilterForm(params, sources=readmodels.sources(request.actor))
    if not form.is_valid():
        raise ValidationError(form.errors)
    return form.filters()


class RecordList(APIView):
    pagination_class = KeysetPagination

    @extend_schema(parameters=FILTER_PARAMETERS, responses=RecordSerializer(many=True))
    def get(self, request):
        """The patient's records, newest first, filtered; cursor-paginated."""
        records = queries.filtered(queries.records_for(request.actor), _filters(request))
        paginator = KeysetPagination()
        if request.query_params.get("cursor"):
            rows = paginator.paginate_queryset(records, request, self)
            return paginator.get_paginated_response(RecordSerializer(rows, many=True).data)

        def first_page():
            rows = paginator.paginate_queryset(records, request, self)
            results = [dict(row) for row in RecordSerializer(rows, many=True).data]
            return {"results": results, "cursor": paginator.next_cursor}

        # The first page of each query is kept per data version, as the timeline's is
        # (records.readmodels): serialising its 50 records was most of the request (B4). Its
        # next link is built for each request (the host is the request's).
        page = readmodels.read(
            request.actor,
            "api-records",
            first_page,
            part="|".join(
                [
                    request.GET.urlencode(),
                    timezone.get_current_timezone_name(),
                    readmodels.release(),
                ]
            ),
        )
        paginator.request, paginator.next_cursor = request, page["cursor"]
        return paginator.get_paginated_response(page["results"])


class RecordDetail(APIView):
    renderer_classes = [ResourceJSONRenderer, BrowsableAPIRenderer]

    @extend_schema(responses=RecordDetailSerializer)
    def get(self, request, id):
        return Response(RecordDetailSerializer(queries.record_for(request.actor, id)).data)


LAB_TESTS = inline_serializer(
    "LabTest",
    {
        "code": serializers.CharField(),
        "display": serializers.CharField(),
        "latest": RecordSerializer(),
        "flag": serializers.CharField(),
        "points": serializers.IntegerField(),
    },
    many=True,
)


@extend_schema(responses=LAB_TESTS)
@api_view(["GET"])
def labs(request):
    """Every lab test with its latest result and H/L flag (one per test across institutions)."""
    tests = queries.results_overview(queries.records_for(request.actor))
    return Response(
        [
            {
                "code": t["code"],
                "display": t["display"],
                "latest": RecordSerializer(t["latest"]).data,
                "flag": charts.flag(t["latest"]),
                "points": len(t["points"]),
            }
            for t in tests
        ]
    )


@extend_schema(responses=RecordSerializer(many=True))
@api_view(["GET"])
def lab_series(request, code):
    """All results of one test across institutions, oldest first."""
    points = queries.series(queries.records_for(request.actor), code, Category.LAB)
    if not points:
        raise NotFound
    return Response(RecordSerializer(points, many=True).data)


@extend_schema(
    responses=inline_serializer(
        "Summary",
        {
            c: RecordSerializer(many=True)
            for c in ("condition", "medication", "allergy", "immunization", "lab")
        },
    )
)
@api_view(["GET"])
def summary(request):
    """The patient summary's sections: active problems, current medications, allergies,
    immunizations and recent results, each with its source."""
    sections = queries.summary_sections(
        queries.records_for(request.actor), categories=request.actor.scope.categories
    )
    return Response({k: RecordSerializer(v, many=True).data for k, v in sections.items()})


@extend_schema(
    parameters=FILTER_PARAMETERS[:6],
    responses={(200, "application/fhir+json"): OpenApiTypes.OBJECT},
)
@api_view(["GET"])
@renderer_classes([FHIRJSONRenderer, JSONRenderer])
def export_fhir(request):
    """A FHIR R4 Bundle (type collection) of the records, the original resources unchanged."""
    records = queries.filtered(queries.records_for(request.actor), _filters(request))
    return export.export_for_patient(request, records)

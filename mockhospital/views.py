"""The mock hospitals' HTTP endpoints: OAuth2 token, FHIR metadata, search, $everything.

Served under /mock/ only when settings.PHR_MOCK_HOSPITALS is on (development and tests).
"""

import base64
import binascii
import functools
import hmac
import socket
import time
from urllib.parse import urlencode

from django.core import signing
from django.core.cache import cache
from django.db.models import Min
from django.http import JsonResponse, StreamingHttpResponse
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_datetime
from django.utils.http import http_date
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from mockhospital import codes, domain, faults, fhir
from mockhospital.models import MockInstitution, MockPatient, MockResource, SearchHandling, Source

TOKEN_SALT = "mockhospital.token"  # noqa: S105 - a signing namespace, not a secret


def _tokens_key(institution) -> str:
    return f"mockhospital:tokens:{institution.pk}"


def tokens_issued(institution) -> int:
    """How many access tokens the institution has issued (counted in the shared cache, so every
    server process agrees): what a client that reuses its token saves is seen here."""
    return cache.get(_tokens_key(institution), 0)


def _base_url(request, institution) -> str:
    return request.build_absolute_uri(f"/mock/{institution.slug}/fhir")


def _token_url(request, institution) -> str:
    return request.build_absolute_uri(f"/mock/{institution.slug}/token")


@require_GET
def index(request):
    """The mock institutions, with what a script needs to connect to each."""
    institutions = [
        {
            "slug": i.slug,
            "name": i.name,
            "name_en": i.name_en,
            "hira_number": i.hira_number,
            "type_code": i.type_code,
            "fhir_base_url": _base_url(request, i),
            "token_url": _token_url(request, i),
            "client_id": i.client_id,
            "client_secret": i.client_secret,
            "supports_everything": i.supports_everything,
            "faults": i.faults,
        }
        for i in MockInstitution.objects.all()
    ]
    return JsonResponse({"institutions": institutions}, json_dumps_params={"ensure_ascii": False})


def _client_credentials(request) -> tuple[str, str]:
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "", ""
        return client_id, secret
    return request.POST.get("client_id", ""), request.POST.get("client_secret", "")


# An OAuth2 token endpoint is called by machine clients with client credentials, never by a
# browser holding a session: CSRF protection does not apply to it.
@csrf_exempt  # nosemgrep: csrf-exempt
@require_POST
def token(request, slug):
    institution = MockInstitution.objects.filter(slug=slug).first()
    if institution is None:
        return JsonResponse({"error": "invalid_client"}, status=401)
    if request.POST.get("grant_type") != "client_credentials":
        return JsonResponse({"error": "unsupported_grant_type"}, status=400)
    client_id, secret = _client_credentials(request)
    if not (
        hmac.compare_digest(client_id, institution.client_id)
        and hmac.compare_digest(secret, institution.client_secret)
    ):
        return JsonResponse({"error": "invalid_client"}, status=401)
    cache.add(_tokens_key(institution), 0, timeout=None)
    number = cache.incr(_tokens_key(institution))
    # The number makes each token distinct, as a real server's are (one issued in the same
    # second as another is not the same token).
    access_token = signing.dumps(
        {"i": institution.slug, "n": number, "c": _credentials_digest(institution)},
        salt=TOKEN_SALT,
    )
    return JsonResponse(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": institution.token_lifetime,
            "scope": "system/*.read",
        }
    )


def _token_valid(request, institution) -> bool:
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return False
    try:
        payload = signing.loads(header[7:], salt=TOKEN_SALT, max_age=institution.token_lifetime)
    except signing.BadSignature:  # also SignatureExpired
        return False
    # Rotating the client secret revokes the tokens issued under the old one.
    return payload.get("i") == institution.slug and payload.get("c") == _credentials_digest(
        institution
    )


def _credentials_digest(institution) -> str:
    credentials = f"{institution.client_id}:{institution.client_secret}"
    return salted_hmac(TOKEN_SALT, credentials).hexdigest()[:16]


def _socket_of(request) -> socket.socket | None:
    # The development/live server (wsgiref) reaches the client socket through wsgi.input:
    # Django's LimitedStream keeps the BufferedReader's read method → .raw (SocketIO) → ._sock.
    # Only the mock's "connection reset" fault needs it, to cut a response short the way a
    # dying network does; other servers get a body cut short without a length instead.
    stream = request.META.get("wsgi.input")
    stream = getattr(getattr(stream, "_read", None), "__self__", stream)
    for attribute in ("raw", "_sock"):
        stream = getattr(stream, attribute, None)
    return stream if isinstance(stream, socket.socket) else None


def _reset_mid_body(request, content: bytes):
    sock = _socket_of(request)

    def body():
        yield content[: len(content) // 2]
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)
        raise ConnectionResetError("mock hospital: injected connection reset")

    response = StreamingHttpResponse(body(), content_type=fhir.FHIR_JSON)
    if sock is not None:  # the client sees fewer bytes than announced, then the close
        response["Content-Length"] = str(len(content))
    return response


def _retry_after(institution, decision) -> str:
    settings = institution.faults
    seconds = settings.get("retry_after", 1)
    form = settings.get("retry_after_format", "seconds")
    if form == "http-date" or (form == "mixed" and decision.pick < 0.5):
        return http_date(time.time() + seconds)
    return str(seconds)


def fhir_api(view):
    """Authentication and fault injection around a FHIR data endpoint."""

    @functools.wraps(view)
    @require_GET
    def wrapper(request, slug, **kwargs):
        institution = MockInstitution.objects.filter(slug=slug).first()
        if institution is None:
            return fhir.outcome(404, "not-found", "Unknown institution.")
        if not _token_valid(request, institution):
            return fhir.outcome(
                401, "login", "A valid bearer token is required.", WWW_Authenticate="Bearer"
            )
        settings = institution.faults or {}
        decision = faults.decide(institution)
        if settings.get("latency_ms"):
            time.sleep(settings["latency_ms"] / 1000)
        if decision.timeout:
            time.sleep(settings.get("timeout_seconds", 30))
        if decision.expired_token:
            return fhir.outcome(
                401,
                "expired",
                "The access token has expired.",
                WWW_Authenticate='Bearer error="invalid_token", error_description="expired"',
            )
        if decision.rate_limit:
            return fhir.outcome(
                429,
                "throttled",
                "Too many requests.",
                Retry_After=_retry_after(institution, decision),
            )
        if decision.error:
            status = faults.ERROR_STATUSES[int(decision.pick * len(faults.ERROR_STATUSES))]
            return fhir.outcome(status, "exception", "Internal server error (injected fault).")
        response = view(request, institution, decision, **kwargs)
        if response.status_code == 200 and decision.malformed:
            response.content = response.content[: len(response.content) * 3 // 5]
        elif response.status_code == 200 and decision.reset:
            return _reset_mid_body(request, response.content)
        return response

    return wrapper


@require_GET
def metadata(request, slug):
    institution = MockInstitution.objects.filter(slug=slug).first()
    if institution is None:
        return fhir.outcome(404, "not-found", "Unknown institution.")
    return fhir.response(
        fhir.capability_statement(
            institution,
            base_url=_base_url(request, institution),
            token_url=_token_url(request, institution),
        )
    )


class BadRequest(ValueError):
    pass


PAGING_PARAMS = {"_page_token", "_count", "_since", "_lastUpdated"}


def _since(request):
    raw = request.GET.get("_since")
    if raw is None:
        last_updated = request.GET.get("_lastUpdated")
        if last_updated is None:
            return None
        if not last_updated.startswith(("gt", "ge")):
            raise BadRequest("_lastUpdated supports the gt and ge prefixes.")
        raw = last_updated[2:]
    moment = parse_datetime(raw.replace(" ", "+"))
    if moment is None or moment.tzinfo is None:
        raise BadRequest(f"Not an instant with a time zone: {raw}")
    return moment


def _first_page_state(request, institution, queryset) -> dict:
    try:
        count = int(request.GET.get("_count", institution.default_page_size))
    except ValueError:
        raise BadRequest("_count must be a whole number.") from None
    if count < 1:
        raise BadRequest("_count must be at least 1.")
    since = _since(request)
    if since is not None:
        queryset = queryset.filter(last_updated__gt=since)
    # A snapshot bound keeps paging stable while the clock advances: resources added after the
    # first page have higher ids and are left for the next sync; amended ones keep their id.
    snapshot = domain.snapshot_max_id(queryset)
    return {
        "cursor": 0,
        "snapshot": snapshot,
        "total": queryset.filter(id__lte=snapshot).count(),
        "count": min(count, institution.max_page_size),
        "since": since.isoformat() if since else None,
    }


def _page(request, institution, decision, queryset):
    token = request.GET.get("_page_token")
    mode = institution.faults.get("truncate_mode", "next_404")
    mode = mode if mode != "mixed" else ("next_404" if decision.pick < 0.5 else "short_page")
    try:
        if token:
            state = fhir.decode_page_token(token)
            if state is None:
                raise BadRequest("Invalid _page_token.")
        else:
            state = _first_page_state(request, institution, queryset)
    except BadRequest as exc:
        return fhir.outcome(400, "invalid", str(exc))
    if token and decision.truncate and mode == "next_404":
        return fhir.outcome(404, "not-found", "This page is no longer available.")
    if state["since"]:
        queryset = queryset.filter(last_updated__gt=parse_datetime(state["since"]))
    rows = list(
        queryset.filter(id__gt=state["cursor"], id__lte=state["snapshot"])
        .order_by("id")
        .values_list("id", "resource_type", "resource_id", "body")[: state["count"] + 1]
    )
    has_next = len(rows) > state["count"]
    rows = rows[: state["count"]]
    last_id = rows[-1][0] if rows else state["cursor"]
    if decision.duplicate and state["cursor"]:
        rows = (
            list(
                queryset.filter(id=state["cursor"]).values_list(
                    "id", "resource_type", "resource_id", "body"
                )
            )
            + rows
        )
    if decision.truncate and mode == "short_page" and len(rows) > 1:
        rows = rows[: len(rows) * 2 // 3]  # the cursor still moves past the dropped ones
    served = [
        (
            rtype,
            rid,
            faults.corrupt(body)
            if rtype != "Patient" and faults.is_corrupted(institution, pk)
            else body,
        )
        for pk, rtype, rid, body in rows
    ]
    next_url = None
    if has_next:
        # The search's own parameters (patient=…) stay; paging state travels in the token.
        params = {k: v for k, v in request.GET.items() if k not in PAGING_PARAMS}
        params["_page_token"] = fhir.encode_page_token({**state, "cursor": last_id})
        next_url = f"{request.build_absolute_uri(request.path)}?{urlencode(params)}"
    return fhir.response(
        fhir.searchset(
            base_url=_base_url(request, institution),
            self_url=request.build_absolute_uri(),
            next_url=next_url,
            total=state["total"],
            rows=served,
            server_time=institution.clock,
        )
    )


def _patient(request, institution, patient_id) -> MockPatient | None:
    patient = MockPatient.objects.filter(institution=institution, patient_id=patient_id).first()
    if patient is not None and _needs_materializing(request, institution, patient):
        domain.ensure_materialized(patient)
    return patient


def _needs_materializing(request, institution, patient) -> bool:
    """Whether the patient's data may lag the institution's clock for this request. A later
    page of a search reads only rows up to its first page's snapshot, which was materialised
    then; data generated up to the clock needs nothing (ensure_materialized decides under its
    lock — this spares the lock and its transaction on every page)."""
    if "_page_token" in request.GET or patient.source == Source.FILE:
        return False
    return not (patient.generated_until and patient.generated_until >= institution.clock)


def _strict(request, institution) -> bool:
    """Whether unknown search parameters are refused: the institution's mode, or the client's
    `Prefer: handling=strict|lenient` (FHIR's search handling preference)."""
    prefer = request.headers.get("Prefer", "").replace(" ", "")
    if "handling=strict" in prefer:
        return True
    if "handling=lenient" in prefer:
        return False
    return institution.search_handling == SearchHandling.STRICT


def _unknown_params(request, institution, resource_type):
    """A 400 OperationOutcome for parameters the type lacks (strict), or None (lenient: ignored,
    so the search is answered as if they were not there)."""
    unknown = sorted(set(request.GET) - set(fhir.search_params(resource_type)))
    if unknown and _strict(request, institution):
        return fhir.outcome(
            400,
            "not-supported",
            f"Unknown search parameter for {resource_type}: {', '.join(unknown)}.",
        )
    return None


def _all_patients(institution):
    for patient in MockPatient.objects.filter(
        institution=institution, generated_until__isnull=True
    ):
        domain.ensure_materialized(patient)


def _by_id(request, queryset):
    ids = request.GET.get("_id")
    return queryset if ids is None else queryset.filter(resource_id__in=ids.split(","))


@fhir_api
def patient_search(request, institution, decision):
    """`Patient?identifier=<system>|<value>` finds one person, `Patient?_id=` reads one by id;
    plain `Patient` lists them all (as does a lenient search with only unknown parameters)."""
    refused = _unknown_params(request, institution, "Patient")
    if refused is not None:
        return refused
    identifier = request.GET.get("identifier")
    if identifier is not None:
        system, _, value = identifier.rpartition("|")
        patient = None
        if system in ("", codes.PHR_IDENTITY_SYSTEM) and value:
            patient = domain.find_patient(institution=institution, identifier=value)
        if patient is not None:
            domain.ensure_materialized(patient)
        # The person's own Patient resource (a file may hold other people's too).
        queryset = MockResource.objects.filter(
            patient=patient,
            resource_type="Patient",
            resource_id=patient.patient_id if patient else "",
        )
        return _page(request, institution, decision, _by_id(request, queryset))
    _all_patients(institution)
    queryset = MockResource.objects.filter(
        patient__institution=institution, resource_type="Patient"
    )
    return _page(request, institution, decision, _by_id(request, queryset))


@fhir_api
def patient_read(request, institution, decision, patient_id):
    patient = _patient(request, institution, patient_id)
    row = (
        MockResource.objects.filter(
            patient=patient, resource_type="Patient", resource_id=patient_id
        )
        .values_list("body", flat=True)
        .first()
    )
    if row is None:
        return fhir.outcome(404, "not-found", f"Patient/{patient_id} is not known here.")
    return fhir.response(row)


@fhir_api
def everything(request, institution, decision, patient_id):
    if not institution.supports_everything:
        return fhir.outcome(400, "not-supported", "$everything is not supported by this server.")
    patient = _patient(request, institution, patient_id)
    if patient is None:
        return fhir.outcome(404, "not-found", f"Patient/{patient_id} is not known here.")
    return _page(request, institution, decision, MockResource.objects.filter(patient=patient))


@fhir_api
def type_search(request, institution, decision, resource_type):
    """`<type>?patient=<id>` (or the type's other R4 patient parameter: subject, beneficiary)
    finds the patient's resources of that type. Without one — also when a lenient server
    ignores a parameter it does not know — it lists that type for every patient, as a real
    server does."""
    if resource_type not in fhir.RESOURCE_TYPES:
        return fhir.outcome(404, "not-supported", f"{resource_type} is not served here.")
    refused = _unknown_params(request, institution, resource_type)
    if refused is not None:
        return refused
    queryset = MockResource.objects.filter(
        patient__institution=institution, resource_type=resource_type
    )
    link = next((p for p in fhir.PATIENT_SEARCH.get(resource_type, ()) if p in request.GET), None)
    if link is None:
        _all_patients(institution)
    else:
        # Patient/<id>, an absolute URL ending so, or a bare id.
        patient_id = request.GET[link].rstrip("/").rpartition("Patient/")[2]
        queryset = queryset.filter(patient=_patient(request, institution, patient_id))
    if resource_type in fhir.NOT_PATIENT_TYPES:
        # The hospital's own directory (its Organization, staff, wards): held once per patient
        # here, served once by id (`_id=a,b,c` finds each of them once).
        queryset = queryset.filter(
            id__in=queryset.order_by()
            .values("resource_id")
            .annotate(first=Min("id"))
            .values("first")
        )
    return _page(request, institution, decision, _by_id(request, queryset))

"""FHIR R4 wire format for the mock servers: Bundles, OperationOutcomes, the CapabilityStatement.

Search pages are assembled as text around the stored resource bodies: a resource is never
parsed and re-serialised to be served, which keeps the mock fast enough that it is never what
limits a sync benchmark.
"""

import base64
import json
import uuid

from django.http import HttpResponse

from records.r4 import R4_PATIENT_SEARCH

FHIR_JSON = "application/fhir+json; charset=utf-8"
# The types a mock hospital serves and searches: every type R4 links to a patient (the patient
# compartment, searched by its R4 parameters), plus the ones records point at that belong to no
# patient (searchable, but not by patient). Listed in the CapabilityStatement as a real server
# lists its types, so a client learns from /metadata which parameter finds a patient's records.
PATIENT_SEARCH = {"Patient": (), **R4_PATIENT_SEARCH}
NOT_PATIENT_TYPES = ("Organization", "Practitioner", "PractitionerRole", "Location", "Medication")
RESOURCE_TYPES = [*PATIENT_SEARCH, *NOT_PATIENT_TYPES]
# Parameters every type understands (paging state travels in _page_token).
COMMON_PARAMS = ("_id", "_lastUpdated", "_count", "_page_token")


def search_params(resource_type: str) -> tuple[str, ...]:
    """The search parameters the mock implements for a type (what its strict mode accepts)."""
    own = ("identifier",) if resource_type == "Patient" else PATIENT_SEARCH.get(resource_type, ())
    return (*own, *COMMON_PARAMS)


def response(body: str | dict, status: int = 200, **headers) -> HttpResponse:
    if isinstance(body, dict):
        body = json.dumps(body, ensure_ascii=False)
    result = HttpResponse(body, status=status, content_type=FHIR_JSON)
    for name, value in headers.items():
        result[name.replace("_", "-")] = value
    return result


def outcome(status: int, code: str, message: str, **headers) -> HttpResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": message}],
    }
    return response(body, status=status, **headers)


def encode_page_token(state: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode()


def decode_page_token(token: str) -> dict | None:
    try:
        state = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, UnicodeDecodeError):
        return None
    required = {"cursor": int, "snapshot": int, "total": int, "count": int}
    if not isinstance(state, dict) or not all(
        isinstance(state.get(k), t) for k, t in required.items()
    ):
        return None
    return state


def searchset(
    *, base_url: str, self_url: str, next_url: str | None, total: int, rows, server_time
) -> str:
    """A searchset Bundle around stored bodies; rows are (type, id, body) tuples.

    meta.lastUpdated is the server's time (the institution's clock): clients use the first
    page's value as the high-water mark of an incremental sync.
    """
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    head = json.dumps(
        {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "meta": {"lastUpdated": server_time.isoformat(timespec="seconds")},
            "type": "searchset",
            "total": total,
            "link": links,
        },
        ensure_ascii=False,
    )
    base = json.dumps(base_url)[1:-1]
    entries = ",".join(
        f'{{"fullUrl":"{base}/{rtype}/{rid}","resource":{body},"search":{{"mode":"match"}}}}'
        for rtype, rid, body in rows
    )
    return f'{head[:-1]},"entry":[{entries}]}}'


PARAM_TYPES = {"_id": "token", "_lastUpdated": "date", "_count": "number", "identifier": "token"}


def capability_statement(institution, *, base_url: str, token_url: str) -> dict:
    resources = []
    for resource_type in RESOURCE_TYPES:
        entry = {
            "type": resource_type,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": name, "type": PARAM_TYPES.get(name, "reference")}
                for name in search_params(resource_type)
                if name != "_page_token"
            ],
        }
        if resource_type == "Patient" and institution.supports_everything:
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": institution.clock.date().isoformat(),
        "publisher": institution.name,
        "kind": "instance",
        "software": {"name": "PHR mock hospital", "version": "1.0"},
        "implementation": {"description": institution.name, "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": [{"url": "token", "valueUri": token_url}],
                        }
                    ],
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                },
                "resource": resources,
            }
        ],
    }

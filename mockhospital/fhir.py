"""FHIR R4 wire format for the mock servers: Bundles, OperationOutcomes, the CapabilityStatement.

Search pages are assembled as text around the stored resource bodies: a resource is never
parsed and re-serialised to be served, which keeps the mock fast enough that it is never what
limits a sync benchmark.
"""

import base64
import json
import uuid

from django.http import HttpResponse

FHIR_JSON = "application/fhir+json; charset=utf-8"
RESOURCE_TYPES = [
    "Patient",
    "Organization",
    "Encounter",
    "Condition",
    "Observation",
    "MedicationRequest",
    "Immunization",
    "AllergyIntolerance",
    "Procedure",
    "DiagnosticReport",
    "DocumentReference",
]


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


def capability_statement(institution, *, base_url: str, token_url: str) -> dict:
    resources = []
    for resource_type in RESOURCE_TYPES:
        entry = {
            "type": resource_type,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": "_lastUpdated", "type": "date"},
                {"name": "_count", "type": "number"},
            ],
        }
        if resource_type == "Patient":
            entry["searchParam"].append({"name": "identifier", "type": "token"})
            if institution.supports_everything:
                entry["operation"] = [
                    {
                        "name": "everything",
                        "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                    }
                ]
        else:
            entry["searchParam"].append({"name": "patient", "type": "reference"})
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

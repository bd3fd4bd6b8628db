"""Reading FHIR files: a JSON Bundle, a single resource, or NDJSON (one resource per line)."""

import json

from django.utils.translation import gettext as _

from records import fhirjson


class NotFHIR(ValueError):
    """The file is not a FHIR Bundle, resource or NDJSON stream (the message says why)."""


def parse_fhir_file(data: bytes) -> list[dict]:
    """The resources in the file, in order. Raises NotFHIR with a message for people."""
    return [resource for resource, _full_url in parse_fhir_entries(data)]


def parse_fhir_entries(data: bytes) -> list[tuple[dict, str]]:
    """(resource, fullUrl) for each resource in the file, in order ("" where the file gives no
    fullUrl: NDJSON, a single resource). Raises NotFHIR with a message for people."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise NotFHIR(_("The file is not text (UTF-8): it is not a FHIR JSON file.")) from None
    try:
        document = fhirjson.loads(text)  # decimals keep their digits
    except json.JSONDecodeError:
        resources = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                resources.append((fhirjson.loads(line), ""))
            except json.JSONDecodeError:
                raise NotFHIR(
                    _("Neither JSON nor NDJSON (line %(line)d cannot be read).") % {"line": number}
                ) from None
    else:
        if not isinstance(document, dict) or "resourceType" not in document:
            raise NotFHIR(_("The JSON has no resourceType: it is not FHIR."))
        if document["resourceType"] == "Bundle":
            resources = [
                (e["resource"], e["fullUrl"] if isinstance(e.get("fullUrl"), str) else "")
                for e in document.get("entry", [])
                if isinstance(e, dict) and "resource" in e
            ]
        else:
            resources = [(document, "")]
    if not resources:
        raise NotFHIR(_("The file holds no FHIR resources."))
    if not all(isinstance(r, dict) and r.get("resourceType") for r, _full_url in resources):
        raise NotFHIR(_("Every line or entry must be a FHIR resource with a resourceType."))
    return resources


def upload_owners(entries: list[tuple[dict, str]]) -> frozenset[str]:
    """Whose an uploaded file is: the ids of its Patients and their fullUrls (Synthea writes
    `urn:uuid:<id>`). Computed from the whole file, as its pages are stored one by one."""
    owners = set()
    for resource, full_url in entries:
        if resource.get("resourceType") == "Patient" and isinstance(resource.get("id"), str | int):
            owners.add(str(resource["id"]))
            if full_url:
                owners.add(full_url)
    return frozenset(owners - {""})

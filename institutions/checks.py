"""What a resource must be for a source to keep it, and what to ask an institution for.

Pure functions on FHIR JSON (no database): FHIR R4 validity by type and content, whether a
resource belongs to the source's patient, and the per-type search plan read from a
CapabilityStatement. The sync engine (institutions.sync) applies them page by page.
"""

import re
from collections.abc import Collection, Iterable

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from institutions import issues, r4


def validate(resource: dict) -> tuple[str, dict] | None:
    """None if the resource is valid FHIR R4, else why not: (issue code, parameters).

    fhir.resources ships R4B models: an R4 type that R4B dropped (EffectEvidenceSynthesis,
    MedicinalProduct…) is valid FHIR R4 that it cannot check, so it is accepted by its type;
    a name R4 does not define is refused as such (DSTU2/STU3 names said so).
    """
    resource_type = resource["resourceType"]
    if resource_type not in r4.R4_RESOURCE_TYPES:
        if resource_type in r4.OLDER_VERSION_TYPES:
            return issues.OLDER_VERSION, {"type": resource_type[:40]}
        return issues.UNKNOWN_TYPE, {"type": str(resource_type)[:40]}
    try:
        model = get_fhir_model_class(resource_type)
    except (KeyError, ValueError):  # R4-only: no R4B model to check it with
        return None
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        # Only where and what kind of problem: pydantic's messages can quote the offending
        # value, which may be clinical content.
        errors = exc.errors()
        return issues.INVALID, {
            "problems": [
                issues.problem(item.get("loc", ()), item.get("type", "invalid"))
                for item in errors[:5]
            ],
            "more": max(0, len(errors) - 5),
        }
    except Exception as exc:
        # The validator is a library: whatever it raises on one resource (RecursionError,
        # TypeError…) makes that resource unreadable, not the run.
        return issues.UNREADABLE, {"error": type(exc).__name__}
    return None


def _owners(owner: str | Collection[str]) -> Collection[str]:
    return {owner} if isinstance(owner, str) else owner


def _names_other(reference, owner: str | Collection[str]) -> bool:
    """Whether a Reference names a patient other than `owner` (by a Patient/<id> URL, relative
    or absolute, with or without _history, or by an urn:uuid the owner's id is not). `owner`
    is one id, or a set of ids and fullUrls (an uploaded file's Patients)."""
    if not isinstance(reference, dict):
        return False
    owners = _owners(owner)
    target = reference.get("reference")
    if not isinstance(target, str) or not target or target.startswith("#"):
        return False  # a contained resource, or a logical reference (identifier) only
    if target in owners:
        return False
    if target.startswith(("urn:uuid:", "urn:oid:")):
        return target.split(":", 2)[2] not in owners
    path = target.split("/_history/")[0].rstrip("/").split("/")
    if len(path) >= 2 and path[-2] == "Patient":
        return path[-1] not in owners
    if reference.get("type") == "Patient" and len(path) == 1:
        return path[0] not in owners
    return False  # Group/…, Device/…: not a patient


def names_other_patient(resource: dict, owner: str | Collection[str]) -> str | None:
    """The element by which a resource belongs to another patient than `owner` (an id, or the
    ids and fullUrls of an uploaded file's Patients), or None."""
    if resource["resourceType"] == "Patient":
        return None if str(resource["id"]) in _owners(owner) else "Patient.id"
    for element in ("subject", "patient", "beneficiary"):
        if _names_other(resource.get(element), owner):
            return f"{resource['resourceType']}.{element}"
    return None


def patient_searches(statement: dict) -> list[list[str]]:
    """[type, search parameter] for each type the CapabilityStatement lists that can be searched
    by patient, its Patient last (read by _id).

    The parameter is the first of r4.PATIENT_LINK_PARAMS the server lists for the type; a type
    listed without any search parameters gets R4's own. Types that link to no patient
    (Organization, Practitioner, Medication…) are not asked for: $everything brings them along,
    a per-type search cannot.
    """
    plan = []
    for rest in statement.get("rest", []) if isinstance(statement, dict) else []:
        for entry in rest.get("resource", []) if isinstance(rest, dict) else []:
            resource_type = entry.get("type") if isinstance(entry, dict) else None
            if not isinstance(resource_type, str) or resource_type == "Patient":
                continue
            listed = entry.get("searchParam")
            names = (
                {p.get("name") for p in listed if isinstance(p, dict)}
                if isinstance(listed, list) and listed
                else set(r4.R4_PATIENT_SEARCH.get(resource_type, ()))
            )
            param = next((p for p in r4.PATIENT_LINK_PARAMS if p in names), None)
            if param and [resource_type, param] not in plan:
                plan.append([resource_type, param])
    return [*plan, ["Patient", "_id"]]


def referenced_types(statement: dict) -> list[str]:
    """The types the CapabilityStatement lists as searchable that link to no patient in R4
    (Organization, Practitioner, PractitionerRole, Location, Medication…): a per-type sync reads
    the ones the patient's records reference by `_id`, as $everything would have brought them."""
    types = []
    for rest in statement.get("rest", []) if isinstance(statement, dict) else []:
        for entry in rest.get("resource", []) if isinstance(rest, dict) else []:
            resource_type = entry.get("type") if isinstance(entry, dict) else None
            if (
                not isinstance(resource_type, str)
                or resource_type == "Patient"
                or resource_type in r4.R4_PATIENT_SEARCH
                or resource_type not in r4.R4_RESOURCE_TYPES
                or resource_type in types
            ):
                continue
            interactions = entry.get("interaction")
            codes = (
                {i.get("code") for i in interactions if isinstance(i, dict)}
                if isinstance(interactions, list) and interactions
                else {"search-type"}
            )
            if "search-type" in codes:
                types.append(resource_type)
    return types


# An R4 id: what may go into a comma-separated `_id=` (a comma in an id would split it).
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def references_to(resources: Iterable, types: Collection[str], base_url: str = "") -> set:
    """{(type, id)} of the literal references to `types` in the resources: `Type/id`, with or
    without _history, or absolute on the institution's own base URL. A reference to another
    server, a conditional one (`Organization?identifier=…`), an urn: or a contained `#` is not
    something to read here."""
    base = base_url.rstrip("/") + "/" if base_url else ""
    found = set()
    stack = list(resources)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            target = node.get("reference")
            if isinstance(target, str):
                if base and target.startswith(base):
                    target = target[len(base) :]
                parts = target.split("/_history/")[0].split("/")
                if len(parts) == 2 and parts[0] in types and _FHIR_ID.fullmatch(parts[1]):
                    found.add((parts[0], parts[1]))
            stack.extend(v for v in node.values() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))
    return found

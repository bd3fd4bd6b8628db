"""What a resource must be for PHR to keep it: valid FHIR R4, and its patient's.

Pure functions on FHIR JSON (no database). Ingest (records.ingest) applies them to each new or
changed resource; a refusal is a code with parameters (below), put into words in the reader's
language when shown (institutions.issues). Parameters hold names of FHIR elements and types,
never values: a value can be clinical content.
"""

from collections.abc import Collection

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from records import r4

# Why a resource was not kept.
NO_TYPE_OR_ID = "no_type_or_id"
UNKNOWN_TYPE = "unknown_type"
OLDER_VERSION = "older_version"
INVALID = "invalid"
UNREADABLE = "unreadable"
OTHER_PATIENT = "other_patient"


def problem(path, error: str) -> dict:
    """One problem of a resource: where (a FHIRPath-like location) and pydantic's error type."""
    parts = []
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return {"path": "".join(parts), "error": str(error)[:60]}


def validate(resource: dict) -> tuple[str, dict] | None:
    """None if the resource is valid FHIR R4, else why not: (issue code, parameters).

    fhir.resources ships R4B models: an R4 type that R4B dropped (EffectEvidenceSynthesis,
    MedicinalProduct…) is valid FHIR R4 that it cannot check, so it is accepted by its type;
    a name R4 does not define is refused as such (DSTU2/STU3 names said so).
    """
    resource_type = resource["resourceType"]
    if resource_type not in r4.R4_RESOURCE_TYPES:
        if resource_type in r4.OLDER_VERSION_TYPES:
            return OLDER_VERSION, {"type": resource_type[:40]}
        return UNKNOWN_TYPE, {"type": str(resource_type)[:40]}
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
        return INVALID, {
            "problems": [
                problem(item.get("loc", ()), item.get("type", "invalid")) for item in errors[:5]
            ],
            "more": max(0, len(errors) - 5),
        }
    except Exception as exc:
        # The validator is a library: whatever it raises on one resource (RecursionError,
        # TypeError…) makes that resource unreadable, not the run.
        return UNREADABLE, {"error": type(exc).__name__}
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

"""OpenAPI post-processing: the `patient` parameter of every operation on a patient's data."""

# The caller's own account (who they are) and their own trail are never someone else's.
OWN_ONLY = ("/api/v1/me/",)

PARAMETER = {
    "name": "patient",
    "in": "query",
    "required": False,
    "schema": {"type": "string", "format": "uuid"},
    "description": (
        "Act for this person (their account code, as in /for/<code>/ on the web): a child "
        "you are guardian of, or someone who made you their caregiver. Checked against your "
        "active grants on every request, with the grant's scope (kinds of records, "
        "institutions) and rights: managing sources, syncs, imports and exports needs "
        '"manage", shares need "share". No grant, or an expired or revoked one: 404. '
        "Leave it out for your own record. Every use is in the person's activity log."
    ),
}


def add_patient_parameter(result, generator, request, public):
    """Document `?patient=` on each operation of /api/v1/ (sharing.permissions.ActsForPatient)."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/") or path.startswith(OWN_ONLY):
            continue
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            parameters = operation.setdefault("parameters", [])
            if not any(p.get("name") == "patient" and p.get("in") == "query" for p in parameters):
                parameters.append(dict(PARAMETER))
    return result

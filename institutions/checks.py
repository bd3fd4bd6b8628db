"""What to ask an institution for: the per-type search plan read from a CapabilityStatement,
and the references of stored records to read by id.

Pure functions on FHIR JSON (no database); the sync engine (institutions.sync) plans a run with
them. What a resource must be to be kept (valid R4, the patient's) is records.validation.
"""

import re
from collections.abc import Collection, Iterable

from records import r4


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

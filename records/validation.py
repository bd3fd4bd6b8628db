"""What a resource must be for PHR to keep it: valid FHIR R4, and its patient's.

Pure functions on FHIR JSON (no database). Ingest (records.ingest) applies them to each new or
changed resource; a refusal is a code with parameters (below), put into words in the reader's
language when shown (institutions.issues). Parameters hold names of FHIR elements and types,
never values: a value can be clinical content.

Valid FHIR R4 means, in this order:
1. its resourceType is one of R4 4.0.1's (records.r4), else UNKNOWN_TYPE / OLDER_VERSION;
2. it passes the official FHIR R4 (4.0.1) JSON Schema (records/fhir_r4_schema/, vendored with
   its source note), compiled once per process by jsonschema-rs (a native validator): every
   element is one R4 defines for that type, of its type and cardinality (a list where R4 says
   0..*), required elements present, codes from their required value sets, primitives of
   their lexical form;
3. what the official schema leaves out, added to it in memory when it is compiled (the file
   stays as published): complex types are objects, R4's required primitive elements
   (required-primitives.json), at most one type of a choice element (value[x]), dates that exist on
   the calendar (its pattern takes 2023-02-31), references of a form R4 allows ("#id",
   "Type/id[/_history/v]" of an R4 type, "Type?search" in a transaction, an absolute URL or
   urn), strings within R4's 1 MB limit; and its \\s read as XML Schema's (_xml_pattern);
4. nesting no deeper than JSON can be written back (orjson's limit: 253 levels; the hash and
   every export write it).
A problem is named by where it is (a FHIRPath-like location) and an error type from
pydantic's vocabulary (the one the stored issues use; institutions.issues words them).
"""

import functools
import json
from collections.abc import Collection
from decimal import Decimal
from pathlib import Path

import jsonschema_rs

from records import r4

# Why a resource was not kept.
NO_TYPE_OR_ID = "no_type_or_id"
UNKNOWN_TYPE = "unknown_type"
OLDER_VERSION = "older_version"
INVALID = "invalid"
UNREADABLE = "unreadable"
OTHER_PATIENT = "other_patient"

SCHEMA_PATH = Path(__file__).resolve().parent / "fhir_r4_schema" / "fhir.schema.json"
# R4's required (1..) primitive elements, which the schema leaves out (in JSON a primitive may
# be present by its extension alone, `_status`): {definition: {element: its JSON names}},
# taken from R4's StructureDefinitions (SOURCE.md beside it says how).
REQUIRED_PRIMITIVES_PATH = SCHEMA_PATH.parent / "required-primitives.json"
# FHIR R4 (json.html): "strings SHALL NOT exceed 1MB (1024*1024 characters) in size".
MAX_STRING = 1024 * 1024
# How many problems a refusal names (and counts beyond that, up to MAX_COUNTED).
NAMED = 5
MAX_COUNTED = 200

# A calendar date's year, month and day (the time, if any, is the official pattern's).
_LEAP = r"([0-9]{2}(0[48]|[2468][048]|[13579][26])|([02468][048]|[13579][26])00)"
_CALENDAR = (
    r"^([0-9]{4}(-[0-9]{2})?$|[0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])"
    r"|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))|" + _LEAP + r"-02-29)"
)
_ID = r"[A-Za-z0-9\-.]{1,64}"
_YEAR = "^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"  # how R4's date patterns begin


def problem(path, error: str) -> dict:
    """One problem of a resource: where (a FHIRPath-like location) and its error type."""
    parts = []
    for part in path:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        else:
            parts.append(f".{part}" if parts else str(part))
    return {"path": "".join(parts)[:200], "error": str(error)[:60]}


# --- The schema, compiled once per process --------------------------------------------------


class _Schema:
    """The official R4 schema as PHR checks with it (see the module's docstring), compiled,
    and what naming its problems needs to know of it."""

    def __init__(self, path: Path = SCHEMA_PATH):
        schema = _strengthened(_xml_whitespace(json.loads(path.read_bytes())))
        definitions = schema["definitions"]
        self.types = frozenset(ref["$ref"].rsplit("/", 1)[1] for ref in schema["oneOf"])
        types = "|".join(sorted(self.types))
        # Beside a $ref, Draft 7 ignores other keywords: the form is a second part of an allOf.
        reference = definitions["Reference"]["properties"]["reference"]
        reference["allOf"] = [
            {"$ref": reference.pop("$ref")},
            {
                "pattern": rf"^(#.*|({types})/{_ID}(/_history/{_ID})?|({types})\?.*"
                r"|[A-Za-z][A-Za-z0-9+.\-]*:[^ \t\n\r]+)$"
            },
        ]
        for name, elements in json.loads(REQUIRED_PRIMITIVES_PATH.read_bytes()).items():
            definitions[name].setdefault("allOf", []).extend(
                {
                    # Neither the value nor its extension: "<element> is required".
                    "if": {
                        "not": {
                            "anyOf": [{"required": [k]} for k in keys]
                            + [{"required": [f"_{k}"]} for k in keys]
                        }
                    },
                    "then": {"required": [element]},
                }
                for element, keys in elements.items()
            )
        # Per definition: each element's definition and the order FHIR defines them in (problems
        # are named in it); for each choice element's type (valueQuantity…) its choice (value).
        self.children: dict[str, dict[str, str]] = {}
        self.order: dict[str, dict[str, int]] = {}
        self.choices: dict[str, str] = {}
        data_types = {name[0].upper() + name[1:] for name in definitions if "_" not in name}
        for name, definition in definitions.items():
            properties = definition.get("properties")
            if not properties:
                continue
            children, by_description = {}, {}
            for key, element in properties.items():
                ref = element.get("$ref") or element.get("items", {}).get("$ref")
                if ref:
                    children[key] = ref.rsplit("/", 1)[1]
                if element.get("type") != "array" and not key.startswith("_"):
                    by_description.setdefault(element.get("description"), []).append(key)
            self.children[name] = children
            self.order[name] = {key: index for index, key in enumerate(properties)}
            # A choice element is listed once per type, each 0..1 with the same description:
            # at most one of them may be present (what R4's [x] means; the schema says nothing).
            for keys in by_description.values():
                prefix = _common_prefix(keys) if len(keys) > 1 else ""
                while prefix and not all(key[len(prefix) :] in data_types for key in keys):
                    prefix = prefix[:-1]  # valueDate, valueDateTime: "value", not "valueDate"
                if not prefix:
                    continue
                self.choices.update(dict.fromkeys(keys, prefix))
                definition.setdefault("dependencies", {}).update(
                    {
                        key: {"not": {"anyOf": [{"required": [o]} for o in keys if o != key]}}
                        for key in keys
                    }
                )
        # The root and ResourceList (contained resources, Bundle entries) are a oneOf over
        # every resource definition: a validator tries each, and an invalid resource is only
        # "valid under none of them". Both dispatch on resourceType instead (Draft 7's if/then),
        # which accepts what the oneOf accepts (each definition requires its own resourceType)
        # and reports the problems of the one definition that applies.
        dispatch = {
            "allOf": [
                {
                    "if": {
                        "properties": {"resourceType": {"const": name}},
                        "required": ["resourceType"],
                    },
                    "then": {"$ref": f"#/definitions/{name}"},
                }
                for name in sorted(self.types)
            ]
        }
        definitions["ResourceList"] = {
            "type": "object",
            "required": ["resourceType"],
            "properties": {"resourceType": {"enum": sorted(self.types)}},
            **dispatch,
        }
        self.validator = jsonschema_rs.Draft7Validator({"definitions": definitions, **dispatch})

    def sort_key(self, resource: dict, path: list) -> list:
        """Where a location comes in the order FHIR defines the elements (then as sent)."""
        key, kind, value = [], resource.get("resourceType"), resource
        for part in path:
            if isinstance(part, int):
                key.append(part)
                value = value[part] if isinstance(value, list) and part < len(value) else None
                continue
            if kind == "ResourceList" and isinstance(value, dict):
                kind = value.get("resourceType")
            key.append(self.order.get(kind, {}).get(part, 10_000))
            kind = self.children.get(kind, {}).get(part)
            value = value.get(part) if isinstance(value, dict) else None
        return key


# FHIR's regexes are XML Schema's, where \\s is space, tab, CR and LF only; a JSON Schema
# validator reads Unicode's \\s, which also holds the no-break space and others, so the string
# pattern `[ \\r\\n\\t\\S]+` would refuse "BS,<no-break space>DVM" (as the spec's own
# DiagnosticReport-gingival-mass example has). Rewritten as XML Schema reads them, in ECMA
# syntax (the schema's patterns are checked as ECMA regexes).
_XML_ANY = "[ \\r\\n\\t\\S]"  # in XML Schema: any character
_XML_CLASSES = (
    ("[^\\s]", "[^ \\t\\n\\r]"),
    ("\\s", "[ \\t\\n\\r]"),
    ("\\S", "[^ \\t\\n\\r]"),
)


def _xml_pattern(pattern: str) -> str:
    parts = pattern.split(_XML_ANY)
    for xml, ecma in _XML_CLASSES:
        parts = [part.replace(xml, ecma) for part in parts]
    return "[\\s\\S]".join(parts)


def _xml_whitespace(node):
    """The schema with its patterns read as FHIR means them (_xml_pattern)."""
    if isinstance(node, dict):
        return {
            key: _xml_pattern(value)
            if key == "pattern" and isinstance(value, str)
            else _xml_whitespace(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_xml_whitespace(value) for value in node]
    return node


def _strengthened(node):
    """The schema with each complex type an object, each date, dateTime and instant also held
    to the calendar, and each string and markdown to R4's size limit (wherever their patterns
    stand: in the primitive's definition and in each choice type that repeats it)."""
    if isinstance(node, list):
        return [_strengthened(value) for value in node]
    if not isinstance(node, dict):
        return node
    node = {key: _strengthened(value) for key, value in node.items()}
    if "properties" in node and "type" not in node:
        # A complex type or resource: the published definitions do not say "object", so a
        # string where R4 has a Coding (DSTU2's Encounter.class) would pass.
        node["type"] = "object"
    enum = node.get("enum")
    if isinstance(enum, list) and "3.0.1" in enum and "4.0.0" in enum and "4.0.1" not in enum:
        # FHIR versions: the published schema stops at 4.0.0; R4's own examples say 4.0.1.
        node["enum"] = [*enum, "4.0.1"]
    pattern = node.get("pattern")
    if isinstance(pattern, str) and pattern.startswith(_YEAR):  # date, dateTime, instant
        node["allOf"] = [{"pattern": _CALENDAR}]
    elif pattern == "^[\\s\\S]+$":  # string, markdown (after _xml_pattern)
        node["maxLength"] = MAX_STRING
    return node


def _common_prefix(keys: list[str]) -> str:
    first, last = min(keys), max(keys)
    for index, char in enumerate(first):
        if index >= len(last) or last[index] != char:
            return first[:index]
    return first


@functools.cache
def schema() -> _Schema:
    """The compiled schema (about a second, once per process: the first validation waits)."""
    return _Schema()


# --- Validation --------------------------------------------------------------------------


def _schema_problems(compiled: _Schema, resource: dict) -> tuple[list[tuple], int]:
    """(location, error type) of each schema error, in FHIR's element order, and how many."""
    found = []
    for error in compiled.validator.iter_errors(resource):
        path, kind = list(error.instance_path), error.kind
        name = kind.name
        if name == "required":
            found.append(([*path, kind.property], "missing"))
        elif name == "additionalProperties":
            found += [([*path, key], "extra_forbidden") for key in kind.unexpected]
        elif name == "type":
            types = kind.types
            found.append((path, "list_type" if "array" in types else f"{types[0]}_type"))
        elif name == "enum":
            # A code: a value outside its value set, or not a string at all (the wrong form).
            found.append((path, "enum" if isinstance(error.instance, str) else "string_type"))
        elif name == "pattern":
            found.append((path, "string_pattern_mismatch"))
        elif name == "falseSchema":
            found.append((path, "extra_forbidden"))
        elif name == "not" and "dependencies" in error.schema_path:
            # Two types of one choice element (valueQuantity and valueString).
            where = list(error.schema_path)
            chosen = where[len(where) - where[::-1].index("dependencies")]
            found.append(([*path, f"{compiled.choices.get(chosen, chosen)}[x]"], "value_error"))
        else:
            found.append((path, _ERRORS.get(name, "value_error")))
        if len(found) >= MAX_COUNTED:
            break
    found = list({(tuple(path), error): None for path, error in found})  # one per place and kind
    found.sort(key=lambda item: compiled.sort_key(resource, item[0]))
    return found, len(found)


_ERRORS = {
    "minimum": "greater_than_equal",
    "maximum": "less_than_equal",
    "exclusiveMinimum": "greater_than",
    "exclusiveMaximum": "less_than",
    "minLength": "string_too_short",
    "maxLength": "string_too_long",
    "const": "literal_error",
    "minItems": "too_short",
    "maxItems": "too_long",
}


def validate(resource: dict) -> tuple[str, dict] | None:
    """None if the resource is valid FHIR R4, else why not: (issue code, parameters).

    Nesting is the caller's to bound (TOO_DEEP): ingest hashes the resource first, and a
    resource too deep to write back as JSON cannot be hashed."""
    resource_type = resource["resourceType"]
    if resource_type not in r4.R4_RESOURCE_TYPES:
        if resource_type in r4.OLDER_VERSION_TYPES:
            return OLDER_VERSION, {"type": resource_type[:40]}
        return UNKNOWN_TYPE, {"type": str(resource_type)[:40]}
    compiled = schema()
    try:
        if compiled.validator.is_valid(resource):
            return None
        found, count = _schema_problems(compiled, resource)
    except Exception as exc:
        # The validator is a library: whatever it raises on one resource (a value JSON cannot
        # hold…) makes that resource unreadable, not the run.
        return UNREADABLE, {"error": type(exc).__name__}
    # Only where and what kind of problem: a message could quote the value, which may be
    # clinical content.
    return INVALID, {
        "problems": [problem(path, error) for path, error in found[:NAMED]],
        "more": max(0, count - NAMED),
    }


TOO_DEEP = (INVALID, {"problems": [problem((), "too_deep")], "more": 0})


def nul_character(resource) -> tuple[str, dict] | None:
    """INVALID with the place of the first string holding a NUL character (U+0000), or None:
    valid JSON, but no text column or jsonb value can hold it (PostgreSQL refuses it), and no
    page should show it."""
    found = _path_where(resource, (), _has_nul)
    return None if found is None else (INVALID, {"problems": [problem(found, "nul")], "more": 0})


def _has_nul(value) -> bool:
    return isinstance(value, str) and "\x00" in value


# PostgreSQL's numeric (which jsonb numbers are) holds up to 131072 digits before the point
# and 16383 after it; a FHIR decimal has no limit. Beyond that no database column takes it.
_MOST_DIGITS_BEFORE, _MOST_DIGITS_AFTER = 131072, 16383


def number_out_of_range(resource) -> tuple[str, dict] | None:
    """INVALID with the place of the first number no database can store (1e131072, or more
    than 16383 digits after the point), or None. Checked on every database, so that what is
    stored does not depend on which one."""
    found = _path_where(resource, (), _out_of_range)
    return (
        None if found is None else (INVALID, {"problems": [problem(found, "too_large")], "more": 0})
    )


def _out_of_range(value) -> bool:
    if not isinstance(value, Decimal) or not value.is_finite():
        return False
    exponent = value.as_tuple().exponent
    return -exponent > _MOST_DIGITS_AFTER or (
        not value.is_zero() and value.adjusted() >= _MOST_DIGITS_BEFORE
    )


def _path_where(value, path: tuple, test):
    """The path of the first value (or key) in `value` that `test` holds for, or None."""
    if test(value):
        return path
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        if test(key):
            return path
        found = _path_where(item, (*path, key), test)
        if found is not None:
            return found
    return None


# --- Whose resource -------------------------------------------------------------------------


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

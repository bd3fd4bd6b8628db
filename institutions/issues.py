"""Why a run could not keep a resource: stored as a code with parameters (the codes are
records.validation's), put into words in the reader's language when shown (the worker's language
is nobody's in particular).

Parameters hold names of FHIR elements and types, never values: a value can be clinical content.
"""

import re

from django.utils.translation import gettext as _
from django.utils.translation import pgettext

# The codes ingest refuses a resource with are records' (records.validation); LEGACY is a run's.
from records.validation import (
    INVALID,
    NO_TYPE_OR_ID,
    OLDER_VERSION,
    OTHER_PATIENT,
    UNKNOWN_TYPE,
    UNREADABLE,
)

LEGACY = "legacy"  # a message stored as text before issues had codes
CODES = (NO_TYPE_OR_ID, UNKNOWN_TYPE, OLDER_VERSION, INVALID, UNREADABLE, OTHER_PATIENT, LEGACY)

# pydantic's error types, by what they mean for a FHIR element.
_MISSING = {"missing"}
_NOT_IN_R4 = {"extra_forbidden"}
_NOT_A_LIST = {"list_type", "tuple_type", "set_type"}
_BAD_VALUE = {
    "value_error",
    "string_pattern_mismatch",
    "literal_error",
    "enum",
    "string_too_short",
    "string_too_long",
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "date_from_datetime_parsing",
    "datetime_parsing",
    "date_parsing",
    "url_parsing",
}


def _problem_words(item: dict) -> str:
    path, error = item.get("path") or _("the resource"), item.get("error", "")
    if error in _MISSING:
        return _("%(path)s is required but missing") % {"path": path}
    if error in _NOT_IN_R4:
        return _("%(path)s is not an element of FHIR R4") % {"path": path}
    if error in _NOT_A_LIST:
        return _("%(path)s should be a list of values") % {"path": path}
    if error in _BAD_VALUE:
        return _("%(path)s has a value FHIR R4 does not allow") % {"path": path}
    if error == "nul":
        return _("%(path)s holds a NUL character, which no record can store") % {"path": path}
    if error == "too_large":
        return _("%(path)s holds a number too large or too precise for any record to store") % {
            "path": path
        }
    if error == "unreadable":
        return _("%(path)s could not be read") % {"path": path}
    return _("%(path)s has the wrong form") % {"path": path}


def describe(code: str, params: dict) -> str:
    """The issue in words, in the active language."""
    if code == NO_TYPE_OR_ID:
        return _("A resource without a type or an id.")
    if code == UNKNOWN_TYPE:
        return _("“%(type)s” is not a type of record that FHIR R4 defines.") % {
            "type": params.get("type", "?")
        }
    if code == OLDER_VERSION:
        return _(
            "“%(type)s” is a type of record of an older FHIR version (DSTU2 or STU3); "
            "PHR reads FHIR R4."
        ) % {"type": params.get("type", "?")}
    if code == INVALID:
        problems = params.get("problems") or []
        words = "; ".join(_problem_words(p) for p in problems[:5])
        more = params.get("more", 0) + max(0, len(problems) - 5)
        if more:
            words = _("%(problems)s; and %(count)d more") % {"problems": words, "count": more}
        return _("Not valid FHIR R4: %(problems)s.") % {"problems": words}
    if code == UNREADABLE:
        return _("The record could not be checked (%(error)s).") % {"error": params.get("error")}
    if code == OTHER_PATIENT:
        return _(
            "The record names another patient (in %(element)s), so it was not stored with yours."
        ) % {"element": params.get("element", "?")}
    if code == LEGACY:
        return params.get("text", "")
    return pgettext("sync issue", "Unknown problem (%(code)s).") % {"code": code}


# --- Messages stored as text before codes: read back into codes (the data migration) -------

_INVALID_TEXT = re.compile(
    r"^(?:Not valid FHIR R4|올바른 FHIR R4가 아닙니다) \((?P<inner>.*)\)\.?$"
)
_UNKNOWN_TEXT = re.compile(r"^(?:Unknown resource type |알 수 없는 리소스 유형 )(?P<type>\S+?)\.?$")
_NO_ID_TEXTS = {"A resource without a type or an id.", "유형이나 ID가 없는 리소스."}


def from_text(message: str) -> tuple[str, dict]:
    """The code and parameters of a message stored in words (English or Korean) by an older
    version; a message it cannot read stays as text (LEGACY)."""
    if message in _NO_ID_TEXTS:
        return NO_TYPE_OR_ID, {}
    if match := _UNKNOWN_TEXT.match(message):
        return UNKNOWN_TYPE, {"type": match["type"]}
    if match := _INVALID_TEXT.match(message):
        problems = []
        for part in match["inner"].split("; "):
            path, sep, error = part.rpartition(": ")
            if not sep:
                # "Not valid FHIR R4 (ValueError)": the validator's exception, no location.
                return UNREADABLE, {"error": part}
            problems.append({"path": path, "error": error})
        return INVALID, {"problems": problems}
    return LEGACY, {"text": message}

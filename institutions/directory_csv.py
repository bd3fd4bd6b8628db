"""Importing the institution directory from CSV (the shape of HIRA's published directory).

Columns: hira_number, name, name_en, type_code, region, fhir_base_url, token_url, client_id,
client_secret (the last four optional). Idempotent by HIRA number: a re-import updates rows in
place and creates nothing twice. All-or-nothing: any bad row stops the whole file, and every
bad row is reported with its line number.
"""

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils.translation import gettext as _

from institutions.models import INSTITUTION_TYPES, Institution

REQUIRED = ["hira_number", "name", "type_code"]
OPTIONAL = ["name_en", "region", "fhir_base_url", "token_url", "client_id", "client_secret"]
TYPE_CODES = {code for code, _label in INSTITUTION_TYPES}


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _clean_row(line: int, row: dict, seen: dict) -> tuple[dict, list[str]]:
    errors = []
    values = {key: (row.get(key) or "").strip() for key in REQUIRED + OPTIONAL}
    for key in REQUIRED:
        if not values[key]:
            errors.append(_("line %(line)d: %(column)s is empty.") % {"line": line, "column": key})
    number = values["hira_number"]
    if number and not number.isdigit():
        errors.append(
            _("line %(line)d: the HIRA number %(number)s is not a number.")
            % {"line": line, "number": number}
        )
    if number in seen:
        errors.append(
            _("line %(line)d: HIRA number %(number)s already appears on line %(first)d.")
            % {"line": line, "number": number, "first": seen[number]}
        )
    if values["type_code"] and values["type_code"] not in TYPE_CODES:
        errors.append(
            _("line %(line)d: unknown institution type %(code)s.")
            % {"line": line, "code": values["type_code"]}
        )
    for key in ("fhir_base_url", "token_url"):
        if values[key]:
            try:
                URLValidator(schemes=["http", "https"])(values[key])
            except ValidationError:
                errors.append(
                    _("line %(line)d: %(column)s is not an http(s) address.")
                    % {"line": line, "column": key}
                )
    return values, errors


def import_directory(data: bytes) -> ImportResult:
    """Create or update institutions from CSV; nothing is written if any row is bad.

    New institutions start as drafts: an operator tests the connection and activates them.
    """
    result = ImportResult()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        result.errors.append(_("The file is not UTF-8 text."))
        return result
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        result.errors.append(_("Missing columns: %(columns)s.") % {"columns": ", ".join(missing)})
        return result
    rows, seen = [], {}
    for row in reader:
        values, errors = _clean_row(reader.line_num, row, seen)
        result.errors += errors
        seen.setdefault(values["hira_number"], reader.line_num)
        rows.append(values)
    if result.errors:
        return result
    existing = {i.hira_number: i for i in Institution.objects.filter(hira_number__in=seen)}
    with transaction.atomic():
        creates = []
        for values in rows:
            institution = existing.get(values["hira_number"])
            if institution is None:
                creates.append(Institution(**values))
                continue
            changed = [
                k
                for k, v in values.items()
                if (k != "client_secret" or v) and getattr(institution, k) != v
            ]
            if changed:
                for key in changed:
                    setattr(institution, key, values[key])
                institution.save(update_fields=[*changed, "updated"])
                result.updated += 1
            else:
                result.unchanged += 1
        Institution.objects.bulk_create(creates, batch_size=500)
        result.created = len(creates)
    return result

"""Before a FHIR file is imported: is it already here, and whose is it?

`review_import()` reads the file (no side effects) and says what the patient must decide before
anything is stored: a file imported before (same bytes) or resources already held from another
upload (same type, id and content) — import anyway or replace the earlier import; and a file
whose Patient is not the account's verified identity, or that names no patient at all — confirm
it is theirs. Names and birth dates are compared exactly (after normalising case, spaces and
punctuation), never guessed: a near miss is shown to the patient, not decided for them.
"""

import collections
import datetime as dt
import hashlib
import unicodedata
from dataclasses import dataclass, field

from accounts.queries import profile_for
from core.access import Actor
from institutions.models import Source, SourceKind, SourceStatus
from institutions.queries import sources_for
from records.fhirfile import parse_fhir_file
from records.projection import content_hash
from records.queries import records_for

# Identity of the file against the account.
MATCH, MISMATCH, NOBODY, UNVERIFIED = "match", "mismatch", "nobody", "unverified"
# What to do with a file already (partly) imported.
IMPORT_ANYWAY, REPLACE = "import", "replace"


@dataclass(frozen=True)
class Person:
    """A Patient named in the file, as the file says it."""

    name: str
    birth_date: str


@dataclass
class ImportReview:
    resources: list[dict]
    file_hash: str
    identity: str
    people: list[Person]
    account_name: str
    account_birth_date: dt.date | None
    # Active uploads of this patient with the very same file.
    same_file: list[Source] = field(default_factory=list)
    # Other uploads holding some of this file's resources unchanged: [(source, how many)].
    overlap: list[tuple[Source, int]] = field(default_factory=list)
    already_stored: int = 0  # this file's resources PHR already holds, identical
    distinct: int = 0  # distinct (type, id) resources in the file
    type_counts: list[tuple[str, int]] = field(default_factory=list)

    @property
    def needs_decision(self) -> bool:
        """Already imported (the file or some of its resources): import anyway or replace?"""
        return bool(self.same_file or self.already_stored)

    @property
    def needs_identity_confirmation(self) -> bool:
        return self.identity != MATCH

    @property
    def replaceable(self) -> list[Source]:
        """The earlier imports "replace" removes: the same file, and files sharing resources."""
        sources = {s.pk: s for s in self.same_file}
        sources.update({s.pk: s for s, _count in self.overlap if s.status == SourceStatus.ACTIVE})
        return list(sources.values())


def _normalised(text: str) -> str:
    """Case, width, spaces and punctuation removed: "DOE, John" and "doe john" compare equal,
    "김 민준" and "김민준" too. Nothing else is forgiven."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return "".join(ch for ch in text if ch.isalnum())


def _names(patient: dict) -> list[str]:
    """A Patient's names as people write them: the text, or given names then family."""
    names = []
    for name in patient.get("name") or []:
        if not isinstance(name, dict):
            continue
        given = [g for g in name.get("given") or [] if isinstance(g, str)]
        family = name.get("family") if isinstance(name.get("family"), str) else ""
        written = " ".join([*given, family]).strip()
        if name.get("text") and isinstance(name["text"], str):
            names.append(name["text"])
        if written:
            names.append(written)
    return list(dict.fromkeys(names))


def _name_forms(patient: dict) -> set[str]:
    """Every normalised form the Patient's names take: text, given+family and family+given
    (Korean names are written family first)."""
    forms = set()
    for name in patient.get("name") or []:
        if not isinstance(name, dict):
            continue
        given = "".join(g for g in name.get("given") or [] if isinstance(g, str))
        family = name.get("family") if isinstance(name.get("family"), str) else ""
        forms.update({_normalised(given + family), _normalised(family + given)})
        if isinstance(name.get("text"), str):
            forms.add(_normalised(name["text"]))
    forms.discard("")
    return forms


def _is_account(patient: dict, account_name: str, account_birth_date: dt.date | None) -> bool:
    birth = patient.get("birthDate")
    return (
        account_birth_date is not None
        and birth == account_birth_date.isoformat()
        and _normalised(account_name) in _name_forms(patient)
    )


def _identity(resources, profile) -> tuple[str, list[Person]]:
    patients = {
        str(r.get("id")): r for r in resources if r.get("resourceType") == "Patient"
    }.values()
    # One line per Patient resource (two people may share a name and a birth date).
    people = [
        Person(
            name=(_names(p) or [""])[0],
            birth_date=p.get("birthDate") if isinstance(p.get("birthDate"), str) else "",
        )
        for p in patients
    ]
    if not patients:
        return NOBODY, people
    if not profile.is_verified:
        return UNVERIFIED, people
    if all(_is_account(p, profile.full_name, profile.birth_date) for p in patients):
        return MATCH, people
    return MISMATCH, people


def _already_stored(actor: Actor, resources) -> tuple[int, list[tuple[Source, int]]]:
    """How many of the file's resources PHR holds unchanged from another upload, and where."""
    wanted = {}
    for r in resources:
        if r.get("resourceType") and r.get("id") is not None:
            if "\x00" in str(r["id"]):  # refused when it is imported: no column holds it
                continue
            try:
                wanted[(r["resourceType"], str(r["id"]))] = content_hash(r)
            except TypeError:  # nested deeper than it can be written back: ingest refuses it
                continue
    if not wanted:
        return 0, []
    held = (
        records_for(actor)
        .filter(source__kind=SourceKind.UPLOAD, resource_id__in={sid for _t, sid in wanted})
        .values_list("resource_type", "resource_id", "content_hash", "source_id")
    )
    found, per_source = set(), collections.Counter()
    for resource_type, resource_id, digest, source_id in held:
        key = (resource_type, resource_id)
        if wanted.get(key) == digest:
            found.add(key)
            per_source[source_id] += 1
    sources = sources_for(actor).in_bulk(per_source)
    overlap = sorted(
        ((sources[pk], count) for pk, count in per_source.items()), key=lambda p: p[0].created
    )
    return len(found), overlap


def review_import(*, patient, data: bytes) -> ImportReview:
    """What the patient must know about this file before it is imported. No side effects.

    Raises NotFHIR (with a message) for a file that is not FHIR.
    """
    resources = parse_fhir_file(data)
    actor = Actor.patient(patient)  # the patient's own file, read against their own records
    profile = profile_for(actor)
    identity, people = _identity(resources, profile)
    file_hash = hashlib.sha256(data).hexdigest()
    same_file = list(
        sources_for(actor)
        .filter(
            kind=SourceKind.UPLOAD,
            status=SourceStatus.ACTIVE,
            file_hash=file_hash,
        )
        .order_by("created")
    )
    already, overlap = _already_stored(actor, resources)
    keys = {(r.get("resourceType"), str(r.get("id"))) for r in resources}
    types = collections.Counter(r.get("resourceType") for r in resources)
    return ImportReview(
        resources=resources,
        file_hash=file_hash,
        identity=identity,
        people=people,
        account_name=profile.full_name,
        account_birth_date=profile.birth_date,
        same_file=same_file,
        overlap=overlap,
        already_stored=already,
        distinct=len(keys),
        type_counts=types.most_common(),
    )


def review_as_data(review: ImportReview) -> dict:
    """The review for the API (and its 409 answer): ids, names, dates — no clinical content."""
    return {
        "already_imported": [
            {"id": str(s.code), "name": s.display_name, "imported_at": s.created.isoformat()}
            for s in review.same_file
        ],
        "records_already_stored": review.already_stored,
        "records_in_file": review.distinct,
        "already_stored_in": [
            {"id": str(s.code), "name": s.display_name, "records": count}
            for s, count in review.overlap
        ],
        "identity": {
            "status": review.identity,
            "people": [{"name": p.name, "birth_date": p.birth_date} for p in review.people],
            "account": {
                "name": review.account_name,
                "birth_date": review.account_birth_date.isoformat()
                if review.account_birth_date
                else None,
            },
        },
    }

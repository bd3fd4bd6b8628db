"""FHIR exports: the records as a Bundle (the original resources) and a patient summary
document (Composition + entries) in the spirit of the International Patient Summary.

Links between resources survive: each entry's fullUrl comes from the resource's own id (the
source's base URL for an institution, `urn:uuid:<id>` for a UUID id as Synthea and most
generators send), and a reference is rewritten only where it would not resolve as written
under the Bundle rules of FHIR R4 (bundle.html#references): a relative reference in an upload
without a base, a second copy of a colliding fullUrl, and every reference to the patient, which
points at the one Patient entry — the patient as verified (name, birth date, sex).
"""

import re
import uuid

from django.conf import settings
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from accounts.models import User
from accounts.queries import profile_for
from audit import domain as audit
from audit.models import Action
from core.access import Actor
from records import fhirjson, queries
from records.models import Category, Record

CHUNK = 500
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
RELATIVE = re.compile(r"^(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(/_history/.*)?$")
ABSOLUTE = re.compile(
    r"^(?P<base>https?://.+)/(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})(/_history/.*)?$"
)
# Disambiguated fullUrls: uuid5 of the source and the fullUrl it would have had.
COLLISION_NAMESPACE = uuid.UUID("6f1b4a0e-5b7c-4d37-9a52-3a4f2e8c1d90")
_PATIENT = object()  # the target of every reference to the patient
# The display of a reference withheld from a share's Bundle (the text the recipient reads).
WITHHELD = gettext_lazy("Not included in this share")


def patient_resource(patient, profile) -> dict:
    """The patient as verified: what a clinician needs to know whose records these are."""
    resource = {"resourceType": "Patient", "id": str(patient.code)}
    if profile is not None and profile.full_name:
        resource["name"] = [{"text": profile.full_name}]
    if profile is not None and profile.sex:
        resource["gender"] = profile.sex
    if profile is not None and profile.birth_date:
        resource["birthDate"] = profile.birth_date.isoformat()
    return resource


class Linker:
    """fullUrls and reference rewriting for one Bundle of `keys` ((source id, type, id), in
    entry order). Side effects: two queries (sources; the sources' Patient resource ids)."""

    def __init__(self, keys: list[tuple[int, str, str]], *, patient=None, withhold=False):
        # A share's Bundle holds only its scope: a reference to a record outside it is withheld
        # (see link()) rather than left pointing at nothing.
        self.withhold = withhold
        # The Source model through the foreign key: institutions stands above records and
        # imports it, so records does not import institutions.
        source_model = Record._meta.get_field("source").related_model
        self.patient_url = f"urn:uuid:{patient.code}" if patient is not None else None
        source_ids = {key[0] for key in keys}
        self.bases, self.codes, self.patient_ids = {}, {}, {}
        sources = source_model.objects.filter(pk__in=source_ids).select_related("institution")
        for source in sources:
            base = ""
            if source.kind == "institution" and source.institution is not None:
                base = source.institution.fhir_base_url.rstrip("/")
            self.bases[source.pk], self.codes[source.pk] = base, source.code
            self.patient_ids[source.pk] = {source.patient_ref} - {""}
        # The patient's Patient resources: those of a source are the patient for that source's
        # references; one with a UUID id is the patient everywhere (an identical resource that
        # two uploads brought is stored once, so the second upload's references reach it).
        self.patient_uuids = set()
        if patient is not None:
            for source_id, resource_id in queries.patient_resource_ids(patient.pk):
                if source_id in self.patient_ids:
                    self.patient_ids[source_id].add(resource_id)
                if UUID.match(resource_id):
                    self.patient_uuids.add(resource_id)
        for ids in self.patient_ids.values():
            ids |= self.patient_uuids
        self.urls: dict[tuple[int, str, str], str] = {}
        self.by_id: dict[tuple[int, str], str] = {}
        taken = set()
        for key in keys:
            if key in self.urls:
                continue
            url = self._natural(*key)
            if url in taken:  # two sources hold the same fullUrl (the same file twice)
                url = f"urn:uuid:{uuid.uuid5(COLLISION_NAMESPACE, f'{self.codes[key[0]]} {url}')}"
            taken.add(url)
            self.urls[key] = url
            self.by_id.setdefault((key[0], key[2]), url)
        self.patient_links = [u for (s, t, i), u in self.urls.items() if t == "Patient"]

    def _natural(self, source_id: int, resource_type: str, resource_id: str) -> str:
        base = self.bases.get(source_id)
        if base:
            return f"{base}/{resource_type}/{resource_id}"
        if UUID.match(resource_id):
            return f"urn:uuid:{resource_id}"
        # An upload has no server: its resources get an address of their own under the site.
        code = self.codes.get(source_id)
        return f"{settings.SITE_URL}/fhir/upload/{code}/{resource_type}/{resource_id}"

    def url(self, source_id: int, resource_type: str, resource_id: str) -> str:
        return self.urls[(source_id, resource_type, resource_id)]

    def target(self, source_id: int, reference: str):
        """What `reference`, written in a resource of that source, pointed at when received:
        (type or None, id), _PATIENT, or None (a contained, conditional or outside reference)."""
        if reference.startswith("#") or "?" in reference:
            return None
        patient_ids = self.patient_ids.get(source_id, self.patient_uuids)
        if reference.startswith("urn:uuid:"):
            resource_id = reference.removeprefix("urn:uuid:")
            return _PATIENT if resource_id in patient_ids else (None, resource_id)
        match = RELATIVE.match(reference)
        if match is None:
            match = ABSOLUTE.match(reference)
            base = self.bases.get(source_id)
            # A hospital's own URLs name its resources. An upload's file base is not kept (a
            # file holds one resource per type and id): a RESTful URL names the file's one.
            if match is None or (base and match["base"] != base):
                return None
        if match["type"] == "Patient" and match["id"] in patient_ids:
            return _PATIENT
        return match["type"], match["id"]

    def resolve(self, source_id: int, reference: str) -> str | None:
        """The fullUrl in this Bundle of what the reference pointed at, if it is here."""
        target = self.target(source_id, reference)
        if target is None:
            return None
        if target is _PATIENT:
            return self.patient_url
        resource_type, resource_id = target
        if resource_type is None:
            return self.by_id.get((source_id, resource_id))
        return self.urls.get((source_id, resource_type, resource_id))

    def link(self, source_id: int, entry_url: str, node) -> None:
        """Rewrite, in place, the references in `node` that would not resolve as written."""
        if isinstance(node, list):
            for item in node:
                self.link(source_id, entry_url, item)
            return
        if not isinstance(node, dict):
            return
        reference = node.get("reference")
        if isinstance(reference, str):
            wanted = self.resolve(source_id, reference)
            if wanted is not None and _as_written(reference, entry_url) != wanted:
                node["reference"] = wanted
            elif wanted is None and self.withhold and self.target(source_id, reference):
                # Outside the share's scope: a viewer could not follow it, and its id is the
                # patient's, not the recipient's. What the reference said in words is kept.
                del node["reference"]
                node.setdefault("display", str(WITHHELD))
        for value in node.values():
            if isinstance(value, dict | list):
                self.link(source_id, entry_url, value)

    def entry(self, record) -> dict:
        """The Bundle entry of a record whose resource was loaded for this export only (its
        references are rewritten in place)."""
        url = self.url(record.source_id, record.resource_type, record.resource_id)
        self.link(record.source_id, url, record.resource)
        return {"fullUrl": url, "resource": record.resource}

    def patient_entry(self, patient, profile) -> dict:
        resource = patient_resource(patient, profile)
        if self.patient_links:  # the patient's own record at each source, kept as received
            resource["link"] = [
                {"other": {"reference": url}, "type": "seealso"} for url in self.patient_links
            ]
        return {"fullUrl": self.patient_url, "resource": resource}


def _as_written(reference: str, entry_url: str) -> str | None:
    """Where a reference resolves under the R4 Bundle rules, from the entry holding it."""
    match = RELATIVE.match(reference)
    if match is None:
        return reference.split("/_history/")[0]
    base = ABSOLUTE.match(entry_url)  # a relative reference needs a RESTful fullUrl
    return f"{base['base']}/{match['type']}/{match['id']}" if base else None


def _patient_of(records):
    patient_id = records.values_list("patient_id", flat=True).first()
    return User.objects.filter(pk=patient_id).first() if patient_id else None


def bundle_stream(records, *, actor: Actor | None = None, patient=None, scoped=False):
    """A FHIR `collection` Bundle of the records' resources, streamed (flat memory): the
    patient's Patient entry first, then the records, their links kept (see Linker).

    `actor`: who reads (the records are theirs, `records_for(actor)`); the Patient entry is
    what they read of the profile. `patient` defaults to the records' patient. `scoped` (a
    share's records): references to records outside them are withheld, so every reference in
    the Bundle resolves in it.
    Queries: the keys, sources, Patient ids, then the resources in chunks.
    """
    records = records.order_by("id")
    if patient is None:
        patient = _patient_of(records)
    keys = list(records.values_list("source_id", "resource_type", "resource_id"))
    linker = Linker(keys, patient=patient, withhold=scoped)
    head = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": timezone.now().isoformat(timespec="seconds"),
    }
    yield fhirjson.dumps(head)[:-1] + ',"entry":['
    first = True
    if patient is not None:
        # A caller that does not say who reads (a share's download and its SMART Health Link
        # file, until they pass their actor) gets the profile every actor of the patient reads.
        reader = actor if actor is not None else Actor.patient(patient)
        yield fhirjson.dumps(linker.patient_entry(patient, profile_for(reader)))
        first = False
    fields = ("source_id", "resource_type", "resource_id", "resource")
    for record in records.only(*fields).iterator(chunk_size=CHUNK):
        yield ("" if first else ",") + fhirjson.dumps(linker.entry(record))
        first = False
    yield "]}"


SECTIONS = [
    # (LOINC section code, title, category)
    ("11450-4", "Problem list", Category.CONDITION),
    ("10160-0", "History of Medication use", Category.MEDICATION),
    ("48765-2", "Allergies and adverse reactions", Category.ALLERGY),
    ("11369-6", "History of Immunization", Category.IMMUNIZATION),
    ("30954-2", "Relevant diagnostic tests/laboratory data", Category.LAB),
]


MAX_DEPTH = 3  # a Condition → its Encounter → the Encounter's Location: enough for a summary


def _referenced(records, listed: list, *, patient) -> list:
    """The records that `listed` reference (and those reference, MAX_DEPTH levels), from the
    patient's `records`: a summary's entries link to visits, medications and results that must
    be in the document for the links to resolve. One query per level (a reference reaches
    into its own source only, so the sources' facts are read once)."""
    seen = {(r.source_id, r.resource_type, r.resource_id) for r in listed}
    linker = Linker(list(seen), patient=patient)
    found, frontier = [], listed
    for _depth in range(MAX_DEPTH):
        wanted = Q()
        for record in frontier:
            for reference in _references(record.resource):
                target = linker.target(record.source_id, reference)
                if target is None or target is _PATIENT:
                    continue
                resource_type, resource_id = target
                condition = Q(source_id=record.source_id, resource_id=resource_id)
                if resource_type is not None:
                    condition &= Q(resource_type=resource_type)
                wanted |= condition
        if not wanted:
            break
        frontier = [
            r
            for r in records.filter(wanted).order_by("id")
            if (r.source_id, r.resource_type, r.resource_id) not in seen
        ]
        if not frontier:
            break
        seen |= {(r.source_id, r.resource_type, r.resource_id) for r in frontier}
        found += frontier
    return found


def _references(node):
    if isinstance(node, dict):
        if isinstance(node.get("reference"), str):
            yield node["reference"]
        for value in node.values():
            if isinstance(value, dict | list):
                yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def summary_document(*, patient, profile, sections: dict, records=None) -> dict:
    """A FHIR document Bundle: a Composition listing each section's records, the patient, the
    section records and (from `records`, the patient's) the records they reference."""
    listed = list({r.pk: r for rs in sections.values() for r in rs}.values())
    included = _referenced(records, listed, patient=patient) if records is not None else []
    everything = listed + included
    linker = Linker(
        [(r.source_id, r.resource_type, r.resource_id) for r in everything], patient=patient
    )
    composition_sections = []
    for code, title, category in SECTIONS:
        section_records = sections.get(category, [])
        section = {
            "title": title,
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        }
        if section_records:
            section["entry"] = [
                {"reference": linker.url(r.source_id, r.resource_type, r.resource_id)}
                for r in section_records
            ]
        else:  # cmp-2: a section without entries says why
            section["emptyReason"] = {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                        "code": "unavailable",
                    }
                ]
            }
        composition_sections.append(section)
    now = timezone.now()
    composition = {
        "resourceType": "Composition",
        "id": str(uuid.uuid4()),
        "status": "final",
        "type": {
            "coding": [
                {
                    "system": "http://loinc.org",
                    "code": "60591-5",
                    "display": "Patient summary Document",
                }
            ]
        },
        "subject": {"reference": linker.patient_url},
        "date": now.isoformat(timespec="seconds"),
        "author": [{"display": "PHR (compiled from the patient's linked institutions)"}],
        "title": "Patient summary",
        "section": composition_sections,
    }
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "document",
        "timestamp": now.isoformat(timespec="seconds"),
        "entry": [
            {"fullUrl": f"urn:uuid:{composition['id']}", "resource": composition},
            linker.patient_entry(patient, profile),
            *(linker.entry(r) for r in everything),
        ],
    }


def bundle_response(
    records, *, prefix: str, actor: Actor | None = None, scoped=False
) -> StreamingHttpResponse:
    """A download of `records` (what `actor` may read) as a FHIR Bundle (streamed), named
    `<prefix>-<date>.json`."""
    response = StreamingHttpResponse(
        bundle_stream(records, actor=actor, scoped=scoped), content_type="application/fhir+json"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename(prefix)}"'
    return response


def export_for_patient(request, records) -> StreamingHttpResponse:
    """The patient's own export: audited, then streamed."""
    audit.record(
        action=Action.RECORDS_EXPORTED,
        request=request,
        patient=request.actor.patient_id,
        extra={"kind": "bundle"},
    )
    return bundle_response(records, prefix="phr-records", actor=request.actor)


def filename(prefix: str) -> str:
    return f"{prefix}-{timezone.localdate():%Y%m%d}.json"

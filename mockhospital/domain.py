"""What the mock hospitals do: know patients, materialise their data, move their clocks."""

import datetime as dt
import hashlib
import json
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Max

from mockhospital import agencies, codes, faults
from mockhospital.generator import InstitutionSpec, PatientSpec, generate
from mockhospital.models import MockInstitution, MockPatient, MockResource, Source
from records import fhirjson
from records.fhirfile import NotFHIR, parse_fhir_file

BATCH = 2000


def dumps(resource: dict) -> str:
    # Decimals of a loaded file are served with the digits the file has.
    return fhirjson.dumps(resource)


def _digest(*parts) -> int:
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "big")


def institution_spec(institution: MockInstitution) -> InstitutionSpec:
    return InstitutionSpec(
        slug=institution.slug,
        name=institution.name,
        hira_number=institution.hira_number,
        type_code=institution.type_code,
        profile=institution.profile,
        region=institution.region,
    )


def patient_spec(patient: MockPatient) -> PatientSpec:
    return PatientSpec(
        patient_id=patient.patient_id,
        person_key=patient.identifier or f"{patient.institution_id}:{patient.patient_id}",
        seed=patient.seed,
        size=patient.size,
        history_start=patient.history_start,
        span_days=patient.span_days,
        full_name=patient.full_name,
        birth_date=patient.birth_date,
        sex=patient.sex,
        phone=patient.phone,
    )


def register_patient(
    *,
    institution: MockInstitution,
    identifier: str,
    full_name: str = "",
    birth_date: dt.date | None = None,
    sex: str = "",
    phone: str = "",
    size: int | None = None,
) -> MockPatient:
    """Make `institution` know the person with this verified identifier (idempotent).

    Demographics left empty are generated from the identifier, as the institution knows them.
    Side effect: one MockPatient row; its data is materialised on first use.
    """
    digest = _digest(institution.seed, identifier)
    patient, _ = MockPatient.objects.get_or_create(
        institution=institution,
        identifier=identifier,
        defaults={
            "patient_id": f"P{digest % 10**8:08d}",
            "seed": digest % 2**62,
            "size": size or institution.patient_size,
            "full_name": full_name,
            "birth_date": birth_date,
            "sex": sex,
            "phone": phone,
            "history_start": institution.clock - dt.timedelta(days=365 * institution.history_years),
            "span_days": 365 * institution.history_years,
        },
    )
    return patient


def knows(institution: MockInstitution, identifier: str) -> bool:
    """Whether the institution knows an identity nobody registered: a deterministic subset."""
    return _digest("knows", institution.seed, identifier) / 2**64 < institution.knows_fraction


def find_patient(*, institution: MockInstitution, identifier: str) -> MockPatient | None:
    """The patient with this verified identifier, registered or from the known subset."""
    patient = MockPatient.objects.filter(institution=institution, identifier=identifier).first()
    if patient is None and identifier and knows(institution, identifier):
        patient = register_patient(institution=institution, identifier=identifier)
    return patient


def _rows(patient: MockPatient, resources: Iterable[dict], default_updated: dt.datetime):
    for resource in resources:
        updated = (resource.get("meta") or {}).get("lastUpdated")
        yield MockResource(
            patient=patient,
            resource_type=resource["resourceType"],
            resource_id=resource["id"],
            last_updated=dt.datetime.fromisoformat(updated) if updated else default_updated,
            body=dumps(resource),
        )


def _bulk_insert(rows: Iterable[MockResource]) -> int:
    count, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            MockResource.objects.bulk_create(batch)
            count, batch = count + len(batch), []
    MockResource.objects.bulk_create(batch)
    return count + len(batch)


def ensure_materialized(patient: MockPatient) -> int:
    """Store the patient's generated data up to the institution's clock; return rows added.

    Streams the generator in batches (memory stays flat for 50,000 resources).
    """
    with transaction.atomic():
        # Two first requests for the same patient at once must not both generate.
        patient = (
            MockPatient.objects.select_for_update().select_related("institution").get(pk=patient.pk)
        )
        clock = patient.institution.clock
        if patient.source == Source.FILE or (
            patient.generated_until and patient.generated_until >= clock
        ):
            return 0
        # An agency's data (check-ups, prescriptions, vaccinations) has its own generator.
        produce = agencies.generate if agencies.is_agency(patient.institution.profile) else generate
        resources = produce(
            institution_spec(patient.institution),
            patient_spec(patient),
            since=patient.generated_until,
            until=clock,
        )
        added = _bulk_insert(_rows(patient, resources, clock))
        patient.generated_until = clock
        patient.save(update_fields=["generated_until"])
    return added


def _amend(resource: dict, clock: dt.datetime) -> bool:
    """Bring a stored resource up to date with the passing of time; True if it changed."""
    if resource["resourceType"] == "MedicationRequest" and resource["status"] == "active":
        authored = dt.datetime.fromisoformat(resource["authoredOn"])
        supply = resource["dispenseRequest"]["expectedSupplyDuration"]["value"]
        if authored + dt.timedelta(days=supply) <= clock:
            resource["status"] = "completed"
            return True
    if resource["resourceType"] == "Condition":
        status = resource["clinicalStatus"]["coding"][0]
        chronic = {code for code, _, _ in codes.CHRONIC.values()}
        kcd = resource["code"]["coding"][0]["code"]
        recorded = dt.date.fromisoformat(resource["recordedDate"])
        if (
            status["code"] == "active"
            and kcd not in chronic
            and recorded + dt.timedelta(days=30) <= clock.date()
        ):
            status["code"] = "resolved"
            resource["abatementDateTime"] = (recorded + dt.timedelta(days=14)).isoformat()
            return True
    return False


def advance_clock(*, institution: MockInstitution, days: float) -> dict:
    """Move the institution's 'now' forward: new visits appear, ongoing items are amended.

    Side effects: updates the institution's clock, inserts the new visits' resources and
    rewrites amended resources (new version, lastUpdated = the new clock) for every patient
    whose data was materialised. Returns counts {"created": n, "amended": m}.
    """
    institution.clock += dt.timedelta(days=days)
    institution.save(update_fields=["clock"])
    created = amended = 0
    patients = MockPatient.objects.filter(
        institution=institution, source=Source.GENERATED, generated_until__isnull=False
    )
    for patient in patients:
        with transaction.atomic():
            candidates = MockResource.objects.select_for_update().filter(
                patient=patient, resource_type__in=["MedicationRequest", "Condition"]
            )
            for row in candidates.filter(body__contains='"active"'):
                resource = json.loads(row.body)
                if _amend(resource, institution.clock):
                    row.version += 1
                    row.last_updated = institution.clock
                    resource["meta"]["versionId"] = str(row.version)
                    resource["meta"]["lastUpdated"] = institution.clock.isoformat(
                        timespec="seconds"
                    )
                    row.body = dumps(resource)
                    row.save(update_fields=["version", "last_updated", "body"])
                    amended += 1
        created += ensure_materialized(patient)
    return {"created": created, "amended": amended}


def load_file(*, institution: MockInstitution, data: bytes, identifier: str = "") -> MockPatient:
    """Serve the resources of a FHIR file, unchanged, as one patient's data at `institution`.

    The patient is the file's Patient resource (or the first resource's id). Loading the same
    patient again replaces their data. Side effects: one MockPatient, one MockResource per
    resource (a later duplicate of the same type and id wins).
    """
    resources = parse_fhir_file(data)
    if not all(r.get("id") for r in resources):
        raise NotFHIR("Every resource served by a mock hospital needs an id.")
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    patient_id = (patients[0] if patients else resources[0])["id"]
    unique = {(r["resourceType"], r["id"]): r for r in resources}
    with transaction.atomic():
        patient, _ = MockPatient.objects.update_or_create(
            institution=institution,
            patient_id=patient_id,
            defaults={
                "identifier": identifier,
                "source": Source.FILE,
                "size": len(unique),
                "history_start": institution.clock,
                "generated_until": institution.clock,
            },
        )
        patient.resources.all().delete()
        _bulk_insert(_rows(patient, unique.values(), institution.clock))
    return patient


def ground_truth(patient: MockPatient) -> dict[tuple[str, str], dict]:
    """What the institution holds for the patient: {(type, id): resource}, as served."""
    ensure_materialized(patient)
    return {
        (row.resource_type, row.resource_id): fhirjson.loads(row.body)
        for row in patient.resources.order_by("id").iterator(chunk_size=BATCH)
    }


def invalid_keys(patient: MockPatient) -> set[tuple[str, str]]:
    """The resources fault injection serves in invalid form (never the Patient itself)."""
    institution = patient.institution
    rows = patient.resources.exclude(resource_type="Patient").values_list(
        "id", "resource_type", "resource_id"
    )
    return {(t, i) for pk, t, i in rows if faults.is_corrupted(institution, pk)}


def set_faults(*, institution: MockInstitution, settings: dict, seed: int | None = None) -> dict:
    """Replace the institution's fault settings (validated) and restart its fault sequence."""
    institution.faults = faults.clean(settings)
    if seed is not None:
        institution.fault_seed = seed
    institution.save(update_fields=["faults", "fault_seed"])
    faults.reset_counter(institution)
    return institution.faults


def snapshot_max_id(queryset) -> int:
    return queryset.aggregate(top=Max("id"))["top"] or 0

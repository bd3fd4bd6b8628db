"""Explanations on the pages: a test's page, a visit summary, the dashboard's digest, my health
at a glance, and the share view (none there unless the patient chose to include them).

Records are stored through the factory (the product's own projection) for a patient, the
other patient holding look-alike records that must never appear."""

import copy
import html
import re

import pytest

from records.explain.models import LastLooked
from records.models import Record
from sharing.models import Share
from tests.conftest import login
from tests.factories import RecordFactory, SourceFactory, hba1c, make_share

pytestmark = pytest.mark.django_db

HEADING = "What this means, in plain words"
DISCLAIMER = "General information, not medical advice."
CONTACT = "Please contact your clinician about this result."
RECORD_LINK = re.compile(r'href="/records/r/([0-9a-f-]{36})/"')


def _text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _english(client):
    client.cookies["django_language"] = "en"
    return client


def _lab(resource_id, value, when, *, encounter="", high=6.0, interpretation=None):
    resource = hba1c(resource_id, value, when)
    resource["referenceRange"] = [{"low": {"value": 4.0}, "high": {"value": high}}]
    if encounter:
        resource["encounter"] = {"reference": f"Encounter/{encounter}"}
    if interpretation:
        resource["interpretation"] = [{"coding": [{"code": interpretation}]}]
    return resource


def _encounter(resource_id, when):
    return {
        "resourceType": "Encounter",
        "id": resource_id,
        "status": "finished",
        "class": {"code": "AMB"},
        "type": [{"text": "내분비내과 외래"}],
        "period": {"start": when, "end": when},
    }


def _condition(resource_id, encounter, code="E11.9", display="2형 당뇨병"):
    return {
        "resourceType": "Condition",
        "id": resource_id,
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {
            "coding": [
                {
                    "system": "http://www.hl7korea.or.kr/CodeSystem/kostat-kcd-8",
                    "code": code,
                    "display": display,
                }
            ]
        },
        "encounter": {"reference": f"Encounter/{encounter}"},
        "recordedDate": "2025-09-01",
    }


def _medication(resource_id, encounter):
    return {
        "resourceType": "MedicationRequest",
        "id": resource_id,
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication",
                    "code": "644900310",
                    "display": "다이아벡스정500밀리그램(메트포르민염산염)",
                },
                {"system": "http://www.whocc.no/atc", "code": "A10BA02", "display": "metformin"},
            ]
        },
        "encounter": {"reference": f"Encounter/{encounter}"},
        "authoredOn": "2025-09-01T10:00:00+09:00",
    }


def _visit(patient, source=None):
    """A visit with a diagnosis, a prescription and an HbA1c, after two earlier HbA1c results."""
    source = source or SourceFactory(patient=patient)
    RecordFactory(source=source, resource=_lab("a1", 5.9, "2025-01-10T09:00:00+09:00"))
    RecordFactory(source=source, resource=_lab("a2", 6.1, "2025-05-10T09:00:00+09:00"))
    encounter = RecordFactory(
        source=source, resource=_encounter("enc-1", "2025-09-01T10:00:00+09:00")
    )
    RecordFactory(source=source, resource=_condition("c1", "enc-1"))
    RecordFactory(source=source, resource=_medication("m1", "enc-1"))
    RecordFactory(
        source=source, resource=_lab("a3", 6.3, "2025-09-01T10:00:00+09:00", encounter="enc-1")
    )
    return encounter


def test_a_lab_page_explains_the_latest_result_with_its_trend(client, patient):
    _visit(patient)
    login(_english(client), patient.email)
    page = client.get("/records/labs/4548-4/").content.decode()
    text = _text(page)
    assert HEADING in text
    assert "A little above the range the lab uses: 6.3% vs up to 6.0%." in text
    assert "Up by 0.2% since the previous result (6.1% on May 10, 2025)." in text
    assert "Over the last year: rising, by 0.4% (3 results, 5.9% to 6.3%)." in text
    assert "Source: MedlinePlus (U.S. National Library of Medicine) — Hemoglobin A1C" in text
    assert DISCLAIMER in text
    assert CONTACT not in text
    own = {
        str(code) for code in Record.objects.filter(patient=patient).values_list("code", flat=True)
    }
    assert set(RECORD_LINK.findall(page)) <= own


def test_a_value_the_lab_flags_critical_prompts_to_contact_the_clinician(client, patient):
    RecordFactory(
        source=SourceFactory(patient=patient),
        resource=_lab("crit", 6.5, "2025-09-01T10:00:00+09:00", interpretation="HH"),
    )
    login(_english(client), patient.email)
    text = _text(client.get("/records/labs/4548-4/").content.decode())
    assert CONTACT in text
    assert "The lab flagged this value as critical." in text
    assert DISCLAIMER in text


def test_a_visit_summary_links_only_to_the_patients_own_records(client, patient, other_patient):
    encounter = _visit(patient)
    # The other patient's hospital uses the same resource ids, visit included.
    stranger = _visit(other_patient)
    login(_english(client), patient.email)
    page = client.get(f"/records/explain/visit/{encounter.code}/").content.decode()
    text = _text(page)
    assert "You visited" in text
    assert "“2형 당뇨병” (KCD-8 E11.9): A long-term condition" in text
    assert "belongs to the drug class “Biguanides (metformin)”" in text
    assert (
        "HbA1c (glycated haemoglobin): A little above the range the lab uses: 6.3% vs up to 6.0%."
        in text
    )
    assert DISCLAIMER in text
    linked = set(RECORD_LINK.findall(page))
    own = {str(c) for c in Record.objects.filter(patient=patient).values_list("code", flat=True)}
    theirs = {
        str(c) for c in Record.objects.filter(patient=other_patient).values_list("code", flat=True)
    }
    assert linked
    assert linked <= own
    assert not linked & theirs
    # Their visit is no visit of ours.
    assert client.get(f"/records/explain/visit/{stranger.code}/").status_code == 404


def test_a_visit_summary_of_a_record_that_is_no_visit_is_not_found(client, patient):
    lab = RecordFactory(source=SourceFactory(patient=patient))
    login(client, patient.email)
    assert client.get(f"/records/explain/visit/{lab.code}/").status_code == 404


def test_the_digest_lists_what_arrived_until_marked_as_seen(client, patient, other_patient):
    _visit(patient)
    _visit(other_patient)
    login(_english(client), patient.email)
    text = _text(client.get("/records/explain/digest/").content.decode())
    assert "Your first look: what arrived in the last 30 days" in text
    assert "3 new: Lab results" in text
    assert "HbA1c (glycated haemoglobin): A little above the range the lab uses" in text
    assert DISCLAIMER in text

    assert client.post("/records/explain/digest/seen/").status_code == 302
    assert LastLooked.objects.get(patient=patient).looked_at is not None
    assert not LastLooked.objects.filter(patient=other_patient).exists()
    text = _text(client.get("/records/explain/digest/").content.decode())
    assert "What changed since you last looked" in text
    assert "No new records." in text


def test_the_dashboard_loads_the_digest_and_links_my_health_at_a_glance(client, patient):
    encounter = _visit(patient)
    login(_english(client), patient.email)
    page = client.get("/dashboard/").content.decode()
    assert 'hx-get="/records/explain/digest/"' in page
    assert 'href="/records/explain/glance/"' in page
    assert f'href="/records/explain/visit/{encounter.code}/"' in page


def test_my_health_at_a_glance_in_plain_words(client, patient, other_patient):
    _visit(patient)
    _visit(other_patient)
    login(_english(client), patient.email)
    page = client.get("/records/explain/glance/").content.decode()
    text = _text(page)
    assert "My health at a glance" in text
    assert "“2형 당뇨병” (KCD-8 E11.9)" in text
    assert (
        "HbA1c (glycated haemoglobin): A little above the range the lab uses: 6.3% vs up to 6.0%."
        in text
    )
    assert DISCLAIMER in text
    own = {str(c) for c in Record.objects.filter(patient=patient).values_list("code", flat=True)}
    assert set(RECORD_LINK.findall(page)) <= own


def _share_lab(client, patient, *, include):
    _visit(patient)
    share, token = make_share(patient, categories=["lab"])
    if include:
        share.include_explanations = True
        share.save(update_fields=["include_explanations"])
    _english(client).post(f"/s/{token}/", {"name": "Dr. Jung"})
    return token, client.get(f"/s/{token}/labs/4548-4/")


def test_no_explanation_in_the_share_view_unless_the_patient_chose_it(client, patient):
    token, response = _share_lab(client, patient, include=False)
    assert response.status_code == 200
    text = _text(response.content.decode())
    assert "6.3" in text  # the result itself is there
    assert HEADING not in text
    assert "the range the lab uses" not in text
    record = Record.objects.get(patient=patient, resource_id="a3")
    detail = _text(client.get(f"/s/{token}/r/{record.code}/").content.decode())
    assert HEADING not in detail


def test_the_share_view_explains_when_the_patient_included_explanations(client, patient):
    token, response = _share_lab(client, patient, include=True)
    page = response.content.decode()
    assert HEADING in _text(page)
    assert DISCLAIMER in _text(page)
    # Its sentences link inside the share, never to the patient's own pages.
    assert re.search(rf'href="/s/{token}/r/[0-9a-f-]{{36}}/"', page)
    assert not RECORD_LINK.search(page)


def test_a_record_page_explains_a_diagnosis(client, patient):
    source = SourceFactory(patient=patient)
    condition = RecordFactory(source=source, resource=_condition("c9", "enc-9"))
    login(_english(client), patient.email)
    text = _text(client.get(f"/records/r/{condition.code}/").content.decode())
    assert "“2형 당뇨병” (KCD-8 E11.9): A long-term condition" in text
    assert DISCLAIMER in text


def test_a_copy_of_a_resource_for_another_patient_never_joins_the_summary(client, patient):
    # The same Observation (same id, same encounter reference) stored for someone else.
    encounter = _visit(patient)
    resource = copy.deepcopy(_lab("x1", 9.9, "2025-09-01T10:00:00+09:00", encounter="enc-1"))
    RecordFactory(resource=resource)
    login(_english(client), patient.email)
    text = _text(client.get(f"/records/explain/visit/{encounter.code}/").content.decode())
    assert "9.9" not in text


@pytest.mark.parametrize("chosen", [True, False])
def test_the_patient_chooses_on_the_share_form_whether_explanations_are_included(
    client, patient, chosen
):
    login(client, patient.email)
    form = {"label": "Dr. Jung", "categories": ["lab"], "expires": "1d"}
    if chosen:
        form["include_explanations"] = "on"
    response = client.post("/shares/new/", form)
    assert response.status_code == 302, response.content.decode()[:1000]
    assert Share.objects.get(patient=patient).include_explanations is chosen


def _queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def _more_visits(patient, source, n):
    for i in range(n):
        enc = f"enc-more-{i}"
        RecordFactory(
            source=source,
            resource=_encounter(enc, f"2024-0{1 + i % 9}-0{1 + i % 9}T10:00:00+09:00"),
        )
        RecordFactory(source=source, resource=_condition(f"c-more-{i}", enc))
        RecordFactory(source=source, resource=_medication(f"m-more-{i}", enc))
        RecordFactory(
            source=source,
            resource=_lab(
                f"a-more-{i}",
                5.5 + i / 10,
                f"2024-0{1 + i % 9}-0{1 + i % 9}T10:00:00+09:00",
                encounter=enc,
            ),
        )


@pytest.mark.parametrize("size", [1, 20])
def test_explanation_pages_cost_the_same_queries_whatever_the_data(client, patient, size):
    source = SourceFactory(patient=patient)
    encounter = _visit(patient, source)
    _more_visits(patient, source, size)
    login(client, patient.email)
    client.get("/dashboard/")  # the session warmed
    counts = {
        "visit": _queries(client, f"/records/explain/visit/{encounter.code}/"),
        "glance": _queries(client, "/records/explain/glance/"),
        "digest": _queries(client, "/records/explain/digest/"),
    }
    # Each begins with the session and the user (2). Then
    # visit (3): the encounter (record_for), the records naming it, the tested results'
    # histories;
    # glance (12): the clinical summary's sections (the results overview's codes and
    # latest points, active problems, current medications — the records that may be
    # current, the sources, the lines' records whole —, allergies, immunizations: 8), their
    # resources (1), each test's recent points (the
    # overview again: 2), the latest vital signs (1; with vital signs, also their resources
    # and histories: 2 more — these records have none);
    # digest (6): when last looked, the new records by category, the new diagnoses and
    # medications, the latest new result of each test, their resources, their histories.
    assert counts == {"visit": 5, "glance": 14, "digest": 8}


# --- urgent results in the digest and at a glance -------------------------------------------

ROUTINE = [  # (LOINC, unit, value, low, high): nine tests in range
    ("2085-9", "mg/dL", 55, 40, 60),
    ("2093-3", "mg/dL", 180, 0, 200),
    ("2571-8", "mg/dL", 120, 0, 150),
    ("1920-8", "U/L", 25, 0, 40),
    ("1742-6", "U/L", 30, 0, 40),
    ("2160-0", "mg/dL", 0.9, 0.6, 1.2),
    ("3094-0", "mg/dL", 15, 8, 20),
    ("3084-1", "mg/dL", 5, 3, 7),
    ("2885-2", "g/dL", 7, 6, 8),
]


def _observation(resource_id, loinc, value, unit, when, *, low=None, high=None, flag=None):
    resource = hba1c(resource_id, value, when)
    resource["code"] = {"coding": [{"system": "http://loinc.org", "code": loinc}]}
    resource["valueQuantity"] = {
        "value": value,
        "unit": unit,
        "system": "http://unitsofmeasure.org",
        "code": unit,
    }
    reference = {}
    if low is not None:
        reference["low"] = {"value": low}
    if high is not None:
        reference["high"] = {"value": high}
    resource["referenceRange"] = [reference] if reference else []
    if flag:
        resource["interpretation"] = [{"coding": [{"code": flag}]}]
    return resource


def _routine_and_urgent(patient):
    source = SourceFactory(patient=patient)
    for i, (loinc, unit, value, low, high) in enumerate(ROUTINE):
        RecordFactory(
            source=source,
            resource=_observation(
                f"r-{i}", loinc, value, unit, f"2026-02-1{i}T09:00:00+09:00", low=low, high=high
            ),
        )
    # Older than every routine result: the newest eight would leave them out.
    RecordFactory(
        source=source,
        resource=_observation(
            "k-1", "2823-3", 7.2, "mmol/L", "2026-01-02T09:00:00+09:00", low=3.5, high=5.1
        ),
    )
    RecordFactory(
        source=source,
        resource=_observation(
            "na-1",
            "2951-2",
            130,
            "mmol/L",
            "2026-01-03T09:00:00+09:00",
            low=136,
            high=145,
            flag="LL",
        ),
    )


def test_the_digest_lists_every_urgent_result_first(client, patient):
    _routine_and_urgent(patient)
    login(_english(client), patient.email)
    text = _text(client.get("/records/explain/digest/").content.decode())
    new_results = text[text.index("New results") :]
    assert "Potassium" in new_results
    assert "Sodium" in new_results
    urgent_at = max(new_results.index("Potassium"), new_results.index("Sodium"))
    assert urgent_at < new_results.index("Within the range")
    # Then the newest eight routine results: the oldest (HDL) is left out.
    assert new_results.count("Within the range") == 8
    assert "HDL" not in new_results
    assert "a little below" not in new_results.lower()


def test_the_first_digest_says_it_is_the_first_look(client, patient):
    _routine_and_urgent(patient)
    login(_english(client), patient.email)
    text = _text(client.get("/records/explain/digest/").content.decode())
    assert "first look" in text


def test_the_glance_banner_names_the_urgent_result_first(client, patient):
    _routine_and_urgent(patient)
    login(_english(client), patient.email)
    text = _text(client.get("/records/explain/glance/").content.decode())
    latest = text[text.index("Your latest results") :]
    assert latest.index("Potassium") < latest.index("HDL")
    assert "Potassium" in text[: text.index("Your latest results")]


def test_visit_and_vital_sign_pages_have_no_empty_ids(client, patient):
    encounter = _visit(patient)
    RecordFactory(source=encounter.source, resource=_pulse("p-1", 72))
    login(_english(client), patient.email)
    for url in (f"/records/explain/visit/{encounter.code}/", "/records/vitals/"):
        page = client.get(url).content.decode()
        assert 'id=""' not in page, url
        assert 'aria-labelledby=""' not in page, url
    page = client.get(f"/records/explain/visit/{encounter.code}/").content.decode()
    assert 'id="result-1"' in page


def _pulse(resource_id, value):
    resource = _observation(resource_id, "8867-4", value, "/min", "2026-02-01T09:00:00+09:00")
    resource["category"][0]["coding"][0]["code"] = "vital-signs"
    return resource

import collections
import datetime as dt
import json
import re
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from fhir.resources.R4B import get_fhir_model_class

from core.access import Actor
from records.models import Category, Record
from tests.conftest import login
from tests.records_data import generated, import_resources

pytestmark = pytest.mark.django_db
LOINC, EDI = "http://loinc.org", "http://www.hl7korea.or.kr/CodeSystem/hira-edi-procedure"


def hba1c(rid, value, date, *, loinc=True, low=4.0, high=6.0):
    coding = [{"system": EDI, "code": "D3022", "display": "당화혈색소(HbA1c)"}]
    if loinc:
        coding.append({"system": LOINC, "code": "4548-4", "display": "Hemoglobin A1c"})
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": coding, "text": "당화혈색소(HbA1c)"},
        "subject": {"reference": "Patient/p"},
        "effectiveDateTime": date,
        "valueQuantity": {
            "value": value,
            "unit": "%",
            "system": "http://unitsofmeasure.org",
            "code": "%",
        },
        "referenceRange": [
            {"low": {"value": low, "unit": "%"}, "high": {"value": high, "unit": "%"}}
        ],
    }


def medication(rid, date, status, code="644900310", name="다이아벡스정500밀리그램"):
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.hl7korea.or.kr/CodeSystem/hira-edi-medication",
                    "code": code,
                    "display": name,
                }
            ],
            "text": name,
        },
        "subject": {"reference": "Patient/p"},
        "authoredOn": date,
    }


@pytest.fixture
def kr_records(patient, kr_sources):
    return patient


# --- Categories ------------------------------------------------------------------------------


def test_each_category_page_shows_exactly_its_records(client, kr_records, other_patient):
    login(client, kr_records.email)
    mine = Record.objects.filter(patient=kr_records)
    theirs = set(Record.objects.filter(patient=other_patient).values_list("code", flat=True))
    for category in Category.values:
        if category in ("other", "medication"):
            continue
        expected = set(mine.filter(category=category).values_list("code", flat=True))
        shown, url = set(), f"/records/c/{category}/"
        while url:  # follow the pages
            response = client.get(url)
            assert response.status_code == 200
            page = response.content.decode()
            shown |= {code for code in expected | theirs if f"/records/r/{code}/" in page}
            more = re.search(r'<li class="load-more" hx-get="\?after=([^"]+)"', page)
            url = f"/records/c/{category}/?after={more.group(1)}" if more else ""
        assert shown == expected, category


def test_another_patients_record_is_404(client, kr_records, other_patient):
    theirs = Record.objects.filter(patient=other_patient).first()
    login(client, kr_records.email)
    assert client.get(f"/records/r/{theirs.code}/").status_code == 404
    assert client.get(f"/api/v1/records/{theirs.code}/").status_code == 404


# --- Labs ------------------------------------------------------------------------------------


def test_lab_series_joins_institutions_and_orders_by_date(client, patient):
    import_resources(
        patient, "A병원", [hba1c("a1", 8.1, "2024-01-10"), hba1c("a2", 7.2, "2024-07-10")]
    )
    import_resources(
        patient, "B의원", [hba1c("b1", 7.6, "2024-04-10", loinc=False)]
    )  # EDI code only
    login(client, patient.email)

    page = client.get("/records/labs/4548-4/").content.decode()
    rows = page.split("<tbody>")[1].split("</tbody>")[0]
    assert [("A병원" in r, "B의원" in r) for r in rows.split("<tr>")[1:]] == [
        (True, False),
        (False, True),
        (True, False),
    ]
    series = client.get("/api/v1/labs/4548-4/series/").json()
    assert [(p["effective"][:10], p["value"], p["institution"]) for p in series] == [
        ("2024-01-10", 8.1, "A병원"),
        ("2024-04-10", 7.6, "B의원"),
        ("2024-07-10", 7.2, "A병원"),
    ]
    labs = client.get("/api/v1/labs/").json()
    assert [(t["code"], t["points"], t["latest"]["value"], t["flag"]) for t in labs] == [
        ("4548-4", 3, 7.2, "H")
    ]


@pytest.mark.parametrize(
    ("value", "flag"), [(3.9, "L"), (4.0, ""), (5.0, ""), (6.0, ""), (6.1, "H")]
)
def test_reference_range_flags_at_the_boundaries(client, patient, value, flag):
    import_resources(patient, "A병원", [hba1c("x", value, "2024-01-10")])
    client.force_login(patient)
    assert client.get("/api/v1/labs/").json()[0]["flag"] == flag
    detail = client.get(f"/records/r/{Record.objects.get().code}/").content.decode()
    assert ("badge-failed" in detail) == (flag == "H")
    assert ("badge-running" in detail) == (flag == "L")


def test_duplicates_across_institutions_shown_once_with_both_sources(client, patient):
    import_resources(patient, "A병원", [hba1c("a1", 7.0, "2024-03-01T09:00:00+09:00")])
    import_resources(patient, "B의원", [hba1c("b9", 7.0, "2024-03-01T11:00:00+09:00")])
    login(client, patient.email)
    page = client.get("/records/c/lab/").content.decode()
    assert page.count('class="record record-lab"') == 1
    assert re.search(r"(A병원|B의원) · <a href=\"/records/r/[0-9a-f-]+/\">(A병원|B의원)</a>", page)
    assert "from 2 institutions" in page


# --- Medications -----------------------------------------------------------------------------


def test_medications_grouped_by_drug_current_and_past(client, patient):
    import_resources(
        patient,
        "A병원",
        [medication("m1", "2023-01-05", "completed"), medication("m2", "2024-06-05", "active")],
    )
    import_resources(
        patient,
        "B의원",
        [
            medication("m3", "2024-03-05", "completed"),
            medication(
                "m4", "2022-03-05", "completed", code="645700820", name="타이레놀정500밀리그램"
            ),
        ],
    )
    login(client, patient.email)
    page = client.get("/records/medications/").content.decode()
    current, past = page.split("<h2>Past</h2>")
    assert current.count("다이아벡스정500밀리그램</strong>") == 1
    assert "3 prescriptions" in current
    assert "A병원, B의원" in current
    assert "타이레놀정500밀리그램</strong>" in past
    assert "다이아벡스" not in past


# --- Search ----------------------------------------------------------------------------------


def test_search_finds_korean_english_and_codes(client, kr_records):
    login(client, kr_records.email)
    for query in ("당화혈색소", "Hemoglobin A1c", "4548-4"):
        page = client.get("/records/search/", {"q": query}).content.decode()
        assert "당화혈색소(HbA1c)" in page, query
    assert (
        'class="record ' not in client.get("/records/search/", {"q": "없는검사명"}).content.decode()
    )


def test_search_has_a_trigram_index_that_serves_its_query(kr_records):
    """The search's words are found through the trigram index (records 0006), Korean too: the
    index exists and, with sequential reads off, the planner answers the search's condition
    (a word anywhere in the text, any case) with it."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL only")
    words = Record.objects.filter(search_text__icontains="당화혈색소")
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'record_search_trgm_idx'")
        assert "gin_trgm_ops" in cursor.fetchone()[0]
        cursor.execute("SET LOCAL enable_seqscan = off")
        sql, params = words.values("id").query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Bitmap Index Scan on record_search_trgm_idx" in plan, plan
    assert words.exists()


# --- Export ----------------------------------------------------------------------------------


def test_export_round_trip_is_equal_and_valid(client, kr_records):
    client.force_login(kr_records)
    response = client.get("/records/export/fhir/")
    bundle = json.loads(b"".join(response.streaming_content), parse_float=Decimal)
    assert response["Content-Type"] == "application/fhir+json"
    # The patient first; then every record as stored, but that its references to the patient
    # point at that one Patient entry.
    patient_entry, *entries = bundle["entry"]
    assert patient_entry["fullUrl"] == f"urn:uuid:{kr_records.code}"
    stored = sorted(
        json.dumps(r.resource, sort_keys=True, default=str)
        for r in Record.objects.filter(patient=kr_records)
    )
    exported = sorted(json.dumps(e["resource"], sort_keys=True, default=str) for e in entries)
    assert [
        re.sub(r'"reference": "Patient/[^"]+"', f'"reference": "{patient_entry["fullUrl"]}"', r)
        for r in stored
    ] == exported
    get_fhir_model_class("Bundle").model_validate(bundle)

    api = client.get(
        "/api/v1/export/fhir/", {"category": "lab"}, headers={"Accept": "application/fhir+json"}
    )
    lab_bundle = json.loads(b"".join(api.streaming_content))
    assert (
        len(lab_bundle["entry"]) - 1  # the Patient
        == Record.objects.filter(patient=kr_records, category="lab").count()
    )


def test_summary_document_is_a_valid_fhir_document(client, kr_records):
    client.force_login(kr_records)
    response = client.get("/records/summary/fhir/")
    document = json.loads(b"".join(response.streaming_content))
    get_fhir_model_class("Bundle").model_validate(document)
    composition = document["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    titles = [s["title"] for s in composition["section"]]
    assert titles == [
        "Problem list",
        "History of Medication use",
        "Allergies and adverse reactions",
        "History of Immunization",
        "Relevant diagnostic tests/laboratory data",
    ]
    referenced = {e["reference"] for s in composition["section"] for e in s.get("entry", [])}
    assert referenced <= {e["fullUrl"] for e in document["entry"]}
    page = client.get("/records/summary/").content.decode()
    assert "Patient summary" in page


# --- API -------------------------------------------------------------------------------------


def test_api_filters_and_pages_every_record_once(client, kr_records):
    client.force_login(kr_records)
    seen, url = [], "/api/v1/records/?page_size=37"
    while url:
        body = client.get(url).json()
        seen += [r["id"] for r in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == Record.objects.filter(patient=kr_records).count()

    labs = client.get(
        "/api/v1/records/", {"category": "lab", "code": "4548-4", "page_size": 200}
    ).json()
    assert labs["results"]
    assert {(r["category"], r["code"]) for r in labs["results"]} == {("lab", "4548-4")}
    dated = client.get(
        "/api/v1/records/", {"date_from": "2025-01-01", "date_to": "2025-06-30"}
    ).json()
    assert all("2025-01-01" <= r["effective"][:10] <= "2025-06-30" for r in dated["results"])
    bad = client.get("/api/v1/records/", {"category": "nonsense"})
    assert bad.status_code == 400
    assert "category" in bad.json()
    detail = client.get(f"/api/v1/records/{labs['results'][0]['id']}/").json()
    assert detail["resource"]["resourceType"] == "Observation"


def test_api_source_filter_is_scoped(client, kr_records, other_patient):
    theirs = Record.objects.filter(patient=other_patient).first().source
    client.force_login(kr_records)
    response = client.get("/api/v1/records/", {"source": str(theirs.code)})
    assert response.status_code == 400  # not one of the patient's sources: not even a filter


# --- Query counts: the same at two sizes ------------------------------------------------------


def _queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
    assert response.status_code == 200, url
    return len(captured)


LIST_PAGES = [
    "/dashboard/",
    "/records/timeline/",
    "/records/c/lab/",
    "/records/c/encounter/",
    "/records/labs/",
    "/records/labs/{lab}/",
    "/records/vitals/",
    "/records/medications/",
    "/records/summary/",
    "/records/search/?q=당화혈색소",
    "/api/v1/records/",
    "/api/v1/labs/",
    "/api/v1/labs/{lab}/series/",
    "/api/v1/summary/",
    "/records/summary/fhir/",
]


def test_page_query_counts_do_not_grow_with_data(client, patient, other_patient):
    """Each page runs the same number of queries for ~60 and ~1,500 records."""
    counts = collections.defaultdict(list)
    for user, size in ((patient, 60), (other_patient, 1500)):
        records = generated(user, size=size, seed=7)
        # The file's own Patient: a resource naming anyone else would be refused.
        owner = next(r["id"] for r in records if r["resourceType"] == "Patient")
        extra = [hba1c("h1", 7.1, "2024-01-02"), hba1c("h2", 6.8, "2024-05-02")]
        for resource in extra:
            resource["subject"] = {"reference": f"Patient/{owner}"}
        import_resources(user, "서울한빛대학교병원", [*records, *extra])
        client.force_login(user)
        lab = "4548-4"
        for url in LIST_PAGES:
            counts[url].append(_queries(client, url.format(lab=lab)))
        record = Record.objects.filter(patient=user, category="lab").first()
        counts["detail"].append(_queries(client, f"/records/r/{record.code}/"))
        counts["api detail"].append(_queries(client, f"/api/v1/records/{record.code}/"))
    assert {url: small for url, (small, large) in counts.items() if small != large} == {}


def test_content_hash_is_the_canonical_json_digest(kr_records):
    """orjson makes the hash (speed); it must stay the digest of the canonical JSON, so that
    records stored before keep matching (an unchanged resource must never look changed)."""
    import hashlib

    from records import fhirjson
    from records.projection import content_hash

    records = Record.objects.all()[:300]
    assert records
    for record in records:
        # Stored before as floats; decimals whose digits print as the float does (5.6,
        # 83.72064030009523: what generators and most hospitals send) keep their digest.
        as_floats = json.loads(fhirjson.dumps(record.resource))
        canonical = json.dumps(as_floats, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        assert content_hash(record.resource) == hashlib.sha256(canonical.encode()).hexdigest()
        assert record.content_hash == content_hash(record.resource)


def test_the_dashboards_current_medications_are_the_medications_pages(kr_records, patient):
    """The dashboard's and summaries' list (read from the records that can be current today)
    gives exactly the first current lines of the medications page (all the records)."""
    from records import medications, queries

    records = queries.records_for(Actor.patient(patient))
    # While the generated records' latest 90-day prescriptions last (current by their dates).
    with time_machine.travel(dt.datetime(2026, 1, 15, 12, tzinfo=dt.UTC)):
        page = medications.overview(records).current
        fast = queries.current_medications(records, limit=10)
    assert page
    assert [(line["code"], line["latest"].pk, line["institutions"]) for line in fast] == [
        (line.key[1], line.headline.record.pk, line.institutions) for line in page[:10]
    ]

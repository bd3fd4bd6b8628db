"""Every category the dashboard links to answers, and clinical notes, care plans and goals are
shown in words — with real Synthea and HL7 files imported through the upload page."""

import base64
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from institutions.models import RunStatus, Source
from records.models import Record
from tests.conftest import login, run_to_end

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
MICAH = FIXTURES / "synthea" / "Micah_Schinner_d4d72610-ec40-42ed-b34f-09e286181ee9.json"
HL7 = FIXTURES / "hl7-r4-examples"
pytestmark = pytest.mark.django_db


def upload(client, name: str, data: bytes) -> Source:
    """Import a file as the patient does: the upload page, its confirmation if it asks for one
    (these files name other people than the cast's patient), and the import run."""
    response = client.post("/sources/import/", {"file": SimpleUploadedFile(name, data)})
    if response.status_code == 200:  # the review: these files are about other people or nobody
        assert "Before this file is imported" in response.content.decode()
        response = client.post(
            "/sources/import/", {"file": SimpleUploadedFile(name, data), "confirm": "on"}
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    source = Source.objects.get(code=response["Location"].split("/")[2])
    assert run_to_end(source.runs.get()).status == RunStatus.SUCCEEDED
    return source


def ndjson(*resources) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in resources).encode()


def hl7(name: str) -> dict:
    return json.loads((HL7 / name).read_text())


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href and href.startswith("/") and not href.startswith("/static/"):
            self.hrefs.append(href)


def links(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return list(dict.fromkeys(parser.hrefs))


# A clinical note as Synthea writes them (DocumentReference, LOINC 34117-2, base64 text/plain
# with a charset parameter) — built here in that shape, since the Synthea bundles we hold predate
# Synthea's notes.
NOTE_TEXT = (
    "2019-02-11\n\n# Chief Complaint\nNo complaints.\n\n"
    "# History of Present Illness\nMicah is a 59 year-old man."
)
SYNTHEA_NOTE = {
    "resourceType": "DocumentReference",
    "id": "note-1",
    "status": "superseded",
    "type": {
        "coding": [
            {
                "system": "http://loinc.org",
                "code": "34117-2",
                "display": "History and physical note",
            }
        ]
    },
    "category": [
        {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                    "code": "clinical-note",
                    "display": "Clinical Note",
                }
            ]
        }
    ],
    "date": "2019-02-11T10:00:00+00:00",
    "content": [
        {
            "attachment": {
                "contentType": "text/plain; charset=utf-8",
                "data": base64.b64encode(NOTE_TEXT.encode()).decode(),
            }
        }
    ],
}
HOSTILE_HTML = (
    '<h2>Discharge summary</h2><p onclick="steal()">Blood pressure <b>well controlled</b>.</p>'
    "<script>alert('x')</script><img src=x onerror=alert(1)>"
    '<a href="javascript:alert(2)">click</a><p style="color:red">Follow up in 3 months.</p>'
)
HTML_NOTE = {
    "resourceType": "DocumentReference",
    "id": "note-2",
    "status": "current",
    "type": {"text": "Discharge summary"},
    "date": "2020-05-01T09:00:00+09:00",
    "content": [
        {
            "attachment": {
                "contentType": "text/html",
                "data": base64.b64encode(HOSTILE_HTML.encode()).decode(),
            }
        }
    ],
}


def detail(client, patient, resource_type, resource_id) -> str:
    record = Record.objects.get(
        patient=patient, resource_type=resource_type, resource_id=resource_id
    )
    response = client.get(f"/records/r/{record.code}/")
    assert response.status_code == 200
    return response.content.decode()


def test_dashboard_every_link_answers_200(client, patient):
    login(client, patient.email)
    upload(client, MICAH.name, MICAH.read_bytes())
    upload(
        client,
        "hl7.ndjson",
        ndjson(hl7("Goal-example.json"), hl7("CarePlan-example.json"), SYNTHEA_NOTE),
    )
    dashboard = client.get("/dashboard/")
    hrefs = links(dashboard.content.decode())

    # Micah's CarePlans and the HL7 Goal are "other" records: the dashboard counts and links them.
    assert "/records/c/other/" in hrefs
    assert "/records/c/document/" in hrefs
    answers = {href: client.get(href).status_code for href in hrefs if "logout" not in href}
    assert {href: code for href, code in answers.items() if code != 200} == {}
    assert len(answers) >= 15


def test_other_category_lists_care_plans_and_goals_by_what_they_say(client, patient):
    login(client, patient.email)
    upload(client, MICAH.name, MICAH.read_bytes())
    upload(client, "goals.ndjson", ndjson(hl7("Goal-example.json"), hl7("Goal-stop-smoking.json")))

    page = client.get("/records/c/other/")

    assert page.status_code == 200
    titles = re.findall(r'<span class="record-title">([^<]*)</span>', page.content.decode())
    # Micah's three CarePlans are named by their category ("Self care", …), the Goals by their
    # description; never by their bare type.
    assert "Target weight is 160 to 180 lbs." in titles
    assert "Stop smoking" in titles
    assert "Self care" in titles
    assert "CarePlan" not in titles
    assert "Goal" not in titles


def test_care_plan_detail_shows_description_and_activities(client, patient):
    login(client, patient.email)
    upload(client, MICAH.name, MICAH.read_bytes())
    upload(client, "plan.ndjson", ndjson(hl7("CarePlan-example.json")))

    synthea = detail(client, patient, "CarePlan", "58c9e689-9bd4-4468-b3df-74bf672e23d7")
    assert '<li class="activity">Food allergy diet <span class="muted">in progress</span></li>' in (
        synthea
    )
    assert '<li class="activity">Allergy education <span class="muted">in progress</span></li>' in (
        synthea
    )
    example = detail(client, patient, "CarePlan", "example")
    assert "<dd>Manage obesity and weight loss</dd>" in example
    assert "<dd>Weight management plan</dd>" in example
    assert (
        '<li class="activity">Weight Measured <span class="muted">completed</span>'
        " — Achieved weight loss to mitigate diabetes risk.</li>"
    ) in example
    assert "<dd>obesity</dd>" in example  # what the plan addresses


def test_goal_detail_shows_targets_in_words(client, patient):
    login(client, patient.email)
    upload(client, "goals.ndjson", ndjson(hl7("Goal-example.json"), hl7("Goal-stop-smoking.json")))

    weight = detail(client, patient, "Goal", "example")
    assert "<h1>Target weight is 160 to 180 lbs.</h1>" in weight
    assert '<li class="target">Weight Measured: 160–180 lbs, by 2016-04-05</li>' in weight
    assert "<dd>on hold</dd>" in weight
    smoking = detail(client, patient, "Goal", "stop-smoking")
    assert "<dd>Achieved</dd>" in smoking
    assert "<dd>Former smoker</dd>" in smoking


def test_clinical_note_text_is_decoded(client, patient):
    login(client, patient.email)
    upload(client, "notes.ndjson", ndjson(SYNTHEA_NOTE, hl7("DocumentReference-example.json")))

    page = detail(client, patient, "DocumentReference", "note-1")
    assert (
        '<pre class="note-text">2019-02-11\n\n# Chief Complaint\nNo complaints.\n\n'
        "# History of Present Illness\nMicah is a 59 year-old man.</pre>"
    ) in page
    # The HL7 example's document is an XML file held elsewhere: said in words, not shown.
    example = detail(client, patient, "DocumentReference", "example")
    assert "The document itself was not sent with this record" in example
    assert "http://example.org/xds/mhd/Binary/07a6483f-732b-461e-86b6-edb665c45510" in example


def test_clinical_note_html_is_sanitised_under_the_strict_csp(client, patient):
    login(client, patient.email)
    upload(client, "notes.ndjson", ndjson(HTML_NOTE))
    record = Record.objects.get(patient=patient, resource_id="note-2")

    response = client.get(f"/records/r/{record.code}/")

    body = response.content.decode()
    note = body.split('<div class="note-html">', 1)[1].split("</div>", 1)[0]
    assert note == (
        "<h2>Discharge summary</h2><p>Blood pressure <b>well controlled</b>.</p>"
        '<img><a rel="noopener noreferrer">click</a><p>Follow up in 3 months.</p>'
    ).replace("<img>", "")
    csp = response["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp
    assert "script-src 'self'" in csp


def test_clinical_note_in_a_korean_charset_is_decoded_with_it(client, patient):
    """A Korean hospital's note in EUC-KR, as its contentType says."""
    words = "당뇨병 추적 관찰: 당화혈색소 7.2%, 식이요법 유지."
    note = {
        **SYNTHEA_NOTE,
        "id": "note-kr",
        "content": [
            {
                "attachment": {
                    "contentType": "text/plain; charset=EUC-KR",
                    "data": base64.b64encode(words.encode("euc-kr")).decode(),
                }
            }
        ],
    }
    login(client, patient.email)
    upload(client, "note.ndjson", ndjson(note))

    assert f'<pre class="note-text">{words}</pre>' in detail(
        client, patient, "DocumentReference", "note-kr"
    )

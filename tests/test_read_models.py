"""The summaries pages read (records.readmodels) are kept per data version in the real cache:
a sync that changes the records changes what every page shows on the very next request, a purge
too, and a summary computed while a sync commits is never kept as the newer version's."""

import pytest
from django.db import transaction

from core.access import Actor
from institutions import domain
from records import readmodels
from records.models import DataVersion
from tests.records_data import import_resources
from tests.test_charts import blood_pressure
from tests.test_records import hba1c, medication

pytestmark = pytest.mark.django_db


def condition(rid, text, date):
    return {
        "resourceType": "Condition",
        "id": rid,
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"text": text},
        "subject": {"reference": "Patient/p"},
        "recordedDate": date,
    }


def pages(client, recipient, token) -> dict[str, str]:
    urls = {
        "dashboard": "/dashboard/",
        "labs": "/records/labs/",
        "lab trend": "/records/labs/4548-4/",
        "summary": "/records/summary/",
        "vitals": "/records/vitals/",
        "medications": "/records/medications/",
        "timeline": "/records/timeline/",
        "search": "/records/search/?q=고혈압",
        "records API": "/api/v1/records/",
        "records API, labs": "/api/v1/records/?category=lab",
    }
    shown = {}
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, name
        shown[name] = response.content.decode()
    response = recipient.get(f"/s/{token}/")
    assert response.status_code == 200
    shown["share view"] = response.content.decode()
    return shown


def test_a_sync_that_changes_the_records_changes_every_page_on_the_next_request(
    client, patient, clinician
):
    import_resources(
        patient,
        "A병원",
        [hba1c("a1", 7.6, "2024-04-10"), condition("c1", "제2형 당뇨병", "2024-04-10")],
    )
    client.force_login(patient)
    recipient = clinician.open(type(client)())
    before = pages(client, recipient, clinician.token)
    for name in ("labs", "lab trend", "summary", "share view"):
        assert "7.6" in before[name], name
        assert "9.1" not in before[name], name
    assert "제2형 당뇨병" in before["dashboard"]
    assert "고혈압" not in before["dashboard"]
    version = readmodels.version(patient.pk)

    # A second sync (an import run through records.ingest) brings a newer result and a
    # diagnosis.
    import_resources(
        patient,
        "B의원",
        [
            hba1c("b1", 9.1, "2025-01-10"),
            condition("c2", "고혈압", "2025-01-10"),
            blood_pressure("bp1", 151, 97, "2025-01-10"),
            medication("m1", "2025-01-10", "active", code="645100040", name="아모잘탄정"),
        ],
    )

    assert readmodels.version(patient.pk) > version
    after = pages(client, recipient, clinician.token)
    for name in ("labs", "summary", "share view"):  # the latest result is the new one
        assert "9.1" in after[name], name
    assert "9.1" in after["lab trend"]  # both on the chart
    assert "7.6" in after["lab trend"]
    assert "2 results" in after["lab trend"]
    assert "1 result" in before["lab trend"]
    assert "고혈압" in after["dashboard"]
    # The pages kept as rendered HTML (records.readmodels.rendered) and the timeline's page.
    assert "151" not in before["vitals"]
    assert "151" in after["vitals"]
    assert "아모잘탄정" not in before["medications"]
    assert "아모잘탄정" in after["medications"]
    assert "고혈압" not in before["timeline"]
    assert "고혈압" in after["timeline"]
    assert 'class="record ' not in before["search"]  # a search kept per data version too
    assert 'class="record ' in after["search"]
    # The API's first page of each query, kept per data version too.
    assert "고혈압" not in before["records API"]
    assert "고혈압" in after["records API"]
    assert "9.1" in after["records API, labs"]
    assert "고혈압" not in after["records API, labs"]


def test_a_purge_changes_every_page_on_the_next_request(client, patient, clinician):
    import_resources(patient, "A병원", [hba1c("a1", 7.6, "2024-04-10")])
    newer = import_resources(patient, "B의원", [hba1c("b1", 9.1, "2025-01-10")])
    client.force_login(patient)
    recipient = clinician.open(type(client)())
    before = pages(client, recipient, clinician.token)
    for name in ("labs", "summary", "share view"):
        assert "9.1" in before[name], name

    domain.unlink_source(source=newer, purge=True)

    after = pages(client, recipient, clinician.token)
    for name in ("labs", "lab trend", "summary", "share view", "records API"):
        assert "9.1" not in after[name], name
        assert "7.6" in after[name], name


def test_a_summary_computed_while_a_sync_commits_is_not_kept_as_the_newer_version(patient):
    """The version is read before computing: what a reader computed from data that a sync
    changed meanwhile is filed under the version it started from, never the sync's."""
    actor = Actor.patient(patient)
    with transaction.atomic():
        readmodels.bump(patient_id=patient.pk)

    def computed_while_a_sync_commits():
        with transaction.atomic():  # the sync's page commits: a new data version
            readmodels.bump(patient_id=patient.pk)
        return "computed from what the reader saw"

    assert readmodels.read(actor, "t", computed_while_a_sync_commits) == (
        "computed from what the reader saw"
    )
    # The next reader, at the sync's version, computes afresh.
    assert readmodels.read(actor, "t", lambda: "after the sync") == "after the sync"
    assert readmodels.read(actor, "t", lambda: "not computed again") == "after the sync"


def test_the_version_counts_each_change_and_an_unchanged_sync_keeps_it(patient):
    assert readmodels.version(patient.pk) == 0
    source = import_resources(patient, "A병원", [hba1c("a1", 7.6, "2024-04-10")])
    first = readmodels.version(patient.pk)
    assert first >= 1
    # The same file's resources again (another run of the same source): nothing stored.
    from institutions import sync

    run, _ = sync.request_sync(source=source, trigger="patient")
    assert sync.execute_run(run_id=run.pk) == "succeeded"
    assert readmodels.version(patient.pk) == first
    assert DataVersion.objects.get(pk=patient.pk).version == first


def test_each_scope_and_language_has_its_own_summary(patient, clinician):
    import_resources(patient, "A병원", [hba1c("a1", 7.6, "2024-04-10")])
    whole = Actor.patient(patient)
    from sharing.grants import actor_for_share

    shared = actor_for_share(clinician.share, recipient=clinician.name)
    version = readmodels.version(patient.pk)
    assert readmodels.key(whole, "labs", "", version) != readmodels.key(shared, "labs", "", version)
    from django.utils import translation

    with translation.override("ko"):
        korean = readmodels.key(whole, "labs", "", version)
    with translation.override("en"):
        assert readmodels.key(whole, "labs", "", version) != korean


def test_the_dashboard_counts_each_sources_records_again_after_a_sync(client, patient):
    source = import_resources(patient, "A병원", [hba1c("a1", 7.6, "2024-04-10")])
    client.force_login(patient)
    assert "1 record<" in client.get("/dashboard/sources/").content.decode()

    from records.ingest import ingest_page

    with transaction.atomic():  # a later page of the same source's sync
        ingest_page(
            source_id=source.pk,
            patient_id=patient.pk,
            resources=[hba1c("a2", 7.1, "2024-07-10"), hba1c("a3", 6.8, "2024-10-10")],
        )

    assert "3 records<" in client.get("/dashboard/sources/").content.decode()


def test_rendered_pages_are_kept_per_url_prefix_and_language(client, patient):
    """Someone acting for the patient sees the links under their /for/<code>/ prefix, and a
    page in the other language is rendered in it — never the patient's own HTML."""
    from django.test import RequestFactory
    from django.urls import reverse, set_script_prefix
    from django.utils import translation

    import_resources(patient, "A병원", [medication("m1", "2025-01-10", "active")])
    request = RequestFactory().get("/records/medications/")
    request.user, request.actor = patient, Actor.patient(patient)

    def body():
        return readmodels.rendered(
            request,
            "medications",
            "records/_medications_body.html",
            lambda: {"current": [], "past": [], "duplicates": [], "hira_connected": False},
        )

    try:
        with translation.override("en"):
            english = body()
            set_script_prefix("/for/abc/")
            prefixed = body()
        with translation.override("ko"):
            set_script_prefix("/")
            korean = body()
    finally:
        set_script_prefix("/")
    national = reverse("national_data")
    assert f'href="{national}"' in english
    assert f'href="/for/abc{national}"' in prefixed
    assert "/for/abc/" not in english
    assert "HIRA is not connected" in english
    assert "HIRA is not connected" not in korean


def test_a_purge_removes_the_patients_kept_pages_from_the_cache(
    client, patient, other_patient, django_capture_on_commit_callbacks
):
    """Older versions are never served, but a purge's records must not stay in the cache for
    the week they would take to expire: every kept summary and page of the patient goes."""
    from django.core.cache import cache

    source = import_resources(patient, "A병원", [hba1c("a1", 7.6, "2024-04-10")])
    import_resources(other_patient, "B의원", [hba1c("b1", 9.1, "2025-01-10")])
    for who in (patient, other_patient):
        client.force_login(who)
        for url in ("/dashboard/", "/records/labs/", "/records/labs/4548-4/", "/records/timeline/"):
            assert client.get(url).status_code == 200

    def kept(user):
        redis = cache._cache.get_client(write=True)
        return list(redis.scan_iter(match=cache.make_key(f"rm1:*:{user.pk}:*")))

    assert kept(patient)
    assert kept(other_patient)

    with django_capture_on_commit_callbacks(execute=True) as on_commit:
        domain.unlink_source(source=source, purge=True)
        assert kept(patient)  # until the purge commits
    assert on_commit

    assert kept(patient) == []
    assert kept(other_patient)  # another patient's stay


def test_the_records_apis_kept_first_page_links_to_its_next_page_from_each_host(
    client, patient, settings
):
    settings.ALLOWED_HOSTS = ["testserver", "phr.example"]
    import_resources(
        patient, "A병원", [hba1c(f"a{i}", 6 + i / 10, f"2024-04-{i + 1:02}") for i in range(5)]
    )
    client.force_login(patient)

    first = client.get("/api/v1/records/?page_size=2", HTTP_HOST="phr.example").json()
    again = client.get("/api/v1/records/?page_size=2").json()

    assert first["results"] == again["results"]
    assert len(first["results"]) == 2
    assert first["next"].startswith("http://phr.example/api/v1/records/?")
    assert again["next"].startswith("http://testserver/api/v1/records/?")
    following = client.get(again["next"].removeprefix("http://testserver")).json()
    shown = [r["id"] for r in first["results"] + following["results"]]
    assert len(set(shown)) == 4
    # A wrong page size is still refused with a reason, and nothing is kept for it.
    wrong = client.get("/api/v1/records/?page_size=lots")
    assert wrong.status_code == 400
    assert "page_size" in wrong.json()


def test_a_summary_kept_by_one_release_is_not_read_by_the_next(patient, monkeypatch):
    """A kept summary is a pickle of this release's classes (a medications overview's lines,
    say): the next release, deployed on the same cache, must compute its own, not read one
    its code cannot use (a line of the release before lacked what the new template read, and
    the medications page failed until the next day)."""
    import_resources(patient, "A병원", [hba1c("a1", 7.6, "2024-04-10")])
    actor = Actor.patient(patient)

    assert readmodels.read(actor, "meds-test", lambda: "kept by the first") == "kept by the first"
    assert readmodels.read(actor, "meds-test", lambda: "again") == "kept by the first"
    monkeypatch.setattr(readmodels, "release", lambda: "a-later-release")
    assert readmodels.read(actor, "meds-test", lambda: "the next") == "the next"

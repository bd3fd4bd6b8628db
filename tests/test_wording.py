"""Counts and messages in the reader's language: plurals (Korean has one form), a progress line
before the total is known."""

import uuid
from types import SimpleNamespace

import pytest
from django.template.loader import render_to_string
from django.utils import translation

from institutions import domain
from institutions.admin import _queued_again
from institutions.models import Institution
from records.models import Category, Record
from tests.conftest import login
from tests.records_data import generated, import_resources


def _run(*, fetched, total):
    return SimpleNamespace(
        is_active=True,
        fetched=fetched,
        total=total,
        progress=0,
        status="running",
        get_status_display=lambda: "Running",
    )


def _progress(run) -> str:
    source = SimpleNamespace(code=uuid.uuid4())
    html = render_to_string(
        "institutions/_progress.html", {"run": run, "source": source, "record_count": 0}
    )
    return " ".join(html.split())


def test_progress_before_total_known_counts_received():
    assert "— 0 received</p>" in _progress(_run(fetched=0, total=None))
    assert "?" not in _progress(_run(fetched=0, total=None))


def test_progress_with_total_says_of():
    assert "— 40 of 330 received</p>" in _progress(_run(fetched=40, total=330))


@pytest.mark.parametrize(
    ("count", "english"), [(1, "1 sync queued again."), (3, "3 syncs queued again.")]
)
def test_admin_retry_message_plural(count, english):
    with translation.override("en"):
        assert _queued_again(count) == english


# --- Empty pages say why -----------------------------------------------------------------------

NOTHING_YET = "Nothing here yet. Records appear after your hospitals are linked"


@pytest.fixture
def with_records(patient):
    import_resources(patient, "hanbit.ndjson", generated(patient, size=60))
    return patient


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "clear"),
    [
        ("/records/search/?q=zzzzqqq", 'href="/records/search/"'),
        ("/records/timeline/?date_from=2099-01-01", 'href="/records/timeline/"'),
    ],
)
def test_no_match_says_so_and_offers_to_clear(client, with_records, url, clear):
    login(client, with_records.email)

    page = " ".join(client.get(url).content.decode().split())

    assert NOTHING_YET not in page
    assert f"No records match your search or filters. <a {clear}>Clear the filters</a>" in page


@pytest.mark.django_db
def test_empty_category_of_patient_with_records_says_none_recorded(client, with_records):
    held = set(Record.objects.filter(patient=with_records).values_list("category", flat=True))
    empty = next(c for c in Category.values if c not in held and c != Category.MEDICATION)
    login(client, with_records.email)

    page = client.get(f"/records/c/{empty}/").content.decode()

    assert NOTHING_YET not in page
    assert '<p class="empty-state">None recorded.</p>' in page


@pytest.mark.django_db
def test_empty_timeline_without_records_says_link_a_hospital(client, patient):
    login(client, patient.email)

    assert NOTHING_YET in client.get("/records/timeline/").content.decode()


# --- Connection test result in the reader's language ----------------------------------------


@pytest.mark.django_db
def test_connection_test_result_rendered_in_readers_language(live_server, hospital):
    from tests.conftest import onboard

    with translation.override("en"):
        institution = onboard(live_server, hospital)

    with translation.override("ko"):
        korean = Institution.objects.get(pk=institution.pk).test_summary
    with translation.override("en"):
        english = Institution.objects.get(pk=institution.pk).test_summary

    assert english.startswith("Connected. FHIR 4.0.1, ")
    assert korean.startswith("연결 성공. FHIR 4.0.1, 리소스 유형 ")
    assert institution.test_result["msgid"] == (
        "Connected. FHIR %(version)s, %(count)d resource types, %(everything)s."
    )


@pytest.mark.django_db
def test_connection_test_failure_rendered_in_readers_language(live_server, hospital):
    institution = Institution.objects.create(
        name="x",
        hira_number="1",
        type_code="31",
        fhir_base_url="http://127.0.0.1:9/fhir",
        token_url="",
        client_id=hospital.client_id,
        client_secret="wrong",  # pragma: allowlist secret (a test value)
    )
    with translation.override("en"):
        domain.test_connection(institution=institution)

    with translation.override("ko"):
        korean = Institution.objects.get(pk=institution.pk).test_summary

    assert korean.startswith("여러 번 시도했지만 병원 서버가 계속 실패했습니다: ")

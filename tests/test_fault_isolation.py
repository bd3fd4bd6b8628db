"""Unrelated faults must not break unrelated pages (issue 14, item 7).

A wrong FIELD_ENCRYPTION_KEY only breaks what needs an institution's secret (talking to the
institution), never the patient's pages; an unreachable SMTP server never turns sign-up or a
password reset into a 500 (the mail is sent after commit by a retried Celery task).
"""

import logging
import socket
import time
from email import message_from_bytes

import pytest
from cryptography.fernet import Fernet

from accounts.models import User
from institutions.models import Institution, Source, SourceKind
from tests.conftest import login
from tests.factories import make_share

pytestmark = pytest.mark.django_db


@pytest.fixture
def linked_with_secret(kr_sources):
    """The patient's records come from an institution whose OAuth2 secret is encrypted."""
    institution = Institution.objects.create(
        name="서울한빛대학교병원",
        hira_number="11100077",
        type_code="01",
        client_id="hanbit",
        client_secret="hospital-secret-77",  # pragma: allowlist secret (test value)
    )
    Source.objects.filter(pk=kr_sources["hanbit"].pk).update(
        institution=institution, kind=SourceKind.INSTITUTION
    )
    return institution


@pytest.mark.parametrize(
    "path", ["/api/v1/records/", "/dashboard/", "/records/timeline/", "/records/labs/"]
)
def test_records_pages_answer_with_a_wrong_encryption_key(
    client, settings, patient, linked_with_secret, path
):
    login(client, patient.email)
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]

    response = client.get(path)

    assert response.status_code == 200
    assert b"hospital-secret-77" not in response.content


def test_institution_secret_still_refused_with_a_wrong_key(settings, linked_with_secret):
    # The secret itself is not silently replaced: using it fails loudly, as before.
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    institution = Institution.objects.get(pk=linked_with_secret.pk)
    assert institution.name == "서울한빛대학교병원"
    with pytest.raises(ValueError, match="cannot be decrypted with FIELD_ENCRYPTION_KEY"):
        _ = institution.client_secret


# --- Mail: after commit, by a retried Celery task ----------------------------------------------


def _dead_port() -> int:
    """A local port where nothing listens (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_settings(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_TIMEOUT = 2
    settings.PHR_MAIL_ASYNC = True
    settings.PHR_MAIL_ATTEMPTS = 3
    settings.PHR_MAIL_RETRY_DELAY = 0.05
    return settings


def _wait_for(predicate, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


SIGNUP = {
    "email": "new@example.org",
    "password1": "a-long-pass-phrase-9",  # pragma: allowlist secret (test value)
    "password2": "a-long-pass-phrase-9",  # pragma: allowlist secret (test value)
}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_signup_and_reset_answer_when_no_smtp_server_listens(client, smtp_settings, worker, caplog):
    smtp_settings.EMAIL_PORT = _dead_port()
    caplog.set_level(logging.INFO)

    signup = client.post("/accounts/signup/", SIGNUP)
    reset = client.post("/accounts/password/reset/", {"email": "new@example.org"})

    assert (signup.status_code, signup["Location"]) == (302, "/accounts/confirm-email/")
    assert (reset.status_code, reset["Location"]) == (302, "/accounts/password/reset/done/")
    assert User.objects.filter(email="new@example.org").count() == 1

    def gave_up():
        return [r for r in caplog.records if r.name == "phr.mail" and r.levelno == logging.ERROR]

    # Two mails (confirmation, reset), each tried PHR_MAIL_ATTEMPTS times, then given up.
    assert _wait_for(lambda: len(gave_up()) == 2)
    retries = [r for r in caplog.records if r.name == "phr.mail" and r.levelno == logging.WARNING]
    assert len(retries) == 2 * (3 - 1)
    assert {r.getMessage() for r in gave_up()} == {
        "E-mail not delivered after 3 attempts (ConnectionRefusedError)."
    }
    # Neither the address nor the content of the mail is logged anywhere.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "new@example.org" not in logged
    assert "confirm-email" not in logged


@pytest.fixture
def smtp_sink():
    """A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives."""
    from aiosmtpd.controller import Controller

    class Sink:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.original_content)))
            return "250 OK"

    sink = Sink()
    sink.port = _dead_port()
    controller = Controller(sink, hostname="127.0.0.1", port=sink.port)
    controller.start()
    yield sink
    controller.stop()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_signup_mail_arrives_at_a_real_smtp_server(client, smtp_settings, smtp_sink, worker):
    smtp_settings.EMAIL_PORT = smtp_sink.port

    response = client.post("/accounts/signup/", SIGNUP)

    assert response.status_code == 302
    assert _wait_for(lambda: len(smtp_sink.messages) == 1)
    recipients, message = smtp_sink.messages[0]
    assert recipients == ["new@example.org"]
    assert message["Subject"] == "[PHR] Please Confirm Your Email Address"
    body = message.get_payload(decode=True) if not message.is_multipart() else None
    text = body.decode() if body else message.get_payload(0).get_payload(decode=True).decode()
    assert "/accounts/confirm-email/" in text


def test_share_opened_notice_does_not_break_the_recipients_page(
    client, smtp_settings, patient, django_capture_on_commit_callbacks
):
    smtp_settings.EMAIL_PORT = _dead_port()
    _share, token = make_share(patient, notify_on_open=True)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(f"/s/{token}/", {"name": "Dr. Kim"})

    assert (response.status_code, response["Location"]) == (302, f"/s/{token}/")
    assert len(callbacks) == 1  # the notice, queued for the worker
